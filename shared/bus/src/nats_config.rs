//! `hotline nats-config`: a nats-server configuration with one nkey user per service and the
//! allow-lists of [`crate::permissions`], plus each service's credentials.
//!
//! Written into one directory:
//! - `nats.conf`: listen address, JetStream with its store dir, monitoring, and the users (only
//!   their public keys: the server config holds no secret);
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
    let server_config = dir.join("nats.conf");
    write_private(
        &server_config,
        &server_config_text(&Subjects::new(namespace), &users, options),
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
    let mut out = String::new();
    out.push_str(&format!(
        "# nats-server configuration for the hotline namespace {} (written by `hotline nats-config`).\n\
         # Every client must be one of the users below; each may use only what its service needs.\n\
         listen: {}\n",
        quote(subjects.namespace()),
        quote(&options.listen)
    ));
    if let Some(http) = &options.http {
        out.push_str(&format!("http: {}\n", quote(http)));
    }
    out.push_str(&format!(
        "jetstream {{\n  store_dir: {}\n}}\n\nauthorization {{\n  users: [\n",
        quote(&options.store_dir.to_string_lossy())
    ));
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
}
