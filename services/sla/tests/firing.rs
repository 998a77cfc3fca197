//! The firing loop against a real Postgres: several replicas, restarts, bad input.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use common::{clock, db, engine, eventually, ticket};
use hotline_sla::{SlaError, Stage, fire_due, run_firing_loop, schedule_batch};
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

/// Clocks of department stages fire warning, overdue, supervise and escalate; the centre's stop
/// at overdue.
const DEPARTMENT_STEPS: i64 = 4;
const CENTRE_STEPS: i64 = 2;

#[tokio::test]
async fn two_replicas_fire_every_step_exactly_once() {
    let db = db().await;
    let now = Utc::now();
    // 300 clocks long overdue: everything is due at once.
    let mut clocks = Vec::new();
    for i in 0..300u64 {
        let started = now - Span::days(40);
        let due = now - Span::days(30) + Span::seconds(i as i64);
        let (stage, dept) = if i % 3 == 0 {
            (Stage::Callback, None)
        } else {
            (
                Stage::Handling,
                Some(if i % 2 == 0 { "GZ-TH-SP" } else { "GZ-ZJ" }),
            )
        };
        clocks.push(clock(
            ticket(1000 + i),
            stage,
            dept,
            started,
            due - Span::hours(1),
            due,
        ));
    }
    let department_clocks = clocks.iter().filter(|c| c.department.is_some()).count() as i64;
    let centre_clocks = clocks.len() as i64 - department_clocks;
    assert_eq!(
        schedule_batch(&db.pool, &clocks).await.expect("scheduled"),
        300
    );

    let engine = Arc::new(engine(&db.env.namespace));
    let stop = CancellationToken::new();
    // Two "replicas" on the same database, small batches so that they interleave.
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(run_firing_loop(
                engine.clone(),
                db.pool.clone(),
                25,
                Duration::from_millis(50),
                stop.clone(),
            ))
        })
        .collect();
    // And direct calls racing them.
    let (a, b) = tokio::join!(
        fire_due(&engine, &db.pool, Utc::now(), 40),
        fire_due(&engine, &db.pool, Utc::now(), 40)
    );
    a.expect("fired");
    b.expect("fired");
    let expected = department_clocks * DEPARTMENT_STEPS + centre_clocks * CENTRE_STEPS;
    let pool = db.pool.clone();
    eventually("every step fired", || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.event_log")
                .fetch_one(&pool)
                .await
                .ok()?;
            let open: i64 =
                sqlx::query_scalar("SELECT count(*) FROM sla.clock WHERE next_fire_at IS NOT NULL")
                    .fetch_one(&pool)
                    .await
                    .ok()?;
            (n >= expected && open == 0).then_some(())
        }
    })
    .await;
    // Give a late duplicate every chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    for r in replicas {
        r.await.expect("joined").expect("loop ends cleanly");
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.event_log")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(total, expected, "no step fired twice");
    let dupes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT clock_id, kind FROM sla.event_log GROUP BY 1, 2 \
         HAVING count(*) > 1) d",
    )
    .fetch_one(&db.pool)
    .await
    .expect("dupes");
    assert_eq!(dupes, 0);
    // Each event went to the outbox with it; each supervision order once to the command queue.
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.outbox")
        .fetch_one(&db.pool)
        .await
        .expect("outbox");
    assert_eq!(outbox, expected);
    let commands: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.command")
        .fetch_one(&db.pool)
        .await
        .expect("commands");
    assert_eq!(commands, department_clocks);
    // Levels: escalated for departments (street → its district, others → the office).
    let rows = sqlx::query(
        "SELECT department, level, escalated_to FROM sla.clock WHERE department IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await
    .expect("clocks");
    for r in rows {
        let dept: String = r.get("department");
        let level: i16 = r.get("level");
        let to: Option<String> = r.get("escalated_to");
        assert_eq!(level, 4);
        let expected_to = if dept == "GZ-TH-SP" {
            "GZ-TH"
        } else {
            "市政府督查室"
        };
        assert_eq!(to.as_deref(), Some(expected_to));
    }
    let centre_levels: Vec<i16> =
        sqlx::query_scalar("SELECT DISTINCT level FROM sla.clock WHERE department IS NULL")
            .fetch_all(&db.pool)
            .await
            .expect("levels");
    assert_eq!(centre_levels, vec![2]);
}

