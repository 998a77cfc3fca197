//! What both edges (gRPC and REST) do once a request is authenticated and parsed: turn a
//! department's action into a ticket command, read tickets, and record the outcome.
//!
//! The ledger decides who may act (it runs `Ticket::decide` with `Actor::Department`); the
//! gateway only makes sure that the actor is the authenticated department and that what goes
//! back is masked for departments.

use std::time::Instant;

use hotline_bus::Bus;
use hotline_bus::rpc::{self, DEFAULT_TIMEOUT};
use hotline_domain::contract::{
    CommandAccepted, ExtensionRequest, GetTicket, TicketCommand, TicketQuery, TicketView,
    TicketWithHistory,
};
use hotline_domain::{Action, Actor, DeptCode, Status, TicketNo};
use tracing::Instrument as _;

use crate::error::{ApiError, ErrorKind};
use crate::metrics;
use crate::trace_store::TraceStore;

/// Where a request came from, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    Rest,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Rest => "rest",
        }
    }
}

/// Records latency and, for refusals, the reason. Called once per request by each edge.
pub fn observe<T>(protocol: Protocol, rpc: &str, started: Instant, result: &Result<T, ApiError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => {
            if e.kind.is_refusal() {
                metrics::REFUSALS
                    .with_label_values(&[e.kind.as_str()])
                    .inc();
            }
            e.kind.as_str()
        }
    };
    metrics::RPC_SECONDS
        .with_label_values(&[protocol.as_str(), rpc, outcome])
        .observe(started.elapsed().as_secs_f64());
}

/// A W3C traceparent as sent by a client: bounded and printable, else ignored (the propagator
/// checks the exact format).
pub fn client_traceparent(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_graphic()))
}

#[derive(Clone)]
pub struct Ledger {
    bus: Bus,
    traces: TraceStore,
}

