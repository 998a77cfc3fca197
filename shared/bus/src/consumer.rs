//! Durable pull consumers: explicit ack, bounded retries, a dead-letter stream, and order
//! kept per key (a ticket's events are handled one after another, different tickets in
//! parallel).
//!
//! A handler says what happened with [`Outcome`]-like errors: `Retry` naks with a back-off
//! (1 s doubling to 60 s) until the message is [`ConsumerSpec::retry_for`] old (three days: an
//! outage of Postgres or the ledger for hours dead-letters nothing); `Reject` (a message that can never succeed, like a payload that does
//! not decode) goes straight to the dead-letter stream. Either way the original message is
//! acked only after its dead letter is stored.
//!
//! While it runs, a consumer reports its lag every [`ConsumerSpec::lag_every`]
//! (`hotline_consumer_pending{consumer}`: messages not yet delivered to it,
//! `hotline_consumer_ack_pending{consumer}`: delivered, not yet acked) and counts what it
//! dead-letters (`hotline_dead_letters_total{consumer}`). The label is the durable name only.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The header of a replayed dead letter: the consumer it is for.
pub const REPLAY_FOR: &str = "Hotline-Replay-For";
/// Headers a dead letter carries: why, from where, and which consumer gave up.
pub const DLQ_REASON: &str = "Hotline-Dlq-Reason";
pub const DLQ_SUBJECT: &str = "Hotline-Dlq-Subject";
pub const DLQ_CONSUMER: &str = "Hotline-Dlq-Consumer";
pub const DLQ_STREAM_SEQ: &str = "Hotline-Dlq-Stream-Seq";
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use futures::StreamExt as _;
use hotline_telemetry::prometheus::{GaugeVec, IntCounterVec};
use tokio_util::sync::CancellationToken;

use crate::Bus;

/// Messages of the consumer's subjects in the stream not yet delivered to it.
static PENDING: LazyLock<GaugeVec> = LazyLock::new(|| {
    hotline_telemetry::gauge_vec(
        "hotline_consumer_pending",
        "Messages not yet delivered to the durable consumer (its num_pending)",
        &["consumer"],
    )
});

/// Messages delivered to the consumer and not yet acknowledged.
static ACK_PENDING: LazyLock<GaugeVec> = LazyLock::new(|| {
    hotline_telemetry::gauge_vec(
        "hotline_consumer_ack_pending",
        "Messages delivered to the durable consumer and not yet acknowledged",
        &["consumer"],
    )
});

/// Messages a consumer gave up on and stored in the dead-letter stream.
static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_dead_letters_total",
        "Messages moved to the dead-letter stream, by the consumer that gave up on them",
        &["consumer"],
    )
});

/// Counts a message `consumer` dead-lettered (stored in the dead-letter stream). For consumers
/// that dead-letter by themselves rather than through [`run`] (the gateway's department
/// deliveries).
pub fn count_dead_letter(consumer: &str) {
    DEAD_LETTERS.with_label_values(&[consumer]).inc();
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Might work later (a dependency is down): nak and redeliver.
    #[error("retry: {0:#}")]
    Retry(anyhow::Error),
    /// Will never work: dead-letter it now.
    #[error("reject: {0:#}")]
    Reject(anyhow::Error),
}

/// How long a consumer retries a message its handler cannot handle yet: three days, longer
/// than any outage a city rides out without an operator.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(3 * 24 * 60 * 60);

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub stream: String,
    pub durable: String,
    pub filter_subjects: Vec<String>,
    /// The server's delivery limit: none (-1). A handler's `Retry` is retried for
    /// [`ConsumerSpec::retry_for`] instead, counted in time rather than deliveries, so an outage
    /// of a dependency longer than any count of back-offs (Postgres or the ledger away for
    /// hours) dead-letters nothing.
    pub max_deliver: i64,
    /// How long after it was stored a message whose handler keeps asking to retry is given up
    /// (dead-lettered).
    pub retry_for: Duration,
    pub ack_wait: Duration,
    /// Messages taken per round; messages with the same key within a round run in order.
    pub batch: usize,
    pub max_ack_pending: i64,
    /// How often the consumer's lag is read from the server for the gauges.
    pub lag_every: Duration,
}

