//! The dispatcher's screens (派单员; supervisors and administrators too, as the dispatch API
//! allows them the same):
//!
//! - the manual queue (`GET /v1/manual-queue` on dispatch): each ticket with smart dispatch's
//!   top suggestions, dispatched in one click to a suggestion or to a chosen department
//!   (`POST /v1/manual-queue/{no}/dispatch`, recorded as the person);
//! - return reviews (退单审核): the returned tickets (`GET /v1/tickets?status=returned`), the
//!   department's reason (each row's `last_return`, so no ticket is read on its own), the
//!   review's deadline (SLA stage `return_review`), and the ruling:
//!   reject the return (the department keeps it) or approve it and re-dispatch (the tickets
//!   API's `review_return` step);
//! - a ticket's page with its history, and a re-dispatch (`dispatch` step) where the ledger
//!   takes one (received, reopened);
//! - the dispatch catalogue (派单目录) with each matter's audit trail, and the change form for
//!   the roles that may change it (the dispatch API lets administrators only).

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, FixedOffset, Utc};
use hotline_auth::Role;
use hotline_domain::contract::{TicketView, TicketWithHistory};
use hotline_domain::ticket::ReturnDecision;
use hotline_domain::{Action, DeptCode, ServiceCode, Status};
use serde::Deserialize;
use serde_json::Value;

use super::Console;
use super::dept::{Done, form_key, ticket_no};
use super::guard::Signed;
use super::pages::{self, DISPATCH_ROLES, Deadlines, Screen, layout};
use super::table;
use crate::error::ConsoleError;
use crate::html::Html;
use crate::i18n::{Lang, Texts};
use crate::session::random_token;
use crate::upstream::Api;

/// One entry of the manual queue, as the dispatch API gives it: only what the page shows is
/// read (the API sends the whole public ticket; building it as a JSON tree per row was waste).
#[derive(Deserialize)]
struct Queued {
    ticket_no: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    ticket: QueuedTicket,
    enqueued_at: DateTime<Utc>,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    suggestions: Option<Suggestions>,
    #[serde(default)]
    proposal: Option<Proposal>,
}

#[derive(Deserialize, Default)]
struct QueuedTicket {
    #[serde(default)]
    description: String,
    #[serde(default)]
    location: QueuedPlace,
}

#[derive(Deserialize, Default)]
struct QueuedPlace {
    #[serde(default)]
    address: Option<String>,
}

/// Smart dispatch's assessment: its top classes, most likely first.
#[derive(Deserialize)]
struct Suggestions {
    #[serde(default)]
    candidates: Vec<Candidate>,
}

#[derive(Deserialize)]
struct Candidate {
    #[serde(default)]
    category: String,
    #[serde(default)]
    probability: f64,
    #[serde(default)]
    matter_name: Option<String>,
    /// The department it would go to; none when the class or the address does not say.
    #[serde(default)]
    lead: Option<String>,
    #[serde(default)]
    why: String,
}

/// A proposed 不予受理: the rule as cited.
#[derive(Deserialize)]
struct Proposal {
    #[serde(default)]
    citation: String,
}

/// The catalogue's departments of one matter: only these fields are read of each entry.
#[derive(Deserialize)]
struct CatalogueDepartments {
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    co_handlers: Vec<String>,
}

/// The departments the catalogue names (leads and co-handlers): offered as choices. A
/// department the catalogue does not name may still be typed (the ledger checks it).
async fn departments(console: &Console, signed: &Signed) -> BTreeSet<String> {
    let entries: Vec<CatalogueDepartments> = console
        .parts()
        .upstream
        .get(signed.token(), Api::Dispatch, "/v1/catalogue")
        .await
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for e in entries {
        out.extend(e.department);
        out.extend(e.co_handlers);
    }
    out
}

fn datalist(departments: &BTreeSet<String>) -> Html {
    let mut h = Html::new();
    h.raw("<datalist id=\"departments\">");
    for d in departments {
        h.raw("<option value=\"").text(d).raw("\">");
    }
    h.raw("</datalist>");
    h
}

