//! A private JetStream cluster for one test: `n` nats-server processes on free ports, routed to
//! each other, each with its own store and `sync_interval: always` (as `deploy/services.sh
//! cluster` and production run them). A node can be killed with SIGKILL and restarted on the
//! same ports and store, to test what survives a crash.
//!
//! The binary is `NATS_SERVER_BIN` (exported by `deploy/services.sh env`), else `nats-server`
//! on PATH, and must be at least [`MIN_VERSION`]: [`find_nats_server`] says why not, so a test
//! can skip saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The oldest nats-server the platform runs on (deploy/services.sh's `HOTLINE_NATS_MIN`).
pub const MIN_VERSION: (u64, u64) = (2, 12);

/// A nats-server binary of at least [`MIN_VERSION`], or why there is none (for a skip message).
pub fn find_nats_server() -> Result<PathBuf, String> {
    let bin = match std::env::var_os("NATS_SERVER_BIN").filter(|b| !b.is_empty()) {
        Some(bin) => PathBuf::from(bin),
        None => {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .map(|dir| dir.join("nats-server"))
                .find(|candidate| candidate.is_file())
                .ok_or_else(|| {
                    "no nats-server: set NATS_SERVER_BIN or put it on PATH \
                     (eval \"$(deploy/services.sh env)\" does both)"
                        .to_owned()
                })?
        }
    };
    let output = Command::new(&bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} --version: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    match parse_version(&text) {
        Some(v) if v >= MIN_VERSION => Ok(bin),
        Some(v) => Err(format!(
            "{} is v{}.{}, the cluster tests need >= {}.{}",
            bin.display(),
            v.0,
            v.1,
            MIN_VERSION.0,
            MIN_VERSION.1
        )),
        None => Err(format!(
            "{} --version said {:?}, not a nats-server version",
            bin.display(),
            text.trim()
        )),
    }
}

/// `nats-server: v2.12.8` -> (2, 12).
fn parse_version(text: &str) -> Option<(u64, u64)> {
    let v = text.trim().rsplit('v').next()?;
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// One node: its name in the cluster (`n1`..), its ports and, while it runs, its process.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub client_port: u16,
    pub http_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }
}

/// The running cluster; every node is killed, and its directory removed, when dropped (kept,
/// and named, when the test panicked: the nodes' logs are in it).
#[derive(Debug)]
pub struct NatsCluster {
    bin: PathBuf,
    dir: PathBuf,
    pub nodes: Vec<Node>,
}

/// Starts an `n`-node cluster and waits until it can place a stream on every node.
pub async fn start(n: usize) -> anyhow::Result<NatsCluster> {
    let bin = find_nats_server().map_err(anyhow::Error::msg)?;
    start_with(&bin, n).await
}

/// [`start`] with a given binary.
///
/// The ports are free when chosen but only bound when the servers start: a test running beside
/// may take one in between, and that node exits at once. Such a start is tried again on new
/// ports, three times at most.
pub async fn start_with(bin: &Path, n: usize) -> anyhow::Result<NatsCluster> {
    if n == 0 {
        bail!("a cluster needs at least one node");
    }
    let mut failures = Vec::new();
    for _ in 0..3 {
        match start_once(bin, n).await {
            Ok(cluster) => return Ok(cluster),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    bail!(
        "a {n}-node NATS cluster did not start: {}",
        failures.join("; then ")
    )
}

async fn start_once(bin: &Path, n: usize) -> anyhow::Result<NatsCluster> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = std::env::temp_dir().join(format!("hotline-nats-cluster-{}", &id[..12]));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ports = crate::free_ports(3 * n)?;
    let (clients, rest) = ports.split_at(n);
    let (routes, https) = rest.split_at(n);
    let route_list = routes
        .iter()
        .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("n{}", i + 1);
        let store = dir.join(&name);
        std::fs::create_dir_all(&store)?;
        let config = dir.join(format!("{name}.conf"));
        let text = format!(
            "server_name: \"{name}\"\n\
             listen: \"127.0.0.1:{client}\"\n\
             http: \"127.0.0.1:{http}\"\n\
             jetstream {{\n  store_dir: {store}\n  sync_interval: always\n}}\n\
             cluster {{\n  name: \"hotline-test-{id}\"\n  listen: \"127.0.0.1:{route}\"\n  \
             routes: [ {route_list} ]\n}}\n",
            client = clients[i],
            http = https[i],
            route = routes[i],
            // JSON-quoted: a valid NATS conf string whatever the temp dir is called.
            store = serde_json::Value::String(store.to_string_lossy().into_owned()),
            id = &id[..12],
        );
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        nodes.push(Node {
            log: dir.join(format!("{name}.log")),
            name,
            client_port: clients[i],
            http_port: https[i],
            config,
            child: None,
        });
    }
    let mut cluster = NatsCluster {
        bin: bin.to_path_buf(),
        dir,
        nodes,
    };
    for i in 0..n {
        cluster.spawn(i)?;
    }
    cluster.wait_ready(Duration::from_secs(30)).await?;
    Ok(cluster)
}

