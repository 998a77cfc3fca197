//! The mobile app's API (`hotline app`, HTTP on `app.port`, 8087 in the local run): citizen
//! accounts by phone number and a one-time SMS code, short access tokens and rotating refresh
//! tokens, tickets with photos and GPS through the same create path as Open311 and the web page
//! (channel `app`), the citizen's own tickets and their public timeline, the callback survey,
//! device tokens for push. The contract is `openapi.json` (OpenAPI 3.1), served at
//! `/openapi.json`.
//!
//! Map, from the edge inwards:
//! - [`http`]: the router and handlers, the bearer check, request bodies parsed into types.
//! - [`tickets`]: submission (multipart: a JSON part and up to 3 photos, checked by
//!   `web::photo`), listing, the timeline, the survey.
//! - [`codes`]: one-time codes and the per-number and per-client limits, in Redis (hashed keys).
//! - [`tokens`]: ES256 access tokens (`aud` `hotline-app`, `sub` the citizen's id) and opaque
//!   refresh tokens.
//! - [`accounts`]: Postgres schema `app`: citizens, sessions, refresh tokens (digests only),
//!   devices, the signing key.
//! - [`error`]: what is refused and the one mapping to HTTP statuses.
//!
//! The codes go out through `crate::sms::provider` (template `OneTimeCode`). Push sending
//! belongs to a notify stream that is not built yet: device tokens are stored, nothing is sent.
//!
//! The API runs as its own process but is intake, as email and WeChat are: it connects to NATS
//! as the `intake` user, sends Create commands on intake's subject as a citizen on the app
//! channel, takes numbers from the same bucket and shares intake's Redis idempotency.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod codes;
pub mod error;
pub mod http;
pub mod tickets;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use hotline_config::Settings;
use hotline_domain::PhoneNumber;
use hotline_runtime::Service;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::routes::AppState;
use crate::sms::{SmsError, SmsProvider, Template};
use crate::web::photo::PhotoStore;
use accounts::Accounts;
use codes::{CodeLimits, CodeSender, Codes, SendError};
use tokens::Signer;

pub use accounts::migrate;

/// Multipart submissions read at once: each may hold `web::form::UPLOAD_LIMIT` in memory.
const UPLOADS_AT_ONCE: usize = 8;

/// The `[app]` settings, resolved once at start.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub issuer: String,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
    pub codes: CodeLimits,
    pub push: bool,
}

impl AppConfig {
    pub fn from_settings(settings: &Settings) -> AppConfig {
        let a = &settings.app;
        AppConfig {
            issuer: a.issuer.clone(),
            access_lifetime: Duration::from_secs(a.access_token_secs),
            refresh_lifetime: Duration::from_secs(a.refresh_token_days * 24 * 60 * 60),
            codes: CodeLimits {
                ttl: Duration::from_secs(a.code_ttl_secs),
                max_tries: a.code_max_tries,
                per_phone: a.codes_per_phone,
                per_client: a.codes_per_client,
                window: Duration::from_secs(a.code_window_secs),
            },
            push: a.push_endpoint.is_some(),
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct App(Arc<Parts>);

pub struct Parts {
    /// Intake's ledger, catalogue, numbers and idempotency: the create path Open311 uses.
    pub intake: AppState,
    pub config: AppConfig,
    pub accounts: Accounts,
    pub signer: Signer,
    pub codes: Codes,
    /// `None`: no SMS gateway is configured, and no code can be sent (503).
    pub sender: Option<Arc<dyn CodeSender>>,
    pub photos: PhotoStore,
    pub uploads: Arc<Semaphore>,
}

impl App {
    pub fn new(parts: Parts) -> App {
        App(Arc::new(parts))
    }

    pub fn parts(&self) -> &Parts {
        &self.0
    }
}

/// The SMS provider sends the codes, in the `OneTimeCode` template.
pub struct SmsCodes {
    provider: SmsProvider,
    minutes: String,
}

impl SmsCodes {
    pub fn new(provider: SmsProvider, ttl: Duration) -> SmsCodes {
        SmsCodes {
            provider,
            minutes: (ttl.as_secs() / 60).max(1).to_string(),
        }
    }
}

impl CodeSender for SmsCodes {
    fn send<'a>(
        &'a self,
        phone: &'a PhoneNumber,
        code: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let params = [("code", code), ("minutes", self.minutes.as_str())];
            match self
                .provider
                .send(phone, Template::OneTimeCode, &params)
                .await
            {
                Ok(_) => Ok(()),
                Err(SmsError::RateLimited) => Err(SendError::RateLimited),
                Err(SmsError::Stopped | SmsError::Refused(_)) => Err(SendError::Refused),
                Err(SmsError::Provider(cause)) => Err(SendError::Unavailable(cause)),
            }
        })
    }
}

/// The code sender for `settings`: none when no SMS gateway is configured (the local demo).
pub fn code_sender(settings: &Settings) -> anyhow::Result<Option<Arc<dyn CodeSender>>> {
    if settings.sms.provider_url.is_none() {
        tracing::info!("sms.provider_url is not set: the app cannot send sign-in codes");
        return Ok(None);
    }
    let provider = SmsProvider::new(&settings.sms).context("the SMS provider for the app")?;
    Ok(Some(Arc::new(SmsCodes::new(
        provider,
        Duration::from_secs(settings.app.code_ttl_secs),
    ))))
}

/// Runs the API on `listen.host:app.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.app.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = AppConfig::from_settings(&settings);
    let sender = code_sender(&settings)?;
    // Intake's NATS user: the ledger takes a citizen's Create only from intake.
    let mut service = Service::start("intake", &settings, shutdown).await?;
    let pool = service.postgres_unmigrated(&settings).await?;
    migrate(&pool).await?;
    // The photos go where the web page's go.
    crate::web::migrate(&pool).await?;
    if sender.is_some() {
        // The provider checks the STOP list (schema `sms`) before every code.
        crate::sms::migrate(&pool).await?;
    }
    let (intake, catalogue) =
        crate::state(&settings, service.bus().clone(), service.readiness()).await?;
    let refresher =
        catalogue.spawn_refresher(crate::catalogue::REFRESH_EVERY, service.stop_token());
    service.spawn("catalogue-refresher", async move {
        refresher.await.context("the catalogue refresher")
    });
    let signer = Signer::load(&pool, &config.issuer, config.access_lifetime).await?;
    let app = App::new(Parts {
        intake,
        accounts: Accounts::new(pool.clone(), config.refresh_lifetime),
        codes: Codes::new(&settings.redis.url, &settings.namespace, config.codes)?,
        signer,
        sender,
        photos: PhotoStore::new(pool),
        uploads: Arc::new(Semaphore::new(UPLOADS_AT_ONCE)),
        config,
    });
    service.serve_http("http", listener, http::router(app));
    service.run().await
}
