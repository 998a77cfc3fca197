//! The HTTP surface: Open311 GeoReport v2 under `/open311/v2/`, FixMyStreet's
//! `servicerequestupdates`, and the ops routes.
//!
//! Resources carry their format as a suffix (`requests.xml`). The router matches whole path
//! segments and [`Format::split`] takes the suffix off, so a service code may contain dots.
//! Every failure leaves through [`Format::error`], in the Open311 error format.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use futures::{StreamExt as _, TryStreamExt as _};
use hotline_domain::contract::{ErrorKind, TicketCommand, TicketQuery, TicketView};
use hotline_domain::{Actor, Channel, ServiceCode, TicketNo};
use hotline_telemetry::Readiness;

use crate::catalogue::Catalogue;
use crate::config::IntakeConfig;
use crate::error::{Open311Error, Rejection};
use crate::format::{Format, list_document};
use crate::idempotency::{self, Claim, IdempotencyCache, IdempotencyKey};
use crate::metrics::TICKETS_CREATED;
use crate::query::{RequestsFilter, UpdatesFilter, jurisdiction_of, render_datetime};
use crate::submission::NewServiceRequest;
use crate::upstream::{Ledger, NumberIssuer};
use crate::wire::{
    DiscoveryOut, EndpointOut, PostedOut, PostedServiceRequest, RequestUpdates, TokenOut,
};

/// How many ticket histories a list reads at once (for `status_notes`).
const HISTORY_CONCURRENCY: usize = 16;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

/// Everything intake talks to; tests put fakes here.
pub struct Parts {
    pub config: IntakeConfig,
    pub ledger: Arc<dyn Ledger>,
    pub catalogue: Arc<Catalogue>,
    pub numbers: Arc<dyn NumberIssuer>,
    /// `None`: no fast path, the ledger alone makes retries idempotent.
    pub idempotency: Option<Arc<dyn IdempotencyCache>>,
    /// Per-caller counters in Redis; `None`: no limits (tests without Redis).
    pub limiter: Option<crate::web::guard::Guard>,
    pub readiness: Readiness,
}

impl AppState {
    pub fn new(parts: Parts) -> AppState {
        AppState(Arc::new(parts))
    }

    pub fn readiness(&self) -> &Readiness {
        &self.0.readiness
    }

    /// What the other channels on this port (the citizen web page) share with Open311.
    pub(crate) fn parts(&self) -> &Parts {
        &self.0
    }
}

/// The whole HTTP surface, ready to serve (Open311 only: tests that need no web page).
pub fn router(state: AppState) -> Router {
    build(state, None)
}

/// [`router`] with the citizen web page (`/`, `/progress`, `/static/site.css`) beside Open311.
pub fn router_with_web(state: AppState, web: crate::web::Web) -> Router {
    build(state, Some(web))
}

