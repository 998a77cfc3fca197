//! The STOP list (退订) in Postgres, schema `sms`: one row per number that asked for no more
//! messages, keyed by [`super::sign::number_hash`], never by the number.

use anyhow::Context as _;
use sqlx::PgPool;

pub const SCHEMA: &str = "sms";

#[derive(Clone)]
pub struct StopList {
    pool: PgPool,
}

impl StopList {
    pub fn new(pool: PgPool) -> StopList {
        StopList { pool }
    }

    pub async fn contains(&self, number_hash: &str) -> anyhow::Result<bool> {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM sms.stop_list WHERE number_hash = $1)",
        )
        .bind(number_hash)
        .fetch_one(&self.pool)
        .await
        .context("reading the STOP list")
    }

    /// Adds the number; adding it again keeps the first time.
    pub async fn add(&self, number_hash: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO sms.stop_list (number_hash) VALUES ($1) ON CONFLICT (number_hash) DO NOTHING",
        )
        .bind(number_hash)
        .execute(&self.pool)
        .await
        .context("adding to the STOP list")?;
        Ok(())
    }

    /// Removes the number; answers whether it was there.
    pub async fn remove(&self, number_hash: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM sms.stop_list WHERE number_hash = $1")
            .bind(number_hash)
            .execute(&self.pool)
            .await
            .context("removing from the STOP list")?;
        Ok(done.rows_affected() > 0)
    }
}
