//! Publishing to JetStream: nothing counts as sent until the stream acknowledged it.

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;

use crate::Bus;

pub const MSG_ID: &str = "Nats-Msg-Id";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publish to {subject} failed: {source}")]
    Send {
        subject: String,
        source: async_nats::jetstream::context::PublishError,
    },
    #[error("the stream did not acknowledge {subject}: {source}")]
    Ack {
        subject: String,
        source: async_nats::jetstream::context::PublishError,
    },
}

/// Sends without waiting for the ack; await the returned future (in order) to know it is stored.
/// Pipelining many sends before awaiting acks is what makes the outbox relay fast.
pub async fn send(
    bus: &Bus,
    subject: String,
    msg_id: &str,
    mut headers: HeaderMap,
    payload: Bytes,
) -> Result<PublishAckFuture, PublishError> {
    headers.insert(MSG_ID, msg_id);
    bus.js
        .publish_with_headers(subject.clone(), headers, payload)
        .await
        .map_err(|source| PublishError::Send { subject, source })
}

/// Publishes and waits for the PubAck. Returns the stream sequence.
pub async fn publish_acked(
    bus: &Bus,
    subject: String,
    msg_id: &str,
    headers: HeaderMap,
    payload: Bytes,
) -> Result<u64, PublishError> {
    let ack = send(bus, subject.clone(), msg_id, headers, payload).await?;
    let ack = ack
        .await
        .map_err(|source| PublishError::Ack { subject, source })?;
    Ok(ack.sequence)
}
