//! The ticket ledger: the single writer of ticket state.
//!
//! - [`ledger`]: executes commands in batches (group commit): one transaction applies many
//!   commands, writes their history, their replies for idempotency and their events to the
//!   outbox. The state machine itself is `hotline_domain::Ticket::decide`.
//! - [`store`]: reading tickets back (by number, filters, history, updates).
//! - [`http`]: the agents' and supervisors' HTTP API (port 8081).
//! - [`run`]: wires NATS request/reply, the outbox relay, HTTP, and shutdown.
#![forbid(unsafe_code)]

pub mod http;
pub mod ledger;
pub mod store;

use std::sync::Arc;

use anyhow::Context as _;
use hotline_bus::Bus;
use hotline_bus::rpc::{self, RemoteError};
use hotline_config::Settings;
use hotline_domain::Directory;
use hotline_domain::contract::{GetTicket, TicketCommand, TicketQuery, UpdatesQuery};
use tokio_util::sync::CancellationToken;

pub const SCHEMA: &str = "tickets";

/// Creates the schema and runs the migrations (idempotent; safe with several replicas).
pub async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations"), SCHEMA).await
}

pub async fn connect_db(settings: &Settings) -> anyhow::Result<sqlx::PgPool> {
    hotline_bus::db::connect(&settings.database.url, settings.database.max_connections).await
}

/// Runs the tickets service until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let bus = Bus::connect(&settings.nats.url, &settings.namespace, "tickets").await?;
    hotline_bus::streams::ensure(
        &bus,
        hotline_bus::streams::StreamOptions {
            replicas: settings.nats.stream_replicas,
        },
    )
    .await?;
    let pool = connect_db(&settings).await?;
    migrate(&pool).await?;
    let readiness = hotline_telemetry::Readiness::default();
    let directory = Arc::new(Directory::demo());
    let ledger = ledger::Ledger::start(
        pool.clone(),
        bus.clone(),
        directory,
        settings.tickets.batch_max,
        shutdown.child_token(),
    );
    let store = store::Store::new(pool.clone());

    let mut tasks = tokio::task::JoinSet::new();
    {
        let ledger = ledger.clone();
        tasks.spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_commands(),
            "tickets",
            4096,
            move |cmd: TicketCommand| {
                let ledger = ledger.clone();
                async move { ledger.execute(cmd).await }
            },
            shutdown.clone(),
        ));
    }
    {
        let store = store.clone();
        tasks.spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_get(),
            "tickets",
            256,
            move |q: GetTicket| {
                let store = store.clone();
                async move { store.get(&q).await }
            },
            shutdown.clone(),
        ));
    }
    {
        let store = store.clone();
        tasks.spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_list(),
            "tickets",
            64,
            move |q: TicketQuery| {
                let store = store.clone();
                async move { store.list(&q).await }
            },
            shutdown.clone(),
        ));
    }
    {
        let store = store.clone();
        tasks.spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_updates(),
            "tickets",
            16,
            move |q: UpdatesQuery| {
                let store = store.clone();
                async move {
                    store
                        .updates(&q)
                        .await
                        .map_err(|e| RemoteError::internal(&e))
                }
            },
            shutdown.clone(),
        ));
    }
    {
        let store = store.clone();
        tasks.spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_max_sequence(),
            "tickets",
            16,
            move |yymmdd: u32| {
                let store = store.clone();
                async move {
                    store
                        .max_sequence(yymmdd)
                        .await
                        .map_err(|e| RemoteError::internal(&e))
                }
            },
            shutdown.clone(),
        ));
    }
    let relay = hotline_bus::outbox::Relay::new(pool.clone(), SCHEMA, bus.clone());
    let relay_shutdown = shutdown.clone();
    tasks.spawn(async move {
        relay.run(relay_shutdown).await;
        Ok(())
    });
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.tickets.port).await?;
    let app = http::router(http::AppState {
        ledger,
        store,
        bus: bus.clone(),
    })
    .merge(hotline_telemetry::ops_routes(readiness.clone()));
    let http_shutdown = shutdown.clone();
    tasks.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(http_shutdown.cancelled_owned())
            .await
            .context("tickets HTTP server")
    });
    readiness.set(true);
    tracing::info!(port = settings.tickets.port, "tickets service ready");
    shutdown.cancelled().await;
    readiness.set(false);
    hotline_telemetry::join_tasks("tickets", &mut tasks).await;
    bus.client.flush().await.ok();
    Ok(())
}
