//! The streams on a real three-node JetStream cluster (`hotline_testkit::nats_cluster`: private
//! nats-servers on free ports, `sync_interval: always`, as `deploy/services.sh cluster` runs
//! them), reached through the comma-separated URL a cluster's `nats.url` holds.
//!
//! - `hotline setup`'s [`streams::apply`] at R3 places every stream and bucket on all three
//!   nodes; killing the leader of the tickets stream with SIGKILL while the bus publishes (with
//!   message ids, retrying what was not acknowledged) loses no acknowledged message and stores
//!   none twice, on the new leader and on the killed node once it is back and leads again.
//! - A service's [`streams::ensure`] with R1 (or memory) settings leaves the R3 streams an
//!   operator set as they are; `apply` takes R1 streams and buckets to R3 and refuses to
//!   change a stream's storage, saying why.
//!
//! Needs nats-server >= 2.12 (`NATS_SERVER_BIN`, which `deploy/services.sh env` exports, or
//! PATH). Without one the tests fail in CI and are skipped elsewhere, printing why.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::stream::StorageType;
use bytes::Bytes;
use hotline_bus::streams::{self, StreamOptions};
use hotline_bus::{Bus, publish};
use hotline_testkit::nats_cluster::{self, NatsCluster};

const R3: StreamOptions = StreamOptions {
    replicas: 3,
    storage: StorageType::File,
};

/// Every test here ends within this, failover included.
const BOUND: Duration = Duration::from_secs(60);

/// The cluster, or `None` with the reason printed (a failure in CI, where the binary is set up).
async fn cluster_or_skip() -> Option<NatsCluster> {
    if let Err(reason) = nats_cluster::find_nats_server() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no usable nats-server: {reason}");
        }
        eprintln!("SKIPPED: {reason}");
        return None;
    }
    Some(nats_cluster::start(3).await.expect("a 3-node cluster"))
}

