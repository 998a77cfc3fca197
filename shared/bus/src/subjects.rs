//! Every subject, stream and bucket name. Services never spell a subject themselves.
//!
//! All names hang off a namespace (`hotline` by default) so that tests, benchmarks and several
//! cities can share one NATS without seeing each other's messages.

/// Suffixes, declared once. The full subject is `<namespace>.<suffix>`.
pub mod suffix {
    /// Commands to the ticket ledger (request/reply, queue group `tickets`):
    /// `tickets.cmd.<caller>`, each service on its own so the ledger knows who sent it.
    pub const TICKET_COMMANDS: &str = "tickets.cmd";
    /// Every ledger query below hangs off this.
    pub const TICKET_QUERIES: &str = "tickets.query";
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
    /// Every knowledge query below hangs off this.
    pub const KNOWLEDGE_QUERIES: &str = "knowledge.query";
    /// Knowledge search (request/reply, queue group `knowledge`).
    pub const KNOWLEDGE_SEARCH: &str = "knowledge.query.search";
    /// Answer suggestions for a ticket's free text (request/reply).
    pub const KNOWLEDGE_SUGGEST: &str = "knowledge.query.suggest";
    /// Facts from the SLA service: `sla.events.<kind>` (warning, overdue, supervised, ...).
    pub const SLA_EVENTS: &str = "sla.events";
    /// A department's extension request, checked against its deadline (request/reply).
    pub const SLA_EXTENSION_REQUEST: &str = "sla.extensions.request";
    /// Notices to citizens, one subject per channel: `notify.<channel>`.
    pub const NOTIFY: &str = "notify";
}

/// The key of the department directory in its bucket.
pub const DIRECTORY_KEY: &str = "departments";

/// Durable consumer names; each is also its dead-letter subject's last token
/// (`dlq.<consumer>`) and appears in its service's NATS permissions.
pub mod durable {
    pub const DISPATCH: &str = "dispatch";
    pub const GATEWAY_DELIVERY: &str = "gateway-delivery";
    pub const KNOWLEDGE: &str = "knowledge";
    pub const SLA: &str = "sla";
    pub const SURVEY: &str = "survey";
    /// Intake's router from ticket events to notices.
    pub const NOTIFY: &str = "notify";
    /// Intake's sender per channel on the notify stream: `notify-<channel>`.
    pub const NOTIFY_SENDER_PREFIX: &str = "notify-";
    /// A department's consumer on the delivery stream: `dept-<CODE>`.
    pub const DEPARTMENT_PREFIX: &str = "dept-";
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

    /// `<ns>.tickets.cmd.<caller>`: where `caller` sends ticket commands.
    pub fn ticket_commands_from(&self, caller: crate::Service) -> String {
        format!("{}.{}.{caller}", self.ns, suffix::TICKET_COMMANDS)
    }
    /// `<ns>.tickets.cmd.*`: what the ledger serves.
    pub fn ticket_commands_all(&self) -> String {
        format!("{}.{}.*", self.ns, suffix::TICKET_COMMANDS)
    }
    /// The caller a command subject names (`None`: not a command subject of this namespace,
    /// or a token that is no service).
    pub fn ticket_command_caller(&self, subject: &str) -> Option<crate::Service> {
        let token = subject
            .strip_prefix(self.ns.as_str())?
            .strip_prefix('.')?
            .strip_prefix(suffix::TICKET_COMMANDS)?
            .strip_prefix('.')?;
        crate::Service::parse(token)
    }
    /// `<ns>.tickets.query.>`.
    pub fn ticket_queries_all(&self) -> String {
        format!("{}.{}.>", self.ns, suffix::TICKET_QUERIES)
    }
    /// `<ns>.knowledge.query.>`.
    pub fn knowledge_queries_all(&self) -> String {
        format!("{}.{}.>", self.ns, suffix::KNOWLEDGE_QUERIES)
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

    /// `<ns>.notify.<channel>`.
    pub fn notify(&self, channel: &str) -> String {
        format!("{}.{}.{channel}", self.ns, suffix::NOTIFY)
    }
    pub fn notify_all(&self) -> String {
        self.notify(">")
    }

    pub fn notify_stream(&self) -> String {
        format!("{}_NOTIFY", self.stream_prefix)
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
    /// The city's department directory (`hotline setup --directory`), read by the services
    /// that check or walk departments.
    pub fn directory_bucket(&self) -> String {
        format!("{}_DIRECTORY", self.stream_prefix)
    }
    /// The directory's one key in [`Subjects::directory_bucket`], as a stream subject
    /// (`$KV.<bucket>.<key>`): what a reader's NATS user may fetch.
    pub fn directory_key_subject(&self) -> String {
        format!("$KV.{}.{}", self.directory_bucket(), DIRECTORY_KEY)
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
        assert_eq!(s.notify("sms"), "t-42.x.notify.sms");
        assert_eq!(s.notify_stream(), "T_42_X_NOTIFY");
        assert_eq!(s.directory_bucket(), "T_42_X_DIRECTORY");
        assert_eq!(
            s.directory_key_subject(),
            "$KV.T_42_X_DIRECTORY.departments"
        );
        assert_eq!(
            s.ticket_commands_from(crate::Service::Gateway),
            "t-42.x.tickets.cmd.gateway"
        );
        assert_eq!(
            s.ticket_command_caller("t-42.x.tickets.cmd.intake"),
            Some(crate::Service::Intake)
        );
        assert_eq!(s.ticket_command_caller("t-42.x.tickets.cmd.nobody"), None);
        assert_eq!(s.ticket_command_caller("other.tickets.cmd.intake"), None);
        assert_eq!(s.ticket_command_caller("t-42.x.tickets.cmdintake"), None);
        assert!(
            s.ticket_get()
                .starts_with(s.ticket_queries_all().trim_end_matches('>'))
        );
        assert!(
            s.knowledge_search()
                .starts_with(s.knowledge_queries_all().trim_end_matches('>'))
        );
    }
}
