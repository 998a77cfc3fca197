//! The hold (暂缓派单) of tickets made during a call: the ledger keeps such a ticket from
//! dispatch until it is released, so an answer on the spot never races an automatic dispatch.
//!
//! Each held ticket has a row in `phone.held_ticket`, written before the Create goes to the
//! ledger (so no held ticket exists that the phone channel does not know of). The hold ends
//! - when the agent finishes the call (`POST /v1/calls/{id}/finish`, [`finish`]): the agent's
//!   Release, unless the ledger already ended the hold (answered, rejected, merged on the spot);
//! - else by the [`sweep`]er, on every replica: once the call has ended and `phone.wrap_up_secs`
//!   passed (or, when no hang-up ever came, after [`STALE_HOLD`]), as the intake system actor.
//!
//! Both send the same command key per ticket (`phone:release:<no>`), so an agent and a sweeper
//! (or two sweepers) releasing at once make one ledger step; rows are taken `FOR UPDATE SKIP
//! LOCKED`, so replicas share the work instead of repeating it.

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_bus::rpc::CallError;
use hotline_domain::contract::{ErrorKind, TicketCommand};
use hotline_domain::{Action, Actor, TicketNo};
use hotline_runtime::ApiError;
use serde::Serialize;
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

use super::metrics;
use super::store::CallStore;
use crate::upstream::Ledger;

/// A held ticket whose call never reported a hang-up is released after this long anyway: a
/// lost CTI event must not keep a citizen's matter from dispatch.
pub const STALE_HOLD: Duration = Duration::from_secs(4 * 3600);

/// Most held tickets one sweep takes (the rest wait for the next tick).
const SWEEP_BATCH: i64 = 100;

/// Why a hold was ended by the phone channel (the `cause` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The agent finished the call.
    Finished,
    /// The call ended and the wrap-up time passed.
    WrapUp,
    /// No hang-up came within [`STALE_HOLD`].
    Stale,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Finished => "finished",
            Cause::WrapUp => "wrap_up",
            Cause::Stale => "stale",
        }
    }
}

/// What the ledger said to the Release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// The hold was lifted: dispatch routes the ticket now.
    Released,
    /// The ledger had ended the hold already (answered on the spot, or released before).
    MovedOn,
    /// The ledger has no such ticket (its Create was never committed).
    Unknown,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Released => "released",
            Ended::MovedOn => "moved_on",
            Ended::Unknown => "unknown",
        }
    }
}

/// One ticket of a finished call and how its hold ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldOutcome {
    pub ticket_no: TicketNo,
    pub outcome: Ended,
}

/// The command key of a ticket's release: the same for the agent and every sweeper.
pub fn release_key(ticket_no: TicketNo) -> String {
    format!("phone:release:{ticket_no}")
}

/// Sends the Release of `ticket_no` as `actor`. `Err` only when the ledger could not be asked
/// (the caller tries again later); a refusal because the hold is gone is [`Ended::MovedOn`].
pub async fn release(
    ledger: &dyn Ledger,
    ticket_no: TicketNo,
    actor: Actor,
) -> Result<Ended, CallError> {
    let command = TicketCommand::Act {
        idempotency_key: release_key(ticket_no),
        actor,
        ticket_no,
        action: Action::Release,
    };
    match ledger.submit(command).await {
        Ok(_) => Ok(Ended::Released),
        Err(e) if e.kind() == ErrorKind::Conflict => Ok(Ended::MovedOn),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Ended::Unknown),
        Err(e) => Err(e),
    }
}

fn ticket_no_of(row: &sqlx::postgres::PgRow) -> anyhow::Result<TicketNo> {
    let no: i64 = row.try_get("ticket_no")?;
    TicketNo::parse(&format!("{no:016}")).context("a stored ticket number")
}

async fn mark(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ticket_no: TicketNo,
    cause: &str,
    by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE phone.held_ticket SET ended_at = $2, end_cause = $3, ended_by = $4 \
         WHERE ticket_no = $1",
    )
    .bind(ticket_no.as_u64() as i64)
    .bind(now)
    .bind(cause)
    .bind(by)
    .execute(&mut **tx)
    .await
    .context("recording the end of a hold")?;
    Ok(())
}

fn count(cause: Cause, ended: Ended) {
    metrics::RELEASES
        .with_label_values(&[cause.as_str(), ended.as_str()])
        .inc();
}

/// The end of a hold as recorded: the cause when released, else what the ledger said.
fn recorded_cause(cause: Cause, ended: Ended) -> &'static str {
    match ended {
        Ended::Released => cause.as_str(),
        other => other.as_str(),
    }
}

