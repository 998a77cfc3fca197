//! Ticket -> `traceparent`, remembered from forwarded events so that a department's call that
//! carries no trace context still joins the ticket's trace.
//!
//! Redis holds only what can be lost (docs/architecture.md): if Redis is down or flushed, calls
//! start new traces and nothing else changes. Every operation has a short timeout so that a
//! slow Redis never slows a department's request.

use std::time::Duration;

use hotline_domain::TicketNo;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a ticket's trace is remembered: a ticket is normally closed well within it.
const TTL_SECS: u64 = 60 * 60 * 24 * 30;
/// Longest wait for Redis; past it the fallback is skipped.
const OP_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct TraceStore {
    conn: Option<ConnectionManager>,
    namespace: String,
}

impl TraceStore {
    /// Connects lazily: start-up never waits for Redis, and a Redis that comes back later is
    /// used from then on.
    pub fn new(url: &str, namespace: &str) -> TraceStore {
        let conn = redis::Client::open(url)
            .and_then(|client| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(OP_TIMEOUT))
                    .set_response_timeout(Some(OP_TIMEOUT))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(client, config)
            })
            .map_err(|e| {
                tracing::warn!(error = %e, "redis unusable; trace fallback disabled");
            })
            .ok();
        TraceStore {
            conn,
            namespace: namespace.to_owned(),
        }
    }

    /// A store that remembers nothing.
    pub fn disabled(namespace: &str) -> TraceStore {
        TraceStore {
            conn: None,
            namespace: namespace.to_owned(),
        }
    }

    /// `{ns}:trace:{ticket}`.
    pub fn key(&self, ticket: TicketNo) -> String {
        format!("{}:trace:{ticket}", self.namespace)
    }

    pub async fn remember(&self, ticket: TicketNo, traceparent: &str) {
        let Some(mut conn) = self.conn.clone() else {
            return;
        };
        let key = self.key(ticket);
        let op = conn.set_ex::<_, _, ()>(key, traceparent, TTL_SECS);
        match tokio::time::timeout(OP_TIMEOUT, op).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "trace not remembered"),
            Err(_) => tracing::debug!("trace not remembered: redis timed out"),
        }
    }

    pub async fn recall(&self, ticket: TicketNo) -> Option<String> {
        let mut conn = self.conn.clone()?;
        let op = conn.get::<_, Option<String>>(self.key(ticket));
        match tokio::time::timeout(OP_TIMEOUT, op).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "trace not recalled");
                None
            }
            Err(_) => None,
        }
    }
}
