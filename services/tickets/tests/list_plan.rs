//! A department's inbox (its open tickets) reads the handlers of open tickets alone: with
//! 100,000 tickets stored, the planner had ANDed the bitmap of every open ticket of every
//! department to the department's few, 20 ms of the console inbox's ~30 (docs/performance.md,
//! "The console's pages", 12-05).

use hotline_tickets::store::list_sql;
use sqlx::Row as _;

/// The plan of the ledger's list for GZ-TH's open statuses.
async fn plan(pool: &sqlx::PgPool, inbox: bool) -> String {
    let mut tx = pool.begin().await.expect("tx");
    let statuses = ["dispatched", "accepted", "in_progress", "returned"];
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {}", list_sql(inbox))))
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
    // The console bench's shape: 40,000 tickets, four in ten open (half of those not yet
    // dispatched, which no inbox lists), one in fifty held by GZ-TH and the rest by six other
    // departments, and the planner's statistics of them.
    sqlx::raw_sql(
        "INSERT INTO tickets.ticket (ticket_no, status, channel, request_type, description, \
         location, citizen, confidential, attributes, lead, handlers, last_seq, created_at, \
         updated_at, address_key) \
         SELECT n, CASE WHEN n % 10 < 2 THEN 'received' WHEN n % 10 < 4 THEN \
         (ARRAY['dispatched','accepted','in_progress','returned'])[1 + n % 4] ELSE 'closed' END, \
         'phone', 'complaint', '路灯不亮', '{}', \
         '{}', false, '{}', d, ARRAY[d], 1, now() - n * interval '1 minute', now(), \
         'tianhe' || n FROM generate_series(1, 40000) AS n, \
         LATERAL (SELECT CASE WHEN n % 50 = 7 THEN 'GZ-TH' ELSE (ARRAY['GZ-HZ','GZ-YX', \
         'GZ-LW','GZ-BY','GZ-HP','GZ-PY'])[1 + (n / 7) % 6] END AS d) AS dept; \
         ANALYZE tickets.ticket",
    )
    .execute(&pool)
    .await
    .expect("tickets stored");
    let inbox = plan(&pool, true).await;
    assert!(
        inbox.contains("ticket_open_handlers"),
        "the open handlers not read:\n{inbox}"
    );
    assert!(
        !inbox.contains("ticket_status_created"),
        "every open ticket's bitmap read too:\n{inbox}"
    );
    // What the plain list (`status = ANY($2)`) made of it: the trap this one keeps shut.
    let plain = plan(&pool, false).await;
    assert!(plain.contains("ticket_status_created"), "{plain}");
}
