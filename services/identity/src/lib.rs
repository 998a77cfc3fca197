//! The platform's own small OpenID Connect issuer (local run: http://127.0.0.1:8079).
//!
//! People sign in here; every people's API verifies the ES256 access tokens against this
//! issuer's JWKS (shared/auth). Production may point `[auth]` at the city's own provider and
//! not run this service at all.
//!
//! - [`accounts`]: accounts, roles, Argon2id passwords, lockout counted in Postgres.
//! - [`password`]: hashing on the blocking pool; a dummy hash for unknown users.
//! - [`keys`]: P-256 signing keys in Postgres, rotation, the JWKS.
//! - [`grants`]: tokens, single-use PKCE codes, rotating refresh tokens with replay detection.
//! - [`http`]: discovery, JWKS, sign-in page, token, userinfo; [`page`]: the HTML.
//! - [`cli`]: `hotline users` (add, list, disable, enable, unlock, set-password, rotate-key).
//! - [`run`]: the service; schema `identity`.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod cli;
pub mod grants;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod page;
pub mod password;

use std::time::Duration;

use hotline_config::Settings;
use hotline_runtime::{Readiness, Supervisor};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use accounts::{Account, AccountError, Accounts, DEMO_ACCOUNTS, NewAccount, Role};
pub use cli::UsersCommand;
pub use grants::{AccessClaims, Issuer, OAuthError, TokenResponse};

pub const SCHEMA: &str = "identity";

/// Creates the schema and runs the migrations (idempotent; safe with several replicas).
pub async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations"), SCHEMA).await
}

pub async fn connect_db(settings: &Settings) -> anyhow::Result<sqlx::PgPool> {
    hotline_bus::db::connect(&settings.database.url, settings.database.max_connections).await
}

/// Migrations, a first signing key, and (demo only) the demo accounts. Idempotent; `hotline
/// setup` and every start run it.
pub async fn prepare(pool: &sqlx::PgPool, settings: &Settings) -> anyhow::Result<()> {
    migrate(pool).await?;
    let keys = keys::KeyRing::new(pool.clone(), settings.identity.access_token_secs);
    if keys.ensure().await? {
        tracing::info!("identity: first signing key made");
    }
    if settings.demo {
        let added = Accounts::new(pool.clone()).ensure_demo().await?;
        if added > 0 {
            tracing::info!(added, "identity: demo accounts created");
        }
    }
    Ok(())
}

/// Runs the issuer on `listen.host:identity.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.identity.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0 and set `identity.issuer` to
/// match).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = connect_db(&settings).await?;
    prepare(&pool, &settings).await?;
    let issuer = Issuer::new(pool.clone(), settings.identity.clone());
    // The first request should not pay for reading the keys, and the first unknown user not
    // for making the dummy hash (that would tell them apart by timing).
    issuer.keys.load().await?;
    password::verify(String::new(), None).await?;
    let addr = listener.local_addr().ok();
    let mut supervisor = Supervisor::new("identity", &shutdown);
    let stop = supervisor.stop_token();
    // Ready while Postgres answers: every endpoint but /healthz needs it.
    let postgres = Readiness::default();
    postgres.set(true);
    {
        let postgres = postgres.clone();
        supervisor.ready_when("postgres", move || postgres.is_ready());
    }
    let app = hotline_runtime::http::traced(
        http::router(issuer.clone())
            .merge(hotline_runtime::http::ops_routes(supervisor.readiness())),
    );
    supervisor.spawn(
        "http",
        hotline_runtime::http::serve(listener, app, stop.clone()),
    );
    {
        let stop = stop.clone();
        supervisor.spawn("postgres-probe", async move {
            loop {
                postgres.set(sqlx::query("SELECT 1").execute(&pool).await.is_ok());
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        });
    }
    supervisor.spawn("prune", async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            }
            // Best effort: a failed sweep is retried at the next one.
            if let Err(e) = issuer.prune().await {
                tracing::warn!(error = %format!("{e:#}"), "identity: pruning expired grants failed");
            }
        }
    });
    tracing::info!(addr = ?addr, issuer = %settings.identity.issuer, "identity listening");
    supervisor.run().await
}
