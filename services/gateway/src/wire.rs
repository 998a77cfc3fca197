//! The edge: raw request fields (protobuf or JSON) parsed into domain types once, and domain
//! types written out as protobuf. Nothing past this module sees an unparsed string.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hotline_domain::contract::{CommandAccepted, HistoryEntry, TicketView};
use hotline_domain::{Action, Actor, DeptCode, Status, TicketNo};

use crate::assignment::{Assignment, DeliveryKind};
use crate::error::ApiError;
use crate::proto;

/// Longest note, reason or reply accepted: bounds what one request can put in the ledger.
pub const MAX_TEXT_CHARS: usize = 8000;
/// Longest client request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;
pub const DEFAULT_LIST_LIMIT: u32 = 100;
pub const MAX_LIST_LIMIT: u32 = 500;

pub fn ticket_no(raw: &str) -> Result<TicketNo, ApiError> {
    TicketNo::parse(raw).map_err(|e| ApiError::invalid(format!("ticket_no: {e}")))
}

pub fn dept_code(field: &str, raw: &str) -> Result<DeptCode, ApiError> {
    DeptCode::parse(raw).map_err(|e| ApiError::invalid(format!("{field}: {e}")))
}

/// The ledger's idempotency key for a department's request: `gw:<dept>:<request_id>`. The
/// department prefix means two departments choosing the same id never collide. An empty id gets
/// a fresh one (such a request cannot be retried safely; the README says so).
pub fn request_key(dept: &DeptCode, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(format!("gw:{dept}:{}", uuid::Uuid::now_v7()));
    }
    if raw.len() > MAX_REQUEST_ID_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(format!(
            "request_id: at most {MAX_REQUEST_ID_LEN} printable ASCII characters"
        )));
    }
    Ok(format!("gw:{dept}:{raw}"))
}

/// A free text field: trimmed, bounded, non-empty when `required`, and free of NUL and other
/// control characters (the domain's one rule, `hotline_domain::text`).
pub fn text(field: &str, raw: &str, required: bool) -> Result<String, ApiError> {
    let value = raw.trim();
    hotline_domain::text::check(field, value).map_err(|e| ApiError::invalid(e.to_string()))?;
    if required && value.is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid(format!(
            "{field} is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(value.to_owned())
}

pub fn return_action(reason: &str) -> Result<Action, ApiError> {
    Ok(Action::Return {
        reason: text("reason", reason, true)?,
    })
}

pub fn progress_action(note: &str) -> Result<Action, ApiError> {
    Ok(Action::AddProgress {
        note: text("note", note, true)?,
    })
}

pub fn reply_action(reply: &str) -> Result<Action, ApiError> {
    Ok(Action::Reply {
        text: text("text", reply, true)?,
    })
}

pub fn complete_action(note: &str) -> Result<Action, ApiError> {
    Ok(Action::Complete {
        note: text("note", note, false)?,
    })
}

pub fn extension_action(reason: &str, until: DateTime<Utc>) -> Result<Action, ApiError> {
    Ok(Action::RequestExtension {
        reason: text("reason", reason, true)?,
        until,
    })
}

pub fn information_action(question: &str) -> Result<Action, ApiError> {
    Ok(Action::RequestInformation {
        question: text("question", question, true)?,
    })
}

pub fn redispatch_action(to: &str, note: &str) -> Result<Action, ApiError> {
    Ok(Action::Redispatch {
        to: dept_code("to", to)?,
        note: text("note", note, false)?,
    })
}

pub fn rfc3339(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ApiError::invalid(format!("{field}: not an RFC 3339 time ({e})")))
}

pub fn from_timestamp(
    field: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, ApiError> {
    let ts = ts.ok_or_else(|| ApiError::invalid(format!("{field} is required")))?;
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| ApiError::invalid(format!("{field}: not a valid timestamp")))
}

pub fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn statuses<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Status>, ApiError> {
    raw.iter()
        .map(AsRef::as_ref)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Status::parse(s).ok_or_else(|| ApiError::invalid(format!("unknown status {s:?}"))))
        .collect()
}

/// 0 means the default; more than the maximum is capped rather than refused.
pub fn limit(raw: u32) -> u32 {
    match raw {
        0 => DEFAULT_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    }
}

impl From<DeliveryKind> for proto::DeliveryKind {
    fn from(kind: DeliveryKind) -> proto::DeliveryKind {
        match kind {
            DeliveryKind::Dispatched => proto::DeliveryKind::Dispatched,
            DeliveryKind::Redispatched => proto::DeliveryKind::Redispatched,
            DeliveryKind::Supervision => proto::DeliveryKind::Supervision,
            DeliveryKind::CoHandling => proto::DeliveryKind::CoHandling,
            DeliveryKind::ReturnUpheld => proto::DeliveryKind::ReturnUpheld,
        }
    }
}