/// A dispatch form: one click for `lead` when given, else a department to choose.
fn dispatch_form(lang: Lang, signed: &Signed, action: &str, lead: Option<&str>, id: &str) -> Html {
    let t = lang.t();
    let mut h = Html::new();
    h.raw("<form class=\"inline\" method=\"post\" action=\"")
        .text(action)
        .raw("\">")
        .append(pages::csrf_field(signed))
        .raw("<input type=\"hidden\" name=\"key\" value=\"")
        .text(random_token())
        .raw("\">");
    match lead {
        Some(lead) => {
            h.raw("<input type=\"hidden\" name=\"lead\" value=\"")
                .text(lead)
                .raw("\"><button class=\"small\" type=\"submit\" id=\"")
                .text(id)
                .raw("\">")
                .text(t.dispatch_to)
                .raw(" ")
                .text(lead)
                .raw("</button>");
        }
        None => {
            h.raw("<label for=\"")
                .text(id)
                .raw("\">")
                .text(t.choose_department)
                .raw("</label><input type=\"text\" list=\"departments\" required maxlength=\"32\" name=\"lead\" id=\"")
                .text(id)
                .raw("\"><input type=\"text\" name=\"note\" maxlength=\"500\" placeholder=\"")
                .text(t.field_note)
                .raw("\"><button type=\"submit\">")
                .text(t.dispatch_button)
                .raw("</button>");
        }
    }
    h.raw("</form>");
    h
}

/// One queued ticket: its facts, a button per suggestion and the department chooser.
///
/// One form per row: the suggestions' buttons submit the chooser's form (`form=`), carrying
/// their department as `suggested`, so a row holds one CSRF field instead of one per button
/// (the page of 100 rows was 237 KB, mostly repeated hidden fields). They skip the form's
/// validation: the chooser's department is required only when typed in.
fn queued_row(lang: Lang, signed: &Signed, item: &Queued, offset: FixedOffset) -> Html {
    let t = lang.t();
    let no = &item.ticket_no;
    let form_id = format!("d-{no}");
    let mut h = Html::new();
    h.raw("<section class=\"card queued\" id=\"q-")
        .text(no)
        .raw("\"><h2><a class=\"mono\" href=\"/dispatch/tickets/")
        .text(no)
        .raw("\">")
        .text(no)
        .raw("</a> <span class=\"status\">")
        .text(Texts::name(t.priorities, &item.priority))
        .raw("</span></h2><dl class=\"facts\"><dt>")
        .text(t.description)
        .raw("</dt><dd>")
        .text(&item.ticket.description)
        .raw("</dd><dt>")
        .text(t.address)
        .raw("</dt><dd>")
        .text(item.ticket.location.address.as_deref().unwrap_or("—"))
        .raw("</dd><dt>")
        .text(t.queue_why)
        .raw("</dt><dd>")
        .text(&item.reason)
        .raw("</dd><dt>")
        .text(t.enqueued)
        .raw("</dt><dd>")
        .text(pages::local(item.enqueued_at, offset))
        .raw("</dd>");
    if let Some(p) = &item.proposal {
        h.raw("<dt>")
            .text(t.proposal)
            .raw("</dt><dd>")
            .text(&p.citation)
            .raw("</dd>");
    }
    h.raw("<dt>").text(t.suggestions).raw("</dt><dd>");
    let candidates = item
        .suggestions
        .as_ref()
        .map_or(&[][..], |s| &s.candidates[..]);
    if candidates.is_empty() {
        h.raw("<span class=\"muted\">")
            .text(t.no_suggestions)
            .raw("</span>");
    }
    for (i, c) in candidates.iter().enumerate() {
        h.raw("<div class=\"suggestion\">")
            .text(&c.category)
            .raw(" · ")
            .text(format!("{:.0}%", c.probability * 100.0));
        if let Some(m) = &c.matter_name {
            h.raw(" · ").text(m);
        }
        h.raw(" ");
        match &c.lead {
            Some(lead) => {
                h.raw("<button class=\"small\" type=\"submit\" formnovalidate form=\"")
                    .text(&form_id)
                    .raw("\" name=\"suggested\" value=\"")
                    .text(lead)
                    .raw("\" id=\"suggest-")
                    .text(no)
                    .raw("-")
                    .display(i)
                    .raw("\">")
                    .text(t.dispatch_to)
                    .raw(" ")
                    .text(lead)
                    .raw("</button>");
            }
            None => {
                h.raw("<span class=\"muted\">").text(&c.why).raw("</span>");
            }
        }
        h.raw("</div>");
    }
    // The form's id and the chooser's are what the suggestions and the browser checks
    // (deploy/peers/console.py: `choose-{no}` and its form's submit button) hold on to.
    h.raw("</dd></dl><form class=\"inline\" method=\"post\" action=\"/dispatch/queue/")
        .text(no)
        .raw("\" id=\"")
        .text(&form_id)
        .raw("\">")
        .append(pages::csrf_field(signed))
        .raw("<label for=\"choose-")
        .text(no)
        .raw("\">")
        .text(t.choose_department)
        .raw("</label><input type=\"text\" list=\"departments\" required maxlength=\"32\" name=\"lead\" id=\"choose-")
        .text(no)
        .raw("\"><input type=\"text\" name=\"note\" maxlength=\"500\" placeholder=\"")
        .text(t.field_note)
        .raw("\"><button type=\"submit\">")
        .text(t.dispatch_button)
        .raw("</button></form></section>");
    h
}

