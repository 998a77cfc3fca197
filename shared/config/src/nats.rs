//! The `[nats]` section: where NATS is and how this process proves who it is there.
//!
//! One way at most: `user` + `password`/`password_file`, `nkey_seed`/`nkey_seed_file`, a
//! `credentials_file` (a NATS `.creds` file, for a server in operator/JWT mode), or a
//! `credentials_dir` holding one `<service>.nk` seed per service (what `hotline nats-config`
//! writes; `hotline all` runs every service in one process, and each connects as itself).
//! None of them: an open NATS (the dev/test server). Secrets are read here and never shown:
//! [`Secret`]'s `Debug` prints `***`, and errors name the file, never its content.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ConfigError;

/// A value that must never reach a log: `Debug` prints `***`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value itself, for the one place that needs it (the NATS handshake).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where JetStream keeps the streams' messages (`nats.stream_storage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStorage {
    /// On disk: what survives a restart of every node (the default, and production's).
    #[default]
    File,
    /// In memory: faster, but a stream lives only as long as a quorum of its replicas runs (a
    /// single node's restart empties it). For benchmarks and throwaway test servers.
    Memory,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Nats {
    /// One server or a comma-separated list of a cluster's servers
    /// (`nats://a:4222,nats://b:4222`): the client fails over between them.
    pub url: String,
    /// Copies of each stream and KV bucket: 1 locally, 3 on a cluster (R3). Applied when a
    /// stream is created (services) or by `hotline setup`; never changed by a service.
    pub stream_replicas: usize,
    /// Storage of the event streams (file or memory); the KV buckets stay on file.
    pub stream_storage: StreamStorage,
    /// The NATS user (with `password` or `password_file`).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (a mounted secret); surrounding whitespace is ignored.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A user nkey seed (`SU...`).
    #[serde(default)]
    pub nkey_seed: Option<Secret>,
    /// A file holding the user nkey seed (a mounted secret).
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// A NATS `.creds` file (user JWT and seed), for a server in operator mode.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// A directory with `<service>.nk` seed files, one per service (`hotline nats-config`).
    #[serde(default)]
    pub credentials_dir: Option<PathBuf>,
}

/// How one service connects, with its secret already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials: a NATS without authorization (the dev/test server).
    None,
    UserPassword {
        user: String,
        password: Secret,
    },
    NKey {
        seed: Secret,
    },
    CredentialsFile(PathBuf),
}

impl Nats {
    /// Checks the combination and the shape of inline values (files are read at connect).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("nats: {m}")));
        // NATS keeps at most five copies of a stream; 0 is no stream at all.
        if !(1..=5).contains(&self.stream_replicas) {
            return invalid("stream_replicas must be 1 to 5 (1 on one server, 3 on a cluster)");
        }
        // A cluster is a comma-separated list: every entry a server URL of its own.
        if !self.url.split(',').map(str::trim).all(|server| {
            ["nats://", "tls://"]
                .iter()
                .any(|scheme| server.len() > scheme.len() && server.starts_with(scheme))
        }) {
            return invalid(
                "url must be nats://host:port or tls://host:port, comma-separated for a cluster",
            );
        }
        let user_pw =
            self.user.is_some() || self.password.is_some() || self.password_file.is_some();
        let nkey = self.nkey_seed.is_some() || self.nkey_seed_file.is_some();
        let ways = [
            user_pw,
            nkey,
            self.credentials_file.is_some(),
            self.credentials_dir.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() > 1 {
            return invalid(
                "set one of user+password, nkey_seed(_file), credentials_file or credentials_dir",
            );
        }
        if user_pw {
            let user_ok = self.user.as_deref().is_some_and(valid_user);
            if !user_ok {
                return invalid("user must be set (letters, digits, '-', '_') with a password");
            }
            if self.password.is_some() == self.password_file.is_some() {
                return invalid("set exactly one of password and password_file");
            }
            if self
                .password
                .as_ref()
                .is_some_and(|p| p.expose().is_empty())
            {
                return invalid("password must not be empty");
            }
        }
        if self.nkey_seed.is_some() && self.nkey_seed_file.is_some() {
            return invalid("set only one of nkey_seed and nkey_seed_file");
        }
        if let Some(seed) = &self.nkey_seed
            && !looks_like_user_seed(seed.expose())
        {
            return invalid("nkey_seed must be a user seed (58 characters starting with SU)");
        }
        for (name, path) in [
            ("password_file", &self.password_file),
            ("nkey_seed_file", &self.nkey_seed_file),
            ("credentials_file", &self.credentials_file),
            ("credentials_dir", &self.credentials_dir),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return invalid(&format!("{name} must not be empty"));
            }
        }
        Ok(())
    }

    /// The credentials `service` connects with, secrets read from their files. Called before
    /// connecting, so a missing or malformed secret stops the service before it binds a port.
    pub fn auth(&self, service: &str) -> Result<NatsAuth, ConfigError> {
        self.validate()?;
        if let Some(user) = &self.user {
            let password = match (&self.password, &self.password_file) {
                (Some(p), _) => p.clone(),
                (None, Some(file)) => Secret(read_secret(file, "nats.password_file")?),
                (None, None) => return Err(invalid("nats: user needs a password")),
            };
            if password.expose().is_empty() {
                return Err(invalid("nats: password must not be empty"));
            }
            return Ok(NatsAuth::UserPassword {
                user: user.clone(),
                password,
            });
        }
        if let Some(seed) = &self.nkey_seed {
            return Ok(NatsAuth::NKey { seed: seed.clone() });
        }
        if let Some(file) = &self.nkey_seed_file {
            return seed_from(file, "nats.nkey_seed_file");
        }
        if let Some(file) = &self.credentials_file {
            if !file.is_file() {
                return Err(invalid(&format!(
                    "nats.credentials_file {} is not a readable file",
                    file.display()
                )));
            }
            return Ok(NatsAuth::CredentialsFile(file.clone()));
        }
        if let Some(dir) = &self.credentials_dir {
            if !valid_user(service) {
                return Err(invalid(&format!("nats: no credentials for {service:?}")));
            }
            return seed_from(
                &dir.join(format!("{service}.nk")),
                "a seed file in nats.credentials_dir",
            );
        }
        Ok(NatsAuth::None)
    }
}

