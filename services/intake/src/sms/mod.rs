//! The SMS channel (短信): the city's SMS gateway posts each inbound SMS to
//! `POST /sms/inbound`, and every outbound SMS of the platform goes through [`provider`].
//!
//! Map:
//! - [`inbound`]: `POST /sms/inbound`, from a citizen's SMS to a ticket, STOP/START or a
//!   progress answer.
//! - [`provider`]: the outbound client ([`SmsProvider::send`]), its wire format, STOP and
//!   limits checked first. The mobile app's one-time codes use it too.
//! - [`sign`]: HMAC-SHA256 signatures (both directions) and the keyed hash of a number.
//! - [`stop`]: the STOP list in Postgres (schema `sms`, hashes only).
//! - [`limits`]: per-number limits in Redis (hashes only).
//! - [`metrics`].
//!
//! The channel runs as its own process (`hotline sms`) but is intake: it connects to NATS as
//! the `intake` user, sends Create commands on intake's subject as a citizen actor on the SMS
//! channel, takes numbers from the same bucket and shares intake's Redis idempotency.
#![forbid(unsafe_code)]

pub mod inbound;
pub mod limits;
pub mod metrics;
pub mod provider;
pub mod sign;
pub mod stop;

use std::sync::Arc;

use anyhow::{Context as _, bail};
use hotline_bus::ticket_numbers::TicketNumbers;
use hotline_config::Settings;
use hotline_runtime::Service;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::idempotency::{IdempotencyCache, RedisCache};
use crate::upstream::{BusUpstream, Ledger, NumberIssuer};

pub use provider::{Sent, SmsError, SmsProvider, Template};

/// Schema `sms` (the STOP list); run by `hotline setup` and by the channel at start.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations/sms"), stop::SCHEMA).await
}

/// The `[sms]` settings the inbound side needs, resolved once at start.
#[derive(Clone)]
pub struct SmsConfig {
    pub inbound_secret: String,
    pub timestamp_window_secs: i64,
    pub namespace: String,
    pub max_description_chars: usize,
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("inbound_secret", &"***")
            .field("timestamp_window_secs", &self.timestamp_window_secs)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl SmsConfig {
    /// Refuses to start without a gateway or without the callbacks' secret: the demo has
    /// neither (no SMS gateway runs locally), so `hotline sms` needs them configured.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<SmsConfig> {
        let s = &settings.sms;
        if s.provider_url.is_none() {
            bail!("sms.provider_url is not set: the SMS channel needs a gateway");
        }
        let Some(secret) = &s.inbound_secret else {
            bail!("sms.inbound_secret is not set: the gateway's callbacks cannot be checked");
        };
        Ok(SmsConfig {
            inbound_secret: secret.expose().to_owned(),
            timestamp_window_secs: i64::try_from(s.timestamp_window_secs).unwrap_or(i64::MAX),
            namespace: settings.namespace.clone(),
            max_description_chars: settings.intake.max_description_chars,
        })
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct SmsState(pub(crate) Arc<Parts>);

/// Everything the channel talks to.
pub struct Parts {
    pub config: SmsConfig,
    pub ledger: Arc<dyn Ledger>,
    pub numbers: Arc<dyn NumberIssuer>,
    /// `None`: the ledger alone makes repeats idempotent.
    pub idempotency: Option<Arc<dyn IdempotencyCache>>,
    pub provider: Arc<SmsProvider>,
}

impl SmsState {
    pub fn new(parts: Parts) -> SmsState {
        SmsState(Arc::new(parts))
    }
}

/// Runs the channel on `listen.host:sms.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Checked before the port is bound.
    SmsConfig::from_settings(&settings)?;
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.sms.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = SmsConfig::from_settings(&settings)?;
    let provider = Arc::new(SmsProvider::new(&settings.sms)?);
    let mut service = Service::start("intake", &settings, shutdown).await?;
    let pool = service.postgres_unmigrated(&settings).await?;
    migrate(&pool).await?;
    let bus = service.bus().clone();
    let numbers = TicketNumbers::new(&bus, settings.utc_offset())
        .await
        .context("opening the ticket-number bucket")?;
    let state = SmsState::new(Parts {
        config,
        ledger: Arc::new(BusUpstream::new(bus)),
        numbers: Arc::new(numbers),
        idempotency: Some(Arc::new(RedisCache::new(&settings.redis.url)?)),
        provider,
    });
    service.serve_http("http", listener, inbound::router(state));
    service.run().await
}
