//! Ticket events → surveys (durable consumer `survey` on the tickets stream).
//!
//! | event                                   | here                                              |
//! |-----------------------------------------|---------------------------------------------------|
//! | `created` by an agent                   | remember the agent (话务 is rated against them)   |
//! | `complete` (办结)                       | schedule a case survey                            |
//! | `answer` (直接答复)                     | schedule an on-the-spot survey                    |
//! | `survey` by anyone else (a WeChat `满意 <no>`, an agent in the tickets API) | that survey is answered; its consequence follows |
//! | `reopen`                                | count the reopen                                  |
//! | `dispatch`/`redispatch` after our 重办   | the supervision order (督办) for the reopened ticket |
//! | `survey_unreachable`, `close`, `conclude`, `merge` | pending surveys of the ticket are cancelled |
//!
//! Idempotent: a per-ticket `last_seq` skips redelivered and stale events, and the steps are
//! in one transaction with it.

use std::sync::Arc;

use async_nats::jetstream::Message;
use hotline_bus::Envelope;
use hotline_bus::consumer::HandleError;
use hotline_calendar::WorkCalendar;
use hotline_domain::contract::TicketEvent;
use hotline_domain::{Action, Actor, Status};
use sqlx::{PgPool, Row as _};

use crate::answer::{Rating, Via};
use crate::error::SurveyError;
use crate::policy::{Policy, method_for};
use crate::store::{self, Kind, NewSurvey, ticket_key};

pub const CONSUMER: &str = hotline_bus::subjects::durable::SURVEY;

/// What the consumer needs.
pub struct Context {
    pub pool: PgPool,
    pub policy: Policy,
    pub calendar: WorkCalendar,
}

pub async fn handle(cx: Arc<Context>, message: &Message) -> Result<(), HandleError> {
    let envelope: Envelope<TicketEvent> = Envelope::from_slice(&message.payload)
        .map_err(|e| HandleError::Reject(anyhow::anyhow!(e)))?;
    let event = envelope.data;
    if !relevant(&event) {
        return Ok(());
    }
    let span = tracing::info_span!("survey.event", ticket = %event.ticket.ticket_no, step = %event.entry.step);
    hotline_bus::trace::adopt(&span, message.headers.as_ref());
    tracing::Instrument::instrument(apply(&cx, &event), span)
        .await
        .map_err(|e| match e.kind() {
            hotline_domain::contract::ErrorKind::Invalid => HandleError::Reject(anyhow::anyhow!(e)),
            _ => HandleError::Retry(anyhow::anyhow!(e)),
        })
}

/// The steps the survey acts on: its consumer takes only these from the tickets stream, so the
/// many others (accept, progress, supervise ...) are never delivered to it.
pub const STEPS: [&str; 11] = [
    "created",
    "complete",
    "answer",
    "survey",
    "reopen",
    "dispatch",
    "redispatch",
    "survey_unreachable",
    "close",
    "conclude",
    "merge",
];

fn relevant(event: &TicketEvent) -> bool {
    STEPS.contains(&event.entry.step.as_str())
}