impl Ledger {
    pub fn new(bus: Bus, traces: TraceStore) -> Ledger {
        Ledger { bus, traces }
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The span a request about `ticket` runs in: a child of the client's trace, or of the
    /// ticket's remembered trace when the client sent none.
    async fn span_for(
        &self,
        name: &'static str,
        dept: &DeptCode,
        ticket: Option<TicketNo>,
        traceparent: Option<&str>,
    ) -> tracing::Span {
        let span = tracing::info_span!(
            "gateway.request",
            otel.kind = "server",
            otel.name = name,
            department = %dept,
            ticket = tracing::field::Empty,
        );
        if let Some(no) = ticket {
            span.record("ticket", tracing::field::display(no));
        }
        let remembered = match (traceparent, ticket) {
            (Some(_), _) | (None, None) => None,
            (None, Some(no)) => self.traces.recall(no).await,
        };
        hotline_bus::trace::adopt_traceparent(&span, traceparent.or(remembered.as_deref()));
        span
    }

    /// Sends `action` on `ticket` as the department. `request_key` is the namespaced
    /// idempotency key (see `wire::request_key`).
    ///
    /// An extension request goes to the SLA service instead, which checks it against the
    /// department's deadline (before it, not another department's, under the cap, none
    /// pending) and forwards it to the ledger as the department.
    pub async fn act(
        &self,
        dept: &DeptCode,
        ticket: TicketNo,
        request_key: String,
        action: Action,
        traceparent: Option<&str>,
    ) -> Result<CommandAccepted, ApiError> {
        let name = action.name();
        let span = self.span_for(name, dept, Some(ticket), traceparent).await;
        let call = async {
            match action {
                Action::RequestExtension { reason, until } => {
                    let request = ExtensionRequest {
                        idempotency_key: request_key,
                        ticket_no: ticket,
                        department: dept.clone(),
                        reason,
                        until,
                    };
                    rpc::call(
                        &self.bus,
                        self.bus.subjects.sla_extension_request(),
                        &request,
                        // The SLA service calls the ledger in turn.
                        DEFAULT_TIMEOUT * 2,
                    )
                    .await
                }
                action => {
                    let command = TicketCommand::Act {
                        idempotency_key: request_key,
                        actor: Actor::Department { code: dept.clone() },
                        ticket_no: ticket,
                        action,
                    };
                    rpc::call(
                        &self.bus,
                        self.bus
                            .subjects
                            .ticket_commands_from(hotline_bus::Service::Gateway),
                        &command,
                        DEFAULT_TIMEOUT,
                    )
                    .await
                }
            }
        };
        async {
            let result: Result<CommandAccepted, _> = call.await;
            let result = result.map_err(ApiError::from);
            refused(dept, ticket, name, &result);
            result
        }
        .instrument(span)
        .await
    }

    /// One ticket the department holds or held, masked for it.
    pub async fn get(
        &self,
        dept: &DeptCode,
        ticket: TicketNo,
        traceparent: Option<&str>,
    ) -> Result<TicketWithHistory, ApiError> {
        let span = self
            .span_for("get_ticket", dept, Some(ticket), traceparent)
            .await;
        let request = GetTicket {
            ticket_no: ticket,
            as_department: Some(dept.clone()),
        };
        async {
            let result: Result<TicketWithHistory, _> = rpc::call(
                &self.bus,
                self.bus.subjects.ticket_get(),
                &request,
                DEFAULT_TIMEOUT,
            )
            .await;
            let result = result.map_err(ApiError::from).map(|mut t| {
                t.ticket = t.ticket.for_department();
                t
            });
            refused(dept, ticket, "get_ticket", &result);
            result
        }
        .instrument(span)
        .await
    }

    /// Tickets the department holds or held, masked for it.
    pub async fn list(
        &self,
        dept: &DeptCode,
        statuses: Vec<Status>,
        limit: u32,
        traceparent: Option<&str>,
    ) -> Result<Vec<TicketView>, ApiError> {
        let span = self.span_for("list_tickets", dept, None, traceparent).await;
        let query = TicketQuery {
            statuses,
            department: Some(dept.clone()),
            limit: Some(limit),
            ..TicketQuery::default()
        };
        async {
            let result: Result<Vec<TicketView>, _> = rpc::call(
                &self.bus,
                self.bus.subjects.ticket_list(),
                &query,
                DEFAULT_TIMEOUT,
            )
            .await;
            // The ledger filters by department (held now or earlier, which the view alone
            // cannot tell); the gateway masks.
            let views = result.map_err(ApiError::from)?;
            Ok(views.iter().map(TicketView::for_department).collect())
        }
        .instrument(span)
        .await
    }
}

/// Logs a department reaching for a ticket that is not its own (no personal data: the code and
/// the number only). Counting happens in [`observe`].
fn refused<T>(dept: &DeptCode, ticket: TicketNo, what: &str, result: &Result<T, ApiError>) {
    if let Err(e) = result
        && e.kind == ErrorKind::Forbidden
    {
        tracing::warn!(
            department = %dept,
            ticket = %ticket,
            action = what,
            "department refused: the ticket is not its own"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_traceparents_are_bounded_and_printable() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(client_traceparent(Some(tp)), Some(tp));
        assert_eq!(client_traceparent(Some(&format!(" {tp} "))), Some(tp));
        assert_eq!(client_traceparent(Some("")), None);
        assert_eq!(client_traceparent(Some("a b")), None);
        assert_eq!(client_traceparent(Some(&"x".repeat(129))), None);
        assert_eq!(client_traceparent(None), None);
    }

    #[test]
    fn refusals_are_counted_by_reason_and_failures_are_not() {
        let before = metrics::REFUSALS.with_label_values(&["forbidden"]).get();
        let unavailable_before = metrics::REFUSALS.with_label_values(&["unavailable"]).get();
        let refused: Result<(), ApiError> = Err(ApiError::new(ErrorKind::Forbidden, "no"));
        observe(Protocol::Grpc, "accept", Instant::now(), &refused);
        let failed: Result<(), ApiError> = Err(ApiError::unavailable("later"));
        observe(Protocol::Rest, "accept", Instant::now(), &failed);
        assert_eq!(
            metrics::REFUSALS.with_label_values(&["forbidden"]).get(),
            before + 1
        );
        assert_eq!(
            metrics::REFUSALS.with_label_values(&["unavailable"]).get(),
            unavailable_before
        );
    }
}
