//! The figures' counts read their indexes alone (index-only scans) and their whole days from
//! the daily rollups: with 100,000 tickets stored, reading each counted clock from the table
//! made the console's board and report take over 600 ms, and counting a month's entries
//! 0.2-0.3 s (docs/performance.md, "The console's pages").

mod common;

use chrono::{Duration, Utc};
use common::db;
use hotline_sla::figures::{ENDED_SQL, OVERDUE_SQL, Period, STEPS_SQL};
use sqlx::Row as _;

/// The plan Postgres picks for `sql` with a 30-day period, every department and stage, when it
/// may not read the whole table (the test's tables are nearly empty, so a sequential scan would
/// otherwise win whatever the indexes).
async fn plan(pool: &sqlx::PgPool, sql: &str) -> String {
    let mut tx = pool.begin().await.expect("tx");
    for set in [
        "SET LOCAL enable_seqscan = off",
        "SET LOCAL enable_bitmapscan = off",
    ] {
        sqlx::query(set).execute(&mut *tx).await.expect("set");
    }
    let now = Utc::now();
    let period = Period {
        from: now - Duration::days(30),
        to: now,
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
        .bind(period.from)
        .bind(period.to)
        .bind(None::<String>)
        .bind(None::<String>);
    if sql.contains("$8") {
        // The counts over days: the period cut at its whole days.
        let split = period.split_days(now);
        query = query
            .bind(split.head_end)
            .bind(split.tail_start)
            .bind(split.first_day)
            .bind(split.end_day);
    } else {
        // The overdue count takes the time it counts from.
        query = query.bind(now);
    }
    let rows = query.fetch_all(&mut *tx).await.expect("explain");
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).expect("plan line"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_figures_counts_are_index_only_scans() {
    let db = db().await;
    for (sql, index, rollup) in [
        (ENDED_SQL, "clock_closed_figures", Some("day_ended_pkey")),
        (OVERDUE_SQL, "clock_overdue_figures", None),
        (STEPS_SQL, "event_log_fired_figures", Some("day_steps_pkey")),
    ] {
        let plan = plan(&db.pool, sql).await;
        assert!(
            plan.contains(&format!("Index Only Scan using {index}")),
            "{index} not read alone:\n{plan}"
        );
        if let Some(rollup) = rollup {
            assert!(
                plan.contains(&format!("using {rollup}")),
                "the whole days not read from {rollup}:\n{plan}"
            );
        }
    }
}
