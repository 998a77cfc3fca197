//! The SLA API (port 8086): a ticket's deadlines, extension requests and decisions, figures and
//! the periodic report. `/healthz`, `/readyz`, `/metrics` are merged in by [`crate::run`].
//!
//! Every route takes `Authorization: Bearer <JWT>` (hotline_auth; docs/roles.md): supervisors
//! and administrators decide extensions (recorded as the token's subject), the centre reads
//! deadlines and figures, department staff read their department's deadlines and figures only.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use hotline_auth::{Authorized, Policy, Role, Verifier};
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
    pub verifier: Verifier,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(s: &AppState) -> Verifier {
        s.verifier.clone()
    }
}

/// Deadlines and figures: the centre, and department staff for their department.
pub struct ReadDeadlines;
impl Policy for ReadDeadlines {
    const ROLES: &'static [Role] = &[
        Role::Agent,
        Role::Dispatcher,
        Role::Supervisor,
        Role::Admin,
        Role::DepartmentStaff,
    ];
    const WHAT: &'static str = "read deadlines and figures";
}

/// The list of extension requests and the report (通报): who decides and dispatches.
pub struct ReadExtensions;
impl Policy for ReadExtensions {
    const ROLES: &'static [Role] = &[Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "read extension requests and the report";
}

/// Deciding an extension (延期审批).
pub struct DecideExtension;
impl Policy for DecideExtension {
    const ROLES: &'static [Role] = &[Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "decide an extension";
}

/// The policy in force: anyone signed in.
pub struct ReadPolicy;
impl Policy for ReadPolicy {
    const ROLES: &'static [Role] = &Role::ALL;
    const WHAT: &'static str = "read the SLA policy";
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tickets/{no}/deadlines", get(deadlines))
        .route("/v1/deadlines", get(many_deadlines))
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

/// The SLA API's errors: any [`SlaError`] (`?` converts), answered as the runtime's
/// `ApiError` (`{"error": {"kind", "message"}}`).
pub struct ApiError(SlaError);

impl<E: Into<SlaError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Kinds become statuses in the runtime, the same for every service.
        hotline_runtime::ApiError::from(self.0.to_remote()).into_response()
    }
}

/// A refusal for a ticket or department outside the caller's (403). SlaError has no variant
/// of its own for it; the kind is what maps to the status.
fn forbidden(message: &str) -> ApiError {
    ApiError(SlaError::Ledger {
        kind: hotline_domain::contract::ErrorKind::Forbidden,
        message: message.to_owned(),
    })
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
    who: Authorized<ReadDeadlines>,
    State(s): State<AppState>,
    Path(no): Path<String>,
) -> Result<Json<Deadlines>, ApiError> {
    let no = ticket_no(&no)?;
    let mut clocks = store::ticket_clocks(&s.pool, no).await?;
    if clocks.is_empty() {
        return Err(ApiError(SlaError::NotFound(
            "no deadlines are known for this ticket".to_owned(),
        )));
    }
    let mut extensions = extension::for_ticket(&s.pool, no).await?;
    if let Some(own) = who.limited_to_department() {
        // Department staff see their department's clocks of the ticket, and only if it has one.
        clocks.retain(|c| c.department.as_deref() == Some(own.as_str()));
        extensions.retain(|e| e.department == own.as_str());
        if clocks.is_empty() {
            return Err(forbidden("this ticket is not your department's"));
        }
    }
    Ok(Json(Deadlines {
        ticket_no: no,
        clocks,
        extensions,
    }))
}

/// Most tickets one `GET /v1/deadlines` reads (an inbox's page).
pub const MAX_TICKETS_AT_ONCE: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManyParams {
    /// Ticket numbers, comma separated.
    tickets: String,
}

#[derive(Serialize)]
struct ManyDeadlines {
    tickets: Vec<Deadlines>,
}

/// `GET /v1/deadlines?tickets=no,no,...`: [`deadlines`] of many tickets in one request (a
/// department's inbox or the return reviews would otherwise ask once per row). A ticket with
/// no clock the caller may see is left out rather than refusing the rest; the order is the
/// request's.
async fn many_deadlines(
    who: Authorized<ReadDeadlines>,
    State(s): State<AppState>,
    q: Result<Query<ManyParams>, QueryRejection>,
) -> Result<Json<ManyDeadlines>, ApiError> {
    let raw = query(q)?.tickets;
    let mut tickets = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let no = ticket_no(part)?;
        if !tickets.contains(&no) {
            tickets.push(no);
        }
    }
    if tickets.len() > MAX_TICKETS_AT_ONCE {
        return Err(ApiError(SlaError::invalid(format!(
            "tickets: at most {MAX_TICKETS_AT_ONCE} at once"
        ))));
    }
    let (clocks, extensions) = tokio::try_join!(
        store::tickets_clocks(&s.pool, &tickets),
        extension::for_tickets(&s.pool, &tickets),
    )?;
    let own = who.limited_to_department();
    let mine = |department: Option<&str>| own.is_none_or(|d| department == Some(d.as_str()));
    let mut by_ticket: std::collections::HashMap<TicketNo, Deadlines> = tickets
        .iter()
        .map(|&no| {
            (
                no,
                Deadlines {
                    ticket_no: no,
                    clocks: Vec::new(),
                    extensions: Vec::new(),
                },
            )
        })
        .collect();
    for clock in clocks {
        if mine(clock.department.as_deref())
            && let Some(d) = by_ticket.get_mut(&clock.ticket_no)
        {
            d.clocks.push(clock);
        }
    }
    for ext in extensions {
        if mine(Some(ext.department.as_str()))
            && let Some(d) = by_ticket.get_mut(&ext.ticket_no)
        {
            d.extensions.push(ext);
        }
    }
    Ok(Json(ManyDeadlines {
        tickets: tickets
            .iter()
            .filter_map(|no| by_ticket.remove(no))
            .filter(|d| !d.clocks.is_empty())
            .collect(),
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
    _who: Authorized<ReadExtensions>,
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

/// `POST /v1/extensions/{no}/decision` `{"approved": true, "note": "…"}`, decided by the
/// token's subject.
async fn decide(
    who: Authorized<DecideExtension>,
    State(s): State<AppState>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<extension::Decision>, ApiError> {
    let no = ticket_no(&no)?;
    let agent = who.subject.as_str();
    let body: DecisionBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError(SlaError::invalid(format!("body: {e}"))))?;
    if body.note.chars().count() > 8000 {
        return Err(ApiError(SlaError::invalid("note: at most 8000 characters")));
    }
    // The domain's text rule: no NUL or other control characters reach the ledger.
    hotline_domain::text::check("note", &body.note)
        .map_err(|e| ApiError(SlaError::invalid(e.to_string())))?;
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
    who: Authorized<ReadDeadlines>,
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
    let department = match who.limited_to_department() {
        // Department staff read their own department's figures.
        Some(own) if department.as_deref().is_some_and(|d| d != own.as_str()) => {
            return Err(forbidden(
                "department staff see only their department's figures",
            ));
        }
        Some(own) => Some(own.as_str().to_owned()),
        None => department,
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
    _who: Authorized<ReadExtensions>,
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
async fn policy(_who: Authorized<ReadPolicy>, State(s): State<AppState>) -> Json<PolicyView> {
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
