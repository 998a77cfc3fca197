//! The contract between services: commands to the ticket ledger and the events it publishes.
//!
//! Everything here is serde JSON with a version in the envelope (see `hotline_bus::Envelope`).
//! Adding an optional field is compatible; anything else is a new version.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{DeptCode, ServiceCode, TicketNo};
use crate::ticket::{Action, Actor, Channel, RequestType, Status};

/// Where the matter is. At least one of the fields is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long: Option<f64>,
}

/// The citizen's contact details. Personal data: masked wherever it is not needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citizen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

impl Citizen {
    /// The same record with every personal field masked.
    pub fn masked(&self) -> Citizen {
        Citizen {
            name: self.name.as_deref().map(crate::mask::name),
            phone: self.phone.as_deref().map(crate::mask::phone),
            email: self.email.as_deref().map(crate::mask::email),
            account_id: self.account_id.as_ref().map(|_| "***".to_owned()),
            device_id: self.device_id.as_ref().map(|_| "***".to_owned()),
        }
    }
}

/// Register a new contact as a ticket (受理). The number was given by intake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateTicket {
    pub ticket_no: TicketNo,
    pub channel: Channel,
    pub request_type: RequestType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_code: Option<ServiceCode>,
    pub description: String,
    #[serde(default)]
    pub location: Location,
    #[serde(default)]
    pub citizen: Citizen,
    /// The citizen asked for confidentiality (保密): departments get no contact details.
    #[serde(default)]
    pub confidential: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    /// Held from dispatch (暂缓派单) until released: a ticket an agent creates during a call,
    /// which the agent may still answer on the spot. Absent: dispatched as usual.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
}

/// A command to the ticket ledger. `idempotency_key` makes a retried command a no-op that
/// returns the first reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum TicketCommand {
    Create {
        idempotency_key: String,
        actor: Actor,
        ticket: Box<CreateTicket>,
    },
    Act {
        idempotency_key: String,
        actor: Actor,
        ticket_no: TicketNo,
        action: Action,
    },
}

impl TicketCommand {
    pub fn idempotency_key(&self) -> &str {
        match self {
            TicketCommand::Create {
                idempotency_key, ..
            }
            | TicketCommand::Act {
                idempotency_key, ..
            } => idempotency_key,
        }
    }
}

/// The ledger's answer to a command, after it committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandAccepted {
    pub ticket_no: TicketNo,
    pub status: Status,
    /// The history entry this command wrote (or wrote the first time, for a retry).
    pub seq: i32,
    /// True when this is the reply to an earlier identical command.
    #[serde(default)]
    pub replayed: bool,
}

/// A ticket as departments and citizens see it: the record plus who holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketView {
    pub ticket_no: TicketNo,
    pub status: Status,
    pub channel: Channel,
    pub request_type: RequestType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_code: Option<ServiceCode>,
    pub description: String,
    #[serde(default)]
    pub location: Location,
    /// Masked unless the reader is allowed to contact the citizen.
    #[serde(default)]
    pub citizen: Citizen,
    #[serde(default)]
    pub confidential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<DeptCode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co: Vec<DeptCode>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    /// Held from dispatch until released (see [`CreateTicket::hold`]).
    #[serde(default)]
    pub held: bool,
    /// The lead department asked for more time and the centre has not decided yet: the ledger's
    /// own state, so a reader need not wait for SLA's list of requests or replay the history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extension_pending: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TicketView {
    /// What a department may see: contact details masked when the citizen asked for
    /// confidentiality.
    pub fn for_department(&self) -> TicketView {
        let mut view = self.clone();
        if view.confidential {
            view.citizen = Citizen::default();
        }
        view
    }

    /// What may be shown in a public list (Open311 GET): no contact details at all.
    pub fn public(&self) -> TicketView {
        let mut view = self.clone();
        view.citizen = Citizen::default();
        view
    }
}

/// One immutable step of a ticket's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: i32,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `created` for the first entry, else the action's name.
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    pub to: Status,
}

/// A fact the ledger published: a ticket was created or took a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub event_id: Uuid,
    pub entry: HistoryEntry,
    /// The ticket after the step; full contact details, so only trusted consumers read the
    /// ticket stream. The gateway masks before anything reaches a department.
    pub ticket: TicketView,
    /// The tickets merged into this one (并单), directly or through a ticket merged into it,
    /// as of this step: their citizens hear about its steps too (intake's notify router looks
    /// up their contacts). Numbers only, so no other citizen's data rides on this event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<TicketNo>,
}

impl TicketEvent {
    /// The subject token for this event (`created`, `dispatch`, `accept`, ...).
    pub fn kind(&self) -> &str {
        &self.entry.step
    }
}

