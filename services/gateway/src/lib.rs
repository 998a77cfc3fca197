//! The department gateway: where city departments (承办单位) connect to the hotline.
//!
//! ```text
//!  ledger ──tickets.events.{dispatch,redispatch,review_return,supervise}──▶ forwarder
//!                                                                             │ Envelope<Assignment>
//!                                                                             ▼
//!                               delivery.<DEPT> (stream <NS>_DELIVERY, consumer dept-<DEPT>)
//!                                    │                                │
//!                       gRPC Subscribe (bidi, acks)        REST GET /v1/assignments + ack
//!                                    │                                │
//!  department ──Accept/Return/Reply/...──▶ gateway ──TicketCommand::Act (request/reply)──▶ ledger
//! ```
//!
//! - [`forwarder`]: the `gateway-delivery` consumer on the tickets stream; routes each event to
//!   its lead and co-handlers ([`assignment::route`]) and publishes one assignment per department.
//! - [`delivery`]: the per-department durable consumer (`dept-<CODE>`) both edges pull from,
//!   and the dead-letter path for assignments never acked.
//! - [`grpc`]: `hotline.gateway.v1.DepartmentGateway` (tonic), with reflection and optional mTLS.
//! - [`rest`]: the same over JSON for departments without gRPC, plus health and metrics.
//! - [`ledger`]: what both edges share: actions become ledger commands as `Actor::Department`,
//!   reads are masked for departments, outcomes are measured.
//! - [`auth`]: bearer tokens checked against SHA-256 digests in constant time.
//! - [`wire`]: parsing at the edge and the protobuf mapping; [`error`]: the one mapping from
//!   error kinds to gRPC and HTTP codes.
//! - [`trace_store`]: ticket -> traceparent in Redis, so calls without trace context still join
//!   the ticket's trace.
//!
//! The ledger (services/tickets) decides who may do what; the gateway guarantees that the actor
//! it names is the authenticated department and that nothing leaves unmasked.
#![forbid(unsafe_code)]

pub mod assignment;
/// Department credentials live in a shared crate: the knowledge base checks them too.
pub use hotline_auth as auth;
pub mod delivery;
pub mod error;
pub mod forwarder;
pub mod grpc;
pub mod ledger;
pub mod metrics;
pub mod proto;
pub mod rest;
pub mod trace_store;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hotline_bus::Bus;
use hotline_bus::streams::{self, StreamOptions};
use hotline_telemetry::Readiness;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::delivery::Deliveries;
use crate::ledger::Ledger;
use crate::trace_store::TraceStore;

/// Runs the gateway on `listen.host`, ports `gateway.port` (REST) and `gateway.grpc_port`
/// (gRPC), until `shutdown`.
pub async fn run(
    settings: hotline_config::Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let rest = hotline_telemetry::bind(&settings.listen.host, settings.gateway.port).await?;
    let grpc = hotline_telemetry::bind(&settings.listen.host, settings.gateway.grpc_port).await?;
    run_with_listeners(settings, rest, grpc, shutdown).await
}

/// [`run`] on listeners the caller bound (tests bind port 0).
///
/// Shutdown order: stop accepting, end `Subscribe` streams with UNAVAILABLE and give their
/// unacked assignments back (nak, in stream order), give back what REST clients pulled and did
/// not ack, and let the forwarder finish the events in hand.
pub async fn run_with_listeners(
    settings: hotline_config::Settings,
    rest_listener: TcpListener,
    grpc_listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let auth = Arc::new(Authenticator::from_settings(&settings)?);
    if auth.is_empty() {
        tracing::warn!(
            "no department credentials configured (gateway.credentials, or demo = true): every \
             department request will be refused"
        );
    }
    let tls = settings
        .gateway
        .tls
        .as_ref()
        .map(grpc::tls_config)
        .transpose()?;
    let bus = Bus::connect(&settings.nats.url, &settings.namespace, "gateway").await?;
    streams::ensure(
        &bus,
        StreamOptions {
            replicas: settings.nats.stream_replicas,
        },
    )
    .await
    .context("creating the streams")?;
    let traces = TraceStore::new(&settings.redis.url, &settings.namespace);
    let ledger = Ledger::new(bus.clone(), traces.clone());
    let deliveries = Deliveries::new(bus.clone());
    let readiness = Readiness::default();
    let stop = shutdown.child_token();

    let rest_addr = rest_listener.local_addr().ok();
    let grpc_addr = grpc_listener.local_addr().ok();
    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    {
        let (bus, traces, stop) = (bus.clone(), traces.clone(), stop.clone());
        tasks.spawn(async move { ("forwarder", forwarder::run(bus, traces, stop).await) });
    }
    {
        let service = grpc::GatewayService::new(
            ledger.clone(),
            deliveries.clone(),
            auth.clone(),
            stop.clone(),
        );
        let stop = stop.clone();
        tasks.spawn(async move { ("grpc", grpc::serve(service, grpc_listener, tls, stop).await) });
    }
    {
        let state = rest::RestState::new(ledger, deliveries, auth, stop.clone());
        let (readiness, stop) = (readiness.clone(), stop.clone());
        tasks.spawn(async move {
            (
                "rest",
                rest::serve(state, readiness, rest_listener, stop).await,
            )
        });
    }
    {
        // Ready while connected to NATS: without it no department can be served.
        let (client, readiness, stop) = (bus.client.clone(), readiness.clone(), stop.clone());
        tasks.spawn(async move {
            loop {
                let connected =
                    client.connection_state() == async_nats::connection::State::Connected;
                readiness.set(connected && !stop.is_cancelled());
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            readiness.set(false);
            ("readiness", Ok(()))
        });
    }
    readiness.set(true);
    tracing::info!(rest = ?rest_addr, grpc = ?grpc_addr, "gateway listening");

    let mut failure: Option<anyhow::Error> = None;
    while let Some(joined) = tasks.join_next().await {
        let (name, result) = match joined {
            Ok(done) => done,
            Err(e) => ("task", Err(anyhow::anyhow!("a gateway task panicked: {e}"))),
        };
        match result {
            Ok(()) if stop.is_cancelled() => {}
            Ok(()) => {
                failure.get_or_insert_with(|| anyhow::anyhow!("{name} stopped unexpectedly"));
            }
            Err(e) => {
                tracing::error!(task = name, error = %format!("{e:#}"), "gateway task failed");
                failure.get_or_insert(e.context(name));
            }
        }
        // One part down means the gateway is down: stop the rest and let the orchestrator
        // restart the process.
        readiness.set(false);
        stop.cancel();
    }
    let _ = bus.client.flush().await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
