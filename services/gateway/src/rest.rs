//! The REST/JSON mirror for departments without gRPC, plus `/healthz`, `/readyz`, `/metrics`.
//!
//! Assignments are pulled (`GET /v1/assignments`) from the same durable consumer as gRPC and
//! acked with `POST /v1/assignments/{delivery_id}/ack`. Pulled-but-unacked messages are kept in
//! this replica's memory until acked or until the ack wait passes; an ack that reaches another
//! replica finds nothing (404) and the assignment is delivered again after the ack wait, which
//! clients dedupe by `(ticket_no, seq)`. Behind a load balancer, sticky sessions avoid that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::Batch;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use hotline_domain::DeptCode;
use hotline_telemetry::Readiness;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::assignment::Assignment;
use crate::auth::Authenticator;
use crate::delivery::{self, Deliveries};
use crate::error::{ApiError, ErrorKind};
use crate::ledger::{Ledger, Protocol, client_traceparent, observe};
use crate::{metrics, wire};

/// Largest request body: notes are bounded to 8000 characters, so 64 KiB is plenty.
const MAX_BODY: usize = 64 * 1024;
pub const DEFAULT_PULL: usize = 10;
pub const MAX_PULL: usize = 100;
/// Longest long-poll, kept under the ack wait so that nothing pulled expires in transit.
pub const MAX_WAIT_MS: u64 = 25_000;

#[derive(Clone)]
pub struct RestState {
    ledger: Ledger,
    deliveries: Deliveries,
    auth: Arc<Authenticator>,
    inbox: Inbox,
    shutdown: CancellationToken,
}

impl RestState {
    pub fn new(
        ledger: Ledger,
        deliveries: Deliveries,
        auth: Arc<Authenticator>,
        shutdown: CancellationToken,
    ) -> RestState {
        RestState {
            ledger,
            deliveries,
            auth,
            inbox: Inbox::default(),
            shutdown,
        }
    }

    fn department(&self, route: &str, headers: &HeaderMap) -> Result<DeptCode, ApiError> {
        let header = headers.get("authorization").and_then(|v| v.to_str().ok());
        self.auth.department_for_header(header).ok_or_else(|| {
            tracing::warn!(route, "unauthenticated REST call refused");
            ApiError::unauthenticated()
        })
    }
}

pub fn router(state: RestState, readiness: Readiness) -> Router {
    let app = Router::new()
        .route("/v1/tickets", get(list_tickets))
        .route("/v1/tickets/{no}", get(get_ticket))
        .route("/v1/tickets/{no}/{action}", post(act))
        .route("/v1/assignments", get(pull))
        .route("/v1/assignments/{delivery_id}/{verb}", post(settle))
        .fallback(|| async { ApiError::new(ErrorKind::NotFound, "no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
        .merge(hotline_runtime::http::ops_routes(readiness));
    hotline_runtime::http::traced(app)
}

/// Serves until `shutdown`, then gives back every pulled-but-unacked assignment.
pub async fn serve(
    state: RestState,
    readiness: Readiness,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let inbox = state.inbox.clone();
    let result = hotline_runtime::http::serve(listener, router(state, readiness), shutdown).await;
    inbox.give_back_all().await;
    result.context("REST server")
}

fn finish<T: Serialize>(route: &str, started: Instant, result: Result<T, ApiError>) -> Response {
    observe(Protocol::Rest, route, started, &result);
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// One body type for every action; each action reads the fields it needs. Unknown fields are
/// refused so that a misspelt `reason` is an error, not an empty reason.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    text: String,
    /// RFC 3339, for `extension`.
    #[serde(default)]
    until: String,
    /// A street's code, for `redispatch`.
    #[serde(default)]
    to: String,
    /// What the citizen is asked, for `information`.
    #[serde(default)]
    question: String,
}

fn parse_body(bytes: &Bytes) -> Result<ActionBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("body: {e}")))
}

/// The action `verb` names, built from its body through the edge parsers of `wire`.
fn action_of(verb: &str, body: &ActionBody) -> Result<hotline_domain::Action, ApiError> {
    Ok(match verb {
        "accept" => hotline_domain::Action::Accept,
        "return" => wire::return_action(&body.reason)?,
        "progress" => wire::progress_action(&body.note)?,
        "reply" => wire::reply_action(&body.text)?,
        "complete" => wire::complete_action(&body.note)?,
        "extension" => wire::extension_action(&body.reason, wire::rfc3339("until", &body.until)?)?,
        "information" => wire::information_action(&body.question)?,
        "redispatch" => wire::redispatch_action(&body.to, &body.note)?,
        _ => {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!("no action {verb:?}"),
            ));
        }
    })
}