/// Filters for listing tickets. Every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketQuery {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ticket_nos: Vec<TicketNo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_code: Option<Vec<ServiceCode>>,
    /// Only tickets this department holds or held (lead or co-handler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DeptCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A request to read one ticket with its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetTicket {
    pub ticket_no: TicketNo,
    /// When set, the ledger answers `Forbidden` unless this department holds or held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_department: Option<DeptCode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketWithHistory {
    pub ticket: TicketView,
    pub history: Vec<HistoryEntry>,
}

/// Request for the steps taken in a period (FixMyStreet `servicerequestupdates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatesQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdate {
    pub ticket_no: TicketNo,
    pub entry: HistoryEntry,
    pub status_after: Status,
}

/// A matter in the dispatch catalogue, as offered to citizens (an Open311 service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueService {
    pub code: ServiceCode,
    pub name: String,
    pub description: String,
    /// The first-level category (Open311 `group`).
    pub group: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The request type a contact on this matter usually is.
    pub default_request_type: RequestType,
    /// Extra questions for the citizen (Open311 service definition attributes).
    #[serde(default)]
    pub attributes: Vec<ServiceAttribute>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    String,
    Number,
    Datetime,
    Text,
    Singlevaluelist,
    Multivaluelist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub key: String,
    pub name: String,
}

/// One question of a service definition (Open311 `attribute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAttribute {
    pub code: String,
    /// False for informational text that asks nothing.
    pub variable: bool,
    pub datatype: AttributeType,
    pub required: bool,
    pub description: String,
    pub order: u32,
    #[serde(default)]
    pub values: Vec<AttributeValue>,
}

/// A department's extension request (延期申请), sent by the gateway to the SLA service on
/// `<ns>.sla.extensions.request`. The SLA service checks it against the department's deadline
/// and forwards it to the ledger as the department; the reply is the ledger's
/// [`CommandAccepted`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionRequest {
    /// The ledger idempotency key (the gateway's `gw:<dept>:<request_id>`).
    pub idempotency_key: String,
    pub ticket_no: TicketNo,
    /// The authenticated department asking.
    pub department: DeptCode,
    pub reason: String,
    /// The deadline asked for.
    pub until: DateTime<Utc>,
}

/// What happened to a deadline (`<ns>.sla.events.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaEventKind {
    /// Yellow: the warning share of the time is used up.
    Warning,
    /// Red: the deadline passed.
    Overdue,
    /// 督办: a supervision order went to the department.
    Supervised,
    /// Escalated to the department's supervising authority.
    Escalated,
    ExtensionRequested,
    ExtensionDecided,
    /// The clock stopped while the ticket waits on the citizen (补充材料).
    Paused,
    Resumed,
    /// The stage ended (on time or late: see `on_time`).
    Met,
}

impl SlaEventKind {
    pub const ALL: [SlaEventKind; 9] = [
        SlaEventKind::Warning,
        SlaEventKind::Overdue,
        SlaEventKind::Supervised,
        SlaEventKind::Escalated,
        SlaEventKind::ExtensionRequested,
        SlaEventKind::ExtensionDecided,
        SlaEventKind::Paused,
        SlaEventKind::Resumed,
        SlaEventKind::Met,
    ];

    /// The subject token and the name stored in the SLA event log.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaEventKind::Warning => "warning",
            SlaEventKind::Overdue => "overdue",
            SlaEventKind::Supervised => "supervised",
            SlaEventKind::Escalated => "escalated",
            SlaEventKind::ExtensionRequested => "extension_requested",
            SlaEventKind::ExtensionDecided => "extension_decided",
            SlaEventKind::Paused => "paused",
            SlaEventKind::Resumed => "resumed",
            SlaEventKind::Met => "met",
        }
    }

    pub fn parse(raw: &str) -> Option<SlaEventKind> {
        SlaEventKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Who a late department answers to (escalation): its parent in the directory (a street's
/// district), else the city government's supervision office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SupervisingAuthority {
    Department { code: DeptCode },
    SupervisionOffice { name: String },
}

/// A fact from the SLA service about one deadline (stage clock) of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaEvent {
    pub event_id: Uuid,
    pub kind: SlaEventKind,
    pub ticket_no: TicketNo,
    /// dispatch, sign_off, handling, return_review, callback.
    pub stage: String,
    /// The department the clock runs against; none for the centre's own stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DeptCode>,
    /// The deadline after this event.
    pub due_at: DateTime<Utc>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// For `met`: whether the stage ended by its deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_time: Option<bool>,
    /// For `escalated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<SupervisingAuthority>,
    /// For `extension_requested` (the date asked for) and `extension_decided`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
}

