//! `hotline bench --suite kill-matrix`: the platform as separate processes under a steady load
//! (`--rate`, the bench's default 1,000 tickets/s, for `--rate-seconds`, at least 20; the
//! matrix in docs/reliability.md runs `--rate 200 --rate-seconds 60`), one fault per case:
//!
//! - kill -9 of each service process in turn, restarted 5 s later;
//! - SIGSTOP of the tickets outbox relay's leader for 30 s (two tickets replicas; the lease
//!   moves to the other);
//! - restart of Postgres (`pg_ctlcluster <version> main restart`, when this machine's cluster is
//!   a Debian one the bench may restart; else the case is skipped, said so);
//! - kill -9 of one NATS node, when `--nats-node-pid-file` names the pid file of a node of a
//!   cluster the platform is connected to (`deploy/services.sh cluster`), restarted by
//!   `--nats-node-restart` (a shell command) 5 s later.
//!
//! Every ticket that got a number must reach its department's delivery stream exactly once in
//! effect: the stream is read whole after each case (an ordered consumer, so what a department's
//! gateway would hand over, not what was published), and each case reports accepted (201 with a
//! number), delivered, duplicates (a ticket stored twice), lost (accepted, never delivered within
//! `--settle-seconds`), POSTs refused or failed during the fault (the citizen saw an error and
//! got no number: nothing was promised), the worst delivery latency, and how long the killed
//! process took to be ready again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use hotline_config::Settings;
use tokio::sync::Mutex;

use super::topology::Platform;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct KillArgs {
    /// Kill matrix: only the cases whose name contains one of these (comma separated).
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Kill matrix: seconds after the last POST to wait for every accepted ticket.
    #[arg(long, default_value_t = 120)]
    settle_seconds: u64,
    /// Kill matrix: the pid file of one NATS node of the cluster in NATS_URL.
    #[arg(long)]
    nats_node_pid_file: Option<std::path::PathBuf>,
    /// Kill matrix: the shell command that starts that NATS node again.
    #[arg(long)]
    nats_node_restart: Option<String>,
}

