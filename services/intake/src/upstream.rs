//! What intake asks of other services, as small traits, with their NATS implementations.
//!
//! The traits let the handlers be tested without a bus (see `testing`); in production every
//! one of them is a request/reply on a subject from `hotline_bus::Subjects`.

use std::sync::Arc;

use futures::future::BoxFuture;
use hotline_bus::Bus;
use hotline_bus::rpc::{self, CallError};
use hotline_bus::ticket_numbers::TicketNumbers;
use hotline_domain::TicketNo;
use hotline_domain::contract::{
    CatalogueService, CommandAccepted, GetTicket, TicketCommand, TicketQuery, TicketUpdate,
    TicketView, TicketWithHistory, UpdatesQuery,
};

/// The ticket ledger (services/tickets).
pub trait Ledger: Send + Sync + 'static {
    fn submit(&self, command: TicketCommand) -> BoxFuture<'_, Result<CommandAccepted, CallError>>;
    fn get(&self, ticket_no: TicketNo) -> BoxFuture<'_, Result<TicketWithHistory, CallError>>;
    fn list(&self, query: TicketQuery) -> BoxFuture<'_, Result<Vec<TicketView>, CallError>>;
    fn updates(&self, query: UpdatesQuery) -> BoxFuture<'_, Result<Vec<TicketUpdate>, CallError>>;
}

/// The dispatch catalogue's services (services/dispatch).
pub trait CatalogueSource: Send + Sync + 'static {
    fn services(&self) -> BoxFuture<'_, Result<Vec<CatalogueService>, CallError>>;
}

/// Hands out ticket numbers.
pub trait NumberIssuer: Send + Sync + 'static {
    fn next(&self) -> BoxFuture<'_, anyhow::Result<TicketNo>>;
}

/// The ledger and the catalogue over NATS request/reply.
#[derive(Clone)]
pub struct BusUpstream {
    bus: Bus,
}

impl BusUpstream {
    pub fn new(bus: Bus) -> BusUpstream {
        BusUpstream { bus }
    }
}

impl Ledger for BusUpstream {
    fn submit(&self, command: TicketCommand) -> BoxFuture<'_, Result<CommandAccepted, CallError>> {
        Box::pin(async move {
            // Every command carries its idempotency key: a try that a frozen ledger replica
            // swallowed is sent again rather than refused to the citizen.
            rpc::call_repeatable(
                &self.bus,
                self.bus
                    .subjects
                    .ticket_commands_from(hotline_bus::Service::Intake),
                &command,
            )
            .await
        })
    }

    fn get(&self, ticket_no: TicketNo) -> BoxFuture<'_, Result<TicketWithHistory, CallError>> {
        Box::pin(async move {
            let request = GetTicket {
                ticket_no,
                as_department: None,
            };
            rpc::call(
                &self.bus,
                self.bus.subjects.ticket_get(),
                &request,
                rpc::DEFAULT_TIMEOUT,
            )
            .await
        })
    }

    fn list(&self, query: TicketQuery) -> BoxFuture<'_, Result<Vec<TicketView>, CallError>> {
        Box::pin(async move {
            rpc::call(
                &self.bus,
                self.bus.subjects.ticket_list(),
                &query,
                rpc::DEFAULT_TIMEOUT,
            )
            .await
        })
    }

    fn updates(&self, query: UpdatesQuery) -> BoxFuture<'_, Result<Vec<TicketUpdate>, CallError>> {
        Box::pin(async move {
            rpc::call(
                &self.bus,
                self.bus.subjects.ticket_updates(),
                &query,
                rpc::DEFAULT_TIMEOUT,
            )
            .await
        })
    }
}

impl CatalogueSource for BusUpstream {
    fn services(&self) -> BoxFuture<'_, Result<Vec<CatalogueService>, CallError>> {
        Box::pin(async move {
            rpc::call(
                &self.bus,
                self.bus.subjects.catalogue_services(),
                &(),
                rpc::DEFAULT_TIMEOUT,
            )
            .await
        })
    }
}

impl NumberIssuer for Arc<TicketNumbers> {
    fn next(&self) -> BoxFuture<'_, anyhow::Result<TicketNo>> {
        Box::pin(TicketNumbers::next(self))
    }
}
