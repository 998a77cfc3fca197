//! The messaging contract (docs/messaging.md), fixed in one place.
//!
//! - [`subjects`]: every subject, stream and bucket name, derived from one namespace.
//! - [`streams`]: creates the JetStream streams and KV buckets (file storage, dedup window).
//! - [`envelope`]: the versioned JSON envelope every event travels in.
//! - [`publish`]: publish that waits for the PubAck, with `Nats-Msg-Id`.
//! - [`consumer`]: durable pull consumers with explicit ack, retries for a bounded time, a dead-letter
//!   stream, and per-key ordering.
//! - [`group_commit`]: the events a consumer handles at the same moment share one transaction.
//! - [`outbox`]/[`inbox`]: the transactional outbox relay and the idempotent inbox, in the
//!   owning service's Postgres schema.
//! - [`rpc`]: commands and queries as NATS request/reply with typed errors.
//! - [`trace`]: W3C trace context in NATS headers.
//! - [`db`]: the Postgres pool, per-schema migrations, database URLs.
//! - [`ticket_numbers`]: ticket numbers from per-replica blocks reserved in a KV bucket.
//! - [`directory`]: the city's department directory in a KV bucket: stored by setup, loaded by
//!   the services at start.
//! - [`permissions`]: each service's NATS user and allow-lists, from the subjects above.
//! - [`nats_config`]: writes a nats-server configuration with those users (`hotline nats-config`).
#![forbid(unsafe_code)]

pub mod command_outbox;
pub mod consumer;
pub mod db;
pub mod directory;
pub mod envelope;
pub mod group_commit;
pub mod inbox;
pub mod nats_config;
pub mod outbox;
pub mod permissions;
pub mod publish;
pub mod rpc;
pub mod streams;
pub mod subjects;
pub mod ticket_numbers;
pub mod trace;

pub use envelope::Envelope;
pub use permissions::Service;
pub use subjects::Subjects;

/// A connection to the bus: core NATS for request/reply, JetStream for streams.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub subjects: Subjects,
}

impl Bus {
    /// Connects without credentials (an open NATS: the dev/test server) and names the
    /// connection after the service so that `nats-server`'s monitoring shows who is who.
    pub async fn connect(url: &str, namespace: &str, service: &str) -> anyhow::Result<Bus> {
        Bus::connect_options(url, namespace, service, async_nats::ConnectOptions::new()).await
    }

    /// Connects as `service`'s NATS user with the credentials of the `[nats]` settings (none
    /// configured: as [`Bus::connect`]). Secrets are read first, so a missing or malformed one
    /// fails here, before the service binds a port; they are never logged.
    pub async fn connect_with(
        nats: &hotline_config::Nats,
        namespace: &str,
        service: &str,
    ) -> anyhow::Result<Bus> {
        use anyhow::Context as _;
        use hotline_config::NatsAuth;
        let auth = nats
            .auth(service)
            .with_context(|| format!("NATS credentials of {service}"))?;
        let options = match auth {
            NatsAuth::None => async_nats::ConnectOptions::new(),
            NatsAuth::UserPassword { user, password } => {
                async_nats::ConnectOptions::with_user_and_password(
                    user,
                    password.expose().to_owned(),
                )
            }
            NatsAuth::NKey { seed } => {
                async_nats::ConnectOptions::with_nkey(seed.expose().to_owned())
            }
            NatsAuth::CredentialsFile(path) => {
                async_nats::ConnectOptions::with_credentials_file(&path)
                    .await
                    .with_context(|| format!("reading NATS credentials {}", path.display()))?
            }
        };
        Bus::connect_options(&nats.url, namespace, service, options).await
    }

    async fn connect_options(
        url: &str,
        namespace: &str,
        service: &str,
        options: async_nats::ConnectOptions,
    ) -> anyhow::Result<Bus> {
        use anyhow::Context as _;
        let name = service.to_owned();
        let client = options
            .name(format!("hotline-{service}"))
            // Replies come to `_INBOX.<service>.>`, the only inbox its NATS user may read.
            .custom_inbox_prefix(permissions::inbox_prefix(service))
            .event_callback(move |event| {
                let service = name.clone();
                async move { log_event(&service, event) }
            })
            .retry_on_initial_connect()
            .connection_timeout(std::time::Duration::from_secs(5))
            .connect(server_addrs(url))
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

/// `nats.url` as the servers to connect to: a cluster's URLs are comma-separated
/// (`nats://a:4222,nats://b:4222`, as the NATS CLI and `NATS_URL` take them), and async-nats
/// parses a single string as one URL. The client fails over between the entries (and the
/// servers the cluster announces), so losing one node does not lose the connection.
pub fn server_addrs(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A refused login or a permission violation is a deployment error: say so loudly. (The
/// server's text names the subject, never a payload.)
fn log_event(service: &str, event: async_nats::Event) {
    use async_nats::{Event, ServerError};
    match event {
        Event::ServerError(ServerError::AuthorizationViolation) => tracing::error!(
            service,
            "NATS refused the credentials (authorization violation): check [nats] settings"
        ),
        Event::ServerError(e) => tracing::error!(service, error = %e, "NATS server error"),
        Event::ClientError(e) => tracing::warn!(service, error = %e, "NATS client error"),
        Event::Disconnected => tracing::warn!(service, "NATS disconnected; reconnecting"),
        Event::Connected => tracing::info!(service, "NATS connected"),
        other => tracing::debug!(service, event = %other, "NATS event"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_clusters_comma_separated_urls_are_one_server_each() {
        assert_eq!(
            super::server_addrs(
                "nats://127.0.0.1:4231, nats://127.0.0.1:4232,nats://127.0.0.1:4233"
            ),
            [
                "nats://127.0.0.1:4231",
                "nats://127.0.0.1:4232",
                "nats://127.0.0.1:4233"
            ]
        );
        assert_eq!(
            super::server_addrs("nats://127.0.0.1:4222"),
            ["nats://127.0.0.1:4222"]
        );
        for url in super::server_addrs("nats://a:1,tls://b:2") {
            assert!(url.parse::<async_nats::ServerAddr>().is_ok(), "{url}");
        }
    }
}