/// One fault.
#[derive(Debug, Clone)]
enum Fault {
    /// kill -9 of replica 0 of a service, restarted after 5 s.
    Kill(&'static str),
    /// SIGSTOP of the tickets replica leading the outbox relay, SIGCONT after 30 s.
    FreezeRelayLeader,
    RestartPostgres,
    KillNatsNode,
}

impl Fault {
    fn name(&self) -> String {
        match self {
            Fault::Kill(s) => format!("kill -9 {s}"),
            Fault::FreezeRelayLeader => "SIGSTOP tickets relay leader 30 s".to_owned(),
            Fault::RestartPostgres => "restart Postgres".to_owned(),
            Fault::KillNatsNode => "kill -9 one NATS node".to_owned(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CaseResult {
    case: String,
    accepted: usize,
    delivered: usize,
    duplicates: usize,
    lost: usize,
    refused: usize,
    max_latency_s: f64,
    ready_again_s: Option<f64>,
    note: String,
}

pub(crate) async fn run(mut settings: Settings, args: super::Args) -> anyhow::Result<()> {
    let kill = args.kill.clone();
    settings.demo = true;
    settings.intake.open311_posts_per_key_per_minute = 0;
    super::free_ports(&mut settings)?;
    let fresh = super::Fresh::new(&mut settings).await?;
    let result = matrix(&settings, &args, &kill).await;
    fresh.drop().await?;
    let results = result?;
    println!();
    println!(
        "{:<36} {:>8} {:>9} {:>10} {:>5} {:>7} {:>11} {:>11}  note",
        "case", "accepted", "delivered", "duplicates", "lost", "refused", "max lat s", "ready in s"
    );
    for r in &results {
        println!(
            "{:<36} {:>8} {:>9} {:>10} {:>5} {:>7} {:>11.1} {:>11}  {}",
            r.case,
            r.accepted,
            r.delivered,
            r.duplicates,
            r.lost,
            r.refused,
            r.max_latency_s,
            r.ready_again_s
                .map_or("-".to_owned(), |s| format!("{s:.1}")),
            r.note
        );
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let bad: Vec<&CaseResult> = results
        .iter()
        .filter(|r| r.duplicates > 0 || r.lost > 0)
        .collect();
    anyhow::ensure!(
        bad.is_empty(),
        "{} case(s) lost or duplicated tickets",
        bad.len()
    );
    Ok(())
}

async fn matrix(
    settings: &Settings,
    args: &super::Args,
    kill: &KillArgs,
) -> anyhow::Result<Vec<CaseResult>> {
    let bus = hotline_bus::Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    crate::setup(settings, &crate::SetupArgs::default()).await?;
    let mut replicas = BTreeMap::new();
    // Two ledgers: the relay's leadership has somewhere to go when its leader freezes.
    replicas.insert("tickets".to_owned(), 2);
    let dir = std::env::temp_dir().join(format!("hotline-kill-{}", settings.namespace));
    eprintln!(
        "kill matrix: services as processes, logs in {}",
        dir.display()
    );
    let mut platform = Platform::start(settings, &replicas, &dir).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let outcome = async {
        platform.wait_ready(&client).await?;
        super::wait_ready(&client, settings).await?;
        let base = format!("http://127.0.0.1:{}/open311/v2", settings.intake.port);
        let service_code = super::pick_service(&client, &base).await?;
        let mut faults: Vec<Fault> = super::topology::SERVICES
            .iter()
            .map(|s| Fault::Kill(s))
            .collect();
        faults.push(Fault::FreezeRelayLeader);
        faults.push(Fault::RestartPostgres);
        faults.push(Fault::KillNatsNode);
        let mut results = Vec::new();
        for fault in faults {
            let name = fault.name();
            if !kill.cases.is_empty() && !kill.cases.iter().any(|c| name.contains(c.as_str())) {
                continue;
            }
            eprintln!("kill matrix: {name}");
            let r = case(
                settings,
                &bus,
                &client,
                &base,
                &service_code,
                &mut platform,
                &fault,
                args,
                kill,
            )
            .await
            .with_context(|| format!("case {name}"))?;
            eprintln!("kill matrix: {r:?}");
            results.push(r);
        }
        Ok(results)
    }
    .await;
    platform.stop().await;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn case(
    settings: &Settings,
    bus: &hotline_bus::Bus,
    client: &reqwest::Client,
    base: &str,
    service_code: &str,
    platform: &mut Platform,
    fault: &Fault,
    args: &super::Args,
    kill: &KillArgs,
) -> anyhow::Result<CaseResult> {
    let rate = if args.rate == 0 { 200 } else { args.rate };
    let seconds = args.rate_seconds.max(20);
    let n = (rate * seconds) as usize;
    let first_seq = stream_last_seq(bus).await?;
    let accepted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let body = super::form_body(service_code);
    let load = {
        let (client, base, accepted, refused) = (
            client.clone(),
            base.to_owned(),
            accepted.clone(),
            refused.clone(),
        );
        async move {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut in_flight = futures::stream::FuturesUnordered::new();
            let mut sent = 0;
            while sent < n || !in_flight.is_empty() {
                tokio::select! {
                    _ = interval.tick(), if sent < n && in_flight.len() < 512 => {
                        let (client, base, body, accepted, refused) =
                            (client.clone(), base.clone(), body.clone(), accepted.clone(), refused.clone());
                        in_flight.push(async move {
                            let begin = Instant::now();
                            let number = post(&client, &base, body).await;
                            match number {
                                Some(no) => { accepted.lock().await.insert(no, begin); }
                                None => { refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed); }
                            }
                        });
                        sent += 1;
                    }
                    Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                }
            }
        }
    };
    let inject = async {
        // A third of the way in, so the platform is under load before and after.
        tokio::time::sleep(Duration::from_secs(seconds / 3)).await;
        inject(settings, client, platform, fault, kill).await
    };
    let ((), injected) = tokio::join!(load, inject);
    let (ready_again, note) = injected?;
    // Every accepted ticket must reach the delivery stream; read it until they all have or the
    // settle time passes.
    let accepted = accepted.lock().await.clone();
    let deadline = Instant::now() + Duration::from_secs(kill.settle_seconds);
    let (counts, arrivals) = loop {
        let (counts, arrivals) = delivered_since(bus, first_seq).await?;
        let missing = accepted
            .keys()
            .filter(|no| !arrivals.contains_key(*no))
            .count();
        if missing == 0 || Instant::now() > deadline {
            break (counts, arrivals);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let delivered = accepted
        .keys()
        .filter(|no| arrivals.contains_key(*no))
        .count();
    let duplicates = counts.values().filter(|&&c| c > 1).count();
    let max_latency_s = accepted
        .iter()
        .filter_map(|(no, begin)| {
            arrivals
                .get(no)
                .map(|at| at.saturating_duration_since(*begin))
        })
        .max()
        .unwrap_or_default()
        .as_secs_f64();
    Ok(CaseResult {
        case: fault.name(),
        accepted: accepted.len(),
        delivered,
        duplicates,
        lost: accepted.len() - delivered,
        refused: refused.load(std::sync::atomic::Ordering::Relaxed),
        max_latency_s,
        ready_again_s: ready_again.map(|d| d.as_secs_f64()),
        note,
    })
}

/// Posts one ticket; its number when the platform answered 201.
async fn post(client: &reqwest::Client, base: &str, body: String) -> Option<String> {
    let response = client
        .post(format!("{base}/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .ok()?;
    if response.status().as_u16() != 201 {
        return None;
    }
    let created: Vec<serde_json::Value> = response.json().await.ok()?;
    created
        .first()
        .and_then(|c| c["service_request_id"].as_str())
        .map(str::to_owned)
}

/// Injects `fault`; returns how long the faulted process took to be ready again, and a note.
async fn inject(
    settings: &Settings,
    client: &reqwest::Client,
    platform: &mut Platform,
    fault: &Fault,
    kill: &KillArgs,
) -> anyhow::Result<(Option<Duration>, String)> {
    match fault {
        Fault::Kill(service) => {
            let i = platform
                .find(service, 0)
                .with_context(|| format!("no {service} replica"))?;
            platform.kill(i).await?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            let restarted = Instant::now();
            platform.restart(i)?;
            platform
                .wait_replica_ready(client, i, Duration::from_secs(120))
                .await?;
            Ok((Some(restarted.elapsed()), String::new()))
        }
        Fault::FreezeRelayLeader => {
            let leader = relay_leader(settings, platform).await?;
            let i = leader.context("no tickets replica leads the outbox relay")?;
            platform.signal(i, "STOP")?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            platform.signal(i, "CONT")?;
            let back = Instant::now();
            platform
                .wait_replica_ready(client, i, Duration::from_secs(60))
                .await?;
            Ok((
                Some(back.elapsed()),
                format!("froze {}", platform.replicas[i].label()),
            ))
        }
        Fault::RestartPostgres => {
            let Some(version) = debian_cluster_version() else {
                return Ok((None, "skipped: no Debian Postgres cluster here".to_owned()));
            };
            let status = tokio::process::Command::new("pg_ctlcluster")
                .args([version.as_str(), "main", "restart"])
                .status()
                .await
                .context("pg_ctlcluster")?;
            anyhow::ensure!(status.success(), "pg_ctlcluster restart failed");
            let back = Instant::now();
            for i in 0..platform.replicas.len() {
                platform
                    .wait_replica_ready(client, i, Duration::from_secs(120))
                    .await?;
            }
            Ok((Some(back.elapsed()), format!("Postgres {version}")))
        }
        Fault::KillNatsNode => {
            let (Some(pid_file), Some(restart)) =
                (&kill.nats_node_pid_file, &kill.nats_node_restart)
            else {
                return Ok((
                    None,
                    "skipped: no --nats-node-pid-file/--nats-node-restart (needs a cluster)"
                        .to_owned(),
                ));
            };
            let pid = std::fs::read_to_string(pid_file)
                .with_context(|| format!("reading {}", pid_file.display()))?;
            let status = tokio::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .status()
                .await?;
            anyhow::ensure!(status.success(), "kill -9 of the NATS node failed");
            tokio::time::sleep(Duration::from_secs(5)).await;
            let back = Instant::now();
            let status = tokio::process::Command::new("sh")
                .args(["-c", restart])
                .status()
                .await?;
            anyhow::ensure!(status.success(), "restarting the NATS node failed");
            Ok((Some(back.elapsed()), format!("node pid {}", pid.trim())))
        }
    }
}

/// The tickets replica whose relay holds the outbox lease (its holder names the process).
async fn relay_leader(settings: &Settings, platform: &Platform) -> anyhow::Result<Option<usize>> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&settings.database.url).await?;
    let holder: Option<String> = sqlx::query_scalar(
        "SELECT holder FROM tickets.outbox_lease WHERE fenced_until > now() LIMIT 1",
    )
    .fetch_optional(&mut conn)
    .await
    .context("reading the tickets outbox lease")?;
    let Some(holder) = holder else {
        return Ok(None);
    };
    Ok(platform.replicas.iter().position(|r| {
        r.service == "tickets"
            && r.pid()
                .is_some_and(|pid| holder.contains(&format!("/{pid}/")))
    }))
}

fn debian_cluster_version() -> Option<String> {
    let dir = std::fs::read_dir("/etc/postgresql").ok()?;
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .find(|v| std::path::Path::new(&format!("/etc/postgresql/{v}/main")).exists())
}

async fn stream_last_seq(bus: &hotline_bus::Bus) -> anyhow::Result<u64> {
    let mut stream = bus.js.get_stream(bus.subjects.delivery_stream()).await?;
    Ok(stream.info().await?.state.last_sequence)
}

/// How often each (ticket, department) assignment is stored in the delivery stream after
/// `after` (its sequence), keyed `<ticket>@<subject>`, and when each ticket's first one was.
pub(crate) async fn delivered_since(
    bus: &hotline_bus::Bus,
    after: u64,
) -> anyhow::Result<(HashMap<String, usize>, HashMap<String, Instant>)> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    let mut stream = bus.js.get_stream(bus.subjects.delivery_stream()).await?;
    let last = stream.info().await?.state.last_sequence;
    let mut counts = HashMap::new();
    let mut arrivals = HashMap::new();
    if last <= after {
        return Ok((counts, arrivals));
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(m) = tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .ok()
        .flatten()
    {
        let m = m?;
        let seq = m.info().map(|i| i.stream_sequence).unwrap_or(last);
        let no = hotline_bus::envelope::ticket_key(&m.payload);
        // A ticket with co-handlers is assigned once to each department: count per department.
        *counts.entry(format!("{no}@{}", m.subject)).or_insert(0) += 1;
        arrivals.entry(no).or_insert_with(|| {
            // The message's own time: when the gateway stored it.
            let published: std::time::SystemTime = m
                .info()
                .map(|i| i.published.into())
                .unwrap_or_else(|_| std::time::SystemTime::now());
            let age = std::time::SystemTime::now()
                .duration_since(published)
                .unwrap_or_default();
            Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
        });
        if seq >= last {
            break;
        }
    }
    Ok((counts, arrivals))
}
