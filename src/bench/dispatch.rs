//! `hotline bench --suite dispatch`: smart dispatch's decisions per second and decision latency
//! through the dispatch service, against the classifier alone in the same process.
//!
//! - **Classifier alone** (the baseline): `smart::assess` (segmentation, TF-IDF, the softmax,
//!   the matter and the department) on the held-out real messages, one after another on one
//!   thread: what a decision costs with no service around it.
//! - **Through the service**: the ledger, the knowledge service (its demo items, whose matters
//!   are the hints) and dispatch run in this process on a fresh namespace and database; free-text
//!   tickets (the same messages, no matter code) are created over NATS as intake creates them,
//!   `--concurrency` in flight; the run ends when dispatch has logged a decision for every one.
//!   Decisions/s is tickets over the time from the first create to the last decision; latency
//!   is the service's own (`dispatch.decision.latency_ms`: from the ledger's event to the
//!   decision, the knowledge round trip included). A paced run at `--rate` for
//!   `--rate-seconds` shows latency without a backlog.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use hotline_bus::rpc;
use hotline_config::Settings;
use hotline_dispatch::catalogue::demo_entries;
use hotline_dispatch::classifier::Model;
use hotline_dispatch::gazetteer::Gazetteer;
use hotline_dispatch::smart;
use hotline_domain::contract::{CommandAccepted, CreateTicket, Location, TicketCommand};
use hotline_domain::{Actor, Channel, Directory, RequestType, TicketNo};
use tokio_util::sync::CancellationToken;

use super::{Args, Fresh, Run, cpu_seconds, free_port, percentile, summarize};

const MESSAGES: &str = include_str!("../../deploy/seed/messages/heldout.jsonl");

fn messages() -> anyhow::Result<Vec<String>> {
    MESSAGES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).context("held-out line")?;
            Ok(format!(
                "{}。{}",
                v["subject"].as_str().unwrap_or_default(),
                v["detail"].as_str().unwrap_or_default()
            ))
        })
        .collect()
}

pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    settings.demo = true;
    for port in [
        &mut settings.tickets.port,
        &mut settings.dispatch.port,
        &mut settings.knowledge.port,
    ] {
        *port = free_port()?;
    }
    let fresh = Fresh::new(&mut settings).await?;
    let result = measure(&settings, &args).await;
    fresh.drop().await?;
    result
}

