//! Outbound SMS through the city's SMS gateway, which every sender in the platform uses: the
//! channel's receipts and progress answers, survey invitations, the app's one-time codes.
//!
//! The gateway's wire format (the shape of Aliyun's and Tencent Cloud's template SMS APIs):
//!
//! ```text
//! POST {sms.provider_url}
//! content-type: application/json
//! x-sms-key: {sms.access_key_id}
//! x-sms-timestamp: 1764750000
//! x-sms-nonce: 5f0c…(32 hex)
//! x-sms-signature: hex(HMAC-SHA256(sms.provider_secret, timestamp "\n" nonce "\n" body))
//!
//! {"phone_numbers":"13800138000","sign_name":"12345热线","template_code":"SMS_HOTLINE_RECEIPT",
//!  "template_param":{"no":"2612030000000011"},"out_id":"<uuid>"}
//! ```
//!
//! The gateway answers `200 {"code":"OK","message":"…","biz_id":"…"}` when it took the
//! message; any other `code` says why not (`isv.BUSINESS_LIMIT_CONTROL`: its own rate limit;
//! `isv.MOBILE_NUMBER_ILLEGAL`, `isv.TEMPLATE_*`, `isv.INVALID_PARAMETERS`, …: refused for
//! good; anything else: try again later). HTTP 429 is its rate limit, 5xx or no answer a
//! retryable failure, other 4xx a refusal.
//!
//! Before anything is sent, [`SmsProvider::send`] checks the STOP list ([`super::stop`]) and
//! the per-number limits ([`super::limits`]); both know a number only by its keyed hash. Logs
//! and metrics name the template and the outcome, never the number or the parameters.

use std::time::Duration;

use anyhow::{Context as _, bail};
use hotline_config::{Secret, SmsTemplates};
use hotline_domain::PhoneNumber;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;

use super::limits::{Limits, Verdict};
use super::metrics::SENT;
use super::sign;
use super::stop::StopList;

const TIMEOUT: Duration = Duration::from_secs(5);
/// The longest template parameter we send; gateways cap variables at a few dozen characters.
const MAX_PARAM_CHARS: usize = 64;

/// What a message says; each is one of our templates approved at the gateway
/// (`sms.templates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// `您的诉求已受理，工单编号${no}…`: params `no`.
    Receipt,
    /// `工单${no}：${status}…`: params `no`, `status`.
    Progress,
    /// The callback survey (回访) invitation: params `no`.
    Survey,
    /// `验证码${code}，${minutes}分钟内有效…`: params `code`, `minutes`.
    OneTimeCode,
}

impl Template {
    pub const ALL: [Template; 4] = [
        Template::Receipt,
        Template::Progress,
        Template::Survey,
        Template::OneTimeCode,
    ];

    /// A fixed word, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Receipt => "receipt",
            Template::Progress => "progress",
            Template::Survey => "survey",
            Template::OneTimeCode => "one_time_code",
        }
    }

    /// The gateway's code for this template.
    pub fn code(self, templates: &SmsTemplates) -> &str {
        match self {
            Template::Receipt => &templates.receipt,
            Template::Progress => &templates.progress,
            Template::Survey => &templates.survey,
            Template::OneTimeCode => &templates.one_time_code,
        }
    }
}

/// Why a message was not sent. Only [`SmsError::Provider`] is worth trying again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// Over the number's hourly limit, a one-time code too soon after the last, or the
    /// gateway's own rate limit.
    #[error("rate limited")]
    RateLimited,
    /// The number sent STOP (退订): nothing goes to it until it sends START.
    #[error("the number asked for no more messages")]
    Stopped,
    /// The gateway, Redis or Postgres did not answer or failed; retryable.
    #[error("temporarily unable to send: {0}")]
    Provider(String),
    /// The gateway or our own checks refused the message for good (number, template, params).
    #[error("refused: {0}")]
    Refused(String),
}

impl SmsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SmsError::Provider(_))
    }

    fn outcome(&self) -> &'static str {
        match self {
            SmsError::RateLimited => "rate_limited",
            SmsError::Stopped => "stopped",
            SmsError::Provider(_) => "provider",
            SmsError::Refused(_) => "refused",
        }
    }
}

