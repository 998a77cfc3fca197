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

/// Asking what smart dispatch would do with a text: the people who take or route contacts.
pub struct AssessText;
impl Policy for AssessText {
    const ROLES: &'static [Role] = &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "assess a text for dispatch";
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
        .route("/v1/assess", post(assess))
        .route("/v1/assist", post(assist))
        .route("/v1/figures", get(figures))
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
        "SELECT ticket_no, reason, ticket, enqueued_at, priority, suggestions, proposal FROM dispatch.manual_queue \
         WHERE resolved_at IS NULL ORDER BY priority, enqueued_at LIMIT 500",
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
                "priority": match r.try_get::<i16, _>("priority")? {
                    0 => "emergency",
                    1 => "out_of_scope",
                    _ => "normal",
                },
                // The classifier's top three, each with its matter and department.
                "suggestions": r.try_get::<Option<serde_json::Value>, _>("suggestions")?,
                // A proposed 不予受理: rule, citation, the words that suggested it.
                "proposal": r.try_get::<Option<serde_json::Value>, _>("proposal")?,
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
    let open: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT ticket FROM dispatch.manual_queue WHERE ticket_no = $1 AND resolved_at IS NULL",
    )
    .bind(ticket_no.as_u64() as i64)
    .fetch_optional(&d.pool)
    .await?;
    let Some(queued) = open else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "that ticket is not waiting in the manual queue",
        ));
    };
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
    // A person's choice is a label for the next training (`hotline dispatch corrections`).
    if let Some(text) = queued.get("description").and_then(|t| t.as_str())
        && let Err(e) = d.teach(ticket_no, text, "manual", &req.lead).await
    {
        tracing::warn!(error = %format!("{e:#}"), "correction not recorded");
    }
    Ok(Json(accepted))
}

#[derive(Deserialize)]
struct AssessRequest {
    text: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    long: Option<f64>,
}

/// What smart dispatch would do with a text: the classes, matters and departments, and a
/// proposed 不予受理. The agent's desk calls it while the agent types.
async fn assess(
    _who: Authorized<AssessText>,
    State(d): State<Dispatcher>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req: AssessRequest =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("not a valid request: {e}")))?;
    hotline_domain::text::check("text", &req.text).map_err(|e| invalid(e.to_string()))?;
    if req.text.trim().is_empty() {
        return Err(invalid("text is empty"));
    }
    let location = hotline_domain::contract::Location {
        address: req.address,
        address_id: None,
        lat: req.lat,
        long: req.long,
    };
    let routed = d.smart_route(&req.text, &location).await;
    Ok(Json(serde_json::json!({
        "decision": match &routed.decision {
            crate::router::Decision::Dispatch { lead, co, reason } => serde_json::json!({
                "dispatch": { "lead": lead, "co": co, "reason": reason }
            }),
            crate::router::Decision::Manual { reason } => serde_json::json!({ "manual": { "reason": reason } }),
        },
        "assessment": routed.assessment,
        "proposal": routed.proposal,
        "emergency": crate::assistant::emergency_cue(&req.text),
    })))
}

#[derive(Deserialize)]
struct AssistRequest {
    #[serde(default)]
    subject: String,
    /// The transcript or message.
    text: String,
}

/// The seat assistant (坐席助手): a ticket's fields from a call's transcript or a message —
/// address, district, phone numbers, time, request type, urgency (an emergency named), the
/// class with the top three — for the agent to check and keep.
async fn assist(
    _who: Authorized<AssessText>,
    State(d): State<Dispatcher>,
    body: axum::body::Bytes,
) -> Result<Json<crate::assistant::Fields>, ApiError> {
    let req: AssistRequest =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("not a valid request: {e}")))?;
    hotline_domain::text::check("text", &req.text).map_err(|e| invalid(e.to_string()))?;
    hotline_domain::text::check("subject", &req.subject).map_err(|e| invalid(e.to_string()))?;
    if req.text.trim().is_empty() && req.subject.trim().is_empty() {
        return Err(invalid("text is empty"));
    }
    // Segmentation and the patterns are CPU work of a few milliseconds: off the reactor.
    let model = d.model.clone();
    let fields = tokio::task::spawn_blocking(move || {
        crate::assistant::assist(&model, &req.subject, &req.text)
    })
    .await
    .map_err(|e| ApiError::internal(&anyhow::anyhow!(e)))?;
    Ok(Json(fields))
}

