//! The SLA API (port 8086): a ticket's deadlines, extension requests and decisions, figures and
//! the periodic report. `/healthz`, `/readyz`, `/metrics` are merged in by [`crate::run`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use hotline_bus::Bus;
use hotline_domain::TicketNo;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::SlaError;
use crate::extension::{self, Extension};
use crate::figures::{self, Figures, Period, Report};
use crate::policy::Stage;
use crate::store::{self, Clock, Engine};

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub pool: PgPool,
    pub bus: Bus,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tickets/{no}/deadlines", get(deadlines))
        .route("/v1/extensions", get(list_extensions))
        .route("/v1/extensions/{no}/decision", post(decide))
        .route("/v1/figures", get(get_figures))
        .route("/v1/report", get(get_report))
        .route("/v1/policy", get(policy))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(15),
        ))
        .with_state(state)
}

/// The one place errors become HTTP responses (`{"error": {"kind", "message"}}`).
pub struct ApiError(SlaError);

impl<E: Into<SlaError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.0.to_remote().to_http();
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response()
    }
}

fn ticket_no(raw: &str) -> Result<TicketNo, ApiError> {
    TicketNo::parse(raw).map_err(|e| ApiError(SlaError::invalid(format!("ticket_no: {e}"))))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError(SlaError::invalid(e.body_text())))
}

#[derive(Serialize)]
struct Deadlines {
    ticket_no: TicketNo,
    clocks: Vec<Clock>,
    extensions: Vec<Extension>,
}

/// `GET /v1/tickets/{no}/deadlines`: every stage clock of the ticket, oldest first.
async fn deadlines(
    State(s): State<AppState>,
    Path(no): Path<String>,
) -> Result<Json<Deadlines>, ApiError> {
    let no = ticket_no(&no)?;
    let clocks = store::ticket_clocks(&s.pool, no).await?;
    if clocks.is_empty() {
        return Err(ApiError(SlaError::NotFound(
            "no deadlines are known for this ticket".to_owned(),
        )));
    }
    let extensions = extension::for_ticket(&s.pool, no).await?;
    Ok(Json(Deadlines {
        ticket_no: no,
        clocks,
        extensions,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtensionParams {
    /// pending (default), approved, denied, lapsed or all.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Serialize)]
struct ExtensionList {
    extensions: Vec<Extension>,
}

/// `GET /v1/extensions?status=pending&limit=100`.
async fn list_extensions(
    State(s): State<AppState>,
    params: Result<Query<ExtensionParams>, QueryRejection>,
) -> Result<Json<ExtensionList>, ApiError> {
    let params = query(params)?;
    let status = match params.status.as_deref().map(str::trim) {
        None | Some("") => Some("pending"),
        Some("all") => None,
        Some(s) if extension::STATUSES.contains(&s) => Some(s),
        Some(other) => {
            return Err(ApiError(SlaError::invalid(format!(
                "status {other:?}: use pending, approved, denied, lapsed or all"
            ))));
        }
    };
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(ExtensionList {
        extensions: extension::list(&s.pool, status, limit).await?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    approved: bool,
    #[serde(default)]
    note: String,
}

/// Longest agent id accepted in `X-Agent-Id`.
const MAX_AGENT_ID: usize = 64;

/// `POST /v1/extensions/{no}/decision` `{"approved": true, "note": "…"}` with `X-Agent-Id`.
async fn decide(
    State(s): State<AppState>,
    Path(no): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<extension::Decision>, ApiError> {
    let no = ticket_no(&no)?;
    let agent = headers
        .get("x-agent-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError(SlaError::invalid("the X-Agent-Id header is required")))?;
    if agent.len() > MAX_AGENT_ID || !agent.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError(SlaError::invalid(format!(
            "X-Agent-Id: at most {MAX_AGENT_ID} printable ASCII characters"
        ))));
    }
    let body: DecisionBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError(SlaError::invalid(format!("body: {e}"))))?;
    if body.note.chars().count() > 8000 {
        return Err(ApiError(SlaError::invalid("note: at most 8000 characters")));
    }
    Ok(Json(
        extension::decide(&s.pool, &s.bus, no, agent, body.approved, &body.note).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FigureParams {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// A department code, or `centre`.
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    stage: Option<String>,
}

/// `GET /v1/figures?from=2026-12-01&to=2026-12-31&department=GZ-TH&stage=handling`.
async fn get_figures(
    State(s): State<AppState>,
    params: Result<Query<FigureParams>, QueryRejection>,
) -> Result<Json<Figures>, ApiError> {
    let params = query(params)?;
    let now = Utc::now();
    let period = Period::parse(params.from.as_deref(), params.to.as_deref(), now)?;
    let department = match params.department.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("centre") => Some("centre".to_owned()),
        Some(raw) => Some(
            hotline_domain::DeptCode::parse(raw)
                .map_err(|e| ApiError(SlaError::invalid(format!("department: {e}"))))?
                .as_str()
                .to_owned(),
        ),
    };
    let stage = match params.stage.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            Stage::parse(raw)
                .ok_or_else(|| ApiError(SlaError::invalid(format!("unknown stage {raw:?}"))))?,
        ),
    };
    Ok(Json(
        figures::figures(&s.pool, period, department.as_deref(), stage, now).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodParams {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// `GET /v1/report?from=&to=`: overdue, supervised and escalated tickets of the period (通报).
async fn get_report(
    State(s): State<AppState>,
    params: Result<Query<PeriodParams>, QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    let params = query(params)?;
    let period = Period::parse(params.from.as_deref(), params.to.as_deref(), Utc::now())?;
    Ok(Json(figures::report(&s.pool, period).await?))
}

#[derive(Serialize)]
struct PolicyView {
    extension_cap: u32,
    warning_share: f64,
    supervise_after: String,
    escalate_after: String,
    supervision_office: String,
    /// The limits as a Markdown table.
    limits: String,
}

/// `GET /v1/policy`: the policy in force.
async fn policy(State(s): State<AppState>) -> Json<PolicyView> {
    let p = &s.engine.policy;
    Json(PolicyView {
        extension_cap: p.extension_cap(),
        warning_share: p.warning_share(),
        supervise_after: p.supervise_after().to_string(),
        escalate_after: p.escalate_after().to_string(),
        supervision_office: p.supervision_office().to_owned(),
        limits: p.markdown_table(),
    })
}
