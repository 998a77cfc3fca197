//! The centre's HTTP API (port 8081): agents and supervisors read tickets and take the
//! centre's steps (answer, reject, review a return, decide an extension, supervise, survey,
//! close, reopen, manual dispatch).
//!
//! Authentication of agents is the job of the centre's SSO in front of this port; the agent's
//! id arrives in `X-Agent-Id` and is recorded in the history.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use hotline_bus::Bus;
use hotline_bus::rpc::RemoteError;
use hotline_domain::contract::{ErrorKind, GetTicket, TicketCommand, TicketQuery};
use hotline_domain::{Action, Actor, DeptCode, ServiceCode, Status, TicketNo};
use serde::Deserialize;

use crate::ledger::Ledger;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub store: Store,
    pub bus: Bus,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tickets", get(list))
        .route("/v1/tickets/{no}", get(one))
        .route("/v1/tickets/{no}/actions", post(act))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(10),
        ))
        .with_state(state)
}

/// The one place a refusal becomes an HTTP response.
struct ApiError(RemoteError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.0.to_http();
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response()
    }
}

impl From<RemoteError> for ApiError {
    fn from(e: RemoteError) -> Self {
        ApiError(e)
    }
}

fn parse_no(raw: &str) -> Result<TicketNo, ApiError> {
    TicketNo::parse(raw).map_err(|e| ApiError(RemoteError::invalid(e.to_string())))
}

async fn one(State(state): State<AppState>, Path(no): Path<String>) -> Result<Response, ApiError> {
    let ticket_no = parse_no(&no)?;
    let found = state
        .store
        .get(&GetTicket {
            ticket_no,
            as_department: None,
        })
        .await?;
    Ok(Json(found).into_response())
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    department: Option<String>,
    service_code: Option<String>,
    phone: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let invalid = |m: String| ApiError(RemoteError::invalid(m));
    let statuses = match &p.status {
        Some(s) => s
            .split(',')
            .map(|x| {
                Status::parse(x.trim()).ok_or_else(|| invalid(format!("unknown status {x:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let department = p
        .department
        .as_deref()
        .map(DeptCode::parse)
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    let service_code = p
        .service_code
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(ServiceCode::parse)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    let query = TicketQuery {
        ticket_nos: Vec::new(),
        statuses,
        service_code,
        department,
        citizen_phone: p.phone,
        created_from: p.from,
        created_to: p.to,
        limit: p.limit,
    };
    let tickets = state.store.list(&query).await?;
    // Lists never show contact details (DESIGN.md section 7).
    let masked: Vec<_> = tickets
        .into_iter()
        .map(|mut t| {
            t.citizen = t.citizen.masked();
            t
        })
        .collect();
    Ok(Json(masked).into_response())
}

async fn act(
    State(state): State<AppState>,
    Path(no): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ticket_no = parse_no(&no)?;
    let agent = headers
        .get("x-agent-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty() && v.len() <= 64)
        .ok_or_else(|| {
            ApiError(RemoteError::new(
                ErrorKind::Forbidden,
                "X-Agent-Id header is required",
            ))
        })?;
    let action: Action = serde_json::from_slice(&body)
        .map_err(|e| ApiError(RemoteError::invalid(format!("not a valid action: {e}"))))?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("agent:{agent}:{k}"))
        .unwrap_or_else(|| format!("agent:{}", uuid::Uuid::now_v7()));
    let command = TicketCommand::Act {
        idempotency_key: key,
        actor: Actor::Agent {
            id: agent.to_owned(),
        },
        ticket_no,
        action,
    };
    let accepted = state.ledger.execute(command).await?;
    Ok(Json(accepted).into_response())
}
