//! The dispatch API (port 8082): the catalogue (read, change with audit, history) and the manual
//! dispatch queue that operators drain.
//!
//! Every route takes `Authorization: Bearer <JWT>` (hotline_auth; docs/roles.md): anyone signed
//! in reads the catalogue, only the centre's administrator changes it (who gets which matter),
//! dispatchers, supervisors and administrators work the manual queue. The person recorded
//! (`changed_by`, the ledger's actor, `resolved_by`) is the token's subject, never the body.

use std::time::Duration;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hotline_auth::{Authorized, Policy, Role, Verifier};
use hotline_bus::rpc;
use hotline_domain::contract::{CommandAccepted, ErrorKind, TicketCommand};
use hotline_domain::{Action, Actor, DeptCode, ServiceCode, TicketNo};
use hotline_runtime::ApiError;
use serde::Deserialize;
use sqlx::Row as _;

use crate::Dispatcher;
use crate::catalogue::{CatalogueError, Entry};

/// The router's state: the dispatcher, and the verifier of people's tokens.
#[derive(Clone)]
pub struct HttpState {
    pub dispatcher: Dispatcher,
    pub verifier: Verifier,
}

impl FromRef<HttpState> for Dispatcher {
    fn from_ref(s: &HttpState) -> Dispatcher {
        s.dispatcher.clone()
    }
}

impl FromRef<HttpState> for Verifier {
    fn from_ref(s: &HttpState) -> Verifier {
        s.verifier.clone()
    }
}

/// Reading the catalogue: anyone signed in with a hotline role.
pub struct ReadCatalogue;
impl Policy for ReadCatalogue {
    const ROLES: &'static [Role] = &Role::ALL;
    const WHAT: &'static str = "read the catalogue";
}

/// Changing who gets which matter: the centre's administrator.
pub struct ChangeCatalogue;
impl Policy for ChangeCatalogue {
    const ROLES: &'static [Role] = &[Role::Admin];
    const WHAT: &'static str = "change the catalogue";
}

/// The manual dispatch queue and the dispatch figures.
pub struct ManualQueue;
impl Policy for ManualQueue {
    const ROLES: &'static [Role] = &[Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "work the manual dispatch queue";
}

pub fn router(state: Dispatcher, verifier: Verifier) -> Router {
    let state = HttpState {
        dispatcher: state,
        verifier,
    };
    Router::new()
        .route("/v1/catalogue", get(list_catalogue))
        .route("/v1/catalogue/{code}", get(get_entry).put(put_entry))
        .route("/v1/catalogue/{code}/history", get(entry_history))
        .route("/v1/manual-queue", get(manual_queue))
        .route("/v1/manual-queue/{no}/dispatch", post(manual_dispatch))
        .route("/v1/decisions/summary", get(summary))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(256 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(10),
        ))
        .with_state(state)
}

/// The catalogue's refusals as error kinds; the runtime's `ApiError` maps kinds to HTTP.
impl From<CatalogueError> for ApiError {
    fn from(e: CatalogueError) -> Self {
        match e {
            CatalogueError::Unknown(_) => ApiError::not_found(e.to_string()),
            CatalogueError::UnknownDepartment(_) | CatalogueError::Unaudited => {
                ApiError::invalid(e.to_string())
            }
            CatalogueError::Stale { .. } => ApiError::conflict(e.to_string()),
            CatalogueError::Store(inner) => ApiError::internal(&inner),
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message)
}

fn parse_code(raw: &str) -> Result<ServiceCode, ApiError> {
    ServiceCode::parse(raw).map_err(|e| invalid(e.to_string()))
}

async fn list_catalogue(
    _who: Authorized<ReadCatalogue>,
    State(d): State<Dispatcher>,
) -> Json<Vec<Entry>> {
    Json(d.catalogue.all().await)
}

async fn get_entry(
    _who: Authorized<ReadCatalogue>,
    State(d): State<Dispatcher>,
    Path(code): Path<String>,
) -> Result<Json<Entry>, ApiError> {
    let code = parse_code(&code)?;
    d.catalogue
        .get(&code)
        .await
        .map(Json)
        .ok_or_else(|| CatalogueError::Unknown(code).into())
}

#[derive(Deserialize)]
struct Change {
    entry: Entry,
    /// The version this change was made against; omit for a new matter.
    expected_version: Option<i32>,
    /// Ignored: the change is recorded as the token's subject.
    #[serde(default)]
    #[allow(dead_code)]
    changed_by: Option<String>,
    reason: String,
}

async fn put_entry(
    who: Authorized<ChangeCatalogue>,
    State(d): State<Dispatcher>,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Entry>, ApiError> {
    let code = parse_code(&code)?;
    let change: Change =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("not a valid change: {e}")))?;
    hotline_domain::text::check("reason", &change.reason).map_err(|e| invalid(e.to_string()))?;
    if change.entry.code != code {
        return Err(invalid("the entry's code differs from the path"));
    }
    let saved = d
        .catalogue
        .update(
            change.entry,
            change.expected_version,
            &who.subject,
            &change.reason,
        )
        .await?;
    tracing::info!(code = %saved.code, version = saved.version, "catalogue entry changed");
    Ok(Json(saved))
}

