//! The platform as Kubernetes runs it, on one machine: each service its own `hotline <service>`
//! process (this binary), any of them in several replicas, all on one fresh namespace and
//! database. The tickets bench's `--topology processes` and the kill matrix start it.
//!
//! Children get their settings as `HOTLINE__…` variables over this process's environment (so
//! `NATS_URL`, `DATABASE_URL` and a `--config` file reach them as they reach this process), each
//! replica its own ports, and log to a file of their own (`<dir>/<service>-<n>.log`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hotline_config::Settings;
use tokio::process::{Child, Command};

/// The services a deployment runs on the ticket's path: the intake, the ledger, and every
/// consumer of ticket events (the channels other than Open311 take no part in it).
pub(crate) const SERVICES: &[&str] = &[
    "identity",
    "tickets",
    "dispatch",
    "gateway",
    "knowledge",
    "sla",
    "survey",
    "notify",
    "intake",
];

/// One running replica.
pub(crate) struct Replica {
    pub service: &'static str,
    pub index: usize,
    /// Its HTTP port (readiness, metrics).
    pub port: u16,
    child: Option<Child>,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Replica {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub(crate) fn label(&self) -> String {
        format!("{}-{}", self.service, self.index)
    }
}

/// The running platform.
pub(crate) struct Platform {
    bin: PathBuf,
    pub replicas: Vec<Replica>,
}

/// The port variable of each service (`HOTLINE__<SECTION>__PORT`) and its current value.
fn port_of(settings: &Settings, service: &str) -> (String, u16) {
    let var = hotline_config::port_variable(&format!("{service}.port"));
    let port = settings
        .listen_ports()
        .into_iter()
        .find_map(|(v, port)| (v == var).then_some(port))
        .unwrap_or(settings.intake.port);
    (var, port)
}

/// The variables every child shares: what the bench changed in its settings.
fn shared_env(settings: &Settings) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOTLINE__NAMESPACE".to_owned(), settings.namespace.clone()),
        ("HOTLINE__DEMO".to_owned(), settings.demo.to_string()),
        (
            "HOTLINE__DATABASE__URL".to_owned(),
            settings.database.url.clone(),
        ),
        (
            "HOTLINE__INTAKE__OPEN311_POSTS_PER_KEY_PER_MINUTE".to_owned(),
            settings.intake.open311_posts_per_key_per_minute.to_string(),
        ),
        (
            "HOTLINE__IDENTITY__ISSUER".to_owned(),
            settings.identity.issuer.clone(),
        ),
        (
            "HOTLINE__AUTH__ISSUER".to_owned(),
            settings.auth.issuer.clone(),
        ),
        (
            "HOTLINE__TELEMETRY__LOG_FILTER".to_owned(),
            std::env::var("HOTLINE_BENCH_CHILD_LOG").unwrap_or_else(|_| "warn".to_owned()),
        ),
    ];
    // Every listener, not only the services' own: a child binds no default port.
    for (var, port) in settings.listen_ports() {
        env.push((var, port.to_string()));
    }
    env
}

impl Platform {
    /// Starts `replicas[service]` (default 1) processes of each of [`SERVICES`], after `setup`
    /// has run in this process. Ports: the settings' for replica 0, free ones for the others.
    pub(crate) async fn start(
        settings: &Settings,
        replicas: &BTreeMap<String, usize>,
        dir: &Path,
    ) -> anyhow::Result<Platform> {
        let bin = std::env::current_exe().context("the hotline binary's path")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let shared = shared_env(settings);
        let mut platform = Platform {
            bin,
            replicas: Vec::new(),
        };
        for &service in SERVICES {
            let n = replicas.get(service).copied().unwrap_or(1).max(1);
            for index in 0..n {
                let (var, first) = port_of(settings, service);
                let port = if index == 0 {
                    first
                } else {
                    super::free_port()?
                };
                let mut env = shared.clone();
                env.push((var, port.to_string()));
                if service == "gateway" && index > 0 {
                    env.push((
                        "HOTLINE__GATEWAY__GRPC_PORT".to_owned(),
                        super::free_port()?.to_string(),
                    ));
                }
                let mut replica = Replica {
                    service,
                    index,
                    port,
                    child: None,
                    env,
                    log: dir.join(format!("{service}-{index}.log")),
                };
                Self::spawn(&platform.bin, &mut replica)?;
                platform.replicas.push(replica);
            }
        }
        Ok(platform)
    }

