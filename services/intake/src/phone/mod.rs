//! The phone channel (`hotline phone`, port 8084): the call platform reports calls as CTI
//! events, agents turn calls into tickets while they talk, supervisors read the figures.
//!
//! It shares intake's path to the ledger ([`crate::upstream`]: ticket numbers, the Create
//! command sent as a citizen on the phone channel from intake's NATS user) and keeps its calls
//! in Postgres, schema `phone`.
//!
//! Map:
//! - [`cti`]: the generic CTI webhook form (Zammad's) parsed into a checked event; the token
//!   compare.
//! - [`store`]: calls, one application per (call id, event), the missed-call list, figures,
//!   the held tickets' rows.
//! - [`hold`]: tickets made during a call are held from dispatch (暂缓派单) until the agent
//!   finishes, or the sweeper (every replica) releases them `phone.wrap_up_secs` after the
//!   hang-up.
//! - [`http`]: the webhook and the agents' routes.
//! - [`metrics`]: Prometheus counters.

pub mod cti;
pub mod hold;
pub mod http;
pub mod metrics;
pub mod store;

use std::sync::Arc;

use anyhow::Context as _;
use hotline_bus::Bus;
use hotline_bus::ticket_numbers::TicketNumbers;
use hotline_config::{Secret, Settings};
use hotline_runtime::Service;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use http::{PhoneState, router};
pub use store::CallStore;

use crate::upstream::BusUpstream;

/// The token of the local demo's call platform.
pub const DEMO_CTI_TOKEN: &str = "demo-cti-token";

/// The configured CTI token, or the demo's in a demo run; none is an error: an open webhook
/// would let anyone invent calls.
pub fn cti_token(settings: &Settings) -> anyhow::Result<Secret> {
    match (&settings.phone.cti_token, settings.demo) {
        (Some(token), _) => Ok(token.clone()),
        (None, true) => Ok(Secret::new(DEMO_CTI_TOKEN)),
        (None, false) => anyhow::bail!(
            "phone.cti_token is not set (HOTLINE__PHONE__CTI_TOKEN); the phone channel will not \
             take CTI events without one"
        ),
    }
}

/// Runs the migrations of schema `phone` on `pool` (idempotent).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations/phone"), store::SCHEMA).await
}

/// The state over `bus` and `pool`.
pub async fn state(settings: &Settings, bus: Bus, pool: PgPool) -> anyhow::Result<PhoneState> {
    let numbers = TicketNumbers::new(&bus, settings.utc_offset())
        .await
        .context("opening the ticket-number bucket")?;
    Ok(PhoneState {
        store: CallStore::new(pool),
        ledger: Arc::new(BusUpstream::new(bus)),
        numbers: Arc::new(numbers),
        verifier: hotline_auth::Verifier::from_settings(settings)?,
        cti_token: cti_token(settings)?,
        answer_target_secs: settings.phone.answer_target_secs,
    })
}

/// Runs the phone channel on `listen.host:phone.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.phone.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Refuse to start without a token before connecting anywhere.
    cti_token(&settings)?;
    // Intake's NATS user: the ledger takes a citizen's Create only from intake.
    let mut service = Service::start("intake", &settings, shutdown).await?;
    let pool = service.postgres_unmigrated(&settings).await?;
    migrate(&pool).await?;
    let state = state(&settings, service.bus().clone(), pool).await?;
    service.spawn(
        "hold-sweeper",
        hold::run_sweeper(
            state.store.clone(),
            state.ledger.clone(),
            std::time::Duration::from_secs(settings.phone.wrap_up_secs),
            service.stop_token(),
        ),
    );
    service.serve_http("http", listener, router(state));
    service.run().await
}
