//! The survey schema: scheduling, answers and what they lead to, in single transactions.
//!
//! Every ledger step an answer causes is written as a `survey.command` row in the transaction
//! that records the answer ([`crate::commands`] sends them), so an answer is never recorded
//! without its consequence or the other way round.

use chrono::{DateTime, Utc};
use hotline_domain::contract::TicketCommand;
use hotline_domain::{Action, Actor, TicketNo};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row as _, Transaction};

use crate::answer::{Answer, Outcome, Rating, Via};
use crate::error::SurveyError;

pub const SCHEMA: &str = "survey";

pub fn ticket_key(no: TicketNo) -> i64 {
    // Ticket numbers are 16 decimal digits: always below i64::MAX.
    i64::try_from(no.as_u64()).unwrap_or(i64::MAX)
}

pub fn ticket_from_key(raw: i64) -> Result<TicketNo, SurveyError> {
    TicketNo::parse(&format!("{raw:016}"))
        .map_err(|e| SurveyError::Other(anyhow::anyhow!("stored ticket number {raw}: {e}")))
}

/// What kind of contact the survey asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 办结 by a department: 一事一评.
    Case,
    /// 直接答复: "was this answered?"
    OnTheSpot,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Case => "case",
            Kind::OnTheSpot => "on_the_spot",
        }
    }
}

/// A survey to schedule.
#[derive(Debug, Clone)]
pub struct NewSurvey {
    pub ticket_no: TicketNo,
    pub completion_seq: i32,
    pub kind: Kind,
    pub channel: String,
    pub method: String,
    pub address: Option<String>,
    pub lead: Option<String>,
    pub service_code: Option<String>,
    pub agent: Option<String>,
    pub request_type: String,
    pub completed_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// Schedules many surveys in one statement; one survey per completion (a repeat adds
/// nothing). Returns how many were new.
pub async fn schedule_batch<'e, E>(executor: E, surveys: &[NewSurvey]) -> Result<u64, SurveyError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    if surveys.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&NewSurvey) -> Option<String>| surveys.iter().map(f).collect::<Vec<_>>();
    let result = sqlx::query(
        "INSERT INTO survey.survey (ticket_no, completion_seq, kind, channel, method, address, \
         lead, service_code, agent, request_type, completed_at, due_at, next_attempt_at) \
         SELECT t, s, k, c, m, a, l, sc, ag, rt, ca, d, d FROM UNNEST($1::bigint[], $2::int[], \
         $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
         $10::text[], $11::timestamptz[], $12::timestamptz[]) \
         AS u(t, s, k, c, m, a, l, sc, ag, rt, ca, d) \
         ON CONFLICT (ticket_no, completion_seq) DO NOTHING",
    )
    .bind(
        surveys
            .iter()
            .map(|s| ticket_key(s.ticket_no))
            .collect::<Vec<_>>(),
    )
    .bind(surveys.iter().map(|s| s.completion_seq).collect::<Vec<_>>())
    .bind(col(|s| Some(s.kind.as_str().to_owned())))
    .bind(col(|s| Some(s.channel.clone())))
    .bind(col(|s| Some(s.method.clone())))
    .bind(col(|s| s.address.clone()))
    .bind(col(|s| s.lead.clone()))
    .bind(col(|s| s.service_code.clone()))
    .bind(col(|s| s.agent.clone()))
    .bind(col(|s| Some(s.request_type.clone())))
    .bind(surveys.iter().map(|s| s.completed_at).collect::<Vec<_>>())
    .bind(surveys.iter().map(|s| s.due_at).collect::<Vec<_>>())
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// Queues ledger commands for one ticket, sent in order after commit.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    _ticket_no: TicketNo,
    commands: &[TicketCommand],
) -> Result<(), SurveyError> {
    hotline_bus::command_outbox::enqueue(tx, SCHEMA, commands).await?;
    Ok(())
}

fn act(key: String, actor: &Actor, ticket_no: TicketNo, action: Action) -> TicketCommand {
    TicketCommand::Act {
        idempotency_key: key,
        actor: actor.clone(),
        ticket_no,
        action,
    }
}