#[derive(Deserialize)]
struct FiguresQuery {
    /// From this day (inclusive), `YYYY-MM-DD`; default 30 days ago.
    from: Option<chrono::NaiveDate>,
    /// To this day (inclusive); default today.
    to: Option<chrono::NaiveDate>,
}

/// Smart dispatch's figures: coverage, measured precision (returns and the centre's rulings),
/// decision latency, per class and per department; and how often the manual queue's first
/// suggestion was the person's choice.
async fn figures(
    _who: Authorized<ManualQueue>,
    State(d): State<Dispatcher>,
    axum::extract::Query(q): axum::extract::Query<FiguresQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let to = q.to.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = q.from.unwrap_or(to - chrono::Days::new(30));
    if from > to {
        return Err(invalid("from is after to"));
    }
    let (start, end) = (
        from.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
        (to + chrono::Days::new(1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc()),
    );
    let (Some(start), Some(end)) = (start, end) else {
        return Err(invalid("dates out of range"));
    };
    let rows = |by: &'static str| {
        let sql = format!(
            "SELECT {by} AS key, count(*) AS decided,                count(*) FILTER (WHERE outcome = 'auto') AS auto,                count(*) FILTER (WHERE outcome = 'manual') AS manual,                count(*) FILTER (WHERE outcome = 'auto' AND returned_at IS NOT NULL) AS returned,                count(*) FILTER (WHERE outcome = 'auto' AND corrected_to IS NOT NULL) AS corrected,                percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,                percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99_ms              FROM dispatch.decision WHERE via = 'classifier' AND at >= $1 AND at < $2              GROUP BY ROLLUP ({by}) ORDER BY {by} NULLS FIRST"
        );
        let pool = d.pool.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(start)
                .bind(end)
                .fetch_all(&pool)
                .await
        }
    };
    let shape = |rows: Vec<sqlx::postgres::PgRow>| -> Result<Vec<serde_json::Value>, sqlx::Error> {
        rows.iter()
            .map(|r| {
                let decided: i64 = r.try_get("decided")?;
                let auto: i64 = r.try_get("auto")?;
                let corrected: i64 = r.try_get("corrected")?;
                Ok(serde_json::json!({
                    "key": r.try_get::<Option<String>, _>("key")?,
                    "decided": decided,
                    "auto": auto,
                    "manual": r.try_get::<i64, _>("manual")?,
                    "coverage": if decided > 0 { auto as f64 / decided as f64 } else { 0.0 },
                    "returned": r.try_get::<i64, _>("returned")?,
                    "corrected": corrected,
                    // Right unless the centre ruled it belonged elsewhere.
                    "precision": if auto > 0 { Some((auto - corrected) as f64 / auto as f64) } else { None },
                    "latency_p50_ms": r.try_get::<Option<f64>, _>("p50_ms")?,
                    "latency_p99_ms": r.try_get::<Option<f64>, _>("p99_ms")?,
                }))
            })
            .collect()
    };
    let by_class = shape(rows("category").await?)?;
    let by_department = shape(rows("lead").await?)?;
    let suggestions = sqlx::query(
        "SELECT count(*) AS resolved,            count(*) FILTER (WHERE suggestions->'candidates'->0->>'lead' = resolved_to) AS first,            count(*) FILTER (WHERE resolved_to IN (SELECT c->>'lead' FROM jsonb_array_elements(suggestions->'candidates') c)) AS top3          FROM dispatch.manual_queue WHERE suggestions IS NOT NULL AND resolved_at >= $1 AND resolved_at < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_one(&d.pool)
    .await?;
    Ok(Json(serde_json::json!({
        "from": from,
        "to": to,
        // The first row (key null) is the total.
        "by_class": by_class,
        // Departments of automatic decisions; manual ones have no department (key null).
        "by_department": by_department,
        "manual_queue": {
            "resolved_with_suggestions": suggestions.try_get::<i64, _>("resolved")?,
            "first_suggestion_chosen": suggestions.try_get::<i64, _>("first")?,
            "a_top3_suggestion_chosen": suggestions.try_get::<i64, _>("top3")?,
        },
    })))
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
