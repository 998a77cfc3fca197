//! The runtime's promise, on a real service: a consumer task that dies makes dispatch unready
//! and its `run` fail (so `hotline dispatch` exits non-zero and is restarted), instead of
//! answering `/readyz` 200 while tickets stop moving.

use std::time::Duration;

use hotline_bus::Bus;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

async fn readyz(client: &reqwest::Client, url: &str) -> Option<u16> {
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn a_killed_consumer_makes_dispatch_unready_and_run_fail() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = env.settings().expect("settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/readyz", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(hotline_dispatch::run_with_listener(
        settings,
        listener,
        shutdown.clone(),
    ));
    let client = reqwest::Client::new();

    let deadline = tokio::time::Instant::now() + WAIT;
    while readyz(&client, &url).await != Some(200) {
        assert!(!run.is_finished(), "dispatch stopped while starting");
        assert!(
            tokio::time::Instant::now() < deadline,
            "dispatch never ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Kill the consumer from outside, as an operator's mistake or a server-side loss would:
    // its message stream ends and the consumer task returns.
    let bus = Bus::connect(&env.nats_url, &env.namespace, "dispatch-test")
        .await
        .expect("nats");
    // Ready can come a moment before the consumer task has created its durable: retry until
    // there is one to delete.
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Err(e) = bus
        .js
        .delete_consumer_from_stream(hotline_dispatch::CONSUMER, bus.subjects.tickets_stream())
        .await
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer never appeared: {e}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Unready while it lingers, not a silent 200 ...
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match readyz(&client, &url).await {
            Some(503) => break,
            Some(200) => {}
            other => panic!("expected /readyz 503 before the service stops, got {other:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "still ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... then stopped with the reason, without anyone asking it to.
    let result = tokio::time::timeout(WAIT, run)
        .await
        .expect("dispatch stops by itself")
        .expect("joined");
    let error = format!("{:#}", result.expect_err("run fails"));
    assert!(error.contains("consumer"), "{error}");
    assert!(!shutdown.is_cancelled());
    assert!(
        readyz(&client, &url).await.is_none(),
        "the port is closed once stopped"
    );
}
