//! Calls in Postgres (schema `phone`): applying CTI events once each, the agents' views, the
//! missed-call list, the figures, and the held tickets' rows (ended in [`super::hold`]).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_domain::TicketNo;
use serde::Serialize;
use sqlx::{PgPool, Row as _};

use super::cti::{CtiEvent, Direction, EventKind};

pub const SCHEMA: &str = "phone";

/// A call as stored. `caller` is personal data: handlers mask it before it leaves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
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

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// First time this (call, event) was seen; the call was updated.
    New,
    /// A repeat: nothing changed.
    Repeat,
}

/// The phone figures over a period (calls by the time they rang).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Inbound calls that rang in the period.
    pub offered: i64,
    pub answered: i64,
    /// Inbound calls that ended without being answered.
    pub abandoned: i64,
    /// answered / offered (接通率); none without calls.
    pub answer_rate: Option<f64>,
    pub answer_target_secs: u64,
    /// Calls answered within the target / offered; none without calls.
    pub answered_within_target: Option<f64>,
    /// Mean seconds from answer to hang-up over answered calls that ended.
    pub average_handle_secs: Option<f64>,
    /// Abandoned calls still waiting for a callback.
    pub missed_not_called_back: i64,
}

#[derive(Clone)]
pub struct CallStore {
    pool: PgPool,
}

const COLUMNS: &str = "call_id, direction, caller, line, ivr, state, agent, ringing_at, \
     answered_at, ended_at, cause, ticket_nos, answer_leaf, called_back_at, called_back_by";

fn call_of(row: &sqlx::postgres::PgRow) -> anyhow::Result<Call> {
    let nos: Vec<i64> = row.try_get("ticket_nos")?;
    let ticket_nos = nos
        .into_iter()
        .map(|n| TicketNo::parse(&n.to_string()).context("a stored ticket number"))
        .collect::<anyhow::Result<_>>()?;
    Ok(Call {
        call_id: row.try_get("call_id")?,
        direction: row.try_get("direction")?,
        caller: row.try_get("caller")?,
        line: row.try_get("line")?,
        ivr: row.try_get("ivr")?,
        state: row.try_get("state")?,
        agent: row.try_get("agent")?,
        ringing_at: row.try_get("ringing_at")?,
        answered_at: row.try_get("answered_at")?,
        ended_at: row.try_get("ended_at")?,
        cause: row.try_get("cause")?,
        ticket_nos,
        answer_leaf: row.try_get("answer_leaf")?,
        called_back_at: row.try_get("called_back_at")?,
        called_back_by: row.try_get("called_back_by")?,
    })
}

