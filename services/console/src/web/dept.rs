//! The department portal (部门工作台), for a department's staff without a system of their own:
//! the inbox of the department's tickets with their deadlines in warning colours, a ticket with
//! its history and deadlines, and the department's steps.
//!
//! Every read and step goes to the tickets API (8081) with the person's token: the tickets
//! service lets department staff read their department's tickets only and take the
//! department's steps (accept, return, add_progress, request_information, reply, complete,
//! request_extension), recorded as the department (docs/roles.md). Deadlines come from the SLA
//! API (8086), which shows staff their department's clocks only. Contact details are shown as
//! the tickets API masks them; the reveal goes through its audited endpoint.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use chrono::{NaiveDate, TimeZone as _, Utc};
use hotline_domain::contract::{Citizen, TicketView, TicketWithHistory};
use hotline_domain::{Action, DeptCode, Status, TicketNo};
use serde::Deserialize;

use super::guard::Signed;
use super::pages::{self, Deadlines, Screen, Urgency};
use super::{Console, pages::layout};
use crate::error::ConsoleError;
use crate::html::Html;
use crate::i18n::{Lang, Texts};
use crate::session::{is_token, random_token};
use crate::upstream::Api;

/// The statuses a department still has something to do with (or is waiting on).
const OPEN: &str = "dispatched,accepted,in_progress,awaiting_citizen,replied,returned";
/// Most tickets listed per inbox (their deadlines are one SLA request).
const INBOX_LIMIT: u32 = 100;

/// The department of the signed-in person, or 403: the portal is for department staff.
fn department(signed: &Signed) -> Result<DeptCode, ConsoleError> {
    signed.department().cloned().ok_or(ConsoleError::Forbidden)
}

/// A ticket number from the URL; a malformed one names no ticket.
pub fn ticket_no(raw: &str) -> Result<TicketNo, ConsoleError> {
    TicketNo::parse(raw).map_err(|_| ConsoleError::NotFound)
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    pub done: Option<String>,
}

/// One inbox line.
struct Line {
    ticket: TicketView,
    deadlines: Option<Deadlines>,
}

async fn lines(console: &Console, signed: &Signed) -> Result<Vec<Line>, ConsoleError> {
    let up = &console.parts().upstream;
    let tickets: Vec<TicketView> = up
        .get(
            signed.token(),
            Api::Tickets,
            &format!("/v1/tickets?status={OPEN}&limit={INBOX_LIMIT}"),
        )
        .await?;
    let nos: Vec<TicketNo> = tickets.iter().map(|t| t.ticket_no).collect();
    let mut deadlines = pages::deadlines_of(up, signed.token(), &nos).await;
    let mut lines: Vec<Line> = tickets
        .into_iter()
        .map(|ticket| Line {
            deadlines: deadlines.remove(&ticket.ticket_no),
            ticket,
        })
        .collect();
    // The most urgent first; without a deadline last.
    lines.sort_by_key(|l| {
        l.deadlines
            .as_ref()
            .and_then(|d| d.current(None))
            .map_or((1, chrono::DateTime::<Utc>::MAX_UTC), |c| (0, c.due_at))
    });
    Ok(lines)
}

