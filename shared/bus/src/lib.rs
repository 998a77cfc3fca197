//! The messaging contract (DESIGN.md section 4), fixed in one place.
//!
//! - [`subjects`]: every subject, stream and bucket name, derived from one namespace.
//! - [`streams`]: creates the JetStream streams and KV buckets (file storage, dedup window).
//! - [`envelope`]: the versioned JSON envelope every event travels in.
//! - [`publish`]: publish that waits for the PubAck, with `Nats-Msg-Id`.
//! - [`consumer`]: durable pull consumers with explicit ack, finite `max_deliver`, a dead-letter
//!   stream, and per-key ordering.
//! - [`outbox`]/[`inbox`]: the transactional outbox relay and the idempotent inbox, in the
//!   owning service's Postgres schema.
//! - [`rpc`]: commands and queries as NATS request/reply with typed errors.
//! - [`trace`]: W3C trace context in NATS headers.
//! - [`db`]: the Postgres pool, per-schema migrations, database URLs.
//! - [`ticket_numbers`]: ticket numbers from per-replica blocks reserved in a KV bucket.
#![forbid(unsafe_code)]

pub mod consumer;
pub mod db;
pub mod envelope;
pub mod inbox;
pub mod outbox;
pub mod publish;
pub mod rpc;
pub mod streams;
pub mod subjects;
pub mod ticket_numbers;
pub mod trace;

pub use envelope::Envelope;
pub use subjects::Subjects;

/// A connection to the bus: core NATS for request/reply, JetStream for streams.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub subjects: Subjects,
}

impl Bus {
    /// Connects and names the connection after the service so that `nats-server`'s monitoring
    /// shows who is who.
    pub async fn connect(url: &str, namespace: &str, service: &str) -> anyhow::Result<Bus> {
        use anyhow::Context as _;
        let client = async_nats::ConnectOptions::new()
            .name(format!("hotline-{service}"))
            .retry_on_initial_connect()
            .connection_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        Ok(Bus::from_client(client, namespace))
    }

    pub fn from_client(client: async_nats::Client, namespace: &str) -> Bus {
        let js = async_nats::jetstream::new(client.clone());
        Bus {
            client,
            js,
            subjects: Subjects::new(namespace),
        }
    }
}
