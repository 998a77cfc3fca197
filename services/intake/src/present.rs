//! Tickets and catalogue entries as Open311 shows them to the public.
//!
//! The public sees no contact details ever, and for a confidential ticket (保密) not what the
//! citizen wrote, where (address, coordinates) or the department's notes (replies, progress,
//! completion) either: GET `requests` needs no api key.
//! Internal steps (supervision orders, extension requests, the reason a department returned a
//! ticket) are never shown.

use chrono::FixedOffset;
use hotline_domain::contract::{
    AttributeType, CatalogueService, HistoryEntry, TicketUpdate, TicketView,
};
use hotline_domain::ticket::{EmergencyService, RejectRule, ReturnDecision};
use hotline_domain::{Action, Status};

use crate::catalogue::Snapshot;
use crate::query::render_datetime;
use crate::wire::{
    AttributeOut, RequestUpdateOut, ServiceDefinitionOut, ServiceOut, ServiceRequestOut, ValueOut,
};

pub fn service(s: &CatalogueService) -> ServiceOut {
    ServiceOut {
        service_code: s.code.to_string(),
        service_name: s.name.clone(),
        description: s.description.clone(),
        metadata: s.attributes.iter().any(|a| a.variable),
        kind: "realtime",
        keywords: s.keywords.join(", "),
        group: s.group.clone(),
    }
}

pub fn definition(s: &CatalogueService) -> ServiceDefinitionOut {
    let mut attributes: Vec<AttributeOut> = s
        .attributes
        .iter()
        .map(|a| AttributeOut {
            variable: a.variable,
            code: a.code.clone(),
            datatype: datatype(a.datatype),
            required: a.required,
            datatype_description: None,
            order: a.order,
            description: a.description.clone(),
            values: a
                .values
                .iter()
                .map(|v| ValueOut {
                    key: v.key.clone(),
                    name: v.name.clone(),
                })
                .collect(),
        })
        .collect();
    attributes.sort_by_key(|a| a.order);
    ServiceDefinitionOut {
        service_code: s.code.to_string(),
        attributes,
    }
}

fn datatype(t: AttributeType) -> &'static str {
    match t {
        AttributeType::String => "string",
        AttributeType::Number => "number",
        AttributeType::Datetime => "datetime",
        AttributeType::Text => "text",
        AttributeType::Singlevaluelist => "singlevaluelist",
        AttributeType::Multivaluelist => "multivaluelist",
    }
}

/// One ticket as an Open311 service request. `history` gives `status_notes`.
pub fn service_request(
    view: &TicketView,
    history: &[HistoryEntry],
    catalogue: Option<&Snapshot>,
    offset: FixedOffset,
) -> ServiceRequestOut {
    // Built from fields one by one: the citizen's contact details are never read here.
    let service_name = view
        .service_code
        .as_ref()
        .and_then(|code| catalogue.and_then(|c| c.get(code)))
        .map(|s| s.name.clone());
    let open_text = !view.confidential;
    ServiceRequestOut {
        service_request_id: view.ticket_no.to_string(),
        status: if view.status.is_open_for_citizen() {
            "open"
        } else {
            "closed"
        },
        status_notes: if open_text {
            status_notes(history)
        } else {
            None
        },
        service_name,
        service_code: view.service_code.as_ref().map(|c| c.to_string()),
        description: open_text.then(|| view.description.clone()),
        agency_responsible: view.lead.as_ref().map(|d| d.to_string()),
        service_notice: None,
        requested_datetime: render_datetime(view.created_at, offset),
        updated_datetime: render_datetime(view.updated_at, offset),
        expected_datetime: None,
        // Where a confidential request is would often say who made it.
        address: open_text.then(|| view.location.address.clone()).flatten(),
        address_id: open_text
            .then(|| view.location.address_id.clone())
            .flatten(),
        zipcode: None,
        lat: open_text.then_some(view.location.lat).flatten(),
        long: open_text.then_some(view.location.long).flatten(),
        media_url: if open_text {
            view.media_url.clone()
        } else {
            None
        },
    }
}

/// The latest thing the centre or the department said to the citizen. Completion notes are the
/// department's own record, so the reply (答复) stays the note once a ticket is completed.
pub fn status_notes(history: &[HistoryEntry]) -> Option<String> {
    history.iter().rev().find_map(|entry| match &entry.action {
        Some(Action::Answer { answer, .. }) => Some(answer.clone()),
        Some(Action::Reply { text }) => Some(text.clone()),
        Some(Action::AddProgress { note }) => Some(note.clone()),
        Some(
            action @ (Action::Reject { .. } | Action::Emergency { .. } | Action::Merge { .. }),
        ) => Some(describe(action)),
        _ => None,
    })
}