fn rows(lang: Lang, console: &Console, lines: &[Line]) -> Html {
    let t = lang.t();
    let offset = console.parts().offset;
    let mut h = Html::new();
    if lines.is_empty() {
        h.raw("<p class=\"muted\">").text(t.inbox_empty).raw("</p>");
        return h;
    }
    h.raw("<div class=\"table-wrap\"><table><thead><tr><th>")
        .text(t.ticket_no)
        .raw("</th><th>")
        .text(t.status)
        .raw("</th><th>")
        .text(t.deadline)
        .raw("</th><th>")
        .text(t.matter)
        .raw("</th><th>")
        .text(t.description)
        .raw("</th><th>")
        .text(t.created)
        .raw("</th></tr></thead><tbody>");
    for line in lines {
        let clock = line.deadlines.as_ref().and_then(|d| d.current(None));
        let urgency = Urgency::of(clock, Utc::now());
        let tk = &line.ticket;
        let description: String = tk.description.chars().take(80).collect();
        h.raw("<tr class=\"")
            .text(urgency.row_class())
            .raw("\"><td class=\"num\"><a href=\"/dept/tickets/")
            .display(tk.ticket_no)
            .raw("\">")
            .display(tk.ticket_no)
            .raw("</a></td><td>")
            .append(pages::status_badge(lang, tk.status))
            .raw("</td><td>")
            .append(pages::due_badge(lang, clock, offset))
            .raw("</td><td>")
            .text(tk.service_code.as_ref().map_or("—", |c| c.as_str()))
            .raw("</td><td class=\"text\">")
            .text(description)
            .raw("</td><td>")
            .text(pages::local(tk.created_at, offset))
            .raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
    h
}

/// `GET /dept`: the department's open tickets, most urgent first.
pub async fn inbox(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
) -> Result<Response, ConsoleError> {
    let dept = department(&signed)?;
    let lines = lines(&console, &signed).await?;
    let t = lang.t();
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.inbox_title)
        .raw(" · ")
        .text(dept.as_str())
        .raw("</h1><p class=\"muted\">")
        .text(t.refreshes)
        .raw("</p>")
        // Polled, not pushed: no long-lived connection through the ingress.
        .raw("<div id=\"inbox\" hx-get=\"/dept/rows\" hx-trigger=\"every 30s\" hx-swap=\"innerHTML\">")
        .append(rows(lang, &console, &lines))
        .raw("</div>");
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Inbox),
            t.inbox_title,
            body,
        ),
    ))
}

/// `GET /dept/rows`: the inbox's table alone (the page polls it).
pub async fn inbox_rows(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
) -> Result<Response, ConsoleError> {
    department(&signed)?;
    let lines = lines(&console, &signed).await?;
    Ok(pages::html(
        StatusCode::OK,
        rows(lang, &console, &lines).finish(),
    ))
}

/// `GET /dept/tickets/{no}`: the ticket, its deadlines, history and the department's steps.
pub async fn ticket(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(no): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let dept = department(&signed)?;
    let no = ticket_no(&no)?;
    let up = &console.parts().upstream;
    let found: TicketWithHistory = up
        .get(signed.token(), Api::Tickets, &format!("/v1/tickets/{no}"))
        .await?;
    let deadlines: Option<Deadlines> = up
        .get(
            signed.token(),
            Api::Sla,
            &format!("/v1/tickets/{no}/deadlines"),
        )
        .await
        .ok();
    let body = ticket_body(
        lang,
        &console,
        &signed,
        &dept,
        &found,
        deadlines.as_ref(),
        done.done.as_deref(),
        None,
    );
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Inbox),
            &no.to_string(),
            body,
        ),
    ))
}

