//! The email channel (`hotline email`): an SMTP server (RFC 5321) for mail to the hotline's
//! address (`email.mailbox@email.domain`, 12345@hotline.local in the local run, port 2525).
//! Each message becomes one ticket, and the number goes back in an auto-reply through the
//! configured relay; a reply carrying the number adds to that ticket.
//!
//! Map, from the wire inwards:
//! - [`server`]: the listener: connection limit, line reading with a length limit, idle and
//!   connection deadlines (421), shutdown.
//! - [`smtp`]: the protocol as a state machine without I/O: commands, replies, extensions
//!   (SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES), recipients, DATA with
//!   dot-unstuffing and the size limit (552).
//! - [`address`]: mailbox addresses, parsed and normalised (domain lower case).
//! - [`mime`]: the message: charsets (GBK, GB18030, GB2312, UTF-8), encoded words,
//!   quoted-printable/base64, multipart, attachments and their limits, the text rule.
//! - [`loops`]: which mail opens no ticket (bounces, auto-replies, our own) and which gets no
//!   auto-reply (RFC 3834).
//! - [`handler`]: from a message to a ticket or a supplement (补充材料), idempotent by
//!   Message-ID; the final SMTP reply.
//! - [`store`]: Postgres schema `email`: messages and attachments (`bytea`).
//! - [`reply`]: auto-replies through the relay (lettre).
//! - [`http`]: the HTTP port: health, readiness, metrics, attachment downloads for staff.
//! - [`metrics`]: Prometheus counters.
//!
//! The channel runs as its own process but is intake, as WeChat is: it connects to NATS as the
//! `intake` user, sends Create commands on intake's subject as a citizen on the email channel,
//! takes numbers from the same bucket and shares intake's Redis idempotency.
#![forbid(unsafe_code)]

pub mod address;
pub mod handler;
pub mod http;
pub mod loops;
pub mod metrics;
pub mod mime;
pub mod reply;
pub mod server;
pub mod smtp;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hotline_bus::ticket_numbers::TicketNumbers;
use hotline_config::Settings;
use hotline_runtime::Service;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::idempotency::RedisCache;
use crate::upstream::BusUpstream;
use address::Address;
use handler::{Handler, Intake};
use mime::MimeLimits;
use reply::Relay;
use server::ServerConfig;
use smtp::{Identity, Limits};
use store::Store;

/// How long a message waits for the ledger before the answer is 451 (sending servers wait
/// 10 minutes for the reply to the end of DATA, RFC 5321 §4.5.3.2.6).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The `[email]` settings, resolved once at start.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub server: Arc<ServerConfig>,
    pub intake: Intake,
    /// The auto-replies' From (`email.from_address`, else the mailbox).
    pub from: Address,
    pub relay: Option<(String, u16)>,
}

impl EmailConfig {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<EmailConfig> {
        let e = &settings.email;
        let own = Address::from_parts(&e.mailbox, &e.domain).context("email.mailbox@domain")?;
        let from = if e.from_address.is_empty() {
            own.clone()
        } else {
            Address::parse(&e.from_address).context("email.from_address")?
        };
        let server = ServerConfig {
            identity: Arc::new(Identity {
                hostname: e.domain.clone(),
                mailbox: e.mailbox.clone(),
                domain: e.domain.to_lowercase(),
            }),
            limits: Limits {
                max_message_bytes: e.max_message_bytes,
                max_recipients: e.max_recipients,
                max_line_bytes: e.max_line_bytes,
            },
            max_connections: e.max_connections,
            idle_timeout: Duration::from_secs(e.idle_timeout_secs),
            connection_timeout: Duration::from_secs(e.connection_timeout_secs),
        };
        Ok(EmailConfig {
            server: Arc::new(server),
            intake: Intake {
                own,
                mime: MimeLimits {
                    max_attachments: e.max_attachments,
                    max_attachment_bytes: e.max_attachment_bytes,
                    attachment_types: e
                        .attachment_types
                        .iter()
                        .map(|t| t.to_ascii_lowercase())
                        .collect(),
                },
                namespace: settings.namespace.clone(),
                max_description_chars: settings.intake.max_description_chars,
                answer_within: ANSWER_WITHIN,
            },
            from,
            relay: e.relay_host.clone().map(|host| (host, e.relay_port)),
        })
    }
}

/// Runs the migrations of schema `email` on `pool` (idempotent).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations/email"), store::SCHEMA).await
}

/// Runs the channel: SMTP on `listen.host:email.port`, HTTP on `email.http_port`, until
/// `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Checked before any port is bound.
    EmailConfig::from_settings(&settings)?;
    let smtp = hotline_telemetry::bind(&settings.listen.host, settings.email.port).await?;
    let http = hotline_telemetry::bind(&settings.listen.host, settings.email.http_port).await?;
    run_with_listeners(settings, smtp, http, shutdown).await
}

/// [`run`] on listeners the caller bound (tests bind port 0).
pub async fn run_with_listeners(
    settings: Settings,
    smtp: TcpListener,
    http: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = EmailConfig::from_settings(&settings)?;
    let relay = match &config.relay {
        Some((host, port)) => Some(Arc::new(Relay::new(
            host,
            *port,
            &config.from,
            &settings.email.domain,
        )?)),
        None => {
            tracing::info!("email.relay_host is not set: no auto-replies will be sent");
            None
        }
    };
    let verifier = hotline_auth::Verifier::from_settings(&settings)?;
    // Intake's NATS user: the ledger takes a citizen's Create only from intake.
    let mut service = Service::start("intake", &settings, shutdown).await?;
    let pool = service.postgres_unmigrated(&settings).await?;
    migrate(&pool).await?;
    let store = Store::new(pool);
    let bus = service.bus().clone();
    let numbers = TicketNumbers::new(&bus, settings.utc_offset())
        .await
        .context("opening the ticket-number bucket")?;
    let handler = Handler {
        intake: config.intake.clone(),
        ledger: Arc::new(BusUpstream::new(bus)),
        numbers: Arc::new(numbers),
        idempotency: Some(Arc::new(RedisCache::new(&settings.redis.url)?)),
        store: store.clone(),
        relay,
    };
    let stop = service.stop_token();
    service.spawn(
        "smtp",
        server::serve(smtp, config.server.clone(), Arc::new(handler), stop),
    );
    service.serve_http(
        "http",
        http,
        http::router(http::HttpState { store, verifier }),
    );
    service.run().await
}
