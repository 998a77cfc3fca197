//! The city's department directory, one for every service and replica of a namespace.
//!
//! - [`store`]: `hotline setup --directory FILE` (the NATS `setup` user, the only one that may
//!   write the bucket) puts the parsed directory into the KV bucket
//!   [`Subjects::directory_bucket`](crate::Subjects::directory_bucket) under one key. Storing
//!   the same directory again writes nothing, so setup can be re-run.
//! - [`load`]: what tickets, sla and dispatch read at start. An empty bucket gives the demo
//!   directory only when the deployment is the demo; otherwise the service refuses to start
//!   ([`LoadError::NotLoaded`]), because a service that silently ran on Guangzhou's
//!   departments in another city would dispatch to departments that do not exist there.
//! - [`current`]/[`revision`]: what the bucket holds now, for setup's report and for a
//!   replica to notice that a newer directory was stored (it picks it up when restarted; see
//!   docs/directory.md).
//!
//! One key holds the whole directory (as the file format, [`Directory::to_csv`], inside a small
//! JSON record naming its source), so a reader never sees half of a change. The value must fit
//! the server's `max_payload` (1 MiB by default: some 10,000 departments).

use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use hotline_domain::{Directory, DirectoryError};
use serde::{Deserialize, Serialize};

use crate::Bus;
use crate::subjects::DIRECTORY_KEY;

/// The record's layout; a reader refuses one it does not know rather than guess.
const FORMAT: u32 = 1;

/// How long a read or write of the bucket may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The value stored under [`DIRECTORY_KEY`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    format: u32,
    /// Where it came from (the file's name as given to setup), for the operator.
    source: String,
    loaded_at: DateTime<Utc>,
    /// The directory in its file format, in code order.
    departments_csv: String,
}

/// The directory the bucket holds, with where and when it was loaded.
#[derive(Debug, Clone)]
pub struct Current {
    pub directory: Directory,
    /// The KV revision: a later store has a higher one.
    pub revision: u64,
    pub source: String,
    pub loaded_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no department directory loaded: run hotline setup --directory FILE")]
    NotLoaded,
    #[error(
        "the department directory in KV bucket {bucket} (revision {revision}) cannot be read \
         ({reason}): load it again with hotline setup --directory FILE"
    )]
    Unreadable {
        bucket: String,
        revision: u64,
        reason: String,
    },
    #[error("reading the department directory from KV bucket {bucket}: {reason}")]
    Nats { bucket: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the directory is {bytes} bytes stored, more than the NATS server takes in one message \
         ({max} bytes, its max_payload): raise max_payload in the nats-server configuration"
    )]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "the department directory was changed by someone else meanwhile (now revision \
         {revision}): run setup again"
    )]
    Concurrent { revision: u64 },
    #[error("writing the department directory to KV bucket {bucket}: {reason}")]
    Nats { bucket: String, reason: String },
}

/// What [`store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The bucket already held this directory; nothing was written.
    Unchanged { revision: u64 },
    /// A new revision (the first, or one replacing another directory).
    Written { revision: u64 },
}

async fn bucket(bus: &Bus) -> Result<kv::Store, String> {
    let name = bus.subjects.directory_bucket();
    match tokio::time::timeout(TIMEOUT, bus.js.get_key_value(&name)).await {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(e)) => Err(format!(
            "{e} (the bucket is made by hotline setup; a NATS user needs \
             $JS.API.STREAM.INFO.KV_{name})"
        )),
        Err(_) => Err("timed out".to_owned()),
    }
}