/// `GET /dispatch/queue`: the manual queue with the suggestions.
pub async fn queue(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    signed.require(DISPATCH_ROLES)?;
    let t = lang.t();
    let offset = console.parts().offset;
    let (items, departments) = tokio::join!(
        console.parts().upstream.get::<Vec<Queued>>(
            signed.token(),
            Api::Dispatch,
            "/v1/manual-queue"
        ),
        departments(&console, &signed),
    );
    let items = items?;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.queue_title)
        .raw(" <span class=\"muted\">(")
        .display(items.len())
        .raw(")</span></h1>")
        .append(pages::done_flash(lang, done.done.as_deref()))
        .append(datalist(&departments));
    if items.is_empty() {
        body.raw("<p class=\"muted\" id=\"queue-empty\">")
            .text(t.queue_empty)
            .raw("</p>");
    }
    for item in &items {
        body.append(queued_row(lang, &signed, item, offset));
    }
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Queue),
            t.queue_title,
            body,
        ),
    ))
}

#[derive(Deserialize)]
pub struct DispatchForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    lead: Option<String>,
    /// The manual queue: a suggestion's department, sent by its button, which submits the
    /// row's chooser form; taken over the chooser's (then usually empty) `lead`.
    #[serde(default)]
    suggested: Option<String>,
    /// Co-handlers, comma-separated.
    #[serde(default)]
    co: Option<String>,
    #[serde(default)]
    note: Option<String>,
    /// Return reviews: `uphold` or `redispatch`.
    #[serde(default)]
    decision: Option<String>,
}

fn dept(raw: &str) -> Result<DeptCode, ConsoleError> {
    DeptCode::parse(raw.trim())
        .map_err(|_| ConsoleError::Invalid(format!("{:?} is not a department code", raw.trim())))
}

impl DispatchForm {
    fn lead(&self) -> Result<DeptCode, ConsoleError> {
        dept(self.lead.as_deref().unwrap_or(""))
    }

    /// The queue's department: the suggestion clicked, else the one chosen.
    fn queue_lead(&self) -> Result<DeptCode, ConsoleError> {
        match self.suggested.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(suggested) => dept(suggested),
            None => self.lead(),
        }
    }

    fn co(&self) -> Result<Vec<DeptCode>, ConsoleError> {
        self.co
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|c| !c.trim().is_empty())
            .map(dept)
            .collect()
    }

    fn note(&self) -> String {
        self.note.as_deref().unwrap_or("").trim().to_owned()
    }
}

/// `POST /dispatch/queue/{no}`: dispatched from the queue, recorded as the person.
pub async fn dispatch_queued(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: DispatchForm = signed.form(&console, &headers, &body)?;
    signed.require(DISPATCH_ROLES)?;
    let no = ticket_no(&no)?;
    let request = serde_json::json!({
        "lead": form.queue_lead()?,
        "co": form.co()?,
        "note": form.note(),
    });
    let _: Value = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Dispatch,
            &format!("/v1/manual-queue/{no}/dispatch"),
            &request,
            None,
        )
        .await?;
    Ok(pages::see_other("/dispatch/queue?done=dispatch"))
}

