//! One telemetry module for every service: `tracing` logs, OpenTelemetry traces exported over
//! OTLP/gRPC, W3C propagation, and Prometheus metrics; plus the `/healthz`, `/readyz` and
//! `/metrics` routes every service mounts.
//!
//! Personal data never goes into a span field or a metric label: callers log ticket numbers and
//! department codes, never names, phones or addresses (see `hotline_domain::mask`).
#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use prometheus;

const TRACE_FILTER: &str = "info,h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,opentelemetry=off,opentelemetry_sdk=off,async_nats=warn,sqlx=warn";

/// Keeps the exporter alive; flushes the last spans when dropped at shutdown.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Installs logging, tracing and propagation for the process. Call once, before the runtime
/// does anything else. `service` is the OpenTelemetry `service.name`.
pub fn init(
    service: &str,
    log_filter: &str,
    json_logs: bool,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(log_filter))
        .context("log filter")?;
    let provider = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .context("building the OTLP exporter")?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(service.to_owned())
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        None => None,
    };
    let otel_layer = provider.as_ref().map(|p| {
        let tracer = p.tracer(service.to_owned());
        opentelemetry::global::set_tracer_provider(p.clone());
        tracing_opentelemetry::layer().with_tracer(tracer)
    });
    // The log filter governs logs only: spans for traces are kept at info whatever RUST_LOG
    // says, so quiet logs never break a trace (the exporter's own transport stays silent).
    let otel_layer = otel_layer.map(|l| l.with_filter(EnvFilter::new(TRACE_FILTER)));
    let registry = tracing_subscriber::registry().with(otel_layer);
    let result = if json_logs {
        registry
            .with(tracing_subscriber::fmt::layer().json().with_filter(filter))
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    // Colours only for a person at a terminal: a log file or collector gets
                    // plain text, and no span's fields are painted for nobody to see.
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_filter(filter),
            )
            .try_init()
    };
    result.context("installing the tracing subscriber")?;
    Ok(TelemetryGuard { provider })
}

/// Whether the service can take work (dependencies connected, consumers running).
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// `/healthz` (the process is alive), `/readyz` (it can take work), `/metrics` (Prometheus).
pub fn ops_routes<S: Clone + Send + Sync + 'static>(readiness: Readiness) -> Router<S> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = readiness.is_ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        )
        .route("/metrics", get(metrics))
}

async fn metrics() -> impl IntoResponse {
    let encoder = prometheus::TextEncoder::new();
    match encoder.encode_to_string(&prometheus::gather()) {
        Ok(text) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Registers a counter family on the default registry; panics only on a name clash, which is a
/// programming error caught by the first test that touches it.
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::IntCounterVec {
    let c = prometheus::IntCounterVec::new(prometheus::Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    // Registering twice (hotline all runs several services in one process) is fine: keep one.
    match prometheus::register(Box::new(c.clone())) {
        Ok(()) => c,
        Err(prometheus::Error::AlreadyReg) => c,
        Err(e) => panic!("metric {name}: {e}"),
    }
}

pub fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::HistogramVec {
    let opts = prometheus::HistogramOpts::new(name, help).buckets(vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ]);
    let h = prometheus::HistogramVec::new(opts, labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    match prometheus::register(Box::new(h.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => h,
        Err(e) => panic!("metric {name}: {e}"),
    }
}

/// Registers a gauge family (as [`counter_vec`]).
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::GaugeVec {
    let g = prometheus::GaugeVec::new(prometheus::Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    match prometheus::register(Box::new(g.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => g,
        Err(e) => panic!("metric {name}: {e}"),
    }
}

/// Binds `host:port`, with the address in the error.
pub async fn bind(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding {host}:{port}"))
}
