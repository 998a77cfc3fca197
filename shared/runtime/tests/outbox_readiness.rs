//! `Service::outbox_relay`: a service whose relay leads but cannot publish turns unready once
//! the oldest outbox event is older than `outbox.stuck_after_secs`, and ready again when the
//! outbox moves; against the real Postgres and NATS, through `/readyz`.

use std::time::Duration;

use hotline_runtime::Service;
use sqlx::AssertSqlSafe;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SCHEMA: &str = "readyz";

async fn readyz(client: &reqwest::Client, url: &str) -> Option<u16> {
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn wait_for_status(client: &reqwest::Client, url: &str, want: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = readyz(client, url).await;
        if status == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz answered {status:?}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_relay_that_leads_but_cannot_publish_makes_its_replica_unready() {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings = env.settings().expect("settings");
    // The shortest the configuration allows.
    settings.outbox.lease_secs = 4;
    settings.outbox.stuck_after_secs = 8;
    settings.outbox.gauge_interval_secs = 1;
    settings.validate().expect("valid settings");
    let shutdown = CancellationToken::new();
    let mut service = Service::start("readiness-test", &settings, shutdown.clone())
        .await
        .expect("service");
    let pool = service
        .postgres_unmigrated(&settings)
        .await
        .expect("postgres");
    for ddl in [
        format!("CREATE SCHEMA {SCHEMA}"),
        format!(
            "CREATE TABLE {SCHEMA}.outbox (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, \
             msg_id TEXT NOT NULL, traceparent TEXT, payload BYTEA NOT NULL, \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ),
    ] {
        sqlx::query(AssertSqlSafe(ddl))
            .execute(&pool)
            .await
            .expect("schema");
    }
    service.outbox_relay(&settings, pool.clone(), SCHEMA);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let url = format!("http://{}/readyz", listener.local_addr().expect("address"));
    service.serve_http("http", listener, axum::Router::new());
    let running = tokio::spawn(service.run());
    let client = reqwest::Client::new();
    wait_for_status(&client, &url, 200, Duration::from_secs(10)).await;

    // An event no stream takes: the only replica leads and cannot publish it. Its age runs
    // from its row's `created_at`, the transaction's start, so it is timed from before the
    // BEGIN (on a loaded machine the commit may come most of a second later).
    let begun = Instant::now();
    let mut tx = pool.begin().await.expect("begin");
    hotline_bus::outbox::enqueue(
        &mut tx,
        SCHEMA,
        &[hotline_bus::outbox::OutboxMessage {
            subject: format!("{}.nowhere.poison", env.namespace),
            msg_id: "poison".to_owned(),
            traceparent: None,
            payload: b"{}".to_vec(),
        }],
    )
    .await
    .expect("enqueue");
    tx.commit().await.expect("commit");
    // Ready while the event is younger than the limit ...
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(begun.elapsed())).await;
    assert_eq!(readyz(&client, &url).await, Some(200));
    // ... unready once it is older (the gauges are a second behind at most).
    wait_for_status(&client, &url, 503, Duration::from_secs(10)).await;
    let unready_after = begun.elapsed();
    assert!(
        unready_after >= Duration::from_secs(8),
        "unready after {unready_after:?}"
    );

    // The outbox moves again: ready.
    sqlx::query(AssertSqlSafe(format!("DELETE FROM {SCHEMA}.outbox")))
        .execute(&pool)
        .await
        .expect("poison removed");
    wait_for_status(&client, &url, 200, Duration::from_secs(5)).await;

    shutdown.cancel();
    running
        .await
        .expect("joined")
        .expect("the service stops cleanly");
}