fn build(state: AppState, web: Option<crate::web::Web>) -> Router {
    let limit = state.0.config.body_limit;
    let mut routes = Router::new()
        .route(
            "/open311/v2/{resource}",
            get(get_resource).post(post_resource),
        )
        .route("/open311/v2/services/{resource}", get(get_definition))
        .route("/open311/v2/requests/{resource}", get(get_request))
        .route("/open311/v2/tokens/{resource}", get(get_token));
    if let Some(web) = web {
        // Merged before the layers below: the page is counted and limited like Open311 (its
        // upload route sets a larger body limit of its own).
        routes = routes.merge(crate::web::router(web));
    }
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .merge(hotline_telemetry::ops_routes(state.0.readiness.clone()))
        .layer(axum::middleware::from_fn(crate::metrics::observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The resource segment, or an Open311 400 when it is not valid percent-encoded UTF-8.
fn resource(path: Result<Path<String>, PathRejection>) -> Result<String, Open311Error> {
    path.map(|Path(p)| p)
        .map_err(|_| Rejection::Malformed("the path is not valid UTF-8".into()).into())
}

fn respond(format: Format, result: Result<Response, Open311Error>) -> Response {
    result.unwrap_or_else(|e| format.error(&e))
}

async fn get_resource(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let raw = match resource(path) {
        Ok(r) => r,
        Err(e) => return Format::Json.error(&e),
    };
    let (name, format) = match Format::split(&raw) {
        Ok(split) => split,
        Err(e) => return Format::Json.error(&e.into()),
    };
    let query = query.unwrap_or_default();
    let result = match name {
        "discovery" => discovery(&state, format, &headers, query.as_bytes()).await,
        "services" => services(&state, format, query.as_bytes()).await,
        "requests" => list_requests(&state, format, query.as_bytes()).await,
        "servicerequestupdates" => request_updates(&state, format, query.as_bytes()).await,
        _ => Err(Open311Error::not_found("no such resource")),
    };
    respond(format, result)
}

async fn post_resource(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let raw = match resource(path) {
        Ok(r) => r,
        Err(e) => return Format::Json.error(&e),
    };
    let (name, format) = match Format::split(&raw) {
        Ok(split) => split,
        Err(e) => return Format::Json.error(&e.into()),
    };
    let result = match name {
        "requests" => match body {
            Ok(body) => create_request(&state, format, &headers, &body).await,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Open311Error::PayloadTooLarge {
                    limit: state.0.config.body_limit,
                })
            }
            Err(_) => Err(Rejection::Malformed("the request body could not be read".into()).into()),
        },
        "discovery" | "services" | "servicerequestupdates" => Err(Open311Error::MethodNotAllowed),
        _ => Err(Open311Error::not_found("no such resource")),
    };
    respond(format, result)
}

async fn get_definition(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = match resource(path) {
        Ok(r) => r,
        Err(e) => return Format::Json.error(&e),
    };
    let (code, format) = match Format::split(&raw) {
        Ok(split) => split,
        Err(e) => return Format::Json.error(&e.into()),
    };
    let result = async {
        check_jurisdiction(&state, query.as_deref())?;
        let code = ServiceCode::parse(code).map_err(|_| Rejection::UnknownService)?;
        let catalogue = state.0.catalogue.snapshot().await?;
        let service = catalogue.get(&code).ok_or(Rejection::UnknownService)?;
        Ok(format.render(StatusCode::OK, &crate::present::definition(service)))
    }
    .await;
    respond(format, result)
}

async fn get_request(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = match resource(path) {
        Ok(r) => r,
        Err(e) => return Format::Json.error(&e),
    };
    let (id, format) = match Format::split(&raw) {
        Ok(split) => split,
        Err(e) => return Format::Json.error(&e.into()),
    };
    let result = async {
        check_jurisdiction(&state, query.as_deref())?;
        let ticket_no = TicketNo::parse(id).map_err(|_| Rejection::TicketNo)?;
        let found = read_ticket(&state, ticket_no).await?;
        let catalogue = state.0.catalogue.snapshot().await.ok();
        let request = crate::present::service_request(
            &found.ticket,
            &found.history,
            catalogue.as_deref(),
            state.0.config.utc_offset,
        );
        Ok(format.render(
            StatusCode::OK,
            &list_document("service_requests", "request", vec![request]),
        ))
    }
    .await;
    respond(format, result)
}

/// Tokens are for servers that cannot number a request at once. We can, so a token is the
/// ticket number itself and resolves to itself.
async fn get_token(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = match resource(path) {
        Ok(r) => r,
        Err(e) => return Format::Json.error(&e),
    };
    let (token, format) = match Format::split(&raw) {
        Ok(split) => split,
        Err(e) => return Format::Json.error(&e.into()),
    };
    let result = async {
        check_jurisdiction(&state, query.as_deref())?;
        let ticket_no = TicketNo::parse(token).map_err(|_| Rejection::TicketNo)?;
        read_ticket(&state, ticket_no).await?;
        Ok(format.render(
            StatusCode::OK,
            &list_document(
                "service_requests",
                "request",
                vec![TokenOut {
                    service_request_id: ticket_no.to_string(),
                    token: ticket_no.to_string(),
                }],
            ),
        ))
    }
    .await;
    respond(format, result)
}

async fn not_found(uri: Uri) -> Response {
    Format::of(uri.path()).error(&Open311Error::not_found("no such resource"))
}

async fn method_not_allowed(uri: Uri) -> Response {
    Format::of(uri.path()).error(&Open311Error::MethodNotAllowed)
}

fn check_jurisdiction(state: &AppState, query: Option<&str>) -> Result<(), Open311Error> {
    let jurisdiction = jurisdiction_of(query.unwrap_or_default().as_bytes())?;
    if state.0.config.serves(jurisdiction.as_deref()) {
        Ok(())
    } else {
        Err(Rejection::UnknownJurisdiction.into())
    }
}

#[tracing::instrument(skip_all, fields(ticket = %ticket_no))]
async fn read_ticket(
    state: &AppState,
    ticket_no: TicketNo,
) -> Result<hotline_domain::contract::TicketWithHistory, Open311Error> {
    state.0.ledger.get(ticket_no).await.map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Open311Error::not_found("service_request_id was not found")
        } else {
            e.into()
        }
    })
}

async fn discovery(
    state: &AppState,
    format: Format,
    headers: &HeaderMap,
    query: &[u8],
) -> Result<Response, Open311Error> {
    let _ = jurisdiction_of(query)?;
    let offset = state.0.config.utc_offset;
    // The changeset moves when the catalogue does, which is what tells clients to refetch.
    let changeset = match state.0.catalogue.snapshot().await {
        Ok(snapshot) => render_datetime(snapshot.changed_at, offset),
        Err(_) => render_datetime(Utc::now(), offset),
    };
    let config = &state.0.config;
    let document = DiscoveryOut {
        changeset: changeset.clone(),
        contact: format!("{} 12345 government service hotline", config.city),
        key_service: "API keys for POST are issued by the hotline centre".to_owned(),
        endpoints: vec![EndpointOut {
            specification: "http://wiki.open311.org/GeoReport_v2".to_owned(),
            url: format!("{}/open311/v2", base_url(headers)),
            changeset,
            kind: "production".to_owned(),
            formats: vec!["text/xml".to_owned(), "application/json".to_owned()],
        }],
    };
    Ok(format.render(StatusCode::OK, &document))
}

/// `scheme://host` as the client reached us (behind a proxy, as the proxy says).
fn base_url(headers: &HeaderMap) -> String {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = match text("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    let host = text("x-forwarded-host")
        .or_else(|| text(header::HOST.as_str()))
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        });
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => String::new(),
    }
}