async fn entry_history(
    _who: Authorized<ReadCatalogue>,
    State(d): State<Dispatcher>,
    Path(code): Path<String>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let code = parse_code(&code)?;
    Ok(Json(d.catalogue.history(&code).await?))
}

async fn manual_queue(
    _who: Authorized<ManualQueue>,
    State(d): State<Dispatcher>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let rows = sqlx::query(
        "SELECT ticket_no, reason, ticket, enqueued_at FROM dispatch.manual_queue WHERE resolved_at IS NULL ORDER BY enqueued_at LIMIT 500",
    )
    .fetch_all(&d.pool)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            let no: i64 = r.try_get("ticket_no")?;
            let at: chrono::DateTime<chrono::Utc> = r.try_get("enqueued_at")?;
            Ok(serde_json::json!({
                "ticket_no": format!("{no:016}"),
                "reason": r.try_get::<String, _>("reason")?,
                "ticket": r.try_get::<serde_json::Value, _>("ticket")?,
                "enqueued_at": at,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(items))
}

#[derive(Deserialize)]
struct ManualDispatch {
    lead: DeptCode,
    #[serde(default)]
    co: Vec<DeptCode>,
    /// Ignored: the operator is the token's subject.
    #[serde(default)]
    #[allow(dead_code)]
    operator: Option<String>,
    #[serde(default)]
    note: String,
}

async fn manual_dispatch(
    who: Authorized<ManualQueue>,
    State(d): State<Dispatcher>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<CommandAccepted>, ApiError> {
    let ticket_no = TicketNo::parse(&no).map_err(|e| invalid(e.to_string()))?;
    let req: ManualDispatch =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("not a valid dispatch: {e}")))?;
    // The domain's text rule: no NUL or other control characters reach the ledger.
    hotline_domain::text::check("note", &req.note).map_err(|e| invalid(e.to_string()))?;
    let operator = who.subject.clone();
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT ticket_no FROM dispatch.manual_queue WHERE ticket_no = $1 AND resolved_at IS NULL",
    )
    .bind(ticket_no.as_u64() as i64)
    .fetch_optional(&d.pool)
    .await?;
    if open.is_none() {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "that ticket is not waiting in the manual queue",
        ));
    }
    let command = TicketCommand::Act {
        idempotency_key: format!("manual:{ticket_no}:{operator}:{}", req.lead),
        actor: Actor::Agent {
            id: operator.clone(),
        },
        ticket_no,
        action: Action::Dispatch {
            lead: req.lead.clone(),
            co: req.co,
            note: req.note,
        },
    };
    let accepted: CommandAccepted = rpc::call(
        &d.bus,
        d.bus
            .subjects
            .ticket_commands_from(hotline_bus::Service::Dispatch),
        &command,
        rpc::DEFAULT_TIMEOUT,
    )
    .await?;
    sqlx::query("UPDATE dispatch.manual_queue SET resolved_at = now(), resolved_by = $2, resolved_to = $3 WHERE ticket_no = $1")
        .bind(ticket_no.as_u64() as i64)
        .bind(&operator)
        .bind(req.lead.as_str())
        .execute(&d.pool)
        .await?;
    Ok(Json(accepted))
}

async fn summary(
    _who: Authorized<ManualQueue>,
    State(d): State<Dispatcher>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = sqlx::query("SELECT outcome, count(*) AS n FROM dispatch.decision GROUP BY outcome")
        .fetch_all(&d.pool)
        .await?;
    let mut out = serde_json::Map::new();
    for r in rows {
        out.insert(
            r.try_get("outcome")?,
            serde_json::json!(r.try_get::<i64, _>("n")?),
        );
    }
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dispatch.manual_queue WHERE resolved_at IS NULL")
            .fetch_one(&d.pool)
            .await?;
    out.insert("waiting_in_manual_queue".into(), serde_json::json!(waiting));
    Ok(Json(serde_json::Value::Object(out)))
}
