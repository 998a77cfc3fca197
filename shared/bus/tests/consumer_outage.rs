//! A dependency outage longer than any count of back-offs dead-letters nothing: a consumer
//! retries for `retry_for` (three days by default; seconds here), counted in time, and the
//! server's delivery limit is off. Against the real NATS, with the timings shortened.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hotline_bus::Bus;
use hotline_bus::consumer::{self, ConsumerSpec, HandleError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

async fn dead_letters(bus: &Bus, durable: &str) -> u64 {
    let mut stream = bus
        .js
        .get_stream(bus.subjects.dead_letter_stream())
        .await
        .expect("dlq stream");
    let info = stream.info().await.expect("dlq info");
    if info.state.messages == 0 {
        return 0;
    }
    stream
        .get_last_raw_message_by_subject(&bus.subjects.dead_letter(durable))
        .await
        .map_or(0, |_| 1)
}

#[tokio::test]
async fn an_outage_past_the_old_delivery_limit_dead_letters_nothing_and_a_longer_one_does() {
    let env = hotline_testkit::env().await.expect("test servers");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "outage-test")
        .await
        .expect("nats");
    hotline_bus::streams::ensure(&bus, hotline_bus::streams::StreamOptions::default())
        .await
        .expect("streams");
    let subject = bus.subjects.ticket_event("created");
    hotline_bus::publish::publish_acked(
        &bus,
        subject.clone(),
        "outage-1",
        async_nats::HeaderMap::new(),
        "ticket-1".into(),
    )
    .await
    .expect("published");

    // The "database" is down; every delivery fails with Retry until it is back.
    let up = Arc::new(AtomicBool::new(false));
    let deliveries = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let mut spec = ConsumerSpec::new(
        bus.subjects.tickets_stream(),
        "outage-test",
        vec![subject.clone()],
    );
    // The old rule gave up after a count of deliveries; let that count be small here (as 120
    // is small against three hours of 60 s back-offs) and see that time is what decides now.
    spec.retry_for = Duration::from_secs(12);
    let stop = CancellationToken::new();
    let task = {
        let (up, deliveries, handled) = (up.clone(), deliveries.clone(), handled.clone());
        tokio::spawn(consumer::run(
            bus.clone(),
            spec,
            |m| String::from_utf8_lossy(&m.payload).into_owned(),
            move |_m| {
                let (up, deliveries, handled) = (up.clone(), deliveries.clone(), handled.clone());
                async move {
                    deliveries.fetch_add(1, Ordering::SeqCst);
                    if !up.load(Ordering::SeqCst) {
                        return Err(HandleError::Retry(anyhow::anyhow!("database unreachable")));
                    }
                    handled.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            stop.clone(),
        ))
    };
    // Down for 5 s: deliveries at about 0, 1, 3 s (back-off 1, 2, 4 s)...
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = deliveries.load(Ordering::SeqCst);
    assert!(during >= 3, "retried only {during} times while down");
    up.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while handled.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "not handled after the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead_letters(&bus, "outage-test").await, 0);

    // A second message and an outage past retry_for: given up, with a dead letter.
    up.store(false, Ordering::SeqCst);
    hotline_bus::publish::publish_acked(
        &bus,
        subject,
        "outage-2",
        async_nats::HeaderMap::new(),
        "ticket-2".into(),
    )
    .await
    .expect("published");
    let deadline = Instant::now() + Duration::from_secs(40);
    while dead_letters(&bus, "outage-test").await == 0 {
        assert!(
            Instant::now() < deadline,
            "an outage past retry_for did not dead-letter"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    let consumer = bus
        .js
        .get_stream(bus.subjects.tickets_stream())
        .await
        .expect("stream")
        .consumer_info("outage-test")
        .await
        .expect("consumer info");
    assert_eq!(consumer.config.max_deliver, -1, "no server-side limit");
    stop.cancel();
    task.await.expect("joined").expect("consumer ran");
}

/// A consumer an older release created (delivery limit 120, ack wait 30 s) is brought to the
/// spec when a service starts, keeping its position.
#[tokio::test]
async fn an_older_releases_consumer_is_brought_to_the_spec() {
    use async_nats::jetstream::consumer::{AckPolicy, pull};
    let env = hotline_testkit::env().await.expect("test servers");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "old-consumer")
        .await
        .expect("nats");
    hotline_bus::streams::ensure(&bus, hotline_bus::streams::StreamOptions::default())
        .await
        .expect("streams");
    let subject = bus.subjects.ticket_event("created");
    let stream = bus
        .js
        .get_stream(bus.subjects.tickets_stream())
        .await
        .expect("stream");
    stream
        .create_consumer(pull::Config {
            durable_name: Some("old-one".into()),
            ack_policy: AckPolicy::Explicit,
            max_deliver: 120,
            ack_wait: Duration::from_secs(30),
            filter_subject: subject.clone(),
            ..Default::default()
        })
        .await
        .expect("old consumer");
    let spec = ConsumerSpec::new(bus.subjects.tickets_stream(), "old-one", vec![subject]);
    let consumer = consumer::ensure_consumer(&bus, &spec)
        .await
        .expect("ensured");
    let config = &consumer.cached_info().config;
    assert_eq!(config.max_deliver, -1);
    assert_eq!(config.ack_wait, spec.ack_wait);
    assert_eq!(config.ack_wait, Duration::from_secs(10));
}