/// Error kinds any service may answer a request with. Mapped to HTTP statuses and gRPC codes in
/// one place: `hotline_runtime::error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or violates a rule (400 / INVALID_ARGUMENT).
    Invalid,
    /// No such thing (404 / NOT_FOUND).
    NotFound,
    /// The caller may not do this (403 / PERMISSION_DENIED).
    Forbidden,
    /// The ticket's state does not allow this now (409 / FAILED_PRECONDITION).
    Conflict,
    /// Try again later (503 / UNAVAILABLE).
    Unavailable,
    /// Our fault (500 / INTERNAL).
    Internal,
    /// No valid credentials (401 / UNAUTHENTICATED): who is calling is unknown.
    Unauthenticated,
    /// The caller is over its allowance; try again later (429 / RESOURCE_EXHAUSTED).
    RateLimited,
    /// The caller's precondition (`If-Match`) names a state the thing is no longer in: it
    /// changed since the caller read it (412 / FAILED_PRECONDITION).
    PreconditionFailed,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::PreconditionFailed => "precondition_failed",
        }
    }

    /// A refusal is the caller's doing (counted by reason); the rest are our failures.
    pub fn is_refusal(self) -> bool {
        !matches!(self, ErrorKind::Unavailable | ErrorKind::Internal)
    }
}

/// What a notice tells the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Receipt,
    Progress,
    Reply,
    SurveyInvitation,
}

impl NoticeKind {
    /// A fixed word, for notice ids, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Receipt => "receipt",
            NoticeKind::Progress => "progress",
            NoticeKind::Reply => "reply",
            NoticeKind::SurveyInvitation => "survey_invitation",
        }
    }

    /// How the citizen reads it (subjects and SMS status words).
    pub fn chinese(self) -> &'static str {
        match self {
            NoticeKind::Receipt => "已受理",
            NoticeKind::Progress => "办理进展",
            NoticeKind::Reply => "办理答复",
            NoticeKind::SurveyInvitation => "满意度回访",
        }
    }
}

/// One notice to one citizen. Personal data (`address`, `text`): never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `<ticket_no>:<history seq>:<kind>`: the same event always gives the same id.
    pub id: String,
    pub ticket_no: TicketNo,
    pub kind: NoticeKind,
    pub channel: Channel,
    /// The e-mail address, phone number or WeChat openid the contact came from.
    pub address: String,
    pub text: String,
    /// A link the notice carries (the survey page), for senders whose template has a slot for
    /// it (SMS); the text contains it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

// Hand-written so that a `{:?}` anywhere cannot print the address or the text.
impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_as_tagged_json() {
        let cmd = TicketCommand::Act {
            idempotency_key: "k1".into(),
            actor: Actor::Department {
                code: DeptCode::parse("GZ-TH").expect("code"),
            },
            ticket_no: TicketNo::compose(261129, 5).expect("no"),
            action: Action::Accept,
        };
        let json = serde_json::to_value(&cmd).expect("encode");
        assert_eq!(json["command"], "act");
        assert_eq!(json["action"]["action"], "accept");
        let back: TicketCommand = serde_json::from_value(json).expect("decode");
        assert_eq!(back, cmd);
    }

    #[test]
    fn bad_ids_inside_json_are_refused_at_decode() {
        let raw = r#"{"command":"act","idempotency_key":"k","actor":{"kind":"agent","id":"a"},"ticket_no":"1234","action":{"action":"accept"}}"#;
        assert!(serde_json::from_str::<TicketCommand>(raw).is_err());
    }

    #[test]
    fn confidential_tickets_reach_departments_without_contact() {
        let view = TicketView {
            ticket_no: TicketNo::compose(261129, 5).expect("no"),
            status: Status::Dispatched,
            channel: Channel::Web,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "noise".into(),
            location: Location::default(),
            citizen: Citizen {
                phone: Some("13800138000".into()),
                ..Citizen::default()
            },
            confidential: true,
            lead: None,
            co: vec![],
            attributes: BTreeMap::new(),
            media_url: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            held: false,
            extension_pending: false,
        };
        assert_eq!(view.for_department().citizen, Citizen::default());
        assert_eq!(view.public().citizen.phone, None);
        let open = TicketView {
            confidential: false,
            ..view
        };
        assert_eq!(
            open.for_department().citizen.phone.as_deref(),
            Some("13800138000")
        );
        assert_eq!(
            Citizen {
                phone: Some("13800138000".into()),
                ..Citizen::default()
            }
            .masked()
            .phone
            .as_deref(),
            Some("138****8000")
        );
    }
}
