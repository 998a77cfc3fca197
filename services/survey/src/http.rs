//! The survey service's HTTP side (port 8088): the citizens' page `/s/{token}` (no sign-in:
//! the signed link is the credential) and the staff API under `/v1` (people's JWTs,
//! docs/roles.md). `/healthz`, `/readyz`, `/metrics` are merged in by [`crate::run`].
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/surveys?ticket_no=`, `GET /v1/surveys/{id}`, `GET /v1/calls` (callback work list) | agent, dispatcher, supervisor, admin |
//! | `POST /v1/surveys/{id}/answer` (an agent's entry or the IVR's keypresses), `POST /v1/surveys/{id}/not-reached` | agent, supervisor, admin |
//! | `GET /v1/reviews`, `POST /v1/reviews/{ticket_no}/decision` | supervisor, admin |
//! | `GET /v1/figures`, `GET /v1/figures.csv` | the centre; department staff for their own department |

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use hotline_auth::{Authorized, Policy as AccessPolicy, Role, Verifier};
use hotline_domain::contract::TicketCommand;
use hotline_domain::{Action, Actor, Ruling, TicketNo};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row as _};

use crate::answer::{Answer, Via};
use crate::error::SurveyError;
use crate::figures::{self, By, Figures};
use crate::link::Signer;
use crate::policy::Policy;
use crate::store::{self, Recorded, SurveyView, ticket_from_key, ticket_key};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub policy: Policy,
    pub signer: Signer,
    pub verifier: Verifier,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(s: &AppState) -> Verifier {
        s.verifier.clone()
    }
}

pub struct ReadSurveys;
impl AccessPolicy for ReadSurveys {
    const ROLES: &'static [Role] = &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "read surveys and the callback list";
}

pub struct Callback;
impl AccessPolicy for Callback {
    const ROLES: &'static [Role] = &[Role::Agent, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "record a callback";
}

pub struct Review;
impl AccessPolicy for Review {
    const ROLES: &'static [Role] = &[Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "review unsatisfied tickets";
}

pub struct ReadFigures;
impl AccessPolicy for ReadFigures {
    const ROLES: &'static [Role] = &[
        Role::Agent,
        Role::Dispatcher,
        Role::Supervisor,
        Role::Admin,
        Role::DepartmentStaff,
    ];
    const WHAT: &'static str = "read survey figures";
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/s/{token}",
            get(crate::page::show).post(crate::page::submit),
        )
        .route("/v1/surveys", get(list))
        .route("/v1/surveys/{id}", get(one))
        .route("/v1/surveys/{id}/answer", post(answer))
        .route("/v1/surveys/{id}/not-reached", post(not_reached))
        .route("/v1/calls", get(calls))
        .route("/v1/reviews", get(reviews))
        .route("/v1/reviews/{no}/decision", post(decide))
        .route("/v1/figures", get(get_figures))
        .route("/v1/figures.csv", get(get_figures_csv))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(16 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(15),
        ))
        .with_state(state)
}

/// Any [`SurveyError`] answered as the runtime's `ApiError`.
pub struct ApiError(SurveyError);

impl<E: Into<SurveyError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.to_api().into_response()
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(SurveyError::invalid(message))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| invalid(e.body_text()))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| invalid(format!("body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    ticket_no: String,
}

#[derive(Serialize)]
struct SurveyList {
    surveys: Vec<SurveyView>,
}

/// `GET /v1/surveys?ticket_no=…`: a ticket's surveys, oldest first.
async fn list(
    _who: Authorized<ReadSurveys>,
    State(s): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<SurveyList>, ApiError> {
    let params = query(params)?;
    let no = TicketNo::parse(&params.ticket_no).map_err(|e| invalid(format!("ticket_no: {e}")))?;
    Ok(Json(SurveyList {
        surveys: store::for_ticket(&s.pool, no).await?,
    }))
}

async fn one(
    _who: Authorized<ReadSurveys>,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<SurveyView>, ApiError> {
    Ok(Json(store::get(&s.pool, id).await?))
}

/// `GET /v1/calls`: phone callbacks due now (the agents' work list).
async fn calls(
    _who: Authorized<ReadSurveys>,
    State(s): State<AppState>,
) -> Result<Json<SurveyList>, ApiError> {
    Ok(Json(SurveyList {
        surveys: store::calls_due(&s.pool, 200).await?,
    }))
}

/// An agent's entry, or the IVR's keypresses (`{"keypresses": "1#1#1"}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    #[serde(default)]
    keypresses: Option<String>,
    #[serde(default)]
    resolved: Option<bool>,
    #[serde(default)]
    case_rating: Option<crate::answer::Rating>,
    #[serde(default)]
    call_rating: Option<crate::answer::Rating>,
    #[serde(default)]
    comment: String,
}

