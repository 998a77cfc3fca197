//! The command sender: delivers the ledger commands the firing loop wrote (`sla.command`,
//! supervision orders) with their idempotency keys.
//!
//! Written in the same transaction as the step that caused them, so a supervision order is
//! never lost; sent until the ledger answers, so a crash after sending and before deleting
//! resends the same key, which the ledger's command log turns into its first reply.

use std::time::Duration;

use chrono::Utc;
use hotline_bus::Bus;
use hotline_bus::rpc::{self, CallError};
use hotline_domain::contract::{CommandAccepted, ErrorKind, TicketCommand};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row as _};
use tokio_util::sync::CancellationToken;

use crate::error::SlaError;
use crate::metrics;

/// Commands sent per round.
const BATCH: i64 = 64;
/// Safety-net poll when no notification arrives.
const POLL: Duration = Duration::from_secs(1);

/// Sends what is due now. Returns how many commands were settled (sent or given up).
pub async fn send_due(pool: &PgPool, bus: &Bus) -> Result<usize, SlaError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, command, attempts FROM sla.command WHERE next_attempt_at <= now() \
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut settled = Vec::new();
    let mut retry = Vec::new();
    let calls = rows.iter().map(|row| async move {
        let id: i64 = row.try_get("id")?;
        let attempts: i32 = row.try_get("attempts")?;
        let raw: serde_json::Value = row.try_get("command")?;
        let command: TicketCommand = match serde_json::from_value(raw) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(id, error = %e, "an unreadable stored command; dropping it");
                return Ok::<_, SlaError>((id, attempts, None));
            }
        };
        let result: Result<CommandAccepted, CallError> = rpc::call(
            bus,
            bus.subjects.ticket_commands_from(hotline_bus::Service::Sla),
            &command,
            rpc::DEFAULT_TIMEOUT,
        )
        .await;
        Ok((id, attempts, Some(result)))
    });
    for outcome in futures::future::join_all(calls).await {
        let (id, attempts, result) = outcome?;
        match result {
            None => settled.push(id),
            Some(Ok(_)) => {
                metrics::COMMANDS.with_label_values(&["sent"]).inc();
                settled.push(id);
            }
            // The ticket moved on (completed, closed) or the order is not allowed: nothing to
            // supervise any more.
            Some(Err(e))
                if matches!(
                    e.kind(),
                    ErrorKind::Conflict
                        | ErrorKind::Invalid
                        | ErrorKind::Forbidden
                        | ErrorKind::NotFound
                ) =>
            {
                tracing::info!(id, reason = %e.public_message(), "the ledger refused a supervision order");
                metrics::COMMANDS.with_label_values(&["refused"]).inc();
                settled.push(id);
            }
            Some(Err(e)) => {
                tracing::warn!(id, attempts, error = %e, "ledger unavailable; the command will be retried");
                metrics::COMMANDS.with_label_values(&["retry"]).inc();
                retry.push((id, attempts));
            }
        }
    }
    if !settled.is_empty() {
        sqlx::query("DELETE FROM sla.command WHERE id = ANY($1)")
            .bind(&settled)
            .execute(&mut *tx)
            .await?;
    }
    for (id, attempts) in &retry {
        let delay = hotline_bus::consumer::backoff(i64::from(*attempts) + 1);
        let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        sqlx::query(
            "UPDATE sla.command SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(settled.len())
}

/// Runs the sender until `shutdown`, woken by `NOTIFY sla_command` with a poll as safety net.
pub async fn run(pool: PgPool, bus: Bus, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen("sla_command").await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN sla_command failed; polling");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "no LISTEN connection; polling");
            None
        }
    };
    while !shutdown.is_cancelled() {
        match send_due(&pool, &bus).await {
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "sending ledger commands failed"),
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
