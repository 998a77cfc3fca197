//! `hotline nats-config`: writes a nats-server configuration with one NATS user per service
//! (nkeys, allow-lists from `hotline_bus::permissions`) and each service's credentials. The
//! logic is `hotline_bus::nats_config`; this is the command line.

use std::path::PathBuf;

use anyhow::Context as _;
use hotline_config::Settings;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write nats.conf and the credentials (kept private: mode 0700/0600).
    #[arg(long, default_value = ".hotline/nats-auth")]
    pub out: PathBuf,
    /// The address nats-server listens on for clients.
    #[arg(long, default_value = "127.0.0.1:4222")]
    pub listen: String,
    /// The monitoring address (`/healthz`); empty for none.
    #[arg(long, default_value = "127.0.0.1:8222")]
    pub http: String,
    /// JetStream's store directory (default: `<out>/jetstream`, `<out>/jetstream-<server-name>`
    /// for a cluster node).
    #[arg(long)]
    pub store_dir: Option<PathBuf>,
    /// Make new keys for every user, replacing the ones in `--out`.
    #[arg(long)]
    pub rotate: bool,
    /// This node's name in a JetStream cluster: writes `nats-<name>.conf` with a `cluster`
    /// block and `sync_interval: always` (run once per node, same `--out`: the users are shared).
    #[arg(long, requires_all = ["cluster_listen", "routes"])]
    pub server_name: Option<String>,
    /// The cluster's name (every node the same).
    #[arg(long, default_value = "hotline")]
    pub cluster_name: String,
    /// The address this node listens on for routes from the other nodes.
    #[arg(long, requires = "server_name")]
    pub cluster_listen: Option<String>,
    /// Every node's route, comma-separated (nats-route://host:port,...).
    #[arg(long, value_delimiter = ',', requires = "server_name")]
    pub routes: Vec<String>,
}

pub fn run(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    let store_dir = match (&args.store_dir, &args.server_name) {
        (Some(dir), _) => dir.clone(),
        // Nodes of a cluster on one machine must not share a store.
        (None, Some(name)) => args.out.join(format!("jetstream-{name}")),
        (None, None) => args.out.join("jetstream"),
    };
    std::fs::create_dir_all(&store_dir)
        .with_context(|| format!("creating {}", store_dir.display()))?;
    let options = hotline_bus::nats_config::ServerOptions {
        listen: args.listen.clone(),
        http: (!args.http.is_empty()).then(|| args.http.clone()),
        store_dir: store_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", store_dir.display()))?,
    };
    let cluster = match (&args.server_name, &args.cluster_listen) {
        (Some(server_name), Some(listen)) => Some(hotline_bus::nats_config::ClusterOptions {
            name: args.cluster_name.clone(),
            server_name: server_name.clone(),
            listen: listen.clone(),
            routes: args.routes.clone(),
        }),
        _ => None,
    };
    let written = hotline_bus::nats_config::write_node(
        &args.out,
        &settings.namespace,
        &options,
        cluster.as_ref(),
        args.rotate,
    )?;
    let dir = written
        .server_config
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // Public keys only: the seeds stay in their files.
    println!("wrote {}", written.server_config.display());
    for (service, key) in &written.users {
        let state = if written.generated.contains(service) {
            "new key"
        } else {
            "kept"
        };
        println!("  {service:<10} {key} ({state})");
    }
    println!(
        "start:   nats-server -c {}\n\
         one service:  HOTLINE_CONFIG={dir}/<service>.toml hotline <service>   (or the .env file)\n\
         hotline all:  HOTLINE__NATS__CREDENTIALS_DIR={dir} hotline all\n\
         streams:      HOTLINE__NATS__NKEY_SEED_FILE={dir}/setup.nk hotline setup",
        written.server_config.display()
    );
    if cluster.is_some() {
        println!(
            "cluster:      write every node's config the same way, then give hotline setup and the\n              \
             services every node's URL (comma-separated) and HOTLINE__NATS__STREAM_REPLICAS=3"
        );
    }
    Ok(())
}
