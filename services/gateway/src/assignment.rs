//! Which ledger events give which department work, and what the department is sent.
//!
//! [`route`] is pure: given a ticket event it names the departments to deliver to and why.
//! The forwarder publishes one [`Assignment`] per target on `delivery.<dept>`.

use chrono::{DateTime, Utc};
use hotline_domain::contract::{TicketEvent, TicketView};
use hotline_domain::ticket::ReturnDecision;
use hotline_domain::{Action, DeptCode, Status, TicketNo};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The ledger steps the forwarder listens to (subject tokens of `tickets.events.<step>`).
///
/// `reopen` is not among them: a reopened ticket has no department until the dispatch that
/// follows, and that dispatch is delivered.
pub const FORWARDED_STEPS: [&str; 4] = ["dispatch", "redispatch", "review_return", "supervise"];

/// Why a department receives a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// 派单: dispatched to it as lead.
    Dispatched,
    /// Passed to it by a district (二级派单) or sent to it after a return review.
    Redispatched,
    /// 督办 on a ticket it leads.
    Supervision,
    /// 协办: it co-handles; another department leads.
    CoHandling,
    /// Its return was refused: it still holds the ticket.
    ReturnUpheld,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Dispatched => "dispatched",
            DeliveryKind::Redispatched => "redispatched",
            DeliveryKind::Supervision => "supervision",
            DeliveryKind::CoHandling => "co_handling",
            DeliveryKind::ReturnUpheld => "return_upheld",
        }
    }
}

/// One department to deliver an event to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub department: DeptCode,
    pub kind: DeliveryKind,
}

/// What a department receives on `delivery.<dept>` (inside an `Envelope`, kind
/// `delivery.<kind>`), and what the gateway turns into the wire `Assignment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub kind: DeliveryKind,
    pub department: DeptCode,
    /// `TicketView::for_department()`: no contact details when the citizen asked for 保密.
    pub ticket: TicketView,
    /// The centre's note with the step.
    #[serde(default)]
    pub note: String,
    /// The history entry behind the assignment; increases per ticket.
    pub seq: i32,
    pub event_id: Uuid,
    /// When the step happened.
    pub at: DateTime<Utc>,
    /// The ticket's trace, for the department to send back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Assignment {
    pub fn ticket_no(&self) -> TicketNo {
        self.ticket.ticket_no
    }
}

/// The departments an event gives work to, lead first.
pub fn route(event: &TicketEvent) -> Vec<Target> {
    let ticket = &event.ticket;
    let Some(lead) = ticket.lead.clone() else {
        return Vec::new();
    };
    let lead_only = |kind| {
        vec![Target {
            department: lead.clone(),
            kind,
        }]
    };
    let lead_and_co = |kind| {
        let mut targets = lead_only(kind);
        targets.extend(ticket.co.iter().filter(|c| **c != lead).map(|c| Target {
            department: c.clone(),
            kind: DeliveryKind::CoHandling,
        }));
        targets
    };
    match event.entry.step.as_str() {
        "dispatch" if ticket.status == Status::Dispatched => lead_and_co(DeliveryKind::Dispatched),
        // The co-handlers keep the ticket unchanged when a district passes it to a street:
        // only the street gets new work.
        "redispatch" if ticket.status == Status::Dispatched => {
            lead_only(DeliveryKind::Redispatched)
        }
        "review_return" if ticket.status == Status::Dispatched => match &event.entry.action {
            Some(Action::ReviewReturn {
                ruling: ReturnDecision::Uphold,
                ..
            }) => lead_only(DeliveryKind::ReturnUpheld),
            // A new lead (and possibly new co-handlers): everyone named gets the ticket.
            _ => lead_and_co(DeliveryKind::Redispatched),
        },
        // Supervision orders the lead; a ticket with no department (returned and waiting for
        // review still names its lead) gets nothing.
        "supervise" if ticket.status.is_with_department() || ticket.status == Status::Returned => {
            lead_only(DeliveryKind::Supervision)
        }
        _ => Vec::new(),
    }
}

