//! Dead letters are per consumer: when two consumers of the same ticket event both give up on
//! it, the dead-letter stream holds two letters, each naming its consumer. `hotline dlq list`
//! shows them; once the cause is fixed, `hotline dlq replay` sends one letter's message back to
//! its consumer alone and deletes the letter.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hotline_bus::Bus;
use hotline_bus::consumer::{self, ConsumerSpec, HandleError};
use hotline_bus::streams::{self, StreamOptions};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn each_consumer_that_gives_up_leaves_its_own_dead_letter() {
    let env = hotline_testkit::env().await.expect("test servers");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "setup")
        .await
        .expect("nats");
    streams::ensure(&bus, StreamOptions::default())
        .await
        .expect("streams");
    let shutdown = CancellationToken::new();
    let subject = bus.subjects.ticket_event("created");
    // The second reader's cause is fixed later; each reader counts what it handled.
    let fixed = Arc::new(AtomicBool::new(false));
    let handled: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    for (i, durable) in ["first-reader", "second-reader"].into_iter().enumerate() {
        let spec = ConsumerSpec::new(
            bus.subjects.tickets_stream(),
            durable,
            vec![subject.clone()],
        );
        let (fixed, handled) = (fixed.clone(), handled.clone());
        tokio::spawn(consumer::run(
            bus.clone(),
            spec,
            |_| "one-key".to_owned(),
            move |_| {
                let (fixed, handled) = (fixed.clone(), handled.clone());
                async move {
                    handled[i].fetch_add(1, Ordering::SeqCst);
                    if i == 1 && fixed.load(Ordering::SeqCst) {
                        Ok(())
                    } else {
                        Err(HandleError::Reject(anyhow::anyhow!("never readable")))
                    }
                }
            },
            shutdown.clone(),
        ));
    }
    hotline_bus::publish::publish_acked(
        &bus,
        subject,
        "event-1",
        Default::default(),
        bytes::Bytes::from_static(b"{}"),
    )
    .await
    .expect("published");

    let dlq = bus
        .js
        .get_stream(bus.subjects.dead_letter_stream())
        .await
        .expect("dead-letter stream");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut consumers = Vec::new();
    while consumers.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dead letters: {consumers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        consumers.clear();
        let last = dlq.get_info().await.expect("info").state.last_sequence;
        for seq in 1..=last {
            if let Ok(letter) = dlq.get_raw_message(seq).await {
                let consumer = letter
                    .headers
                    .get("Hotline-Dlq-Consumer")
                    .map(|v| v.as_str().to_owned());
                consumers.push((letter.subject.to_string(), consumer));
            }
        }
    }
    consumers.sort();
    assert_eq!(
        consumers,
        vec![
            (
                bus.subjects.dead_letter("first-reader"),
                Some("first-reader".to_owned())
            ),
            (
                bus.subjects.dead_letter("second-reader"),
                Some("second-reader".to_owned())
            ),
        ]
    );

    // The operator's view and the replay, through the real binary.
    let settings = env.settings().expect("settings");
    let hotline = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(args)
            .envs(env.env_vars(&settings))
            .env("RUST_LOG", "warn")
            .output()
            .expect("hotline runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = hotline(&["dlq", "list", "--consumer", "second-reader"]);
    let seq = listed
        .lines()
        .find(|l| l.contains("second-reader"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the second reader's letter is listed")
        .to_owned();
    assert!(!listed.contains("first-reader"), "{listed}");
    assert!(hotline(&["dlq", "show", &seq]).contains("never readable"));
    fixed.store(true, Ordering::SeqCst);
    let before = [
        handled[0].load(Ordering::SeqCst),
        handled[1].load(Ordering::SeqCst),
    ];
    hotline(&["dlq", "replay", &seq]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while handled[1].load(Ordering::SeqCst) == before[1] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replay never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give the first reader time to (wrongly) take it too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        handled[0].load(Ordering::SeqCst),
        before[0],
        "not the first reader's replay"
    );
    let after = hotline(&["dlq", "list"]);
    assert!(
        !after.contains("second-reader"),
        "the replayed letter is gone: {after}"
    );
    assert!(after.contains("first-reader"), "{after}");
    shutdown.cancel();
}
