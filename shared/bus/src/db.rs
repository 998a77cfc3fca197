//! The Postgres plumbing every owning service shares: the pool, per-schema migrations, and
//! database URLs.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse().context("DATABASE_URL is not a Postgres URL")?;
    // Plan every statement with its actual parameters. sqlx prepares statements, and after five
    // runs Postgres may switch a connection to a generic plan made while a table was still small
    // (a fresh schema, a new day's partition): `key = ANY($1)` on the ledger's command log then
    // stays a sequential scan as the table grows, 20 ms per batch instead of a few index probes.
    // An operator's own choice in the URL (`?options=-c%20plan_cache_mode%3Dauto`) stands.
    let options = if options
        .get_options()
        .is_some_and(|o| o.contains("plan_cache_mode"))
    {
        options
    } else {
        options.options([("plan_cache_mode", "force_custom_plan")])
    };
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to Postgres")
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