#[allow(clippy::too_many_arguments)]
fn ticket_body(
    lang: Lang,
    console: &Console,
    signed: &Signed,
    dept: &DeptCode,
    found: &TicketWithHistory,
    deadlines: Option<&Deadlines>,
    done: Option<&str>,
    revealed: Option<&Citizen>,
) -> Html {
    let t = lang.t();
    let offset = console.parts().offset;
    let tk = &found.ticket;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.ticket_no)
        .raw(" <span class=\"mono\">")
        .display(tk.ticket_no)
        .raw("</span></h1>")
        .append(pages::done_flash(lang, done))
        .raw("<div class=\"grid\"><div><section class=\"card\">")
        .append(pages::facts(lang, tk, offset))
        .raw("</section>");
    if let Some(c) = revealed {
        body.raw("<section class=\"card\" id=\"revealed\"><h2>")
            .text(t.citizen)
            .raw("</h2><dl class=\"facts\">");
        for (label, value) in [(t.name, &c.name), (t.phone, &c.phone), (t.email, &c.email)] {
            if let Some(v) = value {
                body.raw("<dt>")
                    .text(label)
                    .raw("</dt><dd>")
                    .text(v)
                    .raw("</dd>");
            }
        }
        body.raw("</dl><p class=\"muted\">")
            .text(t.revealed)
            .raw("</p></section>");
    } else if !tk.confidential && tk.citizen != Citizen::default() {
        body.raw("<section class=\"card\"><form class=\"action\" method=\"post\" action=\"/dept/tickets/")
            .display(tk.ticket_no)
            .raw("/reveal\">")
            .append(pages::csrf_field(signed))
            .raw("<label for=\"reveal-reason\">")
            .text(t.reveal_reason)
            .raw("</label><input type=\"text\" id=\"reveal-reason\" name=\"reason\" required maxlength=\"200\">")
            .raw("<button class=\"secondary\" type=\"submit\">")
            .text(t.reveal)
            .raw("</button></form></section>");
    }
    body.raw("<section class=\"card\"><h2>")
        .text(t.history)
        .raw("</h2>")
        .append(pages::history(lang, &found.history, offset))
        .raw("</section></div><div><section class=\"card\"><h2>")
        .text(t.deadlines)
        .raw("</h2>");
    match deadlines {
        Some(d) => {
            body.append(pages::deadlines_table(lang, d, offset));
        }
        None => {
            body.raw("<p class=\"muted\">")
                .text(t.no_deadline)
                .raw("</p>");
        }
    }
    body.raw("</section><section class=\"card\" id=\"actions\"><h2>")
        .text(t.actions)
        .raw("</h2>")
        .append(action_forms(lang, signed, dept, tk))
        .raw("</section></div></div>");
    body
}

/// A form for one step: its fields, the CSRF token and a fresh idempotency key (a double
/// submit is one step).
fn step_form(
    signed: &Signed,
    no: TicketNo,
    step: &str,
    button: &str,
    fields: Html,
    danger: bool,
) -> Html {
    let mut h = Html::new();
    h.raw("<form class=\"action\" method=\"post\" action=\"/dept/tickets/")
        .display(no)
        .raw("/act/")
        .text(step)
        .raw("\">")
        .append(pages::csrf_field(signed))
        .raw("<input type=\"hidden\" name=\"key\" value=\"")
        .text(random_token())
        .raw("\">")
        .append(fields)
        .raw("<button type=\"submit\" id=\"act-")
        .text(step)
        .raw("\"");
    if danger {
        h.raw(" class=\"danger\"");
    }
    h.raw(">").text(button).raw("</button></form>");
    h
}

fn text_field(label: &str, name: &'static str, id: &str, multiline: bool) -> Html {
    let mut h = Html::new();
    h.raw("<label for=\"")
        .text(id)
        .raw("\">")
        .text(label)
        .raw("</label>");
    if multiline {
        h.raw("<textarea required maxlength=\"4000\" name=\"")
            .text(name)
            .raw("\" id=\"")
            .text(id)
            .raw("\"></textarea>");
    } else {
        h.raw("<input type=\"text\" required maxlength=\"500\" name=\"")
            .text(name)
            .raw("\" id=\"")
            .text(id)
            .raw("\">");
    }
    h
}

