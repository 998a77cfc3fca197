//! Intake's web channel: Open311 GeoReport v2 (plus FixMyStreet's `servicerequestupdates`),
//! turning a citizen's POST into a ticket with its number in the same response.
//!
//! Map, from the edge inwards:
//! - [`routes`]: the axum router and handlers; idempotent creation; the ops routes.
//! - [`format`]: JSON/XML by path suffix, the Open311 error document.
//! - [`form`]: strict form decoding (non-UTF-8 is a 400, never a replacement character).
//! - [`wire`]: Open311's shapes, in and out. Wire types stop at [`submission`] and [`present`].
//! - [`submission`]: a POST parsed into a checked [`submission::NewServiceRequest`], which
//!   becomes the ledger's `CreateTicket`.
//! - [`query`]: GET filters parsed into ledger queries (dates, the 90-day span, status).
//! - [`present`]: tickets and catalogue entries as the public may see them.
//! - [`catalogue`]: the dispatch catalogue cached, refreshed every minute, stale when needed.
//! - [`idempotency`]: `Idempotency-Key` through Redis, with the ledger as the backstop.
//! - [`upstream`]: the ledger, the catalogue and ticket numbers behind small traits.
//! - [`error`]: typed rejections and the one mapping to HTTP statuses.
//! - [`metrics`], [`config`].
//! - [`phone`]: the phone channel (`hotline phone`), its own process on its own port.
//! - [`wechat`]: the WeChat official-account channel (`hotline wechat`, its own process).
//! - [`email`]: the email channel (`hotline email`, its own process: SMTP + auto-replies).
//! - [`sms`]: the SMS channel (`hotline sms`, its own process: the gateway's callbacks) and the
//!   outbound SMS client every sender uses.
//! - [`app`]: the mobile app's API (`hotline app`, its own process on its own port): citizen
//!   accounts by phone + SMS code, tokens, tickets with photos and GPS, OpenAPI 3.1.
//! - [`notify`]: notices to citizens (`hotline notify`): reply, progress and survey invitation
//!   on the channel they used, through the notify stream, never twice.
//! - [`web`]: the citizen web page (`/`, `/progress`) on this port: a form whose submission
//!   goes the Open311 POST's way, photos in Postgres (schema `attachments`), progress lookup.
#![forbid(unsafe_code)]

pub mod app;
pub mod catalogue;
pub mod config;
pub mod email;
pub mod error;
pub mod form;
pub mod format;
pub mod idempotency;
pub mod metrics;
pub mod notify;
pub mod phone;
pub mod present;
pub mod query;
pub mod routes;
pub mod sms;
pub mod submission;
pub mod upstream;
pub mod web;
pub mod wechat;
pub mod wire;

#[cfg(test)]
mod testing;

use std::sync::Arc;

use anyhow::Context as _;
use hotline_bus::Bus;
use hotline_bus::streams::{self, StreamOptions};
use hotline_bus::ticket_numbers::TicketNumbers;
use hotline_config::Settings;
use hotline_runtime::{Readiness, Service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::IntakeConfig;
pub use routes::{AppState, Parts, router};

use catalogue::Catalogue;
use idempotency::RedisCache;
use upstream::BusUpstream;

/// Connects to NATS and Redis and starts the catalogue refresher (stopped by `shutdown`), for
/// tests that drive the router directly. The state is not ready: nothing serves it.
pub async fn connect(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<AppState> {
    let bus = Bus::connect_with(&settings.nats, &settings.namespace, "intake").await?;
    streams::ensure(&bus, StreamOptions::from_config(&settings.nats))
        .await
        .context("ensuring the JetStream streams")?;
    let (state, catalogue) = state(settings, bus, Readiness::default()).await?;
    catalogue.spawn_refresher(catalogue::REFRESH_EVERY, shutdown);
    Ok(state)
}

/// The state over `bus`, and the catalogue whose refresher the caller starts.
async fn state(
    settings: &Settings,
    bus: Bus,
    readiness: Readiness,
) -> anyhow::Result<(AppState, Arc<Catalogue>)> {
    let numbers = TicketNumbers::new(&bus, settings.utc_offset())
        .await
        .context("opening the ticket-number bucket")?;
    let upstream = Arc::new(BusUpstream::new(bus));
    let catalogue = Arc::new(Catalogue::new(upstream.clone()));
    let idempotency = RedisCache::new(&settings.redis.url)?;
    let state = AppState::new(Parts {
        config: IntakeConfig::from_settings(settings),
        ledger: upstream,
        catalogue: catalogue.clone(),
        numbers: Arc::new(numbers),
        idempotency: Some(Arc::new(idempotency)),
        limiter: Some(crate::web::guard::Guard::new(
            &settings.redis.url,
            &settings.namespace,
        )?),
        readiness,
    });
    Ok((state, catalogue))
}

/// Runs the web channel on `listen.host:intake.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.intake.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut service = Service::start("intake", &settings, shutdown).await?;
    // The web page's photos (schema `attachments`); Open311 itself keeps nothing here.
    let pool = service.postgres_unmigrated(&settings).await?;
    web::migrate(&pool).await?;
    let (state, catalogue) = state(&settings, service.bus().clone(), service.readiness()).await?;
    let refresher = catalogue.spawn_refresher(catalogue::REFRESH_EVERY, service.stop_token());
    service.spawn("catalogue-refresher", async move {
        refresher.await.context("the catalogue refresher")
    });
    let web = web::Web::new(state.clone(), pool, &settings.redis.url)?;
    // The router mounts the ops routes itself, on the runtime's readiness.
    service.serve_http_as_is("http", listener, routes::router_with_web(state, web));
    service.run().await
}