/// `POST /v1/tickets/{no}/{action}`.
async fn act(
    State(state): State<RestState>,
    Path((no, verb)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let route = match verb.as_str() {
        "accept" | "return" | "progress" | "reply" | "complete" | "extension" | "information"
        | "redispatch" => verb.as_str(),
        _ => "unknown_action",
    };
    let result = async {
        let dept = state.department(route, &headers)?;
        let body = parse_body(&body)?;
        let action = action_of(&verb, &body)?;
        let ticket = wire::ticket_no(&no)?;
        let request_id = if body.request_id.is_empty() {
            headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        } else {
            body.request_id.as_str()
        };
        let key = wire::request_key(&dept, request_id)?;
        state
            .ledger
            .act(&dept, ticket, key, action, traceparent(&headers))
            .await
    }
    .await;
    finish(route, started, result)
}

fn traceparent(headers: &HeaderMap) -> Option<&str> {
    client_traceparent(headers.get("traceparent").and_then(|v| v.to_str().ok()))
}

/// `GET /v1/tickets/{no}`.
async fn get_ticket(
    State(state): State<RestState>,
    Path(no): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = async {
        let dept = state.department("get_ticket", &headers)?;
        let ticket = wire::ticket_no(&no)?;
        state.ledger.get(&dept, ticket, traceparent(&headers)).await
    }
    .await;
    finish("get_ticket", started, result)
}

#[derive(Debug, Deserialize)]
struct ListParams {
    /// Comma-separated statuses.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Serialize)]
struct TicketList {
    tickets: Vec<hotline_domain::contract::TicketView>,
}

/// `GET /v1/tickets?status=dispatched,accepted&limit=50`.
async fn list_tickets(
    State(state): State<RestState>,
    headers: HeaderMap,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let dept = state.department("list_tickets", &headers)?;
        let Query(params) = params.map_err(|e| ApiError::invalid(e.body_text()))?;
        let raw: Vec<&str> = params
            .status
            .as_deref()
            .map(|s| s.split(',').collect())
            .unwrap_or_default();
        let statuses = wire::statuses(&raw)?;
        let limit = wire::limit(params.limit.unwrap_or(0));
        let tickets = state
            .ledger
            .list(&dept, statuses, limit, traceparent(&headers))
            .await?;
        Ok(TicketList { tickets })
    }
    .await;
    finish("list_tickets", started, result)
}

#[derive(Debug, Deserialize)]
struct PullParams {
    #[serde(default)]
    max: Option<usize>,
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// An assignment as REST returns it: the delivery id and attempt, then the assignment's fields.
#[derive(Serialize)]
struct RestAssignment {
    delivery_id: String,
    delivery_attempt: u32,
    #[serde(flatten)]
    assignment: Assignment,
}

#[derive(Serialize)]
struct Pulled {
    assignments: Vec<RestAssignment>,
}

/// `GET /v1/assignments?max=N&wait_ms=M`: up to `max` assignments; when none is waiting, waits
/// up to `wait_ms` for the first (long poll).
async fn pull(
    State(state): State<RestState>,
    headers: HeaderMap,
    params: Result<Query<PullParams>, QueryRejection>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let dept = state.department("pull", &headers)?;
        let Query(params) = params.map_err(|e| ApiError::invalid(e.body_text()))?;
        let max = params.max.unwrap_or(DEFAULT_PULL).clamp(1, MAX_PULL);
        let wait = Duration::from_millis(params.wait_ms.unwrap_or(0).min(MAX_WAIT_MS));
        let consumer = state.deliveries.consumer(&dept).await.map_err(|e| {
            tracing::warn!(department = %dept, error = %format!("{e:#}"), "department consumer unavailable");
            ApiError::unavailable("delivery is temporarily unavailable, please retry")
        })?;
        let messages = tokio::select! {
            m = pull_messages(&consumer, max, wait) => m,
            // Shutting down: answer at once; a message caught mid-pull comes back after the
            // ack wait.
            _ = state.shutdown.cancelled() => Vec::new(),
        };
        let mut messages = messages;
        // In stream order: JetStream may hand out redeliveries in another order.
        messages.sort_by_key(|m| m.info().map(|i| i.stream_sequence).unwrap_or(u64::MAX));
        let mut assignments = Vec::with_capacity(messages.len());
        for message in messages {
            let Some(p) = delivery::take(state.deliveries.bus(), &dept, message).await else {
                continue;
            };
            let mut assignment = p.assignment;
            assignment.ticket = assignment.ticket.for_department();
            state.inbox.hold(&dept, p.delivery_id.clone(), p.message);
            metrics::SENT.with_label_values(&["rest"]).inc();
            assignments.push(RestAssignment {
                delivery_id: p.delivery_id,
                delivery_attempt: p.attempt,
                assignment,
            });
        }
        Ok(Pulled { assignments })
    }
    .await;
    finish("pull", started, result)
}

/// What is waiting now, else the first that arrives within `wait`, plus what came with it.
async fn pull_messages(consumer: &PullConsumer, max: usize, wait: Duration) -> Vec<Message> {
    let mut out = Vec::new();
    collect(
        consumer.fetch().max_messages(max).messages().await,
        &mut out,
    )
    .await;
    if out.is_empty() && !wait.is_zero() {
        collect(
            consumer
                .batch()
                .max_messages(1)
                .expires(wait)
                .messages()
                .await,
            &mut out,
        )
        .await;
        if out.len() == 1 && max > 1 {
            collect(
                consumer.fetch().max_messages(max - 1).messages().await,
                &mut out,
            )
            .await;
        }
    }
    out
}

async fn collect<E: std::fmt::Display>(batch: Result<Batch, E>, out: &mut Vec<Message>) {
    let mut batch = match batch {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "pull failed");
            return;
        }
    };
    while let Some(item) = batch.next().await {
        match item {
            Ok(m) => out.push(m),
            Err(e) => {
                // e.g. the department's max_ack_pending is reached: return what we have.
                tracing::debug!(error = %e, "pull ended early");
                break;
            }
        }
    }
}