/// The steps the department may take now (the ledger's rules: shared/domain/src/ticket.rs).
fn action_forms(lang: Lang, signed: &Signed, dept: &DeptCode, tk: &TicketView) -> Html {
    let t = lang.t();
    let no = tk.ticket_no;
    let lead = tk.lead.as_ref() == Some(dept);
    let co = tk.co.contains(dept);
    let mut h = Html::new();
    let mut any = false;
    let mut add = |h: &mut Html, form: Html| {
        any = true;
        h.append(form);
    };
    match tk.status {
        Status::Dispatched if lead => {
            add(
                &mut h,
                step_form(signed, no, "accept", t.act_accept, Html::new(), false),
            );
            add(
                &mut h,
                step_form(
                    signed,
                    no,
                    "return",
                    t.act_return,
                    text_field(t.field_reason, "reason", "return-reason", true),
                    true,
                ),
            );
        }
        Status::Accepted | Status::InProgress if lead || co => {
            add(
                &mut h,
                step_form(
                    signed,
                    no,
                    "progress",
                    t.act_progress,
                    text_field(t.field_note, "note", "progress-note", true),
                    false,
                ),
            );
            if lead {
                add(
                    &mut h,
                    step_form(
                        signed,
                        no,
                        "information",
                        t.act_request_info,
                        text_field(t.field_question, "question", "information-question", true),
                        false,
                    ),
                );
                add(
                    &mut h,
                    step_form(
                        signed,
                        no,
                        "reply",
                        t.act_reply,
                        text_field(t.field_reply, "text", "reply-text", true),
                        false,
                    ),
                );
                // The ledger's own state: SLA's list of requests follows its events a
                // moment later, and a form offered again in between would only be refused.
                if !tk.extension_pending {
                    let mut fields =
                        text_field(t.field_reason, "reason", "extension-reason", false);
                    fields
                        .raw("<label for=\"extension-until\">")
                        .text(t.field_until)
                        .raw("</label><input type=\"date\" required name=\"until\" id=\"extension-until\">");
                    add(
                        &mut h,
                        step_form(signed, no, "extension", t.act_extension, fields, false),
                    );
                }
            }
        }
        Status::Replied if lead => {
            let mut fields = Html::new();
            fields
                .raw("<label for=\"complete-note\">")
                .text(t.field_note)
                .raw("</label><textarea maxlength=\"4000\" name=\"note\" id=\"complete-note\"></textarea>");
            add(
                &mut h,
                step_form(signed, no, "complete", t.act_complete, fields, false),
            );
        }
        _ => {}
    }
    if !any {
        h.raw("<p class=\"muted\">").text(t.no_actions).raw("</p>");
    }
    h
}

/// The fields a step's form may send.
#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    question: Option<String>,
    #[serde(default)]
    text: Option<String>,
    /// `YYYY-MM-DD` (the date input).
    #[serde(default)]
    until: Option<String>,
}

fn required(value: Option<String>, what: &str) -> Result<String, ConsoleError> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConsoleError::Invalid(format!("{what} is required")))
}

/// The action a step's form asks for: the one place the portal's steps become the ledger's.
pub fn step_action(
    step: &str,
    form: StepForm,
    offset: chrono::FixedOffset,
) -> Result<Action, ConsoleError> {
    Ok(match step {
        "accept" => Action::Accept,
        "return" => Action::Return {
            reason: required(form.reason, "reason")?,
        },
        "progress" => Action::AddProgress {
            note: required(form.note, "note")?,
        },
        "information" => Action::RequestInformation {
            question: required(form.question, "question")?,
        },
        "reply" => Action::Reply {
            text: required(form.text, "text")?,
        },
        "complete" => Action::Complete {
            note: form.note.map(|n| n.trim().to_owned()).unwrap_or_default(),
        },
        "extension" => {
            let day = required(form.until, "until")?;
            let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|_| ConsoleError::Invalid("until must be a date (YYYY-MM-DD)".into()))?;
            // The end of that day in the city: "until the 20th" means through the 20th.
            let end = date
                .and_hms_opt(23, 59, 59)
                .and_then(|t| offset.from_local_datetime(&t).single())
                .ok_or_else(|| ConsoleError::Invalid("until is not a valid date".into()))?;
            Action::RequestExtension {
                reason: required(form.reason, "reason")?,
                until: end.with_timezone(&Utc),
            }
        }
        _ => return Err(ConsoleError::NotFound),
    })
}

/// The form's idempotency key, when it is one we could have made.
pub fn form_key(key: Option<&str>) -> Option<&str> {
    key.filter(|k| is_token(k))
}