async fn services(
    state: &AppState,
    format: Format,
    query: &[u8],
) -> Result<Response, Open311Error> {
    if !state.0.config.serves(jurisdiction_of(query)?.as_deref()) {
        return Err(Rejection::UnknownJurisdiction.into());
    }
    let catalogue = state.0.catalogue.snapshot().await?;
    let services = catalogue
        .services()
        .iter()
        .map(crate::present::service)
        .collect();
    Ok(format.render(
        StatusCode::OK,
        &list_document("services", "service", services),
    ))
}

#[tracing::instrument(skip_all)]
async fn list_requests(
    state: &AppState,
    format: Format,
    query: &[u8],
) -> Result<Response, Open311Error> {
    let filter = RequestsFilter::parse(query, Utc::now())?;
    if !state.0.config.serves(filter.jurisdiction_id.as_deref()) {
        return Err(Rejection::UnknownJurisdiction.into());
    }
    let mut views: Vec<TicketView> = state.0.ledger.list(filter.query).await?;
    views.sort_by_key(|v| std::cmp::Reverse(v.created_at));
    let catalogue = state.0.catalogue.snapshot().await.ok();
    let offset = state.0.config.utc_offset;
    // `status_notes` come from each ticket's history; the list answer has none.
    let ledger = &state.0.ledger;
    let requests: Vec<_> = futures::stream::iter(views)
        .map(|view| async move {
            let history = if view.confidential {
                // Nothing from the history is shown for a confidential ticket.
                Vec::new()
            } else {
                ledger.get(view.ticket_no).await?.history
            };
            Ok::<_, Open311Error>((view, history))
        })
        .buffered(HISTORY_CONCURRENCY)
        .map_ok(|(view, history)| {
            crate::present::service_request(&view, &history, catalogue.as_deref(), offset)
        })
        .try_collect()
        .await?;
    Ok(format.render(
        StatusCode::OK,
        &list_document("service_requests", "request", requests),
    ))
}

#[tracing::instrument(skip_all)]
async fn request_updates(
    state: &AppState,
    format: Format,
    query: &[u8],
) -> Result<Response, Open311Error> {
    let filter = UpdatesFilter::parse(query, Utc::now())?;
    if !state.0.config.serves(filter.jurisdiction_id.as_deref()) {
        return Err(Rejection::UnknownJurisdiction.into());
    }
    let updates = state.0.ledger.updates(filter.query).await?;
    // Which tickets are confidential decides how much of each step is shown.
    let mut ticket_nos: Vec<TicketNo> = updates.iter().map(|u| u.ticket_no).collect();
    ticket_nos.sort();
    ticket_nos.dedup();
    let confidential: std::collections::HashSet<TicketNo> = if ticket_nos.is_empty() {
        Default::default()
    } else {
        let limit = u32::try_from(ticket_nos.len()).unwrap_or(u32::MAX);
        state
            .0
            .ledger
            .list(TicketQuery {
                ticket_nos,
                limit: Some(limit),
                ..TicketQuery::default()
            })
            .await?
            .into_iter()
            .filter(|v| v.confidential)
            .map(|v| v.ticket_no)
            .collect()
    };
    let offset = state.0.config.utc_offset;
    let out = updates
        .iter()
        .filter_map(|u| {
            crate::present::request_update(u, confidential.contains(&u.ticket_no), offset)
        })
        .collect();
    Ok(format.render(StatusCode::OK, &RequestUpdates(out)))
}

