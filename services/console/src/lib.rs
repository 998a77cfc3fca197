//! The web console (`hotline console`, port 8089): the centre's and the departments' people
//! sign in once and work in the browser. A backend-for-frontend: pages are rendered here as
//! plain HTML (htmx enhances them; every form works without it), and every read and step goes
//! to the owning service's HTTP API with the signed-in person's own bearer token, so the
//! services keep enforcing docs/roles.md and recording the person as the actor.
//!
//! Map, each module importing only those above it:
//! - [`i18n`]: every word of the UI, once per language (Chinese by default, English).
//! - [`html`]: HTML built as strings, escaped at one door.
//! - [`assets`]: htmx and the stylesheet, embedded, checksummed, served immutable.
//! - [`session`]: server-side sessions (Redis; memory in tests), idle and absolute expiry, the
//!   CSRF token, the sign-in's pending state.
//! - [`oidc`]: the OpenID Connect client: discovery, authorization code + PKCE, refresh.
//! - [`upstream`]: the services' APIs called with the person's token; their refusals typed.
//! - [`figures`]: the supervisor's counts kept a short while, read again behind the page.
//! - [`error`]: what can fail and its HTTP status, in one place.
//! - [`web`]: the router: security headers, language, the signed-in extractor and the CSRF
//!   check ([`web::guard`]), sign-in ([`web::auth`]), the home page, the department portal
//!   ([`web::dept`]), the dispatcher's screens ([`web::dispatch`]) and the agent desk
//!   ([`web::agent`]: live calls pushed as server-sent events); [`web::pages`] lays out.
//!
//! The console keeps no data of its own beyond sessions and, for a few seconds, the supervisor's
//! counts: it has no database and no NATS user.
#![forbid(unsafe_code)]

pub mod assets;
pub mod error;
pub mod figures;
pub mod html;
pub mod i18n;
pub mod oidc;
pub mod pdf;
pub mod report;
pub mod session;
pub mod upstream;
pub mod web;

use std::sync::Arc;

use anyhow::Context as _;
use hotline_config::Settings;
use hotline_runtime::Supervisor;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use web::Console;

/// Runs the console on `listen.host:console.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.console.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound.
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = session::Store::redis(&settings.redis.url, &settings.namespace)
        .context("the console's session store")?;
    let console = Console::new(&settings, store).context("the console")?;
    let addr = listener.local_addr().ok();
    let mut supervisor = Supervisor::new("console", &shutdown);
    let stop = supervisor.stop_token();
    // Ready while Redis answers: without sessions nobody can sign in or stay signed in.
    let redis = hotline_runtime::Readiness::default();
    {
        let redis = redis.clone();
        supervisor.ready_when("redis", move || redis.is_ready());
    }
    let app = hotline_runtime::http::traced(
        web::router(console.clone())
            .merge(hotline_runtime::http::ops_routes(supervisor.readiness())),
    );
    supervisor.spawn(
        "http",
        hotline_runtime::http::serve(listener, app, stop.clone()),
    );
    // The agent desk's live feeds end with the console, so the graceful shutdown does not wait
    // on them.
    {
        let streams = console.parts().streams.clone();
        let stop = stop.clone();
        supervisor.spawn("feeds", async move {
            stop.cancelled().await;
            streams.cancel();
            Ok(())
        });
    }
    let sessions = Arc::clone(console.sessions());
    supervisor.spawn("redis-probe", async move {
        loop {
            redis.set(sessions.ping().await.is_ok());
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            }
        }
    });
    tracing::info!(
        addr = ?addr,
        public_url = %settings.console_public_url(),
        "console listening"
    );
    supervisor.run().await
}
