//! Ledger commands a service decided in a transaction of its own, sent after commit with their
//! idempotency keys: the SLA's supervision orders, the survey's answers, reopens and closes.
//!
//! Each owning schema has:
//! ```sql
//! CREATE TABLE <schema>.command (id BIGSERIAL PRIMARY KEY, command JSONB NOT NULL,
//!   attempts INT NOT NULL DEFAULT 0, next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
//!   created_at TIMESTAMPTZ NOT NULL DEFAULT now());
//! ```
//! Rows are taken `FOR UPDATE SKIP LOCKED` (every replica may send). One ticket's commands go
//! in id order, one after the other (a survey answer before the close it allows); different
//! tickets' go in parallel. A command the ledger refuses (the ticket moved on) is settled; one
//! it did not answer is retried with back-off, and the same ticket's later commands wait for it.
//! A crash after sending and before deleting resends the same key, which the ledger's command
//! log answers with its first reply.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use hotline_domain::contract::{CommandAccepted, ErrorKind, TicketCommand};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row as _, Transaction};
use tokio_util::sync::CancellationToken;

use crate::rpc::{self, CallError};
use crate::{Bus, Service};

/// Commands taken per round.
const BATCH: i64 = 64;
/// Safety-net poll when no notification arrives.
const POLL: Duration = Duration::from_secs(1);

/// What happened to one command, for the owner's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Accepted,
    Refused,
    Retry,
}

impl Sent {
    pub fn as_str(self) -> &'static str {
        match self {
            Sent::Accepted => "sent",
            Sent::Refused => "refused",
            Sent::Retry => "retry",
        }
    }
}

/// One schema's command table and the service that sends from it.
#[derive(Clone)]
pub struct CommandOutbox {
    pub pool: PgPool,
    pub bus: Bus,
    /// The schema owning `<schema>.command`; `NOTIFY <schema>_command` wakes the sender.
    pub schema: &'static str,
    /// The command subject the service may publish on.
    pub caller: Service,
    /// Called once per command sent.
    pub on_sent: fn(Sent),
}

/// Writes `commands` (in order) inside the caller's transaction and wakes the sender at commit.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    schema: &'static str,
    commands: &[TicketCommand],
) -> anyhow::Result<()> {
    if commands.is_empty() {
        return Ok(());
    }
    let json = commands
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.command (command) SELECT c FROM UNNEST($1::jsonb[]) WITH ORDINALITY \
         AS u(c, n) ORDER BY n"
    )))
    .bind(json)
    .execute(&mut **tx)
    .await?;
    sqlx::query(AssertSqlSafe(format!("NOTIFY {schema}_command")))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl CommandOutbox {
    /// Sends what is due now. Returns how many commands were settled (sent or refused).
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let schema = self.schema;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, command, attempts FROM {schema}.command WHERE next_attempt_at <= now() \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
        )))
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        // One ticket's commands in id order; an unreadable row is dropped (nothing can send it).
        let mut by_ticket: BTreeMap<String, Vec<(i64, i32, TicketCommand)>> = BTreeMap::new();
        let mut settled = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let attempts: i32 = row.try_get("attempts")?;
            let raw: serde_json::Value = row.try_get("command")?;
            match serde_json::from_value::<TicketCommand>(raw) {
                Ok(command) => {
                    let ticket = match &command {
                        TicketCommand::Act { ticket_no, .. } => ticket_no.to_string(),
                        TicketCommand::Create { ticket, .. } => ticket.ticket_no.to_string(),
                    };
                    by_ticket
                        .entry(ticket)
                        .or_default()
                        .push((id, attempts, command));
                }
                Err(e) => {
                    tracing::error!(id, error = %e, "an unreadable stored command; dropping it");
                    settled.push(id);
                }
            }
        }
        let rounds = by_ticket.into_values().map(|commands| async move {
            let mut settled = Vec::new();
            let mut retry = Vec::new();
            let mut waiting = false;
            for (id, attempts, command) in commands {
                if waiting {
                    // An earlier command of the ticket is to be retried: this one waits too.
                    retry.push((id, attempts, false));
                    continue;
                }
                let result: Result<CommandAccepted, CallError> = rpc::call(
                    &self.bus,
                    self.bus.subjects.ticket_commands_from(self.caller),
                    &command,
                    rpc::DEFAULT_TIMEOUT,
                )
                .await;
                match result {
                    Ok(_) => {
                        (self.on_sent)(Sent::Accepted);
                        settled.push(id);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::Conflict
                                | ErrorKind::Invalid
                                | ErrorKind::Forbidden
                                | ErrorKind::NotFound
                        ) =>
                    {
                        tracing::info!(id, reason = %e.public_message(), "the ledger refused a command");
                        (self.on_sent)(Sent::Refused);
                        settled.push(id);
                    }
                    Err(e) => {
                        tracing::warn!(id, attempts, error = %e, "ledger unavailable; the command will be retried");
                        (self.on_sent)(Sent::Retry);
                        retry.push((id, attempts, true));
                        waiting = true;
                    }
                }
            }
            (settled, retry)
        });
        let mut retry = Vec::new();
        for (s, r) in futures::future::join_all(rounds).await {
            settled.extend(s);
            retry.extend(r);
        }
        if !settled.is_empty() {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {schema}.command WHERE id = ANY($1)"
            )))
            .bind(&settled)
            .execute(&mut *tx)
            .await?;
        }
        for (id, attempts, failed) in &retry {
            let delay = crate::consumer::backoff(i64::from(*attempts) + 1);
            let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {schema}.command SET attempts = attempts + $3, next_attempt_at = $2 \
                 WHERE id = $1"
            )))
            .bind(id)
            .bind(next)
            .bind(i32::from(*failed))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(settled.len())
    }

    /// Runs the sender until `shutdown`, woken by `NOTIFY <schema>_command` with a poll as a
    /// safety net.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let channel = format!("{}_command", self.schema);
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(mut l) => match l.listen(&channel).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN {channel} failed; polling");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no LISTEN connection; polling");
                None
            }
        };
        while !shutdown.is_cancelled() {
            match self.send_due().await {
                Ok(n) if n as i64 >= BATCH => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "sending ledger commands failed")
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => {
                        if l.recv().await.is_err() {
                            tokio::time::sleep(POLL).await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = notified => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        Ok(())
    }
}