/// POST `requests`: registers the citizen's request and answers with its ticket number.
#[tracing::instrument(skip_all, fields(ticket = tracing::field::Empty))]
async fn create_request(
    state: &AppState,
    format: Format,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Open311Error> {
    let config = &state.0.config;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded")
        .to_ascii_lowercase();
    let posted = if content_type.starts_with("application/json") {
        PostedServiceRequest::from_json(body)?
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("text/plain")
    {
        PostedServiceRequest::from_form(body)?
    } else {
        return Err(Rejection::Malformed(
            "the body must be application/x-www-form-urlencoded or application/json".into(),
        )
        .into());
    };
    let api_key = config
        .authorise(posted.api_key.as_deref())
        .ok_or(Rejection::ApiKey)?
        .to_owned();
    if !config.serves(posted.jurisdiction_id.as_deref()) {
        return Err(Rejection::UnknownJurisdiction.into());
    }
    within_allowance(state, &api_key).await?;
    let idempotency = headers
        .get("idempotency-key")
        .map(|v| IdempotencyKey::parse(&api_key, v.as_bytes()))
        .transpose()?;
    let code = posted
        .service_code
        .as_deref()
        .ok_or(Rejection::MissingServiceCode)?;
    let code = ServiceCode::parse(code).map_err(|_| Rejection::ServiceCodeFormat(code.into()))?;
    let catalogue = state.0.catalogue.snapshot().await?;
    let service = catalogue.get(&code).ok_or(Rejection::UnknownService)?;
    let request = NewServiceRequest::parse(posted, service, config.max_description_chars)?;

    let (ticket_no, _) = register(state, idempotency, request).await?;
    tracing::Span::current().record("ticket", tracing::field::display(ticket_no));
    let posted = PostedOut {
        service_request_id: ticket_no.to_string(),
        service_notice: format!(
            "您的诉求已受理，工单编号 {ticket_no}。Your request was registered as ticket {ticket_no}."
        ),
        account_id: None,
    };
    Ok(format.render(
        StatusCode::CREATED,
        &list_document("service_requests", "request", vec![posted]),
    ))
}

/// Registers a checked request as a web ticket: a number, the Create command, the metric. The
/// one path for Open311 POSTs and the citizen web page's form; the outcome is `created`,
/// `replayed` or `replayed_cache` (see [`TICKETS_CREATED`]).
pub(crate) async fn register(
    state: &AppState,
    idempotency: Option<IdempotencyKey>,
    request: NewServiceRequest,
) -> Result<(TicketNo, &'static str), Open311Error> {
    let (ticket_no, outcome) = match idempotency {
        Some(key) => create_once(state, key, request).await?,
        None => {
            let ticket_no = issue_number(state).await?;
            let key = format!("web:{}", uuid::Uuid::new_v4().simple());
            submit(state, key, request, ticket_no).await?
        }
    };
    TICKETS_CREATED
        .with_label_values(&[Channel::Web.as_str(), outcome])
        .inc();
    Ok((ticket_no, outcome))
}

/// Counts the POST against its api key's allowance. A Redis that does not answer lets the POST
/// through (logged): a limit is protection, not a reason to turn citizens away.
async fn within_allowance(state: &AppState, api_key: &str) -> Result<(), Open311Error> {
    let per_minute = state.0.config.posts_per_key_per_minute;
    let Some(limiter) = state.0.limiter.as_ref().filter(|_| per_minute > 0) else {
        return Ok(());
    };
    let caller = crate::web::guard::ClientKey::of_secret(api_key);
    match limiter
        .count(
            "open311-post",
            &caller,
            per_minute,
            std::time::Duration::from_secs(60),
        )
        .await
    {
        Ok(crate::web::guard::Allowance::Allowed) => Ok(()),
        Ok(crate::web::guard::Allowance::Exceeded { .. }) => Err(Rejection::RateLimited.into()),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "rate limit not counted");
            Ok(())
        }
    }
}

/// A POST with an `Idempotency-Key`: Redis first, the ledger as the backstop (see
/// `idempotency`). A Redis that does not answer is skipped, never an error.
async fn create_once(
    state: &AppState,
    key: IdempotencyKey,
    request: NewServiceRequest,
) -> Result<(TicketNo, &'static str), Open311Error> {
    let cache = state.0.idempotency.as_deref();
    let cache_key = key.cache_key(&state.0.config.namespace);
    let ticket_no = match idempotency::claim(cache, &cache_key, || issue_number(state)).await? {
        Claim::Replayed(ticket_no) => return Ok((ticket_no, "replayed_cache")),
        Claim::Send(ticket_no) => ticket_no,
    };
    let (ticket_no, outcome) = submit(state, key.ledger_key(), request, ticket_no).await?;
    idempotency::confirm(cache, &cache_key, ticket_no).await;
    Ok((ticket_no, outcome))
}

async fn issue_number(state: &AppState) -> Result<TicketNo, Open311Error> {
    state.0.numbers.next().await.map_err(|e| {
        tracing::warn!(error = %format!("{e:#}"), "no ticket number");
        Open311Error::Unavailable("no ticket number could be issued, please retry".into())
    })
}

