//! `hotline bench`: tickets per second from Open311 POST to the department's delivery stream,
//! with latency percentiles and CPU per ticket, against raw baselines run in the same process
//! on the same servers:
//!
//! - raw JetStream: publish + PubAck of the same number of messages, same concurrency;
//! - raw Postgres: one-row INSERT + COMMIT per ticket, same concurrency.
//!
//! The platform runs in this process (`hotline all` on a fresh namespace, so nothing else's
//! streams or consumers interfere). CPU is read from /proc for this process, nats-server and
//! every postgres process: CPU per ticket is steadier than a rate on a shared machine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use hotline_config::Settings;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

mod channels;
mod console;
mod dispatch;
pub(crate) mod kill;
mod knowledge;
mod sla;
mod survey;
pub(crate) mod topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Open311 POST to the department stream, against raw JetStream and raw Postgres.
    Tickets,
    /// Knowledge search and suggestions over 100,000 leaves, against a Postgres ILIKE scan;
    /// publish-to-visible time across two replicas.
    Knowledge,
    /// One million open deadlines: schedule rate and firing lateness, against plain SQL.
    Sla,
    /// One million pending callback surveys: schedule rate and firing lateness (signed link,
    /// invitation on the notify stream), against plain SQL; `--deadlines`, `--due`,
    /// `--due-seconds` as for the SLA suite.
    Survey,
    /// Accepted contacts per second on each channel (Open311, WeChat, phone CTI, email), each
    /// against a raw HTTP or SMTP baseline; `--tickets` contacts per channel.
    Channels,
    /// Smart dispatch: free-text decisions per second and decision latency through the
    /// dispatch service (ledger, knowledge, dispatch), against the classifier alone.
    Dispatch,
    /// The kill matrix: services as processes under a steady load (`--rate`, the bench's
    /// default 1,000/s, for `--rate-seconds`, at least 20), one fault per case; every ticket
    /// given a number must reach its department exactly once.
    KillMatrix,
    /// The web console: every page's server time (p50/p99, to the body's last byte) with
    /// `--stored` tickets in the ledger, `--requests` per page, against the console's static
    /// stylesheet; a page over 50 ms p99 fails the run.
    Console,
}

#[derive(clap::Args, Clone)]
pub struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value = "tickets")]
    suite: Suite,
    /// Knowledge suite: published leaves to search.
    #[arg(long, default_value_t = 100_000)]
    leaves: usize,
    /// Knowledge suite: seconds each search/suggest run lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// SLA and survey suites: open deadlines or pending surveys.
    #[arg(long, default_value_t = 1_000_000)]
    deadlines: usize,
    /// SLA suite: how many of them come due during the run.
    #[arg(long, default_value_t = 20_000)]
    due: usize,
    /// SLA suite: the window (seconds) over which they come due.
    #[arg(long, default_value_t = 20)]
    due_seconds: u64,
    /// Tickets in the throughput run.
    #[arg(long, default_value_t = 20_000)]
    tickets: usize,
    /// Requests in flight in the throughput run.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Offered rate for the latency run (tickets/s); 0 skips it.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds the latency run lasts.
    #[arg(long, default_value_t = 10)]
    rate_seconds: u64,
    /// Console suite: tickets stored through the ledger before the pages are read.
    #[arg(long, default_value_t = 100_000)]
    stored: usize,
    /// Console suite: requests per page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Write the report as JSON here too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Tickets suite: the platform in this process (`hotline all`), or each service its own
    /// process (`hotline <service>`) as Kubernetes runs them.
    #[arg(long, value_enum, default_value = "in-process")]
    topology: Topology,
    /// Tickets suite with `--topology processes`: a platform run for each count, with that many
    /// replicas of tickets, dispatch and gateway (one of every other service).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    replicas: Vec<usize>,
    /// Tickets suite with `--topology processes`: replicas of other services too, e.g.
    /// `sla=2,intake=2` (applied in every run).
    #[arg(long, default_value = "")]
    scale: String,
    #[command(flatten)]
    kill: kill::KillArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    InProcess,
    Processes,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Run {
    name: String,
    count: usize,
    seconds: f64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_ms_per_item: f64,
    /// The same without the load generator's thread (its HTTP client): what the platform spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_cpu_ms_per_item: Option<f64>,
}

