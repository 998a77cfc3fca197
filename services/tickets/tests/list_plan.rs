//! A department's inbox (its open tickets) reads the handlers of open tickets alone: with
//! 100,000 tickets stored, the planner had ANDed the bitmap of every open ticket of every
//! department to the department's few, 20 ms of the console inbox's ~30 (docs/performance.md,
//! "The console's pages", 12-05).

use hotline_tickets::store::list_sql;
use sqlx::Row as _;

/// The plan of the ledger's list for GZ-TH's open statuses, when it may not read the whole
/// table (the test's table is nearly empty, so a sequential scan would otherwise win).
async fn plan(pool: &sqlx::PgPool) -> String {
    let mut tx = pool.begin().await.expect("tx");
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .expect("set");
    let statuses = ["dispatched", "accepted", "in_progress", "returned"];
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {}", list_sql(true))))
        .bind(Vec::<i64>::new())
        .bind(statuses)
        .bind(None::<Vec<String>>)
        .bind(Some("GZ-TH"))
        .bind(None::<String>)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .bind(100_i64)
        .fetch_all(&mut *tx)
        .await
        .expect("explain");
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).expect("plan line"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_departments_open_tickets_are_read_from_the_open_handlers_alone() {
    let env = hotline_testkit::env().await.expect("test servers");
    let pool = hotline_bus::db::connect(&env.database_url, 2)
        .await
        .expect("postgres");
    hotline_tickets::migrate(&pool).await.expect("migrations");
    let inbox = plan(&pool).await;
    assert!(
        inbox.contains("ticket_open_handlers"),
        "the open handlers not read:\n{inbox}"
    );
    assert!(
        !inbox.contains("ticket_status_created"),
        "every open ticket's bitmap read too:\n{inbox}"
    );
}
