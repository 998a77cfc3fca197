//! Who may do what on NATS: one user per service, with publish/subscribe allow-lists built from
//! the subject constants (never spelled by hand), so a renamed subject renames its permission.
//!
//! Every service:
//! - subscribes only to its own reply inbox `_INBOX.<service>.>` (the bus sets that prefix), so
//!   no service reads another's replies (ticket reads carry citizens' contacts);
//! - answers requests through `allow_responses` (a reply to a message it received), not through
//!   a publish right on other services' inboxes;
//! - may look streams up (`$JS.API.STREAM.INFO.<stream>`, metadata only) but never create, update,
//!   purge or delete one: streams and the KV bucket belong to `hotline setup`, run as the `setup`
//!   user (the only one with the whole JetStream API). A service that finds a stream missing
//!   fails with a hint to run setup; on an open NATS (dev/test) it creates it itself;
//! - uses the JetStream API only for its own durable consumers (info, create, next, ack) and
//!   writes dead letters only under its own consumer names.
//!
//! The department directory's bucket is written only by `setup` (`hotline setup --directory`);
//! the services that check or walk departments ([`DIRECTORY_READERS`]) may fetch its one key
//! and nothing else of it.
//!
//! Ticket commands go to `<ns>.tickets.cmd.<caller>`; each service may publish only on its own,
//! so the ledger knows who sent a command from the subject (see `hotline_tickets::callers`).

use crate::Subjects;
use crate::subjects::durable;

/// The platform's NATS users: one per service, plus `setup` (streams, buckets: the admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Setup,
    Tickets,
    Intake,
    Dispatch,
    Gateway,
    Knowledge,
    Sla,
    Survey,
}

impl Service {
    pub const ALL: [Service; 8] = [
        Service::Setup,
        Service::Tickets,
        Service::Intake,
        Service::Dispatch,
        Service::Gateway,
        Service::Knowledge,
        Service::Sla,
        Service::Survey,
    ];

    /// The user name, the credential file name and the command-subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Setup => "setup",
            Service::Tickets => "tickets",
            Service::Intake => "intake",
            Service::Dispatch => "dispatch",
            Service::Gateway => "gateway",
            Service::Knowledge => "knowledge",
            Service::Sla => "sla",
            Service::Survey => "survey",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reply-inbox prefix of a connection named `service`: `_INBOX.<service>`.
pub fn inbox_prefix(service: &str) -> String {
    format!("_INBOX.{service}")
}

/// One user's allow-lists (anything not listed is denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    /// May reply to requests it received (request/reply servers; one reply each).
    pub allow_responses: bool,
}

const JS_API: &str = "$JS.API";

/// The channels intake sends notices on, each with its own sender consumer.
pub const NOTIFY_CHANNELS: [&str; 3] = ["email", "sms", "wechat"];

/// The services that read the department directory at start (`hotline_bus::directory`).
pub const DIRECTORY_READERS: [Service; 3] = [Service::Tickets, Service::Dispatch, Service::Sla];

