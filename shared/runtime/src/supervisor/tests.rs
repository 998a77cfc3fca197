use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

/// A task that runs until stopped and records that it saw the stop.
async fn until_stopped(stop: CancellationToken, saw_stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    stop.cancelled().await;
    saw_stop.store(true, Ordering::SeqCst);
    Ok(())
}

async fn wait_ready(readiness: &Readiness, want: bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while readiness.is_ready() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_first_failure_stops_the_rest_and_readiness_falls() {
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new("test", &shutdown);
    let readiness = supervisor.readiness();
    let saw_stop = Arc::new(AtomicBool::new(false));
    supervisor.spawn(
        "steady",
        until_stopped(supervisor.stop_token(), saw_stop.clone()),
    );
    let (fail_tx, fail_rx) = tokio::sync::oneshot::channel::<()>();
    supervisor.spawn("fragile", async move {
        let _ = fail_rx.await;
        anyhow::bail!("the consumer lost its stream")
    });
    supervisor.linger_on_failure(Duration::from_millis(500));
    let run = tokio::spawn(supervisor.run());
    wait_ready(&readiness, true).await;

    fail_tx.send(()).expect("fragile waits");
    // Unready at once, while the rest still runs (the linger), then stopped.
    wait_ready(&readiness, false).await;
    assert!(!saw_stop.load(Ordering::SeqCst), "still lingering");
    let result = tokio::time::timeout(WAIT, run)
        .await
        .expect("stops")
        .expect("joined");
    let e = result.expect_err("a failed task fails the service");
    let text = format!("{e:#}");
    assert!(text.contains("task `fragile` failed"), "{text}");
    assert!(text.contains("the consumer lost its stream"), "{text}");
    assert!(
        saw_stop.load(Ordering::SeqCst),
        "the other task was stopped"
    );
    assert!(!readiness.is_ready());
    assert!(
        !shutdown.is_cancelled(),
        "the caller's token is the caller's"
    );
}

#[tokio::test]
async fn a_panicking_task_is_a_failure() {
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new("test", &shutdown);
    let readiness = supervisor.readiness();
    let saw_stop = Arc::new(AtomicBool::new(false));
    supervisor.spawn(
        "steady",
        until_stopped(supervisor.stop_token(), saw_stop.clone()),
    );
    supervisor.linger_on_failure(Duration::from_millis(50));
    supervisor.spawn("panicky", async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        panic!("index out of bounds");
    });
    let result = tokio::time::timeout(WAIT, supervisor.run())
        .await
        .expect("stops");
    let text = format!("{:#}", result.expect_err("a panic fails the service"));
    assert!(
        text.contains("task `panicky` panicked: index out of bounds"),
        "{text}"
    );
    assert!(saw_stop.load(Ordering::SeqCst));
    assert!(!readiness.is_ready());
}

#[tokio::test]
async fn a_task_ending_before_shutdown_is_a_failure() {
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new("test", &shutdown);
    let saw_stop = Arc::new(AtomicBool::new(false));
    supervisor.spawn(
        "steady",
        until_stopped(supervisor.stop_token(), saw_stop.clone()),
    );
    supervisor.linger_on_failure(Duration::from_millis(50));
    supervisor.spawn("quitter", async { Ok(()) });
    let result = tokio::time::timeout(WAIT, supervisor.run())
        .await
        .expect("stops");
    let text = format!("{:#}", result.expect_err("an early end fails the service"));
    assert!(
        text.contains("task `quitter` ended before shutdown"),
        "{text}"
    );
    assert!(saw_stop.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_clean_shutdown_returns_ok_after_every_task_finished() {
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new("test", &shutdown);
    let readiness = supervisor.readiness();
    let flags: Vec<_> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    for (flag, name) in flags.iter().zip(["a", "b", "c"]) {
        supervisor.spawn(name, until_stopped(supervisor.stop_token(), flag.clone()));
    }
    let run = tokio::spawn(supervisor.run());
    wait_ready(&readiness, true).await;
    shutdown.cancel();
    let result = tokio::time::timeout(WAIT, run)
        .await
        .expect("stops")
        .expect("joined");
    result.expect("a clean shutdown is Ok");
    assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)));
    assert!(!readiness.is_ready());
}

#[tokio::test]
async fn readiness_follows_the_conditions() {
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new("test", &shutdown);
    let readiness = supervisor.readiness();
    let index_loaded = Readiness::default();
    {
        let index_loaded = index_loaded.clone();
        supervisor.ready_when("index loaded", move || index_loaded.is_ready());
    }
    supervisor.spawn(
        "steady",
        until_stopped(supervisor.stop_token(), Arc::default()),
    );
    let run = tokio::spawn(supervisor.run());
    tokio::time::sleep(READINESS_TICK * 3).await;
    assert!(
        !readiness.is_ready(),
        "not ready before the index is loaded"
    );
    index_loaded.set(true);
    wait_ready(&readiness, true).await;
    index_loaded.set(false);
    wait_ready(&readiness, false).await;
    shutdown.cancel();
    run.await.expect("joined").expect("clean");
}

#[tokio::test]
async fn a_task_that_ignores_the_stop_is_aborted_after_the_drain() {
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new("test", &shutdown);
    supervisor.drain_within(Duration::from_millis(200));
    supervisor.spawn("deaf", async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    shutdown.cancel();
    let result = tokio::time::timeout(WAIT, supervisor.run())
        .await
        .expect("stops");
    let text = format!("{:#}", result.expect_err("a hung task is reported"));
    assert!(text.contains("did not stop"), "{text}");
}
