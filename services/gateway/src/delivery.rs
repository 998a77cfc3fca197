//! Per-department durable delivery: the `dept-<CODE>` pull consumer on the delivery stream, and
//! what happens to a message between the pull and the department's ack.
//!
//! Both the gRPC `Subscribe` stream and the REST `/v1/assignments` pull from the same durable
//! consumer, so a department may use either (or several workers) and each assignment goes to
//! one of them. The consumer starts at the beginning of the stream (`DeliverPolicy::All`), so a
//! department that connects for the first time, or after a week offline, gets its backlog.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use hotline_bus::{Bus, Envelope};
use hotline_domain::DeptCode;
use tokio_util::sync::CancellationToken;

use crate::assignment::Assignment;
use crate::metrics;

/// A department has this long to ack an assignment before it is delivered again.
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// Most assignments out and not acked per department, over all its connections.
pub const MAX_ACK_PENDING: i64 = 256;
/// After this many deliveries without an ack, and [`GIVE_UP_AGE`] after it was stored, the
/// gateway dead-letters the assignment instead of sending it again (a client that crashes on it
/// would otherwise loop forever). Both must hold: a department whose system takes its
/// assignments but does not ack them for days (a broken ack path, a long outage on its side)
/// keeps getting them, every [`ACK_WAIT`] it pulls, rather than losing them in ten minutes.
pub const GIVE_UP_AFTER: i64 = 25;
/// See [`GIVE_UP_AFTER`].
pub const GIVE_UP_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The consumer's own limit: none. The gateway decides when to give up ([`GIVE_UP_AFTER`]);
/// with a server-side limit JetStream would stop delivering first and the assignment would sit
/// unacked and undelivered, never dead-lettered.
pub const MAX_DELIVER: i64 = -1;

/// The durable consumer of a department: `dept-<CODE>`.
pub fn consumer_name(dept: &DeptCode) -> String {
    format!(
        "{}{dept}",
        hotline_bus::subjects::durable::DEPARTMENT_PREFIX
    )
}

/// Department consumers, created on first use and then cached (one lookup per process, not
/// per pull).
#[derive(Clone)]
pub struct Deliveries {
    bus: Bus,
    cache: Arc<Mutex<HashMap<DeptCode, PullConsumer>>>,
}

