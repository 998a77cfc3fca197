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
#![forbid(unsafe_code)]

pub mod catalogue;
pub mod config;
pub mod error;
pub mod form;
pub mod format;
pub mod idempotency;
pub mod metrics;
pub mod present;
pub mod query;
pub mod routes;
pub mod submission;
pub mod upstream;
pub mod wire;

#[cfg(test)]
mod testing;

use std::sync::Arc;

use anyhow::Context as _;
use hotline_bus::Bus;
use hotline_bus::streams::{self, StreamOptions};
use hotline_bus::ticket_numbers::TicketNumbers;
use hotline_config::Settings;
use hotline_telemetry::Readiness;
use tokio_util::sync::CancellationToken;

pub use config::IntakeConfig;
pub use routes::{AppState, Parts, router};

use catalogue::Catalogue;
use idempotency::RedisCache;
use upstream::BusUpstream;

/// Connects to NATS and Redis and starts the catalogue refresher (stopped by `shutdown`).
/// The state is not ready until the caller serves it.
pub async fn connect(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<AppState> {
    let bus = Bus::connect(&settings.nats.url, &settings.namespace, "intake").await?;
    streams::ensure(
        &bus,
        StreamOptions {
            replicas: settings.nats.stream_replicas,
        },
    )
    .await
    .context("ensuring the JetStream streams")?;
    let numbers = TicketNumbers::new(&bus, settings.utc_offset())
        .await
        .context("opening the ticket-number bucket")?;
    let upstream = Arc::new(BusUpstream::new(bus));
    let catalogue = Arc::new(Catalogue::new(upstream.clone()));
    catalogue
        .clone()
        .spawn_refresher(catalogue::REFRESH_EVERY, shutdown);
    let idempotency = RedisCache::new(&settings.redis.url)?;
    Ok(AppState::new(Parts {
        config: IntakeConfig::from_settings(settings),
        ledger: upstream,
        catalogue,
        numbers: Arc::new(numbers),
        idempotency: Some(Arc::new(idempotency)),
        readiness: Readiness::default(),
    }))
}

/// Serves `state` on `listener` until `shutdown`, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let readiness = state.readiness().clone();
    let app = router(state);
    readiness.set(true);
    let stopping = shutdown.clone();
    let unready = async move {
        stopping.cancelled().await;
        // Out of the load balancer first, then drain.
        readiness.set(false);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(unready)
        .await
        .context("serving HTTP")
}

/// Runs the web channel on `listen.host:intake.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Background tasks stop with the server, also when it fails.
    let background = shutdown.child_token();
    let state = connect(&settings, background.clone()).await?;
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.intake.port).await?;
    tracing::info!(
        host = %settings.listen.host,
        port = settings.intake.port,
        "intake (Open311) listening"
    );
    let result = serve(listener, state, shutdown).await;
    background.cancel();
    tracing::info!("intake stopped");
    result
}
