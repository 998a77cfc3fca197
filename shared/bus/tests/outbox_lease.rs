//! The outbox relay's lease against the real Postgres and NATS: a frozen leader (a process
//! stopped with SIGSTOP, as a paused VM or a stuck node would be) loses the outbox to another
//! replica within the lease, each event reaches the stream once, and the leader that wakes up
//! publishes nothing; a leader that cannot renew stops publishing; every replica reports the
//! outbox's depth and age, and only a leader that cannot publish counts as stuck.
//!
//! Leases are short here (2 s) through the relay's options: the lease runs on the database's
//! clock, so the tests wait in real time.

use std::process::{Command, Stdio};
use std::time::Duration;

use hotline_bus::Bus;
use hotline_bus::outbox::{self, OutboxMessage, Relay, RelayOptions};
use sqlx::{AssertSqlSafe, PgPool};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The relay tests' schema; the gauge test has its own, so that its gauges (one registry per
/// process) are its own even when the tests share a process.
const SCHEMA: &str = "relay";
const GAUGE_SCHEMA: &str = "relay_gauges";
const LEASE: Duration = Duration::from_secs(2);
/// How the child process knows it is the frozen leader, and where to relay.
const CHILD_DATABASE: &str = "HOTLINE_TEST_RELAY_DATABASE_URL";
const CHILD_NATS: &str = "HOTLINE_TEST_RELAY_NATS_URL";
const CHILD_NAMESPACE: &str = "HOTLINE_TEST_RELAY_NAMESPACE";
/// The frozen leader's name in the lease row (the relay names its holder after `HOSTNAME`).
const CHILD_HOST: &str = "frozen-leader";

fn options() -> RelayOptions {
    RelayOptions {
        lease: LEASE,
        stuck_after: Duration::from_secs(60),
        gauge_every: Duration::from_millis(100),
        ..RelayOptions::default()
    }
}

/// A fresh database with the outbox table in `schema`, and the test namespace's streams.
async fn setup(schema: &str) -> (hotline_testkit::TestEnv, Bus, PgPool) {
    let env = hotline_testkit::env().await.expect("test servers");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "relay-test")
        .await
        .expect("nats");
    hotline_bus::streams::ensure(&bus, hotline_bus::streams::StreamOptions::default())
        .await
        .expect("streams");
    let pool = hotline_bus::db::connect(&env.database_url, 8)
        .await
        .expect("postgres");
    for ddl in [
        format!("CREATE SCHEMA {schema}"),
        // As in the services' migrations.
        format!(
            "CREATE TABLE {schema}.outbox (id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, \
             msg_id TEXT NOT NULL, traceparent TEXT, payload BYTEA NOT NULL, \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ),
    ] {
        sqlx::query(AssertSqlSafe(ddl))
            .execute(&pool)
            .await
            .expect("schema");
    }
    (env, bus, pool)
}

/// Commits events `evt-<from>` .. `evt-<to>` to the outbox, as a service does.
async fn commit_events(pool: &PgPool, bus: &Bus, ids: std::ops::RangeInclusive<u32>) {
    commit(
        pool,
        SCHEMA,
        ids.map(|i| OutboxMessage {
            subject: bus.subjects.ticket_event("created"),
            msg_id: format!("evt-{i}"),
            traceparent: None,
            payload: format!("{{\"n\":{i}}}").into_bytes(),
        })
        .collect(),
    )
    .await;
}

async fn commit(pool: &PgPool, schema: &'static str, messages: Vec<OutboxMessage>) {
    let mut tx = pool.begin().await.expect("begin");
    outbox::enqueue(&mut tx, schema, &messages)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
}

/// The `Nats-Msg-Id` of every message in the tickets stream, in stream order.
async fn stream_ids(bus: &Bus) -> Vec<String> {
    let mut stream = bus
        .js
        .get_stream(bus.subjects.tickets_stream())
        .await
        .expect("stream");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut ids = Vec::new();
    if state.messages == 0 {
        return ids;
    }
    for seq in state.first_sequence..=state.last_sequence {
        let message = stream.get_raw_message(seq).await.expect("stored message");
        let id = message
            .headers
            .get(hotline_bus::publish::MSG_ID)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        ids.push(id);
    }
    ids
}