/// The note that came with the step, if any.
pub fn note_of(event: &TicketEvent) -> String {
    match &event.entry.action {
        Some(Action::Dispatch { note, .. })
        | Some(Action::Redispatch { note, .. })
        | Some(Action::ReviewReturn { note, .. })
        | Some(Action::Supervise { note })
        | Some(Action::Supplement { note }) => note.clone(),
        _ => String::new(),
    }
}

/// The assignment for one target of `event`.
pub fn assignment_for(
    event: &TicketEvent,
    target: &Target,
    traceparent: Option<String>,
) -> Assignment {
    Assignment {
        kind: target.kind,
        department: target.department.clone(),
        ticket: event.ticket.for_department(),
        note: note_of(event),
        seq: event.entry.seq,
        event_id: event.event_id,
        at: event.entry.at,
        traceparent,
    }
}

/// `Nats-Msg-Id` of the delivery of `event_id` to `dept`: a redelivered event (the forwarder
/// crashed after publishing, before acking) makes no second delivery within the stream's
/// duplicate window.
pub fn delivery_msg_id(event_id: Uuid, dept: &DeptCode) -> String {
    format!("{event_id}:{dept}")
}

/// A stable envelope id for the delivery, derived from the same pair, so that a client can
/// also dedupe by it.
pub fn delivery_envelope_id(event_id: Uuid, dept: &DeptCode) -> Uuid {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(delivery_msg_id(event_id, dept).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use hotline_domain::contract::{Citizen, HistoryEntry, Location};
    use hotline_domain::{Actor, Channel, RequestType};

    use super::*;

    pub(crate) fn code(raw: &str) -> DeptCode {
        DeptCode::parse(raw).expect("code")
    }

    pub(crate) fn event(
        seq: u64,
        action: Action,
        status: Status,
        lead: Option<&str>,
        co: &[&str],
        confidential: bool,
    ) -> TicketEvent {
        let now = Utc::now();
        TicketEvent {
            event_id: Uuid::now_v7(),
            entry: HistoryEntry {
                seq: 3,
                at: now,
                actor: Actor::system("dispatch"),
                step: action.name().to_owned(),
                action: Some(action),
                from: Some(Status::Received),
                to: status,
            },
            ticket: TicketView {
                ticket_no: TicketNo::compose(261129, seq).expect("no"),
                status,
                channel: Channel::Phone,
                request_type: RequestType::Complaint,
                service_code: None,
                description: "street light out".into(),
                location: Location {
                    address: Some("天河路 1 号".into()),
                    ..Location::default()
                },
                citizen: Citizen {
                    name: Some("张三".into()),
                    phone: Some("13800138000".into()),
                    ..Citizen::default()
                },
                confidential,
                lead: lead.map(code),
                co: co.iter().map(|c| code(c)).collect(),
                attributes: BTreeMap::new(),
                media_url: None,
                created_at: now,
                updated_at: now,
                held: false,
                extension_pending: false,
            },
            merged_from: Vec::new(),
        }
    }

    fn dispatch(lead: &str, co: &[&str]) -> Action {
        Action::Dispatch {
            lead: code(lead),
            co: co.iter().map(|c| code(c)).collect(),
            note: "please handle".into(),
        }
    }

    #[test]
    fn dispatch_goes_to_the_lead_and_each_co_handler() {
        let e = event(
            1,
            dispatch("GZ-TH", &["GZ-ZJ", "GZ-CG"]),
            Status::Dispatched,
            Some("GZ-TH"),
            &["GZ-ZJ", "GZ-CG"],
            false,
        );
        let targets = route(&e);
        assert_eq!(
            targets,
            vec![
                Target {
                    department: code("GZ-TH"),
                    kind: DeliveryKind::Dispatched
                },
                Target {
                    department: code("GZ-ZJ"),
                    kind: DeliveryKind::CoHandling
                },
                Target {
                    department: code("GZ-CG"),
                    kind: DeliveryKind::CoHandling
                },
            ]
        );
        let a = assignment_for(&e, &targets[1], Some("00-abc-def-01".into()));
        assert_eq!(a.note, "please handle");
        assert_eq!(a.seq, 3);
        assert_eq!(a.department, code("GZ-ZJ"));
        assert_eq!(a.ticket.citizen.phone.as_deref(), Some("13800138000"));
    }

    #[test]
    fn confidential_tickets_reach_every_department_without_contact() {
        let e = event(
            2,
            dispatch("GZ-TH", &["GZ-ZJ"]),
            Status::Dispatched,
            Some("GZ-TH"),
            &["GZ-ZJ"],
            true,
        );
        for target in route(&e) {
            let a = assignment_for(&e, &target, None);
            assert_eq!(a.ticket.citizen, Citizen::default(), "{target:?}");
            assert!(a.ticket.confidential);
            let json = serde_json::to_string(&a).expect("json");
            assert!(!json.contains("13800138000"));
            assert!(!json.contains("张三"));
        }
    }

    #[test]
    fn redispatch_goes_to_the_street_only() {
        let e = event(
            3,
            Action::Redispatch {
                to: code("GZ-TH-SP"),
                note: "yours".into(),
            },
            Status::Dispatched,
            Some("GZ-TH-SP"),
            &["GZ-ZJ"],
            false,
        );
        assert_eq!(
            route(&e),
            vec![Target {
                department: code("GZ-TH-SP"),
                kind: DeliveryKind::Redispatched
            }]
        );
        assert_eq!(note_of(&e), "yours");
    }

    #[test]
    fn return_review_redispatches_or_upholds() {
        let to_new = event(
            4,
            Action::ReviewReturn {
                ruling: ReturnDecision::Redispatch {
                    lead: code("GZ-SW"),
                    co: vec![code("GZ-HB")],
                },
                note: "water, not roads".into(),
            },
            Status::Dispatched,
            Some("GZ-SW"),
            &["GZ-HB"],
            false,
        );
        assert_eq!(
            route(&to_new),
            vec![
                Target {
                    department: code("GZ-SW"),
                    kind: DeliveryKind::Redispatched
                },
                Target {
                    department: code("GZ-HB"),
                    kind: DeliveryKind::CoHandling
                },
            ]
        );
        let upheld = event(
            5,
            Action::ReviewReturn {
                ruling: ReturnDecision::Uphold,
                note: "it is yours".into(),
            },
            Status::Dispatched,
            Some("GZ-TH"),
            &["GZ-ZJ"],
            false,
        );
        assert_eq!(
            route(&upheld),
            vec![Target {
                department: code("GZ-TH"),
                kind: DeliveryKind::ReturnUpheld
            }]
        );
    }

    #[test]
    fn supervision_goes_to_the_current_lead_only() {
        let e = event(
            6,
            Action::Supervise {
                note: "overdue".into(),
            },
            Status::InProgress,
            Some("GZ-TH"),
            &["GZ-ZJ"],
            false,
        );
        assert_eq!(
            route(&e),
            vec![Target {
                department: code("GZ-TH"),
                kind: DeliveryKind::Supervision
            }]
        );
        let unassigned = event(
            7,
            Action::Supervise {
                note: "hurry".into(),
            },
            Status::Received,
            None,
            &[],
            false,
        );
        assert!(route(&unassigned).is_empty());
    }

    #[test]
    fn steps_that_give_no_work_deliver_nothing() {
        let accept = event(
            8,
            Action::Accept,
            Status::Accepted,
            Some("GZ-TH"),
            &[],
            false,
        );
        assert!(route(&accept).is_empty());
        let reopen = event(
            9,
            Action::Reopen {
                reason: "not fixed".into(),
            },
            Status::Reopened,
            None,
            &[],
            false,
        );
        assert!(route(&reopen).is_empty());
    }

    #[test]
    fn delivery_ids_are_stable_per_event_and_department() {
        let id = Uuid::now_v7();
        let a = delivery_envelope_id(id, &code("GZ-TH"));
        assert_eq!(a, delivery_envelope_id(id, &code("GZ-TH")));
        assert_ne!(a, delivery_envelope_id(id, &code("GZ-ZJ")));
        assert_eq!(delivery_msg_id(id, &code("GZ-TH")), format!("{id}:GZ-TH"));
    }
}
