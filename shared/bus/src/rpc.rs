//! Commands and queries as NATS request/reply.
//!
//! The reply is `{"ok": ...}` or `{"err": {"kind": ..., "message": ...}}`; callers get a
//! [`CallError`] whose [`ErrorKind`] the edges map to status codes (`hotline_runtime::error`).
//! A service with no replica answering is `Unavailable`, never a hang: every call has a timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::HeaderMap;
use futures::StreamExt as _;
use hotline_domain::contract::ErrorKind;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::Bus;

/// Repeatable requests sent again because no replica answered in time.
static RETRIES: std::sync::LazyLock<hotline_telemetry::prometheus::IntCounterVec> =
    std::sync::LazyLock::new(|| {
        hotline_telemetry::counter_vec(
            "hotline_rpc_retries_total",
            "Repeatable requests (ticket commands) sent again after a try went unanswered, by reason",
            &["reason"],
        )
    });

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct RemoteError {
    pub kind: ErrorKind,
    /// Safe to show to the caller: services never put internals here.
    pub message: String,
}

impl RemoteError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> RemoteError {
        RemoteError {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> RemoteError {
        RemoteError::new(ErrorKind::Invalid, message)
    }
    pub fn not_found(message: impl Into<String>) -> RemoteError {
        RemoteError::new(ErrorKind::NotFound, message)
    }
    pub fn forbidden(message: impl Into<String>) -> RemoteError {
        RemoteError::new(ErrorKind::Forbidden, message)
    }
    pub fn conflict(message: impl Into<String>) -> RemoteError {
        RemoteError::new(ErrorKind::Conflict, message)
    }
    /// Logs the cause with its chain and returns a message that leaks nothing.
    pub fn internal(cause: &anyhow::Error) -> RemoteError {
        tracing::error!(error = %format!("{cause:#}"), "internal error");
        RemoteError::new(ErrorKind::Internal, "internal error")
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    Err(RemoteError),
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("no replica of the service answered: {0}")]
    Unavailable(String),
    #[error("the reply could not be read: {0}")]
    Decode(String),
}

impl CallError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CallError::Remote(e) => e.kind,
            CallError::Unavailable(_) => ErrorKind::Unavailable,
            CallError::Decode(_) => ErrorKind::Internal,
        }
    }

    /// The message to show a client.
    pub fn public_message(&self) -> String {
        match self {
            CallError::Remote(e) => e.message.clone(),
            CallError::Unavailable(_) => {
                "the service is temporarily unavailable, please retry".to_owned()
            }
            CallError::Decode(_) => "internal error".to_owned(),
        }
    }
}

/// A failed call, as the caller's own edge reports it: the remote service's refusal passes
/// through; an outage is `unavailable`; an unreadable reply is `internal` and says nothing more.
impl From<CallError> for RemoteError {
    fn from(e: CallError) -> RemoteError {
        RemoteError::new(e.kind(), e.public_message())
    }
}

/// Sends `request` and waits for the typed reply.
pub async fn call<Req, Resp>(
    bus: &Bus,
    subject: String,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, CallError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    call_within(bus, subject, request, &[timeout]).await
}

/// How a repeatable request's time is split between its tries (see [`call_repeatable`]): with
/// two replicas and one frozen, three tries all reach it one time in eight.
pub const REPEATABLE_TRIES: [Duration; 3] = [
    Duration::from_millis(1500),
    Duration::from_millis(1500),
    Duration::from_secs(2),
];

/// [`call`] for a request that may safely be sent more than once (a ticket command carries its
/// idempotency key): a try that no replica answered in its share of the time is sent again. In
/// a queue group NATS keeps handing a frozen or overloaded replica its share of the requests
/// until its connection is gone, so one try can wait out the whole timeout while the other
/// replicas are idle; another try most likely reaches one of them, and if the first replica
/// answers after all, the key makes its work the same ticket. A refusal is never repeated.
pub async fn call_repeatable<Req, Resp>(
    bus: &Bus,
    subject: String,
    request: &Req,
) -> Result<Resp, CallError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    call_within(bus, subject, request, &REPEATABLE_TRIES).await
}

