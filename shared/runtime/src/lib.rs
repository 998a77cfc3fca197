//! One lifecycle for every service, generalised from the gateway's.
//!
//! ```text
//!  Service::start ── NATS connected, streams ensured
//!     .postgres(migrations) ── pool opened, schema migrated            (owning services)
//!     .directory(settings) ── the city's departments, from the KV bucket (tickets, sla, dispatch)
//!     .outbox_relay(settings, pool, schema) ── the outbox relay: lease, gauges, readiness
//!     .spawn("name", task) / .serve_http("http", listener, router)   (a list, not copy-paste)
//!     .ready_when(condition)                                          (e.g. an index loaded)
//!     .run() ── supervises until shutdown or the first task to fail, panic or end;
//!               then drains the rest, flushes NATS and closes the pool
//! ```
//!
//! Ready means one thing everywhere: every task is running, NATS is connected, and every
//! condition the service added holds. The first failure turns `/readyz` false, stops the other
//! tasks and makes `run` return the error, so the process exits non-zero and is restarted.
//!
//! Modules, each importing only downward:
//! - [`supervisor`]: the named task set, readiness, the first-failure rule, the drain.
//! - [`http`]: request tracing without personal data, the ops routes, serving until stopped.
//! - [`error`]: the one mapping from error kinds to HTTP statuses and gRPC codes ([`ApiError`]).
//! - [`service`]: [`Service`], the builder that wires the three to NATS and Postgres.
//! - [`directory`]: the department directory a service starts with, and noticing a newer one.
#![forbid(unsafe_code)]

pub mod directory;
pub mod error;
pub mod http;
pub mod service;
pub mod supervisor;

pub use error::{ApiError, grpc_code, http_status};
pub use hotline_telemetry::Readiness;
pub use service::Service;
pub use supervisor::Supervisor;