/// The reopens the ticket has had so far (counted from its `reopen` events).
async fn reopens(
    tx: &mut Transaction<'_, Postgres>,
    ticket_no: TicketNo,
) -> Result<u32, SurveyError> {
    let n: Option<i32> =
        sqlx::query_scalar("SELECT reopens FROM survey.ticket WHERE ticket_no = $1")
            .bind(ticket_key(ticket_no))
            .fetch_optional(&mut **tx)
            .await?;
    Ok(n.map_or(0, |n| u32::try_from(n).unwrap_or(0)))
}

/// The steps after a survey's verdict, in the caller's transaction: the ledger's survey entry
/// (unless the ledger has it already: `survey_action` None), then close, reopen or a review.
pub async fn consequences(
    tx: &mut Transaction<'_, Postgres>,
    survey_id: i64,
    ticket_no: TicketNo,
    satisfied: bool,
    survey_action: Option<Action>,
    actor: &Actor,
    max_reopens: u32,
) -> Result<Outcome, SurveyError> {
    let reopens = reopens(tx, ticket_no).await?;
    let outcome = Outcome::of(satisfied, reopens, max_reopens);
    let mut commands = Vec::new();
    if let Some(action) = survey_action {
        commands.push(act(
            format!("survey:{survey_id}:answer"),
            actor,
            ticket_no,
            action,
        ));
    }
    let system = Actor::system("survey");
    match outcome {
        Outcome::Closed => {
            commands.push(act(
                format!("survey:{survey_id}:close"),
                &system,
                ticket_no,
                Action::Close,
            ));
        }
        Outcome::Reopened => {
            commands.push(act(
                format!("survey:{survey_id}:reopen"),
                &system,
                ticket_no,
                Action::Reopen {
                    reason: format!("回访不满意，第{}次重办", reopens + 1),
                },
            ));
            sqlx::query(
                "INSERT INTO survey.ticket (ticket_no, last_seq, supervise_next_dispatch) \
                 VALUES ($1, -1, true) ON CONFLICT (ticket_no) DO UPDATE \
                 SET supervise_next_dispatch = true",
            )
            .bind(ticket_key(ticket_no))
            .execute(&mut **tx)
            .await?;
        }
        Outcome::Review => {
            sqlx::query(
                "INSERT INTO survey.review (ticket_no, survey_id, reopens) VALUES ($1, $2, $3) \
                 ON CONFLICT (ticket_no) DO UPDATE SET survey_id = EXCLUDED.survey_id, \
                 reopens = EXCLUDED.reopens, opened_at = now(), decided_at = NULL, \
                 decided_by = NULL, decision = NULL, rule = NULL, note = NULL",
            )
            .bind(ticket_key(ticket_no))
            .bind(survey_id)
            .bind(i32::try_from(reopens).unwrap_or(i32::MAX))
            .execute(&mut **tx)
            .await?;
        }
    }
    sqlx::query("UPDATE survey.survey SET outcome = $2 WHERE id = $1")
        .bind(survey_id)
        .bind(outcome.as_str())
        .execute(&mut **tx)
        .await?;
    enqueue(tx, ticket_no, &commands).await?;
    Ok(outcome)
}

/// What answering did.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub survey_id: i64,
    pub ticket_no: TicketNo,
    pub satisfied: bool,
    pub outcome: Outcome,
}

