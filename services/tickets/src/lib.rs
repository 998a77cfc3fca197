//! The ticket ledger: the single writer of ticket state.
//!
//! - [`ledger`]: executes commands in batches (group commit): one transaction applies many
//!   commands, writes their history, their replies for idempotency and their events to the
//!   outbox. The state machine itself is `hotline_domain::Ticket::decide`.
//! - [`store`]: reading tickets back (by number, filters, history, updates).
//! - [`duplicates`]: the open tickets likely on the same matter as a ticket or a draft (并单
//!   suggestions); the merge itself is the ledger's.
//! - [`hotspots`]: 社情民意 counts by matter class and district (each new ticket's district is
//!   decided by the ledger from the directory).
//! - [`messages`]: the newest contacts by message (new tickets from the other channels, the
//!   citizens' additions), for the agent desk's live panel.
//! - [`callers`]: which service may send which actor (the ledger's caller check).
//! - [`http`]: the agents' and supervisors' HTTP API (port 8081).
//! - [`run`]: wires NATS request/reply, the outbox relay, HTTP, and shutdown.
#![forbid(unsafe_code)]

pub mod callers;
pub mod duplicates;
pub mod hotspots;
pub mod http;
pub mod ledger;
pub mod messages;
pub mod reveal;
pub mod store;

use std::sync::Arc;

use hotline_bus::db::Transactions;
use hotline_bus::rpc::RemoteError;
use hotline_config::Settings;
use hotline_domain::contract::{GetTicket, TicketQuery, UpdatesQuery};
use hotline_runtime::Service;
use tokio::net::TcpListener;
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
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.tickets.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut service = Service::start("tickets", &settings, shutdown).await?;
    // Every task stops on the service's token: at shutdown, or when another task fails.
    let shutdown = service.stop_token();
    let bus = service.bus().clone();
    // The ledger's transactions wait on nothing but Postgres: one a frozen replica left idle is
    // ended, its locks released, so the other replicas' batches go on.
    let pool = service
        .postgres_for(
            &settings,
            sqlx::migrate!("./migrations"),
            SCHEMA,
            Transactions::PostgresOnly,
        )
        .await?;
    // The city's departments, as `hotline setup --directory` stored them (a restart picks up
    // a newer one).
    let directory = Arc::new(service.directory(&settings).await?);
    let (ledger, batcher) = ledger::Ledger::new(
        pool.clone(),
        bus.clone(),
        directory,
        settings.tickets.batch_max,
    );
    // Runs until the last handle (held by the responders and the HTTP API) is dropped, so
    // commands in hand at shutdown are still committed and answered.
    service.spawn("ledger-batcher", batcher);
    let store = store::Store::new(pool.clone());

    let listening = service.listening("commands");
    service.spawn(
        "commands",
        callers::serve_commands(bus.clone(), ledger.clone(), shutdown.clone(), listening),
    );
    let subjects = &bus.subjects;
    service.respond(
        "get",
        subjects.ticket_get(),
        256,
        store.clone(),
        |store, q: GetTicket| async move { store.get(&q).await },
    );
    service.respond(
        "list",
        subjects.ticket_list(),
        64,
        store.clone(),
        |store, q: TicketQuery| async move { store.list(&q).await },
    );
    service.respond(
        "updates",
        subjects.ticket_updates(),
        16,
        store.clone(),
        |store, q: UpdatesQuery| async move {
            store
                .updates(&q)
                .await
                .map_err(|e| RemoteError::internal(&e))
        },
    );
    service.respond(
        "max-sequence",
        subjects.ticket_max_sequence(),
        16,
        store.clone(),
        |store, yymmdd: u32| async move {
            store
                .max_sequence(yymmdd)
                .await
                .map_err(|e| RemoteError::internal(&e))
        },
    );
    service.outbox_relay(&settings, pool.clone(), SCHEMA);
    let app = http::router(http::AppState {
        ledger,
        store,
        bus: bus.clone(),
        verifier: hotline_auth::Verifier::from_settings(&settings)?,
        reveals: reveal::RevealLog::new(pool.clone()),
        duplicates: duplicates::Finder::new(
            pool.clone(),
            duplicates::Rules::from_settings(&settings.tickets.duplicates),
        ),
    });
    service.serve_http("http", listener, app);
    service.run().await
}
