//! `hotline nats-config`: a nats-server configuration with one nkey user per service and the
//! allow-lists of [`crate::permissions`], plus each service's credentials.
//!
//! Written into one directory:
//! - `nats.conf`: listen address, JetStream with its store dir, monitoring, and the users (only
//!   their public keys: the server config holds no secret); for a node of a cluster
//!   ([`write_node`]) `nats-<server_name>.conf`, with its `cluster` block and
//!   `sync_interval: always`;
//! - `<service>.nk`: the service's nkey seed (mode 0600), the secret to mount;
//! - `<service>.toml` / `<service>.env`: the `[nats]` snippet pointing at that seed, for a
//!   service run on its own; `HOTLINE__NATS__CREDENTIALS_DIR=<dir>` serves `hotline all`.
//!
//! Seeds already in the directory are kept (running services keep working when the config is
//! written again, e.g. for a new subject); `rotate` makes new ones (then reload nats-server
//! and restart the services).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::Subjects;
use crate::permissions::{self, Permissions, Service};

/// How the generated nats-server listens and stores.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `host:port` for clients.
    pub listen: String,
    /// `host:port` for monitoring (`/healthz`, `/connz`), if any.
    pub http: Option<String>,
    /// JetStream's store directory.
    pub store_dir: PathBuf,
}

/// One node of a JetStream cluster: its name, and the `cluster` block routing it to the others.
/// Every node gets the same users (the seeds in the directory are shared); each its own file.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The cluster's name, the same on every node.
    pub name: String,
    /// This node's `server_name`, unique in the cluster (stream leaders are named by it).
    pub server_name: String,
    /// `host:port` this node listens on for routes from the others.
    pub listen: String,
    /// Every node's route URL (`nats-route://host:port`); a node ignores its own.
    pub routes: Vec<String>,
}

impl ClusterOptions {
    fn validate(&self) -> anyhow::Result<()> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&self.name) || !name_ok(&self.server_name) {
            bail!("cluster and server names must be letters, digits, '-' or '_'");
        }
        if self.listen.is_empty() {
            bail!("a cluster node needs its route listen address");
        }
        if self.routes.is_empty() || self.routes.iter().any(|r| !r.contains("://")) {
            bail!("a cluster node needs the other nodes' routes (nats-route://host:port)");
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub server_config: PathBuf,
    /// Each user's public key, by service.
    pub users: BTreeMap<Service, String>,
    /// Seeds made now (not found in the directory).
    pub generated: Vec<Service>,
}

/// Writes the server config and the credentials for `namespace` into `dir`.
pub fn write(
    dir: &Path,
    namespace: &str,
    options: &ServerOptions,
    rotate: bool,
) -> anyhow::Result<Written> {
    write_node(dir, namespace, options, None, rotate)
}

/// [`write`] for one node of a cluster (`cluster` set): the config is `nats-<server_name>.conf`,
/// so every node's can sit beside the shared seeds, and JetStream syncs every write to disk
/// before acknowledging it.
pub fn write_node(
    dir: &Path,
    namespace: &str,
    options: &ServerOptions,
    cluster: Option<&ClusterOptions>,
    rotate: bool,
) -> anyhow::Result<Written> {
    if let Some(cluster) = cluster {
        cluster.validate()?;
    }
    create_private_dir(dir)?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let mut users = BTreeMap::new();
    let mut generated = Vec::new();
    for service in Service::ALL {
        let seed_path = seed_file(&dir, service);
        let existing = if rotate { None } else { read_seed(&seed_path)? };
        let pair = match existing {
            Some(pair) => pair,
            None => {
                let pair = nkeys::KeyPair::new_user();
                let seed = pair.seed().context("encoding an nkey seed")?;
                write_private(&seed_path, &format!("{seed}\n"))?;
                generated.push(service);
                pair
            }
        };
        let seed_path_text = seed_path.to_string_lossy().into_owned();
        write_private(
            &dir.join(format!("{service}.toml")),
            &format!(
                "# NATS credentials of the {service} service (written by `hotline nats-config`).\n\
                 [nats]\nnkey_seed_file = {}\n",
                quote(&seed_path_text)
            ),
        )?;
        write_private(
            &dir.join(format!("{service}.env")),
            &format!("HOTLINE__NATS__NKEY_SEED_FILE={seed_path_text}\n"),
        )?;
        users.insert(service, pair.public_key());
    }
    let server_config = match cluster {
        Some(c) => dir.join(format!("nats-{}.conf", c.server_name)),
        None => dir.join("nats.conf"),
    };
    write_private(
        &server_config,
        &node_config_text(&Subjects::new(namespace), &users, options, cluster),
    )?;
    Ok(Written {
        server_config,
        users,
        generated,
    })
}

