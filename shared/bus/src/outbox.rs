//! The transactional outbox: a service writes its state change and the event in one Postgres
//! transaction; the relay publishes committed events to JetStream and deletes them once the
//! stream acknowledged them. Exactly one relay per schema is active (a Postgres advisory lock),
//! so events leave in commit order; a crash between publish and delete republishes with the same
//! `Nats-Msg-Id`, which the stream's duplicate window drops.
//!
//! Each owning schema has:
//! ```sql
//! CREATE TABLE <schema>.outbox (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL,
//!   msg_id TEXT NOT NULL, traceparent TEXT, payload BYTEA NOT NULL,
//!   created_at TIMESTAMPTZ NOT NULL DEFAULT now());
//! ```

use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row as _, Transaction};
use tokio_util::sync::CancellationToken;

use crate::Bus;

/// An event to publish after commit.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub subject: String,
    pub msg_id: String,
    pub traceparent: Option<String>,
    pub payload: Vec<u8>,
}

/// Writes messages into the outbox inside the caller's transaction (multi-row insert).
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    schema: &'static str,
    messages: &[OutboxMessage],
) -> sqlx::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    let ids: Vec<&str> = messages.iter().map(|m| m.msg_id.as_str()).collect();
    let traces: Vec<Option<&str>> = messages.iter().map(|m| m.traceparent.as_deref()).collect();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.outbox (subject, msg_id, traceparent, payload) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[])"
    )))
    .bind(&subjects)
    .bind(&ids)
    .bind(&traces)
    .bind(&payloads)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel(schema))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn channel(schema: &str) -> String {
    format!("{schema}_outbox")
}

/// Stable lock id per schema, so replicas of one service agree on who relays.
fn lock_key(schema: &str) -> i64 {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema.bytes().chain("outbox".bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// After a notification, how long the relay waits for more commits before publishing.
const COALESCE: Duration = Duration::from_millis(3);

pub struct Relay {
    pub pool: PgPool,
    pub schema: &'static str,
    pub bus: Bus,
    pub batch: i64,
}

impl Relay {
    pub fn new(pool: PgPool, schema: &'static str, bus: Bus) -> Relay {
        Relay {
            pool,
            schema,
            bus,
            batch: 1024,
        }
    }

    /// Relays until `shutdown`. Errors are logged and retried: a relay that stops is an outage.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(e) = self.lead(&shutdown).await {
                tracing::warn!(schema = self.schema, error = %format!("{e:#}"), "outbox relay lost its footing; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }

    async fn lead(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        // A connection of our own: the advisory lock lives as long as it does.
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("acquiring relay connection")?
            .detach();
        let key = lock_key(self.schema);
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await?;
            if got {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        tracing::info!(schema = self.schema, "outbox relay is the leader");
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .context("LISTEN connection")?;
        listener.listen(&channel(self.schema)).await?;
        loop {
            // Drain everything committed so far, then wait for a notification (or a poll tick,
            // in case a notification was missed while we were busy).
            while self.relay_batch(&mut conn).await? == self.batch as usize {}
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.relay_batch(&mut conn).await?;
                    return Ok(());
                }
                n = listener.recv() => {
                    n.context("outbox notification")?;
                    // Let a few more commits land so one relay round carries them all.
                    tokio::time::sleep(COALESCE).await;
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    async fn relay_batch(&self, conn: &mut sqlx::PgConnection) -> anyhow::Result<usize> {
        let schema = self.schema;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, subject, msg_id, traceparent, payload FROM {schema}.outbox ORDER BY id LIMIT $1"
        )))
        .bind(self.batch)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut pending = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let subject: String = row.try_get("subject")?;
            let msg_id: String = row.try_get("msg_id")?;
            let traceparent: Option<String> = row.try_get("traceparent")?;
            let payload: Vec<u8> = row.try_get("payload")?;
            let headers = crate::trace::headers_from_traceparent(traceparent.as_deref());
            pending.push(
                crate::publish::send(&self.bus, subject, &msg_id, headers, payload.into()).await?,
            );
            ids.push(id);
        }
        for ack in pending {
            ack.await
                .context("stream did not acknowledge an outbox event")?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {schema}.outbox WHERE id = ANY($1)"
        )))
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_differ_per_schema_and_are_stable() {
        assert_ne!(super::lock_key("tickets"), super::lock_key("dispatch"));
        assert_eq!(super::lock_key("tickets"), super::lock_key("tickets"));
    }
}
