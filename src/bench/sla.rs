//! `hotline bench --suite sla`: one million open deadlines.
//!
//! - **Schedule rate**: the SLA store's batched scheduling (`schedule_batch`: checks every
//!   clock, one `INSERT … SELECT FROM UNNEST` per batch) against the raw baseline: the same rows'
//!   times inserted by plain SQL into a plain table with one index, same batch size.
//! - **Size**: the clocks table with its indexes, and this process's resident memory (the
//!   service keeps no clock in memory: Postgres holds them all).
//! - **Firing lateness**: with the million open, a share of them comes due over the next
//!   `--due-seconds`; two firing loops (two replicas) fire them; lateness is `fired_at -
//!   scheduled_at` from the event log. The raw baseline polls the plain table the same way
//!   (`DELETE … WHERE next_fire_at <= now() … FOR UPDATE SKIP LOCKED RETURNING`), same interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hotline_config::Settings;
use hotline_domain::{RequestType, TicketNo};
use hotline_sla::store::{self, Engine, NewClock};
use hotline_sla::{Stage, Urgency};
use tokio_util::sync::CancellationToken;

use super::{Args, Fresh, percentile, rss_mib};

const BATCH: usize = 5_000;

pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    let fresh = Fresh::new(&mut settings).await?;
    let result = measure(&settings, &args).await;
    fresh.drop().await?;
    result
}