#[derive(Serialize)]
struct Settled {
    delivery_id: String,
    result: &'static str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NakBody {
    #[serde(default)]
    delay_ms: u64,
}

/// `POST /v1/assignments/{delivery_id}/ack` and `.../nak` (body `{"delay_ms": N}` optional).
async fn settle(
    State(state): State<RestState>,
    Path((delivery_id, verb)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let route = match verb.as_str() {
        "ack" => "ack",
        "nak" => "nak",
        _ => "unknown_settle",
    };
    let result = async {
        let dept = state.department(route, &headers)?;
        if route == "unknown_settle" {
            return Err(ApiError::new(ErrorKind::NotFound, "use /ack or /nak"));
        }
        let delay = if route == "nak" && !body.iter().all(u8::is_ascii_whitespace) {
            let b: NakBody = serde_json::from_slice(&body)
                .map_err(|e| ApiError::invalid(format!("body: {e}")))?;
            (b.delay_ms > 0).then(|| Duration::from_millis(b.delay_ms.min(3_600_000)))
        } else {
            None
        };
        let Some(message) = state.inbox.take(&dept, &delivery_id) else {
            metrics::ACKS.with_label_values(&["rest", "unknown"]).inc();
            return Err(ApiError::new(
                ErrorKind::NotFound,
                "unknown or expired delivery id (pulled from another replica, or the ack wait \
                 passed); the assignment will be delivered again",
            ));
        };
        if route == "ack" {
            if let Err(e) = delivery::ack(&message).await {
                tracing::warn!(error = %format!("{e:#}"), "ack not confirmed");
                // Keep it so that the client's retry can still ack it.
                state.inbox.hold(&dept, delivery_id.clone(), message);
                metrics::ACKS.with_label_values(&["rest", "failed"]).inc();
                return Err(ApiError::unavailable(
                    "the ack was not confirmed, please retry",
                ));
            }
            metrics::ACKS.with_label_values(&["rest", "ack"]).inc();
            Ok(Settled {
                delivery_id,
                result: "acked",
            })
        } else {
            delivery::nak(&message, delay).await;
            metrics::ACKS.with_label_values(&["rest", "nak"]).inc();
            Ok(Settled {
                delivery_id,
                result: "naked",
            })
        }
    }
    .await;
    finish(route, started, result)
}

struct Held {
    message: Message,
    deadline: Instant,
}

/// Pulled-but-unacked REST deliveries of this replica, per department, until acked or until
/// the ack wait passes (then JetStream has delivered them again anyway). Bounded by the
/// consumers' `max_ack_pending`.
#[derive(Clone, Default)]
pub struct Inbox {
    held: Arc<Mutex<HashMap<DeptCode, HashMap<String, Held>>>>,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeptCode, HashMap<String, Held>>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hold(&self, dept: &DeptCode, delivery_id: String, message: Message) {
        let deadline = Instant::now() + delivery::ACK_WAIT;
        let mut held = self.lock();
        let mine = held.entry(dept.clone()).or_default();
        let now = Instant::now();
        mine.retain(|_, h| h.deadline > now);
        mine.insert(delivery_id, Held { message, deadline });
    }

    fn take(&self, dept: &DeptCode, delivery_id: &str) -> Option<Message> {
        let mut held = self.lock();
        let h = held.get_mut(dept)?.remove(delivery_id)?;
        (h.deadline > Instant::now()).then_some(h.message)
    }

    /// At shutdown: nak everything held, in stream order, so it is redelivered at once.
    async fn give_back_all(&self) {
        let messages: Vec<Message> = {
            let mut held = self.lock();
            held.drain()
                .flat_map(|(_, m)| m.into_values().map(|h| h.message))
                .collect()
        };
        delivery::nak_in_order(messages).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_optional_but_never_sloppy() {
        let empty = parse_body(&Bytes::from_static(b"  \n")).expect("no body is fine");
        assert!(empty.request_id.is_empty());
        let b = parse_body(&Bytes::from_static(
            br#"{"request_id":"r-1","reason":"not ours"}"#,
        ))
        .expect("parses");
        assert_eq!(
            (b.request_id.as_str(), b.reason.as_str()),
            ("r-1", "not ours")
        );
        let typo = parse_body(&Bytes::from_static(br#"{"reasn":"x"}"#)).expect_err("typo");
        assert_eq!(typo.kind, ErrorKind::Invalid);
        assert!(parse_body(&Bytes::from_static(b"{")).is_err());
        assert!(parse_body(&Bytes::from_static(br#"{"note": 5}"#)).is_err());
    }

    const VERBS: [&str; 9] = [
        "accept",
        "return",
        "progress",
        "reply",
        "complete",
        "extension",
        "information",
        "redispatch",
        "nope",
    ];

    fn body_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let text = prop_oneof![
            any::<String>(),
            Just("2026-12-01T08:00:00+08:00".to_owned()),
            Just("GZ-TH-SP".to_owned()),
            Just("ok\0".to_owned()),
        ];
        let value = prop_oneof![
            4 => text.prop_map(serde_json::Value::String),
            1 => any::<i64>().prop_map(|n| serde_json::json!(n)),
            1 => Just(serde_json::Value::Null),
            1 => Just(serde_json::json!([])),
        ];
        let key = prop::sample::select(vec![
            "request_id",
            "reason",
            "note",
            "text",
            "until",
            "to",
            "question",
            "reasn",
        ]);
        prop::collection::btree_map(key, value, 0..5).prop_map(|m| {
            serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2000, ..Default::default() })]

        /// Any bytes for any verb: a typed error or an action whose texts passed the edge.
        #[test]
        fn any_body_bytes_give_an_action_or_a_typed_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            verb in proptest::sample::select(VERBS.to_vec()),
        ) {
            if let Ok(body) = parse_body(&Bytes::from(bytes))
                && let Ok(action) = action_of(verb, &body)
            {
                proptest::prop_assert!(action.check_text().is_ok());
            }
        }

        #[test]
        fn any_json_body_gives_an_action_or_a_typed_error(
            value in body_json(),
            verb in proptest::sample::select(VERBS.to_vec()),
        ) {
            let bytes = serde_json::to_vec(&value).expect("serializes");
            match parse_body(&Bytes::from(bytes)).and_then(|b| action_of(verb, &b)) {
                Ok(action) => proptest::prop_assert!(action.check_text().is_ok()),
                Err(e) => proptest::prop_assert!(
                    matches!(e.kind, ErrorKind::Invalid | ErrorKind::NotFound),
                    "{e:?}"
                ),
            }
        }
    }

    #[test]
    fn errors_render_as_json_with_the_mapped_status() {
        let response = ApiError::new(ErrorKind::Forbidden, "not your ticket").into_response();
        assert_eq!(response.status(), axum::http::StatusCode::FORBIDDEN);
        let response = ApiError::unauthenticated().into_response();
        assert_eq!(response.status(), axum::http::StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
}
