//! The shared consumer runtime reports its lag (`hotline_consumer_pending`,
//! `hotline_consumer_ack_pending`) and counts its dead letters (`hotline_dead_letters_total`),
//! labelled with the durable name, against the real NATS.

use std::time::Duration;

use hotline_bus::Bus;
use hotline_bus::consumer::{self, ConsumerSpec, HandleError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const DURABLE: &str = "lag-test";

/// A metric's value for this consumer, as Prometheus scrapes it.
fn metric(name: &str) -> Option<f64> {
    use hotline_telemetry::prometheus::{Encoder as _, TextEncoder};
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&hotline_telemetry::prometheus::gather(), &mut text)
        .ok()?;
    let prefix = format!("{name}{{consumer=\"{DURABLE}\"}} ");
    String::from_utf8(text)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

async fn wait_until(within: Duration, what: &str, holds: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !holds() {
        assert!(
            Instant::now() < deadline,
            "{what}: pending {:?}, ack pending {:?}, dead letters {:?}",
            metric("hotline_consumer_pending"),
            metric("hotline_consumer_ack_pending"),
            metric("hotline_dead_letters_total"),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_consumer_reports_its_lag_and_counts_its_dead_letters() {
    let env = hotline_testkit::env().await.expect("test servers");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "lag-test")
        .await
        .expect("nats");
    hotline_bus::streams::ensure(&bus, hotline_bus::streams::StreamOptions::default())
        .await
        .expect("streams");
    // One message that can never be handled, then five the handler holds until told.
    let subject = bus.subjects.ticket_event("created");
    for (i, payload) in ["poison", "1", "2", "3", "4", "5"].into_iter().enumerate() {
        hotline_bus::publish::publish_acked(
            &bus,
            subject.clone(),
            &format!("m-{i}"),
            async_nats::HeaderMap::new(),
            payload.into(),
        )
        .await
        .expect("published");
    }
    let mut spec = ConsumerSpec::new(bus.subjects.tickets_stream(), DURABLE, vec![subject]);
    // Two in flight at most, so the rest are pending on the server.
    spec.max_ack_pending = 2;
    spec.batch = 2;
    spec.lag_every = Duration::from_millis(50);
    let (open, gate) = tokio::sync::watch::channel(false);
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer::run(
        bus.clone(),
        spec,
        // Each message in a lane of its own: held messages do not hold the poison back.
        |m| String::from_utf8_lossy(&m.payload).into_owned(),
        move |m| {
            let mut gate = gate.clone();
            async move {
                if m.payload.as_ref() == b"poison" {
                    return Err(HandleError::Reject(anyhow::anyhow!("undecodable")));
                }
                gate.wait_for(|open| *open)
                    .await
                    .map_err(|e| HandleError::Retry(e.into()))?;
                Ok(())
            }
        },
        stop.clone(),
    ));

    // The poison is dead-lettered; of the five others, some are delivered and held (at most
    // two unacknowledged), the rest wait on the server.
    wait_until(Duration::from_secs(10), "lag reported", || {
        metric("hotline_dead_letters_total") == Some(1.0)
            && metric("hotline_consumer_ack_pending").is_some_and(|n| n >= 1.0)
            && metric("hotline_consumer_pending")
                .zip(metric("hotline_consumer_ack_pending"))
                .is_some_and(|(pending, acks)| pending + acks == 5.0)
    })
    .await;
    assert!(metric("hotline_consumer_pending").is_some_and(|n| n >= 3.0));

    // Released, everything is handled and the lag drops to nothing.
    open.send(true).expect("gate opened");
    wait_until(Duration::from_secs(10), "lag gone", || {
        metric("hotline_consumer_pending") == Some(0.0)
            && metric("hotline_consumer_ack_pending") == Some(0.0)
    })
    .await;
    assert_eq!(metric("hotline_dead_letters_total"), Some(1.0));
    // The dead letter is stored under the consumer's name.
    let mut dlq = bus
        .js
        .get_stream(bus.subjects.dead_letter_stream())
        .await
        .expect("dead-letter stream");
    assert_eq!(dlq.info().await.expect("info").state.messages, 1);

    stop.cancel();
    task.await.expect("joined").expect("consumer stops cleanly");
}
