//! The streams and the KV buckets (ticket numbers, the department directory): their
//! configuration lives here, once.
//!
//! - [`apply`] creates or updates them to this configuration: `hotline setup`, run by the
//!   operator as the NATS `setup` user (the only user allowed to manage streams).
//! - [`ensure`] is what every service runs at start: it checks that each exists and creates only
//!   what is missing (an open dev/test NATS starts empty). It never updates an existing stream,
//!   so a service never undoes what an operator set (replicas, limits). On a NATS with the
//!   generated users a service may not create streams: a missing one is an error telling to run
//!   `hotline setup`.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv, stream};

use crate::Bus;

#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// 1 locally, 3 in production (R3).
    pub replicas: usize,
    /// The event streams' storage. The KV buckets are always on file: their content (today's
    /// ticket-number blocks, the directory) must outlive every node, or numbers are handed out
    /// twice and the services cannot start.
    pub storage: stream::StorageType,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            replicas: 1,
            storage: stream::StorageType::File,
        }
    }
}

impl StreamOptions {
    /// `nats.stream_replicas` and `nats.stream_storage`.
    pub fn from_config(nats: &hotline_config::Nats) -> StreamOptions {
        StreamOptions {
            replicas: nats.stream_replicas,
            storage: match nats.stream_storage {
                hotline_config::StreamStorage::File => stream::StorageType::File,
                hotline_config::StreamStorage::Memory => stream::StorageType::Memory,
            },
        }
    }
}

/// The names of every stream of the namespace, the KV buckets' (`KV_<bucket>`) included.
pub fn names(s: &crate::Subjects) -> Vec<String> {
    let mut names: Vec<String> = stream_configs(s, StreamOptions::default())
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.extend(
        bucket_configs(s, StreamOptions::default())
            .into_iter()
            .map(|c| format!("KV_{}", c.bucket)),
    );
    names
}

/// Creates or updates every stream, and creates the buckets, to this configuration (`hotline
/// setup`).
pub async fn apply(bus: &Bus, options: StreamOptions) -> anyhow::Result<()> {
    for config in stream_configs(&bus.subjects, options) {
        let name = config.name.clone();
        // NATS refuses to move a stream between file and memory; say what to do instead of
        // passing on its terse refusal.
        if let Ok(existing) = bus.js.get_stream(&name).await {
            let storage = existing.cached_info().config.storage;
            if storage != config.storage {
                anyhow::bail!(
                    "stream {name} is stored on {} and nats.stream_storage asks for {}: NATS \
                     cannot change a stream's storage (keep the setting, or back the stream up \
                     and delete it before `hotline setup`)",
                    storage_name(storage),
                    storage_name(config.storage)
                );
            }
        }
        bus.js
            .create_or_update_stream(config)
            .await
            .with_context(|| format!("creating or updating stream {name}"))?;
    }
    ensure_buckets(bus, options).await?;
    // A bucket made before (say at R1 on one server, now on a cluster) takes the replicas too;
    // its content stays. Nothing else of its configuration is touched.
    for config in bucket_configs(&bus.subjects, options) {
        let name = format!("KV_{}", config.bucket);
        let stream = bus
            .js
            .get_stream(&name)
            .await
            .with_context(|| format!("looking up stream {name}"))?;
        let mut current = stream.cached_info().config.clone();
        if current.num_replicas != options.replicas {
            current.num_replicas = options.replicas;
            bus.js
                .update_stream(current)
                .await
                .with_context(|| format!("setting the replicas of stream {name}"))?;
        }
    }
    Ok(())
}

fn storage_name(storage: stream::StorageType) -> &'static str {
    match storage {
        stream::StorageType::File => "file",
        stream::StorageType::Memory => "memory",
    }
}

/// Checks every stream and bucket exists; creates what is missing, changes nothing else.
pub async fn ensure(bus: &Bus, options: StreamOptions) -> anyhow::Result<()> {
    for config in stream_configs(&bus.subjects, options) {
        let name = config.name.clone();
        match bus.js.get_stream(&name).await {
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(_)
                ) =>
            {
                // Not found (or not visible): try to create it below.
                tracing::debug!(stream = %name, error = %e, "stream lookup failed");
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "looking up stream {name} (a NATS user needs $JS.API.STREAM.INFO.{name})"
                )));
            }
        }
        if let Err(e) = bus.js.create_stream(config).await {
            // Another replica may have created it meanwhile.
            if bus.js.get_stream(&name).await.is_err() {
                return Err(anyhow::Error::new(e).context(format!(
                    "stream {name} is missing and this NATS user may not create it: \
                     run `hotline setup` (as the NATS setup user)"
                )));
            }
        }
    }
    ensure_buckets(bus, options).await
}

/// Creates each bucket that is missing. An existing bucket is left as it is (its content is
/// the point: a directory or today's counters).
async fn ensure_buckets(bus: &Bus, options: StreamOptions) -> anyhow::Result<()> {
    for config in bucket_configs(&bus.subjects, options) {
        let bucket = config.bucket.clone();
        if bus.js.get_key_value(&bucket).await.is_ok() {
            continue;
        }
        match bus.js.create_key_value(config).await {
            Ok(_) => {}
            Err(_) if bus.js.get_key_value(&bucket).await.is_ok() => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "KV bucket {bucket} is missing and this NATS user may not create it: \
                     run `hotline setup` (as the NATS setup user)"
                )));
            }
        }
    }
    Ok(())
}

fn bucket_configs(s: &crate::Subjects, options: StreamOptions) -> Vec<kv::Config> {
    vec![
        kv::Config {
            bucket: s.ticket_numbers_bucket(),
            description: "Ticket number blocks reserved per day".to_owned(),
            history: 1,
            storage: jetstream::stream::StorageType::File,
            num_replicas: options.replicas,
            max_age: Duration::from_secs(60 * 60 * 24 * 3),
            ..Default::default()
        },
        kv::Config {
            bucket: s.directory_bucket(),
            description: "The department directory (hotline setup --directory)".to_owned(),
            // The directories loaded before stay readable (`nats kv history`): what was in
            // force when an old ticket was dispatched.
            history: 16,
            storage: jetstream::stream::StorageType::File,
            num_replicas: options.replicas,
            ..Default::default()
        },
    ]
}

fn stream_configs(s: &crate::Subjects, options: StreamOptions) -> Vec<stream::Config> {
    let base = stream::Config {
        storage: options.storage,
        num_replicas: options.replicas,
        // Publishers retry with the same Nats-Msg-Id within this window without duplicates.
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    let specs = [
        (
            s.tickets_stream(),
            s.ticket_events_all(),
            "Every ticket event from the ledger's outbox",
        ),
        (
            s.delivery_stream(),
            s.delivery_all(),
            "Assignments per department, consumed through the gateway",
        ),
        (
            s.knowledge_stream(),
            s.knowledge_events_all(),
            "Knowledge base facts: items published and retired, update tasks",
        ),
        (
            s.sla_stream(),
            s.sla_events_all(),
            "SLA facts: warnings, overdue, supervision orders, escalations, extensions",
        ),
        (
            s.notify_stream(),
            s.notify_all(),
            "Notices to citizens (receipt, progress, reply, survey) per channel",
        ),
        (
            s.dead_letter_stream(),
            s.dead_letter_all(),
            "Messages a consumer gave up on, with the reason",
        ),
    ];
    specs
        .into_iter()
        .map(|(name, subject, description)| stream::Config {
            name,
            subjects: vec![subject],
            description: Some(description.to_owned()),
            max_age: Duration::from_secs(60 * 60 * 24 * 90),
            ..base.clone()
        })
        .collect()
}