/// This process's resident memory in MiB, from /proc.
pub(crate) fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) of this process, nats-server and postgres, from /proc.
pub(crate) fn cpu_seconds() -> f64 {
    let (a, b, c) = cpu_by_process();
    a + b + c
}

/// CPU seconds of (this process, nats-server, postgres).
fn cpu_by_process() -> (f64, f64, f64) {
    let (mut ours, mut nats, mut postgres) = (0.0, 0.0, 0.0);
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0.0, 0.0, 0.0);
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let comm = comm.trim();
        if pid != me && comm != "nats-server" && comm != "postgres" && !comm.starts_with("postgres")
        {
            continue;
        }
        let seconds = cpu_of_pid(pid);
        if pid == me {
            ours += seconds;
        } else if comm == "nats-server" {
            nats += seconds;
        } else {
            postgres += seconds;
        }
    }
    (ours, nats, postgres)
}

/// CPU seconds (user + system) of one process, from /proc (0 when it is gone).
pub(crate) fn cpu_of_pid(pid: u32) -> f64 {
    cpu_of_stat(&format!("/proc/{pid}/stat"))
}

/// CPU seconds (user + system) of the calling thread.
fn thread_cpu_seconds() -> f64 {
    cpu_of_stat("/proc/thread-self/stat")
}

