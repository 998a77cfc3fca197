//! The phone channel's HTTP API: the call platform's CTI webhook (shared token) and the agents'
//! routes during and after a call (people's JWTs, `hotline_auth`).
//!
//! A ticket made during a call is created held from dispatch ([`super::hold`]): the agent may
//! still answer it on the spot; `POST /v1/calls/{id}/finish` releases what is still held.
//!
//! The caller's number is stored with the call but leaves only masked, and is never logged: logs
//! and metrics name the call id and the event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use hotline_auth::{Authorized, Policy, Principal, Role, Verifier};
use hotline_config::Secret;
use hotline_domain::contract::{Citizen, CreateTicket, Location, TicketCommand, TicketQuery};
use hotline_domain::{Actor, Channel, ItemCode, RequestType, ServiceCode, TicketNo};
use hotline_runtime::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cti::{self, CtiEvent, EventKind};
use super::hold;
use super::metrics;
use super::store::{Applied, Call, CallStore};
use crate::upstream::{Ledger, NumberIssuer};

const MAX_DESCRIPTION: usize = 4000;
const MAX_TRANSCRIPT: usize = 20_000;
const MAX_ADDRESS: usize = 500;
/// The header that may carry the CTI token instead of the path.
pub const TOKEN_HEADER: &str = "x-cti-token";

#[derive(Clone)]
pub struct PhoneState {
    pub store: CallStore,
    pub ledger: Arc<dyn Ledger>,
    pub numbers: Arc<dyn NumberIssuer>,
    pub verifier: Verifier,
    pub cti_token: Secret,
    pub answer_target_secs: u64,
}

impl FromRef<PhoneState> for Verifier {
    fn from_ref(s: &PhoneState) -> Verifier {
        s.verifier.clone()
    }
}

pub fn router(state: PhoneState) -> Router {
    Router::new()
        .route("/cti", post(cti_header))
        .route("/cti/{token}", post(cti_path))
        .route("/v1/calls/active", get(active))
        .route("/v1/calls/{call_id}", get(one))
        .route("/v1/calls/{call_id}/ticket", post(create_ticket))
        .route("/v1/calls/{call_id}/answer", post(answer))
        .route("/v1/calls/{call_id}/finish", post(finish))
        .route("/v1/figures", get(figures))
        .route("/v1/missed-calls", get(missed))
        .route("/v1/missed-calls/{call_id}/done", post(missed_done))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(10),
        ))
        .with_state(state)
}

/// Working on calls: agents, and supervisors who step in.
pub struct PhoneWork;
impl Policy for PhoneWork {
    const ROLES: &'static [Role] = &[Role::Agent, Role::Supervisor];
    const WHAT: &'static str = "work on phone calls";
}

/// The phone figures: supervisors and administrators.
pub struct PhoneFigures;
impl Policy for PhoneFigures {
    const ROLES: &'static [Role] = &[Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "read the phone figures";
}

// ---- CTI webhook ----

async fn cti_path(
    State(state): State<PhoneState>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    cti_event(&state, Some(&token), &body).await
}

async fn cti_header(
    State(state): State<PhoneState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let presented = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(hotline_auth::bearer_token)
        });
    cti_event(&state, presented, &body).await
}