/// The agent finished `call_id`: releases every ticket of the call still held. A sweeper on
/// the same rows waits (or has done them: they are no longer open), so nothing is sent twice.
pub async fn finish(
    store: &CallStore,
    ledger: &dyn Ledger,
    call_id: &str,
    agent: &str,
) -> Result<Vec<HoldOutcome>, ApiError> {
    let mut tx = store.pool().begin().await.context("beginning")?;
    let rows = sqlx::query(
        "SELECT ticket_no FROM phone.held_ticket WHERE call_id = $1 AND ended_at IS NULL \
         ORDER BY ticket_no FOR UPDATE",
    )
    .bind(call_id)
    .fetch_all(&mut *tx)
    .await
    .context("reading the call's held tickets")?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in &rows {
        let ticket_no = ticket_no_of(row)?;
        let actor = Actor::Agent {
            id: agent.to_owned(),
        };
        // On an error nothing is recorded: the agent's retry sends the same keys again.
        let ended = release(ledger, ticket_no, actor).await?;
        mark(
            &mut tx,
            ticket_no,
            recorded_cause(Cause::Finished, ended),
            agent,
            Utc::now(),
        )
        .await?;
        outcomes.push(HoldOutcome {
            ticket_no,
            outcome: ended,
        });
    }
    tx.commit().await.context("committing")?;
    for o in &outcomes {
        count(Cause::Finished, o.outcome);
        tracing::info!(call = %call_id, ticket = %o.ticket_no, outcome = o.outcome.as_str(), "hold ended by the agent");
    }
    Ok(outcomes)
}

/// One sweep at `now`: releases held tickets of calls that ended more than `wrap_up` ago (and
/// stale ones). Returns how many holds it ended; rows another replica has locked are skipped.
pub async fn sweep(
    store: &CallStore,
    ledger: &dyn Ledger,
    wrap_up: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let ended_before = now - chrono::Duration::from_std(wrap_up)?;
    let held_before = now - chrono::Duration::from_std(STALE_HOLD)?;
    let mut tx = store.pool().begin().await?;
    let rows = sqlx::query(
        "SELECT h.ticket_no, c.ended_at IS NOT NULL AND c.ended_at <= $1 AS wrapped_up \
         FROM phone.held_ticket h JOIN phone.call c ON c.call_id = h.call_id \
         WHERE h.ended_at IS NULL AND (c.ended_at <= $1 OR h.held_at <= $2) \
         ORDER BY h.held_at LIMIT $3 FOR UPDATE OF h SKIP LOCKED",
    )
    .bind(ended_before)
    .bind(held_before)
    .bind(SWEEP_BATCH)
    .fetch_all(&mut *tx)
    .await
    .context("taking held tickets to release")?;
    let mut done = Vec::with_capacity(rows.len());
    let mut unreachable = None;
    for row in &rows {
        let ticket_no = ticket_no_of(row)?;
        let cause = if row.try_get::<bool, _>("wrapped_up")? {
            Cause::WrapUp
        } else {
            Cause::Stale
        };
        match release(ledger, ticket_no, Actor::system("intake")).await {
            Ok(ended) => {
                mark(
                    &mut tx,
                    ticket_no,
                    recorded_cause(cause, ended),
                    "intake",
                    Utc::now(),
                )
                .await?;
                done.push((ticket_no, cause, ended));
            }
            Err(e) => {
                // Keep what was released; the rest waits for the next tick.
                unreachable = Some(e);
                break;
            }
        }
    }
    tx.commit().await?;
    for (ticket_no, cause, ended) in &done {
        count(*cause, *ended);
        tracing::info!(ticket = %ticket_no, cause = cause.as_str(), outcome = ended.as_str(), "hold ended by the sweeper");
    }
    if let Some(e) = unreachable {
        return Err(anyhow::Error::from(e).context("releasing a held ticket"));
    }
    Ok(done.len())
}

/// How often the sweeper looks: a quarter of the wrap-up time, between 1 and 15 seconds.
pub fn sweep_interval(wrap_up: Duration) -> Duration {
    (wrap_up / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// Sweeps until `shutdown`. Failures are logged and tried again on the next tick: the sweeper
/// must outlive a ledger or database outage.
pub async fn run_sweeper(
    store: CallStore,
    ledger: std::sync::Arc<dyn Ledger>,
    wrap_up: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let interval = sweep_interval(wrap_up);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(e) = sweep(&store, ledger.as_ref(), wrap_up, Utc::now()).await {
            tracing::warn!(error = %format!("{e:#}"), "held tickets not released this round");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweeper_looks_often_enough_for_short_and_long_wrap_ups() {
        assert_eq!(
            sweep_interval(Duration::from_secs(120)),
            Duration::from_secs(15)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(20)),
            Duration::from_secs(5)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn one_key_per_ticket_whoever_releases() {
        let no = TicketNo::compose(261203, 5).expect("no");
        assert_eq!(release_key(no), format!("phone:release:{no}"));
    }

    #[test]
    fn a_hold_the_ledger_ended_is_recorded_as_such() {
        assert_eq!(recorded_cause(Cause::WrapUp, Ended::Released), "wrap_up");
        assert_eq!(recorded_cause(Cause::Finished, Ended::MovedOn), "moved_on");
        assert_eq!(recorded_cause(Cause::Stale, Ended::Unknown), "unknown");
    }
}