/// `<dir>/<service>.nk`: where [`write`] keeps a seed and where `credentials_dir` looks.
pub fn seed_file(dir: &Path, service: Service) -> PathBuf {
    dir.join(format!("{service}.nk"))
}

/// The nats-server configuration text (NATS conf syntax; strings JSON-quoted).
pub fn server_config_text(
    subjects: &Subjects,
    users: &BTreeMap<Service, String>,
    options: &ServerOptions,
) -> String {
    node_config_text(subjects, users, options, None)
}

/// [`server_config_text`] with a cluster node's name, `cluster` block and synchronous writes.
pub fn node_config_text(
    subjects: &Subjects,
    users: &BTreeMap<Service, String>,
    options: &ServerOptions,
    cluster: Option<&ClusterOptions>,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# nats-server configuration for the hotline namespace {} (written by `hotline nats-config`).\n\
         # Every client must be one of the users below; each may use only what its service needs.\n",
        quote(subjects.namespace()),
    ));
    if let Some(c) = cluster {
        out.push_str(&format!("server_name: {}\n", quote(&c.server_name)));
    }
    out.push_str(&format!("listen: {}\n", quote(&options.listen)));
    // A frozen client (SIGSTOP, a stalled VM) keeps its connection and its share of a queue
    // group's requests (the ledger's commands) until it misses `ping_max` pings: with the
    // defaults (2 minutes x 2) for the whole freeze. Every 5 s closes it within ~15 s
    // (docs/reliability.md: the kill matrix's frozen ledger replica).
    out.push_str("ping_interval: \"5s\"\nping_max: 2\n");
    if let Some(http) = &options.http {
        out.push_str(&format!("http: {}\n", quote(http)));
    }
    out.push_str(&format!(
        "jetstream {{\n  store_dir: {}\n",
        quote(&options.store_dir.to_string_lossy())
    ));
    if cluster.is_some() {
        // The default fsyncs every 2 minutes: Jepsen's analysis of NATS 2.12.1 lost writes
        // the cluster had acknowledged when nodes crashed with it.
        out.push_str("  sync_interval: always\n");
    }
    out.push_str("}\n");
    if let Some(c) = cluster {
        let routes = c
            .routes
            .iter()
            .map(|r| format!("    {}", quote(r)))
            .collect::<Vec<_>>()
            .join(",\n");
        // Routes carry no credentials here: the route port belongs on a network only the
        // nodes reach (or add `authorization`/`tls` to this block).
        out.push_str(&format!(
            "\ncluster {{\n  name: {}\n  listen: {}\n  routes: [\n{routes}\n  ]\n}}\n",
            quote(&c.name),
            quote(&c.listen)
        ));
    }
    out.push_str("\nauthorization {\n  users: [\n");
    for (service, public_key) in users {
        let p = permissions::for_service(*service, subjects);
        out.push_str(&format!("    # {service}\n"));
        out.push_str(&user_entry(public_key, &p));
    }
    out.push_str("  ]\n}\n");
    out
}

fn user_entry(public_key: &str, p: &Permissions) -> String {
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| format!("        {}", quote(s)))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    let mut entry = format!(
        "    {{\n      nkey: {}\n      permissions: {{\n        publish: {{ allow: [\n{}\n        ] }}\n        subscribe: {{ allow: [\n{}\n        ] }}\n",
        quote(public_key),
        list(&p.publish),
        list(&p.subscribe)
    );
    if p.allow_responses {
        entry.push_str("        allow_responses: true\n");
    }
    entry.push_str("      }\n    }\n");
    entry
}