async fn apply(cx: &Context, event: &TicketEvent) -> Result<(), SurveyError> {
    let ticket = &event.ticket;
    let entry = &event.entry;
    let key = ticket_key(ticket.ticket_no);
    // Every ticket is created and most are dispatched: those two steps take one statement and
    // write nothing unless there is something to do (an agent to remember, a 重办 to supervise),
    // so the consumer costs the ticket's path almost nothing.
    match (entry.step.as_str(), &entry.actor) {
        ("created", Actor::Agent { id }) => {
            sqlx::query(
                "INSERT INTO survey.ticket (ticket_no, last_seq, agent) VALUES ($1, $2, $3) \
                 ON CONFLICT (ticket_no) DO UPDATE SET agent = EXCLUDED.agent, \
                 last_seq = EXCLUDED.last_seq WHERE survey.ticket.last_seq < EXCLUDED.last_seq",
            )
            .bind(key)
            .bind(entry.seq)
            .bind(id)
            .execute(&cx.pool)
            .await?;
            return Ok(());
        }
        ("created", _) => return Ok(()),
        // A ticket's first dispatch (from 已受理) comes before any survey, so no 重办 of ours
        // can wait for it: the flag is set only on a surveyed ticket, whose next dispatch is
        // from 重办 (reopened). Nearly every dispatch is a first one; it costs no statement.
        ("dispatch", _) if entry.from == Some(Status::Received) => return Ok(()),
        ("dispatch" | "redispatch", _) => return supervise_reopened(cx, event).await,
        _ => {}
    }
    let mut tx = cx.pool.begin().await?;
    sqlx::query(
        "INSERT INTO survey.ticket (ticket_no, last_seq) VALUES ($1, -1) ON CONFLICT DO NOTHING",
    )
    .bind(key)
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query(
        "SELECT last_seq, agent, supervise_next_dispatch, reopens FROM survey.ticket \
         WHERE ticket_no = $1 FOR UPDATE",
    )
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    let last_seq: i32 = row.try_get("last_seq")?;
    if entry.seq <= last_seq {
        return Ok(());
    }
    let mut agent: Option<String> = row.try_get("agent")?;
    let mut reopens: i32 = row.try_get("reopens")?;
    match entry.step.as_str() {
        "complete" | "answer" => {
            let kind = if entry.step == "complete" {
                Kind::Case
            } else {
                if let Actor::Agent { id } = &entry.actor {
                    agent = Some(id.clone());
                }
                Kind::OnTheSpot
            };
            let (method, address) = method_for(ticket);
            let survey = NewSurvey {
                ticket_no: ticket.ticket_no,
                completion_seq: entry.seq,
                kind,
                channel: ticket.channel.as_str().to_owned(),
                method: method.as_str().to_owned(),
                address,
                lead: ticket.lead.as_ref().map(ToString::to_string),
                service_code: ticket.service_code.as_ref().map(ToString::to_string),
                agent: agent.clone(),
                request_type: ticket.request_type.as_str().to_owned(),
                completed_at: entry.at,
                due_at: cx.policy.due(&cx.calendar, entry.at, method),
            };
            if store::schedule_batch(&mut *tx, std::slice::from_ref(&survey)).await? > 0 {
                crate::metrics::SCHEDULED
                    .with_label_values(&[kind.as_str()])
                    .inc();
            }
        }
        "survey" => {
            if let Some(Action::Survey { satisfied, .. }) = &entry.action {
                answered_elsewhere(cx, &mut tx, event, *satisfied).await?;
            }
        }
        "reopen" => reopens += 1,
        "survey_unreachable" | "close" | "conclude" | "merge" => {
            sqlx::query(
                "UPDATE survey.survey SET state = 'cancelled', next_attempt_at = NULL, \
                 link_nonce = NULL, address = NULL WHERE ticket_no = $1 \
                 AND state IN ('scheduled', 'invited')",
            )
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        _ => {}
    }
    sqlx::query(
        "UPDATE survey.ticket SET last_seq = $2, agent = $3, reopens = $4 WHERE ticket_no = $1",
    )
    .bind(key)
    .bind(entry.seq)
    .bind(agent)
    .bind(reopens)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A dispatch after our 重办: the supervision order (督办), once (the flag is cleared by the same
/// statement that finds it, guarded by the history seq against a redelivered event).
async fn supervise_reopened(cx: &Context, event: &TicketEvent) -> Result<(), SurveyError> {
    let ticket_no = event.ticket.ticket_no;
    // Nearly every dispatch finds nothing to supervise: one read-only statement answers that,
    // without the BEGIN/ROLLBACK round trips a transaction would cost on every ticket.
    let waiting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM survey.ticket WHERE ticket_no = $1 \
         AND supervise_next_dispatch AND last_seq < $2)",
    )
    .bind(ticket_key(ticket_no))
    .bind(event.entry.seq)
    .fetch_one(&cx.pool)
    .await?;
    if !waiting {
        return Ok(());
    }
    let mut tx = cx.pool.begin().await?;
    let reopens: Option<i32> = sqlx::query_scalar(
        "UPDATE survey.ticket SET supervise_next_dispatch = false, last_seq = $2 \
         WHERE ticket_no = $1 AND supervise_next_dispatch AND last_seq < $2 RETURNING reopens",
    )
    .bind(ticket_key(ticket_no))
    .bind(event.entry.seq)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(reopens) = reopens else {
        return Ok(());
    };
    store::enqueue(
        &mut tx,
        ticket_no,
        &[hotline_domain::contract::TicketCommand::Act {
            idempotency_key: format!("survey:supervise:{ticket_no}:{}", event.entry.seq),
            actor: Actor::system("survey"),
            ticket_no,
            action: Action::Supervise {
                note: format!(
                    "重办件（回访不满意，第{}次重办）：请承办单位重点办理，按新时限办结",
                    reopens.max(1)
                ),
            },
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The ledger recorded a survey answer this service did not send (a citizen's message, an
/// agent in the tickets API): the open survey of the ticket takes it and its consequence
/// follows. Our own answers find no open survey (answered in the same transaction that queued
/// the command) and change nothing here.
async fn answered_elsewhere(
    cx: &Context,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    event: &TicketEvent,
    satisfied: bool,
) -> Result<(), SurveyError> {
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM survey.survey WHERE ticket_no = $1 AND state IN ('scheduled', 'invited') \
         ORDER BY completion_seq DESC LIMIT 1 FOR UPDATE",
    )
    .bind(ticket_key(event.ticket.ticket_no))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = open else {
        return Ok(());
    };
    let rating = if satisfied {
        Rating::Satisfied
    } else {
        Rating::Dissatisfied
    };
    let by = match &event.entry.actor {
        Actor::Agent { id } => Some(id.clone()),
        _ => None,
    };
    sqlx::query(
        "UPDATE survey.survey SET state = 'answered', answered_at = $2, answered_via = $3, \
         answered_by = $4, resolved = $5, case_rating = $6, link_nonce = NULL, address = NULL, \
         next_attempt_at = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(event.entry.at)
    .bind(Via::Message.as_str())
    .bind(by)
    .bind(satisfied)
    .bind(rating.as_str())
    .execute(&mut **tx)
    .await?;
    let outcome = store::consequences(
        tx,
        id,
        event.ticket.ticket_no,
        satisfied,
        None,
        &Actor::system("survey"),
        cx.policy.max_reopens,
    )
    .await?;
    crate::metrics::ANSWERS
        .with_label_values(&[Via::Message.as_str(), outcome.as_str()])
        .inc();
    Ok(())
}