/// A ticket view on the wire. Callers pass a view already masked for the department.
pub fn ticket(view: &TicketView) -> proto::Ticket {
    proto::Ticket {
        ticket_no: view.ticket_no.to_string(),
        status: view.status.as_str().to_owned(),
        channel: view.channel.as_str().to_owned(),
        request_type: view.request_type.as_str().to_owned(),
        service_code: view
            .service_code
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        description: view.description.clone(),
        location: Some(proto::Location {
            address: view.location.address.clone().unwrap_or_default(),
            address_id: view.location.address_id.clone().unwrap_or_default(),
            lat: view.location.lat,
            long: view.location.long,
        }),
        citizen: Some(proto::Citizen {
            name: view.citizen.name.clone().unwrap_or_default(),
            phone: view.citizen.phone.clone().unwrap_or_default(),
            email: view.citizen.email.clone().unwrap_or_default(),
        }),
        confidential: view.confidential,
        lead: view
            .lead
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        co: view.co.iter().map(|c| c.as_str().to_owned()).collect(),
        attributes: view
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), proto::Values { values: v.clone() }))
            .collect::<HashMap<_, _>>(),
        media_url: view.media_url.clone().unwrap_or_default(),
        created_at: Some(to_timestamp(view.created_at)),
        updated_at: Some(to_timestamp(view.updated_at)),
    }
}

pub fn actor(actor: &Actor) -> String {
    match actor {
        Actor::Citizen { channel } => format!("citizen:{}", channel.as_str()),
        Actor::Agent { id } => format!("agent:{id}"),
        Actor::Department { code } => format!("department:{code}"),
        Actor::System { service } => format!("system:{service}"),
    }
}

pub fn history_entry(entry: &HistoryEntry) -> proto::HistoryEntry {
    proto::HistoryEntry {
        seq: entry.seq,
        at: Some(to_timestamp(entry.at)),
        actor: actor(&entry.actor),
        step: entry.step.clone(),
        from: entry
            .from
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        to: entry.to.as_str().to_owned(),
        action_json: entry
            .action
            .as_ref()
            .and_then(|a| serde_json::to_string(a).ok())
            .unwrap_or_default(),
    }
}

pub fn assignment(a: &Assignment, delivery_id: &str, attempt: u32) -> proto::Assignment {
    proto::Assignment {
        delivery_id: delivery_id.to_owned(),
        kind: proto::DeliveryKind::from(a.kind) as i32,
        // Masked when forwarded; masked again so that no path can skip it.
        ticket: Some(ticket(&a.ticket.for_department())),
        note: a.note.clone(),
        seq: a.seq,
        traceparent: a.traceparent.clone().unwrap_or_default(),
        event_id: a.event_id.to_string(),
        at: Some(to_timestamp(a.at)),
        delivery_attempt: attempt,
        department: a.department.as_str().to_owned(),
    }
}