/// Records `answer` to survey `survey_id` once. A link answer must carry the live `nonce`
/// (a replayed link finds it cleared: `Conflict`). `actor` is who the ledger records: the
/// survey service for a link, the agent for an agent's or the IVR's entry.
pub async fn record_answer(
    pool: &PgPool,
    survey_id: i64,
    answer: &Answer,
    via: Via,
    actor: &Actor,
    nonce: Option<&str>,
    max_reopens: u32,
) -> Result<Recorded, SurveyError> {
    answer.check()?;
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT ticket_no, state, link_nonce FROM survey.survey WHERE id = $1 FOR UPDATE",
    )
    .bind(survey_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| SurveyError::NotFound("no such survey".to_owned()))?;
    let ticket_no = ticket_from_key(row.try_get("ticket_no")?)?;
    let state: String = row.try_get("state")?;
    let live: Option<String> = row.try_get("link_nonce")?;
    match state.as_str() {
        "scheduled" | "invited" => {}
        "answered" => {
            return Err(SurveyError::Conflict(
                "this survey was answered already".into(),
            ));
        }
        _ => return Err(SurveyError::Conflict("this survey is closed".into())),
    }
    if let Some(nonce) = nonce
        && live.as_deref() != Some(nonce)
    {
        // An older link of the same survey, or one used already.
        return Err(SurveyError::Conflict("this link is no longer valid".into()));
    }
    let by = match actor {
        Actor::Agent { id } => Some(id.clone()),
        _ => None,
    };
    sqlx::query(
        "UPDATE survey.survey SET state = 'answered', answered_at = now(), answered_via = $2, \
         answered_by = $3, resolved = $4, case_rating = $5, call_rating = $6, comment = $7, \
         link_nonce = NULL, address = NULL, next_attempt_at = NULL WHERE id = $1",
    )
    .bind(survey_id)
    .bind(via.as_str())
    .bind(by)
    .bind(answer.resolved)
    .bind(answer.case_rating.map(Rating::as_str))
    .bind(answer.call_rating.map(Rating::as_str))
    .bind((!answer.comment.trim().is_empty()).then(|| answer.comment.trim().to_owned()))
    .execute(&mut *tx)
    .await?;
    let satisfied = answer.satisfied();
    let action = Action::Survey {
        satisfied,
        note: answer.note(via),
    };
    let outcome = consequences(
        &mut tx,
        survey_id,
        ticket_no,
        satisfied,
        Some(action),
        actor,
        max_reopens,
    )
    .await?;
    tx.commit().await?;
    crate::metrics::ANSWERS
        .with_label_values(&[via.as_str(), outcome.as_str()])
        .inc();
    Ok(Recorded {
        survey_id,
        ticket_no,
        satisfied,
        outcome,
    })
}

/// An agent's call that did not reach the citizen: retried after the back-off, unreachable
/// after the last attempt (the ledger records it and the ticket is closed).
pub async fn call_not_reached(
    pool: &PgPool,
    policy: &crate::policy::Policy,
    survey_id: i64,
) -> Result<&'static str, SurveyError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT ticket_no, state, method, attempts FROM survey.survey WHERE id = $1 FOR UPDATE",
    )
    .bind(survey_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| SurveyError::NotFound("no such survey".to_owned()))?;
    let state: String = row.try_get("state")?;
    let method: String = row.try_get("method")?;
    if state != "invited" || method != "phone" {
        return Err(SurveyError::Conflict(
            "no callback is open for this survey".into(),
        ));
    }
    let attempts = u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0) + 1;
    let ticket_no = ticket_from_key(row.try_get("ticket_no")?)?;
    let verdict = if attempts >= policy.max_attempts {
        unreachable(&mut tx, survey_id, ticket_no, attempts).await?;
        "unreachable"
    } else {
        let next = Utc::now() + policy.backoff(attempts);
        sqlx::query("UPDATE survey.survey SET attempts = $2, next_attempt_at = $3 WHERE id = $1")
            .bind(survey_id)
            .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
            .bind(next)
            .execute(&mut *tx)
            .await?;
        "retry"
    };
    tx.commit().await?;
    Ok(verdict)
}

