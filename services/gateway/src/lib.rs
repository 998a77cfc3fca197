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

use hotline_runtime::Service;
use tokio::net::TcpListener;
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
    let mut service = Service::start("gateway", &settings, shutdown).await?;
    let bus = service.bus().clone();
    let stop = service.stop_token();
    let traces = TraceStore::new(&settings.redis.url, &settings.namespace);
    let ledger = Ledger::new(bus.clone(), traces.clone());
    let deliveries = Deliveries::new(bus.clone());

    let rest_addr = rest_listener.local_addr().ok();
    let grpc_addr = grpc_listener.local_addr().ok();
    service.spawn(
        "forwarder",
        forwarder::run(bus.clone(), traces, stop.clone()),
    );
    service.spawn("backlog", {
        let stop = stop.clone();
        async move {
            delivery::report_backlog(bus, delivery::BACKLOG_EVERY, stop).await;
            Ok(())
        }
    });
    let grpc_service = grpc::GatewayService::new(
        ledger.clone(),
        deliveries.clone(),
        auth.clone(),
        stop.clone(),
    );
    service.spawn(
        "grpc",
        grpc::serve(grpc_service, grpc_listener, tls, stop.clone()),
    );
    let state = rest::RestState::new(ledger, deliveries, auth, stop.clone());
    let readiness = service.readiness();
    service.spawn("rest", rest::serve(state, readiness, rest_listener, stop));
    tracing::info!(rest = ?rest_addr, grpc = ?grpc_addr, "gateway listening");
    // One part down means the gateway is down: the runtime stops the rest, and the
    // orchestrator restarts the process.
    service.run().await
}