impl CallStore {
    pub fn new(pool: PgPool) -> CallStore {
        CallStore { pool }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Records that `ticket_no` of `call_id` is held from dispatch, before its Create goes to
    /// the ledger: a ticket the ledger holds is then always one the sweeper can release.
    pub async fn hold(&self, call_id: &str, ticket_no: TicketNo) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO phone.held_ticket (call_id, ticket_no) VALUES ($1, $2) \
             ON CONFLICT (ticket_no) DO NOTHING",
        )
        .bind(call_id)
        .bind(ticket_no.as_u64() as i64)
        .execute(&self.pool)
        .await
        .context("recording a held ticket")?;
        Ok(())
    }

    /// Forgets the hold of a number the ledger did not make a ticket of (refused, or a retry
    /// that got the first attempt's ticket).
    pub async fn forget_hold(&self, ticket_no: TicketNo) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM phone.held_ticket WHERE ticket_no = $1 AND ended_at IS NULL")
            .bind(ticket_no.as_u64() as i64)
            .execute(&self.pool)
            .await
            .context("forgetting a held ticket")?;
        Ok(())
    }

    /// The call's tickets still held here.
    pub async fn held_of(&self, call_id: &str) -> anyhow::Result<Vec<TicketNo>> {
        let nos: Vec<i64> = sqlx::query_scalar(
            "SELECT ticket_no FROM phone.held_ticket WHERE call_id = $1 AND ended_at IS NULL \
             ORDER BY ticket_no",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        nos.into_iter()
            .map(|n| TicketNo::parse(&format!("{n:016}")).context("a stored ticket number"))
            .collect()
    }

    /// Applies `event` at `now` unless this (call, event) was applied before. Events may come
    /// out of order or for a call we did not see ring: each one creates the call if needed.
    pub async fn apply(&self, event: &CtiEvent, now: DateTime<Utc>) -> anyhow::Result<Applied> {
        let mut tx = self.pool.begin().await?;
        let first = sqlx::query(
            "INSERT INTO phone.event (call_id, event, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&event.call_id)
        .bind(event.kind.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording the CTI event")?
        .rows_affected()
            == 1;
        if !first {
            tx.rollback().await?;
            return Ok(Applied::Repeat);
        }
        let direction = event.direction.unwrap_or(Direction::In).as_str();
        let caller = event.citizen.as_ref().map(|p| p.as_str().to_owned());
        // The row as this event alone would make it; an existing row keeps what it knew.
        let (state, answered_at, ended_at) = match event.kind {
            EventKind::NewCall => ("ringing", None, None),
            EventKind::Answer => ("answered", Some(now), None),
            EventKind::Hangup => ("ended", None, Some(now)),
        };
        sqlx::query(
            "INSERT INTO phone.call (call_id, direction, caller, line, ivr, state, agent, \
               ringing_at, answered_at, ended_at, cause) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (call_id) DO UPDATE SET \
               caller = COALESCE(phone.call.caller, EXCLUDED.caller), \
               line = COALESCE(phone.call.line, EXCLUDED.line), \
               ivr = COALESCE(EXCLUDED.ivr, phone.call.ivr), \
               agent = COALESCE(EXCLUDED.agent, phone.call.agent), \
               answered_at = COALESCE(phone.call.answered_at, EXCLUDED.answered_at), \
               ended_at = COALESCE(phone.call.ended_at, EXCLUDED.ended_at), \
               cause = COALESCE(EXCLUDED.cause, phone.call.cause), \
               state = CASE \
                 WHEN phone.call.state = 'ended' OR EXCLUDED.state = 'ended' THEN 'ended' \
                 WHEN phone.call.state = 'answered' OR EXCLUDED.state = 'answered' THEN 'answered' \
                 ELSE 'ringing' END",
        )
        .bind(&event.call_id)
        .bind(direction)
        .bind(caller)
        .bind(&event.line)
        .bind(&event.ivr)
        .bind(state)
        .bind(&event.agent)
        .bind(now)
        .bind(answered_at)
        .bind(ended_at)
        .bind(&event.cause)
        .execute(&mut *tx)
        .await
        .context("updating the call")?;
        tx.commit().await?;
        Ok(Applied::New)
    }

    pub async fn get(&self, call_id: &str) -> anyhow::Result<Option<Call>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM phone.call WHERE call_id = $1"
        )))
        .bind(call_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(call_of).transpose()
    }

    /// The agent's calls that have not ended.
    pub async fn active_for(&self, agent: &str) -> anyhow::Result<Vec<Call>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM phone.call WHERE agent = $1 AND state <> 'ended' \
             ORDER BY ringing_at"
        )))
        .bind(agent)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(call_of).collect()
    }

    /// The caller's earlier calls, newest first.
    pub async fn history_of(&self, caller: &str, limit: i64) -> anyhow::Result<Vec<Call>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM phone.call WHERE caller = $1 ORDER BY ringing_at DESC LIMIT $2"
        )))
        .bind(caller)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(call_of).collect()
    }

    pub async fn link_ticket(&self, call_id: &str, ticket_no: TicketNo) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE phone.call SET ticket_nos = array_append(ticket_nos, $2) \
             WHERE call_id = $1 AND NOT ($2 = ANY(ticket_nos))",
        )
        .bind(call_id)
        .bind(ticket_no.as_u64() as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn record_answer_leaf(&self, call_id: &str, leaf: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE phone.call SET answer_leaf = $2 WHERE call_id = $1")
            .bind(call_id)
            .bind(leaf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Abandoned inbound calls nobody has called back yet, oldest first.
    pub async fn missed(&self, limit: i64) -> anyhow::Result<Vec<Call>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM phone.call WHERE direction = 'in' AND answered_at IS NULL \
             AND ended_at IS NOT NULL AND called_back_at IS NULL ORDER BY ringing_at LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(call_of).collect()
    }

    /// Marks a missed call as called back; `false` when it is no missed call (or was done).
    pub async fn missed_done(
        &self,
        call_id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE phone.call SET called_back_at = $3, called_back_by = $2 \
             WHERE call_id = $1 AND direction = 'in' AND answered_at IS NULL \
             AND ended_at IS NOT NULL AND called_back_at IS NULL",
        )
        .bind(call_id)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    pub async fn figures(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        answer_target_secs: u64,
    ) -> anyhow::Result<Figures> {
        let row = sqlx::query(
            "SELECT \
               count(*) AS offered, \
               count(answered_at) AS answered, \
               count(*) FILTER (WHERE answered_at IS NULL AND ended_at IS NOT NULL) AS abandoned, \
               count(*) FILTER (WHERE answered_at IS NOT NULL \
                 AND answered_at - ringing_at <= make_interval(secs => $3)) AS on_target, \
               (avg(EXTRACT(EPOCH FROM ended_at - answered_at)) \
                 FILTER (WHERE answered_at IS NOT NULL AND ended_at IS NOT NULL))::float8 AS aht, \
               count(*) FILTER (WHERE answered_at IS NULL AND ended_at IS NOT NULL \
                 AND called_back_at IS NULL) AS missed \
             FROM phone.call WHERE direction = 'in' AND ringing_at >= $1 AND ringing_at < $2",
        )
        .bind(from)
        .bind(to)
        .bind(answer_target_secs as f64)
        .fetch_one(&self.pool)
        .await
        .context("computing the phone figures")?;
        let offered: i64 = row.try_get("offered")?;
        let answered: i64 = row.try_get("answered")?;
        let on_target: i64 = row.try_get("on_target")?;
        let share = |n: i64| (offered > 0).then(|| n as f64 / offered as f64);
        Ok(Figures {
            from,
            to,
            offered,
            answered,
            abandoned: row.try_get("abandoned")?,
            answer_rate: share(answered),
            answer_target_secs,
            answered_within_target: share(on_target),
            average_handle_secs: row.try_get("aht")?,
            missed_not_called_back: row.try_get("missed")?,
        })
    }
}