impl Deliveries {
    pub fn new(bus: Bus) -> Deliveries {
        Deliveries {
            bus,
            cache: Arc::default(),
        }
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    #[tracing::instrument(skip_all, fields(department = %dept))]
    pub async fn consumer(&self, dept: &DeptCode) -> anyhow::Result<PullConsumer> {
        if let Some(c) = self.lock().get(dept) {
            return Ok(c.clone());
        }
        let s = &self.bus.subjects;
        let name = consumer_name(dept);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            description: Some(format!("Assignments for department {dept}")),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ack_wait: ACK_WAIT,
            max_deliver: MAX_DELIVER,
            max_ack_pending: MAX_ACK_PENDING,
            filter_subject: s.delivery(dept.as_str()),
            ..Default::default()
        };
        let stream = self
            .bus
            .js
            .get_stream(s.delivery_stream())
            .await
            .with_context(|| format!("stream {}", s.delivery_stream()))?;
        let mut consumer: PullConsumer = stream
            .get_or_create_consumer(&name, config.clone())
            .await
            .with_context(|| format!("consumer {name}"))?;
        // Consumers made by an older gateway carry a delivery limit of 30, which would stop a
        // department that does not ack from ever getting its assignments again.
        if consumer.cached_info().config.max_deliver != MAX_DELIVER {
            consumer = stream
                .update_consumer(config)
                .await
                .with_context(|| format!("lifting the delivery limit of consumer {name}"))?;
        }
        self.lock().insert(dept.clone(), consumer.clone());
        Ok(consumer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeptCode, PullConsumer>> {
        // A poisoned map still holds valid consumers: a panic elsewhere must not stop delivery.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A pulled assignment, ready to hand to the department.
pub struct Pulled {
    /// `<stream seq>.<delivery attempt>`: unique per delivery, opaque to clients.
    pub delivery_id: String,
    pub attempt: u32,
    pub assignment: Assignment,
    pub message: Message,
}

/// Checks a freshly pulled message. Returns what to deliver, or `None` when the message was
/// dead-lettered (undecodable, misrouted, or tried too often) and must not reach the client.
pub async fn take(bus: &Bus, dept: &DeptCode, message: Message) -> Option<Pulled> {
    let (sseq, delivered, stored) = match message.info() {
        Ok(info) => (
            info.stream_sequence,
            info.delivered,
            std::time::SystemTime::from(info.published),
        ),
        Err(e) => {
            // Not a JetStream delivery at all: nothing to ack either.
            tracing::warn!(department = %dept, error = %e, "pulled message has no JetStream info");
            return None;
        }
    };
    let age = std::time::SystemTime::now()
        .duration_since(stored)
        .unwrap_or_default();
    if give_up(delivered, age) {
        dead_letter(
            bus,
            dept,
            &message,
            "max_deliveries",
            &format!(
                "not acknowledged after {delivered} deliveries over {} days",
                age.as_secs() / 86_400
            ),
        )
        .await;
        return None;
    }
    let assignment = match Envelope::<Assignment>::from_slice(&message.payload) {
        Ok(envelope) => envelope.data,
        Err(e) => {
            dead_letter(bus, dept, &message, "undecodable", &e.to_string()).await;
            return None;
        }
    };
    if &assignment.department != dept {
        // Only possible if someone published on the wrong subject: never show it.
        dead_letter(
            bus,
            dept,
            &message,
            "misrouted",
            "assignment names another department",
        )
        .await;
        return None;
    }
    Some(Pulled {
        delivery_id: format!("{sseq}.{delivered}"),
        attempt: u32::try_from(delivered).unwrap_or(u32::MAX),
        assignment,
        message,
    })
}

/// Acks once the server confirmed it (acked means durable: a lost ack would redeliver).
pub async fn ack(message: &Message) -> anyhow::Result<()> {
    message
        .double_ack()
        .await
        .map_err(|e| anyhow::anyhow!("ack: {e}"))
}

/// Gives the message back for redelivery after `delay` (none: at once).
pub async fn nak(message: &Message, delay: Option<Duration>) {
    if let Err(e) = message.ack_with(AckKind::Nak(delay)).await {
        // Not fatal: without the nak the message comes back after ACK_WAIT.
        tracing::debug!(error = %e, "nak not sent");
    }
}

/// Naks `messages` in stream order: JetStream redelivers nak'ed messages first, in the order
/// they were nak'ed, so per-ticket order survives a disconnect.
pub async fn nak_in_order(mut messages: Vec<Message>) {
    messages.sort_by_key(|m| m.info().map(|i| i.stream_sequence).unwrap_or(u64::MAX));
    for m in &messages {
        tracing::debug!(
            stream_seq = m.info().map(|i| i.stream_sequence).unwrap_or(0),
            "giving back"
        );
        nak(m, None).await;
    }
}

/// Whether an assignment delivered `delivered` times, stored `age` ago, is given up on.
fn give_up(delivered: i64, age: Duration) -> bool {
    delivered > GIVE_UP_AFTER && age > GIVE_UP_AGE
}

/// Copies the message to `dlq.dept-<CODE>` with the reason, then terminates it. If the copy
/// fails the message is nak'ed with a delay and tried again (the consumer has no delivery
/// limit: see [`MAX_DELIVER`]).
async fn dead_letter(bus: &Bus, dept: &DeptCode, message: &Message, label: &str, reason: &str) {
    let consumer = consumer_name(dept);
    let mut headers = message.headers.clone().unwrap_or_default();
    headers.insert(
        "Hotline-Dlq-Reason",
        reason.chars().take(512).collect::<String>().as_str(),
    );
    headers.insert("Hotline-Dlq-Subject", message.subject.as_str());
    let sseq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
    headers.insert("Hotline-Dlq-Stream-Seq", sseq.to_string().as_str());
    // `hotline dlq replay` sends it back to the department's own subject (only its consumer
    // reads that subject).
    headers.insert(hotline_bus::consumer::DLQ_CONSUMER, consumer.as_str());
    let msg_id = format!("dlq-{consumer}-{sseq}");
    let stored = hotline_bus::publish::publish_acked(
        bus,
        bus.subjects.dead_letter(&consumer),
        &msg_id,
        headers,
        message.payload.clone(),
    )
    .await;
    match stored {
        Ok(_) => {
            tracing::error!(department = %dept, stream_seq = sseq, reason, "assignment dead-lettered");
            metrics::DEAD_LETTERS.with_label_values(&[label]).inc();
            // The platform-wide count by consumer, which the dead-letter alert watches.
            hotline_bus::consumer::count_dead_letter(&consumer);
            if let Err(e) = message.ack_with(AckKind::Term).await {
                tracing::warn!(error = %e, "term not sent; the message will come back");
            }
        }
        Err(e) => {
            tracing::error!(department = %dept, error = %e, "dead letter not stored; retrying later");
            nak(message, Some(Duration::from_secs(10))).await;
        }
    }
}

/// How often the departments' backlogs are read for the gauges.
pub const BACKLOG_EVERY: Duration = Duration::from_secs(15);

/// Reports every department's backlog as `hotline_consumer_pending{consumer="dept-<CODE>"}`
/// every `every` until `stop`: a department's consumer's own lag, and for a department whose
/// system never connected (no consumer yet) every assignment stored for it, since it has
/// fetched none. Each replica reports the same figures; the alert takes the maximum.
pub async fn report_backlog(bus: Bus, every: Duration, stop: CancellationToken) {
    let mut failing = false;
    loop {
        match read_backlog(&bus).await {
            Ok(backlog) => {
                for (consumer, pending, ack_pending) in backlog {
                    hotline_bus::consumer::set_lag(&consumer, pending, ack_pending);
                }
                if failing {
                    tracing::info!("department backlogs read again");
                    failing = false;
                }
            }
            Err(e) if !failing => {
                tracing::warn!(error = %format!("{e:#}"), "department backlogs not read; the gauges keep their last value");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// (consumer name, not yet delivered, delivered and not acked) per department.
pub async fn read_backlog(bus: &Bus) -> anyhow::Result<Vec<(String, u64, u64)>> {
    use futures::TryStreamExt as _;
    let s = &bus.subjects;
    let stream = bus
        .js
        .get_stream(s.delivery_stream())
        .await
        .with_context(|| format!("stream {}", s.delivery_stream()))?;
    let mut backlog = Vec::new();
    let mut covered = std::collections::HashSet::new();
    let mut consumers = stream.consumers();
    while let Some(info) = consumers.try_next().await.context("listing consumers")? {
        if info
            .name
            .starts_with(hotline_bus::subjects::durable::DEPARTMENT_PREFIX)
        {
            covered.insert(info.config.filter_subject.clone());
            backlog.push((info.name, info.num_pending, info.num_ack_pending as u64));
        }
    }
    let all = s.delivery("*");
    let prefix = s.delivery("");
    let mut subjects = stream
        .info_with_subjects(&all)
        .await
        .context("counting assignments per department")?;
    while let Some((subject, count)) = subjects.try_next().await.context("subject counts")? {
        if covered.contains(&subject) {
            continue;
        }
        if let Some(dept) = subject.strip_prefix(&prefix)
            && let Ok(dept) = DeptCode::parse(dept)
        {
            backlog.push((consumer_name(&dept), count as u64, 0));
        }
    }
    Ok(backlog)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_department_that_does_not_ack_for_days_keeps_its_assignments() {
        let day = Duration::from_secs(86_400);
        // Pulled every 30 s for three days without an ack: thousands of deliveries, kept.
        assert!(!super::give_up(8_640, 3 * day));
        // A client that crashes on it: given up once both the count and the week are past.
        assert!(super::give_up(26, 8 * day));
        assert!(!super::give_up(25, 8 * day));
    }
}
