//! The WeChat official-account channel (微信公众号): WeChat's servers push a follower's
//! messages to `POST /wechat`, and our passive reply carries the ticket number.
//!
//! Map:
//! - [`crypto`]: both signatures and safe mode's AES-256-CBC.
//! - [`message`]: the XML in and out.
//! - [`handler`]: the routes; from a message to a ticket, a progress answer or a welcome.
//! - [`conversation`]: a follower's messages within the window as one contact (Redis).
//! - [`outbound`]: WeChat's HTTP API (access token, customer-service messages).
//!
//! The channel runs as its own process (`hotline wechat`) but is intake: it connects to NATS
//! as the `intake` user, sends Create commands on intake's subject as a citizen actor on the
//! WeChat channel, takes numbers from the same bucket and shares intake's Redis idempotency.
#![forbid(unsafe_code)]

pub mod conversation;
pub mod crypto;
pub mod handler;
pub mod message;
pub mod outbound;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::FixedOffset;
use hotline_bus::ticket_numbers::TicketNumbers;
use hotline_config::Settings;
use hotline_runtime::Service;
use hotline_telemetry::Readiness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::idempotency::{IdempotencyCache, RedisCache};
use crate::upstream::{BusUpstream, Ledger, NumberIssuer};
use conversation::{Conversations, RedisConversations};
use crypto::Cipher;
use outbound::Outbound;

pub use handler::router;

/// The demo account's credentials (README lists them).
pub const DEMO_TOKEN: &str = "demo-wechat-token";
pub const DEMO_APP_ID: &str = "wx5f6e7d8c9b0a1234";
pub const DEMO_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// WeChat waits 5 s for a passive reply; past this we answer `success` and send the number
/// as a customer-service message when the ledger has answered.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(4);

/// The `[wechat]` settings, resolved once at start.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    pub token: String,
    pub app_id: String,
    /// Safe mode; `None`: plaintext mode only.
    pub cipher: Option<Cipher>,
    pub timestamp_window_secs: i64,
    pub namespace: String,
    pub max_description_chars: usize,
    pub utc_offset: FixedOffset,
    /// `None`: every message is its own contact (`wechat.conversation_window_secs = 0`).
    pub conversation_window: Option<Duration>,
}

impl WechatConfig {
    /// The settings' account, or the demo account where the settings leave it unset and
    /// `demo` is on. Without a token the channel cannot check anything and refuses to start.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<WechatConfig> {
        let w = &settings.wechat;
        let demo = settings.demo;
        let token = match (&w.token, demo) {
            (Some(t), _) => t.expose().to_owned(),
            (None, true) => DEMO_TOKEN.to_owned(),
            (None, false) => bail!("wechat.token is not set (or run with --demo)"),
        };
        let app_id = match (w.app_id.is_empty(), demo) {
            (false, _) => w.app_id.clone(),
            (true, true) => DEMO_APP_ID.to_owned(),
            (true, false) => bail!("wechat.app_id is not set (or run with --demo)"),
        };
        let key = match (&w.encoding_aes_key, demo) {
            (Some(k), _) => Some(k.expose().to_owned()),
            (None, true) => Some(DEMO_AES_KEY.to_owned()),
            (None, false) => None,
        };
        let cipher = key
            .map(|k| Cipher::new(&k, &app_id))
            .transpose()
            .context("wechat.encoding_aes_key")?;
        Ok(WechatConfig {
            token,
            app_id,
            cipher,
            timestamp_window_secs: i64::try_from(w.timestamp_window_secs).unwrap_or(i64::MAX),
            namespace: settings.namespace.clone(),
            max_description_chars: settings.intake.max_description_chars,
            utc_offset: settings.utc_offset(),
            conversation_window: (w.conversation_window_secs > 0)
                .then(|| Duration::from_secs(w.conversation_window_secs)),
        })
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct WechatState(pub(crate) Arc<Parts>);

/// Everything the channel talks to.
pub struct Parts {
    pub config: WechatConfig,
    pub ledger: Arc<dyn Ledger>,
    pub numbers: Arc<dyn NumberIssuer>,
    /// `None`: the ledger alone makes repeats idempotent.
    pub idempotency: Option<Arc<dyn IdempotencyCache>>,
    /// `None`: no grouping of a follower's messages (each makes its own ticket). Grouping
    /// also needs `idempotency`, which tells a repeat from a new message.
    pub conversations: Option<Arc<dyn Conversations>>,
    /// `None`: no app secret, so no customer-service messages.
    pub outbound: Option<Arc<Outbound>>,
    /// How long a message waits for the ledger before the reply is `success`.
    pub answer_within: Duration,
    pub readiness: Readiness,
}

impl WechatState {
    pub fn new(parts: Parts) -> WechatState {
        WechatState(Arc::new(parts))
    }
}

/// Runs the channel on `listen.host:wechat.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.wechat.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = WechatConfig::from_settings(&settings)?;
    let mut service = Service::start("intake", &settings, shutdown).await?;
    let bus = service.bus().clone();
    let numbers = TicketNumbers::new(&bus, settings.utc_offset())
        .await
        .context("opening the ticket-number bucket")?;
    let outbound = match &settings.wechat.app_secret {
        Some(secret) => Some(Arc::new(Outbound::new(
            &settings.wechat.api_base_url,
            &config.app_id,
            Some(secret.clone()),
        )?)),
        None => None,
    };
    let state = WechatState::new(Parts {
        config,
        ledger: Arc::new(BusUpstream::new(bus)),
        numbers: Arc::new(numbers),
        idempotency: Some(Arc::new(RedisCache::new(&settings.redis.url)?)),
        conversations: Some(Arc::new(RedisConversations::new(&settings.redis.url)?)),
        outbound,
        answer_within: ANSWER_WITHIN,
        readiness: service.readiness(),
    });
    service.serve_http("http", listener, router(state));
    service.run().await
}
