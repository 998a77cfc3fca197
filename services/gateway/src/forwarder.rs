//! The delivery forwarder: ledger events that give a department work become assignments on
//! `delivery.<dept>`.
//!
//! A durable pull consumer (`gateway-delivery`) on the tickets stream, keyed by ticket number so
//! that one ticket's events are forwarded in order while different tickets go in parallel. An
//! event is acked only after every assignment it produces is stored in the delivery stream; a
//! crash in between redelivers the event, and the `Nats-Msg-Id` `<event_id>:<dept>` keeps the
//! second copy out.

use std::sync::Arc;

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::Message;
use hotline_bus::consumer::{ConsumerSpec, HandleError};
use hotline_bus::{Bus, Envelope};
use hotline_domain::contract::TicketEvent;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::assignment::{self, FORWARDED_STEPS};
use crate::metrics;
use crate::trace_store::TraceStore;

/// The durable consumer's name.
pub const CONSUMER: &str = hotline_bus::subjects::durable::GATEWAY_DELIVERY;

pub fn spec(bus: &Bus) -> ConsumerSpec {
    let s = &bus.subjects;
    ConsumerSpec::new(
        s.tickets_stream(),
        CONSUMER,
        FORWARDED_STEPS
            .iter()
            .map(|step| s.ticket_event(step))
            .collect(),
    )
}

/// Runs until `shutdown`, then finishes the events in hand.
pub async fn run(bus: Bus, traces: TraceStore, shutdown: CancellationToken) -> anyhow::Result<()> {
    let spec = spec(&bus);
    let handler_bus = bus.clone();
    hotline_bus::consumer::run(
        bus,
        spec,
        |m| hotline_bus::envelope::ticket_key(&m.payload),
        move |message: Arc<Message>| {
            let bus = handler_bus.clone();
            let traces = traces.clone();
            async move { forward(&bus, &traces, &message).await }
        },
        shutdown,
    )
    .await
}

/// Publishes the assignments of one event. `Reject` for what can never be forwarded,
/// `Retry` when the delivery stream did not store them.
async fn forward(bus: &Bus, traces: &TraceStore, message: &Message) -> Result<(), HandleError> {
    let envelope = Envelope::<TicketEvent>::from_slice(&message.payload)
        .map_err(|e| HandleError::Reject(anyhow::Error::new(e).context("ticket event")))?;
    let event = envelope.data;
    let span = tracing::info_span!(
        "gateway.forward",
        otel.kind = "consumer",
        ticket = %event.ticket.ticket_no,
        step = %event.entry.step,
        seq = event.entry.seq,
    );
    hotline_bus::trace::adopt(&span, message.headers.as_ref());
    async move {
        // The trace the department should continue: ours (a child of the ledger's) when
        // tracing is exported, else the ledger's own header passed through.
        let mut headers = HeaderMap::new();
        hotline_bus::trace::inject_current(&mut headers);
        if headers.get("traceparent").is_none()
            && let Some(h) = message.headers.as_ref()
        {
            for key in ["traceparent", "tracestate"] {
                if let Some(v) = h.get(key) {
                    headers.insert(key, v.as_str());
                }
            }
        }
        let traceparent = headers.get("traceparent").map(|v| v.as_str().to_owned());
        let targets = assignment::route(&event);
        for target in &targets {
            let assignment = assignment::assignment_for(&event, target, traceparent.clone());
            let envelope = Envelope::new(
                assignment::delivery_envelope_id(event.event_id, &target.department),
                format!("delivery.{}", target.kind.as_str()),
                &assignment,
            );
            let payload = envelope
                .to_bytes()
                .context("encoding the assignment")
                .map_err(HandleError::Reject)?;
            let mut msg_headers = headers.clone();
            msg_headers.insert("Hotline-Ticket", event.ticket.ticket_no.to_string().as_str());
            hotline_bus::publish::publish_acked(
                bus,
                bus.subjects.delivery(target.department.as_str()),
                &assignment::delivery_msg_id(event.event_id, &target.department),
                msg_headers,
                payload.into(),
            )
            .await
            .map_err(|e| HandleError::Retry(e.into()))?;
            metrics::FORWARDED
                .with_label_values(&[target.kind.as_str()])
                .inc();
            tracing::debug!(department = %target.department, kind = target.kind.as_str(), "assignment forwarded");
        }
        if let Some(tp) = &traceparent
            && !targets.is_empty()
        {
            traces.remember(event.ticket.ticket_no, tp).await;
        }
        Ok(())
    }
    .instrument(span)
    .await
}