/// Sends the Create command. The ledger's answer is authoritative: for a retry it names the
/// first attempt's ticket, whatever number this attempt carried.
#[tracing::instrument(skip_all, fields(ticket = %ticket_no))]
async fn submit(
    state: &AppState,
    idempotency_key: String,
    request: NewServiceRequest,
    ticket_no: TicketNo,
) -> Result<(TicketNo, &'static str), Open311Error> {
    let command = TicketCommand::Create {
        idempotency_key,
        actor: Actor::Citizen {
            channel: Channel::Web,
        },
        ticket: Box::new(request.into_create(ticket_no)),
    };
    let accepted = state.0.ledger.submit(command).await?;
    let outcome = if accepted.replayed {
        "replayed"
    } else {
        "created"
    };
    Ok((accepted.ticket_no, outcome))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::idempotency::Remembered;

    use axum::body::Body;
    use axum::http::Request;
    use hotline_bus::rpc::{CallError, RemoteError};
    use hotline_domain::{Action, Status};
    use tower::ServiceExt as _;

    use super::*;
    use crate::testing::{API_KEY, Harness};

    struct Reply {
        status: StatusCode,
        content_type: String,
        body: String,
    }

    impl Reply {
        fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
        }
    }

    async fn send(h: &Harness, request: Request<Body>) -> Reply {
        let response = router(h.state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Reply {
            status,
            content_type,
            body: String::from_utf8(bytes.to_vec()).expect("utf-8 response"),
        }
    }

    async fn get(h: &Harness, uri: &str) -> Reply {
        send(h, Request::get(uri).body(Body::empty()).expect("request")).await
    }

    fn post_form(uri: &str) -> axum::http::request::Builder {
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
    }

    async fn post(h: &Harness, uri: &str, body: &str) -> Reply {
        send(
            h,
            post_form(uri)
                .body(Body::from(body.to_owned()))
                .expect("request"),
        )
        .await
    }

    async fn post_with_key(h: &Harness, body: &str, key: &str) -> Reply {
        send(
            h,
            post_form("/open311/v2/requests.json")
                .header("Idempotency-Key", key)
                .body(Body::from(body.to_owned()))
                .expect("request"),
        )
        .await
    }

    fn valid_form() -> String {
        format!(
            "api_key={API_KEY}&service_code=S1&lat=23.13&long=113.26&attribute[when]=night\
             &description=loud+music&phone=13800138000&email=li%40example.org&first_name=San&last_name=Zhang"
        )
    }

    fn ticket_of(reply: &Reply) -> TicketNo {
        let id = reply.json()[0]["service_request_id"]
            .as_str()
            .expect("id")
            .to_owned();
        TicketNo::parse(&id).expect("a valid ticket number")
    }

    #[tokio::test]
    async fn a_post_registers_a_web_ticket_and_answers_its_number() {
        let h = Harness::new();
        let reply = post(&h, "/open311/v2/requests.json", &valid_form()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.content_type, "application/json; charset=utf-8");
        let json = reply.json();
        let no = ticket_of(&reply);
        assert_eq!(json[0]["account_id"], serde_json::Value::Null);
        assert!(
            json[0]["service_notice"]
                .as_str()
                .expect("notice")
                .contains(&no.to_string())
        );
        let commands = h.ledger.commands.lock().expect("lock").clone();
        let [
            TicketCommand::Create {
                idempotency_key,
                actor,
                ticket,
            },
        ] = commands.as_slice()
        else {
            panic!("one create expected, got {commands:?}");
        };
        assert!(idempotency_key.starts_with("web:"));
        assert_eq!(
            *actor,
            Actor::Citizen {
                channel: Channel::Web
            }
        );
        assert_eq!(ticket.ticket_no, no);
        assert_eq!(ticket.channel, Channel::Web);
        assert_eq!(ticket.description, "loud music");
        assert_eq!(ticket.citizen.phone.as_deref(), Some("13800138000"));
        assert_eq!(ticket.citizen.name.as_deref(), Some("San Zhang"));
        assert_eq!(ticket.attributes["when"], vec!["night"]);
    }

    #[tokio::test]
    async fn json_bodies_and_xml_answers_work_too() {
        let h = Harness::new();
        let body = serde_json::json!({
            "api_key": API_KEY, "service_code": "S2", "address_string": "天河路1号",
            "description": "路灯不亮", "request_type": "求助"
        });
        let reply = send(
            &h,
            Request::post("/open311/v2/requests.xml")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.content_type, "text/xml; charset=utf-8");
        assert!(
            reply
                .body
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<service_requests><request><service_request_id>"),
            "{}",
            reply.body
        );
        assert!(
            reply
                .body
                .ends_with("<account_id/></request></service_requests>")
        );
    }

    #[tokio::test]
    async fn api_keys_are_enforced() {
        let h = Harness::new();
        let without = valid_form().replace(&format!("api_key={API_KEY}&"), "");
        let reply = post(&h, "/open311/v2/requests.json", &without).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.json()[0]["code"], 403);
        let wrong = valid_form().replace(API_KEY, "someone-elses-key");
        let reply = post(&h, "/open311/v2/requests.xml", &wrong).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(
            reply
                .body
                .contains("<errors><error><code>403</code><description>api_key is missing or not valid</description></error></errors>"),
            "{}",
            reply.body
        );
        assert!(h.ledger.commands.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn bad_submissions_get_400_or_404_and_store_nothing() {
        let h = Harness::new();
        let cases: Vec<(String, StatusCode, &str)> = vec![
            (
                valid_form().replace("&lat=23.13&long=113.26", ""),
                StatusCode::BAD_REQUEST,
                "a location is required",
            ),
            (
                valid_form().replace("&attribute[when]=night", ""),
                StatusCode::BAD_REQUEST,
                "attribute[when] is required",
            ),
            (
                valid_form().replace("service_code=S1", "service_code=NOPE"),
                StatusCode::NOT_FOUND,
                "service_code was not found",
            ),
            (
                valid_form().replace("service_code=S1&", ""),
                StatusCode::BAD_REQUEST,
                "service_code is required",
            ),
            (
                valid_form().replace("phone=13800138000", "phone=call+me"),
                StatusCode::BAD_REQUEST,
                "phone is not a valid phone number",
            ),
            (
                valid_form().replace("loud+music", &"x".repeat(51)),
                StatusCode::BAD_REQUEST,
                "description is longer than 50 characters",
            ),
            (
                format!("{}&jurisdiction_id=elsewhere", valid_form()),
                StatusCode::NOT_FOUND,
                "jurisdiction_id was not found",
            ),
        ];
        for (body, status, description) in cases {
            let reply = post(&h, "/open311/v2/requests.json", &body).await;
            assert_eq!(reply.status, status, "{body}: {}", reply.body);
            let json = reply.json();
            assert_eq!(json[0]["code"], status.as_u16());
            assert!(
                json[0]["description"]
                    .as_str()
                    .expect("text")
                    .starts_with(description),
                "{body}: {}",
                reply.body
            );
            assert!(
                !reply.body.contains("13800138000"),
                "no personal data echoed"
            );
        }
        assert!(h.ledger.commands.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn non_utf8_and_oversized_bodies_are_refused_cleanly() {
        let h = Harness::new();
        let mut body = valid_form().into_bytes();
        body.extend_from_slice(b"&description2=\xff\xfe");
        let reply = send(
            &h,
            post_form("/open311/v2/requests.json")
                .body(Body::from(body))
                .expect("request"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.json()[0]["description"],
            "the request body is not valid UTF-8"
        );
        let huge = format!("{}&description={}", valid_form(), "x".repeat(70 * 1024));
        let reply = post(&h, "/open311/v2/requests.xml", &huge).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(reply.body.contains("<code>413</code>"), "{}", reply.body);
        let reply = send(
            &h,
            Request::post("/open311/v2/requests.json")
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body(Body::from("--x--"))
                .expect("request"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_retry_with_the_same_idempotency_key_gets_the_same_number() {
        let h = Harness::new();
        let first = post_with_key(&h, &valid_form(), "order-42").await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        let again = post_with_key(&h, &valid_form(), "order-42").await;
        assert_eq!(ticket_of(&again), ticket_of(&first));
        assert_eq!(
            h.ledger.commands.lock().expect("lock").len(),
            1,
            "the fast path answered the retry"
        );
        // Redis lost everything: the ledger still knows the key.
        h.cache.flush();
        let after_flush = post_with_key(&h, &valid_form(), "order-42").await;
        assert_eq!(after_flush.status, StatusCode::CREATED);
        assert_eq!(ticket_of(&after_flush), ticket_of(&first));
        assert_eq!(h.ledger.commands.lock().expect("lock").len(), 2);
        // Redis down altogether: still the same number, from the ledger.
        h.cache.down.store(true, Ordering::SeqCst);
        let redis_down = post_with_key(&h, &valid_form(), "order-42").await;
        assert_eq!(ticket_of(&redis_down), ticket_of(&first));
        // Another key (or no key) is another ticket.
        h.cache.down.store(false, Ordering::SeqCst);
        let other = post_with_key(&h, &valid_form(), "order-43").await;
        assert_ne!(ticket_of(&other), ticket_of(&first));
        let plain_a = post(&h, "/open311/v2/requests.json", &valid_form()).await;
        let plain_b = post(&h, "/open311/v2/requests.json", &valid_form()).await;
        assert_ne!(ticket_of(&plain_a), ticket_of(&plain_b));
        let bad = post_with_key(&h, &valid_form(), "has space").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_reserved_number_is_reused_when_the_first_attempt_died() {
        let h = Harness::new();
        let key = IdempotencyKey::parse(API_KEY, b"crashed-once").expect("key");
        let reserved = TicketNo::compose(261129, 999).expect("no");
        h.cache
            .reserve(&key.cache_key("test"), reserved)
            .await
            .expect("reserve");
        let reply = post_with_key(&h, &valid_form(), "crashed-once").await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(ticket_of(&reply), reserved);
        assert_eq!(
            h.cache
                .lookup(&key.cache_key("test"))
                .await
                .expect("lookup"),
            Some(Remembered::Created(reserved))
        );
    }

    #[tokio::test]
    async fn dependencies_down_give_503() {
        let h = Harness::new();
        h.ledger.down.store(true, Ordering::SeqCst);
        let reply = post(&h, "/open311/v2/requests.json", &valid_form()).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!reply.body.contains("no responders"), "{}", reply.body);
        h.ledger.down.store(false, Ordering::SeqCst);
        h.numbers.broken.store(true, Ordering::SeqCst);
        let reply = post(&h, "/open311/v2/requests.json", &valid_form()).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        let fresh = Harness::new();
        fresh.catalogue.go_down();
        let reply = post(&fresh, "/open311/v2/requests.json", &valid_form()).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        let reply = get(&fresh, "/open311/v2/services.json").await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn ledger_internal_errors_do_not_leak() {
        struct Broken;
        impl Ledger for Broken {
            fn submit(
                &self,
                _: TicketCommand,
            ) -> futures::future::BoxFuture<
                '_,
                Result<hotline_domain::contract::CommandAccepted, CallError>,
            > {
                Box::pin(async {
                    Err(CallError::Decode(
                        "missing field `seq` at line 1 column 40".into(),
                    ))
                })
            }
            fn get(
                &self,
                _: TicketNo,
            ) -> futures::future::BoxFuture<
                '_,
                Result<hotline_domain::contract::TicketWithHistory, CallError>,
            > {
                Box::pin(async {
                    Err(RemoteError::new(ErrorKind::Internal, "pg: relation").into())
                })
            }
            fn list(
                &self,
                _: TicketQuery,
            ) -> futures::future::BoxFuture<'_, Result<Vec<TicketView>, CallError>> {
                Box::pin(async { Ok(vec![]) })
            }
            fn updates(
                &self,
                _: hotline_domain::contract::UpdatesQuery,
            ) -> futures::future::BoxFuture<
                '_,
                Result<Vec<hotline_domain::contract::TicketUpdate>, CallError>,
            > {
                Box::pin(async { Ok(vec![]) })
            }
        }
        let h = Harness::new();
        let state = AppState::new(Parts {
            config: h.state.0.config.clone(),
            ledger: Arc::new(Broken),
            catalogue: h.state.0.catalogue.clone(),
            numbers: h.numbers.clone(),
            idempotency: None,
            limiter: None,
            readiness: Readiness::default(),
        });
        let broken = Harness { state, ..h };
        let reply = post(&broken, "/open311/v2/requests.json", &valid_form()).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.json()[0]["description"], "internal error");
        let no = TicketNo::compose(261129, 1).expect("no");
        let reply = get(&broken, &format!("/open311/v2/requests/{no}.json")).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!reply.body.contains("pg:"), "{}", reply.body);
    }

    #[tokio::test]
    async fn one_request_shows_progress_but_never_contact_details() {
        let h = Harness::new();
        let no = ticket_of(&post(&h, "/open311/v2/requests.json", &valid_form()).await);
        h.ledger.act(
            no,
            Action::Reply {
                text: "We asked the venue to lower the music".into(),
            },
            Status::Replied,
        );
        let reply = get(&h, &format!("/open311/v2/requests/{no}.json")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let json = reply.json();
        let request = &json[0];
        assert_eq!(request["service_request_id"], no.to_string());
        assert_eq!(request["status"], "open");
        assert_eq!(
            request["status_notes"],
            "We asked the venue to lower the music"
        );
        assert_eq!(request["service_name"], "Service S1");
        assert_eq!(request["agency_responsible"], "GZ-TH");
        assert_eq!(request["lat"], 23.13);
        assert!(
            request["requested_datetime"]
                .as_str()
                .expect("time")
                .ends_with("+08:00")
        );
        for secret in ["13800138000", "li@example.org", "Zhang"] {
            assert!(
                !reply.body.contains(secret),
                "{secret} leaked: {}",
                reply.body
            );
        }
        let xml = get(&h, &format!("/open311/v2/requests/{no}.xml")).await;
        assert!(
            xml.body.contains(&format!(
                "<service_requests><request><service_request_id>{no}</service_request_id><status>open</status>"
            )),
            "{}",
            xml.body
        );
        assert!(xml.body.contains("<zipcode/>"));
        assert!(
            xml.body
                .contains("<lat>23.13</lat><long>113.26</long><media_url/></request>"),
            "{}",
            xml.body
        );
        assert!(xml.body.contains("<expected_datetime/>"));
        let malformed = get(&h, "/open311/v2/requests/12345.json").await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        let unknown = TicketNo::compose(261129, 777).expect("no");
        let missing = get(&h, &format!("/open311/v2/requests/{unknown}.xml")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("<code>404</code>"));
        let token = get(&h, &format!("/open311/v2/tokens/{no}.json")).await;
        assert_eq!(
            token.json(),
            serde_json::json!([{"service_request_id": no.to_string(), "token": no.to_string()}])
        );
        let no_token = get(&h, &format!("/open311/v2/tokens/{unknown}.json")).await;
        assert_eq!(no_token.status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn lists_filter_by_status_and_validate_dates() {
        let h = Harness::new();
        let open = ticket_of(&post(&h, "/open311/v2/requests.json", &valid_form()).await);
        let done = ticket_of(&post(&h, "/open311/v2/requests.json", &valid_form()).await);
        h.ledger.act(done, Action::Close, Status::Closed);
        let all = get(&h, "/open311/v2/requests.json").await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.body);
        assert_eq!(all.json().as_array().expect("list").len(), 2);
        let closed = get(&h, "/open311/v2/requests.json?status=closed").await;
        let closed = closed.json();
        assert_eq!(closed.as_array().expect("list").len(), 1);
        assert_eq!(closed[0]["service_request_id"], done.to_string());
        assert_eq!(closed[0]["status"], "closed");
        let by_id = get(
            &h,
            &format!("/open311/v2/requests.json?service_request_id={open}"),
        )
        .await;
        assert_eq!(by_id.json()[0]["service_request_id"], open.to_string());
        let none = get(&h, "/open311/v2/requests.json?service_code=S2").await;
        assert_eq!(none.json(), serde_json::json!([]));
        let xml = get(&h, "/open311/v2/requests.xml?status=open").await;
        assert_eq!(xml.body.matches("<request>").count(), 1, "{}", xml.body);
        let bad = get(&h, "/open311/v2/requests.json?start_date=last+week").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let long = get(
            &h,
            "/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-12-01T00:00:00Z",
        )
        .await;
        assert_eq!(long.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            long.json()[0]["description"],
            "start_date and end_date may not span more than 90 days"
        );
        let elsewhere = get(&h, "/open311/v2/requests.json?jurisdiction_id=sz").await;
        assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn services_and_definitions_come_from_the_catalogue() {
        let h = Harness::new();
        let json = get(&h, "/open311/v2/services.json").await;
        assert_eq!(json.status, StatusCode::OK);
        let list = json.json();
        assert_eq!(list.as_array().expect("list").len(), 2);
        assert_eq!(list[0]["service_code"], "S1");
        assert_eq!(list[0]["metadata"], true);
        assert_eq!(list[1]["metadata"], false);
        assert_eq!(list[0]["type"], "realtime");
        assert_eq!(list[0]["keywords"], "noise, 噪音");
        let xml = get(&h, "/open311/v2/services.xml").await;
        assert!(
            xml.body
                .contains("<services><service><service_code>S1</service_code>"),
            "{}",
            xml.body
        );
        let definition = get(&h, "/open311/v2/services/S1.xml").await;
        assert_eq!(definition.status, StatusCode::OK);
        assert!(
            definition.body.contains(
                "<service_definition><service_code>S1</service_code><attributes><attribute><variable>false</variable><code>notice</code>"
            ),
            "ordered by `order`: {}",
            definition.body
        );
        assert!(
            definition
                .body
                .contains("<values><value><key>day</key><name>DAY</name></value>")
        );
        let json = get(&h, "/open311/v2/services/S1.json").await.json();
        assert_eq!(json["attributes"][1]["code"], "when");
        assert_eq!(json["attributes"][1]["required"], true);
        let unknown = get(&h, "/open311/v2/services/NOPE.json").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn updates_follow_fixmystreet() {
        let h = Harness::new();
        let no = ticket_of(&post(&h, "/open311/v2/requests.json", &valid_form()).await);
        let step = |seq, action, status| hotline_domain::contract::TicketUpdate {
            ticket_no: no,
            entry: crate::testing::entry(seq, Actor::system("x"), action, status),
            status_after: status,
        };
        *h.ledger.updates.lock().expect("lock") = vec![
            step(
                2,
                Action::AddProgress {
                    note: "Inspector on the way".into(),
                },
                Status::InProgress,
            ),
            step(
                3,
                Action::Supervise {
                    note: "late".into(),
                },
                Status::InProgress,
            ),
            step(4, Action::Complete { note: "".into() }, Status::Completed),
        ];
        let json = get(&h, "/open311/v2/servicerequestupdates.json").await;
        assert_eq!(json.status, StatusCode::OK, "{}", json.body);
        let updates = json.json();
        let updates = updates["service_request_updates"].as_array().expect("list");
        assert_eq!(updates.len(), 2, "the supervision order is internal");
        assert_eq!(updates[0]["update_id"], format!("{no}-2"));
        assert_eq!(updates[0]["status"], "in_progress");
        assert_eq!(updates[0]["description"], "Inspector on the way");
        assert_eq!(updates[1]["status"], "fixed");
        h.ledger.confidential.lock().expect("lock").push(no);
        let xml = get(&h, "/open311/v2/servicerequestupdates.xml").await;
        assert!(
            xml.body
                .contains("<service_request_updates><request_update><update_id>"),
            "{}",
            xml.body
        );
        assert!(
            !xml.body.contains("Inspector"),
            "confidential: {}",
            xml.body
        );
        let bad = get(&h, "/open311/v2/servicerequestupdates.json?end_date=soon").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn discovery_and_unknown_routes() {
        let h = Harness::new();
        let reply = send(
            &h,
            Request::get("/open311/v2/discovery.json")
                .header(header::HOST, "open311.example.gov")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        let json = reply.json();
        assert_eq!(
            json["endpoints"][0]["url"],
            "http://open311.example.gov/open311/v2"
        );
        assert_eq!(
            json["endpoints"][0]["specification"],
            "http://wiki.open311.org/GeoReport_v2"
        );
        let xml = get(&h, "/open311/v2/discovery.xml").await;
        assert!(xml.body.contains("<discovery><changeset>"), "{}", xml.body);
        let no_format = get(&h, "/open311/v2/services").await;
        assert_eq!(no_format.status, StatusCode::NOT_FOUND);
        assert_eq!(no_format.json()[0]["code"], 404);
        let nowhere = get(&h, "/open311/v2/a/b/c.xml").await;
        assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
        assert!(nowhere.body.contains("<errors>"), "{}", nowhere.body);
        let put = send(
            &h,
            Request::put("/open311/v2/requests.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(put.json()[0]["code"], 405);
        let post_services = post(&h, "/open311/v2/services.json", "").await;
        assert_eq!(post_services.status, StatusCode::METHOD_NOT_ALLOWED);
        let bad_path = get(&h, "/open311/v2/requests/%FF.json").await;
        assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn ops_routes_and_metrics_are_served() {
        let h = Harness::new();
        assert_eq!(get(&h, "/healthz").await.status, StatusCode::OK);
        assert_eq!(
            get(&h, "/readyz").await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        h.state.readiness().set(true);
        assert_eq!(get(&h, "/readyz").await.status, StatusCode::OK);
        post(&h, "/open311/v2/requests.json", &valid_form()).await;
        let metrics = get(&h, "/metrics").await;
        assert!(
            metrics.body.contains(
                "hotline_intake_http_requests_total{code=\"201\",route=\"/open311/v2/{resource}\"}"
            ),
            "{}",
            metrics.body
        );
        assert!(
            metrics.body.contains(
                "hotline_intake_tickets_created_total{channel=\"web\",outcome=\"created\"}"
            )
        );
        assert!(
            metrics
                .body
                .contains("hotline_intake_http_request_duration_seconds_bucket")
        );
    }
}