/// A row of the ledger's list of returned tickets: the ticket and the return under review.
#[derive(Deserialize)]
struct Listed {
    #[serde(flatten)]
    ticket: TicketView,
    /// The latest `return` step (absent from a ledger older than the field: shown blank).
    #[serde(default)]
    last_return: Option<LastReturn>,
}

/// What the page shows of the return: the department's reason.
#[derive(Deserialize)]
struct LastReturn {
    #[serde(default)]
    reason: String,
}

/// A returned ticket with what its review needs.
struct Returned {
    ticket: TicketView,
    reason: String,
    deadlines: Option<Deadlines>,
}

/// `GET /dispatch/returns`: the returns waiting for review, the most urgent first.
pub async fn returns(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    signed.require(DISPATCH_ROLES)?;
    let t = lang.t();
    let offset = console.parts().offset;
    let up = &console.parts().upstream;
    let token = signed.token();
    // Three reads for the whole page: the ledger's list (each row with its return's reason),
    // then the rows' deadlines in one SLA request; the catalogue's departments meanwhile.
    let rows = async {
        let listed: Vec<Listed> = up
            .get(token, Api::Tickets, "/v1/tickets?status=returned&limit=100")
            .await?;
        let nos: Vec<_> = listed.iter().map(|l| l.ticket.ticket_no).collect();
        let deadlines = pages::deadlines_of(up, token, &nos).await;
        Ok::<_, ConsoleError>((listed, deadlines))
    };
    let (rows, departments) = tokio::join!(rows, departments(&console, &signed));
    let (listed, mut deadlines) = rows?;
    let mut items: Vec<Returned> = listed
        .into_iter()
        .map(|l| Returned {
            deadlines: deadlines.remove(&l.ticket.ticket_no),
            reason: l.last_return.map(|r| r.reason).unwrap_or_default(),
            ticket: l.ticket,
        })
        .collect();
    items.sort_by_key(|r| {
        r.deadlines
            .as_ref()
            .and_then(|d| d.current(Some("return_review")))
            .map_or(DateTime::<Utc>::MAX_UTC, |c| c.due_at)
    });
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.returns_title)
        .raw("</h1>")
        .append(pages::done_flash(lang, done.done.as_deref()))
        .append(datalist(&departments));
    if items.is_empty() {
        body.raw("<p class=\"muted\">")
            .text(t.returns_empty)
            .raw("</p>");
    } else {
        body.append(table::head(
            None,
            &[
                t.ticket_no,
                t.lead,
                t.return_reason,
                t.review_due,
                t.actions,
            ],
        ));
        for r in &items {
            let no = r.ticket.ticket_no;
            let clock = r
                .deadlines
                .as_ref()
                .and_then(|d| d.current(Some("return_review")));
            body.raw("<tr class=\"")
                .text(pages::Urgency::of(clock, Utc::now()).row_class())
                .raw("\"><td class=\"num\"><a href=\"/dispatch/tickets/")
                .display(no)
                .raw("\">")
                .display(no)
                .raw("</a></td><td>")
                .text(r.ticket.lead.as_ref().map_or("—", |d| d.as_str()))
                .raw("</td><td class=\"text\">")
                .text(&r.reason)
                .raw("</td><td>")
                .append(pages::due_badge(lang, clock, offset))
                .raw("</td><td>")
                .append(review_forms(
                    lang,
                    &signed,
                    &format!("/dispatch/returns/{no}"),
                ))
                .raw("</td></tr>");
        }
        body.raw("</tbody></table></div>");
    }
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Returns),
            t.returns_title,
            body,
        ),
    ))
}

/// The two rulings on a return.
fn review_forms(lang: Lang, signed: &Signed, action: &str) -> Html {
    let t = lang.t();
    let mut h = Html::new();
    h.raw("<form class=\"action\" method=\"post\" action=\"")
        .text(action)
        .raw("\">")
        .append(pages::csrf_field(signed))
        .raw("<input type=\"hidden\" name=\"decision\" value=\"uphold\"><input type=\"hidden\" name=\"key\" value=\"")
        .text(random_token())
        .raw("\"><input type=\"text\" name=\"note\" maxlength=\"500\" placeholder=\"")
        .text(t.field_note)
        .raw("\"><button class=\"secondary\" type=\"submit\">")
        .text(t.uphold)
        .raw("</button> <span class=\"muted\">")
        .text(t.uphold_hint)
        .raw("</span></form><form class=\"action\" method=\"post\" action=\"")
        .text(action)
        .raw("\">")
        .append(pages::csrf_field(signed))
        .raw("<input type=\"hidden\" name=\"decision\" value=\"redispatch\"><input type=\"hidden\" name=\"key\" value=\"")
        .text(random_token())
        .raw("\"><input type=\"text\" list=\"departments\" required maxlength=\"32\" name=\"lead\" placeholder=\"")
        .text(t.choose_department)
        .raw("\"><input type=\"text\" name=\"note\" maxlength=\"500\" placeholder=\"")
        .text(t.field_note)
        .raw("\"><button type=\"submit\">")
        .text(t.approve_redispatch)
        .raw("</button></form>");
    h
}