fn cti_refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn cti_event(state: &PhoneState, presented: Option<&str>, body: &[u8]) -> Response {
    // The token first: nothing from an unauthenticated sender is parsed or stored.
    if !presented.is_some_and(|p| cti::token_matches(p, state.cti_token.expose())) {
        metrics::CTI_EVENTS
            .with_label_values(&["unknown", "unauthenticated"])
            .inc();
        return cti_refusal(
            StatusCode::UNAUTHORIZED,
            "the CTI token is missing or wrong",
        );
    }
    let event = match CtiEvent::parse(body) {
        Ok(e) => e,
        Err(e) => {
            let status = if e.is_unknown_event() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_REQUEST
            };
            metrics::CTI_EVENTS
                .with_label_values(&["unknown", "refused"])
                .inc();
            return cti_refusal(status, &e.to_string());
        }
    };
    let kind = event.kind.as_str();
    match state.store.apply(&event, Utc::now()).await {
        Ok(Applied::Repeat) => {
            metrics::CTI_EVENTS
                .with_label_values(&[kind, "repeat"])
                .inc();
            tracing::debug!(call = %event.call_id, event = kind, "CTI event repeated");
            Json(json!({ "ok": true, "repeated": true })).into_response()
        }
        Ok(Applied::New) => {
            metrics::CTI_EVENTS
                .with_label_values(&[kind, "applied"])
                .inc();
            tracing::info!(call = %event.call_id, event = kind, "CTI event");
            if event.kind == EventKind::Hangup {
                count_ended(state, &event.call_id).await;
            }
            Json(json!({ "ok": true, "repeated": false })).into_response()
        }
        Err(e) => {
            // The platform retries on 5xx; the event was not recorded.
            let _ = ApiError::internal(&e);
            cti_refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn count_ended(state: &PhoneState, call_id: &str) {
    if let Ok(Some(call)) = state.store.get(call_id).await {
        let outcome = if call.answered_at.is_some() {
            "answered"
        } else {
            "abandoned"
        };
        metrics::CALLS_ENDED
            .with_label_values(&[call.direction.as_str(), outcome])
            .inc();
    }
}

// ---- agents ----

/// A call as staff see it: the caller's number masked.
#[derive(Debug, Serialize)]
pub struct CallView {
    pub call_id: String,
    pub direction: String,
    pub caller: Option<String>,
    pub line: Option<String>,
    pub ivr: Option<String>,
    pub state: String,
    pub agent: Option<String>,
    pub ringing_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cause: Option<String>,
    pub ticket_nos: Vec<TicketNo>,
    pub answer_leaf: Option<String>,
    pub called_back_at: Option<DateTime<Utc>>,
    pub called_back_by: Option<String>,
}

impl From<Call> for CallView {
    fn from(c: Call) -> CallView {
        CallView {
            call_id: c.call_id,
            direction: c.direction,
            caller: c.caller.as_deref().map(hotline_domain::mask::phone),
            line: c.line,
            ivr: c.ivr,
            state: c.state,
            agent: c.agent,
            ringing_at: c.ringing_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            cause: c.cause,
            ticket_nos: c.ticket_nos,
            answer_leaf: c.answer_leaf,
            called_back_at: c.called_back_at,
            called_back_by: c.called_back_by,
        }
    }
}

/// The call, if `who` may work on it: its agent, or a supervisor. Others get 404, as for a call
/// that does not exist.
async fn call_for(state: &PhoneState, who: &Principal, call_id: &str) -> Result<Call, ApiError> {
    let call = state.store.get(call_id).await?;
    match call {
        Some(c) if who.has(Role::Supervisor) || c.agent.as_deref() == Some(&who.subject) => Ok(c),
        _ => Err(ApiError::not_found("no such call of yours")),
    }
}

async fn active(
    who: Authorized<PhoneWork>,
    State(state): State<PhoneState>,
) -> Result<Response, ApiError> {
    let calls = state.store.active_for(&who.subject).await?;
    let calls: Vec<CallView> = calls.into_iter().map(CallView::from).collect();
    Ok(Json(json!({ "calls": calls })).into_response())
}

/// The call with the caller's earlier calls and tickets (from the ledger, by the call's
/// number); contact details masked.
async fn one(
    who: Authorized<PhoneWork>,
    State(state): State<PhoneState>,
    Path(call_id): Path<String>,
) -> Result<Response, ApiError> {
    let call = call_for(&state, &who, &call_id).await?;
    let (history, tickets) = match call.caller.as_deref() {
        Some(caller) => {
            let history = state.store.history_of(caller, 20).await?;
            let tickets = state
                .ledger
                .list(TicketQuery {
                    citizen_phone: Some(caller.to_owned()),
                    limit: Some(50),
                    ..TicketQuery::default()
                })
                .await?;
            (history, tickets)
        }
        None => (Vec::new(), Vec::new()),
    };
    let history: Vec<CallView> = history
        .into_iter()
        .filter(|c| c.call_id != call.call_id)
        .map(CallView::from)
        .collect();
    let tickets: Vec<_> = tickets
        .into_iter()
        .map(|mut t| {
            t.citizen = t.citizen.masked();
            t
        })
        .collect();
    let open: Vec<TicketNo> = tickets
        .iter()
        .filter(|t| !t.status.is_terminal())
        .map(|t| t.ticket_no)
        .collect();
    let held = state.store.held_of(&call.call_id).await?;
    Ok(Json(json!({
        "call": CallView::from(call),
        "history": history,
        "tickets": tickets,
        "open_ticket_nos": open,
        "held_ticket_nos": held,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketBody {
    description: String,
    #[serde(default)]
    transcript: Option<String>,
    #[serde(default)]
    service_code: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    request_type: Option<String>,
    #[serde(default)]
    confidential: bool,
}

fn bounded(field: &'static str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{field} is longer than {max} characters"
        )));
    }
    hotline_domain::text::check(field, text).map_err(|e| ApiError::invalid(e.to_string()))
}

/// The ledger's Create for `call`, with the agent's account of it. The ledger records a
/// citizen on the phone channel (the only actor intake may send); the agent who took the call
/// is in the ticket's attributes (`phone.agent`), with the call id.
fn create_of(
    call: &Call,
    agent: &str,
    body: TicketBody,
    leaf: Option<&ItemCode>,
) -> Result<impl FnOnce(TicketNo) -> CreateTicket + use<>, ApiError> {
    // Every field is checked here, before a ticket number is taken for it.
    hotline_domain::text::check("agent", agent).map_err(|e| ApiError::invalid(e.to_string()))?;
    let description = body.description.trim().to_owned();
    if description.is_empty() {
        return Err(ApiError::invalid("description is required"));
    }
    bounded("description", &description, MAX_DESCRIPTION)?;
    let service_code = body
        .service_code
        .as_deref()
        .map(ServiceCode::parse)
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let request_type = match body.request_type.as_deref() {
        Some(raw) => RequestType::parse(raw)
            .ok_or_else(|| ApiError::invalid("request_type is not a known request type"))?,
        None => RequestType::HelpRequest,
    };
    let address = body
        .address
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    if let Some(a) = &address {
        bounded("address", a, MAX_ADDRESS)?;
    }
    let mut attributes = BTreeMap::new();
    attributes.insert("phone.agent".to_owned(), vec![agent.to_owned()]);
    attributes.insert("phone.call_id".to_owned(), vec![call.call_id.clone()]);
    if let Some(ivr) = &call.ivr {
        attributes.insert("phone.ivr".to_owned(), vec![ivr.clone()]);
    }
    if let Some(t) = body
        .transcript
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
    {
        bounded("transcript", &t, MAX_TRANSCRIPT)?;
        attributes.insert("phone.transcript".to_owned(), vec![t]);
    }
    if let Some(leaf) = leaf {
        attributes.insert("phone.answer_leaf".to_owned(), vec![leaf.to_string()]);
    }
    let confidential = body.confidential;
    let phone = call.caller.clone();
    Ok(move |ticket_no| CreateTicket {
        ticket_no,
        channel: Channel::Phone,
        request_type,
        service_code,
        description,
        location: Location {
            address,
            ..Location::default()
        },
        citizen: Citizen {
            phone,
            ..Citizen::default()
        },
        confidential,
        attributes,
        media_url: None,
        // Held from dispatch while the agent is on the call: an answer on the spot must not
        // race an automatic dispatch. Released by `finish` or the sweeper.
        hold: true,
    })
}

/// Registers the ticket and links it to the call. The ledger key is the call's (one ticket per
/// call) or, with an `Idempotency-Key`, the call's and that key's (more tickets from one call).
async fn register(
    state: &PhoneState,
    call: &Call,
    who: &Principal,
    headers: &HeaderMap,
    body: TicketBody,
    leaf: Option<&ItemCode>,
) -> Result<(TicketNo, bool), ApiError> {
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => format!("phone:{}", call.call_id),
        Some(Ok(k))
            if !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            format!("phone:{}:{k}", call.call_id)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "Idempotency-Key must be 1-128 visible ASCII characters",
            ));
        }
    };
    let build = create_of(call, &who.subject, body, leaf)?;
    let ticket_no = state.numbers.next().await.map_err(|e| {
        // The bucket (or the ledger it asks for a day's first number) is not there: retryable.
        tracing::warn!(error = %format!("{e:#}"), "no ticket number");
        ApiError::unavailable("no ticket number could be taken; try again")
    })?;
    let create = build(ticket_no);
    // The fields were checked one by one; the whole again, as the ledger will.
    create
        .check_text()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    // The hold is known here before the ledger holds anything, so the sweeper can always
    // release it, whatever happens to this request after the Create.
    state.store.hold(&call.call_id, ticket_no).await?;
    let submitted = state
        .ledger
        .submit(TicketCommand::Create {
            idempotency_key: key,
            actor: Actor::Citizen {
                channel: Channel::Phone,
            },
            ticket: Box::new(create),
        })
        .await;
    let accepted = match submitted {
        Ok(accepted) => accepted,
        Err(e) => {
            // A refused Create made no ticket. An unanswered one may have: its row stays, and
            // the sweeper finds out (released, or no such ticket).
            if e.kind().is_refusal() {
                state.store.forget_hold(ticket_no).await?;
            }
            return Err(e.into());
        }
    };
    if accepted.ticket_no != ticket_no {
        // A retry: the ticket is the first attempt's, held under its own number.
        state.store.forget_hold(ticket_no).await?;
        state.store.hold(&call.call_id, accepted.ticket_no).await?;
    }
    state
        .store
        .link_ticket(&call.call_id, accepted.ticket_no)
        .await?;
    let outcome = if accepted.replayed {
        "replayed"
    } else {
        "created"
    };
    crate::metrics::TICKETS_CREATED
        .with_label_values(&["phone", outcome])
        .inc();
    tracing::info!(call = %call.call_id, ticket = %accepted.ticket_no, outcome, "phone ticket");
    Ok((accepted.ticket_no, accepted.replayed))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("bad JSON body: {e}")))
}

