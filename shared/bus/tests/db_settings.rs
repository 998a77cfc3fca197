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

/// The hot path's batches (`db::begin_keyed`): plans made once per connection, on the index
/// even when the table is empty at that moment (a fresh database, a drained outbox), and the
/// pool's own settings back after the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_batch_plans_once_on_the_index_even_for_an_empty_table() {
    let env = hotline_testkit::env().await.expect("test servers");
    let pool = hotline_bus::db::connect_for(&env.database_url, 1, PostgresOnly)
        .await
        .expect("postgres");
    // Wide enough that a sequential scan of the empty table looks cheap to the planner.
    sqlx::query(
        "CREATE TABLE ticket (ticket_no BIGINT PRIMARY KEY, status TEXT NOT NULL, \
         body JSONB NOT NULL DEFAULT '{}')",
    )
    .execute(&pool)
    .await
    .expect("table");
    let update = "UPDATE ticket t SET status = u.s FROM UNNEST($1::bigint[], $2::text[]) \
                  AS u(n, s) WHERE t.ticket_no = u.n";
    let plan_of = |settings: &'static str| {
        let pool = pool.clone();
        async move {
            let mut tx = if settings == "keyed" {
                hotline_bus::db::begin_keyed(&pool).await.expect("begin")
            } else {
                let mut tx = pool.begin().await.expect("begin");
                sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
                    .execute(&mut *tx)
                    .await
                    .expect("set");
                tx
            };
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE probe AS {update}")))
                .execute(&mut *tx)
                .await
                .expect("prepare");
            let plan: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE probe('{1,2}', '{a,b}')")
                .fetch_all(&mut *tx)
                .await
                .expect("explain");
            sqlx::raw_sql("DEALLOCATE probe")
                .execute(&mut *tx)
                .await
                .expect("deallocate");
            tx.commit().await.expect("commit");
            plan.join("\n")
        }
    };
    let keyed = plan_of("keyed").await;
    assert!(keyed.contains("Index Scan using ticket_pkey"), "{keyed}");
    assert!(!keyed.contains("Seq Scan on ticket"), "{keyed}");
    // The same plan made once without the index rule: what the keyed transaction prevents.
    let generic_only = plan_of("generic only").await;
    assert!(
        generic_only.contains("Seq Scan on ticket"),
        "{generic_only}"
    );
    // The settings were LOCAL: the pool's connection plans per statement again.
    let (plans, seqscan): (String, String) = sqlx::query_as(
        "SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')",
    )
    .fetch_one(&pool)
    .await
    .expect("settings");
    assert_eq!(
        (plans.as_str(), seqscan.as_str()),
        ("force_custom_plan", "on")
    );
}