async fn answer(
    who: Authorized<Callback>,
    State(s): State<AppState>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Recorded>, ApiError> {
    let body: AnswerBody = json(&body)?;
    let (answer, via) = match (&body.keypresses, body.resolved) {
        (Some(keys), None) => {
            let mut a = Answer::from_keypresses(keys)?;
            a.comment = body.comment;
            (a, Via::Ivr)
        }
        (None, Some(resolved)) => (
            Answer {
                resolved,
                case_rating: body.case_rating,
                call_rating: body.call_rating,
                comment: body.comment,
            },
            Via::Agent,
        ),
        _ => return Err(invalid("give either keypresses or resolved")),
    };
    let actor = Actor::Agent {
        id: who.subject.clone(),
    };
    Ok(Json(
        store::record_answer(
            &s.pool,
            id,
            &answer,
            via,
            &actor,
            None,
            s.policy.max_reopens,
        )
        .await?,
    ))
}

#[derive(Serialize)]
struct NotReached {
    survey_id: i64,
    /// `retry` (back on the list after the back-off) or `unreachable`.
    verdict: &'static str,
}

async fn not_reached(
    _who: Authorized<Callback>,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<NotReached>, ApiError> {
    let verdict = store::call_not_reached(&s.pool, &s.policy, id).await?;
    Ok(Json(NotReached {
        survey_id: id,
        verdict,
    }))
}

#[derive(Serialize)]
struct ReviewView {
    ticket_no: TicketNo,
    survey_id: i64,
    reopens: i32,
    opened_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct ReviewList {
    reviews: Vec<ReviewView>,
}

/// `GET /v1/reviews`: unsatisfied tickets past the reopen limit, waiting for a supervisor.
async fn reviews(
    _who: Authorized<Review>,
    State(s): State<AppState>,
) -> Result<Json<ReviewList>, ApiError> {
    let rows = sqlx::query(
        "SELECT ticket_no, survey_id, reopens, opened_at FROM survey.review \
         WHERE decided_at IS NULL ORDER BY opened_at LIMIT 500",
    )
    .fetch_all(&s.pool)
    .await
    .map_err(SurveyError::from)?;
    let reviews = rows
        .iter()
        .map(|r| {
            Ok(ReviewView {
                ticket_no: ticket_from_key(r.try_get("ticket_no")?)?,
                survey_id: r.try_get("survey_id")?,
                reopens: r.try_get("reopens")?,
                opened_at: r.try_get("opened_at")?,
            })
        })
        .collect::<Result<Vec<_>, SurveyError>>()?;
    Ok(Json(ReviewList { reviews }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    /// `reopen` (once more), `explained` (解释办结) or `unreasonable_repeat` (无理重复诉求).
    decision: String,
    #[serde(default)]
    rule: String,
    note: String,
}

#[derive(Serialize)]
struct Decided {
    ticket_no: TicketNo,
    decision: String,
}

/// `POST /v1/reviews/{no}/decision`: the supervisor's ruling, recorded by the ledger as theirs.
async fn decide(
    who: Authorized<Review>,
    State(s): State<AppState>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Decided>, ApiError> {
    let no = TicketNo::parse(&no).map_err(|e| invalid(format!("ticket_no: {e}")))?;
    let body: DecisionBody = json(&body)?;
    for (name, text) in [("note", &body.note), ("rule", &body.rule)] {
        if text.chars().count() > 2000 {
            return Err(invalid(format!("{name}: at most 2000 characters")));
        }
        hotline_domain::text::check(name, text).map_err(|e| invalid(e.to_string()))?;
    }
    if body.note.trim().is_empty() {
        return Err(invalid("note: say why"));
    }
    let action = match body.decision.as_str() {
        "reopen" => Action::Reopen {
            reason: body.note.clone(),
        },
        "explained" => Action::Conclude {
            ruling: Ruling::Explained,
            note: body.note.clone(),
        },
        "unreasonable_repeat" if !body.rule.trim().is_empty() => Action::Conclude {
            ruling: Ruling::UnreasonableRepeat {
                rule: body.rule.trim().to_owned(),
            },
            note: body.note.clone(),
        },
        "unreasonable_repeat" => {
            return Err(invalid("rule: cite the rule for an unreasonable repeat"));
        }
        _ => {
            return Err(invalid(
                "decision: reopen, explained or unreasonable_repeat",
            ));
        }
    };
    let mut tx = s.pool.begin().await.map_err(SurveyError::from)?;
    let decided = sqlx::query(
        "UPDATE survey.review SET decided_at = now(), decided_by = $2, decision = $3, \
         rule = NULLIF($4, ''), note = $5 WHERE ticket_no = $1 AND decided_at IS NULL \
         RETURNING survey_id",
    )
    .bind(ticket_key(no))
    .bind(&who.subject)
    .bind(&body.decision)
    .bind(body.rule.trim())
    .bind(&body.note)
    .fetch_optional(&mut *tx)
    .await
    .map_err(SurveyError::from)?;
    let Some(row) = decided else {
        return Err(ApiError(SurveyError::NotFound(
            "no review is waiting for this ticket".into(),
        )));
    };
    let survey_id: i64 = row.try_get("survey_id").map_err(SurveyError::from)?;
    if body.decision == "reopen" {
        sqlx::query("UPDATE survey.ticket SET supervise_next_dispatch = true WHERE ticket_no = $1")
            .bind(ticket_key(no))
            .execute(&mut *tx)
            .await
            .map_err(SurveyError::from)?;
    }
    store::enqueue(
        &mut tx,
        no,
        &[TicketCommand::Act {
            idempotency_key: format!("survey:{survey_id}:review"),
            actor: Actor::Agent {
                id: who.subject.clone(),
            },
            ticket_no: no,
            action,
        }],
    )
    .await?;
    tx.commit().await.map_err(SurveyError::from)?;
    Ok(Json(Decided {
        ticket_no: no,
        decision: body.decision,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FigureParams {
    /// `YYYY-MM-DD` (local days, inclusive); default: the last 30 days.
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// department (default), matter, channel, agent, day or month.
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    department: Option<String>,
}

async fn figures_for(
    who: &hotline_auth::Principal,
    s: &AppState,
    params: FigureParams,
) -> Result<Figures, ApiError> {
    let day = |raw: &str| -> Result<DateTime<Utc>, ApiError> {
        let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| invalid(format!("{raw:?}: use YYYY-MM-DD")))?;
        Ok(hotline_calendar::to_utc(d.and_time(chrono::NaiveTime::MIN)))
    };
    let to = match params.to.as_deref() {
        Some(raw) => day(raw)? + chrono::Duration::days(1),
        None => Utc::now(),
    };
    let from = match params.from.as_deref() {
        Some(raw) => day(raw)?,
        None => to - chrono::Duration::days(30),
    };
    if from >= to {
        return Err(invalid("from must be before to"));
    }
    let by = match params.by.as_deref() {
        None => By::Department,
        Some(raw) => By::parse(raw)
            .ok_or_else(|| invalid("by: department, matter, channel, agent, day or month"))?,
    };
    let department = match (who.limited_to_department(), params.department) {
        (Some(own), Some(asked)) if asked != own.as_str() => {
            return Err(ApiError(SurveyError::Forbidden(
                "department staff read their own department's figures".into(),
            )));
        }
        (Some(own), _) => Some(own.to_string()),
        (None, asked) => asked,
    };
    Ok(figures::compute(
        &s.pool,
        from,
        to,
        by,
        department.as_deref(),
        s.policy.first_contact_days,
    )
    .await?)
}

/// `GET /v1/figures?from=2026-12-01&to=2026-12-31&by=department`.
async fn get_figures(
    who: Authorized<ReadFigures>,
    State(s): State<AppState>,
    params: Result<Query<FigureParams>, QueryRejection>,
) -> Result<Json<Figures>, ApiError> {
    let params = query(params)?;
    Ok(Json(figures_for(&who, &s, params).await?))
}

/// `GET /v1/figures.csv`: the same rows as CSV.
async fn get_figures_csv(
    who: Authorized<ReadFigures>,
    State(s): State<AppState>,
    params: Result<Query<FigureParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let figures = figures_for(&who, &s, params).await?;
    let csv = figures::to_csv(&figures)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"survey-figures.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
