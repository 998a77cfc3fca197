//! `hotline bench --suite survey`: one million pending callback surveys.
//!
//! - **Schedule rate**: the survey store's batched scheduling (`schedule_batch`: one
//!   `INSERT … SELECT FROM UNNEST … ON CONFLICT DO NOTHING` per batch into the survey table and
//!   its 5 indexes) against the raw baseline: the same rows' due times inserted by plain SQL
//!   into a plain table with one index, same batch size.
//! - **Firing lateness**: with the million pending, a share of them (SMS links) comes due over
//!   `--due-seconds`; two firing loops (two replicas) sign a link for each, publish the
//!   invitation to the notify stream (acknowledged by JetStream) and commit; lateness is
//!   `fired_at - due_at`. The raw baseline polls the plain table the same way (`DELETE … WHERE
//!   due_at <= now() … FOR UPDATE SKIP LOCKED RETURNING`), same interval, and publishes nothing.

use std::time::{Duration, Instant};

use chrono::Utc;
use hotline_config::Settings;
use hotline_domain::TicketNo;
use hotline_survey::store::{self, Kind, NewSurvey};
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
        "bench: namespace {}, {n} pending surveys, {due_n} of them due over {due_window} s",
        settings.namespace
    );
    let pool = hotline_bus::db::connect(&settings.database.url, 8).await?;
    hotline_survey::migrate(&pool).await?;
    // The notify stream the invitations go to (a fresh namespace: created here).
    let bus = hotline_bus::Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    hotline_bus::streams::apply(
        &bus,
        hotline_bus::streams::StreamOptions::from_config(&settings.nats),
    )
    .await?;

    let now = Utc::now();
    let far = now + chrono::Duration::days(3);
    let survey = |i: usize| -> anyhow::Result<NewSurvey> {
        Ok(NewSurvey {
            ticket_no: TicketNo::compose(261203, i as u64 + 1)
                .ok_or_else(|| anyhow::anyhow!("ticket number"))?,
            completion_seq: 7,
            kind: Kind::Case,
            channel: "sms".into(),
            method: "sms".into(),
            address: Some(format!("139{:08}", i % 100_000_000)),
            lead: Some("GZ-TH".into()),
            service_code: None,
            agent: None,
            request_type: "complaint".into(),
            completed_at: now,
            due_at: far,
        })
    };
    let rss0 = rss_mib();
    let mut scheduled = 0u64;
    let t0 = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(n))
            .map(survey)
            .collect::<anyhow::Result<Vec<_>>>()?;
        scheduled += store::schedule_batch(&pool, &batch).await?;
    }
    let schedule_secs = t0.elapsed().as_secs_f64();
    let rss_after = rss_mib();
    let table_mib: i64 =
        sqlx::query_scalar("SELECT pg_total_relation_size('survey.survey') / 1048576")
            .fetch_one(&pool)
            .await?;

    sqlx::query(
        "CREATE TABLE survey.raw_survey (id BIGSERIAL PRIMARY KEY, ticket_no BIGINT NOT NULL, \
         due_at TIMESTAMPTZ NOT NULL)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("CREATE INDEX raw_survey_due ON survey.raw_survey (due_at)")
        .execute(&pool)
        .await?;
    let t0 = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let tickets: Vec<i64> = (start..end).map(|i| i as i64 + 1).collect();
        let due = vec![far; end - start];
        sqlx::query(
            "INSERT INTO survey.raw_survey (ticket_no, due_at) \
             SELECT t, d FROM UNNEST($1::bigint[], $2::timestamptz[]) AS x(t, d)",
        )
        .bind(&tickets)
        .bind(&due)
        .execute(&pool)
        .await?;
    }
    let raw_secs = t0.elapsed().as_secs_f64();

    // The due share comes due over the window, in both tables.
    let window_start = Utc::now() + chrono::Duration::seconds(3);
    let spread_ms = (due_window * 1000.0) as i64;
    sqlx::query(
        "UPDATE survey.survey SET due_at = $1 + ((id % $3) * $4 / $3) * interval '1 millisecond', \
           next_attempt_at = $1 + ((id % $3) * $4 / $3) * interval '1 millisecond' WHERE id <= $2",
    )
    .bind(window_start)
    .bind(due_n as i64)
    .bind((due_n as i64).max(1))
    .bind(spread_ms)
    .execute(&pool)
    .await?;
    sqlx::query(
        "UPDATE survey.raw_survey SET due_at = $1 + ((id % $3) * $4 / $3) * interval '1 millisecond' \
         WHERE id <= $2",
    )
    .bind(window_start)
    .bind(due_n as i64)
    .bind((due_n as i64).max(1))
    .bind(spread_ms)
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE survey.survey").execute(&pool).await?;
    sqlx::query("ANALYZE survey.raw_survey")
        .execute(&pool)
        .await?;

    let poll = Duration::from_millis(settings.survey.poll_interval_ms);
    let shutdown = CancellationToken::new();
    let firing = hotline_survey::firing::Firing {
        pool: pool.clone(),
        bus: bus.clone(),
        policy: hotline_survey::policy::Policy::from_settings(settings),
        signer: hotline_survey::link::Signer::new(b"a-bench-only-link-secret"),
        link_base: "http://127.0.0.1:8088/s/".into(),
        batch: i64::from(settings.survey.fire_batch),
    };
    let mut loops = Vec::new();
    for _ in 0..2 {
        loops.push(tokio::spawn(hotline_survey::firing::run(
            firing.clone(),
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
                    "DELETE FROM survey.raw_survey WHERE id IN (SELECT id FROM survey.raw_survey \
                     WHERE due_at <= now() ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED) \
                     RETURNING due_at",
                )
                .fetch_all(&pool)
                .await?;
                let fired = Utc::now();
                let full = due.len() >= 500;
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
    let deadline = Instant::now() + Duration::from_secs_f64(due_window + 120.0);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM survey.survey WHERE id <= $1 AND fired_at IS NULL",
        )
        .bind(due_n as i64)
        .fetch_one(&pool)
        .await?;
        let raw_pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM survey.raw_survey WHERE id <= $1")
                .bind(due_n as i64)
                .fetch_one(&pool)
                .await?;
        if pending == 0
            && raw_pending == 0
            && Utc::now() > window_start + chrono::Duration::milliseconds(spread_ms)
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{pending} surveys (baseline: {raw_pending}) never fired"
        );
    }
    shutdown.cancel();
    for l in loops {
        l.await??;
    }
    let mut raw_lateness = raw.await??;
    let mut lateness: Vec<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM (fired_at - due_at))::float8 FROM survey.survey \
         WHERE fired_at IS NOT NULL",
    )
    .fetch_all(&pool)
    .await?;
    let invited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM survey.survey WHERE state = 'invited' AND attempts = 1",
    )
    .fetch_one(&pool)
    .await?;
    let stream = bus.js.get_stream(bus.subjects.notify_stream()).await?;
    let published = stream.get_info().await?.state.messages;
    lateness.sort_by(f64::total_cmp);
    raw_lateness.sort_by(f64::total_cmp);

    println!();
    println!(
        "{:<64} {:>10} {:>9} {:>12}",
        "run", "rows", "seconds", "rows/s"
    );
    println!(
        "{:<64} {:>10} {:>9.2} {:>12.0}",
        "survey schedule_batch (ON CONFLICT, 5 indexes)",
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
        "size: survey.survey with indexes {table_mib} MiB for {scheduled} surveys; this process grew {:.0} MiB while scheduling",
        rss_after - rss0
    );
    println!();
    println!(
        "{:<64} {:>8} {:>9} {:>9} {:>9}",
        "firing lateness (fired - due)", "surveys", "p50 ms", "p99 ms", "max ms"
    );
    for (name, l) in [
        (
            "survey: 2 firing loops, signed link + JetStream-acked notice",
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
        "{invited} surveys invited of {due_n} due; {published} invitations in the notify stream (one per survey: none twice); poll interval {} ms",
        settings.survey.poll_interval_ms
    );
    Ok(())
}
