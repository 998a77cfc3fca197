//! A repeatable request (a ticket command) reaches an answering replica when another replica of
//! the queue group swallows requests without answering (frozen, overloaded): against the real
//! NATS, two "replicas" in one queue group, one of which never replies.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use hotline_bus::Bus;
use hotline_bus::rpc::{self, RemoteError};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_replica_costs_a_delay_not_a_refusal() {
    let env = hotline_testkit::env().await.expect("test servers");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "rpc-repeat")
        .await
        .expect("nats");
    let subject = format!("{}.repeat.test", env.namespace);
    let stop = CancellationToken::new();

    // The live replica answers with the request doubled.
    let live = tokio::spawn(rpc::serve(
        bus.clone(),
        subject.clone(),
        "replicas",
        8,
        |n: u32| async move { Ok::<u32, RemoteError>(n * 2) },
        stop.clone(),
    ));
    // The frozen one takes its share of the queue group's requests and never answers.
    let swallowed = Arc::new(AtomicUsize::new(0));
    let mut frozen = bus
        .client
        .queue_subscribe(subject.clone(), "replicas".into())
        .await
        .expect("subscribe");
    let count = swallowed.clone();
    let sink = tokio::spawn(async move {
        while frozen.next().await.is_some() {
            count.fetch_add(1, Ordering::Relaxed);
        }
    });
    bus.client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Concurrent, as a channel's requests are: each within the tries' total time.
    let calls = (0..24u32).map(|n| {
        let bus = bus.clone();
        let subject = subject.clone();
        async move { rpc::call_repeatable::<u32, u32>(&bus, subject, &n).await }
    });
    let answers = futures::future::join_all(calls).await;
    let failed: Vec<_> = answers.iter().filter(|a| a.is_err()).collect();
    // All three tries reach the frozen replica one time in eight: of 24, a handful may fail;
    // single tries would lose about half.
    assert!(
        failed.len() <= 8,
        "{} of 24 refused: {failed:?}",
        failed.len()
    );
    for (n, answer) in answers.iter().enumerate() {
        if let Ok(doubled) = answer {
            assert_eq!(*doubled, n as u32 * 2, "the answer to request {n}");
        }
    }
    assert!(
        swallowed.load(Ordering::Relaxed) > 0,
        "the frozen replica got none of the requests: the test proves nothing"
    );

    // A plain call makes one try: requests the frozen replica takes are refused.
    let plain =
        futures::future::join_all(
            (0..24u32).map(|n| {
                let bus = bus.clone();
                let subject = subject.clone();
                async move {
                    rpc::call::<u32, u32>(&bus, subject, &n, Duration::from_millis(1500)).await
                }
            }),
        )
        .await;
    assert!(
        plain.iter().filter(|a| a.is_err()).count() > failed.len(),
        "one try lost no more than three did"
    );

    stop.cancel();
    live.await.expect("joined").expect("served");
    sink.abort();
}