/// One history step as a FixMyStreet update, or `None` for steps the public does not see.
pub fn request_update(
    update: &TicketUpdate,
    view_confidential: bool,
    offset: FixedOffset,
) -> Option<RequestUpdateOut> {
    let entry = &update.entry;
    let action = entry.action.as_ref()?;
    if matches!(
        action,
        Action::Supervise { .. } | Action::RequestExtension { .. } | Action::DecideExtension { .. }
    ) {
        return None;
    }
    let description = match action {
        // The citizen's own request was confidential: say what happened, not what was written.
        Action::Answer { .. }
        | Action::Reply { .. }
        | Action::AddProgress { .. }
        | Action::Complete { .. }
            if view_confidential =>
        {
            generic(action)
        }
        _ => describe(action),
    };
    Some(RequestUpdateOut {
        update_id: format!("{}-{}", update.ticket_no, entry.seq),
        service_request_id: update.ticket_no.to_string(),
        status: fixmystreet_status(update.status_after),
        updated_datetime: render_datetime(entry.at, offset),
        description,
        media_url: None,
    })
}

/// FixMyStreet's update statuses.
pub fn fixmystreet_status(status: Status) -> &'static str {
    match status {
        // Waiting on the citizen's answer (补充材料): the ball is in the citizen's court.
        Status::Received | Status::Reopened | Status::AwaitingCitizen => "open",
        Status::Dispatched | Status::Returned | Status::Accepted => "investigating",
        Status::InProgress | Status::Replied => "in_progress",
        Status::Completed | Status::Surveyed => "fixed",
        Status::Answered | Status::Closed => "closed",
        Status::Rejected => "not_councils_responsibility",
        Status::Emergency => "internal_referral",
        Status::Merged => "duplicate",
    }
}

/// What a step means to the citizen; text written for the citizen is passed on as it is.
fn describe(action: &Action) -> String {
    match action {
        Action::Answer { answer, .. } => answer.clone(),
        Action::Reply { text } => text.clone(),
        Action::AddProgress { note } => note.clone(),
        Action::Complete { note } if !note.trim().is_empty() => note.clone(),
        Action::Reject { rule, .. } => format!("Not accepted: {}", reject_rule(*rule)),
        Action::Emergency { service, .. } => format!(
            "Handed to the emergency service {}",
            match service {
                EmergencyService::Police110 => "110 (police)",
                EmergencyService::Fire119 => "119 (fire)",
                EmergencyService::Ambulance120 => "120 (ambulance)",
            }
        ),
        Action::Merge { into } => format!("Merged into request {into} on the same matter"),
        // The other request's number is its citizen's business: say only that it was joined.
        Action::MergedFrom { .. } => {
            "Another request on the same matter was merged into this one".to_owned()
        }
        Action::Dispatch { lead, .. } => format!("Sent to the responsible department {lead}"),
        Action::Redispatch { to, .. } => format!("Passed to {to}"),
        Action::ReviewReturn {
            ruling: ReturnDecision::Redispatch { lead, .. },
            ..
        } => format!("Sent to the responsible department {lead}"),
        other => generic(other),
    }
}

fn generic(action: &Action) -> String {
    match action {
        Action::Answer { .. } => "Answered",
        Action::Reply { .. } => "The department replied",
        Action::AddProgress { .. } => "Work in progress",
        Action::Accept => "The department accepted the request",
        Action::Return { .. } | Action::ReviewReturn { .. } => "Under review by the hotline centre",
        Action::Complete { .. } => "Completed",
        Action::Survey { .. } => "Follow-up call recorded",
        Action::Close => "Closed",
        Action::Reopen { .. } => "Reopened for further work",
        _ => "Updated",
    }
    .to_owned()
}

