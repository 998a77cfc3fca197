//! Creates (or updates) the streams and buckets. Idempotent; run by `hotline setup` and by every
//! service at start so that a fresh NATS works.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv, stream};

use crate::Bus;

#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// 1 locally, 3 in production (R3).
    pub replicas: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions { replicas: 1 }
    }
}

pub async fn ensure(bus: &Bus, options: StreamOptions) -> anyhow::Result<()> {
    let s = &bus.subjects;
    let base = stream::Config {
        storage: stream::StorageType::File,
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
            s.dead_letter_stream(),
            s.dead_letter_all(),
            "Messages a consumer gave up on, with the reason",
        ),
    ];
    for (name, subject, description) in specs {
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![subject],
            description: Some(description.to_owned()),
            max_age: Duration::from_secs(60 * 60 * 24 * 90),
            ..base.clone()
        };
        bus.js
            .create_or_update_stream(config)
            .await
            .with_context(|| format!("creating stream {name}"))?;
    }
    let bucket = s.ticket_numbers_bucket();
    if bus.js.get_key_value(&bucket).await.is_err() {
        bus.js
            .create_key_value(kv::Config {
                bucket: bucket.clone(),
                description: "Ticket number blocks reserved per day".to_owned(),
                history: 1,
                storage: jetstream::stream::StorageType::File,
                num_replicas: options.replicas,
                max_age: Duration::from_secs(60 * 60 * 24 * 3),
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating KV bucket {bucket}"))?;
    }
    Ok(())
}
