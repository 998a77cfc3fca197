//! The transactional outbox: a service writes its state change and the event in one Postgres
//! transaction; the relay publishes committed events to JetStream and deletes them once the
//! stream acknowledged them.
//!
//! Each owning schema has:
//! ```sql
//! CREATE TABLE <schema>.outbox (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL,
//!   msg_id TEXT NOT NULL, traceparent TEXT, payload BYTEA NOT NULL,
//!   created_at TIMESTAMPTZ NOT NULL DEFAULT now());
//! ```
//!
//! # One relay at a time: a lease
//!
//! Every replica runs a [`Relay`]; one of them, the leader, publishes, so events leave in commit
//! order. Leadership is a lease row the relay creates itself (`CREATE TABLE IF NOT EXISTS`: the
//! lease is the relay's business, so no service needs a migration for it):
//! ```sql
//! CREATE TABLE <schema>.outbox_lease (singleton BOOLEAN PRIMARY KEY, holder TEXT NOT NULL,
//!   fenced_until TIMESTAMPTZ NOT NULL, epoch BIGINT NOT NULL);
//! ```
//! - A replica takes the lease when `fenced_until` has passed (or it is the holder already),
//!   with a new `epoch`. Only the database's clock is compared with `fenced_until`: replicas'
//!   clocks never meet the database's.
//! - The leader renews it (`fenced_until = now() + lease`, only while it is still the holder of
//!   that epoch and the lease has not run out) at least every third of the lease, and with
//!   every batch: the renewal is part of the statement that deletes the batch. A renewal that
//!   finds nothing to renew means another replica took over: the relay stops publishing and
//!   follows.
//! - Before publishing, the leader renews if a third of the lease has passed since it last
//!   did, and it sends nothing once a full lease has passed, by its own monotonic clock, since
//!   it sent that renewal (the database granted the lease after the renewal was sent, so the
//!   lease lasts at least that long).
//! - A frozen leader (a stopped process, a paused VM) renews nothing, so another replica takes
//!   over within a lease (15 s by default) plus a poll. A Postgres session advisory lock, used
//!   before, was held until Postgres noticed the dead connection: hours.
//! - The new leader starts from the lowest id still in the outbox, so it republishes what the
//!   old leader sent but did not delete, with the same `Nats-Msg-Id`: the stream's duplicate
//!   window (120 s) drops those. A frozen leader that wakes up may still send the batch it held
//!   in memory when it froze (at most the messages it was between its last check and its
//!   send): within the duplicate window these are dropped too; after a longer freeze they
//!   arrive twice, and consumers' inboxes ([`crate::inbox`]) take them once.
//! - Every query of the relay has a timeout of a third of the lease (`statement_timeout` on
//!   its connection, and a timer on the client side for a connection that hangs), so a hung
//!   connection cannot keep a leader that does not renew. The relay opens no long
//!   transactions.
//! - A leader that stops (shutdown) gives the lease back at once, so a rolling restart does not
//!   hold events back for a lease. One that fails to publish keeps its lease and tries again
//!   (another replica would fail the same way: no stream, a refused subject), unless its own
//!   NATS connection is down: then it gives the lease back, and takes none while it stays
//!   down, so a replica that reaches NATS relays.
//!
//! # Depth and age
//!
//! Every replica, leader or not, reports the outbox's depth and its oldest event's age every
//! few seconds (`hotline_outbox_depth{schema}`, `hotline_outbox_oldest_age_seconds{schema}`),
//! so a service whose relay is stuck still says so. [`RelayHealth::stuck`] is true on the
//! leader while the oldest event is older than the configured limit (see
//! `hotline_runtime::Service::outbox_relay` for why only there).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context as _;
use hotline_telemetry::prometheus::GaugeVec;
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool, Postgres, Row as _, Transaction};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Bus;

/// Events waiting in a schema's outbox, as every replica last counted them.
static DEPTH: LazyLock<GaugeVec> = LazyLock::new(|| {
    hotline_telemetry::gauge_vec(
        "hotline_outbox_depth",
        "Events waiting in the outbox to be published",
        &["schema"],
    )
});

