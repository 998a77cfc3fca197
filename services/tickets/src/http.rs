//! The centre's HTTP API (port 8081): the centre's people read tickets and take the centre's
//! steps (answer, reject, review a return, decide an extension, supervise, survey, close,
//! reopen, dispatch); department staff read and act on their department's tickets.
//!
//! Every route takes `Authorization: Bearer <JWT>` (hotline_auth): the actor recorded in the
//! ledger is the token's subject. Which role may take which step is [`may_take`]; docs/roles.md
//! is the table. Contact details are masked in every read; `POST /v1/tickets/{no}/reveal` shows
//! them, one audited call at a time ([`crate::reveal`]), and so does a search by phone number.
//!
//! `GET /v1/tickets` lists tickets newest first (`status`, `department`, `service_code`, `from`,
//! `to`, `limit`); a returned ticket's row adds `last_return` (`at`, `department`, `reason`: its
//! latest `return` step, the one waiting for review), read for the whole list in one statement.
//! A ticket whose lead asked for more time that the centre has not decided says
//! `extension_pending: true` (the ledger's state; absent otherwise).
//!
//! `GET /v1/messages`: the newest contacts that arrived by message, for the agent desk's live
//! panel ([`crate::messages`]), masked, for the centre's people only.
//!
//! 并单: `GET /v1/tickets/{no}/duplicates` and `POST /v1/duplicates` (a draft) suggest the open
//! tickets likely on the same matter ([`crate::duplicates`]), masked like every list; the
//! merge is the `merge` step.

use std::time::Duration;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use hotline_auth::{Authorized, Policy, Principal, Role, Verifier};
use hotline_bus::Bus;
use hotline_domain::contract::{
    GetTicket, TicketCommand, TicketQuery, TicketView, TicketWithHistory,
};
use hotline_domain::{Action, DeptCode, ServiceCode, Status, TicketNo};
use hotline_runtime::ApiError;
use serde::{Deserialize, Serialize};

use crate::duplicates::{Candidate, Draft, DraftBody, Finder};
use crate::ledger::Ledger;
use crate::reveal::{self, RevealLog};
use crate::store::{LastReturn, Store};

#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub store: Store,
    pub bus: Bus,
    pub verifier: Verifier,
    pub reveals: RevealLog,
    pub duplicates: Finder,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(s: &AppState) -> Verifier {
        s.verifier.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tickets", get(list))
        .route("/v1/tickets/{no}", get(one))
        .route("/v1/tickets/{no}/actions", post(act))
        .route("/v1/tickets/{no}/reveal", post(reveal_contact))
        .route("/v1/reveals", get(list_reveals))
        .route("/v1/hotspots", get(hotspots))
        .route("/v1/messages", get(messages))
        .route("/v1/tickets/{no}/duplicates", get(ticket_duplicates))
        .route("/v1/duplicates", post(draft_duplicates))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(10),
        ))
        .with_state(state)
}

/// Reading tickets: the centre's people and department staff (their department's only).
pub struct ReadTickets;
impl Policy for ReadTickets {
    const ROLES: &'static [Role] = &[
        Role::Agent,
        Role::Dispatcher,
        Role::Supervisor,
        Role::Admin,
        Role::DepartmentStaff,
    ];
    const WHAT: &'static str = "read tickets";
}

/// Acting on a ticket: the same people; [`may_take`] then decides per step.
pub type ActOnTickets = ReadTickets;

/// Revealing a citizen's contact: agents (who call back), supervisors, administrators, and
/// department staff for their department's tickets that are not confidential.
pub struct RevealContact;
impl Policy for RevealContact {
    const ROLES: &'static [Role] = &[
        Role::Agent,
        Role::Supervisor,
        Role::Admin,
        Role::DepartmentStaff,
    ];
    const WHAT: &'static str = "reveal a citizen's contact details";
}

/// Finding duplicates (并单): the people who merge (`merge` is theirs, see [`may_take`]).
pub struct FindDuplicates;
impl Policy for FindDuplicates {
    const ROLES: &'static [Role] = &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "look for duplicate tickets";
}

/// 社情民意: the counts by matter class and district (no ticket, no citizen in them).
pub struct ReadHotspots;
impl Policy for ReadHotspots {
    const ROLES: &'static [Role] = &[Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "read the hotspot counts";
}