async fn create_ticket(
    who: Authorized<PhoneWork>,
    State(state): State<PhoneState>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let call = call_for(&state, &who, &call_id).await?;
    let body: TicketBody = json_body(&body)?;
    let (ticket_no, replayed) = register(&state, &call, &who, &headers, body, None).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({ "call_id": call.call_id, "ticket_no": ticket_no, "replayed": replayed })),
    )
        .into_response())
}

/// The leaf, and the ticket's fields for a call that has no ticket yet (else the call's latest
/// ticket is the one answered).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    knowledge_leaf: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    transcript: Option<String>,
    #[serde(default)]
    service_code: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    request_type: Option<String>,
    #[serde(default)]
    confidential: bool,
}

impl AnswerBody {
    fn ticket(self) -> Option<TicketBody> {
        Some(TicketBody {
            description: self.description?,
            transcript: self.transcript,
            service_code: self.service_code,
            address: self.address,
            request_type: self.request_type,
            confidential: self.confidential,
        })
    }
}

/// 直接答复: records the knowledge leaf on the call and makes sure the call has its ticket (with
/// the leaf in its attributes). The ledger takes an agent's Answer only from the centre's staff
/// services, so the answer step itself goes through the knowledge service
/// (`POST /v1/leaves/{leaf}/answer` with the returned ticket number). The ticket is held from
/// dispatch meanwhile, so that answer cannot be beaten by an automatic dispatch.
async fn answer(
    who: Authorized<PhoneWork>,
    State(state): State<PhoneState>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let call = call_for(&state, &who, &call_id).await?;
    let body: AnswerBody = json_body(&body)?;
    let leaf = ItemCode::parse(body.knowledge_leaf.trim())
        .map_err(|_| ApiError::invalid("knowledge_leaf is not a knowledge code"))?;
    state
        .store
        .record_answer_leaf(&call.call_id, leaf.as_str())
        .await?;
    let ticket_no = match (call.ticket_nos.last(), body.ticket()) {
        (Some(no), _) => *no,
        (None, Some(ticket)) => {
            register(&state, &call, &who, &headers, ticket, Some(&leaf))
                .await?
                .0
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "the call has no ticket yet: send its description with the leaf",
            ));
        }
    };
    Ok(Json(json!({
        "call_id": call.call_id,
        "ticket_no": ticket_no,
        "knowledge_leaf": leaf,
        "answer_route": format!("/v1/leaves/{leaf}/answer"),
    }))
    .into_response())
}