/// Age of the oldest event waiting in a schema's outbox (0 when empty).
static OLDEST_AGE: LazyLock<GaugeVec> = LazyLock::new(|| {
    hotline_telemetry::gauge_vec(
        "hotline_outbox_oldest_age_seconds",
        "Age of the oldest event waiting in the outbox, by the database's clock",
        &["schema"],
    )
});

/// An event to publish after commit.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub subject: String,
    pub msg_id: String,
    pub traceparent: Option<String>,
    pub payload: Vec<u8>,
}

/// Writes messages into the outbox inside the caller's transaction (multi-row insert).
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    schema: &'static str,
    messages: &[OutboxMessage],
) -> sqlx::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    let ids: Vec<&str> = messages.iter().map(|m| m.msg_id.as_str()).collect();
    let traces: Vec<Option<&str>> = messages.iter().map(|m| m.traceparent.as_deref()).collect();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.outbox (subject, msg_id, traceparent, payload) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[])"
    )))
    .bind(&subjects)
    .bind(&ids)
    .bind(&traces)
    .bind(&payloads)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel(schema))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn channel(schema: &str) -> String {
    format!("{schema}_outbox")
}

/// Stable lock id per schema: replicas creating the lease table at the same moment take turns
/// (two concurrent `CREATE TABLE IF NOT EXISTS` can both try to create it, and one fails).
fn lock_key(schema: &str) -> i64 {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema.bytes().chain("outbox".bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// After a notification, how long the relay waits for more commits before publishing.
const COALESCE: Duration = Duration::from_millis(3);

/// A leader with nothing to do looks at the outbox at least this often (a notification may be
/// missed while it is busy).
const POLL: Duration = Duration::from_millis(200);

/// A follower asks for the lease at least this often: after the leader gave it back (a
/// restart), events wait for at most this.
const FOLLOW: Duration = Duration::from_secs(1);

/// After a failure, how long the relay waits before trying again.
const RETRY: Duration = Duration::from_millis(500);

/// The relay's settings; [`RelayOptions::default`] is what `[outbox]` defaults to.
#[derive(Debug, Clone, Copy)]
pub struct RelayOptions {
    /// How long the leader's lease lasts without renewal; renewed every third of it, which is
    /// also every query's timeout.
    pub lease: Duration,
    /// [`RelayHealth::stuck`] once the oldest event is older than this.
    pub stuck_after: Duration,
    /// How often the depth and age gauges are refreshed.
    pub gauge_every: Duration,
    /// Most events published per round.
    pub batch: i64,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            lease: Duration::from_secs(15),
            stuck_after: Duration::from_secs(60),
            gauge_every: Duration::from_secs(5),
            batch: 1024,
        }
    }
}

impl RelayOptions {
    pub fn from_settings(outbox: &hotline_config::Outbox) -> RelayOptions {
        RelayOptions {
            lease: Duration::from_secs(outbox.lease_secs),
            stuck_after: Duration::from_secs(outbox.stuck_after_secs),
            gauge_every: Duration::from_secs(outbox.gauge_interval_secs),
            ..RelayOptions::default()
        }
    }

    /// The renewal period and every query's timeout. Floored, so that a test's short lease
    /// still leaves queries time to run.
    fn third(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(100))
    }
}

/// What one replica's relay knows about its outbox, for readiness.
#[derive(Clone)]
pub struct RelayHealth(Arc<HealthState>);

struct HealthState {
    stuck_after: Duration,
    leading: AtomicBool,
    oldest_age_ms: AtomicU64,
}

impl RelayHealth {
    fn new(stuck_after: Duration) -> RelayHealth {
        RelayHealth(Arc::new(HealthState {
            stuck_after,
            leading: AtomicBool::new(false),
            oldest_age_ms: AtomicU64::new(0),
        }))
    }

    /// Whether this replica holds the lease (from taking it until another replica has it, or
    /// the relay stopped).
    pub fn is_leader(&self) -> bool {
        self.0.leading.load(Ordering::SeqCst)
    }

    /// The oldest event's age at the last count (zero before the first).
    pub fn oldest_age(&self) -> Duration {
        Duration::from_millis(self.0.oldest_age_ms.load(Ordering::SeqCst))
    }