fn expected_ids(ids: std::ops::RangeInclusive<u32>) -> Vec<String> {
    ids.map(|i| format!("evt-{i}")).collect()
}

/// Waits until the stream holds exactly `want` (in that order), or fails after `within`.
async fn wait_for_stream(bus: &Bus, want: &[String], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let have = stream_ids(bus).await;
        if have == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stream holds {have:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn lease_row(pool: &PgPool) -> Option<(String, i64)> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT holder, epoch FROM {SCHEMA}.outbox_lease"
    )))
    .fetch_optional(pool)
    .await
    .unwrap_or(None)
}

async fn outbox_depth(pool: &PgPool, schema: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.outbox"
    )))
    .fetch_one(pool)
    .await
    .expect("depth")
}

/// Waits until `holds` is true of the lease row.
async fn wait_for_lease(
    pool: &PgPool,
    within: Duration,
    what: &str,
    holds: impl Fn(&str) -> bool,
) -> (String, i64) {
    let deadline = Instant::now() + within;
    loop {
        if let Some((holder, epoch)) = lease_row(pool).await
            && holds(&holder)
        {
            return (holder, epoch);
        }
        assert!(
            Instant::now() < deadline,
            "{what}: lease is {:?}",
            lease_row(pool).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until(within: Duration, what: &str, holds: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !holds() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader to be frozen: a process of its own, so that SIGSTOP stops it whole (its tokio
/// runtime, its open Postgres connections) as it would stop a real replica. Killed on drop.
struct FrozenLeader(std::process::Child);

impl FrozenLeader {
    fn start(env: &hotline_testkit::TestEnv) -> FrozenLeader {
        let exe = std::env::current_exe().expect("test binary");
        let child = Command::new(exe)
            .args([
                "frozen_leader_process",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_DATABASE, &env.database_url)
            .env(CHILD_NATS, &env.nats_url)
            .env(CHILD_NAMESPACE, &env.namespace)
            .env("HOSTNAME", CHILD_HOST)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("child relay");
        FrozenLeader(child)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for FrozenLeader {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child process of [`a_frozen_leader_loses_the_outbox_within_the_lease_and_each_event_is_published_once`]:
/// a relay on the test's database until it is killed. Does nothing when run on its own.
#[tokio::test]
#[ignore = "the frozen leader's process, started by the test that freezes it"]
async fn frozen_leader_process() {
    let (Ok(database_url), Ok(nats_url), Ok(namespace)) = (
        std::env::var(CHILD_DATABASE),
        std::env::var(CHILD_NATS),
        std::env::var(CHILD_NAMESPACE),
    ) else {
        return;
    };
    let bus = Bus::connect(&nats_url, &namespace, "relay-test")
        .await
        .expect("nats");
    let pool = hotline_bus::db::connect(&database_url, 4)
        .await
        .expect("postgres");
    Relay::with_options(pool, SCHEMA, bus, options())
        .run(CancellationToken::new())
        .await;
}

#[tokio::test]
async fn a_frozen_leader_loses_the_outbox_within_the_lease_and_each_event_is_published_once() {
    let (env, bus, pool) = setup(SCHEMA).await;
    // The first replica leads and relays.
    let child = FrozenLeader::start(&env);
    let (_, child_epoch) = wait_for_lease(&pool, Duration::from_secs(30), "child leads", |h| {
        h.starts_with(&format!("{CHILD_HOST}/"))
    })
    .await;
    commit_events(&pool, &bus, 1..=1).await;
    wait_for_stream(&bus, &expected_ids(1..=1), Duration::from_secs(5)).await;

    // A second replica follows: it publishes nothing while the leader renews.
    let stop = CancellationToken::new();
    let second = Relay::with_options(pool.clone(), SCHEMA, bus.clone(), options());
    let second_health = second.health();
    let second_task = tokio::spawn(second.run(stop.clone()));
    tokio::time::sleep(LEASE * 2).await;
    commit_events(&pool, &bus, 2..=2).await;
    wait_for_stream(&bus, &expected_ids(1..=2), Duration::from_secs(5)).await;
    assert_eq!(
        lease_row(&pool).await.map(|(_, epoch)| epoch),
        Some(child_epoch),
        "the leader kept its lease while it renewed"
    );
    assert!(!second_health.is_leader());

    // Freeze the leader, with events committed while it is frozen.
    child.signal("-STOP");
    let frozen = Instant::now();
    commit_events(&pool, &bus, 3..=12).await;
    let (holder, epoch) = wait_for_lease(&pool, LEASE * 3, "the second replica takes over", |h| {
        !h.starts_with(&format!("{CHILD_HOST}/"))
    })
    .await;
    let took_over = frozen.elapsed();
    wait_for_stream(&bus, &expected_ids(1..=12), LEASE * 3).await;
    let delivered = frozen.elapsed();
    eprintln!(
        "lease {LEASE:?}: taken over {took_over:?} after the freeze, events published {delivered:?} after it"
    );
    // Not before the frozen leader's lease ran out (it renewed at most a third of a lease before
    // the freeze), and within the lease plus a follower's poll (a third of it here) and margin.
    assert!(
        took_over >= LEASE / 2,
        "taken over after {took_over:?}: the lease was not honoured"
    );
    assert!(
        took_over <= LEASE + LEASE / 3 + Duration::from_millis(700),
        "taken over only after {took_over:?}"
    );
    assert!(epoch > child_epoch, "a take-over is a new epoch");
    assert!(second_health.is_leader());
    assert_eq!(outbox_depth(&pool, SCHEMA).await, 0);

    // The old leader wakes up: it finds its lease gone and publishes nothing; the new leader
    // goes on.
    child.signal("-CONT");
    tokio::time::sleep(LEASE * 2).await;
    commit_events(&pool, &bus, 13..=15).await;
    wait_for_stream(&bus, &expected_ids(1..=15), Duration::from_secs(5)).await;
    tokio::time::sleep(LEASE).await;
    assert_eq!(
        lease_row(&pool).await,
        Some((holder, epoch)),
        "the woken leader took nothing back"
    );
    // Once each, in commit order.
    assert_eq!(stream_ids(&bus).await, expected_ids(1..=15));

    stop.cancel();
    second_task.await.expect("relay stops");
    drop(child);
}

#[tokio::test]
async fn a_leader_that_cannot_renew_publishes_nothing_more() {
    let (_env, bus, pool) = setup(SCHEMA).await;
    let stop = CancellationToken::new();
    let relay = Relay::with_options(pool.clone(), SCHEMA, bus.clone(), options());
    let health = relay.health();
    let task = tokio::spawn(relay.run(stop.clone()));
    let (_, epoch) =
        wait_for_lease(&pool, Duration::from_secs(10), "the relay leads", |_| true).await;
    commit_events(&pool, &bus, 1..=1).await;
    wait_for_stream(&bus, &expected_ids(1..=1), Duration::from_secs(5)).await;

    // Someone else holds the lease now (as after a take-over the relay slept through): its
    // next renewal finds nothing to renew, and it stops.
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {SCHEMA}.outbox_lease SET holder = 'intruder', epoch = epoch + 1, \
         fenced_until = now() + interval '1 hour'"
    )))
    .execute(&pool)
    .await
    .expect("lease taken");
    wait_until(LEASE, "the relay noticed it lost its lease", || {
        !health.is_leader()
    })
    .await;
    commit_events(&pool, &bus, 2..=2).await;
    tokio::time::sleep(LEASE * 2).await;
    assert_eq!(
        stream_ids(&bus).await,
        expected_ids(1..=1),
        "published without the lease"
    );
    assert_eq!(outbox_depth(&pool, SCHEMA).await, 1);

    // The other holder gives the lease back: the relay takes it again and relays the rest.
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {SCHEMA}.outbox_lease SET fenced_until = now()"
    )))
    .execute(&pool)
    .await
    .expect("lease given back");
    wait_for_stream(&bus, &expected_ids(1..=2), LEASE * 2).await;
    let (_, again) = lease_row(&pool).await.expect("lease");
    assert!(again > epoch + 1, "taken again in a new epoch");
    assert!(health.is_leader());

    // At shutdown it gives the lease back at once.
    stop.cancel();
    task.await.expect("relay stops");
    let expired: bool = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT fenced_until <= now() FROM {SCHEMA}.outbox_lease"
    )))
    .fetch_one(&pool)
    .await
    .expect("lease");
    assert!(expired, "the lease was not given back at shutdown");
}