/// Sends `action` on ticket `no` through the tickets API as the person.
async fn act(
    console: &Console,
    signed: &Signed,
    no: hotline_domain::TicketNo,
    action: &Action,
    key: Option<&str>,
) -> Result<(), ConsoleError> {
    let body = serde_json::to_value(action)
        .map_err(|e| ConsoleError::Internal(anyhow::Error::new(e).context("encoding a step")))?;
    let _: Value = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Tickets,
            &format!("/v1/tickets/{no}/actions"),
            &body,
            key,
        )
        .await?;
    Ok(())
}

/// `POST /dispatch/returns/{no}`: the ruling on a return.
pub async fn review_return(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: DispatchForm = signed.form(&console, &headers, &body)?;
    signed.require(DISPATCH_ROLES)?;
    let no = ticket_no(&no)?;
    let ruling = match form.decision.as_deref() {
        Some("uphold") => ReturnDecision::Uphold,
        Some("redispatch") => ReturnDecision::Redispatch {
            lead: form.lead()?,
            co: form.co()?,
        },
        _ => {
            return Err(ConsoleError::Invalid(
                "decision must be uphold or redispatch".into(),
            ));
        }
    };
    let action = Action::ReviewReturn {
        ruling,
        note: form.note(),
    };
    act(
        &console,
        &signed,
        no,
        &action,
        form_key(form.key.as_deref()),
    )
    .await?;
    Ok(pages::see_other("/dispatch/returns?done=review_return"))
}

/// `GET /dispatch/tickets/{no}`: a ticket for the dispatcher, with a re-dispatch or a review
/// where its state takes one.
pub async fn ticket(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(no): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    signed.require(DISPATCH_ROLES)?;
    let t = lang.t();
    let offset = console.parts().offset;
    let no = ticket_no(&no)?;
    let up = &console.parts().upstream;
    // Three services, asked at once: the page waits for the slowest, not for their sum.
    let (ticket_path, deadlines_path) = (
        format!("/v1/tickets/{no}"),
        format!("/v1/tickets/{no}/deadlines"),
    );
    let (found, deadlines, departments) = tokio::join!(
        up.get::<TicketWithHistory>(signed.token(), Api::Tickets, &ticket_path),
        up.get::<Deadlines>(signed.token(), Api::Sla, &deadlines_path),
        departments(&console, &signed),
    );
    let found = found?;
    let deadlines = deadlines.ok();
    let tk = &found.ticket;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.ticket_no)
        .raw(" <span class=\"mono\">")
        .display(no)
        .raw("</span></h1>")
        .append(pages::done_flash(lang, done.done.as_deref()))
        .append(datalist(&departments))
        .raw("<div class=\"grid\"><div><section class=\"card\">")
        .append(pages::facts(lang, tk, offset))
        .raw("</section><section class=\"card\"><h2>")
        .text(t.history)
        .raw("</h2>")
        .append(pages::history(lang, &found.history, offset))
        .raw("</section></div><div><section class=\"card\"><h2>")
        .text(t.deadlines)
        .raw("</h2>");
    match &deadlines {
        Some(d) => body.append(pages::deadlines_table(lang, d, offset)),
        None => body
            .raw("<p class=\"muted\">")
            .text(t.no_deadline)
            .raw("</p>"),
    };
    body.raw("</section><section class=\"card\" id=\"actions\"><h2>")
        .text(t.actions)
        .raw("</h2>");
    match tk.status {
        Status::Received | Status::Reopened if !tk.held => {
            body.raw("<h3>")
                .text(t.redispatch_title)
                .raw("</h3>")
                .append(dispatch_form(
                    lang,
                    &signed,
                    &format!("/dispatch/tickets/{no}"),
                    None,
                    "redispatch-lead",
                ));
        }
        Status::Returned => {
            body.append(review_forms(
                lang,
                &signed,
                &format!("/dispatch/returns/{no}"),
            ));
        }
        _ => {
            body.raw("<p class=\"muted\">")
                .text(t.no_actions)
                .raw("</p>");
        }
    }
    body.raw("</section></div></div>");
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Queue),
            &no.to_string(),
            body,
        ),
    ))
}