async fn measure(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    let n = args.deadlines;
    let due_n = args.due.min(n);
    let due_window = args.due_seconds.max(1) as f64;
    eprintln!(
        "bench: namespace {}, {n} open deadlines, {due_n} of them due over {due_window} s",
        settings.namespace
    );
    let pool = hotline_bus::db::connect(&settings.database.url, 8).await?;
    hotline_sla::migrate(&pool).await?;
    let policy = hotline_sla::load_policy(settings)?;
    let calendar = hotline_sla::load_calendar(settings)?;
    let engine = Arc::new(Engine::new(
        policy.clone(),
        calendar.clone(),
        hotline_domain::Directory::demo(),
        hotline_bus::subjects::Subjects::new(&settings.namespace),
    ));

    // The clocks: centre dispatch clocks (2 working hours), distinct tickets. The first `due_n`
    // are moved to come due inside the window, spread evenly, starting a few seconds after the
    // whole million is in.
    let now = Utc::now();
    let template = NewClock::new(
        &policy,
        &calendar,
        TicketNo::compose(261130, 1).ok_or_else(|| anyhow::anyhow!("ticket number"))?,
        Stage::Dispatch,
        None,
        RequestType::Consultation,
        Urgency::Normal,
        now,
    )
    .ok_or_else(|| anyhow::anyhow!("the default policy has a dispatch limit"))?;
    let rss0 = rss_mib();
    let mut scheduled = 0u64;
    let t0 = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let clocks: Vec<NewClock> = (start..(start + BATCH).min(n))
            .map(|i| {
                let mut c = template.clone();
                c.ticket_no = TicketNo::compose(261130, i as u64 + 1).unwrap_or(c.ticket_no);
                // Far future for all but the due share (set below, after scheduling).
                c.due_at = now + chrono::Duration::days(3);
                c.warn_at = c.due_at;
                c
            })
            .collect();
        scheduled += store::schedule_batch(&pool, &clocks)
            .await
            .map_err(anyhow::Error::from)?;
    }
    let schedule_secs = t0.elapsed().as_secs_f64();
    let rss_after = rss_mib();
    let table_mib: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('sla.clock') / 1048576")
        .fetch_one(&pool)
        .await?;

    // The raw baseline: the same times into a plain table, same batches, plain SQL.
    sqlx::query(
        "CREATE TABLE sla.raw_clock (id BIGSERIAL PRIMARY KEY, ticket_no BIGINT NOT NULL, \
         due_at TIMESTAMPTZ NOT NULL, next_fire_at TIMESTAMPTZ)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("CREATE INDEX raw_clock_next ON sla.raw_clock (next_fire_at)")
        .execute(&pool)
        .await?;
    let t0 = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let tickets: Vec<i64> = (start..end).map(|i| i as i64 + 1).collect();
        let due = vec![now + chrono::Duration::days(3); end - start];
        sqlx::query(
            "INSERT INTO sla.raw_clock (ticket_no, due_at, next_fire_at) \
             SELECT t, d, d FROM UNNEST($1::bigint[], $2::timestamptz[]) AS x(t, d)",
        )
        .bind(&tickets)
        .bind(&due)
        .execute(&pool)
        .await?;
    }
    let raw_secs = t0.elapsed().as_secs_f64();

    // Make the due share come due over the window, in both tables.
    let window_start = Utc::now() + chrono::Duration::seconds(3);
    let spread_ms = (due_window * 1000.0) as i64;
    sqlx::query(
        "UPDATE sla.clock SET due_at = $1 + ((id % $3) * $4 / $3) * interval '1 millisecond', \
           warn_at = $1 + ((id % $3) * $4 / $3) * interval '1 millisecond', \
           next_fire_at = $1 + ((id % $3) * $4 / $3) * interval '1 millisecond', started_at = $5 \
         WHERE id <= $2",
    )
    .bind(window_start)
    .bind(due_n as i64)
    .bind((due_n as i64).max(1))
    .bind(spread_ms)
    .bind(now)
    .execute(&pool)
    .await?;
    sqlx::query(
        "UPDATE sla.raw_clock SET next_fire_at = $1 + ((id % $3) * $4 / $3) * interval '1 millisecond' \
         WHERE id <= $2",
    )
    .bind(window_start)
    .bind(due_n as i64)
    .bind((due_n as i64).max(1))
    .bind(spread_ms)
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE sla.clock").execute(&pool).await?;
    sqlx::query("ANALYZE sla.raw_clock").execute(&pool).await?;

    // Two replicas' firing loops over the platform's clocks, and the raw poller, side by side.
    let poll = Duration::from_millis(settings.sla.poll_interval_ms);
    let shutdown = CancellationToken::new();
    let mut loops = Vec::new();
    for _ in 0..2 {
        loops.push(tokio::spawn(store::run_firing_loop(
            engine.clone(),
            pool.clone(),
            i64::from(settings.sla.fire_batch),
            poll,
            shutdown.clone(),
        )));
    }
    let raw = {
        let pool = pool.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut lateness = Vec::new();
            while !stop.is_cancelled() {
                let due: Vec<chrono::DateTime<Utc>> = sqlx::query_scalar(
                    "DELETE FROM sla.raw_clock WHERE id IN (SELECT id FROM sla.raw_clock \
                     WHERE next_fire_at <= now() ORDER BY next_fire_at LIMIT 1000 FOR UPDATE SKIP LOCKED) \
                     RETURNING next_fire_at",
                )
                .fetch_all(&pool)
                .await?;
                let fired = Utc::now();
                let full = due.len() >= 1000;
                lateness.extend(
                    due.into_iter()
                        .map(|d| (fired - d).num_microseconds().unwrap_or(0) as f64 / 1e6),
                );
                if !full {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(poll) => {}
                    }
                }
            }
            Ok::<_, anyhow::Error>(lateness)
        })
    };
    let deadline = Instant::now() + Duration::from_secs_f64(due_window + 60.0);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sla.clock WHERE id <= $1 AND state = 'open' AND next_fire_at IS NOT NULL \
             AND next_fire_at <= $2",
        )
        .bind(due_n as i64)
        .bind(window_start + chrono::Duration::milliseconds(spread_ms))
        .fetch_one(&pool)
        .await?;
        // The baseline must have fired its share too, or its figures would leave the last out.
        let raw_pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sla.raw_clock WHERE id <= $1")
                .bind(due_n as i64)
                .fetch_one(&pool)
                .await?;
        let now = Utc::now();
        if pending == 0
            && raw_pending == 0
            && now > window_start + chrono::Duration::milliseconds(spread_ms)
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{pending} deadlines (baseline: {raw_pending}) never fired"
        );
    }
    shutdown.cancel();
    for l in loops {
        l.await??;
    }
    let mut raw_lateness = raw.await??;
    let mut lateness: Vec<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM (fired_at - scheduled_at))::float8 FROM sla.event_log \
         WHERE scheduled_at IS NOT NULL",
    )
    .fetch_all(&pool)
    .await?;
    let fired_clocks: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT clock_id) FROM sla.event_log")
            .fetch_one(&pool)
            .await?;
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT clock_id, kind FROM sla.event_log GROUP BY 1, 2 HAVING count(*) > 1) x",
    )
    .fetch_one(&pool)
    .await?;
    lateness.sort_by(f64::total_cmp);
    raw_lateness.sort_by(f64::total_cmp);

    println!();
    println!(
        "{:<64} {:>10} {:>9} {:>12}",
        "run", "rows", "seconds", "rows/s"
    );
    println!(
        "{:<64} {:>10} {:>9.2} {:>12.0}",
        "SLA schedule_batch (checked clocks, 6 indexes)",
        scheduled,
        schedule_secs,
        scheduled as f64 / schedule_secs
    );
    println!(
        "{:<64} {:>10} {:>9.2} {:>12.0}",
        "baseline: plain INSERT … UNNEST, 2 indexes, same batches",
        n,
        raw_secs,
        n as f64 / raw_secs
    );
    println!(
        "ratio schedule / raw insert (rows/s): {:.2}",
        (scheduled as f64 / schedule_secs) / (n as f64 / raw_secs)
    );
    println!(
        "size: sla.clock with indexes {table_mib} MiB for {scheduled} clocks; this process grew {:.0} MiB while scheduling",
        rss_after - rss0
    );
    println!();
    println!(
        "{:<64} {:>8} {:>9} {:>9} {:>9}",
        "firing lateness (fired - due)", "steps", "p50 ms", "p99 ms", "max ms"
    );
    for (name, l) in [
        (
            "SLA: 2 firing loops (replicas), ladder + event log + outbox",
            &lateness,
        ),
        (
            "baseline: plain DELETE … SKIP LOCKED poller, same interval",
            &raw_lateness,
        ),
    ] {
        println!(
            "{:<64} {:>8} {:>9.1} {:>9.1} {:>9.1}",
            name,
            l.len(),
            percentile(l, 0.5) * 1000.0,
            percentile(l, 0.99) * 1000.0,
            l.last().copied().unwrap_or_default() * 1000.0
        );
    }
    println!(
        "{fired_clocks} clocks fired of {due_n} due; steps fired twice: {twice}; poll interval {} ms",
        settings.sla.poll_interval_ms
    );
    Ok(())
}