/// The agent is done with the call: every ticket of it still held is released to dispatch,
/// unless the ledger ended the hold already (answered on the spot: `moved_on`). Repeating it
/// is harmless (nothing is left to release).
async fn finish(
    who: Authorized<PhoneWork>,
    State(state): State<PhoneState>,
    Path(call_id): Path<String>,
) -> Result<Response, ApiError> {
    let call = call_for(&state, &who, &call_id).await?;
    let outcomes = hold::finish(
        &state.store,
        state.ledger.as_ref(),
        &call.call_id,
        &who.subject,
    )
    .await?;
    Ok(Json(json!({ "call_id": call.call_id, "tickets": outcomes })).into_response())
}

// ---- figures and the callback list ----

#[derive(Debug, Deserialize)]
struct Period {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

async fn figures(
    _who: Authorized<PhoneFigures>,
    State(state): State<PhoneState>,
    Query(p): Query<Period>,
) -> Result<Response, ApiError> {
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or(to - chrono::Duration::days(1));
    if from >= to {
        return Err(ApiError::invalid("from must be before to"));
    }
    if to - from > chrono::Duration::days(366) {
        return Err(ApiError::invalid("the period may not exceed 366 days"));
    }
    let figures = state
        .store
        .figures(from, to, state.answer_target_secs)
        .await?;
    Ok(Json(figures).into_response())
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<u32>,
}

async fn missed(
    _who: Authorized<PhoneWork>,
    State(state): State<PhoneState>,
    Query(l): Query<Limit>,
) -> Result<Response, ApiError> {
    let limit = i64::from(l.limit.unwrap_or(100).clamp(1, 500));
    let calls: Vec<CallView> = state
        .store
        .missed(limit)
        .await?
        .into_iter()
        .map(CallView::from)
        .collect();
    Ok(Json(json!({ "calls": calls })).into_response())
}

async fn missed_done(
    who: Authorized<PhoneWork>,
    State(state): State<PhoneState>,
    Path(call_id): Path<String>,
) -> Result<Response, ApiError> {
    if state
        .store
        .missed_done(&call_id, &who.subject, Utc::now())
        .await?
    {
        metrics::CALLBACKS_DONE.inc();
        return Ok(Json(json!({ "call_id": call_id, "done": true })).into_response());
    }
    match state.store.get(&call_id).await? {
        // Done before: the same answer, so a repeated click is harmless.
        Some(c) if c.called_back_at.is_some() => {
            Ok(Json(json!({ "call_id": call_id, "done": true })).into_response())
        }
        Some(_) => Err(ApiError::conflict("this call is not a missed call")),
        None => Err(ApiError::not_found("no such call")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn call() -> Call {
        Call {
            call_id: "c-1".into(),
            direction: "in".into(),
            caller: Some("+8613800138000".into()),
            line: Some("12345".into()),
            ivr: Some("2".into()),
            state: "answered".into(),
            agent: Some("agent1".into()),
            ringing_at: Utc::now(),
            answered_at: Some(Utc::now()),
            ended_at: None,
            cause: None,
            ticket_nos: Vec::new(),
            answer_leaf: None,
            called_back_at: None,
            called_back_by: None,
        }
    }

    fn body(json: Value) -> TicketBody {
        serde_json::from_value(json).expect("body")
    }

    #[test]
    fn the_ticket_carries_the_call_and_the_agent() {
        let leaf = ItemCode::parse("YB-JD-2").expect("code");
        let build = create_of(
            &call(),
            "agent1",
            body(json!({"description": " 路灯不亮 ", "transcript": "记录", "service_code": "15.01.004",
                        "request_type": "complaint", "address": "天河路1号"})),
            Some(&leaf),
        )
        .expect("valid");
        let no = TicketNo::compose(261202, 1).expect("no");
        let t = build(no);
        assert_eq!(t.ticket_no, no);
        assert_eq!(t.channel, Channel::Phone);
        assert_eq!(t.description, "路灯不亮");
        assert_eq!(t.request_type, RequestType::Complaint);
        assert_eq!(t.citizen.phone.as_deref(), Some("+8613800138000"));
        assert_eq!(t.attributes["phone.agent"], vec!["agent1"]);
        assert_eq!(t.attributes["phone.call_id"], vec!["c-1"]);
        assert_eq!(t.attributes["phone.transcript"], vec!["记录"]);
        assert_eq!(t.attributes["phone.answer_leaf"], vec!["YB-JD-2"]);
        assert_eq!(t.check_text(), Ok(()));
        assert!(t.hold, "a ticket made during a call waits for the agent");
    }

    #[test]
    fn bad_fields_are_refused_before_a_number_is_taken() {
        let refused = |json: Value| {
            create_of(&call(), "agent1", body(json), None)
                .err()
                .map(|e| e.kind)
        };
        use hotline_domain::contract::ErrorKind::Invalid;
        assert_eq!(refused(json!({"description": "  "})), Some(Invalid));
        assert_eq!(
            refused(json!({"description": "x", "transcript": "a\u{1}b"})),
            Some(Invalid)
        );
        assert_eq!(
            refused(json!({"description": "x", "request_type": "gossip"})),
            Some(Invalid)
        );
        assert_eq!(
            refused(json!({"description": "x", "service_code": "a b"})),
            Some(Invalid)
        );
        assert_eq!(
            refused(json!({"description": "x".repeat(MAX_DESCRIPTION + 1)})),
            Some(Invalid)
        );
        assert!(
            serde_json::from_value::<TicketBody>(json!({"description": "x", "extra": 1})).is_err()
        );
    }
}