fn namespace() -> String {
    format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Stream info, asked again while the stream has no leader (an election after a kill).
async fn info(bus: &Bus, name: &str) -> async_nats::jetstream::stream::Info {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match bus.js.get_stream(name).await {
            Ok(stream) => return stream.cached_info().clone(),
            Err(e) if Instant::now() < deadline => {
                eprintln!("stream info {name}: {e}; asking again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("stream info {name}: {e}"),
        }
    }
}

fn leader(info: &async_nats::jetstream::stream::Info) -> Option<String> {
    info.cluster.as_ref().and_then(|c| c.leader.clone())
}

/// Polls the stream's info until `done` holds (within `within`).
async fn wait_for(
    bus: &Bus,
    name: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&async_nats::jetstream::stream::Info) -> bool,
) -> async_nats::jetstream::stream::Info {
    let deadline = Instant::now() + within;
    loop {
        let info = info(bus, name).await;
        if done(&info) {
            return info;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {what} not within {within:?}: {:?}",
            info.cluster
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each stored message's `Nats-Msg-Id`, with how often it is stored, read one by one from the
/// stream leader (a message get is served by the leader, from its own store).
async fn stored_ids(bus: &Bus, name: &str) -> BTreeMap<String, usize> {
    let info = info(bus, name).await;
    let stream = bus.js.get_stream(name).await.expect("stream");
    let mut ids = BTreeMap::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let message = stream.get_raw_message(seq).await.expect("stored message");
        let id = message
            .headers
            .get(publish::MSG_ID)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| format!("<no id at {seq}>"));
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

/// What [`publish_all`] did.
struct Published {
    /// Every id the stream acknowledged.
    acked: HashSet<String>,
    /// Sends sent again (not acknowledged: no leader, a node gone, the stream not yet known).
    retried: usize,
}

/// Publishes `m-0`..`m-<n-1>` through the bus's publish path, `window` in flight, each retried
/// with its id until acknowledged, counting acknowledgements in `progress`.
async fn publish_all(
    bus: Bus,
    subject: String,
    n: usize,
    window: usize,
    progress: Arc<AtomicUsize>,
) -> Published {
    let deadline = Instant::now() + BOUND;
    let mut acked = HashSet::new();
    let mut retried = 0;
    let mut next = 0;
    let mut retry: Vec<usize> = Vec::new();
    while acked.len() < n {
        assert!(Instant::now() < deadline, "publishing did not finish");
        let mut batch: Vec<usize> = std::mem::take(&mut retry);
        while batch.len() < window && next < n {
            batch.push(next);
            next += 1;
        }
        let mut pending = Vec::with_capacity(batch.len());
        for i in batch {
            let id = format!("m-{i}");
            let payload = Bytes::from(format!("{{\"n\":{i}}}"));
            match publish::send(&bus, subject.clone(), &id, HeaderMap::new(), payload).await {
                Ok(ack) => pending.push((i, ack)),
                Err(_) => retry.push(i),
            }
        }
        // Awaited together: an ack's timeout (5 s) starts when it is awaited, and every send in
        // flight when the leader died waits it out.
        let (ids, acks): (Vec<usize>, Vec<_>) = pending.into_iter().unzip();
        let results = futures::future::join_all(acks.into_iter().map(|a| a.into_future())).await;
        for (i, result) in ids.into_iter().zip(results) {
            match result {
                Ok(_) => {
                    acked.insert(format!("m-{i}"));
                    progress.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => retry.push(i),
            }
        }
        if !retry.is_empty() {
            retried += retry.len();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Published { acked, retried }
}

async fn wait_for_acks(progress: &AtomicUsize, at_least: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while progress.load(Ordering::SeqCst) < at_least {
        assert!(
            Instant::now() < deadline,
            "{what}: stuck at {progress:?} acks"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn cluster_r3_streams_keep_every_acknowledged_message_once_when_the_leader_is_killed() {
    let Some(mut cluster) = cluster_or_skip().await else {
        return;
    };
    let started = Instant::now();
    tokio::time::timeout(BOUND, async {
        let bus = Bus::connect(&cluster.url(), &namespace(), "setup")
            .await
            .expect("connected through the cluster's URL list");
        streams::apply(&bus, R3).await.expect("streams at R3");
        for name in streams::names(&bus.subjects) {
            let info = info(&bus, &name).await;
            let c = info.cluster.as_ref().expect("cluster info");
            assert_eq!(info.config.num_replicas, 3, "{name}");
            assert!(c.leader.is_some(), "{name} has no leader");
            assert_eq!(c.replicas.len(), 2, "{name}: leader + 2 replicas");
        }

        let stream = bus.subjects.tickets_stream();
        let n = 3000;
        let progress = Arc::new(AtomicUsize::new(0));
        let publisher = tokio::spawn(publish_all(
            bus.clone(),
            bus.subjects.ticket_event("cluster-test"),
            n,
            32,
            progress.clone(),
        ));
        wait_for_acks(&progress, n / 4, "before the kill").await;

        let old = leader(&info(&bus, &stream).await).expect("a leader");
        let victim = cluster.index_of(&old).expect("the leader is one of ours");
        cluster.kill(victim).expect("kill -9 the leader");
        let killed = (progress.load(Ordering::SeqCst), Instant::now());
        // Acks again: the client is on a live node and the stream has a new leader.
        wait_for_acks(&progress, killed.0 + 100, "after the kill").await;
        let new = leader(&info(&bus, &stream).await).expect("a new leader");
        assert_ne!(new, old, "the killed node cannot lead");
        eprintln!(
            "killed {old} (leader) after {} acks; {new} took writes within {:?}",
            killed.0,
            killed.1.elapsed()
        );
        // Back while the writes go on: it catches up from its own store and the leader.
        wait_for_acks(&progress, n / 2, "on the new leader").await;
        cluster.restart(victim).await.expect("restarted");
        let restarted_at = progress.load(Ordering::SeqCst);
        let published = publisher.await.expect("publisher");
        assert_eq!(published.acked.len(), n);
        eprintln!(
            "{old} restarted after {restarted_at} acks; {n} acked, {} sends retried",
            published.retried
        );

        wait_for(
            &bus,
            &stream,
            Duration::from_secs(20),
            "the restarted node current",
            |i| {
                i.cluster.as_ref().is_some_and(|c| {
                    c.replicas.len() == 2 && c.replicas.iter().all(|p| p.current && !p.offline)
                })
            },
        )
        .await;
        let check = |ids: BTreeMap<String, usize>, on: &str| {
            let twice: Vec<_> = ids.iter().filter(|(_, c)| **c > 1).collect();
            assert!(twice.is_empty(), "stored twice on {on}: {twice:?}");
            let lost: Vec<_> = published
                .acked
                .iter()
                .filter(|id| !ids.contains_key(*id))
                .collect();
            assert!(lost.is_empty(), "acknowledged but lost on {on}: {lost:?}");
            assert_eq!(ids.len(), n, "on {on}: {} ids stored", ids.len());
        };
        check(
            stored_ids(&bus, &stream).await,
            &format!("{new}, the new leader"),
        );

        // The killed node's own copy: make it the leader and read from it.
        let stepdown = format!("$JS.API.STREAM.LEADER.STEPDOWN.{stream}");
        let body = Bytes::from(format!("{{\"placement\":{{\"preferred\":\"{old}\"}}}}"));
        let reply = bus
            .client
            .request(stepdown, body)
            .await
            .expect("stepdown answered");
        let reply = String::from_utf8_lossy(&reply.payload).into_owned();
        assert!(reply.contains("\"success\":true"), "stepdown: {reply}");
        wait_for(
            &bus,
            &stream,
            Duration::from_secs(20),
            "the restarted node leading",
            |i| leader(i).as_deref() == Some(old.as_str()),
        )
        .await;
        check(
            stored_ids(&bus, &stream).await,
            &format!("{old}, restarted"),
        );
    })
    .await
    .expect("the failover test ends within its bound");
    eprintln!("failover test took {:?}", started.elapsed());
}

#[tokio::test]
async fn cluster_setup_takes_streams_to_r3_and_a_services_ensure_never_downgrades_them() {
    let Some(cluster) = cluster_or_skip().await else {
        return;
    };
    tokio::time::timeout(BOUND, async {
        let bus = Bus::connect(&cluster.url(), &namespace(), "setup")
            .await
            .expect("connected");
        let replicas = |info: &async_nats::jetstream::stream::Info| info.config.num_replicas;

        // A service on a fresh NATS with the default settings creates what is missing, at R1.
        streams::ensure(&bus, StreamOptions::default())
            .await
            .expect("ensure");
        for name in streams::names(&bus.subjects) {
            assert_eq!(replicas(&info(&bus, &name).await), 1, "{name}");
        }
        // The operator's `hotline setup` with nats.stream_replicas = 3: streams and buckets.
        streams::apply(&bus, R3).await.expect("apply at R3");
        for name in streams::names(&bus.subjects) {
            let info = wait_for(&bus, &name, Duration::from_secs(20), "2 replicas", |i| {
                i.cluster.as_ref().is_some_and(|c| c.replicas.len() == 2)
            })
            .await;
            assert_eq!(replicas(&info), 3, "{name}");
        }
        // Services restarted with R1 settings, or memory storage: nothing changes.
        for options in [
            StreamOptions::default(),
            StreamOptions {
                replicas: 1,
                storage: StorageType::Memory,
            },
        ] {
            streams::ensure(&bus, options).await.expect("ensure");
            for name in streams::names(&bus.subjects) {
                let info = info(&bus, &name).await;
                assert_eq!(replicas(&info), 3, "{name} after ensure({options:?})");
                assert_eq!(info.config.storage, StorageType::File, "{name}");
            }
        }
        // Setup cannot move a stream to memory: it says so rather than half-apply.
        let refused = streams::apply(
            &bus,
            StreamOptions {
                replicas: 3,
                storage: StorageType::Memory,
            },
        )
        .await
        .expect_err("storage cannot change");
        assert!(
            format!("{refused:#}").contains("cannot change a stream's storage"),
            "{refused:#}"
        );
    })
    .await
    .expect("ends within its bound");
}