/// `POST /dispatch/tickets/{no}`: (re-)dispatch through the tickets API's `dispatch` step.
pub async fn redispatch(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: DispatchForm = signed.form(&console, &headers, &body)?;
    signed.require(DISPATCH_ROLES)?;
    let no = ticket_no(&no)?;
    let action = Action::Dispatch {
        lead: form.lead()?,
        co: form.co()?,
        note: form.note(),
    };
    act(
        &console,
        &signed,
        no,
        &action,
        form_key(form.key.as_deref()),
    )
    .await?;
    Ok(pages::see_other(&format!(
        "/dispatch/tickets/{no}?done=dispatch"
    )))
}

fn scope_words(t: &Texts, entry: &Value) -> String {
    match entry["scope"].as_str() {
        Some("city") => format!(
            "{}: {}",
            t.scope_city,
            entry["department"].as_str().unwrap_or("")
        ),
        Some("district") => t.scope_district.to_owned(),
        other => other.unwrap_or("").to_owned(),
    }
}

fn strings(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `GET /dispatch/catalogue`: every matter and who handles it.
pub async fn catalogue(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
) -> Result<Response, ConsoleError> {
    signed.require(DISPATCH_ROLES)?;
    let t = lang.t();
    let entries: Vec<Value> = console
        .parts()
        .upstream
        .get(signed.token(), Api::Dispatch, "/v1/catalogue")
        .await?;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.catalogue_title)
        .raw("</h1>")
        .append(table::head(
            None,
            &[
                t.code,
                t.name_col,
                t.group,
                t.scope,
                t.co_handlers,
                t.version,
            ],
        ));
    for e in &entries {
        let code = e["code"].as_str().unwrap_or("");
        body.raw("<tr><td class=\"num\"><a href=\"/dispatch/catalogue/")
            .text(code)
            .raw("\">")
            .text(code)
            .raw("</a></td><td>")
            .text(e["name"].as_str().unwrap_or(""))
            .raw("</td><td>")
            .text(e["group"].as_str().unwrap_or(""))
            .raw("</td><td>")
            .text(scope_words(t, e))
            .raw("</td><td>")
            .text(strings(&e["co_handlers"]))
            .raw("</td><td>")
            .display(e["version"].as_i64().unwrap_or(0))
            .raw("</td></tr>");
    }
    body.raw("</tbody></table></div>");
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Catalogue),
            t.catalogue_title,
            body,
        ),
    ))
}

fn matter_code(raw: &str) -> Result<ServiceCode, ConsoleError> {
    ServiceCode::parse(raw).map_err(|_| ConsoleError::NotFound)
}