async fn call_within<Req, Resp>(
    bus: &Bus,
    subject: String,
    request: &Req,
    tries: &[Duration],
) -> Result<Resp, CallError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    use async_nats::RequestErrorKind;
    let payload: bytes::Bytes = serde_json::to_vec(request)
        .map_err(|e| CallError::Decode(e.to_string()))?
        .into();
    let mut headers = HeaderMap::new();
    crate::trace::inject_current(&mut headers);
    let mut last = None;
    for (n, timeout) in tries.iter().enumerate() {
        let request = async_nats::Request::new()
            .payload(payload.clone())
            .headers(headers.clone())
            .timeout(Some(*timeout));
        match bus.client.send_request(subject.clone(), request).await {
            Ok(message) => return decode_reply(&message.payload),
            Err(e) => {
                let (again, reason) = match e.kind() {
                    RequestErrorKind::TimedOut => (true, "timed_out"),
                    // A replica restarting: give the queue group a moment to have a member.
                    RequestErrorKind::NoResponders => {
                        if n + 1 < tries.len() {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        (true, "no_responders")
                    }
                    _ => (false, "other"),
                };
                if n + 1 < tries.len() && again {
                    tracing::debug!(%subject, error = %e, "no answer in time; sending the request again");
                    RETRIES.with_label_values(&[reason]).inc();
                }
                last = Some(CallError::Unavailable(format!("{subject}: {e}")));
                if !again {
                    break;
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| CallError::Unavailable(format!("{subject}: no try"))))
}

fn decode_reply<Resp: DeserializeOwned>(payload: &[u8]) -> Result<Resp, CallError> {
    match serde_json::from_slice::<Reply<Resp>>(payload) {
        Ok(Reply::Ok(value)) => Ok(value),
        Ok(Reply::Err(e)) => Err(CallError::Remote(e)),
        Err(e) => Err(CallError::Decode(e.to_string())),
    }
}

/// Answers requests on `subject` in queue group `queue` until `shutdown`, at most `concurrency`
/// at a time; then stops taking new ones and waits for those in hand.
pub async fn serve<Req, Resp, H, F>(
    bus: Bus,
    subject: String,
    queue: &str,
    concurrency: usize,
    handler: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Fn(Req) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Resp, RemoteError>> + Send + 'static,
{
    serve_with_subject(
        bus,
        subject,
        queue,
        concurrency,
        move |_subject: &str, request: Req| handler(request),
        shutdown,
    )
    .await
}

/// [`serve`] for a wildcard `subject`: the handler also gets the subject each request came on
/// (the ledger learns the caller from `<ns>.tickets.cmd.<caller>`, which only that caller's
/// NATS user may publish to).
pub async fn serve_with_subject<Req, Resp, H, F>(
    bus: Bus,
    subject: String,
    queue: &str,
    concurrency: usize,
    handler: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Fn(&str, Req) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Resp, RemoteError>> + Send + 'static,
{
    serve_signalled(bus, subject, queue, concurrency, handler, shutdown, || {}).await
}

/// [`serve_with_subject`], calling `listening` once the server has the subscription (subscribed
/// and flushed): a service is ready only from then on, or its first callers would hear "no
/// responders" from a service that says it is ready.
#[allow(clippy::too_many_arguments)]
pub async fn serve_signalled<Req, Resp, H, F>(
    bus: Bus,
    subject: String,
    queue: &str,
    concurrency: usize,
    handler: H,
    shutdown: CancellationToken,
    listening: impl FnOnce() + Send,
) -> anyhow::Result<()>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Fn(&str, Req) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Resp, RemoteError>> + Send + 'static,
{
    let mut subscription = bus
        .client
        .queue_subscribe(subject.clone(), queue.to_owned())
        .await
        .with_context(|| format!("subscribing to {subject}"))?;
    bus.client
        .flush()
        .await
        .with_context(|| format!("confirming the subscription to {subject}"))?;
    listening();
    let handler = Arc::new(handler);
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = subscription.next() => match m { Some(m) => m, None => break },
        };
        let Some(reply_to) = message.reply.clone() else {
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let handler = handler.clone();
        let client = bus.client.clone();
        let span =
            tracing::info_span!("rpc.serve", otel.kind = "server", subject = %message.subject);
        crate::trace::adopt(&span, message.headers.as_ref());
        tokio::spawn(
            async move {
                let reply = match serde_json::from_slice::<Req>(&message.payload) {
                    Ok(request) => match handler(message.subject.as_str(), request).await {
                        Ok(value) => Reply::Ok(value),
                        Err(e) => Reply::Err(e),
                    },
                    Err(e) => Reply::Err(RemoteError::invalid(format!("malformed request: {e}"))),
                };
                match serde_json::to_vec(&reply) {
                    Ok(bytes) => {
                        if let Err(e) = client.publish(reply_to, bytes.into()).await {
                            tracing::warn!(error = %e, "reply not sent");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "reply not encodable"),
                }
                drop(permit);
            }
            .instrument(span),
        );
    }
    let _ = subscription.unsubscribe().await;
    // Wait for the requests in hand.
    let _ = permits.acquire_many(concurrency as u32).await;
    let _ = bus.client.flush().await;
    Ok(())
}

#[cfg(test)]
mod call_error_tests {
    use super::*;

    #[test]
    fn call_errors_keep_the_remote_refusal_and_hide_the_rest() {
        let refused = RemoteError::from(CallError::Remote(RemoteError::forbidden("not yours")));
        assert_eq!(refused, RemoteError::forbidden("not yours"));
        let down = RemoteError::from(CallError::Unavailable("tickets.cmd: no responders".into()));
        assert_eq!(down.kind, ErrorKind::Unavailable);
        assert!(!down.message.contains("tickets.cmd"));
        let garbled = RemoteError::from(CallError::Decode("expected `,` at line 1".into()));
        assert_eq!(garbled.kind, ErrorKind::Internal);
        assert!(!garbled.message.contains("line 1"));
    }
}
