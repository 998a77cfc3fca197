//! What tests need from the outside world: NATS, Postgres and Redis.
//!
//! The URLs in `NATS_URL`, `DATABASE_URL` and `REDIS_URL` are used when set (CI and this
//! machine start the servers); otherwise the servers are started in containers with
//! testcontainers (a laptop with Docker). Each test gets a fresh database and a fresh NATS
//! namespace (so its own streams), so tests run in parallel without seeing each other.
//!
//! [`nats_cluster`] starts a private JetStream cluster for a test whose nodes it can kill and
//! restart (the nats-server binary from `NATS_SERVER_BIN` or PATH).
#![forbid(unsafe_code)]

pub mod nats_cluster;

use std::sync::OnceLock;

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Connection as _};
use tokio::sync::Mutex;

/// Connection details for one test.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub nats_url: String,
    /// A database created for this test.
    pub database_url: String,
    pub redis_url: String,
    /// A namespace no other test uses: every subject and stream hangs off it.
    pub namespace: String,
}

struct Servers {
    nats_url: String,
    database_url: String,
    redis_url: String,
    // Containers live as long as the test binary.
    _containers: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

static SERVERS: OnceLock<Mutex<Option<std::sync::Arc<Servers>>>> = OnceLock::new();

async fn servers() -> anyhow::Result<std::sync::Arc<Servers>> {
    let lock = SERVERS.get_or_init(|| Mutex::new(None));
    let mut guard = lock.lock().await;
    if let Some(s) = guard.as_ref() {
        return Ok(s.clone());
    }
    let mut containers: Vec<Box<dyn std::any::Any + Send + Sync>> = Vec::new();
    let nats_url = match std::env::var("NATS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            use testcontainers::ImageExt as _;
            use testcontainers::runners::AsyncRunner as _;
            let c = testcontainers_modules::nats::Nats::default()
                .with_cmd(["-js"])
                .with_tag("2.12")
                .start()
                .await
                .context("starting a NATS container (set NATS_URL to use a running server)")?;
            let url = format!("nats://127.0.0.1:{}", c.get_host_port_ipv4(4222).await?);
            containers.push(Box::new(c));
            url
        }
    };
    let database_url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            use testcontainers::ImageExt as _;
            use testcontainers::runners::AsyncRunner as _;
            let c = testcontainers_modules::postgres::Postgres::default()
                .with_tag("15")
                .start()
                .await
                .context(
                    "starting a Postgres container (set DATABASE_URL to use a running server)",
                )?;
            let url = format!(
                "postgres://postgres:postgres@127.0.0.1:{}/postgres",
                c.get_host_port_ipv4(5432).await?
            );
            containers.push(Box::new(c));
            url
        }
    };
    let redis_url = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            use testcontainers::ImageExt as _;
            use testcontainers::runners::AsyncRunner as _;
            let c = testcontainers_modules::redis::Redis::default()
                .with_tag("7")
                .start()
                .await
                .context("starting a Redis container (set REDIS_URL to use a running server)")?;
            let url = format!("redis://127.0.0.1:{}", c.get_host_port_ipv4(6379).await?);
            containers.push(Box::new(c));
            url
        }
    };
    let s = std::sync::Arc::new(Servers {
        nats_url,
        database_url,
        redis_url,
        _containers: containers,
    });
    *guard = Some(s.clone());
    Ok(s)
}

/// A fresh database and namespace on the shared servers.
pub async fn env() -> anyhow::Result<TestEnv> {
    let servers = servers().await?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    // The creation time is in the name, so later runs can drop what earlier ones left behind.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = format!("t_{now}_{}", &id[..12]);
    let mut conn = sqlx::PgConnection::connect(&servers.database_url)
        .await
        .context("connecting to Postgres")?;
    drop_stale_databases(&mut conn, now).await;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .context("creating the test database")?;
    let database_url = hotline_bus::db::with_database(&servers.database_url, &name);
    Ok(TestEnv {
        nats_url: servers.nats_url.clone(),
        database_url,
        redis_url: servers.redis_url.clone(),
        namespace: format!("t{}", &id[..12]),
    })
}

/// Drops test databases created more than six hours ago (best effort: a failure only leaves them).
async fn drop_stale_databases(conn: &mut sqlx::PgConnection, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name.split('_').nth(1).and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > 6 * 3600)
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

