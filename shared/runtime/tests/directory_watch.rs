//! A replica notices another department directory stored after it started (and only another:
//! the same one stored again is no reason to restart), against the real NATS.

use std::time::Duration;

use hotline_bus::Bus;
use hotline_domain::Directory;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_millis(50);

/// The gauge's value for `service`, read as Prometheus scrapes it.
fn outdated(service: &str) -> Option<f64> {
    use hotline_telemetry::prometheus::{Encoder as _, TextEncoder};
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&hotline_telemetry::prometheus::gather(), &mut text)
        .ok()?;
    let prefix = format!("hotline_directory_outdated{{service=\"{service}\"}} ");
    String::from_utf8(text)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

async fn wait_for(service: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while outdated(service) != Some(value) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service}: outdated stayed {:?}, expected {value}",
            outdated(service)
        );
        tokio::time::sleep(EVERY).await;
    }
}

#[tokio::test]
async fn a_replica_reports_another_directory_but_not_the_same_one_again() {
    let env = hotline_testkit::env().await.expect("test servers");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "setup")
        .await
        .expect("nats");
    hotline_bus::streams::apply(&bus, hotline_bus::streams::StreamOptions::default())
        .await
        .expect("buckets");
    // The service fell back on the demo directory (nothing stored) ...
    let stop = CancellationToken::new();
    let watch = tokio::spawn(hotline_runtime::directory::watch(
        bus.clone(),
        "watch-test",
        Directory::demo(),
        None,
        EVERY,
        stop.clone(),
    ));
    wait_for("watch-test", 0.0).await;
    // ... then `setup --demo` stored that same directory: still up to date.
    hotline_bus::directory::store(&bus, &Directory::demo(), "demo")
        .await
        .expect("stored");
    tokio::time::sleep(EVERY * 6).await;
    assert_eq!(outdated("watch-test"), Some(0.0));
    // Another city's: outdated until restarted.
    let other = Directory::from_csv("code,name,level,parent\nX-A,甲局,city,\n".as_bytes())
        .expect("directory");
    hotline_bus::directory::store(&bus, &other, "other.csv")
        .await
        .expect("stored");
    wait_for("watch-test", 1.0).await;
    stop.cancel();
    watch.await.expect("joined").expect("stops cleanly");
}