fn reject_rule(rule: RejectRule) -> &'static str {
    match rule {
        RejectRule::Litigation => "the matter is before a court",
        RejectRule::Arbitration => "the matter is in arbitration",
        RejectRule::Petition => "the matter belongs to the petition (信访) channel",
        RejectRule::StateSecret => "the matter involves state secrets",
        RejectRule::Privacy => "the matter concerns another person's privacy",
        RejectRule::OutOfJurisdiction => "the matter is outside the city's jurisdiction",
        RejectRule::NoSubstance => "the request has no substantive content",
        RejectRule::DisciplineInspection => {
            "the matter belongs to the discipline inspection and supervision organs (12388)"
        }
        RejectRule::AdministrativeReview => {
            "the decision can be contested by applying for administrative review"
        }
        RejectRule::InformationDisclosure => {
            "government information is requested through the open-government-information procedure"
        }
        RejectRule::TradeSecret => "the matter concerns another party's trade secrets",
        RejectRule::PublicOrder => "the request runs against public order and good morals",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{entry, ticket_view};
    use hotline_domain::{Actor, DeptCode};

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).expect("offset")
    }

    #[test]
    fn public_requests_carry_no_contact_details() {
        let view = ticket_view(1, Status::Replied);
        let out = service_request(&view, &[], None, cst());
        let json = serde_json::to_string(&out).expect("json");
        assert!(!json.contains("13800138000"), "{json}");
        assert!(!json.contains("li@example.org"), "{json}");
        assert!(!json.contains("Zhang"), "{json}");
        assert_eq!(out.status, "open");
        assert_eq!(out.agency_responsible.as_deref(), Some("GZ-TH"));
        assert_eq!(out.description.as_deref(), Some("loud music at night"));
        assert!(out.requested_datetime.ends_with("+08:00"));
        assert_eq!(out.zipcode, None);
    }

    #[test]
    fn confidential_requests_hide_what_was_written() {
        let mut view = ticket_view(1, Status::Replied);
        view.confidential = true;
        let history = [entry(
            3,
            Actor::Department {
                code: DeptCode::parse("GZ-TH").expect("code"),
            },
            Action::Reply {
                text: "We spoke to your neighbour at No. 5".into(),
            },
            Status::Replied,
        )];
        let out = service_request(&view, &history, None, cst());
        assert_eq!(out.description, None);
        assert_eq!(out.status_notes, None);
        assert_eq!(out.media_url, None);
        assert_eq!(out.status, "open");
        assert_eq!((out.address, out.address_id), (None, None));
        assert_eq!((out.lat, out.long), (None, None));
    }

    #[test]
    fn confidential_updates_hide_completion_notes() {
        let complete = TicketUpdate {
            ticket_no: hotline_domain::TicketNo::compose(261202, 7).expect("no"),
            status_after: Status::Completed,
            entry: entry(
                4,
                Actor::Department {
                    code: DeptCode::parse("GZ-TH").expect("code"),
                },
                Action::Complete {
                    note: "Fixed the leak at Room 1203, Building 5".into(),
                },
                Status::Completed,
            ),
        };
        let open = request_update(&complete, false, cst()).expect("shown");
        assert!(open.description.contains("Room 1203"));
        let hidden = request_update(&complete, true, cst()).expect("shown");
        assert_eq!(hidden.description, "Completed");
    }

    #[test]
    fn a_merge_into_the_request_is_told_without_the_other_number() {
        let other = hotline_domain::TicketNo::compose(261204, 9).expect("no");
        let update = TicketUpdate {
            ticket_no: hotline_domain::TicketNo::compose(261204, 7).expect("no"),
            status_after: Status::Dispatched,
            entry: entry(
                3,
                Actor::Agent { id: "a1".into() },
                Action::MergedFrom { from: other },
                Status::Dispatched,
            ),
        };
        let out = request_update(&update, false, cst()).expect("shown");
        assert!(out.description.contains("merged into this one"));
        assert!(!out.description.contains(&other.to_string()));
    }

    #[test]
    fn status_notes_are_the_latest_public_text() {
        let dept = Actor::Department {
            code: DeptCode::parse("GZ-TH").expect("code"),
        };
        let centre = Actor::system("dispatch");
        let history = vec![
            entry(
                2,
                centre.clone(),
                Action::Dispatch {
                    lead: DeptCode::parse("GZ-TH").expect("code"),
                    co: vec![],
                    note: "internal: sensitive".into(),
                },
                Status::Dispatched,
            ),
            entry(
                3,
                dept.clone(),
                Action::AddProgress {
                    note: "Inspector sent".into(),
                },
                Status::InProgress,
            ),
            entry(
                4,
                dept.clone(),
                Action::Reply {
                    text: "Noise stopped".into(),
                },
                Status::Replied,
            ),
            entry(
                5,
                centre.clone(),
                Action::Supervise {
                    note: "hurry".into(),
                },
                Status::Replied,
            ),
            entry(
                6,
                dept,
                Action::Complete { note: "".into() },
                Status::Completed,
            ),
        ];
        assert_eq!(status_notes(&history).as_deref(), Some("Noise stopped"));
        assert_eq!(
            status_notes(&history[..1]),
            None,
            "dispatch notes are internal"
        );
    }

    #[test]
    fn updates_use_fixmystreet_statuses_and_skip_internal_steps() {
        let no = hotline_domain::TicketNo::compose(261129, 1).expect("no");
        let update = |seq, action, status| TicketUpdate {
            ticket_no: no,
            entry: entry(seq, Actor::system("x"), action, status),
            status_after: status,
        };
        let reply = update(
            4,
            Action::Reply {
                text: "Fixed the lamp".into(),
            },
            Status::Replied,
        );
        let out = request_update(&reply, false, cst()).expect("public");
        assert_eq!(out.update_id, format!("{no}-4"));
        assert_eq!(out.status, "in_progress");
        assert_eq!(out.description, "Fixed the lamp");
        let hidden = request_update(&reply, true, cst()).expect("public");
        assert_eq!(hidden.description, "The department replied");
        let returned = update(
            3,
            Action::Return {
                reason: "not ours, ask Li at x1234".into(),
            },
            Status::Returned,
        );
        assert_eq!(
            request_update(&returned, false, cst())
                .expect("public")
                .description,
            "Under review by the hotline centre"
        );
        let supervise = update(
            5,
            Action::Supervise {
                note: "late".into(),
            },
            Status::Replied,
        );
        assert_eq!(request_update(&supervise, false, cst()), None);
        assert_eq!(fixmystreet_status(Status::Completed), "fixed");
        assert_eq!(fixmystreet_status(Status::Merged), "duplicate");
        assert_eq!(
            fixmystreet_status(Status::Rejected),
            "not_councils_responsibility"
        );
    }
}