    /// This replica leads and the oldest event has waited longer than it should: the leader
    /// cannot publish.
    pub fn stuck(&self) -> bool {
        self.is_leader() && self.oldest_age() > self.0.stuck_after
    }

    fn set_leading(&self, leading: bool) {
        self.0.leading.store(leading, Ordering::SeqCst);
    }

    fn set_oldest_age(&self, age: Duration) {
        let ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        self.0.oldest_age_ms.store(ms, Ordering::SeqCst);
    }
}

/// The lease as this relay holds it.
struct Lease {
    epoch: i64,
    /// When the last successful renewal (or the take-over) was sent, by the local monotonic
    /// clock: the database granted the lease at that moment or later.
    renewed: Instant,
}

/// How a leader's term ended (failures are errors).
enum Ended {
    /// Shutdown: the lease was given back.
    Stopped,
    /// Another replica holds the lease.
    Lost,
}

/// One round of publishing.
enum Step {
    /// Events published and deleted; `more` when the outbox may hold more right now.
    Relayed { more: bool },
    /// The lease was lost: publish nothing more.
    Lost,
}

pub struct Relay {
    pool: PgPool,
    schema: &'static str,
    bus: Bus,
    options: RelayOptions,
    health: RelayHealth,
}

impl Relay {
    pub fn new(pool: PgPool, schema: &'static str, bus: Bus) -> Relay {
        Relay::with_options(pool, schema, bus, RelayOptions::default())
    }

    pub fn with_options(
        pool: PgPool,
        schema: &'static str,
        bus: Bus,
        options: RelayOptions,
    ) -> Relay {
        Relay {
            pool,
            schema,
            bus,
            options,
            health: RelayHealth::new(options.stuck_after),
        }
    }

    /// This relay's view of the outbox, for readiness.
    pub fn health(&self) -> RelayHealth {
        self.health.clone()
    }

    /// Relays (when leading) and reports the gauges until `shutdown`. Errors are logged and
    /// retried: a relay that stops is an outage.
    pub async fn run(self, shutdown: CancellationToken) {
        let holder = holder_id();
        tracing::info!(schema = self.schema, holder = %holder, "outbox relay started");
        tokio::join!(self.report_depth(&shutdown), self.relay(&holder, &shutdown));
    }

    async fn relay(&self, holder: &str, shutdown: &CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(e) = self.lead(holder, shutdown).await {
                tracing::warn!(schema = self.schema, error = %format!("{e:#}"), "outbox relay lost its footing; retrying");
                // Keep the lease (taken again below as its holder) unless the fault is this
                // replica's own: another replica would meet the same stream and the same
                // Postgres, and a failed Postgres connection cannot renew, so the lease runs out
                // by itself then.
                if !self.nats_connected() {
                    self.health.set_leading(false);
                    if let Err(e) = self.release_with_pool(holder).await {
                        tracing::debug!(schema = self.schema, error = %format!("{e:#}"), "lease not given back; it runs out by itself");
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(RETRY) => {}
                }
            }
        }
        self.health.set_leading(false);
    }