/// A gauge's value for this schema, as Prometheus scrapes it.
fn gauge(name: &str) -> Option<f64> {
    use hotline_telemetry::prometheus::{Encoder as _, TextEncoder};
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&hotline_telemetry::prometheus::gather(), &mut text)
        .ok()?;
    let prefix = format!("{name}{{schema=\"{GAUGE_SCHEMA}\"}} ");
    String::from_utf8(text)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

#[tokio::test]
async fn every_replica_reports_the_outbox_and_only_a_leader_that_cannot_publish_is_stuck() {
    let (env, bus, pool) = setup(GAUGE_SCHEMA).await;
    let options = RelayOptions {
        stuck_after: Duration::from_secs(1),
        ..options()
    };
    let stop = CancellationToken::new();
    let leader = Relay::with_options(pool.clone(), GAUGE_SCHEMA, bus.clone(), options);
    let leader_health = leader.health();
    let leader_task = tokio::spawn(leader.run(stop.clone()));
    wait_until(Duration::from_secs(10), "the first relay leads", || {
        leader_health.is_leader()
    })
    .await;
    let follower = Relay::with_options(pool.clone(), GAUGE_SCHEMA, bus.clone(), options);
    let follower_health = follower.health();
    let follower_task = tokio::spawn(follower.run(stop.clone()));

    // An event no stream takes holds the outbox up; the one behind it waits.
    commit(
        &pool,
        GAUGE_SCHEMA,
        vec![OutboxMessage {
            subject: format!("{}.nowhere.poison", env.namespace),
            msg_id: "poison".to_owned(),
            traceparent: None,
            payload: b"{}".to_vec(),
        }],
    )
    .await;
    commit(
        &pool,
        GAUGE_SCHEMA,
        vec![OutboxMessage {
            subject: bus.subjects.ticket_event("created"),
            msg_id: "evt-1".to_owned(),
            traceparent: None,
            payload: b"{}".to_vec(),
        }],
    )
    .await;
    wait_until(
        Duration::from_secs(10),
        "the leader that cannot publish is stuck",
        || leader_health.stuck(),
    )
    .await;
    // The leader keeps the lease (any replica would fail alike); the follower reports the same
    // outbox and is not stuck: it is not the one that cannot publish.
    assert!(leader_health.is_leader());
    assert!(!follower_health.is_leader());
    assert!(!follower_health.stuck());
    // The follower counts the outbox on its own beat (`gauge_every`): its latest count may
    // predate the leader's second of being stuck.
    wait_until(
        Duration::from_secs(5),
        "the follower reports the outbox's age",
        || follower_health.oldest_age() >= Duration::from_secs(1),
    )
    .await;
    assert!(!follower_health.stuck());
    assert_eq!(gauge("hotline_outbox_depth"), Some(2.0));
    assert!(gauge("hotline_outbox_oldest_age_seconds").is_some_and(|age| age >= 1.0));
    assert_eq!(outbox_depth(&pool, GAUGE_SCHEMA).await, 2);
    // The event behind the poison may be in the stream already (sent in the same round, not
    // deleted as the round failed); the retries' copies are duplicates the stream drops.
    assert!(stream_ids(&bus).await.len() <= 1);

    // Once the poison is gone the rest leaves, and nothing is stuck.
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {GAUGE_SCHEMA}.outbox WHERE msg_id = 'poison'"
    )))
    .execute(&pool)
    .await
    .expect("poison removed");
    wait_for_stream(&bus, &expected_ids(1..=1), Duration::from_secs(5)).await;
    wait_until(Duration::from_secs(5), "no longer stuck", || {
        !leader_health.stuck() && gauge("hotline_outbox_depth") == Some(0.0)
    })
    .await;
    assert_eq!(gauge("hotline_outbox_oldest_age_seconds"), Some(0.0));

    stop.cancel();
    leader_task.await.expect("leader stops");
    follower_task.await.expect("follower stops");
}