/// `GET /dispatch/catalogue/{code}`: a matter, its audit trail, and the change form for
/// administrators.
pub async fn catalogue_entry(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(code): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    signed.require(DISPATCH_ROLES)?;
    let t = lang.t();
    let offset = console.parts().offset;
    let code = matter_code(&code)?;
    let up = &console.parts().upstream;
    let entry: Value = up
        .get(
            signed.token(),
            Api::Dispatch,
            &format!("/v1/catalogue/{code}"),
        )
        .await?;
    let trail: Vec<Value> = up
        .get(
            signed.token(),
            Api::Dispatch,
            &format!("/v1/catalogue/{code}/history"),
        )
        .await?;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(entry["name"].as_str().unwrap_or(""))
        .raw(" <span class=\"mono muted\">")
        .text(code.as_str())
        .raw("</span></h1>");
    if done.done.is_some() {
        body.raw("<p class=\"flash ok\" role=\"status\">")
            .text(t.done)
            .text(t.change_button)
            .raw("</p>");
    }
    body.raw("<div class=\"grid\"><div><section class=\"card\"><dl class=\"facts\"><dt>")
        .text(t.group)
        .raw("</dt><dd>")
        .text(entry["group"].as_str().unwrap_or(""))
        .raw("</dd><dt>")
        .text(t.scope)
        .raw("</dt><dd>")
        .text(scope_words(t, &entry))
        .raw("</dd><dt>")
        .text(t.co_handlers)
        .raw("</dt><dd>")
        .text(strings(&entry["co_handlers"]))
        .raw("</dd><dt>")
        .text(t.keywords)
        .raw("</dt><dd>")
        .text(strings(&entry["keywords"]))
        .raw("</dd><dt>")
        .text(t.version)
        .raw("</dt><dd>")
        .display(entry["version"].as_i64().unwrap_or(0))
        .raw("</dd></dl></section><section class=\"card\"><h2>")
        .text(t.audit_trail)
        .raw("</h2>")
        .append(table::head(
            Some("audit"),
            &[t.version, t.changed_at, t.changed_by, t.change_reason],
        ));
    for change in trail.iter().rev() {
        let at = change["at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| pages::local(d.with_timezone(&Utc), offset))
            .unwrap_or_default();
        body.raw("<tr><td>")
            .display(change["version"].as_i64().unwrap_or(0))
            .raw("</td><td>")
            .text(at)
            .raw("</td><td>")
            .text(change["changed_by"].as_str().unwrap_or(""))
            .raw("</td><td class=\"text\">")
            .text(change["reason"].as_str().unwrap_or(""))
            .raw("</td></tr>");
    }
    body.raw("</tbody></table></div></section></div><div><section class=\"card\"><h2>")
        .text(t.change_title)
        .raw("</h2>");
    if signed.principal.has(Role::Admin) {
        body.append(change_form(lang, &signed, &code, &entry));
    } else {
        body.raw("<p class=\"muted\">")
            .text(t.change_admin_only)
            .raw("</p>");
    }
    body.raw("</section></div></div>");
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Catalogue),
            entry["name"].as_str().unwrap_or(code.as_str()),
            body,
        ),
    ))
}

fn change_form(lang: Lang, signed: &Signed, code: &ServiceCode, entry: &Value) -> Html {
    let t = lang.t();
    let city = entry["scope"].as_str() == Some("city");
    let mut h = Html::new();
    h.raw("<form class=\"action\" method=\"post\" action=\"/dispatch/catalogue/")
        .text(code.as_str())
        .raw("\">")
        .append(pages::csrf_field(signed))
        .raw("<input type=\"hidden\" name=\"expected_version\" value=\"")
        .display(entry["version"].as_i64().unwrap_or(0))
        .raw("\"><label for=\"c-name\">")
        .text(t.name_col)
        .raw("</label><input type=\"text\" id=\"c-name\" name=\"name\" required maxlength=\"200\" value=\"")
        .text(entry["name"].as_str().unwrap_or(""))
        .raw("\"><label for=\"c-scope\">")
        .text(t.scope)
        .raw("</label><select id=\"c-scope\" name=\"scope\"><option value=\"city\"")
        .raw(if city { " selected" } else { "" })
        .raw(">")
        .text(t.scope_city)
        .raw("</option><option value=\"district\"")
        .raw(if city { "" } else { " selected" })
        .raw(">")
        .text(t.scope_district)
        .raw("</option></select><label for=\"c-dept\">")
        .text(t.department)
        .raw("</label><input type=\"text\" id=\"c-dept\" name=\"department\" maxlength=\"32\" value=\"")
        .text(entry["department"].as_str().unwrap_or(""))
        .raw("\"><label for=\"c-co\">")
        .text(t.co_handlers)
        .raw(" (")
        .text(t.comma_separated)
        .raw(")</label><input type=\"text\" id=\"c-co\" name=\"co_handlers\" value=\"")
        .text(strings(&entry["co_handlers"]))
        .raw("\"><label for=\"c-kw\">")
        .text(t.keywords)
        .raw(" (")
        .text(t.comma_separated)
        .raw(")</label><input type=\"text\" id=\"c-kw\" name=\"keywords\" value=\"")
        .text(strings(&entry["keywords"]))
        .raw("\"><label for=\"c-reason\">")
        .text(t.change_reason)
        .raw("</label><input type=\"text\" id=\"c-reason\" name=\"reason\" required maxlength=\"500\"><button type=\"submit\">")
        .text(t.change_button)
        .raw("</button></form>");
    h
}