/// The newest contacts by message (the agent desk's live panel): the centre's people, who
/// answer any ticket. Department staff are refused: the list spans every department's tickets.
pub struct ReadMessages;
impl Policy for ReadMessages {
    const ROLES: &'static [Role] = &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "read the contacts that arrived by message";
}

/// Reading the audit of reveals.
pub struct ReadRevealAudit;
impl Policy for ReadRevealAudit {
    const ROLES: &'static [Role] = &[Role::Supervisor, Role::Admin];
    const WHAT: &'static str = "read the audit of reveals";
}

/// Whether `who` may take `action` (before the ledger's own rules of state and handler).
pub fn may_take(who: &Principal, action: &Action) -> bool {
    use Action as A;
    let department_step = matches!(
        action,
        A::Accept
            | A::Return { .. }
            | A::AddProgress { .. }
            | A::RequestInformation { .. }
            | A::RequestExtension { .. }
            | A::Reply { .. }
            | A::Complete { .. }
            | A::Redispatch { .. }
    );
    if department_step {
        // A department's steps are the department's: its staff, recorded as the department.
        return who.limited_to_department().is_some();
    }
    let roles: &[Role] = match action {
        A::Answer { .. }
        | A::Reject { .. }
        | A::Emergency { .. }
        | A::ProvideInformation { .. }
        | A::Supplement { .. }
        | A::Survey { .. }
        | A::SurveyUnreachable { .. } => &[Role::Agent, Role::Supervisor, Role::Admin],
        A::Merge { .. } => &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin],
        A::Release => &[Role::Agent, Role::Dispatcher, Role::Supervisor, Role::Admin],
        A::Dispatch { .. } => &[Role::Dispatcher, Role::Supervisor, Role::Admin],
        A::ReviewReturn { .. } => &[Role::Dispatcher, Role::Supervisor, Role::Admin],
        A::DecideExtension { .. } | A::Supervise { .. } | A::Conclude { .. } => {
            &[Role::Supervisor, Role::Admin]
        }
        A::Close | A::Reopen { .. } => &[Role::Agent, Role::Supervisor, Role::Admin],
        _ => &[],
    };
    who.has_any(roles)
}

fn parse_no(raw: &str) -> Result<TicketNo, ApiError> {
    TicketNo::parse(raw).map_err(|e| ApiError::invalid(e.to_string()))
}

fn forbidden(message: &str) -> ApiError {
    ApiError::forbidden(message)
}

/// A ticket as `who` may read it: a department's staff only their department's (the store
/// refuses others with 403) and never the citizen of a confidential one; contact masked.
async fn read_ticket(
    state: &AppState,
    who: &Principal,
    ticket_no: TicketNo,
) -> Result<TicketWithHistory, ApiError> {
    let mut found = state
        .store
        .get(&GetTicket {
            ticket_no,
            as_department: who.limited_to_department().cloned(),
        })
        .await?;
    found.ticket.citizen = found.ticket.citizen.masked();
    Ok(found)
}

async fn one(
    who: Authorized<ReadTickets>,
    State(state): State<AppState>,
    Path(no): Path<String>,
) -> Result<Response, ApiError> {
    let ticket_no = parse_no(&no)?;
    Ok(Json(read_ticket(&state, &who, ticket_no).await?).into_response())
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    department: Option<String>,
    service_code: Option<String>,
    phone: Option<String>,
    /// Why a phone search is made (required with `phone`; audited).
    reason: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
}

/// One row of `GET /v1/tickets`: the ticket as before, and on a returned ticket the return
/// waiting for review (an added field, absent elsewhere, so older readers are unaffected).
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    ticket: TicketView,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_return: Option<LastReturn>,
}

fn reason_of(raw: Option<&str>) -> Result<String, ApiError> {
    let reason = raw.map(str::trim).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > reveal::MAX_REASON_CHARS {
        return Err(ApiError::invalid(format!(
            "say why (reason, 1-{} characters): every unmasking is audited",
            reveal::MAX_REASON_CHARS
        )));
    }
    hotline_domain::text::check("reason", reason).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(reason.to_owned())
}

