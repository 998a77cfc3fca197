//! The idempotent inbox: a consumer records each message id in the same transaction as its
//! effect, so a redelivered message changes nothing.
//!
//! ```sql
//! CREATE TABLE <schema>.inbox (consumer TEXT NOT NULL, msg_id TEXT NOT NULL,
//!   seen_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (consumer, msg_id));
//! ```

use sqlx::{AssertSqlSafe, Postgres, Transaction};

/// Records `msg_id` for `consumer`; false when it was already recorded (a redelivery).
pub async fn first_time(
    tx: &mut Transaction<'_, Postgres>,
    schema: &'static str,
    consumer: &str,
    msg_id: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.inbox (consumer, msg_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    )))
    .bind(consumer)
    .bind(msg_id)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