fn invalid(message: &str) -> ConfigError {
    ConfigError::Invalid(message.to_owned())
}

fn valid_user(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn looks_like_user_seed(seed: &str) -> bool {
    seed.len() == 58 && seed.starts_with("SU") && seed.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn read_secret(path: &Path, what: &str) -> Result<String, ConfigError> {
    // The error names the file and the OS reason, never anything read from it.
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(&format!("{what} {}: {e}", path.display())))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(invalid(&format!("{what} {} is empty", path.display())));
    }
    Ok(value.to_owned())
}

fn seed_from(path: &Path, what: &str) -> Result<NatsAuth, ConfigError> {
    let seed = read_secret(path, what)?;
    if !looks_like_user_seed(&seed) {
        return Err(invalid(&format!(
            "{what} {} does not hold a user nkey seed",
            path.display()
        )));
    }
    Ok(NatsAuth::NKey { seed: Secret(seed) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Nats {
        Nats {
            url: "nats://127.0.0.1:4222".into(),
            stream_replicas: 1,
            stream_storage: StreamStorage::File,
            user: None,
            password: None,
            password_file: None,
            nkey_seed: None,
            nkey_seed_file: None,
            credentials_file: None,
            credentials_dir: None,
        }
    }

    const SEED: &str = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";

    #[test]
    fn no_credentials_is_an_open_connection() {
        assert_eq!(open().auth("intake").expect("valid"), NatsAuth::None);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let n = Nats {
            user: Some("intake".into()),
            password: Some(Secret::new("hunter2-very-secret")),
            ..open()
        };
        let shown = format!("{n:?} {:?}", n.auth("intake").expect("valid"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn one_way_at_most_and_complete() {
        let bad = [
            Nats {
                user: Some("a".into()),
                password: Some(Secret::new("p")),
                nkey_seed: Some(Secret::new(SEED)),
                ..open()
            },
            Nats {
                user: Some("a".into()),
                ..open()
            },
            Nats {
                password: Some(Secret::new("p")),
                ..open()
            },
            Nats {
                nkey_seed: Some(Secret::new("SAAAA")),
                ..open()
            },
            Nats {
                credentials_dir: Some(PathBuf::from("/x")),
                credentials_file: Some(PathBuf::from("/y")),
                ..open()
            },
        ];
        for n in bad {
            assert!(
                matches!(n.validate(), Err(ConfigError::Invalid(_))),
                "{n:?}"
            );
        }
    }

    #[test]
    fn replicas_and_storage_come_from_the_settings_and_are_checked() {
        let load = |pairs: &[(&str, &str)]| {
            crate::Settings::load_from(
                None,
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
        };
        let defaults = load(&[]).expect("defaults");
        assert_eq!(defaults.nats.stream_replicas, 1);
        assert_eq!(defaults.nats.stream_storage, StreamStorage::File);
        let cluster = load(&[
            (
                "NATS_URL",
                "nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233",
            ),
            ("HOTLINE__NATS__STREAM_REPLICAS", "3"),
            ("HOTLINE__NATS__STREAM_STORAGE", "memory"),
        ])
        .expect("a cluster's settings");
        assert_eq!(cluster.nats.stream_replicas, 3);
        assert_eq!(cluster.nats.stream_storage, StreamStorage::Memory);
        for bad in [
            [("HOTLINE__NATS__STREAM_STORAGE", "disk")],
            [("HOTLINE__NATS__STREAM_REPLICAS", "0")],
            [("HOTLINE__NATS__STREAM_REPLICAS", "7")],
            [("NATS_URL", "nats://127.0.0.1:4231,,nats://127.0.0.1:4233")],
            [("NATS_URL", "nats://127.0.0.1:4231,127.0.0.1:4232")],
        ] {
            assert!(load(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn seeds_are_read_per_service_from_the_directory() {
        let dir = std::env::temp_dir().join(format!("hotline-nats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("intake.nk"), format!("{SEED}\n")).expect("write");
        let n = Nats {
            credentials_dir: Some(dir.clone()),
            ..open()
        };
        assert_eq!(
            n.auth("intake").expect("read"),
            NatsAuth::NKey {
                seed: Secret::new(SEED)
            }
        );
        let missing = n.auth("gateway").expect_err("no file");
        assert!(!format!("{missing}").contains(SEED));
        std::fs::write(dir.join("sla.nk"), "not a seed").expect("write");
        let garbled = format!("{}", n.auth("sla").expect_err("bad seed"));
        assert!(!garbled.contains("not a seed"), "{garbled}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