    fn spawn(bin: &Path, replica: &mut Replica) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&replica.log)
            .with_context(|| format!("opening {}", replica.log.display()))?;
        let child = Command::new(bin)
            .arg(replica.service)
            .envs(replica.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", replica.label()))?;
        replica.child = Some(child);
        Ok(())
    }

    /// Waits until every replica answers `/readyz` (90 s at most each).
    pub(crate) async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        for i in 0..self.replicas.len() {
            self.wait_replica_ready(client, i, Duration::from_secs(90))
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn wait_replica_ready(
        &mut self,
        client: &reqwest::Client,
        i: usize,
        within: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let replica = &mut self.replicas[i];
        loop {
            let ok = client
                .get(format!("http://127.0.0.1:{}/readyz", replica.port))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(started.elapsed());
            }
            if let Some(child) = replica.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                anyhow::bail!(
                    "{} exited ({status}) before it was ready; see {}",
                    replica.label(),
                    replica.log.display()
                );
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "{} not ready within {within:?}; see {}",
                replica.label(),
                replica.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// CPU seconds of each replica so far, by label (exited replicas count what /proc last
    /// showed: nothing, so callers read before and after a phase in which none exits).
    pub(crate) fn cpu_by_replica(&self) -> Vec<(String, f64)> {
        self.replicas
            .iter()
            .map(|r| (r.label(), r.pid().map_or(0.0, super::cpu_of_pid)))
            .collect()
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to replica `i`.
    pub(crate) fn signal(&self, i: usize, signal: &str) -> anyhow::Result<()> {
        let pid = self.replicas[i]
            .pid()
            .with_context(|| format!("{} is not running", self.replicas[i].label()))?;
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// Kills replica `i` with SIGKILL and reaps it.
    pub(crate) async fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        self.signal(i, "KILL")?;
        if let Some(mut child) = self.replicas[i].child.take() {
            let _ = child.wait().await;
        }
        Ok(())
    }

    /// Starts replica `i` again (after [`Platform::kill`]).
    pub(crate) fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        Self::spawn(&self.bin, &mut self.replicas[i])
    }

    /// Index of replica `index` of `service`.
    pub(crate) fn find(&self, service: &str, index: usize) -> Option<usize> {
        self.replicas
            .iter()
            .position(|r| r.service == service && r.index == index)
    }

    /// SIGTERM to every replica, then waits (20 s, then SIGKILL) for each to exit.
    pub(crate) async fn stop(mut self) {
        for r in &self.replicas {
            if let Some(pid) = r.pid() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
        }
        for r in &mut self.replicas {
            if let Some(child) = r.child.as_mut()
                && tokio::time::timeout(Duration::from_secs(20), child.wait())
                    .await
                    .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}

/// `tickets=2,dispatch=3` → {tickets: 2, dispatch: 3}.
pub(crate) fn parse_replicas(raw: &str) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (service, n) = part
            .split_once('=')
            .with_context(|| format!("`{part}`: expected service=count"))?;
        anyhow::ensure!(
            SERVICES.contains(&service),
            "`{service}` is not one of {SERVICES:?}"
        );
        let n: usize = n
            .parse()
            .with_context(|| format!("`{part}`: the count is not a number"))?;
        anyhow::ensure!((1..=8).contains(&n), "`{part}`: 1 to 8 replicas");
        out.insert(service.to_owned(), n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replica_counts_parse_and_refuse_unknown_services() {
        let r = super::parse_replicas("tickets=2, dispatch=3").expect("parsed");
        assert_eq!(r.get("tickets"), Some(&2));
        assert_eq!(r.get("dispatch"), Some(&3));
        assert!(super::parse_replicas("ledger=2").is_err());
        assert!(super::parse_replicas("tickets=0").is_err());
        assert!(super::parse_replicas("tickets").is_err());
    }
}