async fn list(
    who: Authorized<ReadTickets>,
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let invalid = |m: String| ApiError::invalid(m);
    let statuses = match &p.status {
        Some(s) => s
            .split(',')
            .map(|x| {
                Status::parse(x.trim()).ok_or_else(|| invalid(format!("unknown status {x:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let mut department = p
        .department
        .as_deref()
        .map(DeptCode::parse)
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(own) = who.limited_to_department() {
        // Department staff list their department's tickets (as the department sees them).
        if department.as_ref().is_some_and(|d| d != own) {
            return Err(forbidden(
                "department staff see only their department's tickets",
            ));
        }
        department = Some(own.clone());
    }
    let service_code = p
        .service_code
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(ServiceCode::parse)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    // A search by phone number finds a person's tickets: only roles that may reveal, with a
    // reason, audited before anything is returned.
    let phone = p.phone.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let reason = match phone {
        Some(_) if !who.may_reveal() => {
            return Err(forbidden(
                "searching by phone number needs a role that may reveal contact details",
            ));
        }
        Some(_) => Some(reason_of(p.reason.as_deref())?),
        None => None,
    };
    let query = TicketQuery {
        ticket_nos: Vec::new(),
        statuses,
        service_code,
        department,
        citizen_phone: phone.map(str::to_owned),
        created_from: p.from,
        created_to: p.to,
        limit: p.limit,
    };
    let tickets = state.store.list(&query).await?;
    if let Some(reason) = reason {
        state
            .reveals
            .record(
                &who,
                reveal::Kind::PhoneSearch,
                None,
                phone,
                Some(tickets.len()),
                &reason,
            )
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    // A returned ticket's row carries the return under review (the reason the review pages
    // show), read for the whole page in one statement; lists without one pay nothing. Whoever
    // may list the ticket may read its history, so this shows them nothing new.
    let returned: Vec<TicketNo> = tickets
        .iter()
        .filter(|t| t.status == Status::Returned)
        .map(|t| t.ticket_no)
        .collect();
    let mut returns = state
        .store
        .last_returns(&returned)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // Lists never show contact details (docs/roles.md); a department never sees the
    // citizen of a confidential ticket (the store's department view already dropped it).
    let listed: Vec<Listed> = tickets
        .into_iter()
        .map(|mut t| {
            t.citizen = t.citizen.masked();
            Listed {
                last_return: returns.remove(&t.ticket_no),
                ticket: t,
            }
        })
        .collect();
    Ok(Json(listed).into_response())
}

async fn act(
    who: Authorized<ActOnTickets>,
    State(state): State<AppState>,
    Path(no): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ticket_no = parse_no(&no)?;
    // One parser for an action from outside: JSON shape and the characters of every text
    // (a NUL would otherwise reach Postgres).
    let action: Action = hotline_domain::text::action_from_json(&body)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if !may_take(&who, &action) {
        return Err(forbidden(&format!(
            "your roles do not allow the step {:?}",
            action.name()
        )));
    }
    let Some(actor) = who.actor() else {
        return Err(forbidden("your roles act on no ticket"));
    };
    if who.limited_to_department().is_some() {
        // Department staff act only on their department's tickets: the same check as reading.
        read_ticket(&state, &who, ticket_no).await?;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .map(|k| format!("person:{}:{k}", who.subject))
        .unwrap_or_else(|| format!("person:{}", uuid::Uuid::now_v7()));
    let command = TicketCommand::Act {
        idempotency_key: key,
        actor,
        ticket_no,
        action,
    };
    let accepted = state.ledger.execute(command).await?;
    Ok(Json(accepted).into_response())
}

#[derive(Deserialize)]
struct RevealBody {
    reason: String,
}

/// Shows a ticket's contact details unmasked, once, recorded in the audit first.
async fn reveal_contact(
    who: Authorized<RevealContact>,
    State(state): State<AppState>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ticket_no = parse_no(&no)?;
    let b: RevealBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("expected {{\"reason\": ...}}: {e}")))?;
    let reason = reason_of(Some(&b.reason))?;
    let found = state
        .store
        .get(&GetTicket {
            ticket_no,
            as_department: who.limited_to_department().cloned(),
        })
        .await?;
    if who.limited_to_department().is_some() && found.ticket.confidential {
        // 保密: the department never learns who the citizen is.
        return Err(forbidden(
            "this ticket is confidential: its citizen is not shown to departments",
        ));
    }
    state
        .reveals
        .record(
            &who,
            reveal::Kind::Contact,
            Some(ticket_no),
            None,
            None,
            &reason,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(ticket = %ticket_no, subject = %who.subject, "contact revealed");
    Ok(Json(serde_json::json!({
        "ticket_no": ticket_no,
        "citizen": found.ticket.citizen,
        "confidential": found.ticket.confidential,
    }))
    .into_response())
}

/// Suggestions with their tickets masked, as every list of this API.
fn masked(candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates
        .into_iter()
        .map(|mut c| {
            c.ticket.citizen = c.ticket.citizen.masked();
            c
        })
        .collect()
}

/// The likely duplicates of a stored ticket: the same citizen, or the same place and matter.
async fn ticket_duplicates(
    _who: Authorized<FindDuplicates>,
    State(state): State<AppState>,
    Path(no): Path<String>,
) -> Result<Response, ApiError> {
    let ticket_no = parse_no(&no)?;
    let found = state
        .store
        .get(&GetTicket {
            ticket_no,
            as_department: None,
        })
        .await?;
    let candidates = state
        .duplicates
        .find(&Draft::of_ticket(&found.ticket))
        .await?;
    Ok(Json(serde_json::json!({
        "ticket_no": ticket_no,
        "candidates": masked(candidates),
    }))
    .into_response())
}

/// The likely duplicates of what an agent is writing (phone, account, address or coordinates,
/// matter code, description), before the ticket exists.
async fn draft_duplicates(
    who: Authorized<FindDuplicates>,
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: DraftBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("a draft: {e}")))?;
    // Matching a phone number or an account finds a person's tickets: the roles that may search
    // by phone number (a dispatcher works with stored tickets, whose own contact is used).
    let by_person = body.phone.as_deref().is_some_and(|p| !p.trim().is_empty())
        || body
            .account_id
            .as_deref()
            .is_some_and(|a| !a.trim().is_empty());
    if by_person && !who.may_reveal() {
        return Err(forbidden(
            "matching a draft by phone number or account needs a role that may reveal contact details",
        ));
    }
    let draft = Draft::parse(body)?;
    let candidates = state.duplicates.find(&draft).await?;
    Ok(Json(serde_json::json!({ "candidates": masked(candidates) })).into_response())
}

#[derive(Deserialize)]
struct RevealParams {
    ticket_no: Option<String>,
    subject: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
}

/// The audit: who revealed what, when and why.
async fn list_reveals(
    _who: Authorized<ReadRevealAudit>,
    State(state): State<AppState>,
    Query(p): Query<RevealParams>,
) -> Result<Response, ApiError> {
    let filter = reveal::Filter {
        ticket_no: p.ticket_no.as_deref().map(parse_no).transpose()?,
        subject: p.subject,
        from: p.from,
        to: p.to,
        limit: p.limit.unwrap_or(200),
    };
    let reveals = state
        .reveals
        .list(&filter)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({ "reveals": reveals })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesParams {
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /v1/messages[?limit=]`: the newest contacts that arrived by message ([`crate::messages`]:
/// new tickets from every channel but the phone, the citizens' additions by message), newest
/// first, `limit` 1-50 (20 when not given); contacts masked.
async fn messages(
    _who: Authorized<ReadMessages>,
    State(state): State<AppState>,
    params: Result<Query<MessagesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::invalid(e.body_text()))?;
    let limit = p.limit.unwrap_or(crate::messages::DEFAULT_LIMIT);
    if !(1..=crate::messages::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be 1-{}",
            crate::messages::MAX_LIMIT
        )));
    }
    let found = crate::messages::newest(state.store.pool(), limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({ "messages": found })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HotspotParams {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// `matter_district` (default), `channel`, or `backlog` (open tickets by lead department).
    #[serde(default)]
    by: Option<String>,
}

/// `GET /v1/hotspots?from=<RFC 3339>&to=<RFC 3339>[&by=]`: tickets created in `[from, to)`
/// counted by matter class and district (crate::hotspots), largest first; `by=channel` by
/// channel, `by=backlog` those still with a department by lead department.
async fn hotspots(
    _who: Authorized<ReadHotspots>,
    State(state): State<AppState>,
    params: Result<Query<HotspotParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::invalid(e.body_text()))?;
    if p.from >= p.to {
        return Err(ApiError::invalid("from must be before to"));
    }
    if p.to - p.from > chrono::Duration::days(366) {
        return Err(ApiError::invalid("a period may span at most 366 days"));
    }
    let pool = state.store.pool();
    let internal = |e: anyhow::Error| ApiError::internal(&e);
    let json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|e| internal(e.into()));
    let cells = match p.by.as_deref().unwrap_or("matter_district") {
        "matter_district" => json(serde_json::to_value(
            state.store.hotspots(p.from, p.to).await.map_err(internal)?,
        ))?,
        "channel" => json(serde_json::to_value(
            crate::hotspots::by_channel(pool, p.from, p.to)
                .await
                .map_err(internal)?,
        ))?,
        "backlog" => json(serde_json::to_value(
            crate::hotspots::backlog(pool, p.from, p.to)
                .await
                .map_err(internal)?,
        ))?,
        other => {
            return Err(ApiError::invalid(format!(
                "by {other:?}: use matter_district, channel or backlog"
            )));
        }
    };
    Ok(Json(serde_json::json!({ "from": p.from, "to": p.to, "cells": cells })).into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use hotline_auth::{Principal, Role};
    use hotline_domain::ticket::{EmergencyService, RejectRule, ReturnDecision};
    use hotline_domain::{Action, DeptCode, TicketNo};

    use super::may_take;

    fn th() -> DeptCode {
        DeptCode::parse("GZ-TH").expect("code")
    }

    fn person(role: Role) -> Principal {
        Principal {
            subject: "p".into(),
            name: None,
            roles: BTreeSet::from([role]),
            department: role.needs_department().then(th),
        }
    }

    /// The steps table of docs/roles.md, step by step and role by role.
    #[test]
    fn every_step_is_allowed_to_exactly_the_roles_of_the_table() {
        let n = || "n".to_owned();
        let agentish = "agent supervisor admin";
        let table = [
            (
                Action::Answer {
                    answer: n(),
                    knowledge_leaf: None,
                },
                agentish,
            ),
            (
                Action::Reject {
                    rule: RejectRule::NoSubstance,
                    note: n(),
                },
                agentish,
            ),
            (
                Action::Emergency {
                    service: EmergencyService::Police110,
                    note: n(),
                },
                agentish,
            ),
            (Action::ProvideInformation { note: n() }, agentish),
            (
                Action::Survey {
                    satisfied: true,
                    note: n(),
                },
                agentish,
            ),
            (Action::Close, agentish),
            (Action::Reopen { reason: n() }, agentish),
            (Action::SurveyUnreachable { attempts: 3 }, agentish),
            (
                Action::Conclude {
                    ruling: hotline_domain::Ruling::Explained,
                    note: n(),
                },
                "supervisor admin",
            ),
            (
                Action::Merge {
                    into: TicketNo::compose(261202, 1).expect("no"),
                },
                "agent dispatcher supervisor admin",
            ),
            (
                Action::Dispatch {
                    lead: th(),
                    co: vec![],
                    note: n(),
                },
                "dispatcher supervisor admin",
            ),
            (
                Action::ReviewReturn {
                    ruling: ReturnDecision::Uphold,
                    note: n(),
                },
                "dispatcher supervisor admin",
            ),
            (Action::Release, "agent dispatcher supervisor admin"),
            // Recorded by the ledger on a merge's target; nobody sends it.
            (
                Action::MergedFrom {
                    from: TicketNo::compose(261202, 1).expect("no"),
                },
                "",
            ),
            (Action::Supervise { note: n() }, "supervisor admin"),
            (Action::Supplement { note: n() }, "agent supervisor admin"),
            (
                Action::DecideExtension {
                    approved: true,
                    note: n(),
                },
                "supervisor admin",
            ),
            (Action::Accept, "department_staff"),
            (Action::Return { reason: n() }, "department_staff"),
            (Action::AddProgress { note: n() }, "department_staff"),
            (
                Action::RequestInformation { question: n() },
                "department_staff",
            ),
            (
                Action::RequestExtension {
                    reason: n(),
                    until: chrono::Utc::now(),
                },
                "department_staff",
            ),
            (Action::Reply { text: n() }, "department_staff"),
            (Action::Complete { note: n() }, "department_staff"),
            (
                Action::Redispatch {
                    to: th(),
                    note: n(),
                },
                "department_staff",
            ),
        ];
        for (action, allowed) in &table {
            for role in Role::ALL {
                let expected = allowed.split(' ').any(|r| r == role.as_str());
                assert_eq!(
                    may_take(&person(role), action),
                    expected,
                    "{} by {role}",
                    action.name()
                );
            }
        }
        // A department's staff who also hold a centre role act as the centre, not the department.
        let mut both = person(Role::DepartmentStaff);
        both.roles.insert(Role::Agent);
        assert!(!may_take(&both, &Action::Accept));
        assert!(may_take(&both, &Action::Close));
    }
}
