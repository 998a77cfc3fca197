//! The pool's session settings against the real Postgres: custom plans, and a transaction left
//! idle by a process that stopped running is ended by Postgres, its locks released, so the
//! other replicas' transactions go on.

use std::time::{Duration, Instant};

use hotline_bus::db::Transactions::PostgresOnly;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_idle_is_ended_and_its_locks_released() {
    let env = hotline_testkit::env().await.expect("test servers");
    let pool = hotline_bus::db::connect_for(&env.database_url, 4, PostgresOnly)
        .await
        .expect("postgres");
    let (plans, idle): (String, String) = sqlx::query_as(
        "SELECT current_setting('plan_cache_mode'), \
         current_setting('idle_in_transaction_session_timeout')",
    )
    .fetch_one(&pool)
    .await
    .expect("settings");
    assert_eq!(plans, "force_custom_plan");
    assert_eq!(idle, hotline_bus::db::IDLE_IN_TRANSACTION_TIMEOUT);

    sqlx::query("CREATE TABLE numbers (n BIGINT PRIMARY KEY)")
        .execute(&pool)
        .await
        .expect("table");
    // The "frozen replica": inserts a key in a transaction, then stops talking.
    let mut frozen = pool.begin().await.expect("begin");
    sqlx::query("INSERT INTO numbers VALUES (1)")
        .execute(&mut *frozen)
        .await
        .expect("insert");
    // The live replica inserts the same key: it waits on the frozen transaction, until
    // Postgres ends that one.
    let started = Instant::now();
    let live = tokio::time::timeout(
        Duration::from_secs(20),
        sqlx::query("INSERT INTO numbers VALUES (1)").execute(&pool),
    )
    .await
    .expect("the live insert never went on")
    .expect("the live insert");
    assert_eq!(live.rows_affected(), 1);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(15),
        "waited {waited:?}"
    );
    // The frozen one finds its session gone when it wakes.
    assert!(frozen.commit().await.is_err());

    // An operator's own choice in the URL stands.
    let url = format!(
        "{}?options=-c%20idle_in_transaction_session_timeout%3D0",
        env.database_url
    );
    let own = hotline_bus::db::connect_for(&url, 1, PostgresOnly)
        .await
        .expect("postgres");
    let idle: String =
        sqlx::query_scalar("SELECT current_setting('idle_in_transaction_session_timeout')")
            .fetch_one(&own)
            .await
            .expect("setting");
    assert_eq!(idle, "0");

    // A pool for transactions that wait on other things (an outbox awaiting the ledger) keeps
    // Postgres's default: no limit.
    let patient = hotline_bus::db::connect(&env.database_url, 1)
        .await
        .expect("postgres");
    let idle: String =
        sqlx::query_scalar("SELECT current_setting('idle_in_transaction_session_timeout')")
            .fetch_one(&patient)
            .await
            .expect("setting");
    assert_eq!(idle, "0");
}