/// The allow-lists of `service` in the namespace of `s`.
pub fn for_service(service: Service, s: &Subjects) -> Permissions {
    if service == Service::Setup {
        // The operator's tool: creates and updates streams and buckets, runs the benchmarks.
        return Permissions {
            publish: vec![">".to_owned()],
            subscribe: vec![">".to_owned()],
            allow_responses: false,
        };
    }
    let mut p = Permissions {
        publish: stream_lookups(s),
        subscribe: vec![format!("{}.>", inbox_prefix(service.as_str()))],
        allow_responses: false,
    };
    let tickets = s.tickets_stream();
    match service {
        Service::Setup => {}
        Service::Tickets => {
            p.subscribe.push(s.ticket_commands_all());
            p.subscribe.push(s.ticket_queries_all());
            p.publish.push(s.ticket_events_all());
            p.allow_responses = true;
        }
        Service::Intake => {
            p.publish.extend([
                s.ticket_commands_from(Service::Intake),
                s.ticket_get(),
                s.ticket_list(),
                s.ticket_updates(),
                s.ticket_max_sequence(),
                s.catalogue_services(),
            ]);
            // Ticket numbers: read and compare-and-set the day's counter in the KV bucket.
            let bucket = s.ticket_numbers_bucket();
            let kv = format!("KV_{bucket}");
            p.publish.extend([
                format!("{JS_API}.DIRECT.GET.{kv}"),
                format!("{JS_API}.DIRECT.GET.{kv}.>"),
                format!("{JS_API}.STREAM.MSG.GET.{kv}"),
                format!("$KV.{bucket}.>"),
            ]);
            // Notices: read ticket events, write and send notices per channel.
            consume(&mut p, s, &tickets, durable::NOTIFY);
            p.publish.push(s.notify_all());
            let notify = s.notify_stream();
            for channel in NOTIFY_CHANNELS {
                let name = format!("{}{channel}", durable::NOTIFY_SENDER_PREFIX);
                consume(&mut p, s, &notify, &name);
            }
        }
        Service::Dispatch => {
            // Smart dispatch asks knowledge which matter a free text is about.
            p.publish.extend([
                s.ticket_commands_from(Service::Dispatch),
                s.knowledge_suggest(),
            ]);
            consume(&mut p, s, &tickets, durable::DISPATCH);
            p.subscribe
                .extend([s.catalogue_services(), s.dispatch_manual()]);
            p.allow_responses = true;
        }
        Service::Gateway => {
            p.publish.extend([
                s.ticket_commands_from(Service::Gateway),
                s.ticket_get(),
                s.ticket_list(),
                s.sla_extension_request(),
                // The forwarder writes every department's assignments.
                s.delivery_all(),
            ]);
            consume(&mut p, s, &tickets, durable::GATEWAY_DELIVERY);
            // `dept-<CODE>` on the delivery stream, one per department (a single token each).
            let delivery = s.delivery_stream();
            consume(&mut p, s, &delivery, "*");
            // The departments' backlog gauges: their consumers' lag, and what is stored for a
            // department that has none yet (stream info with per-subject counts).
            p.publish.push(format!("{JS_API}.CONSUMER.LIST.{delivery}"));
            // Dead letters of department consumers: the codes are not known in advance.
            p.publish.push(s.dead_letter_all());
        }
        Service::Knowledge => {
            p.publish.extend([
                s.ticket_commands_from(Service::Knowledge),
                s.catalogue_services(),
                s.knowledge_events_all(),
            ]);
            consume(&mut p, s, &tickets, durable::KNOWLEDGE);
            // Following publications with an ordered (ephemeral, recreated on gaps) consumer on
            // its own stream, which holds no personal data.
            let knowledge = s.knowledge_stream();
            p.publish.extend([
                format!("{JS_API}.CONSUMER.CREATE.{knowledge}"),
                format!("{JS_API}.CONSUMER.CREATE.{knowledge}.>"),
                format!("{JS_API}.CONSUMER.INFO.{knowledge}.>"),
                format!("{JS_API}.CONSUMER.DELETE.{knowledge}.>"),
                format!("{JS_API}.CONSUMER.MSG.NEXT.{knowledge}.>"),
            ]);
            p.subscribe.push(s.knowledge_queries_all());
            p.allow_responses = true;
        }
        Service::Sla => {
            p.publish
                .extend([s.ticket_commands_from(Service::Sla), s.sla_events_all()]);
            consume(&mut p, s, &tickets, durable::SLA);
            p.subscribe.push(s.sla_extension_request());
            p.allow_responses = true;
        }
        Service::Survey => {
            // Survey answers, reopens and rulings to the ledger; invitations to the citizen's
            // channel through the notify stream (intake's senders deliver them).
            p.publish
                .extend([s.ticket_commands_from(Service::Survey), s.notify_all()]);
            consume(&mut p, s, &tickets, durable::SURVEY);
        }
    }
    if DIRECTORY_READERS.contains(&service) {
        read_directory(&mut p, s);
    }
    p
}

/// Fetching the directory's key, by direct get (the bucket allows it) or, on a bucket made
/// without direct gets, by the stream's message API; never a write, purge or consumer.
fn read_directory(p: &mut Permissions, s: &Subjects) {
    let kv = format!("KV_{}", s.directory_bucket());
    p.publish.extend([
        format!("{JS_API}.DIRECT.GET.{kv}.{}", s.directory_key_subject()),
        format!("{JS_API}.STREAM.MSG.GET.{kv}"),
    ]);
}

/// `STREAM.INFO` of every stream and bucket of the namespace: services check at start that
/// what they use exists (metadata only; no message is readable through it).
fn stream_lookups(s: &Subjects) -> Vec<String> {
    crate::streams::names(s)
        .into_iter()
        .map(|name| format!("{JS_API}.STREAM.INFO.{name}"))
        .collect()
}