/// Marks a survey unreachable and queues the ledger's record and the close.
pub async fn unreachable(
    tx: &mut Transaction<'_, Postgres>,
    survey_id: i64,
    ticket_no: TicketNo,
    attempts: u32,
) -> Result<(), SurveyError> {
    sqlx::query(
        "UPDATE survey.survey SET state = 'unreachable', attempts = $2, next_attempt_at = NULL, \
         link_nonce = NULL, address = NULL WHERE id = $1",
    )
    .bind(survey_id)
    .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
    .execute(&mut **tx)
    .await?;
    let system = Actor::system("survey");
    enqueue(
        tx,
        ticket_no,
        &[
            act(
                format!("survey:{survey_id}:unreachable"),
                &system,
                ticket_no,
                Action::SurveyUnreachable { attempts },
            ),
            act(
                format!("survey:{survey_id}:close"),
                &system,
                ticket_no,
                Action::Close,
            ),
        ],
    )
    .await?;
    crate::metrics::UNREACHABLE.inc();
    Ok(())
}

/// A survey as staff read it (no address).
#[derive(Debug, Clone, Serialize)]
pub struct SurveyView {
    pub id: i64,
    pub ticket_no: TicketNo,
    pub kind: String,
    pub channel: String,
    pub method: String,
    pub lead: Option<String>,
    pub service_code: Option<String>,
    pub agent: Option<String>,
    pub completed_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answered_via: Option<String>,
    pub resolved: Option<bool>,
    pub case_rating: Option<String>,
    pub call_rating: Option<String>,
    pub comment: Option<String>,
    pub outcome: Option<String>,
}

const VIEW_COLUMNS: &str = "id, ticket_no, kind, channel, method, lead, service_code, agent, \
    completed_at, due_at, state, attempts, next_attempt_at, answered_at, answered_via, resolved, \
    case_rating, call_rating, comment, outcome";

fn view(row: &sqlx::postgres::PgRow) -> Result<SurveyView, SurveyError> {
    Ok(SurveyView {
        id: row.try_get("id")?,
        ticket_no: ticket_from_key(row.try_get("ticket_no")?)?,
        kind: row.try_get("kind")?,
        channel: row.try_get("channel")?,
        method: row.try_get("method")?,
        lead: row.try_get("lead")?,
        service_code: row.try_get("service_code")?,
        agent: row.try_get("agent")?,
        completed_at: row.try_get("completed_at")?,
        due_at: row.try_get("due_at")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        answered_at: row.try_get("answered_at")?,
        answered_via: row.try_get("answered_via")?,
        resolved: row.try_get("resolved")?,
        case_rating: row.try_get("case_rating")?,
        call_rating: row.try_get("call_rating")?,
        comment: row.try_get("comment")?,
        outcome: row.try_get("outcome")?,
    })
}

/// A ticket's surveys, oldest first.
pub async fn for_ticket(
    pool: &PgPool,
    ticket_no: TicketNo,
) -> Result<Vec<SurveyView>, SurveyError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM survey.survey WHERE ticket_no = $1 ORDER BY id"
    )))
    .bind(ticket_key(ticket_no))
    .fetch_all(pool)
    .await?;
    rows.iter().map(view).collect()
}

/// One survey.
pub async fn get(pool: &PgPool, id: i64) -> Result<SurveyView, SurveyError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM survey.survey WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| SurveyError::NotFound("no such survey".to_owned()))?;
    view(&row)
}

/// The agents' callback work list: phone callbacks due now, oldest due first.
pub async fn calls_due(pool: &PgPool, limit: i64) -> Result<Vec<SurveyView>, SurveyError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM survey.survey WHERE method = 'phone' AND state = 'invited' \
         AND next_attempt_at IS NULL ORDER BY due_at, id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(view).collect()
}

/// The survey a link may answer: its kind and whether a call was rated (an agent took the
/// contact), for the page's questions.
pub async fn for_link(
    pool: &PgPool,
    id: i64,
) -> Result<Option<(String, String, bool, TicketNo)>, SurveyError> {
    let row = sqlx::query(
        "SELECT kind, state, agent IS NOT NULL AS rated_call, ticket_no FROM survey.survey WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("kind")?,
            r.try_get("state")?,
            r.try_get("rated_call")?,
            ticket_from_key(r.try_get("ticket_no")?)?,
        ))
    })
    .transpose()
}
