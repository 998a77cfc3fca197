//! Prometheus metrics. Labels are routes, status codes and outcomes: never anything a citizen
//! wrote.

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use hotline_telemetry::prometheus::{HistogramVec, IntCounterVec};
use tracing::Instrument as _;

pub static HTTP_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_intake_http_requests_total",
        "HTTP requests to intake by route and status code",
        &["route", "code"],
    )
});

pub static HTTP_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    hotline_telemetry::histogram_vec(
        "hotline_intake_http_request_duration_seconds",
        "Time to answer an HTTP request, by route",
        &["route"],
    )
});

/// `outcome`: `created` (a new ticket), `replayed` (the ledger recognised a retry),
/// `replayed_cache` (Redis recognised a retry; the ledger was not asked).
pub static TICKETS_CREATED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_intake_tickets_created_total",
        "Service requests accepted as tickets, by channel and outcome",
        &["channel", "outcome"],
    )
});

/// Counts, times and traces every request under its route pattern (not its path, which would
/// put ticket numbers into labels).
pub async fn observe(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let code = response.status().as_u16();
    span.record("http.response.status_code", code);
    HTTP_REQUESTS
        .with_label_values(&[route.as_str(), &code.to_string()])
        .inc();
    HTTP_LATENCY
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