    /// Follows until this replica gets the lease, relays while it holds it, and so on until
    /// the shutdown; returns `Ok` only then.
    async fn lead(&self, holder: &str, shutdown: &CancellationToken) -> anyhow::Result<()> {
        // A connection of the relay's own, out of the pool: a pool busy with requests must not
        // delay the renewals. Dropped (closed) with any failure, so a hung one is never reused.
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("acquiring the relay's connection")?
            .detach();
        let timeout_ms = self.options.third().as_millis();
        self.bounded(
            sqlx::query(AssertSqlSafe(format!(
                "SET statement_timeout = {timeout_ms}"
            )))
            .execute(&mut conn),
        )
        .await
        .context("setting the relay's statement timeout")?;
        // The relay reads the oldest events by id and deletes them by id: plans made once, on
        // the index, even while a NATS outage fills the outbox (db::begin_keyed).
        self.bounded(crate::db::keyed_session(&mut conn))
            .await
            .context("setting the relay's plans")?;
        self.ensure_lease_table(&mut conn).await?;
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            // A replica that cannot reach NATS would only hold the events back.
            let lease = if self.nats_connected() {
                self.try_acquire(&mut conn, holder).await?
            } else {
                None
            };
            let Some(lease) = lease else {
                self.health.set_leading(false);
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(FOLLOW.min(self.options.third())) => {}
                }
                continue;
            };
            tracing::info!(
                schema = self.schema,
                epoch = lease.epoch,
                "outbox relay is the leader"
            );
            self.health.set_leading(true);
            match self.serve(&mut conn, holder, lease, shutdown).await? {
                Ended::Stopped => {
                    self.health.set_leading(false);
                    return Ok(());
                }
                Ended::Lost => {
                    tracing::warn!(
                        schema = self.schema,
                        "outbox relay lost its lease (it did not renew in time); another replica relays"
                    );
                    self.health.set_leading(false);
                }
            }
        }
    }

    /// Publishes while the lease holds.
    async fn serve(
        &self,
        conn: &mut PgConnection,
        holder: &str,
        mut lease: Lease,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Ended> {
        // Bounded like every query: the lease is running meanwhile.
        let mut listener = self
            .bounded(PgListener::connect_with(&self.pool))
            .await
            .context("LISTEN connection")?;
        self.bounded(listener.listen(&channel(self.schema)))
            .await
            .context("LISTEN")?;
        loop {
            // Drain everything committed so far, then wait for a notification, a poll tick (in
            // case a notification was missed while we were busy) or the renewal.
            loop {
                match self.relay_batch(conn, holder, &mut lease).await? {
                    Step::Lost => return Ok(Ended::Lost),
                    Step::Relayed { more: true } => {}
                    Step::Relayed { more: false } => break,
                }
            }
            let wake = (lease.renewed + self.options.third()).min(Instant::now() + POLL);
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // What committed before the stop leaves now, if we still may send it.
                    if let Step::Lost = self.relay_batch(conn, holder, &mut lease).await? {
                        return Ok(Ended::Lost);
                    }
                    if let Err(e) = self.release(conn, holder).await {
                        tracing::warn!(schema = self.schema, error = %format!("{e:#}"), "lease not given back at shutdown; another replica waits for it to run out");
                    }
                    return Ok(Ended::Stopped);
                }
                n = listener.recv() => {
                    n.context("outbox notification")?;
                    // Let a few more commits land so one relay round carries them all.
                    tokio::time::sleep(COALESCE).await;
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Publishes the oldest events and deletes them, renewing the lease on the way.
    async fn relay_batch(
        &self,
        conn: &mut PgConnection,
        holder: &str,
        lease: &mut Lease,
    ) -> anyhow::Result<Step> {
        // Never start a batch on a lease that may have run out meanwhile (a pause, a slow
        // query): renew first when a third of it has passed.
        if Instant::now() >= lease.renewed + self.options.third()
            && !self.renew(conn, holder, lease).await?
        {
            return Ok(Step::Lost);
        }
        let schema = self.schema;
        let rows = self
            .bounded(
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT id, subject, msg_id, traceparent, payload FROM {schema}.outbox \
                     ORDER BY id LIMIT $1"
                )))
                .bind(self.options.batch)
                .fetch_all(&mut *conn),
            )
            .await
            .context("reading the outbox")?;
        if rows.is_empty() {
            return Ok(Step::Relayed { more: false });
        }
        let expires = lease.renewed + self.options.lease;
        let mut pending = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            // Past the lease another replica may be relaying: stop here; what was sent is
            // deleted below, and the renewal there says whether to go on.
            if Instant::now() >= expires {
                break;
            }
            let id: i64 = row.try_get("id")?;
            let subject: String = row.try_get("subject")?;
            let msg_id: String = row.try_get("msg_id")?;
            let traceparent: Option<String> = row.try_get("traceparent")?;
            let payload: Vec<u8> = row.try_get("payload")?;
            let headers = crate::trace::headers_from_traceparent(traceparent.as_deref());
            pending.push(
                crate::publish::send(&self.bus, subject, &msg_id, headers, payload.into()).await?,
            );
            ids.push(id);
        }
        for ack in pending {
            ack.await
                .context("stream did not acknowledge an outbox event")?;
        }
        // Events the stream stored are deleted whoever leads now (a new leader's copies are
        // duplicates the stream drops); the renewal in the same statement says whether this
        // replica still leads.
        let sent_at = Instant::now();
        let renewed: bool = self
            .bounded(
                sqlx::query_scalar(AssertSqlSafe(format!(
                    "WITH gone AS (DELETE FROM {schema}.outbox WHERE id = ANY($1) RETURNING 1), \
                     lease AS ({RENEW_SQL} RETURNING 1) \
                     SELECT EXISTS (SELECT 1 FROM lease)",
                    RENEW_SQL = renew_sql(schema, 2)
                )))
                .bind(&ids)
                .bind(holder)
                .bind(lease.epoch)
                .bind(self.options.lease.as_secs_f64())
                .fetch_one(&mut *conn),
            )
            .await
            .context("deleting the published events")?;
        if !renewed {
            return Ok(Step::Lost);
        }
        lease.renewed = sent_at;
        Ok(Step::Relayed {
            more: ids.len() < rows.len() || rows.len() == self.options.batch as usize,
        })
    }

    async fn ensure_lease_table(&self, conn: &mut PgConnection) -> anyhow::Result<()> {
        let schema = self.schema;
        self.bounded(async {
            let mut tx = conn.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_key(schema))
                .execute(&mut *tx)
                .await?;
            sqlx::query(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {schema}.outbox_lease (\
                 singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton), \
                 holder TEXT NOT NULL, \
                 fenced_until TIMESTAMPTZ NOT NULL, \
                 epoch BIGINT NOT NULL)"
            )))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
        .await
        .with_context(|| format!("creating {schema}.outbox_lease"))
    }

    /// Takes the lease if it ran out (or is ours already): a new epoch.
    async fn try_acquire(
        &self,
        conn: &mut PgConnection,
        holder: &str,
    ) -> anyhow::Result<Option<Lease>> {
        let schema = self.schema;
        let sent = Instant::now();
        let epoch: Option<i64> = self
            .bounded(
                sqlx::query_scalar(AssertSqlSafe(format!(
                    "INSERT INTO {schema}.outbox_lease AS l (singleton, holder, fenced_until, epoch) \
                     VALUES (true, $1, now() + make_interval(secs => $2::float8), 1) \
                     ON CONFLICT (singleton) DO UPDATE \
                     SET holder = excluded.holder, fenced_until = excluded.fenced_until, \
                         epoch = l.epoch + 1 \
                     WHERE l.fenced_until <= now() OR l.holder = excluded.holder \
                     RETURNING epoch"
                )))
                .bind(holder)
                .bind(self.options.lease.as_secs_f64())
                .fetch_optional(&mut *conn),
            )
            .await
            .context("taking the outbox lease")?;
        Ok(epoch.map(|epoch| Lease {
            epoch,
            renewed: sent,
        }))
    }

    /// Extends the lease if this relay still holds it; false when it does not.
    async fn renew(
        &self,
        conn: &mut PgConnection,
        holder: &str,
        lease: &mut Lease,
    ) -> anyhow::Result<bool> {
        let sent = Instant::now();
        let done = self
            .bounded(
                sqlx::query(AssertSqlSafe(renew_sql(self.schema, 1)))
                    .bind(holder)
                    .bind(lease.epoch)
                    .bind(self.options.lease.as_secs_f64())
                    .execute(&mut *conn),
            )
            .await
            .context("renewing the outbox lease")?;
        if done.rows_affected() == 1 {
            lease.renewed = sent;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Ends this relay's lease now, so another replica need not wait for it to run out.
    async fn release(&self, conn: &mut PgConnection, holder: &str) -> anyhow::Result<()> {
        self.bounded(
            sqlx::query(AssertSqlSafe(release_sql(self.schema)))
                .bind(holder)
                .execute(&mut *conn),
        )
        .await
        .context("giving the outbox lease back")?;
        Ok(())
    }

    /// [`Relay::release`] on a pooled connection, for when the relay's own one failed.
    async fn release_with_pool(&self, holder: &str) -> anyhow::Result<()> {
        self.bounded(
            sqlx::query(AssertSqlSafe(release_sql(self.schema)))
                .bind(holder)
                .execute(&self.pool),
        )
        .await
        .context("giving the outbox lease back")?;
        Ok(())
    }

    /// Refreshes the gauges (and the age readiness looks at) every `gauge_every`, on every
    /// replica, until `shutdown`.
    async fn report_depth(&self, shutdown: &CancellationToken) {
        let schema = self.schema;
        let query = format!(
            "SELECT count(*)::float8, \
             COALESCE(extract(epoch FROM now() - min(created_at)), 0)::float8 \
             FROM {schema}.outbox"
        );
        loop {
            let counted = self
                .bounded(
                    sqlx::query_as::<_, (f64, f64)>(AssertSqlSafe(query.clone()))
                        .fetch_one(&self.pool),
                )
                .await;
            match counted {
                Ok((depth, age)) => {
                    // A clock step on the database could make the age negative for a moment.
                    let age = age.max(0.0);
                    DEPTH.with_label_values(&[schema]).set(depth);
                    OLDEST_AGE.with_label_values(&[schema]).set(age);
                    self.health
                        .set_oldest_age(Duration::try_from_secs_f64(age).unwrap_or(Duration::MAX));
                }
                Err(e) => {
                    tracing::warn!(schema, error = %format!("{e:#}"), "outbox depth not counted");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.options.gauge_every) => {}
            }
        }
    }

    fn nats_connected(&self) -> bool {
        self.bus.client.connection_state() == async_nats::connection::State::Connected
    }

    /// `query` with the relay's timeout: a connection that hangs (a network that drops packets
    /// rather than refusing them) fails like any other.
    async fn bounded<T>(&self, query: impl Future<Output = sqlx::Result<T>>) -> anyhow::Result<T> {
        let limit = self.options.third();
        tokio::time::timeout(limit, query)
            .await
            .map_err(|_| anyhow::anyhow!("no answer from Postgres within {limit:?}"))?
            .map_err(anyhow::Error::from)
    }
}

/// The renewal: only by the holder of this epoch, and only while the lease has not run out
/// (by the database's clock). Parameters from `$first`: holder, epoch, lease seconds.
fn renew_sql(schema: &str, first: usize) -> String {
    let (holder, epoch, secs) = (first, first + 1, first + 2);
    format!(
        "UPDATE {schema}.outbox_lease \
         SET fenced_until = now() + make_interval(secs => ${secs}::float8) \
         WHERE singleton AND holder = ${holder} AND epoch = ${epoch} AND fenced_until > now()"
    )
}

fn release_sql(schema: &str) -> String {
    format!(
        "UPDATE {schema}.outbox_lease SET fenced_until = now() \
         WHERE singleton AND holder = $1 AND fenced_until > now()"
    )
}

/// Who holds the lease, as the lease row shows it: the pod (or host) and a random part, so a
/// restarted process is another holder than its previous life.
fn holder_id() -> String {
    let host: String = std::env::var("HOSTNAME")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(64)
        .collect();
    let host = if host.is_empty() { "relay" } else { &host };
    // The pid too: which process of a pod (or of one machine's replicas) leads.
    format!(
        "{host}/{}/{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_differ_per_schema_and_are_stable() {
        assert_ne!(super::lock_key("tickets"), super::lock_key("dispatch"));
        assert_eq!(super::lock_key("tickets"), super::lock_key("tickets"));
    }

    #[test]
    fn the_renewal_takes_its_parameters_where_told() {
        let sql = super::renew_sql("tickets", 2);
        assert!(sql.contains("holder = $2 AND epoch = $3"), "{sql}");
        assert!(sql.contains("secs => $4::float8"), "{sql}");
        assert!(sql.contains("fenced_until > now()"), "{sql}");
    }

    #[test]
    fn a_test_lease_still_leaves_queries_time() {
        let options = super::RelayOptions {
            lease: std::time::Duration::from_millis(150),
            ..super::RelayOptions::default()
        };
        assert_eq!(options.third(), std::time::Duration::from_millis(100));
        assert_eq!(
            super::RelayOptions::default().third(),
            std::time::Duration::from_secs(5)
        );
    }
}