async fn measure(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    let texts = messages()?;
    let n = args.tickets;
    eprintln!(
        "bench: namespace {}, {n} free-text tickets from {} held-out messages, concurrency {}",
        settings.namespace,
        texts.len(),
        args.concurrency
    );
    let mut runs: Vec<Run> = Vec::new();

    // The baseline: the same decision with no service around it.
    let model = Model::shipped()?;
    let entries = demo_entries()?;
    let gazetteer = Gazetteer::demo(&Directory::demo());
    let alone = n.min(5_000);
    let (latencies, secs, cpu) = tokio::task::spawn_blocking(move || {
        let mut latencies = Vec::with_capacity(alone);
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let mut auto = 0usize;
        for i in 0..alone {
            let begin = Instant::now();
            let a = smart::assess(
                &model,
                &texts[i % texts.len()],
                &Location::default(),
                &entries,
                &[],
                &gazetteer,
            );
            auto += usize::from(a.auto);
            latencies.push(begin.elapsed().as_secs_f64());
        }
        eprintln!("bench: classifier alone: {auto} of {alone} automatic");
        (latencies, t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0)
    })
    .await?;
    runs.push(summarize(
        "classifier alone (assess, one thread)",
        latencies,
        secs,
        cpu,
    ));

    // The service: ledger, knowledge and dispatch in this process.
    let shutdown = CancellationToken::new();
    let bus = hotline_bus::Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    hotline_bus::streams::ensure(
        &bus,
        hotline_bus::streams::StreamOptions::from_config(&settings.nats),
    )
    .await?;
    let tasks = vec![
        tokio::spawn(hotline_tickets::run(settings.clone(), shutdown.clone())),
        tokio::spawn(hotline_knowledge::run(settings.clone(), shutdown.clone())),
        tokio::spawn(hotline_dispatch::run(settings.clone(), shutdown.clone())),
    ];
    let client = reqwest::Client::new();
    super::wait_ports_ready(
        &client,
        &[
            settings.tickets.port,
            settings.knowledge.port,
            settings.dispatch.port,
        ],
    )
    .await?;
    let pool = hotline_bus::db::connect(&settings.database.url, 4).await?;
    // The demo knowledge is published in the background: wait for it, or no hints come.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leaves = client
            .get(format!(
                "http://127.0.0.1:{}/v1/search?q=%E5%B7%A5%E8%B5%84",
                settings.knowledge.port
            ))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if let Some(r) = leaves {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            if body["hits"].as_array().is_some_and(|h| !h.is_empty()) {
                break;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the demo knowledge never loaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let texts = messages()?;
    let mut next = 1u64;
    // Warm up: connections, caches, the jieba dictionary in the service.
    drive(&bus, &pool, &texts, &mut next, 200, args.concurrency, None).await?;
    let (latencies, secs, cpu, auto) =
        drive(&bus, &pool, &texts, &mut next, n, args.concurrency, None).await?;
    eprintln!("bench: through the service: {auto} of {n} automatic");
    runs.push(summarize(
        "through dispatch: create -> decision (max rate)",
        latencies,
        secs,
        cpu,
    ));
    if args.rate > 0 {
        let paced = (args.rate * args.rate_seconds) as usize;
        let (latencies, secs, cpu, _) =
            drive(&bus, &pool, &texts, &mut next, paced, 2048, Some(args.rate)).await?;
        runs.push(summarize(
            &format!("through dispatch: paced at {}/s", args.rate),
            latencies,
            secs,
            cpu,
        ));
    }
    shutdown.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
    }

    println!();
    println!(
        "{:<52} {:>8} {:>9} {:>10} {:>9} {:>9} {:>11}",
        "run", "items", "seconds", "items/s", "p50 ms", "p99 ms", "CPU ms/item"
    );
    for r in &runs {
        println!(
            "{:<52} {:>8} {:>9.2} {:>10.0} {:>9.2} {:>9.2} {:>11.3}",
            r.name, r.count, r.seconds, r.per_second, r.p50_ms, r.p99_ms, r.cpu_ms_per_item
        );
    }
    println!();
    println!(
        "ratio through dispatch / classifier alone (decisions per second): {:.3}",
        runs[1].per_second / runs[0].per_second
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&runs)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Creates `n` free-text tickets (closed loop, or paced at `rate`/s) and waits until dispatch
/// logged a decision for each. Returns the decisions' latencies (the service's own), the
/// seconds from the first create to the last decision, CPU seconds and the automatic count.
async fn drive(
    bus: &hotline_bus::Bus,
    pool: &sqlx::PgPool,
    texts: &[String],
    next: &mut u64,
    n: usize,
    concurrency: usize,
    rate: Option<u64>,
) -> anyhow::Result<(Vec<f64>, f64, f64, usize)> {
    let first = *next;
    *next += n as u64;
    let numbers: Vec<i64> = (first..first + n as u64)
        .map(|s| TicketNo::compose(261203, s).map(|t| t.as_u64() as i64))
        .collect::<Option<_>>()
        .context("ticket numbers")?;
    let create = |serial: u64| {
        let bus = bus.clone();
        let text = texts[serial as usize % texts.len()].clone();
        async move {
            let no = TicketNo::compose(261203, serial).context("ticket number")?;
            let _: CommandAccepted = rpc::call(
                &bus,
                bus.subjects
                    .ticket_commands_from(hotline_bus::Service::Intake),
                &TicketCommand::Create {
                    idempotency_key: format!("bench-{no}"),
                    actor: Actor::Citizen {
                        channel: Channel::Web,
                    },
                    ticket: Box::new(CreateTicket {
                        ticket_no: no,
                        channel: Channel::Web,
                        request_type: RequestType::Complaint,
                        service_code: None,
                        description: text,
                        location: Location::default(),
                        citizen: Default::default(),
                        confidential: false,
                        attributes: Default::default(),
                        media_url: None,
                        hold: false,
                    }),
                },
                rpc::DEFAULT_TIMEOUT,
            )
            .await?;
            Ok::<(), anyhow::Error>(())
        }
    };
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let serials = first..first + n as u64;
    match rate {
        None => {
            let mut results = futures::stream::iter(serials)
                .map(create)
                .buffer_unordered(concurrency);
            while let Some(r) = results.next().await {
                r?;
            }
        }
        Some(rate) => {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut in_flight = futures::stream::FuturesUnordered::new();
            let mut serials = serials.peekable();
            while serials.peek().is_some() || !in_flight.is_empty() {
                tokio::select! {
                    _ = interval.tick(), if serials.peek().is_some() && in_flight.len() < concurrency => {
                        if let Some(s) = serials.next() {
                            in_flight.push(create(s));
                        }
                    }
                    Some(r) = in_flight.next(), if !in_flight.is_empty() => r?,
                }
            }
        }
    }
    // Decisions are logged in batches a moment after they are made: poll until all are in.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last_change = Instant::now();
    let mut seen = 0i64;
    loop {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM dispatch.decision WHERE ticket_no = ANY($1)")
                .bind(&numbers)
                .fetch_one(pool)
                .await?;
        if count != seen {
            seen = count;
            last_change = Instant::now();
        }
        if count as usize >= n {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {count} of {n} decisions within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The last decision was made before the poll that saw it (at most a poll + a batch).
    let elapsed = (last_change - t0).as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let rows: Vec<(Option<f32>, String)> = sqlx::query_as(
        "SELECT latency_ms, outcome FROM dispatch.decision WHERE ticket_no = ANY($1)",
    )
    .bind(&numbers)
    .fetch_all(pool)
    .await?;
    let auto = rows.iter().filter(|(_, o)| o == "auto").count();
    let by: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT via, outcome, count(*) FROM dispatch.decision WHERE ticket_no = ANY($1) GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(&numbers)
    .fetch_all(pool)
    .await?;
    eprintln!("bench: decisions by source and outcome: {by:?}");
    let mut latencies: Vec<f64> = rows
        .iter()
        .filter_map(|(ms, _)| ms.map(|ms| f64::from(ms) / 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    eprintln!(
        "bench: {n} decisions, p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5) * 1000.0,
        percentile(&latencies, 0.99) * 1000.0
    );
    Ok((latencies, elapsed, cpu, auto))
}
