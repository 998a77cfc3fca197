//! The plans Postgres makes of the ledger's reads with the console bench's tickets stored
//! (docs/performance.md, "The console's pages", 12-05):
//!
//! - a department's inbox (its open tickets) reads the handlers of open tickets alone: the
//!   planner had ANDed the bitmap of every open ticket of every department to the department's
//!   few, 20 ms of the console inbox's ~30;
//! - the supervisor's counts by channel and by class x district read one covering index
//!   alone: by channel had read every counted ticket's row.

use chrono::{DateTime, Duration, Utc};
use hotline_tickets::hotspots::{BY_CHANNEL_SQL, COUNT_SQL};
use hotline_tickets::store::list_sql;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row as _};

/// A fresh ledger holding the console bench's shape: 40,000 tickets, one a minute back from
/// now, four in ten open (half of those not yet dispatched, which no inbox lists), one in fifty
/// held by GZ-TH and the rest by six other departments, vacuumed and analysed as autovacuum
/// leaves a table after a bulk load.
async fn stored() -> (hotline_testkit::TestEnv, PgPool) {
    let env = hotline_testkit::env().await.expect("test servers");
    let pool = hotline_bus::db::connect(&env.database_url, 2)
        .await
        .expect("postgres");
    hotline_tickets::migrate(&pool).await.expect("migrations");
    sqlx::raw_sql(
        "INSERT INTO tickets.ticket (ticket_no, status, channel, request_type, description, \
         location, citizen, confidential, attributes, lead, handlers, last_seq, created_at, \
         updated_at, address_key, service_code, district) \
         SELECT n, CASE WHEN n % 10 < 2 THEN 'received' WHEN n % 10 < 4 THEN \
         (ARRAY['dispatched','accepted','in_progress','returned'])[1 + n % 4] ELSE 'closed' END, \
         (ARRAY['phone','wechat','web','email'])[1 + n % 4], 'complaint', '路灯不亮', '{}', \
         '{}', false, '{}', d, ARRAY[d], 1, now() - n * interval '1 minute', now(), \
         'tianhe' || n, '0' || (n % 9) || '.01.001', d FROM generate_series(1, 40000) AS n, \
         LATERAL (SELECT CASE WHEN n % 50 = 7 THEN 'GZ-TH' ELSE (ARRAY['GZ-HZ','GZ-YX', \
         'GZ-LW','GZ-BY','GZ-HP','GZ-PY'])[1 + (n / 7) % 6] END AS d) AS dept",
    )
    .execute(&pool)
    .await
    .expect("tickets stored");
    // Not in the same statement: VACUUM runs outside any transaction.
    sqlx::raw_sql("VACUUM ANALYZE tickets.ticket")
        .execute(&pool)
        .await
        .expect("vacuum");
    (env, pool)
}

/// The plan of `query` (an `EXPLAIN`), one line per node.
async fn plan(pool: &PgPool, query: Query<'_, Postgres, PgArguments>) -> String {
    let rows = query.fetch_all(pool).await.expect("explain");
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).expect("plan line"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn explain(sql: &str) -> Query<'static, Postgres, PgArguments> {
    sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
}

/// The ledger's list for GZ-TH's open statuses, as the inbox or as a plain list.
async fn inbox_plan(pool: &PgPool, inbox: bool) -> String {
    let statuses = ["dispatched", "accepted", "in_progress", "returned"];
    let query = explain(&list_sql(inbox))
        .bind(Vec::<i64>::new())
        .bind(statuses)
        .bind(None::<Vec<String>>)
        .bind(Some("GZ-TH"))
        .bind(None::<String>)
        .bind(None::<DateTime<Utc>>)
        .bind(None::<DateTime<Utc>>)
        .bind(100_i64);
    plan(pool, query).await
}

#[tokio::test]
async fn a_departments_open_tickets_are_read_from_the_open_handlers_alone() {
    let (_env, pool) = stored().await;
    let inbox = inbox_plan(&pool, true).await;
    assert!(
        inbox.contains("ticket_open_handlers"),
        "the open handlers not read:\n{inbox}"
    );
    assert!(
        !inbox.contains("ticket_status_created"),
        "every open ticket's bitmap read too:\n{inbox}"
    );
    // What the plain list (`status = ANY($2)`) made of it: the trap this one keeps shut.
    let plain = inbox_plan(&pool, false).await;
    assert!(plain.contains("ticket_status_created"), "{plain}");
}

#[tokio::test]
async fn the_supervisors_counts_read_one_covering_index_alone() {
    let (_env, pool) = stored().await;
    let now = Utc::now();
    // The board's last 12 hours; two days of hotspots (over the whole of this test's narrow
    // rows a sequential scan is cheaper; the bench's wide rows take the index for 60 days).
    for (sql, hours) in [(BY_CHANNEL_SQL, 12), (COUNT_SQL, 48)] {
        let from = now - Duration::hours(hours);
        let plan = plan(&pool, explain(sql).bind(from).bind(now)).await;
        assert!(
            plan.contains("Index Only Scan using ticket_created_counts"),
            "not read from the covering index alone:\n{plan}"
        );
    }
}