impl NatsCluster {
    /// Every node's URL, comma-separated: what `NATS_URL` / `nats.url` take for a cluster.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the node called `name` (a stream's leader is named so in its cluster info).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// `kill -9`: no shutdown, no flush; what the OS page cache holds survives, the process's
    /// memory does not.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        let Some(mut child) = node.child.take() else {
            bail!("{} is not running", node.name);
        };
        child
            .kill()
            .with_context(|| format!("killing {}", node.name))?;
        child
            .wait()
            .with_context(|| format!("reaping {}", node.name))?;
        Ok(())
    }

    /// Starts a killed node again with its configuration and store, and waits until its client
    /// port answers (catching up with the others is the caller's to wait for).
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        if self.nodes[i].child.is_some() {
            bail!("{} is running", self.nodes[i].name);
        }
        self.spawn(i)?;
        let port = self.nodes[i].client_port;
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on {port} again; log {}",
                    self.nodes[i].name,
                    self.nodes[i].log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&node.config)
            .arg("-l")
            .arg(&node.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} ({})", node.name, self.bin.display()))?;
        node.child = Some(child);
        Ok(())
    }

    /// Waits until every running node reports JetStream healthy and the meta leader counts
    /// every other running node as a current peer: before that, an R3 stream may not be
    /// placeable ("insufficient resources"). Fails at once, with the end of its log, when a node
    /// it started has exited (a port taken between choosing and binding it).
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            for node in &mut self.nodes {
                let exited = match node.child.as_mut() {
                    Some(child) => child.try_wait()?,
                    None => None,
                };
                if let Some(status) = exited {
                    let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
                    bail!("{} exited ({status}): {tail}", node.name);
                }
            }
            let last = match self.readiness().await {
                Ok(()) => return Ok(()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!(
                    "the NATS cluster was not ready within {within:?}: {last} (logs in {})",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn readiness(&self) -> anyhow::Result<()> {
        let running: Vec<&Node> = self.nodes.iter().filter(|n| n.child.is_some()).collect();
        let mut leader = None;
        for node in &running {
            let health = http_get(node.http_port, "/healthz?js-enabled-only=true").await?;
            if !health.contains("\"ok\"") {
                bail!("{} not healthy: {health}", node.name);
            }
            let jsz: serde_json::Value =
                serde_json::from_str(&http_get(node.http_port, "/jsz").await?)
                    .with_context(|| format!("{}'s /jsz", node.name))?;
            match jsz["meta_cluster"]["leader"].as_str() {
                Some(l) if !l.is_empty() => leader = Some(l.to_owned()),
                _ => bail!("{} knows no meta leader", node.name),
            }
        }
        let leader = leader.context("no node running")?;
        let node = running
            .iter()
            .find(|n| n.name == leader)
            .with_context(|| format!("the meta leader {leader} is not running"))?;
        let jsz: serde_json::Value =
            serde_json::from_str(&http_get(node.http_port, "/jsz").await?)?;
        let current = jsz["meta_cluster"]["replicas"]
            .as_array()
            .map(|peers| {
                peers
                    .iter()
                    .filter(|p| p["current"].as_bool() == Some(true))
                    .count()
            })
            .unwrap_or(0);
        if current + 1 < running.len() {
            bail!(
                "meta leader {leader} has {current} current peers of {}",
                running.len() - 1
            );
        }
        Ok(())
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("NATS cluster logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The body of `GET path` on 127.0.0.1:`port` (the monitoring port; HTTP/1.0, so the server
/// closes when done).
async fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(3), exchange)
        .await
        .with_context(|| format!("GET {path} on :{port} timed out"))?
        .with_context(|| format!("GET {path} on :{port}"))?;
    let (_, body) = response
        .split_once("\r\n\r\n")
        .with_context(|| format!("GET {path} on :{port}: no HTTP response"))?;
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    /// A node that exits at once (here: a "server" that is `false`) fails its start without
    /// waiting out the readiness limit, and the start is tried again, three times in all.
    #[tokio::test]
    async fn a_node_that_exits_fails_the_start_at_once_and_it_is_tried_again() {
        let started = std::time::Instant::now();
        let err = super::start_with(std::path::Path::new("false"), 3)
            .await
            .expect_err("no server");
        let message = format!("{err:#}");
        assert_eq!(message.matches("exited").count(), 3, "{message}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{message}"
        );
    }

    #[test]
    fn versions_are_read_from_the_servers_banner() {
        assert_eq!(
            super::parse_version("nats-server: v2.12.8\n"),
            Some((2, 12))
        );
        assert_eq!(super::parse_version("nats-server: v2.10.29"), Some((2, 10)));
        assert_eq!(super::parse_version("nonsense"), None);
        assert!((2, 12) >= super::MIN_VERSION && (2, 9) < super::MIN_VERSION);
    }
}
