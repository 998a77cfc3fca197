//! The services' HTTP APIs, called with the signed-in person's access token: the console is a
//! backend-for-frontend, the services decide who may do what (docs/roles.md) and record the
//! person as the actor. Their refusals come back typed ([`UpstreamError`]), from the runtime's
//! one body shape `{"error": {"kind", "message"}}`.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

/// The APIs the console uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// Tickets (8081): read, act, reveal.
    Tickets,
    /// Dispatch (8082): the manual queue, the catalogue.
    Dispatch,
    /// SLA (8086): deadlines.
    Sla,
    /// The phone channel (8084): the agent's calls (the agent desk).
    Phone,
    /// Knowledge (8085): search, suggestions, the tree, answering with a leaf, flags.
    Knowledge,
    /// The callback survey (8088): satisfaction figures (the supervisor's screens).
    Survey,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::Tickets => "tickets",
            Api::Dispatch => "dispatch",
            Api::Sla => "sla",
            Api::Phone => "phone",
            Api::Knowledge => "knowledge",
            Api::Survey => "survey",
        }
    }
}

/// A service's answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// 401: the token is no longer good (expired, revoked, keys rotated away).
    #[error("the service did not accept the token")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412: the `If-Match` sent names a state the thing is no longer in (written since).
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// Unreachable, timed out, 5xx, or an answer we cannot read.
    #[error("the {api} service is unavailable")]
    Unavailable {
        api: &'static str,
        #[source]
        cause: anyhow::Error,
    },
}

/// The three base URLs and one HTTP client.
#[derive(Clone)]
pub struct Upstream {
    http: reqwest::Client,
    tickets: String,
    dispatch: String,
    sla: String,
    phone: String,
    knowledge: String,
    survey: String,
}

/// Longest service message shown to a person (the services' messages are short; this bounds a
/// misbehaving one).
const MAX_MESSAGE_CHARS: usize = 500;

impl Upstream {
    pub fn from_settings(settings: &hotline_config::Settings) -> anyhow::Result<Upstream> {
        let c = &settings.console;
        Upstream::new(
            settings.local_service_url(&c.tickets_url, settings.tickets.port),
            settings.local_service_url(&c.dispatch_url, settings.dispatch.port),
            settings.local_service_url(&c.sla_url, settings.sla.port),
            Duration::from_millis(c.request_timeout_ms),
        )
        .map(|u| {
            u.with_agent_desk(
                settings.local_service_url(&c.phone_url, settings.phone.port),
                settings.local_service_url(&c.knowledge_url, settings.knowledge.port),
            )
            .with_survey(settings.local_service_url(&c.survey_url, settings.survey.port))
        })
    }

    /// The survey API (the supervisor's screens); [`Upstream::new`] leaves it empty.
    pub fn with_survey(mut self, survey: String) -> Upstream {
        self.survey = survey;
        self
    }

    /// The phone and knowledge APIs (the agent desk's); [`Upstream::new`] leaves them empty.
    pub fn with_agent_desk(mut self, phone: String, knowledge: String) -> Upstream {
        self.phone = phone;
        self.knowledge = knowledge;
        self
    }

    pub fn new(
        tickets: String,
        dispatch: String,
        sla: String,
        timeout: Duration,
    ) -> anyhow::Result<Upstream> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // A service never redirects; following one would send the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Upstream {
            http,
            tickets,
            dispatch,
            sla,
            phone: String::new(),
            knowledge: String::new(),
            survey: String::new(),
        })
    }

    fn base(&self, api: Api) -> &str {
        match api {
            Api::Tickets => &self.tickets,
            Api::Dispatch => &self.dispatch,
            Api::Sla => &self.sla,
            Api::Phone => &self.phone,
            Api::Knowledge => &self.knowledge,
            Api::Survey => &self.survey,
        }
    }

    /// `GET <api><path>`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        token: &str,
        api: Api,
        path: &str,
    ) -> Result<T, UpstreamError> {
        self.call(token, Method::GET, api, path, None, None, None)
            .await
            .map(|(answer, _)| answer)
    }

    /// `GET <api><path>`, with the answer's `ETag` (none when the service sent none).
    pub async fn get_tagged<T: DeserializeOwned>(
        &self,
        token: &str,
        api: Api,
        path: &str,
    ) -> Result<(T, Option<String>), UpstreamError> {
        self.call(token, Method::GET, api, path, None, None, None)
            .await
    }

    /// `method <api><path>` with a JSON body; `idempotency_key` makes a repeated submit the
    /// same step (the tickets API scopes it to the person).
    pub async fn send<T: DeserializeOwned>(
        &self,
        token: &str,
        method: Method,
        api: Api,
        path: &str,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<T, UpstreamError> {
        self.call(token, method, api, path, Some(body), idempotency_key, None)
            .await
            .map(|(answer, _)| answer)
    }

    /// `method <api><path>` with a JSON body, done only if the thing is still at `if_match`
    /// (an entity tag read with it): otherwise [`UpstreamError::PreconditionFailed`].
    pub async fn send_if_match<T: DeserializeOwned>(
        &self,
        token: &str,
        method: Method,
        api: Api,
        path: &str,
        body: &serde_json::Value,
        if_match: Option<&str>,
    ) -> Result<T, UpstreamError> {
        self.call(token, method, api, path, Some(body), None, if_match)
            .await
            .map(|(answer, _)| answer)
    }

    #[allow(clippy::too_many_arguments)]
    async fn call<T: DeserializeOwned>(
        &self,
        token: &str,
        method: Method,
        api: Api,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<(T, Option<String>), UpstreamError> {
        let unavailable = |cause: anyhow::Error| UpstreamError::Unavailable {
            api: api.name(),
            cause,
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base(api)))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(tag) = if_match {
            request = request.header(reqwest::header::IF_MATCH, tag);
        }
        // The error names the API, never the path: it may hold a ticket number or a query.
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(anyhow::anyhow!("{} request failed: {e}", api.name())))?;
        let status = response.status();
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|t| t.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(anyhow::anyhow!("reading the {} answer: {e}", api.name())))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .with_context(|| format!("the {} answer is not the expected JSON", api.name()))
                .map(|answer| (answer, etag))
                .map_err(unavailable);
        }
        let message = error_message(&bytes);
        Err(match status {
            StatusCode::UNAUTHORIZED => UpstreamError::Unauthorized,
            StatusCode::FORBIDDEN => UpstreamError::Forbidden(message),
            StatusCode::NOT_FOUND => UpstreamError::NotFound(message),
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
                UpstreamError::Invalid(message)
            }
            StatusCode::CONFLICT => UpstreamError::Conflict(message),
            StatusCode::PRECONDITION_FAILED => UpstreamError::PreconditionFailed(message),
            other => unavailable(anyhow::anyhow!("{} answered {other}", api.name())),
        })
    }
}

/// The message of `{"error": {"message"}}`, bounded; empty when the body has none.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default()
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_refusal_message_is_read_and_bounded() {
        assert_eq!(
            error_message(br#"{"error":{"kind":"conflict","message":"a ticket that is accepted cannot take `accept`"}}"#),
            "a ticket that is accepted cannot take `accept`"
        );
        assert_eq!(error_message(b"not json"), "");
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(2000));
        assert_eq!(error_message(long.as_bytes()).len(), MAX_MESSAGE_CHARS);
    }
}
