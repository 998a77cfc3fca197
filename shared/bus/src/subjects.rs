//! Every subject, stream and bucket name. Services never spell a subject themselves.
//!
//! All names hang off a namespace (`hotline` by default) so that tests, benchmarks and several
//! cities can share one NATS without seeing each other's messages.

/// Suffixes, declared once. The full subject is `<namespace>.<suffix>`.
pub mod suffix {
    /// Commands to the ticket ledger (request/reply, queue group `tickets`).
    pub const TICKET_COMMANDS: &str = "tickets.cmd";
    pub const TICKET_GET: &str = "tickets.query.get";
    pub const TICKET_LIST: &str = "tickets.query.list";
    pub const TICKET_UPDATES: &str = "tickets.query.updates";
    /// The highest ticket sequence the ledger holds for a day (request: YYMMDD as a number).
    pub const TICKET_MAX_SEQUENCE: &str = "tickets.query.max_sequence";
    /// Facts from the ledger: `tickets.events.<step>`.
    pub const TICKET_EVENTS: &str = "tickets.events";
    /// Per-department delivery: `delivery.<dept>`.
    pub const DELIVERY: &str = "delivery";
    /// Dead letters: `dlq.<consumer>`.
    pub const DLQ: &str = "dlq";
    /// The dispatch catalogue's services (request/reply).
    pub const CATALOGUE_SERVICES: &str = "dispatch.catalogue.services";
    /// A manual dispatch decision, and the queue (request/reply).
    pub const DISPATCH_MANUAL: &str = "dispatch.manual";
    /// Facts from the knowledge service: `knowledge.events.<kind>` (published, retired, ...).
    pub const KNOWLEDGE_EVENTS: &str = "knowledge.events";
    /// Knowledge search (request/reply, queue group `knowledge`).
    pub const KNOWLEDGE_SEARCH: &str = "knowledge.query.search";
    /// Answer suggestions for a ticket's free text (request/reply).
    pub const KNOWLEDGE_SUGGEST: &str = "knowledge.query.suggest";
    /// Facts from the SLA service: `sla.events.<kind>` (warning, overdue, supervised, ...).
    pub const SLA_EVENTS: &str = "sla.events";
    /// A department's extension request, checked against its deadline (request/reply).
    pub const SLA_EXTENSION_REQUEST: &str = "sla.extensions.request";
}

/// Subject and stream names for one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    ns: String,
    stream_prefix: String,
}

impl Subjects {
    pub fn new(namespace: &str) -> Subjects {
        let stream_prefix = namespace.to_ascii_uppercase().replace(['.', '-'], "_");
        Subjects {
            ns: namespace.to_owned(),
            stream_prefix,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    fn join(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.ns)
    }

    pub fn ticket_commands(&self) -> String {
        self.join(suffix::TICKET_COMMANDS)
    }
    pub fn ticket_get(&self) -> String {
        self.join(suffix::TICKET_GET)
    }
    pub fn ticket_list(&self) -> String {
        self.join(suffix::TICKET_LIST)
    }
    pub fn ticket_updates(&self) -> String {
        self.join(suffix::TICKET_UPDATES)
    }
    pub fn ticket_max_sequence(&self) -> String {
        self.join(suffix::TICKET_MAX_SEQUENCE)
    }
    pub fn catalogue_services(&self) -> String {
        self.join(suffix::CATALOGUE_SERVICES)
    }
    pub fn dispatch_manual(&self) -> String {
        self.join(suffix::DISPATCH_MANUAL)
    }
    pub fn knowledge_search(&self) -> String {
        self.join(suffix::KNOWLEDGE_SEARCH)
    }
    pub fn knowledge_suggest(&self) -> String {
        self.join(suffix::KNOWLEDGE_SUGGEST)
    }
    pub fn sla_extension_request(&self) -> String {
        self.join(suffix::SLA_EXTENSION_REQUEST)
    }

    /// `<ns>.knowledge.events.<kind>`.
    pub fn knowledge_event(&self, kind: &str) -> String {
        format!("{}.{}.{kind}", self.ns, suffix::KNOWLEDGE_EVENTS)
    }
    pub fn knowledge_events_all(&self) -> String {
        self.knowledge_event(">")
    }

    /// `<ns>.sla.events.<kind>`.
    pub fn sla_event(&self, kind: &str) -> String {
        format!("{}.{}.{kind}", self.ns, suffix::SLA_EVENTS)
    }
    pub fn sla_events_all(&self) -> String {
        self.sla_event(">")
    }

    /// `<ns>.tickets.events.<step>`.
    pub fn ticket_event(&self, step: &str) -> String {
        format!("{}.{}.{step}", self.ns, suffix::TICKET_EVENTS)
    }
    pub fn ticket_events_all(&self) -> String {
        self.ticket_event(">")
    }

    /// `<ns>.delivery.<dept>`.
    pub fn delivery(&self, dept: &str) -> String {
        format!("{}.{}.{dept}", self.ns, suffix::DELIVERY)
    }
    pub fn delivery_all(&self) -> String {
        self.delivery(">")
    }

    /// `<ns>.dlq.<consumer>`.
    pub fn dead_letter(&self, consumer: &str) -> String {
        format!("{}.{}.{consumer}", self.ns, suffix::DLQ)
    }
    pub fn dead_letter_all(&self) -> String {
        self.dead_letter(">")
    }

    pub fn tickets_stream(&self) -> String {
        format!("{}_TICKETS", self.stream_prefix)
    }
    pub fn delivery_stream(&self) -> String {
        format!("{}_DELIVERY", self.stream_prefix)
    }
    pub fn dead_letter_stream(&self) -> String {
        format!("{}_DLQ", self.stream_prefix)
    }
    pub fn knowledge_stream(&self) -> String {
        format!("{}_KNOWLEDGE", self.stream_prefix)
    }
    pub fn sla_stream(&self) -> String {
        format!("{}_SLA", self.stream_prefix)
    }
    pub fn ticket_numbers_bucket(&self) -> String {
        format!("{}_TICKET_NUMBERS", self.stream_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hang_off_the_namespace() {
        let s = Subjects::new("t-42.x");
        assert_eq!(s.ticket_event("dispatch"), "t-42.x.tickets.events.dispatch");
        assert_eq!(s.delivery("GZ-TH"), "t-42.x.delivery.GZ-TH");
        assert_eq!(s.tickets_stream(), "T_42_X_TICKETS");
        assert_eq!(s.dead_letter("gateway"), "t-42.x.dlq.gateway");
    }
}