async fn entry(store: &kv::Store) -> Result<Option<kv::Entry>, String> {
    match tokio::time::timeout(TIMEOUT, store.entry(DIRECTORY_KEY)).await {
        Ok(Ok(Some(e))) if e.operation == kv::Operation::Put => Ok(Some(e)),
        // Deleted or purged: as good as never loaded.
        Ok(Ok(_)) => Ok(None),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

fn decode(bucket: &str, e: &kv::Entry) -> Result<Current, LoadError> {
    let unreadable = |reason: String| LoadError::Unreadable {
        bucket: bucket.to_owned(),
        revision: e.revision,
        reason,
    };
    let record: Record = serde_json::from_slice(&e.value).map_err(|e| unreadable(e.to_string()))?;
    if record.format != FORMAT {
        return Err(unreadable(format!(
            "format {} (this version reads {FORMAT})",
            record.format
        )));
    }
    let directory = Directory::from_csv(record.departments_csv.as_bytes())
        .map_err(|e: DirectoryError| unreadable(e.to_string()))?;
    Ok(Current {
        directory,
        revision: e.revision,
        source: record.source,
        loaded_at: record.loaded_at,
    })
}

/// The directory the bucket holds, if any.
pub async fn current(bus: &Bus) -> Result<Option<Current>, LoadError> {
    let name = bus.subjects.directory_bucket();
    let nats = |reason: String| LoadError::Nats {
        bucket: name.clone(),
        reason,
    };
    let store = bucket(bus).await.map_err(nats)?;
    match entry(&store).await.map_err(nats)? {
        Some(e) => decode(&name, &e).map(Some),
        None => Ok(None),
    }
}

/// The revision the bucket holds now (None: empty), without parsing it: a replica's cheap
/// check whether the directory it runs on is still the current one.
pub async fn revision(bus: &Bus) -> Result<Option<u64>, LoadError> {
    let name = bus.subjects.directory_bucket();
    let nats = |reason: String| LoadError::Nats {
        bucket: name.clone(),
        reason,
    };
    let store = bucket(bus).await.map_err(nats)?;
    Ok(entry(&store).await.map_err(nats)?.map(|e| e.revision))
}

/// The directory a service runs on: the stored one; with none stored, the demo directory
/// when `demo` is on, else [`LoadError::NotLoaded`]. The revision is None for the demo's.
pub async fn load_with_revision(
    bus: &Bus,
    demo: bool,
) -> Result<(Directory, Option<u64>), LoadError> {
    match current(bus).await? {
        Some(c) => Ok((c.directory, Some(c.revision))),
        None if demo => Ok((Directory::demo(), None)),
        None => Err(LoadError::NotLoaded),
    }
}

/// [`load_with_revision`] without the revision.
pub async fn load(bus: &Bus, demo: bool) -> Result<Directory, LoadError> {
    load_with_revision(bus, demo).await.map(|(d, _)| d)
}

/// Puts `directory` into the bucket, naming `source` (the file) as where it came from. Writes
/// nothing when the bucket already holds the same directory; refuses when another writer
/// stored one between this call's read and its write.
pub async fn store(bus: &Bus, directory: &Directory, source: &str) -> Result<Stored, StoreError> {
    let name = bus.subjects.directory_bucket();
    let nats = |reason: String| StoreError::Nats {
        bucket: name.clone(),
        reason,
    };
    let kv = bucket(bus).await.map_err(nats)?;
    let before = entry(&kv).await.map_err(nats)?;
    let csv = directory.to_csv();
    if let Some(e) = &before
        && let Ok(c) = decode(&name, e)
        && c.directory.to_csv() == csv
    {
        return Ok(Stored::Unchanged {
            revision: e.revision,
        });
    }
    let record = Record {
        format: FORMAT,
        source: source.to_owned(),
        loaded_at: Utc::now(),
        departments_csv: csv,
    };
    let value = serde_json::to_vec(&record).map_err(|e| nats(e.to_string()))?;
    // Headers and the subject ride along in the same message: leave them room.
    let max = bus.client.max_payload();
    if max > 0 && value.len() + 1024 > max {
        return Err(StoreError::TooLarge {
            bytes: value.len(),
            max,
        });
    }
    let value = bytes::Bytes::from(value);
    let written = match &before {
        Some(e) => tokio::time::timeout(TIMEOUT, kv.update(DIRECTORY_KEY, value, e.revision))
            .await
            .map(|r| {
                r.map_err(|e| {
                    (
                        e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                        e.to_string(),
                    )
                })
            }),
        None => tokio::time::timeout(TIMEOUT, kv.create(DIRECTORY_KEY, value))
            .await
            .map(|r| {
                r.map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                })
            }),
    };
    match written {
        Ok(Ok(revision)) => Ok(Stored::Written { revision }),
        Ok(Err((true, _))) => {
            // Another writer got there first; if it wrote this very directory (two setups of
            // the same files at once), that is what was asked for.
            let now = entry(&kv).await.map_err(nats)?;
            match now {
                Some(e)
                    if decode(&name, &e)
                        .is_ok_and(|c| c.directory.to_csv() == record.departments_csv) =>
                {
                    Ok(Stored::Unchanged {
                        revision: e.revision,
                    })
                }
                other => Err(StoreError::Concurrent {
                    revision: other.map_or(0, |e| e.revision),
                }),
            }
        }
        Ok(Err((false, reason))) => Err(nats(reason)),
        Err(_) => Err(nats("timed out".to_owned())),
    }
}
