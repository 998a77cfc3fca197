//! [`Service`]: a service's wiring as a list.
//!
//! ```ignore
//! let mut service = Service::start("tickets", &settings, shutdown).await?;
//! let pool = service.postgres(&settings, sqlx::migrate!("./migrations"), SCHEMA).await?;
//! service.respond("get", subjects.ticket_get(), 256, store.clone(), |store, q: GetTicket| async move {
//!     store.get(&q).await
//! });
//! service.outbox_relay(&settings, pool.clone(), SCHEMA);
//! service.serve_http("http", listener, http::router(state));
//! service.run().await
//! ```

use std::future::Future;

use anyhow::Context as _;
use axum::Router;
use hotline_bus::Bus;
use hotline_bus::db::Transactions;
use hotline_bus::outbox::{Relay, RelayOptions};
use hotline_bus::rpc::{self, RemoteError};
use hotline_bus::streams::{self, StreamOptions};
use hotline_config::Settings;
use hotline_domain::Directory;
use hotline_telemetry::Readiness;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http;
use crate::supervisor::Supervisor;

/// A service being wired, then run.
pub struct Service {
    supervisor: Supervisor,
    bus: Bus,
    pool: Option<PgPool>,
}

impl Service {
    /// Connects to NATS as `name` and ensures the streams. Readiness from now on requires the
    /// NATS connection to be up.
    pub async fn start(
        name: &'static str,
        settings: &Settings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Service> {
        let bus = connect_bus(name, settings).await?;
        streams::ensure(&bus, StreamOptions::from_config(&settings.nats))
            .await
            .context("ensuring the JetStream streams")?;
        let mut supervisor = Supervisor::new(name, &shutdown);
        let client = bus.client.clone();
        supervisor.ready_when("nats connected", move || {
            client.connection_state() == async_nats::connection::State::Connected
        });
        Ok(Service {
            supervisor,
            bus,
            pool: None,
        })
    }

    pub fn name(&self) -> &'static str {
        self.supervisor.service()
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The token every task must stop on (shutdown, or another task's failure).
    pub fn stop_token(&self) -> CancellationToken {
        self.supervisor.stop_token()
    }

    /// The flag `/readyz` reports, for routers that mount [`http::ops_routes`] themselves.
    pub fn readiness(&self) -> Readiness {
        self.supervisor.readiness()
    }

    /// Opens the Postgres pool and runs `migrations` in `schema` (idempotent; several replicas
    /// may start at once). The pool is closed when the service ends.
    pub async fn postgres(
        &mut self,
        settings: &Settings,
        migrations: Migrator,
        schema: &'static str,
    ) -> anyhow::Result<PgPool> {
        self.postgres_for(settings, migrations, schema, Transactions::AwaitOthers)
            .await
    }

    /// [`Self::postgres`] with sessions suited to what its transactions wait on.
    pub async fn postgres_for(
        &mut self,
        settings: &Settings,
        migrations: Migrator,
        schema: &'static str,
        transactions: Transactions,
    ) -> anyhow::Result<PgPool> {
        let pool = hotline_bus::db::connect_for(
            &settings.database.url,
            settings.database.max_connections,
            transactions,
        )
        .await?;
        self.pool = Some(pool.clone());
        hotline_bus::db::migrate(&pool, migrations, schema).await?;
        Ok(pool)
    }

    /// The pool without migrations, for a service whose store migrates itself.
    pub async fn postgres_unmigrated(&mut self, settings: &Settings) -> anyhow::Result<PgPool> {
        let pool =
            hotline_bus::db::connect(&settings.database.url, settings.database.max_connections)
                .await?;
        self.pool = Some(pool.clone());
        Ok(pool)
    }

    /// The department directory to run on ([`hotline_bus::directory::load`]: the one
    /// `hotline setup --directory` stored; the demo's only with `settings.demo` and nothing
    /// stored), plus the supervised task "directory-watch" that reports a newer one (see
    /// [`crate::directory`]). Fails, so the service does not start, when none is loaded.
    pub async fn directory(&mut self, settings: &Settings) -> anyhow::Result<Directory> {
        let (directory, revision) =
            hotline_bus::directory::load_with_revision(&self.bus, settings.demo).await?;
        match revision {
            Some(revision) => tracing::info!(
                departments = directory.len(),
                revision,
                "department directory loaded"
            ),
            None => tracing::info!(
                departments = directory.len(),
                "no department directory stored: running on the demo city's"
            ),
        }
        let task = crate::directory::watch(
            self.bus.clone(),
            self.name(),
            directory.clone(),
            revision,
            crate::directory::CHECK_EVERY,
            self.stop_token(),
        );
        self.spawn("directory-watch", task);
        Ok(directory)
    }

    /// Runs the transactional outbox relay of `schema` (see [`hotline_bus::outbox`]) as the
    /// supervised task "outbox-relay", with the `[outbox]` settings: the lease, and the depth
    /// and age gauges every replica reports.
    ///
    /// Readiness: the condition "outbox relay publishing" fails only on the replica that leads
    /// the relay while the oldest event is older than `outbox.stuck_after_secs`. Not on every
    /// replica: a stuck relay holds events back, but the service still takes and stores work
    /// (a ticket filed now is published once the relay moves again), and turning every replica
    /// unready would refuse that work too, turning a delay into an outage. The followers cannot
    /// fix the relay either; the gauges `hotline_outbox_oldest_age_seconds` and
    /// `hotline_outbox_depth`, reported by every replica, are what alerts watch. (A frozen
    /// leader answers no probe anyway, and loses the lease to another replica within
    /// `outbox.lease_secs`.)
    pub fn outbox_relay(&mut self, settings: &Settings, pool: PgPool, schema: &'static str) {
        let relay = Relay::with_options(
            pool,
            schema,
            self.bus.clone(),
            RelayOptions::from_settings(&settings.outbox),
        );
        let health = relay.health();
        self.supervisor
            .ready_when("outbox relay publishing", move || !health.stuck());
        let stop = self.stop_token();
        self.spawn("outbox-relay", async move {
            relay.run(stop).await;
            Ok(())
        });
    }

    /// A further condition for readiness, e.g. an index loaded.
    pub fn ready_when(&mut self, name: &'static str, flag: Readiness) {
        self.supervisor.ready_when(name, move || flag.is_ready());
    }

    /// A supervised task (see [`Supervisor::spawn`]): it must stop on [`Service::stop_token`],
    /// and ending before that stops the service.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.supervisor.spawn(name, task);
    }

    /// Answers NATS requests on `subject` with `handler(state, request)`, at most `concurrency`
    /// at a time, in the queue group named after the service (so replicas share the work), as
    /// the supervised task `name`. `state` is cloned into each call.
    pub fn respond<S, Req, Resp, H, F>(
        &mut self,
        name: &'static str,
        subject: String,
        concurrency: usize,
        state: S,
        handler: H,
    ) where
        S: Clone + Send + Sync + 'static,
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + 'static,
        H: Fn(S, Req) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Resp, RemoteError>> + Send + 'static,
    {
        let listening = self.listening(name);
        let task = rpc::serve_signalled(
            self.bus.clone(),
            subject,
            self.name(),
            concurrency,
            move |_subject: &str, request: Req| handler(state.clone(), request),
            self.stop_token(),
            listening,
        );
        self.spawn(name, task);
    }

    /// A readiness condition named `name` that holds once the returned callback is called: for
    /// tasks that must be listening before the service takes work (a NATS responder that
    /// subscribes in its task would otherwise answer "no responders" to the first callers of a
    /// service that says it is ready).
    pub fn listening(&mut self, name: &'static str) -> impl FnOnce() + Send + 'static {
        let flag = Readiness::default();
        self.ready_when(name, flag.clone());
        move || flag.set(true)
    }

    /// Serves `app` plus `/healthz`, `/readyz` and `/metrics`, with request tracing, as the
    /// supervised task `name`.
    pub fn serve_http(&mut self, name: &'static str, listener: TcpListener, app: Router) {
        let app = app.merge(http::ops_routes(self.readiness()));
        self.serve_http_as_is(name, listener, app);
    }

    /// Serves `app`, which mounts the ops routes itself, with request tracing.
    pub fn serve_http_as_is(&mut self, name: &'static str, listener: TcpListener, app: Router) {
        let stop = self.stop_token();
        self.spawn(name, http::serve(listener, http::traced(app), stop));
    }

    /// Runs until shutdown or the first failure (see [`Supervisor::run`]); then flushes NATS and
    /// closes the pool. An error here means the process must exit non-zero.
    pub async fn run(self) -> anyhow::Result<()> {
        let Service {
            supervisor,
            bus,
            pool,
        } = self;
        let result = supervisor.run().await;
        if let Err(e) = bus.client.flush().await {
            tracing::warn!(error = %e, "NATS not flushed at exit");
        }
        if let Some(pool) = pool {
            pool.close().await;
        }
        result
    }
}

/// The one place a service connects to NATS: as its own NATS user when `[nats]` has
/// credentials.
async fn connect_bus(name: &'static str, settings: &Settings) -> anyhow::Result<Bus> {
    Bus::connect_with(&settings.nats, &settings.namespace, name).await
}