/// A JSON string literal: also a valid TOML basic string and NATS conf string.
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn read_seed(path: &Path) -> anyhow::Result<Option<nkeys::KeyPair>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    match nkeys::KeyPair::from_seed(text.trim()) {
        Ok(pair) if pair.key_pair_type() == nkeys::KeyPairType::User => Ok(Some(pair)),
        // Never echo the file's content: it is meant to be a secret.
        _ => bail!(
            "{} does not hold a user nkey seed (remove it, or use --rotate)",
            path.display()
        ),
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

/// Writes `text` readable by the owner only (written to a temporary name, then renamed).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_users_and_keeps_seeds_unless_rotated() {
        let dir = std::env::temp_dir().join(format!("hotline-natsconf-{}", uuid::Uuid::new_v4()));
        let options = ServerOptions {
            listen: "127.0.0.1:4333".into(),
            http: None,
            store_dir: dir.join("store"),
        };
        let first = write(&dir, "city", &options, false).expect("written");
        assert_eq!(first.generated.len(), Service::ALL.len());
        let conf = std::fs::read_to_string(&first.server_config).expect("conf");
        for (service, key) in &first.users {
            assert!(key.starts_with('U'), "{service}: {key}");
            assert!(conf.contains(key.as_str()), "{service} missing");
            let seed = std::fs::read_to_string(seed_file(&dir, *service)).expect("seed");
            assert!(!conf.contains(seed.trim()), "a seed leaked into nats.conf");
        }
        assert!(conf.contains("\"city.tickets.cmd.intake\""));
        assert!(
            conf.contains("ping_interval: \"5s\""),
            "frozen clients found in seconds"
        );
        assert!(!conf.contains("STREAM.DELETE"));
        let again = write(&dir, "city", &options, false).expect("written");
        assert!(again.generated.is_empty());
        assert_eq!(again.users, first.users);
        let rotated = write(&dir, "city", &options, true).expect("written");
        assert_ne!(rotated.users, first.users);
        let snippet = std::fs::read_to_string(dir.join("intake.toml")).expect("snippet");
        let parsed: toml::Value = toml::from_str(&snippet).expect("valid TOML");
        assert!(
            parsed["nats"]["nkey_seed_file"]
                .as_str()
                .is_some_and(|p| p.ends_with("intake.nk"))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(seed_file(&dir, Service::Intake))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "seed readable by others");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cluster_node_gets_its_own_config_with_routes_and_synchronous_writes() {
        let dir = std::env::temp_dir().join(format!("hotline-natsconf-{}", uuid::Uuid::new_v4()));
        let routes: Vec<String> = (1..=3)
            .map(|i| format!("nats-route://127.0.0.1:623{i}"))
            .collect();
        let mut written = Vec::new();
        for i in 1..=3 {
            let options = ServerOptions {
                listen: format!("127.0.0.1:423{i}"),
                http: Some(format!("127.0.0.1:823{i}")),
                store_dir: dir.join(format!("n{i}")),
            };
            let cluster = ClusterOptions {
                name: "hotline".into(),
                server_name: format!("n{i}"),
                listen: format!("127.0.0.1:623{i}"),
                routes: routes.clone(),
            };
            written
                .push(write_node(&dir, "city", &options, Some(&cluster), false).expect("written"));
        }
        // One set of users for the three nodes: the seeds made for n1 are kept for n2 and n3.
        assert_eq!(written[0].generated.len(), Service::ALL.len());
        assert!(written[1].generated.is_empty() && written[2].generated.is_empty());
        assert_eq!(written[0].users, written[2].users);
        let conf = std::fs::read_to_string(dir.join("nats-n2.conf")).expect("n2's config");
        for expected in [
            "server_name: \"n2\"",
            "listen: \"127.0.0.1:4232\"",
            "sync_interval: always",
            "listen: \"127.0.0.1:6232\"",
            "\"nats-route://127.0.0.1:6233\"",
            "name: \"hotline\"",
            "\"city.tickets.cmd.intake\"",
        ] {
            assert!(conf.contains(expected), "{expected} missing from\n{conf}");
        }
        assert!(!dir.join("nats.conf").exists());
        let bad = ClusterOptions {
            name: "hot line".into(),
            server_name: "n1".into(),
            listen: "127.0.0.1:6231".into(),
            routes: routes.clone(),
        };
        let options = ServerOptions {
            listen: "127.0.0.1:4231".into(),
            http: None,
            store_dir: dir.join("n1"),
        };
        assert!(write_node(&dir, "city", &options, Some(&bad), false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
