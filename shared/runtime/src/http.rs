//! HTTP as every service serves it: request spans, the ops routes, a graceful stop.
//!
//! A request span carries the method, the matched route (`/v1/tickets/{no}`, never the path as
//! sent), the status and the latency. Never the query string or headers: a query may hold a
//! phone number (`?phone=`), headers hold credentials.

use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::MatchedPath;
use hotline_telemetry::Readiness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use tracing::Span;

/// `/healthz` (alive), `/readyz` (can take work, 503 otherwise), `/metrics` (Prometheus).
pub fn ops_routes<S: Clone + Send + Sync + 'static>(readiness: Readiness) -> Router<S> {
    hotline_telemetry::ops_routes(readiness)
}

/// `router` with a span per request (see the module header for what it holds). Apply it last,
/// to the whole router, so that every route and the fallback are traced.
pub fn traced(router: Router) -> Router {
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|p| p.as_str())
                    // A path nothing matched is the caller's text: not recorded.
                    .unwrap_or("unmatched");
                let method = request.method().as_str();
                tracing::info_span!(
                    "http.request",
                    otel.kind = "server",
                    otel.name = %format_args!("{method} {route}"),
                    http.request.method = %method,
                    http.route = %route,
                    http.response.status_code = tracing::field::Empty,
                    latency_ms = tracing::field::Empty,
                )
            })
            .on_request(())
            .on_response(
                |response: &axum::http::Response<axum::body::Body>,
                 latency: Duration,
                 span: &Span| {
                    span.record("http.response.status_code", response.status().as_u16());
                    span.record("latency_ms", latency.as_millis() as u64);
                    if response.status().is_server_error() {
                        tracing::warn!(status = response.status().as_u16(), "server error");
                    } else {
                        tracing::debug!(status = response.status().as_u16(), "answered");
                    }
                },
            )
            // Failures are the 5xx above; the default would log them a second time.
            .on_failure(()),
    )
}

/// Serves `app` on `listener` until `stop`, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "HTTP listening");
    // The peer address (`ConnectInfo`) is what a per-client limit keys on (intake's web page).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stop.cancelled_owned())
    .await
    .with_context(|| format!("HTTP server on {addr:?}"))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::routing::get;
    use tower::ServiceExt as _;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::FmtSpan;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[tokio::test]
    async fn a_request_span_names_the_route_and_status_but_not_the_path_or_query() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_span_events(FmtSpan::CLOSE)
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let app = traced(Router::new().route("/v1/tickets/{no}", get(|| async { "ticket" })));
        let request = axum::http::Request::builder()
            .uri("/v1/tickets/2612010000000001?phone=13800138000")
            .header("authorization", "Bearer secret-token")
            .body(axum::body::Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("answered");
        assert_eq!(response.status(), 200);

        let text = captured
            .0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        assert!(text.contains("http.route=/v1/tickets/{no}"), "{text}");
        assert!(text.contains("http.request.method=GET"), "{text}");
        assert!(text.contains("http.response.status_code=200"), "{text}");
        assert!(text.contains("latency_ms="), "{text}");
        for secret in ["13800138000", "2612010000000001", "secret-token"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