#[derive(Deserialize)]
pub struct ChangeForm {
    expected_version: i64,
    name: String,
    scope: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    co_handlers: String,
    #[serde(default)]
    keywords: String,
    reason: String,
}

fn list(raw: &str) -> Vec<String> {
    raw.split([',', '，'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `entry` with the form's changes (the fields the form does not show are kept as they are).
pub fn changed_entry(mut entry: Value, form: &ChangeForm) -> Result<Value, ConsoleError> {
    let name = form.name.trim();
    if name.is_empty() {
        return Err(ConsoleError::Invalid("name is required".into()));
    }
    let co = list(&form.co_handlers)
        .iter()
        .map(|c| dept(c).map(|d| d.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(object) = entry.as_object_mut() else {
        return Err(ConsoleError::Internal(anyhow::anyhow!(
            "the catalogue entry is not an object"
        )));
    };
    object.insert("name".into(), Value::from(name));
    object.insert("co_handlers".into(), Value::from(co));
    object.insert("keywords".into(), Value::from(list(&form.keywords)));
    match form.scope.as_str() {
        "city" => {
            let department = dept(&form.department)?;
            object.insert("scope".into(), Value::from("city"));
            object.insert("department".into(), Value::from(department.as_str()));
        }
        "district" => {
            object.insert("scope".into(), Value::from("district"));
            object.remove("department");
        }
        _ => {
            return Err(ConsoleError::Invalid(
                "scope must be city or district".into(),
            ));
        }
    }
    Ok(entry)
}

/// `POST /dispatch/catalogue/{code}`: a change, audited by the dispatch service as the person.
pub async fn change_entry(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: ChangeForm = signed.form(&console, &headers, &body)?;
    // The dispatch API lets administrators only; asking it anyway would only be refused.
    signed.require(&[Role::Admin])?;
    let code = matter_code(&code)?;
    let up = &console.parts().upstream;
    let entry: Value = up
        .get(
            signed.token(),
            Api::Dispatch,
            &format!("/v1/catalogue/{code}"),
        )
        .await?;
    let request = serde_json::json!({
        "entry": changed_entry(entry, &form)?,
        "expected_version": form.expected_version,
        "reason": form.reason.trim(),
    });
    let _: Value = up
        .send(
            signed.token(),
            Method::PUT,
            Api::Dispatch,
            &format!("/v1/catalogue/{code}"),
            &request,
            None,
        )
        .await?;
    Ok(pages::see_other(&format!(
        "/dispatch/catalogue/{code}?done=change"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(scope: &str, department: &str) -> ChangeForm {
        ChangeForm {
            expected_version: 2,
            name: " 路灯不亮 ".into(),
            scope: scope.into(),
            department: department.into(),
            co_handlers: "GZ-CG， GZ-SW".into(),
            keywords: "路灯,照明".into(),
            reason: "职责调整".into(),
        }
    }

    #[test]
    fn a_change_keeps_what_the_form_does_not_show() {
        let entry = serde_json::json!({
            "code": "01.01.001", "name": "old", "description": "d", "group": "g",
            "keywords": [], "default_request_type": "complaint", "scope": "district",
            "co_handlers": [], "attributes": [{"code": "a"}], "version": 2
        });
        let out = changed_entry(entry.clone(), &change("city", "GZ-CG")).expect("valid");
        assert_eq!(out["name"], "路灯不亮");
        assert_eq!(out["scope"], "city");
        assert_eq!(out["department"], "GZ-CG");
        assert_eq!(out["co_handlers"], serde_json::json!(["GZ-CG", "GZ-SW"]));
        assert_eq!(out["keywords"], serde_json::json!(["路灯", "照明"]));
        assert_eq!(out["attributes"], entry["attributes"]);
        let out = changed_entry(out, &change("district", "")).expect("valid");
        assert!(out.get("department").is_none());
        assert!(changed_entry(entry.clone(), &change("city", "not a code")).is_err());
        assert!(changed_entry(entry, &change("planet", "")).is_err());
    }
}
