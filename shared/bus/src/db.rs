//! The Postgres plumbing every owning service shares: the pool, per-schema migrations, and
//! database URLs.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

/// How long a [`Transactions::PostgresOnly`] transaction may sit idle before Postgres ends
/// its session.
pub const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";

/// What a pool's transactions wait on between their statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transactions {
    /// Other systems too (a command outbox awaits the ledger's answer inside its transaction,
    /// the phone channel's hold sweeper too): Postgres never ends them for idling.
    AwaitOthers,
    /// Nothing but Postgres (the tickets ledger's): a transaction idle for
    /// [`IDLE_IN_TRANSACTION_TIMEOUT`] belongs to a process that is not running, and Postgres
    /// ends its session.
    ///
    /// A replica frozen mid-transaction (SIGSTOP, a stalled VM) keeps its row locks while
    /// Postgres waits on it; the other replicas' transactions that touch the same rows wait too
    /// (a retried command inserts the same ticket number and idempotency key the frozen one
    /// holds uncommitted), and every command batched with them times out: a frozen ledger
    /// replica cost the kill matrix 3,072 refused tickets before this. Ending the session
    /// releases the locks.
    PostgresOnly,
}

/// A pool for transactions that may await other systems ([`Transactions::AwaitOthers`]).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_for(url, max_connections, Transactions::AwaitOthers).await
}

/// A pool whose sessions suit `transactions`.
pub async fn connect_for(
    url: &str,
    max_connections: u32,
    transactions: Transactions,
) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse().context("DATABASE_URL is not a Postgres URL")?;
    // An operator's own choice of a setting in the URL (`?options=-c%20plan_cache_mode%3Dauto`)
    // stands.
    let chosen = |setting: &str| options.get_options().is_some_and(|o| o.contains(setting));
    let mut defaults = Vec::new();
    // Plan every statement with its actual parameters. sqlx prepares statements, and after five
    // runs Postgres may switch a connection to a generic plan made while a table was still small
    // (a fresh schema, a new day's partition): `key = ANY($1)` on the ledger's command log then
    // stays a sequential scan as the table grows, 20 ms per batch instead of a few index probes.
    if !chosen("plan_cache_mode") {
        defaults.push(("plan_cache_mode", "force_custom_plan"));
    }
    if transactions == Transactions::PostgresOnly && !chosen("idle_in_transaction_session_timeout")
    {
        defaults.push((
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        ));
    }
    let options = options.options(defaults);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to Postgres")
}

/// Begins a transaction for the hot path's batched statements (the ledger's group commit, the
/// consumers' batches, the outbox relays): every one of them finds its rows by key (`= ANY($1)`,
/// a join to `UNNEST` on a primary key, `ON CONFLICT`), so their plans need not be made again
/// for each batch.
///
/// The pools plan every statement with its parameters ([`connect_for`]), which suits reports
/// and searches; for the batches that planning was ~30% of Postgres' CPU per ticket
/// (docs/performance.md, "plans made once", 12-04). A plan made once may be made while a table
/// is small (a fresh database, an outbox that a NATS outage will fill), when a sequential scan
/// looks cheapest and would stay cached as the table grows; `enable_seqscan = off` makes the
/// planner take the index whenever one serves, whatever the table's size then. Both settings
/// are `LOCAL`: they end with the transaction, and sent with its `BEGIN` they cost no round
/// trip.
pub async fn begin_keyed(pool: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, Postgres>> {
    pool.begin_with(KEYED_BEGIN).await
}

/// Plans made once per connection, and made to use an index whenever the statement has one.
const KEYED_BEGIN: &str =
    "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off";

/// The settings of [`begin_keyed`] for the whole session of a connection that runs only keyed
/// statements (an outbox relay's own connection).
pub async fn keyed_session(conn: &mut sqlx::PgConnection) -> sqlx::Result<()> {
    use sqlx::Executor as _;
    conn.execute(sqlx::raw_sql(
        "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off",
    ))
    .await
    .map(|_| ())
}

/// Runs a service's migrations in its own schema, with its own migration table, so that services
/// sharing one database never see each other's migrations.
pub async fn migrate(
    pool: &PgPool,
    mut migrator: Migrator,
    schema: &'static str,
) -> anyhow::Result<()> {
    migrator.create_schema(schema);
    migrator.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    migrator
        .run(pool)
        .await
        .with_context(|| format!("running {schema} migrations"))?;
    Ok(())
}

/// `postgres://u:p@h:5432/db?x` with database `name` instead of `db`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path = base[authority_start..]
        .find('/')
        .map(|i| i + authority_start);
    let mut out = format!("{}/{name}", &base[..path.unwrap_or(base.len())]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_is_swapped_in_the_url() {
        assert_eq!(
            super::with_database("postgres://u:p@h:5432/hotline", "t_1"),
            "postgres://u:p@h:5432/t_1"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/hotline?sslmode=disable", "t_1"),
            "postgres://u:p@h/t_1?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://h", "t_1"),
            "postgres://h/t_1"
        );
    }
}