/// `POST /dept/tickets/{no}/act/{step}`: the step, through the tickets API as the person.
pub async fn act(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path((no, step)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: StepForm = signed.form(&console, &headers, &body)?;
    department(&signed)?;
    let no = ticket_no(&no)?;
    let key = form_key(form.key.as_deref()).map(str::to_owned);
    let action = step_action(&step, form, console.parts().offset)?;
    let name = action.name();
    let body = serde_json::to_value(&action)
        .map_err(|e| ConsoleError::Internal(anyhow::Error::new(e).context("encoding a step")))?;
    let _: serde_json::Value = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Tickets,
            &format!("/v1/tickets/{no}/actions"),
            &body,
            key.as_deref(),
        )
        .await?;
    Ok(pages::see_other(&format!("/dept/tickets/{no}?done={name}")))
}

#[derive(Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct Revealed {
    citizen: Citizen,
}

/// `POST /dept/tickets/{no}/reveal`: the citizen's contact, through the tickets service's
/// audited reveal (recorded there before it answers); shown on this answer only, never stored.
pub async fn reveal(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: RevealForm = signed.form(&console, &headers, &body)?;
    let dept = department(&signed)?;
    let no = ticket_no(&no)?;
    let reason = required(form.reason, "reason")?;
    let up = &console.parts().upstream;
    let revealed: Revealed = up
        .send(
            signed.token(),
            Method::POST,
            Api::Tickets,
            &format!("/v1/tickets/{no}/reveal"),
            &serde_json::json!({ "reason": reason }),
            None,
        )
        .await?;
    let found: TicketWithHistory = up
        .get(signed.token(), Api::Tickets, &format!("/v1/tickets/{no}"))
        .await?;
    let deadlines: Option<Deadlines> = up
        .get(
            signed.token(),
            Api::Sla,
            &format!("/v1/tickets/{no}/deadlines"),
        )
        .await
        .ok();
    let body = ticket_body(
        lang,
        &console,
        &signed,
        &dept,
        &found,
        deadlines.as_ref(),
        None,
        Some(&revealed.citizen),
    );
    let title = Texts::name(lang.t().steps, "created");
    Ok(pages::html(
        StatusCode::OK,
        layout(lang, Some(&signed), Some(Screen::Inbox), title, body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> StepForm {
        serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).expect("encode"))
            .expect("form")
    }

    #[test]
    fn each_step_becomes_the_ledgers_action() {
        let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
        assert_eq!(
            step_action("accept", form(&[]), offset).expect("ok"),
            Action::Accept
        );
        assert_eq!(
            step_action("return", form(&[("reason", " 非本部门职责 ")]), offset).expect("ok"),
            Action::Return {
                reason: "非本部门职责".into()
            }
        );
        assert!(matches!(
            step_action("return", form(&[("reason", "  ")]), offset),
            Err(ConsoleError::Invalid(_))
        ));
        assert_eq!(
            step_action("complete", form(&[]), offset).expect("ok"),
            Action::Complete {
                note: String::new()
            }
        );
        let Action::RequestExtension { until, .. } = step_action(
            "extension",
            form(&[("reason", "需现场勘查"), ("until", "2026-03-20")]),
            offset,
        )
        .expect("ok") else {
            panic!("not an extension");
        };
        assert_eq!(until.to_rfc3339(), "2026-03-20T15:59:59+00:00");
        assert!(
            step_action(
                "extension",
                form(&[("reason", "x"), ("until", "tomorrow")]),
                offset
            )
            .is_err()
        );
        assert!(matches!(
            step_action("close", form(&[]), offset),
            Err(ConsoleError::NotFound)
        ));
    }

    #[test]
    fn only_keys_of_our_shape_reach_the_ledger() {
        let k = random_token();
        assert_eq!(form_key(Some(&k)), Some(k.as_str()));
        assert_eq!(form_key(Some("x")), None);
        assert_eq!(form_key(None), None);
    }
}