pub fn action_reply(c: &CommandAccepted) -> proto::ActionReply {
    proto::ActionReply {
        ticket_no: c.ticket_no.to_string(),
        status: c.status.as_str().to_owned(),
        seq: c.seq,
        replayed: c.replayed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignment::tests::{code, event};
    use crate::assignment::{assignment_for, route};
    use crate::error::ErrorKind;

    #[test]
    fn bad_ids_and_texts_are_invalid_arguments() {
        let e = ticket_no("12345").expect_err("short");
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(e.to_status().code(), tonic::Code::InvalidArgument);
        let good = TicketNo::compose(261129, 7).expect("no");
        assert_eq!(ticket_no(&format!(" {good} ")).expect("parses"), good);
        assert_eq!(
            return_action("  ").expect_err("empty").kind,
            ErrorKind::Invalid
        );
        assert!(reply_action(&"字".repeat(MAX_TEXT_CHARS + 1)).is_err());
        let nul = reply_action("done\0").expect_err("NUL");
        assert_eq!(nul.kind, ErrorKind::Invalid);
        assert!(return_action("wrong\u{1b}[2J department").is_err());
        assert!(progress_action("line 1\r\n\tline 2").is_ok());
        assert!(reply_action(&"字".repeat(MAX_TEXT_CHARS)).is_ok());
        assert_eq!(
            complete_action("").expect("optional note"),
            Action::Complete {
                note: String::new()
            }
        );
        assert!(redispatch_action("gz th", "").is_err());
        assert_eq!(
            information_action(" ").expect_err("empty").kind,
            ErrorKind::Invalid
        );
        assert_eq!(
            information_action(" which floor? ").expect("ok"),
            Action::RequestInformation {
                question: "which floor?".into()
            }
        );
        assert!(matches!(
            redispatch_action("GZ-TH-SP", " go "),
            Ok(Action::Redispatch { note, .. }) if note == "go"
        ));
    }

    #[test]
    fn request_ids_are_namespaced_per_department() {
        let th = code("GZ-TH");
        assert_eq!(request_key(&th, "r-1").expect("ok"), "gw:GZ-TH:r-1");
        assert_ne!(
            request_key(&th, "r-1").expect("ok"),
            request_key(&code("GZ-ZJ"), "r-1").expect("ok")
        );
        let generated = request_key(&th, "").expect("generated");
        assert!(generated.starts_with("gw:GZ-TH:"));
        assert_ne!(generated, request_key(&th, "").expect("generated"));
        assert!(request_key(&th, "has space").is_err());
        assert!(request_key(&th, &"x".repeat(MAX_REQUEST_ID_LEN + 1)).is_err());
    }

    #[test]
    fn times_convert_both_ways_and_bad_ones_are_refused() {
        let t = rfc3339("until", "2026-12-01T18:00:00+08:00").expect("parses");
        assert_eq!(t.to_rfc3339(), "2026-12-01T10:00:00+00:00");
        let ts = to_timestamp(t);
        assert_eq!(from_timestamp("until", Some(&ts)).expect("back"), t);
        assert!(rfc3339("until", "tomorrow").is_err());
        assert!(from_timestamp("until", None).is_err());
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(from_timestamp("until", Some(&bad)).is_err());
        let t = prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 5,
        };
        assert_eq!(to_timestamp(from_timestamp("t", Some(&t)).expect("ok")), t);
    }

    #[test]
    fn statuses_and_limits_parse() {
        assert_eq!(
            statuses(&["dispatched", " accepted ", ""]).expect("ok"),
            vec![Status::Dispatched, Status::Accepted]
        );
        assert!(statuses(&["open"]).is_err());
        assert_eq!(limit(0), DEFAULT_LIST_LIMIT);
        assert_eq!(limit(7), 7);
        assert_eq!(limit(10_000), MAX_LIST_LIMIT);
    }

    #[test]
    fn assignments_on_the_wire_keep_masking_kind_and_seq() {
        let e = event(
            11,
            Action::Dispatch {
                lead: code("GZ-TH"),
                co: vec![code("GZ-ZJ")],
                note: "n".into(),
            },
            Status::Dispatched,
            Some("GZ-TH"),
            &["GZ-ZJ"],
            true,
        );
        let targets = route(&e);
        let co = assignment_for(&e, &targets[1], Some("tp".into()));
        let wire = assignment(&co, "42.1", 1);
        assert_eq!(wire.kind, proto::DeliveryKind::CoHandling as i32);
        assert_eq!(wire.seq, 3);
        assert_eq!(wire.delivery_id, "42.1");
        assert_eq!(wire.department, "GZ-ZJ");
        assert_eq!(wire.traceparent, "tp");
        let t = wire.ticket.expect("ticket");
        assert_eq!(t.status, "dispatched");
        assert_eq!(t.lead, "GZ-TH");
        assert_eq!(t.co, vec!["GZ-ZJ".to_owned()]);
        assert!(t.confidential);
        assert_eq!(t.citizen, Some(proto::Citizen::default()));
        assert_eq!(t.location.expect("loc").address, "天河路 1 号");
        // Even an assignment that somehow carries contact details is masked on the way out.
        let mut leaky = co.clone();
        leaky.ticket.citizen.phone = Some("13800138000".into());
        let t = assignment(&leaky, "1.1", 1).ticket.expect("ticket");
        assert_eq!(t.citizen.expect("citizen").phone, "");
    }

    #[test]
    fn history_names_actors_without_guesswork() {
        let e = event(
            12,
            Action::Accept,
            Status::Accepted,
            Some("GZ-TH"),
            &[],
            false,
        );
        let mut entry = e.entry.clone();
        entry.actor = Actor::Department {
            code: code("GZ-TH"),
        };
        let wire = history_entry(&entry);
        assert_eq!(wire.actor, "department:GZ-TH");
        assert_eq!(wire.step, "accept");
        assert_eq!(wire.from, "received");
        assert_eq!(wire.to, "accepted");
        assert!(wire.action_json.contains("\"accept\""));
    }
}