impl TestEnv {
    /// Settings pointing at this test's servers, database and namespace, with free ports so
    /// tests can run whole services side by side.
    pub fn settings(&self) -> anyhow::Result<hotline_config::Settings> {
        Ok(hotline_config::Settings::load_from(
            None,
            self.settings_env()?,
        )?)
    }

    /// The variables `settings` loads: a fresh free port for every listener
    /// ([`hotline_config::Settings::listen_ports`]: none is left on its default, where a local
    /// demo or a parallel test may hold it).
    fn settings_env(&self) -> anyhow::Result<Vec<(String, String)>> {
        let listeners = hotline_config::Settings::load_from(None, Vec::new())?.listen_ports();
        let ports = free_ports(listeners.len())?;
        let port_of = |var: &str| {
            listeners
                .iter()
                .zip(&ports)
                .find_map(|((v, _), port)| (v == var).then_some(*port))
                .unwrap_or_default()
        };
        let identity = format!("http://127.0.0.1:{}", port_of("HOTLINE__IDENTITY__PORT"));
        let mut env = self.base_env();
        env.extend(
            listeners
                .iter()
                .zip(&ports)
                .map(|((var, _), port)| (var.clone(), port.to_string())),
        );
        env.extend([
            (
                "HOTLINE__SURVEY__PUBLIC_URL".to_owned(),
                format!("http://127.0.0.1:{}", port_of("HOTLINE__SURVEY__PORT")),
            ),
            // The issuer's URL names its port: tokens minted in a test carry this `iss`, and
            // the services verify people's tokens against that same issuer.
            ("HOTLINE__IDENTITY__ISSUER".to_owned(), identity.clone()),
            ("HOTLINE__AUTH__ISSUER".to_owned(), identity),
            ("HOTLINE__DEMO".to_owned(), "true".to_owned()),
        ]);
        Ok(env)
    }

    /// This test's servers, database and namespace.
    fn base_env(&self) -> Vec<(String, String)> {
        vec![
            ("NATS_URL".to_owned(), self.nats_url.clone()),
            ("DATABASE_URL".to_owned(), self.database_url.clone()),
            ("REDIS_URL".to_owned(), self.redis_url.clone()),
            ("HOTLINE__NAMESPACE".to_owned(), self.namespace.clone()),
            (
                "HOTLINE__DATABASE__MAX_CONNECTIONS".to_owned(),
                "8".to_owned(),
            ),
        ]
    }

    /// The same settings as `HOTLINE__...` environment variables, for running the real binary.
    pub fn env_vars(&self, settings: &hotline_config::Settings) -> Vec<(String, String)> {
        let mut env = self.base_env();
        env.extend(
            settings
                .listen_ports()
                .into_iter()
                .map(|(var, port)| (var, port.to_string())),
        );
        env.extend([
            (
                "HOTLINE__SURVEY__PUBLIC_URL".to_owned(),
                settings.survey.public_url.clone(),
            ),
            (
                "HOTLINE__IDENTITY__ISSUER".to_owned(),
                settings.identity.issuer.clone(),
            ),
            (
                "HOTLINE__AUTH__ISSUER".to_owned(),
                settings.auth.issuer.clone(),
            ),
            (
                "HOTLINE__AUTH__AUDIENCE".to_owned(),
                settings.auth.audience.clone(),
            ),
        ]);
        env
    }
}

/// A port the OS says is free right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `n` distinct free ports: all are held open until every one is chosen, so the OS cannot hand
/// out the same port twice (settings with one port used twice do not validate).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener the settings move off its default but the binary is not told about binds
    /// the default port, and two tests running `hotline all` at once collide on it.
    #[test]
    fn the_binary_is_given_every_port_the_settings_chose() {
        let env = TestEnv {
            nats_url: "nats://127.0.0.1:4222".into(),
            database_url: "postgres://hotline@127.0.0.1/hotline".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            namespace: "t".into(),
        };
        let settings = env.settings().expect("settings");
        let given: Vec<String> = env
            .env_vars(&settings)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for (key, _) in env.settings_env().expect("env") {
            if key.starts_with("HOTLINE__") && key != "HOTLINE__DEMO" {
                assert!(given.contains(&key), "{key} is not passed to the binary");
            }
        }
    }
}