/// A message the gateway took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Our id for the message, sent as `out_id`.
    pub out_id: String,
    /// The gateway's id for it (`biz_id`), when it gave one.
    pub provider_id: Option<String>,
}

#[derive(Serialize)]
struct Request<'a> {
    phone_numbers: &'a str,
    sign_name: &'a str,
    template_code: &'a str,
    template_param: serde_json::Map<String, serde_json::Value>,
    out_id: &'a str,
}

#[derive(Deserialize)]
struct Reply {
    code: String,
    #[serde(default)]
    biz_id: Option<String>,
}

/// The client to the gateway, with the STOP list and the limits it checks first.
pub struct SmsProvider {
    http: reqwest::Client,
    url: String,
    access_key_id: String,
    secret: Secret,
    number_key: Secret,
    sign_name: String,
    templates: SmsTemplates,
    stop: StopList,
    limits: Limits,
}

impl SmsProvider {
    /// A provider for `config` (which carries the platform's Redis and Postgres in `stores`).
    /// Connects lazily to both; fails when no gateway is configured.
    pub fn new(config: &hotline_config::Sms) -> anyhow::Result<SmsProvider> {
        let Some(url) = &config.provider_url else {
            bail!("sms.provider_url is not set: no SMS can be sent");
        };
        let (Some(secret), Some(number_key)) = (&config.provider_secret, &config.number_key) else {
            bail!("sms.provider_secret and sms.number_key must be set to send SMS");
        };
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(TIMEOUT)
            .connect_lazy(&config.stores.database_url)
            .context("parsing database.url for the STOP list")?;
        let limits = Limits::new(
            &config.stores.redis_url,
            &config.stores.namespace,
            config.max_per_hour,
            config.one_time_code_interval_secs,
        )?;
        Ok(SmsProvider {
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .context("building the SMS gateway's HTTP client")?,
            url: url.clone(),
            access_key_id: config.access_key_id.clone(),
            secret: secret.clone(),
            number_key: number_key.clone(),
            sign_name: config.sign_name.clone(),
            templates: config.templates.clone(),
            stop: StopList::new(pool),
            limits,
        })
    }

    /// The hash standing for `number` in the STOP list and the limits.
    pub fn number_hash(&self, number: &PhoneNumber) -> String {
        sign::number_hash(self.number_key.expose(), number)
    }

    /// The limits' Redis (the channel also remembers callback nonces there).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The STOP list this provider checks (the channel adds and removes numbers).
    pub fn stop_list(&self) -> &StopList {
        &self.stop
    }

    /// Sends `template` with `params` to `to`, unless the number is on the STOP list or over
    /// its limits.
    pub async fn send(
        &self,
        to: &PhoneNumber,
        template: Template,
        params: &[(&str, &str)],
    ) -> Result<Sent, SmsError> {
        let result = self.send_checked(to, template, params).await;
        let outcome = match &result {
            Ok(_) => "sent",
            Err(e) => e.outcome(),
        };
        SENT.with_label_values(&[template.as_str(), outcome]).inc();
        if let Err(e) = &result {
            tracing::info!(template = template.as_str(), outcome, error = %e, "sms not sent");
        }
        result
    }