/// A durable pull consumer `name` on `stream`: look up, create, pull, ack, dead-letter.
fn consume(p: &mut Permissions, s: &Subjects, stream: &str, name: &str) {
    p.publish.extend([
        format!("{JS_API}.CONSUMER.INFO.{stream}.{name}"),
        // Without a filter in the subject (several filters) and with one.
        format!("{JS_API}.CONSUMER.CREATE.{stream}.{name}"),
        format!("{JS_API}.CONSUMER.CREATE.{stream}.{name}.>"),
        format!("{JS_API}.CONSUMER.MSG.NEXT.{stream}.{name}"),
        format!("$JS.ACK.{stream}.{name}.>"),
    ]);
    if name != "*" {
        p.publish.push(s.dead_letter(name));
    }
}

/// Whether NATS would let `subject` match the allow-list entry `pattern` (`*` one token, `>`
/// the rest). For tests and for checking the lists themselves.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut pattern = pattern.split('.');
    let mut subject = subject.split('.');
    loop {
        match (pattern.next(), subject.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(p), Some(t)) if p == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Permissions {
    pub fn may_publish(&self, subject: &str) -> bool {
        self.publish.iter().any(|p| subject_matches(p, subject))
    }
    pub fn may_subscribe(&self, subject: &str) -> bool {
        self.subscribe.iter().any(|p| subject_matches(p, subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Subjects {
        Subjects::new("hotline")
    }

    #[test]
    fn the_matcher_follows_nats_wildcards() {
        assert!(subject_matches("a.*.c", "a.b.c"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(!subject_matches("a.b", "a.b.c"));
    }

    #[test]
    fn each_service_sends_commands_only_as_itself() {
        let s = s();
        for service in Service::ALL {
            let p = for_service(service, &s);
            for caller in Service::ALL {
                let allowed = p.may_publish(&s.ticket_commands_from(caller));
                let expected =
                    service == Service::Setup || (service == caller && service != Service::Tickets);
                assert_eq!(allowed, expected, "{service} publishing as {caller}");
            }
        }
    }

    #[test]
    fn intake_cannot_read_deliveries_nor_touch_streams() {
        let s = s();
        let intake = for_service(Service::Intake, &s);
        let delivery = s.delivery_stream();
        let tickets = s.tickets_stream();
        for denied in [
            format!("$JS.API.CONSUMER.CREATE.{delivery}.spy"),
            format!("$JS.API.CONSUMER.CREATE.{delivery}.dept-GZ-TH.hotline.delivery.GZ-TH"),
            format!("$JS.API.CONSUMER.CREATE.{tickets}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{delivery}.dept-GZ-TH"),
            format!("$JS.API.STREAM.DELETE.{tickets}"),
            format!("$JS.API.STREAM.PURGE.{tickets}"),
            format!("$JS.API.STREAM.UPDATE.{tickets}"),
            format!("$JS.API.STREAM.CREATE.{tickets}"),
            format!("$JS.API.STREAM.MSG.GET.{tickets}"),
            s.delivery("GZ-TH"),
            s.ticket_event("created"),
        ] {
            assert!(!intake.may_publish(&denied), "intake may publish {denied}");
        }
        for denied in [
            s.ticket_events_all(),
            s.delivery_all(),
            "_INBOX.gateway.x".into(),
        ] {
            assert!(
                !intake.may_subscribe(&denied),
                "intake may subscribe {denied}"
            );
        }
        assert!(intake.may_publish(&format!("$JS.API.STREAM.INFO.{tickets}")));
        assert!(intake.may_subscribe("_INBOX.intake.abc.1"));
    }

    #[test]
    fn intake_routes_and_sends_notices_only_through_its_own_consumers() {
        let s = s();
        let intake = for_service(Service::Intake, &s);
        let (tickets, notify) = (s.tickets_stream(), s.notify_stream());
        assert!(intake.may_publish(&format!(
            "$JS.API.CONSUMER.CREATE.{tickets}.{}",
            durable::NOTIFY
        )));
        assert!(intake.may_publish(&format!("$JS.API.CONSUMER.MSG.NEXT.{notify}.notify-sms")));
        assert!(intake.may_publish(&format!("$JS.ACK.{notify}.notify-email.1.2.3.4.5")));
        assert!(intake.may_publish(&s.notify("wechat")));
        assert!(intake.may_publish(&s.dead_letter("notify-sms")));
        assert!(!intake.may_publish(&format!(
            "$JS.API.CONSUMER.CREATE.{tickets}.{}",
            durable::SLA
        )));
        assert!(!intake.may_publish(&format!("$JS.API.CONSUMER.CREATE.{notify}.spy")));
        assert!(for_service(Service::Survey, &s).may_publish(&s.notify("sms")));
        assert!(!for_service(Service::Survey, &s).may_publish(&s.dead_letter("notify-sms")));
        for other in [Service::Dispatch, Service::Gateway, Service::Sla] {
            assert!(
                !for_service(other, &s).may_publish(&s.notify("sms")),
                "{other}"
            );
        }
    }

    #[test]
    fn only_setup_manages_streams() {
        let s = s();
        for service in Service::ALL {
            let p = for_service(service, &s);
            for verb in ["CREATE", "UPDATE", "DELETE", "PURGE"] {
                let subject = format!("$JS.API.STREAM.{verb}.{}", s.tickets_stream());
                assert_eq!(
                    p.may_publish(&subject),
                    service == Service::Setup,
                    "{service}: {verb}"
                );
            }
        }
    }

    #[test]
    fn only_setup_writes_the_directory_and_only_its_readers_read_it() {
        let s = s();
        let bucket = s.directory_bucket();
        let kv = format!("KV_{bucket}");
        let get = format!("$JS.API.DIRECT.GET.{kv}.{}", s.directory_key_subject());
        for service in Service::ALL {
            let p = for_service(service, &s);
            let reader = service == Service::Setup || DIRECTORY_READERS.contains(&service);
            assert_eq!(p.may_publish(&get), reader, "{service} reading");
            assert_eq!(
                p.may_publish(&format!("$JS.API.STREAM.MSG.GET.{kv}")),
                reader,
                "{service} reading by sequence"
            );
            for write in [
                s.directory_key_subject(),
                format!("$JS.API.STREAM.PURGE.{kv}"),
                format!("$JS.API.STREAM.DELETE.{kv}"),
                format!("$JS.API.STREAM.UPDATE.{kv}"),
                format!("$JS.API.CONSUMER.CREATE.{kv}"),
            ] {
                assert_eq!(
                    p.may_publish(&write),
                    service == Service::Setup,
                    "{service}: {write}"
                );
            }
            // Every service may see that the bucket exists (metadata only).
            assert!(
                p.may_publish(&format!("$JS.API.STREAM.INFO.{kv}")),
                "{service}"
            );
        }
        // Another key of the bucket stays closed to the readers.
        let other = format!("$JS.API.DIRECT.GET.{kv}.$KV.{bucket}.other");
        assert!(!for_service(Service::Tickets, &s).may_publish(&other));
    }

    #[test]
    fn consumers_are_their_own() {
        let s = s();
        let tickets = s.tickets_stream();
        let dispatch = for_service(Service::Dispatch, &s);
        assert!(dispatch.may_publish(&format!(
            "$JS.API.CONSUMER.CREATE.{tickets}.{}",
            durable::DISPATCH
        )));
        assert!(dispatch.may_publish(&format!(
            "$JS.ACK.{tickets}.{}.1.2.3.4.5",
            durable::DISPATCH
        )));
        assert!(!dispatch.may_publish(&format!(
            "$JS.API.CONSUMER.CREATE.{tickets}.{}",
            durable::SLA
        )));
        assert!(!dispatch.may_publish(&s.dead_letter(durable::SLA)));
        let gateway = for_service(Service::Gateway, &s);
        assert!(gateway.may_publish(&format!(
            "$JS.API.CONSUMER.MSG.NEXT.{}.dept-GZ-TH",
            s.delivery_stream()
        )));
        assert!(gateway.may_publish(&s.delivery("GZ-TH")));
    }

    #[test]
    fn servers_listen_where_their_callers_send() {
        let s = s();
        let tickets = for_service(Service::Tickets, &s);
        for caller in Service::ALL {
            assert!(tickets.may_subscribe(&s.ticket_commands_from(caller)));
        }
        for q in [
            s.ticket_get(),
            s.ticket_list(),
            s.ticket_updates(),
            s.ticket_max_sequence(),
        ] {
            assert!(tickets.may_subscribe(&q), "{q}");
        }
        assert!(for_service(Service::Dispatch, &s).may_subscribe(&s.catalogue_services()));
        assert!(for_service(Service::Sla, &s).may_subscribe(&s.sla_extension_request()));
        assert!(for_service(Service::Knowledge, &s).may_subscribe(&s.knowledge_search()));
        assert!(for_service(Service::Knowledge, &s).may_subscribe(&s.knowledge_suggest()));
    }
}