/// utime + stime of a `/proc/.../stat` file, in seconds (0 when unreadable).
fn cpu_of_stat(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the ")" that closes the command name; utime and stime are 14th and 15th.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux.
    (utime + stime) / 100.0
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub(crate) fn summarize(name: &str, mut latencies: Vec<f64>, seconds: f64, cpu: f64) -> Run {
    latencies.sort_by(f64::total_cmp);
    let count = latencies.len();
    Run {
        name: name.to_owned(),
        count,
        seconds,
        per_second: count as f64 / seconds.max(1e-9),
        p50_ms: percentile(&latencies, 0.50) * 1000.0,
        p99_ms: percentile(&latencies, 0.99) * 1000.0,
        cpu_ms_per_item: cpu * 1000.0 / count.max(1) as f64,
        platform_cpu_ms_per_item: None,
    }
}

/// [`summarize`] of a platform run, with its CPU less the load generator's.
fn summarize_driven(name: &str, d: Driven) -> Run {
    let mut run = summarize(name, d.latencies, d.seconds, d.cpu);
    run.platform_cpu_ms_per_item =
        Some((d.cpu - d.load_cpu).max(0.0) * 1000.0 / run.count.max(1) as f64);
    run
}

/// A fresh namespace and database for one run, so nothing from earlier runs interferes.
pub(crate) struct Fresh {
    admin_url: String,
    database: String,
    namespace: String,
    nats: hotline_config::Nats,
}

impl Fresh {
    pub(crate) async fn new(settings: &mut Settings) -> anyhow::Result<Fresh> {
        settings.namespace = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        settings.telemetry.otlp_endpoint = None;
        let admin_url = settings.database.url.clone();
        let database = format!("bench_{}", &settings.namespace[5..]);
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .context("connecting to Postgres")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut conn)
            .await?;
        settings.database.url = hotline_bus::db::with_database(&admin_url, &database);
        Ok(Fresh {
            admin_url,
            database,
            namespace: settings.namespace.clone(),
            nats: settings.nats.clone(),
        })
    }

    pub(crate) async fn drop(self) -> anyhow::Result<()> {
        // Best effort: a run whose figures are in must not fail on its clean-up (a cluster
        // still electing leaders after a node was killed may time a deletion out).
        if let Err(e) = self.drop_streams().await {
            eprintln!(
                "bench: the run's streams (namespace {}) were not all deleted: {e:#}",
                self.namespace
            );
        }
        self.drop_database().await
    }

    /// The run's streams and KV buckets (their names start with the namespace): left behind,
    /// every run adds its tickets to the server's store, and a server holding gigabytes of
    /// old runs starts slower and slows the next run's measurements.
    async fn drop_streams(&self) -> anyhow::Result<()> {
        use futures::TryStreamExt as _;
        let bus = hotline_bus::Bus::connect_with(&self.nats, &self.namespace, "setup").await?;
        let names: Vec<String> = bus.js.stream_names().try_collect().await?;
        for name in names {
            if stream_of_run(&name, &self.namespace) {
                bus.js
                    .delete_stream(&name)
                    .await
                    .with_context(|| format!("deleting the run's stream {name}"))?;
            }
        }
        Ok(())
    }

    async fn drop_database(&self) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
        // FORCE cannot end a session of another role (an autovacuum worker on the run's
        // tables, a superuser's psql): such a session ends on its own within moments.
        let mut tries = 0;
        loop {
            match sqlx::query(sqlx::AssertSqlSafe(drop.clone()))
                .execute(&mut conn)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if tries < 10 => {
                    tries += 1;
                    eprintln!(
                        "bench: dropping {} failed ({e}); again in 1 s",
                        self.database
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Whether the stream `name` belongs to the run on `namespace`: `<NS>_…` or its KV bucket
/// `KV_<NS>_…`, and nothing else on the server (the local platform's, another run's whose
/// namespace merely starts the same).
fn stream_of_run(name: &str, namespace: &str) -> bool {
    let ns = namespace.to_uppercase();
    name.strip_prefix("KV_")
        .unwrap_or(name)
        .strip_prefix(ns.as_str())
        .is_some_and(|rest| rest.starts_with('_'))
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<()> {
    match args.suite {
        Suite::Tickets => tickets(settings, args).await,
        Suite::Knowledge => knowledge::run(settings, args).await,
        Suite::Sla => sla::run(settings, args).await,
        Suite::Survey => survey::run(settings, args).await,
        Suite::Channels => channels::run(settings, args).await,
        Suite::Dispatch => dispatch::run(settings, args).await,
        Suite::KillMatrix => kill::run(settings, args).await,
        Suite::Console => console::run(settings, args).await,
    }
}

async fn tickets(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    settings.demo = true;
    // One api key files every ticket of the run: no per-key allowance.
    settings.intake.open311_posts_per_key_per_minute = 0;
    free_ports(&mut settings)?;
    // A database of its own: the run's ticket numbers must not meet earlier runs' tickets.
    let fresh = Fresh::new(&mut settings).await?;
    eprintln!(
        "bench: namespace {}, {} tickets at concurrency {}",
        settings.namespace, args.tickets, args.concurrency
    );

    let bus = hotline_bus::Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    hotline_bus::streams::ensure(
        &bus,
        hotline_bus::streams::StreamOptions::from_config(&settings.nats),
    )
    .await?;
    let mut runs = vec![
        raw_jetstream(&bus, args.tickets, args.concurrency).await?,
        raw_postgres(&settings, args.tickets, args.concurrency).await?,
    ];

    let service_runs = match args.topology {
        Topology::InProcess => {
            let shutdown = CancellationToken::new();
            let platform = {
                let settings = settings.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move { super::all(settings, shutdown).await })
            };
            let result = platform_runs(&settings, &bus, &args, None, "").await;
            shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(20), platform).await;
            fresh.drop().await?;
            runs.extend(result?.0);
            Vec::new()
        }
        Topology::Processes => {
            // The baselines ran on this namespace; each replica count gets a fresh one (made
            // through the database the bench was given, not the one just dropped).
            settings.database.url = fresh.admin_url.clone();
            fresh.drop().await?;
            let mut by_service = Vec::new();
            let extra = topology::parse_replicas(&args.scale)?;
            for &n in &args.replicas {
                let mut settings = settings.clone();
                let fresh = Fresh::new(&mut settings).await?;
                let result = processes_run(&settings, &args, n, &extra).await;
                fresh.drop().await?;
                let (platform, services) = result?;
                runs.extend(platform);
                by_service.push((n, services));
            }
            by_service
        }
    };

    println!();
    println!(
        "{:<58} {:>8} {:>9} {:>10} {:>9} {:>9} {:>11} {:>14}",
        "run", "items", "seconds", "items/s", "p50 ms", "p99 ms", "CPU ms/item", "w/o load gen."
    );
    for r in &runs {
        let platform = r
            .platform_cpu_ms_per_item
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}"));
        println!(
            "{:<58} {:>8} {:>9.2} {:>10.0} {:>9.2} {:>9.2} {:>11.3} {:>14}",
            r.name,
            r.count,
            r.seconds,
            r.per_second,
            r.p50_ms,
            r.p99_ms,
            r.cpu_ms_per_item,
            platform
        );
    }
    let platform_max = &runs[2];
    println!();
    println!(
        "ratio platform / raw JetStream publish+ack (throughput): {:.3}",
        platform_max.per_second / runs[0].per_second
    );
    println!(
        "ratio platform / raw Postgres insert+commit (throughput): {:.3}",
        platform_max.per_second / runs[1].per_second
    );
    println!(
        "CPU per ticket: platform {:.3} ms vs raw JetStream {:.3} ms + raw Postgres {:.3} ms",
        platform_max.cpu_ms_per_item, runs[0].cpu_ms_per_item, runs[1].cpu_ms_per_item
    );
    for (n, services) in &service_runs {
        println!();
        println!(
            "CPU ms per ticket by process, max-rate run, {n} replica(s) of tickets, dispatch, gateway:"
        );
        for (label, ms) in services {
            println!("  {label:<14} {ms:>7.3}");
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&runs)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The platform's runs on a started platform: warm-up, max rate, paced. Returns the runs and,
/// with `children`, the max-rate run's CPU per ticket by process.
async fn platform_runs(
    settings: &Settings,
    bus: &hotline_bus::Bus,
    args: &Args,
    children: Option<&topology::Platform>,
    label: &str,
) -> anyhow::Result<(Vec<Run>, Vec<(String, f64)>)> {
    let base = format!("http://127.0.0.1:{}/open311/v2", settings.intake.port);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    wait_ready(&client, settings).await?;
    let service_code = pick_service(&client, &base).await?;
    let target = Target {
        bus,
        base: &base,
        service_code: &service_code,
    };
    // Warm up: caches, connections, JIT-free but page-cache and plan caches.
    drive(&target, 500, args.concurrency, None, children).await?;
    let first_seq = {
        let mut stream = bus.js.get_stream(bus.subjects.delivery_stream()).await?;
        stream.info().await?.state.last_sequence
    };
    let max = drive(&target, args.tickets, args.concurrency, None, children).await?;
    let (duplicates_max, by_process) = (max.duplicates, max.by_process.clone());
    let mut runs = vec![summarize_driven(
        &format!("platform{label}: Open311 POST -> department stream (max rate)"),
        max,
    )];
    let mut duplicates = duplicates_max;
    if args.rate > 0 {
        let n = (args.rate * args.rate_seconds) as usize;
        let paced = drive(&target, n, 2048, Some(args.rate), children).await?;
        duplicates += paced.duplicates;
        runs.push(summarize_driven(
            &format!("platform{label}: paced at {}/s", args.rate),
            paced,
        ));
    }
    // What the departments get is what the delivery stream stored (a publish JetStream dropped
    // as a duplicate reaches core subscribers, such as the latency collector, all the same).
    let (stored, _) = kill::delivered_since(bus, first_seq).await?;
    let stored_twice = stored.values().filter(|&&c| c > 1).count();
    if duplicates > 0 {
        eprintln!("bench: {duplicates} assignments published twice (the stream keeps one)");
    }
    anyhow::ensure!(
        stored_twice == 0,
        "{stored_twice} tickets reached their department twice"
    );
    Ok((runs, by_process))
}

/// One platform run with every service its own process and `n` replicas of tickets, dispatch
/// and gateway; checks afterwards that no ticket was dispatched or delivered twice.
async fn processes_run(
    settings: &Settings,
    args: &Args,
    n: usize,
    extra: &std::collections::BTreeMap<String, usize>,
) -> anyhow::Result<(Vec<Run>, Vec<(String, f64)>)> {
    let bus = hotline_bus::Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    super::setup(settings, &super::SetupArgs::default()).await?;
    let mut replicas = extra.clone();
    for service in ["tickets", "dispatch", "gateway"] {
        replicas.insert(service.to_owned(), n);
    }
    let dir = std::env::temp_dir().join(format!("hotline-bench-{}", settings.namespace));
    eprintln!(
        "bench: {n} replica(s) of tickets, dispatch, gateway as processes; logs in {}",
        dir.display()
    );
    let mut platform = topology::Platform::start(settings, &replicas, &dir).await?;
    let client = reqwest::Client::new();
    let result = async {
        platform.wait_ready(&client).await?;
        let (runs, by_process) =
            platform_runs(settings, &bus, args, Some(&platform), &format!(" x{n}")).await?;
        let (dispatched, twice) = dispatched_twice(settings).await?;
        // The check means something only if the run's tickets are in the database it read.
        anyhow::ensure!(
            dispatched >= args.tickets as i64,
            "only {dispatched} dispatched tickets in the run's database"
        );
        anyhow::ensure!(twice == 0, "{twice} tickets were dispatched twice");
        eprintln!("bench: {dispatched} tickets dispatched, none twice");
        Ok((runs, by_process))
    }
    .await;
    platform.stop().await;
    result
}

/// Tickets with a dispatch step in their history, and those with more than one (a decision
/// made twice).
async fn dispatched_twice(settings: &Settings) -> anyhow::Result<(i64, i64)> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&settings.database.url).await?;
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE n > 1) FROM (SELECT ticket_no, count(*) AS n \
         FROM tickets.history WHERE step = 'dispatch' GROUP BY ticket_no) t",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok(counts)
}

/// A free port for every port `hotline all` binds (the bench runs beside a local platform too),
/// and the token issuer at identity's new one.
pub(crate) fn free_ports(settings: &mut Settings) -> anyhow::Result<()> {
    for (_, port) in settings.listen_ports_mut() {
        *port = free_port()?;
    }
    // The services verify people's tokens against the issuer at its new port.
    settings.identity.issuer = format!("http://127.0.0.1:{}", settings.identity.port);
    settings.auth.issuer = settings.identity.issuer.clone();
    Ok(())
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_ready(client: &reqwest::Client, s: &Settings) -> anyhow::Result<()> {
    wait_ports_ready(
        client,
        &[
            s.intake.port,
            s.tickets.port,
            s.dispatch.port,
            s.gateway.port,
        ],
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    // The catalogue reaches intake through dispatch; wait until Open311 lists services.
    loop {
        let r = client
            .get(format!(
                "http://127.0.0.1:{}/open311/v2/services.json",
                s.intake.port
            ))
            .send()
            .await;
        if matches!(&r, Ok(r) if r.status().is_success()) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "Open311 services never became available"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `/readyz` answers 200 on every port (90 s at most).
pub(crate) async fn wait_ports_ready(
    client: &reqwest::Client,
    ports: &[u16],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    for port in ports {
        loop {
            let ok = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the platform did not become ready on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// A district matter, so each ticket goes through the gazetteer too.
async fn pick_service(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let services: Vec<serde_json::Value> = client
        .get(format!("{base}/services.json"))
        .send()
        .await?
        .json()
        .await?;
    services
        .iter()
        .find(|s| s["group"] == "城乡建设")
        .or_else(|| services.first())
        .and_then(|s| s["service_code"].as_str().map(str::to_owned))
        .context("no services in the catalogue")
}

/// Posts `n` tickets (closed loop with `concurrency`, or paced at `rate`/s) and waits until each
/// reached its department's delivery stream. Returns latencies, elapsed seconds and CPU seconds.
/// Where [`drive`] posts and what it watches.
struct Target<'a> {
    bus: &'a hotline_bus::Bus,
    /// The Open311 base URL.
    base: &'a str,
    service_code: &'a str,
}

async fn drive(
    target: &Target<'_>,
    n: usize,
    concurrency: usize,
    rate: Option<u64>,
    children: Option<&topology::Platform>,
) -> anyhow::Result<Driven> {
    let Target {
        bus,
        base,
        service_code,
    } = *target;
    let started: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let early: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    let duplicates = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let first_seq = {
        let mut stream = bus.js.get_stream(bus.subjects.delivery_stream()).await?;
        stream.info().await?.state.last_sequence
    };
    let mut deliveries = bus.client.subscribe(bus.subjects.delivery_all()).await?;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
    let collector = {
        let started = started.clone();
        let early = early.clone();
        let seen = seen.clone();
        let duplicates = duplicates.clone();
        tokio::spawn(async move {
            while let Some(m) = deliveries.next().await {
                let arrived = Instant::now();
                let no = hotline_bus::envelope::ticket_key(&m.payload);
                // A second assignment of one ticket: work done twice somewhere on the path.
                if !seen.lock().await.insert(no.clone()) {
                    duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                // `started` is held while `early` is written (and the POST side takes them in
                // the same order), so a delivery racing its POST's response is never lost between
                // the two maps.
                let mut waiting = started.lock().await;
                match waiting.remove(&no) {
                    Some(t0) => {
                        let _ = done_tx.send((arrived - t0).as_secs_f64());
                    }
                    // Delivered before the POST's response was read: remember when.
                    None => {
                        early.lock().await.insert(no, arrived);
                    }
                }
                drop(waiting);
            }
        })
    };
    let cpu0 = cpu_by_process();
    let children0 = children.map(topology::Platform::cpu_by_replica);
    let t0 = Instant::now();
    let body = form_body(service_code);
    // The POSTs run on a thread of their own with its own runtime and HTTP client, so the CPU
    // the load generator spends (its requests and connections) is measured apart from the
    // platform's, which shares this process in the in-process topology.
    let load = {
        let (base, started, early) = (base.to_owned(), started.clone(), early.clone());
        std::thread::Builder::new()
            .name("bench-load".into())
            .spawn(move || -> anyhow::Result<(Vec<f64>, f64)> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let cpu0 = thread_cpu_seconds();
                let early_latencies = runtime.block_on(post_all(
                    &base,
                    &body,
                    &started,
                    &early,
                    n,
                    concurrency,
                    rate,
                ))?;
                drop(runtime);
                Ok((early_latencies, thread_cpu_seconds() - cpu0))
            })
            .context("starting the load thread")?
    };
    let (early_latencies, load_cpu) = tokio::task::spawn_blocking(move || load.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the load thread panicked"))??;
    let mut latencies = early_latencies;
    let deadline = Instant::now() + Duration::from_secs(60);
    while latencies.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, done_rx.recv()).await {
            Ok(Some(l)) => latencies.push(l),
            _ => {
                // The latency collector is a core subscription, which a busy client may drop
                // messages of; the delivery stream says whether the tickets really are missing.
                let waiting: Vec<String> = started.lock().await.keys().cloned().collect();
                let (stored, _) = kill::delivered_since(bus, first_seq).await?;
                let stored: std::collections::HashSet<&str> = stored
                    .keys()
                    .filter_map(|k| k.split_once('@').map(|(no, _)| no))
                    .collect();
                let lost = waiting
                    .iter()
                    .filter(|no| !stored.contains(no.as_str()))
                    .count();
                anyhow::ensure!(
                    lost == 0,
                    "{lost} of {n} tickets never reached the delivery stream (60 s after the \
                     last POST; {} latencies taken)",
                    latencies.len()
                );
                eprintln!(
                    "bench: the latency collector missed {} deliveries the stream holds; their \
                     latencies are left out",
                    waiting.len()
                );
                break;
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    // The CPU a ticket costs includes what every consumer of its events does, on the path to
    // the department or not (SLA, knowledge, survey, notify): read it once they all caught up.
    let caught_up = consumers_idle(bus, Duration::from_secs(180)).await?;
    eprintln!(
        "bench: every consumer of ticket events caught up {:.1} s after the last delivery",
        caught_up.as_secs_f64()
    );
    let cpu1 = cpu_by_process();
    let per = |a: f64, b: f64| (b - a) * 1000.0 / n.max(1) as f64;
    eprintln!(
        "bench: CPU ms per ticket: hotline {:.3}, nats-server {:.3}, postgres {:.3}",
        per(cpu0.0, cpu1.0),
        per(cpu0.1, cpu1.1),
        per(cpu0.2, cpu1.2)
    );
    let mut cpu = (cpu1.0 + cpu1.1 + cpu1.2) - (cpu0.0 + cpu0.1 + cpu0.2);
    eprintln!(
        "bench: of which the load generator's thread {:.3}",
        load_cpu * 1000.0 / n.max(1) as f64
    );
    let mut by_process = vec![
        (
            if children.is_some() {
                "bench (load)"
            } else {
                "hotline + load"
            }
            .to_owned(),
            per(cpu0.0, cpu1.0),
        ),
        (
            "  load thread".to_owned(),
            load_cpu * 1000.0 / n.max(1) as f64,
        ),
        ("nats-server".to_owned(), per(cpu0.1, cpu1.1)),
        ("postgres".to_owned(), per(cpu0.2, cpu1.2)),
    ];
    if let (Some(platform), Some(before)) = (children, children0) {
        for ((label, a), (_, b)) in before.into_iter().zip(platform.cpu_by_replica()) {
            cpu += b - a;
            by_process.push((label, per(a, b)));
        }
    }
    // A late duplicate (after the last first delivery) is counted too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    collector.abort();
    Ok(Driven {
        latencies,
        seconds: elapsed,
        cpu,
        load_cpu,
        duplicates: duplicates.load(std::sync::atomic::Ordering::Relaxed),
        by_process,
    })
}

/// Waits until no durable consumer of the tickets stream has messages pending or unacknowledged
/// (the notices and department assignments they make wait for senders and departments the
/// bench does not run); returns how long that took.
async fn consumers_idle(bus: &hotline_bus::Bus, within: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let mut busy = Vec::new();
        {
            let stream = bus.js.get_stream(bus.subjects.tickets_stream()).await?;
            let mut names = stream.consumer_names();
            while let Some(consumer) = names.next().await {
                let consumer = consumer?;
                let info = stream.consumer_info(&consumer).await?;
                if info.num_pending > 0 || info.num_ack_pending > 0 {
                    busy.push(format!(
                        "{consumer} ({} pending, {} unacked)",
                        info.num_pending, info.num_ack_pending
                    ));
                }
            }
        }
        if busy.is_empty() {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "consumers still busy after {within:?}: {}",
            busy.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one [`drive`] measured.
struct Driven {
    latencies: Vec<f64>,
    seconds: f64,
    cpu: f64,
    /// CPU seconds of the load generator's thread (part of `cpu`).
    load_cpu: f64,
    /// Assignments that reached a department a second time.
    duplicates: usize,
    /// CPU ms per ticket by process (the bench, nats-server, postgres, then each replica).
    by_process: Vec<(String, f64)>,
}

fn form_body(service_code: &str) -> String {
    serde_urlencoded::to_string([
        ("api_key", "demo-open311-key"),
        ("service_code", service_code),
        ("address_string", "广州市天河区天河路208号"),
        (
            "description",
            "路灯不亮，已经三天了 (street lamp out for three days)",
        ),
        ("phone", "13800138000"),
    ])
    .unwrap_or_default()
}

async fn raw_jetstream(
    bus: &hotline_bus::Bus,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Run> {
    // A stream of its own with the tickets stream's configuration (file storage, duplicate
    // window, replicas): inside the tickets stream every consumer of ticket events would read
    // (and dead-letter) the baseline's messages, and the platform's figure would pay for them.
    let tickets = bus.js.get_stream(bus.subjects.tickets_stream()).await?;
    let mut config = tickets.cached_info().config.clone();
    config.name = format!("{}_BENCH_RAW", bus.subjects.tickets_stream());
    let subject = format!("{}.bench_raw", bus.subjects.namespace());
    config.subjects = vec![subject.clone()];
    config.description = Some("the bench's raw JetStream baseline".to_owned());
    bus.js.get_or_create_stream(config).await?;
    let payload = bytes_payload();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let latencies: Vec<f64> = futures::stream::iter(0..n)
        .map(|i| {
            let subject = subject.clone();
            let payload = payload.clone();
            async move {
                let begin = Instant::now();
                hotline_bus::publish::publish_acked(
                    bus,
                    subject,
                    &format!("raw-{i}"),
                    Default::default(),
                    payload,
                )
                .await?;
                Ok::<f64, anyhow::Error>(begin.elapsed().as_secs_f64())
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(summarize(
        "raw JetStream publish + PubAck",
        latencies,
        secs,
        cpu_seconds() - cpu0,
    ))
}

fn bytes_payload() -> bytes::Bytes {
    bytes::Bytes::from(vec![b'x'; 900])
}

async fn raw_postgres(settings: &Settings, n: usize, concurrency: usize) -> anyhow::Result<Run> {
    let pool =
        hotline_bus::db::connect(&settings.database.url, settings.database.max_connections).await?;
    let table = format!(
        "bench_raw_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, body TEXT NOT NULL)"
    )))
    .execute(&pool)
    .await?;
    let insert = format!("INSERT INTO {table} (id, body) VALUES ($1, $2)");
    let body = "x".repeat(900);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let latencies: Vec<f64> = futures::stream::iter(0..n)
        .map(|i| {
            let pool = pool.clone();
            let insert = insert.clone();
            let body = body.clone();
            async move {
                let begin = Instant::now();
                let mut tx = pool.begin().await?;
                sqlx::query(sqlx::AssertSqlSafe(insert))
                    .bind(i as i64)
                    .bind(body)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<f64, anyhow::Error>(begin.elapsed().as_secs_f64())
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&pool)
        .await?;
    Ok(summarize(
        "raw Postgres INSERT + COMMIT (one row per commit)",
        latencies,
        secs,
        cpu,
    ))
}

/// Posts `n` tickets to `base` (closed loop with `concurrency` in flight, or paced at `rate`/s);
/// returns the latencies of the tickets delivered before their POST's answer was read (the rest
/// the collector times).
async fn post_all(
    base: &str,
    body: &str,
    started: &Mutex<HashMap<String, Instant>>,
    early: &Mutex<HashMap<String, Instant>>,
    n: usize,
    concurrency: usize,
    rate: Option<u64>,
) -> anyhow::Result<Vec<f64>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let post = |i: usize| {
        let client = &client;
        async move {
            let begin = Instant::now();
            let response = client
                .post(format!("{base}/requests.json"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned())
                .send()
                .await
                .with_context(|| format!("POST {i}"))?;
            anyhow::ensure!(
                response.status().as_u16() == 201,
                "POST {i} answered {}",
                response.status()
            );
            let created: Vec<serde_json::Value> = response.json().await?;
            let no = created
                .first()
                .and_then(|c| c["service_request_id"].as_str())
                .context("no service_request_id")?
                .to_owned();
            let mut waiting = started.lock().await;
            if let Some(arrived) = early.lock().await.remove(&no) {
                return Ok::<Option<f64>, anyhow::Error>(Some((arrived - begin).as_secs_f64()));
            }
            waiting.insert(no, begin);
            Ok(None)
        }
    };
    let mut early_latencies = Vec::new();
    match rate {
        None => {
            let mut results = futures::stream::iter(0..n)
                .map(post)
                .buffer_unordered(concurrency);
            while let Some(r) = results.next().await {
                if let Some(l) = r? {
                    early_latencies.push(l);
                }
            }
        }
        Some(rate) => {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut in_flight = futures::stream::FuturesUnordered::new();
            let mut sent = 0;
            while sent < n || !in_flight.is_empty() {
                tokio::select! {
                    _ = interval.tick(), if sent < n && in_flight.len() < concurrency => {
                        in_flight.push(post(sent));
                        sent += 1;
                    }
                    Some(r) = in_flight.next(), if !in_flight.is_empty() => {
                        if let Some(l) = r? { early_latencies.push(l); }
                    }
                }
            }
        }
    }
    Ok(early_latencies)
}

#[cfg(test)]
mod tests {
    use super::stream_of_run;

    #[test]
    fn a_run_deletes_its_own_streams_and_buckets_only() {
        for ours in [
            "BENCH1A2B3C4D_TICKETS",
            "BENCH1A2B3C4D_TICKETS_BENCH_RAW",
            "KV_BENCH1A2B3C4D_TICKET_NUMBERS",
        ] {
            assert!(stream_of_run(ours, "bench1a2b3c4d"), "{ours}");
        }
        for theirs in [
            // the local platform, another run whose namespace starts the same, a bucket of
            // another namespace, a bare prefix
            "HOTLINE_TICKETS",
            "BENCH1A2B3C4DE_TICKETS",
            "KV_HOTLINE_DIRECTORY",
            "BENCH1A2B3C4D",
            "KV_BENCH1A2B3C4D",
            "XBENCH1A2B3C4D_TICKETS",
        ] {
            assert!(!stream_of_run(theirs, "bench1a2b3c4d"), "{theirs}");
        }
    }
}