    async fn send_checked(
        &self,
        to: &PhoneNumber,
        template: Template,
        params: &[(&str, &str)],
    ) -> Result<Sent, SmsError> {
        let template_param = template_params(params)?;
        let hash = self.number_hash(to);
        let stopped = self
            .stop
            .contains(&hash)
            .await
            .map_err(|e| SmsError::Provider(format!("{e:#}")))?;
        if stopped {
            return Err(SmsError::Stopped);
        }
        let verdict = self
            .limits
            .take(&hash, template == Template::OneTimeCode)
            .await
            .map_err(|e| SmsError::Provider(format!("{e:#}")))?;
        if verdict == Verdict::Limited {
            return Err(SmsError::RateLimited);
        }
        let out_id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::to_vec(&Request {
            phone_numbers: to.as_str(),
            sign_name: &self.sign_name,
            template_code: template.code(&self.templates),
            template_param,
            out_id: &out_id,
        })
        .map_err(|e| SmsError::Refused(format!("encoding the request: {e}")))?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let nonce = sign::nonce();
        let signature = sign::signature(self.secret.expose(), &timestamp, &nonce, &body);
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::KEY_HEADER, &self.access_key_id)
            .header(sign::TIMESTAMP_HEADER, &timestamp)
            .header(sign::NONCE_HEADER, &nonce)
            .header(sign::SIGNATURE_HEADER, &signature)
            .body(body)
            .send()
            .await
            // Without the URL: reqwest's errors name it, and it may carry a query key.
            .map_err(|e| {
                SmsError::Provider(format!("no answer from the gateway: {}", e.without_url()))
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(SmsError::RateLimited);
        }
        if status.is_server_error() {
            return Err(SmsError::Provider(format!("gateway answered {status}")));
        }
        if !status.is_success() {
            return Err(SmsError::Refused(format!("gateway answered {status}")));
        }
        let reply: Reply = response
            .json()
            .await
            .map_err(|_| SmsError::Provider("unreadable gateway reply".into()))?;
        classify(&reply.code)?;
        Ok(Sent {
            out_id,
            provider_id: reply.biz_id,
        })
    }
}

/// The gateway's `code`, as our error. Only codes are kept: its `message` may quote the number.
fn classify(code: &str) -> Result<(), SmsError> {
    let shown: String = code
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect();
    match code {
        "OK" => Ok(()),
        "isv.BUSINESS_LIMIT_CONTROL" | "isv.DAY_LIMIT_CONTROL" | "Throttling.User" => {
            Err(SmsError::RateLimited)
        }
        c if c.starts_with("isv.") => Err(SmsError::Refused(shown)),
        _ => Err(SmsError::Provider(shown)),
    }
}

/// `params` as the gateway's `template_param`: names are ASCII identifiers, values at most
/// [`MAX_PARAM_CHARS`] without control characters (a newline in a code would break the text
/// the citizen reads, and gateways refuse it anyway).
fn template_params(
    params: &[(&str, &str)],
) -> Result<serde_json::Map<String, serde_json::Value>, SmsError> {
    let mut map = serde_json::Map::new();
    for (name, value) in params {
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(SmsError::Refused("template parameter name".into()));
        }
        if value.chars().count() > MAX_PARAM_CHARS || value.chars().any(char::is_control) {
            return Err(SmsError::Refused(format!("template parameter {name}")));
        }
        map.insert((*name).to_owned(), serde_json::Value::from(*value));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_its_own_code_and_word() {
        let templates = SmsTemplates {
            receipt: "R".into(),
            progress: "P".into(),
            survey: "S".into(),
            one_time_code: "O".into(),
        };
        let codes: std::collections::HashSet<_> =
            Template::ALL.iter().map(|t| t.code(&templates)).collect();
        assert_eq!(codes.len(), 4);
        assert_eq!(Template::OneTimeCode.code(&templates), "O");
        let words: std::collections::HashSet<_> =
            Template::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(words.len(), 4);
    }

    #[test]
    fn gateway_codes_map_to_our_errors() {
        assert_eq!(classify("OK"), Ok(()));
        assert_eq!(
            classify("isv.BUSINESS_LIMIT_CONTROL"),
            Err(SmsError::RateLimited)
        );
        assert!(matches!(
            classify("isv.MOBILE_NUMBER_ILLEGAL"),
            Err(SmsError::Refused(_))
        ));
        let e = classify("SystemError").expect_err("not OK");
        assert!(e.is_retryable());
        assert!(!SmsError::Stopped.is_retryable());
    }

    #[test]
    fn template_params_refuse_what_would_break_the_text() {
        let map =
            template_params(&[("no", "2612030000000011"), ("status", "办理中")]).expect("valid");
        assert_eq!(map["no"], "2612030000000011");
        assert_eq!(map["status"], "办理中");
        for bad in [
            &[("no", "1\n2")][..],
            &[("", "x")],
            &[("a b", "x")],
            &[("long", &*"字".repeat(65))],
        ] {
            assert!(
                matches!(template_params(bad), Err(SmsError::Refused(_))),
                "{bad:?}"
            );
        }
    }
}
