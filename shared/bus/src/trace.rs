//! W3C trace context (`traceparent`, `tracestate`) in NATS headers, so that one trace follows a
//! ticket from the channel to the department and back. There is no maintained crate for this;
//! it is a small Injector/Extractor over `async_nats::HeaderMap` and the global propagator.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        // Only the W3C keys are ever read by the propagator we install.
        ["traceparent", "tracestate"]
            .into_iter()
            .filter(|k| self.0.get(*k).is_some())
            .collect()
    }
}

/// Writes the current span's context into `headers`.
pub fn inject_current(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers))
    });
}

/// Reads a remote context from `headers` (empty context when there is none).
pub fn extract(headers: Option<&HeaderMap>) -> opentelemetry::Context {
    match headers {
        Some(h) => {
            opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(h)))
        }
        None => opentelemetry::Context::new(),
    }
}

/// Makes `span` a child of the context carried in `headers`.
pub fn adopt(span: &tracing::Span, headers: Option<&HeaderMap>) {
    let parent = extract(headers);
    let _ = span.set_parent(parent);
}

/// The current span's `traceparent`, to store with a ticket or send in a payload.
pub fn current_traceparent() -> Option<String> {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    headers.get("traceparent").map(|v| v.as_str().to_owned())
}

/// Headers carrying a stored `traceparent`.
pub fn headers_from_traceparent(traceparent: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(tp) = traceparent {
        headers.insert("traceparent", tp);
    }
    headers
}

/// Makes `span` a child of a stored `traceparent`.
pub fn adopt_traceparent(span: &tracing::Span, traceparent: Option<&str>) {
    if traceparent.is_some() {
        let headers = headers_from_traceparent(traceparent);
        adopt(span, Some(&headers));
    }
}