impl ConsumerSpec {
    pub fn new(stream: String, durable: &str, filter_subjects: Vec<String>) -> ConsumerSpec {
        ConsumerSpec {
            stream,
            durable: durable.to_owned(),
            filter_subjects,
            // Failures that decoding shows to be permanent are dead-lettered at once (`Reject`);
            // what is left are outages of a dependency: retried (back-off capped at 60 s) for
            // three days before a message is given up, whatever the number of deliveries.
            max_deliver: -1,
            retry_for: DEFAULT_RETRY_FOR,
            // A consumer's work takes milliseconds; what a killed process held comes back to
            // another this long after it was delivered (the kill matrix measured 30 s of delay
            // with 30 s). A round of 256 is handled well within it.
            ack_wait: Duration::from_secs(10),
            batch: 256,
            max_ack_pending: 4096,
            lag_every: Duration::from_secs(5),
        }
    }
}

/// Creates the durable consumer if it does not exist yet, and brings the filter subjects of one
/// that does up to the spec (a consumer created by an older release keeps its position and
/// starts taking the subjects added since, e.g. dispatch's `release`).
pub async fn ensure_consumer(bus: &Bus, spec: &ConsumerSpec) -> anyhow::Result<PullConsumer> {
    let stream = bus
        .js
        .get_stream(&spec.stream)
        .await
        .with_context(|| format!("stream {}", spec.stream))?;
    let config = pull::Config {
        durable_name: Some(spec.durable.clone()),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        max_deliver: spec.max_deliver,
        ack_wait: spec.ack_wait,
        max_ack_pending: spec.max_ack_pending,
        filter_subjects: spec.filter_subjects.clone(),
        ..Default::default()
    };
    let mut consumer: PullConsumer = stream
        .get_or_create_consumer(&spec.durable, config.clone())
        .await
        .with_context(|| format!("consumer {} on {}", spec.durable, spec.stream))?;
    let existing = &consumer.cached_info().config;
    // A consumer made by an older release may carry other filters, the delivery limit of 120
    // that let a two-hour outage dead-letter every event in flight, or the 30 s ack wait.
    if !same_filters(
        &existing.filter_subject,
        &existing.filter_subjects,
        &spec.filter_subjects,
    ) || existing.max_deliver != spec.max_deliver
        || existing.ack_wait != spec.ack_wait
    {
        tracing::info!(consumer = %spec.durable, filters = ?spec.filter_subjects, max_deliver = spec.max_deliver, "updating the consumer's configuration");
        consumer = stream
            .update_consumer(config)
            .await
            .with_context(|| format!("updating consumer {} on {}", spec.durable, spec.stream))?;
    }
    Ok(consumer)
}

/// Whether a consumer's filters (the server keeps one filter in `filter_subject`, several in
/// `filter_subjects`) are those wanted, in any order.
fn same_filters(one: &str, several: &[String], wanted: &[String]) -> bool {
    let mut have: Vec<&str> = several.iter().map(String::as_str).collect();
    if !one.is_empty() {
        have.push(one);
    }
    let mut want: Vec<&str> = wanted.iter().map(String::as_str).collect();
    have.sort_unstable();
    have.dedup();
    want.sort_unstable();
    want.dedup();
    have == want
}

/// Back-off before redelivering: 1s, 2s, 4s ... capped at 60s.
pub fn backoff(delivered: i64) -> Duration {
    let exp = delivered.clamp(1, 7) as u32 - 1;
    Duration::from_secs(2u64.pow(exp).min(60))
}