#[tokio::test]
async fn a_new_replica_catches_up_on_what_came_due_while_none_ran() {
    let db = db().await;
    let engine = Arc::new(engine(&db.env.namespace));
    let now = Utc::now();
    // Due within a second and a half.
    let clocks: Vec<_> = (0..50u64)
        .map(|i| {
            clock(
                ticket(2000 + i),
                Stage::Dispatch,
                None,
                now,
                now + Span::milliseconds(800),
                now + Span::milliseconds(1500),
            )
        })
        .collect();
    schedule_batch(&db.pool, &clocks).await.expect("scheduled");
    // A replica runs briefly and stops before anything is due.
    let stop = CancellationToken::new();
    let first = tokio::spawn(run_firing_loop(
        engine.clone(),
        db.pool.clone(),
        100,
        Duration::from_millis(50),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    first.await.expect("joined").expect("stopped");
    let fired: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.event_log")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(fired, 0, "nothing was due yet");
    // Downtime: everything comes due.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let stop = CancellationToken::new();
    let second = tokio::spawn(run_firing_loop(
        engine.clone(),
        db.pool.clone(),
        100,
        Duration::from_millis(50),
        stop.clone(),
    ));
    let pool = db.pool.clone();
    eventually("the backlog fired", || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.event_log")
                .fetch_one(&pool)
                .await
                .ok()?;
            (n == 100).then_some(())
        }
    })
    .await;
    // The lateness is recorded: the steps fired after the downtime, not at their nominal time.
    let late: f64 = sqlx::query_scalar(
        "SELECT min(EXTRACT(EPOCH FROM fired_at - scheduled_at))::float8 FROM sla.event_log",
    )
    .fetch_one(&db.pool)
    .await
    .expect("lateness");
    assert!(late >= 0.5, "lateness {late}");
    // A clock due while the replica runs fires on time (well under a second late).
    let soon = Utc::now() + Span::milliseconds(400);
    schedule_batch(
        &db.pool,
        &[clock(
            ticket(2999),
            Stage::Dispatch,
            None,
            Utc::now(),
            soon,
            soon + Span::seconds(60),
        )],
    )
    .await
    .expect("scheduled");
    let pool = db.pool.clone();
    let lateness = eventually("the on-time warning", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, f64>(
                "SELECT EXTRACT(EPOCH FROM fired_at - scheduled_at)::float8 FROM sla.event_log \
                 WHERE ticket_no = $1",
            )
            .bind(hotline_sla::store::ticket_key(ticket(2999)))
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
        }
    })
    .await;
    assert!((0.0..1.0).contains(&lateness), "lateness {lateness}");
    stop.cancel();
    second.await.expect("joined").expect("stopped");
}

#[tokio::test]
async fn bad_clocks_are_refused_and_nothing_of_the_batch_is_stored() {
    let db = db().await;
    let now = Utc::now();
    let good = clock(
        ticket(3000),
        Stage::Dispatch,
        None,
        now,
        now,
        now + Span::hours(1),
    );
    let backwards = clock(
        ticket(3001),
        Stage::Dispatch,
        None,
        now,
        now,
        now - Span::hours(1),
    );
    let err = schedule_batch(&db.pool, &[good.clone(), backwards])
        .await
        .expect_err("refused");
    assert!(matches!(err, SlaError::Invalid(_)), "{err}");
    let centre_with_dept = clock(ticket(3002), Stage::Dispatch, Some("GZ-TH"), now, now, now);
    assert!(matches!(
        schedule_batch(&db.pool, &[good.clone(), centre_with_dept]).await,
        Err(SlaError::Invalid(_))
    ));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.clock")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(n, 0);
    // Two running clocks of one stage of one ticket: the statement fails whole.
    assert!(
        schedule_batch(&db.pool, &[good.clone(), good])
            .await
            .is_err()
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.clock")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(n, 0);
}