/// Runs `handle` over the consumer until `shutdown`; then finishes the round in hand (each
/// message acked or nak'ed) and returns. Reports the consumer's lag meanwhile.
pub async fn run<H, F, K>(
    bus: Bus,
    spec: ConsumerSpec,
    key: K,
    handle: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    H: Fn(Arc<Message>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), HandleError>> + Send,
    K: Fn(&Message) -> String + Send + Sync + 'static,
{
    let consumer = ensure_consumer(&bus, &spec).await?;
    // Beside the consuming, not between rounds: a round with a slow handler would leave the
    // gauges stale just when the lag grows.
    let lag_stop = shutdown.child_token();
    let lag = report_lag(
        consumer.clone(),
        spec.durable.clone(),
        spec.lag_every,
        lag_stop.clone(),
    );
    let consuming = async {
        let result = consume(bus, spec, consumer, key, handle, shutdown).await;
        lag_stop.cancel();
        result
    };
    let (result, ()) = tokio::join!(consuming, lag);
    result
}

/// Sets the lag gauges of a durable consumer that another part reads the lag of (the gateway
/// reports the `dept-<CODE>` consumers, which it pulls itself rather than through [`run`]).
pub fn set_lag(durable: &str, pending: u64, ack_pending: u64) {
    PENDING.with_label_values(&[durable]).set(pending as f64);
    ACK_PENDING
        .with_label_values(&[durable])
        .set(ack_pending as f64);
}

/// Sets the lag gauges from the consumer's info every `every` until `stop`.
async fn report_lag(
    mut consumer: PullConsumer,
    durable: String,
    every: Duration,
    stop: CancellationToken,
) {
    let mut failing = false;
    loop {
        match consumer.info().await {
            Ok(info) => {
                set_lag(&durable, info.num_pending, info.num_ack_pending as u64);
                if failing {
                    tracing::info!(consumer = %durable, "consumer lag read again");
                    failing = false;
                }
            }
            // Once per outage: NATS being away is logged where it happens.
            Err(e) if !failing => {
                tracing::warn!(consumer = %durable, error = %e, "consumer lag not read; the gauges keep their last value");
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

async fn consume<H, F, K>(
    bus: Bus,
    spec: ConsumerSpec,
    consumer: PullConsumer,
    key: K,
    handle: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    H: Fn(Arc<Message>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), HandleError>> + Send,
    K: Fn(&Message) -> String + Send + Sync + 'static,
{
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(spec.batch)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .context("opening the consumer's message stream")?
        .ready_chunks(spec.batch);
    let dlq_subject = bus.subjects.dead_letter(&spec.durable);
    loop {
        let chunk = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = messages.next() => match next {
                Some(chunk) => chunk,
                None => break,
            },
        };
        // Group by key, keeping arrival order inside each group.
        let mut lanes: Vec<Vec<Arc<Message>>> = Vec::new();
        let mut lane_of: HashMap<String, usize> = HashMap::new();
        let mut lost: Option<anyhow::Error> = None;
        for item in chunk {
            let message = match item {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    tracing::warn!(consumer = %spec.durable, error = %e, "consumer stream error");
                    if lost.is_none() && consumer_is_gone(&bus, &spec, e.kind()).await {
                        lost = Some(anyhow::anyhow!(
                            "consumer {} is gone ({e}): this task ends so the service turns unready and restarts",
                            spec.durable
                        ));
                    }
                    continue;
                }
            };
            let k = key(&message);
            let lane = *lane_of.entry(k).or_insert_with(|| {
                lanes.push(Vec::new());
                lanes.len() - 1
            });
            lanes[lane].push(message);
        }
        let handle = &handle;
        let bus = &bus;
        let dlq_subject = &dlq_subject;
        let spec = &spec;
        futures::future::join_all(lanes.into_iter().map(|lane| async move {
            for message in lane {
                // A dead letter replayed (`hotline dlq replay`) is for the consumer that gave
                // up on it; the others handled the original already.
                let replay_for = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(REPLAY_FOR))
                    .map(|v| v.as_str().to_owned());
                if replay_for.is_some_and(|c| c != spec.durable) {
                    if let Err(e) = message.ack().await {
                        tracing::warn!(consumer = %spec.durable, error = %e, "ack of another consumer's replay failed");
                    }
                    continue;
                }
                settle(
                    bus,
                    spec,
                    dlq_subject,
                    &message,
                    handle(message.clone()).await,
                )
                .await;
            }
        }))
        .await;
        if let Some(e) = lost {
            return Err(e);
        }
    }
    Ok(())
}

/// Whether a stream error means the durable consumer no longer exists (deleted by an operator,
/// lost with the stream), rather than a passing hiccup the pull stream recovers from by itself.
/// A deleted consumer would otherwise leave the task pulling from nothing forever while the
/// service reports ready.
async fn consumer_is_gone(
    bus: &Bus,
    spec: &ConsumerSpec,
    kind: async_nats::jetstream::consumer::pull::MessagesErrorKind,
) -> bool {
    use async_nats::jetstream::consumer::pull::MessagesErrorKind as Kind;
    match kind {
        Kind::ConsumerDeleted | Kind::PushBasedConsumer => true,
        Kind::MissingHeartbeat | Kind::NoResponders | Kind::Pull => {
            // Ask the server: only a definite "not found" counts.
            use async_nats::jetstream::ErrorCode;
            use async_nats::jetstream::context::{ConsumerInfoErrorKind, GetStreamErrorKind};
            match bus.js.get_stream(&spec.stream).await {
                Ok(stream) => match stream.consumer_info(&spec.durable).await {
                    Ok(_) => false,
                    Err(e) => matches!(
                        e.kind(),
                        ConsumerInfoErrorKind::NotFound | ConsumerInfoErrorKind::StreamNotFound
                    ),
                },
                Err(e) => matches!(
                    e.kind(),
                    GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND
                ),
            }
        }
        _ => false,
    }
}

async fn settle(
    bus: &Bus,
    spec: &ConsumerSpec,
    dlq_subject: &str,
    message: &Message,
    result: Result<(), HandleError>,
) {
    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
    let age = message
        .info()
        .ok()
        .and_then(|i| {
            std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::from(i.published))
                .ok()
        })
        .unwrap_or_default();
    let outcome = match result {
        Ok(()) => message.ack().await,
        Err(HandleError::Retry(e)) if keep_retrying(spec, delivered, age) => {
            tracing::warn!(consumer = %spec.durable, delivered, error = %format!("{e:#}"), "handler failed; will retry");
            message
                .ack_with(AckKind::Nak(Some(backoff(delivered))))
                .await
        }
        Err(HandleError::Retry(e)) | Err(HandleError::Reject(e)) => {
            let reason = format!("{e:#}");
            tracing::error!(consumer = %spec.durable, delivered, error = %reason, "dead-lettering message");
            match dead_letter(bus, &spec.durable, dlq_subject, message, &reason).await {
                Ok(()) => {
                    count_dead_letter(&spec.durable);
                    message.ack_with(AckKind::Term).await
                }
                // Could not store the dead letter: leave the message to be redelivered.
                Err(e) => {
                    tracing::error!(consumer = %spec.durable, error = %format!("{e:#}"), "dead letter not stored");
                    message
                        .ack_with(AckKind::Nak(Some(backoff(delivered))))
                        .await
                }
            }
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(consumer = %spec.durable, error = %e, "ack failed; the message will be redelivered");
    }
}

/// Whether a message whose handler asked to retry is tried again: within the spec's delivery
/// limit if it has one, and within its retry time.
fn keep_retrying(spec: &ConsumerSpec, delivered: i64, age: Duration) -> bool {
    (spec.max_deliver < 0 || delivered < spec.max_deliver) && age < spec.retry_for
}

async fn dead_letter(
    bus: &Bus,
    consumer: &str,
    subject: &str,
    message: &Message,
    reason: &str,
) -> anyhow::Result<()> {
    let mut headers = message.headers.clone().unwrap_or_default();
    headers.insert(
        DLQ_REASON,
        reason.chars().take(512).collect::<String>().as_str(),
    );
    headers.insert(DLQ_SUBJECT, message.subject.as_str());
    if let Ok(info) = message.info() {
        headers.insert(DLQ_STREAM_SEQ, info.stream_sequence.to_string().as_str());
    }
    headers.insert(DLQ_CONSUMER, consumer);
    // One dead letter per consumer that gave up on the message (the id names the consumer: with
    // the original id alone, the first consumer's dead letter would hide the others' as a
    // duplicate); the same consumer storing it again after a lost ack is still one.
    let original = headers
        .get(crate::publish::MSG_ID)
        .map(|v| v.as_str().to_owned())
        .or_else(|| {
            message
                .info()
                .ok()
                .map(|i| format!("{}-{}", i.stream, i.stream_sequence))
        })
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let msg_id = format!("dlq-{consumer}-{original}");
    crate::publish::publish_acked(
        bus,
        subject.to_owned(),
        &msg_id,
        headers,
        message.payload.clone(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::same_filters;

    #[test]
    fn filters_compare_as_sets_wherever_the_server_keeps_them() {
        let wanted = vec!["a.created".to_owned(), "a.release".to_owned()];
        assert!(same_filters(
            "",
            &["a.release".into(), "a.created".into()],
            &wanted
        ));
        assert!(!same_filters("", &["a.created".into()], &wanted));
        assert!(same_filters("a.created", &[], &["a.created".into()]));
        assert!(!same_filters("a.created", &[], &wanted));
    }

    #[test]
    fn a_dependency_outage_of_hours_is_retried_and_only_days_give_up() {
        let spec = super::ConsumerSpec::new("S".into(), "sla", vec![]);
        let hour = std::time::Duration::from_secs(3600);
        // Three hours of 60 s back-offs: about 180 deliveries, past the old limit of 120.
        assert!(super::keep_retrying(&spec, 180, 3 * hour));
        assert!(!super::keep_retrying(&spec, 4_000, 73 * hour));
        let mut limited = spec.clone();
        limited.max_deliver = 5;
        assert!(!super::keep_retrying(&limited, 5, hour));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(super::backoff(1).as_secs(), 1);
        assert_eq!(super::backoff(3).as_secs(), 4);
        assert_eq!(super::backoff(100).as_secs(), 60);
    }
}
