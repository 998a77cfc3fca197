//! The centre's knowledge review (知识审核, issue 13): the departments write and submit their
//! items in the department portal ([`super::knowledge`]); the centre's knowledge editors
//! (`knowledge_editor` with the department `city.centre`) and administrators review them here.
//!
//! - `GET /knowledge/review`: the review queue, the items whose latest version is in review,
//!   across departments, the longest waiting first; a filter by status and department finds
//!   any other item (a published one to retire).
//! - `GET /knowledge/review/{code}`: the version submitted beside the published one, what
//!   changed between them (the knowledge API's diff, rendered as on the department's pages), the
//!   history, and the steps the item's state allows: publish (an optional note) and send back
//!   (a required note, which the department sees) while in review; retire (a required reason)
//!   while a version is published.
//! - `GET /knowledge/review/{code}/diff?from=&to=`: any two versions compared.
//! - `POST /knowledge/review/{code}/{step}`: `publish`, `reject` or `retire` ([`Step`]); any
//!   other step is not found.
//!
//! The knowledge API decides who may review (services/knowledge/src/http.rs: the centre's
//! editors, the centre's token, administrators; the governance rules refuse departments); the
//! console refuses others before it reads anything (403). Each step is sent with the ETag read
//! with the page as `If-Match`: a page read before another reviewer's decision or before the
//! department's resubmission does not publish, reject or retire a version the reviewer never
//! saw. The API refuses it (412, under the item's row lock) and the page comes back as a conflict
//! (409) with the version now and the note the reviewer typed.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use hotline_auth::{Principal, Role};
use hotline_domain::{DeptCode, ItemCode};
use serde::Deserialize;

use super::Console;
use super::guard::Signed;
use super::knowledge::{
    Base, DiffQuery, Done, Item, LIST_LIMIT, VersionStatus, conflict_flash, content,
    content_tagged, crumbs_heading, diff_of, diff_page, diff_table, history_table, invalid,
    item_code, item_row, labelled_textarea, latest_versions, published_card, refusal,
    refused_flash, status_and_version, versions_of, working_card,
};
use super::pages::{self, Screen, layout};
use super::table;
use crate::error::ConsoleError;
use crate::html::Html;
use crate::i18n::Lang;
use crate::upstream::{Api, UpstreamError};

/// The longest note a reviewer sends (the form's `maxlength`; a note is a few sentences).
const MAX_NOTE_CHARS: usize = 2000;

/// Whether `who` reviews the departments' knowledge: a knowledge editor of the centre, or an
/// administrator (the knowledge API lets both act as the centre).
pub fn reviews_knowledge(who: &Principal, centre: &DeptCode) -> bool {
    who.has(Role::Admin)
        || (who.has(Role::KnowledgeEditor) && who.department.as_ref() == Some(centre))
}

fn reviewer(signed: &Signed) -> Result<(), ConsoleError> {
    if signed.reviews_knowledge {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden)
    }
}

/// A reviewer's step on an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Publish,
    Reject,
    Retire,
}

impl Step {
    /// The step named by the form's path segment.
    fn parse(raw: &str) -> Option<Step> {
        [Step::Publish, Step::Reject, Step::Retire]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// The knowledge API's path segment, the form's and the page's `done=`.
    fn as_str(self) -> &'static str {
        match self {
            Step::Publish => "publish",
            Step::Reject => "reject",
            Step::Retire => "retire",
        }
    }

    /// The knowledge API refuses a rejection or a retirement without a note.
    fn needs_note(self) -> bool {
        matches!(self, Step::Reject | Step::Retire)
    }
}

#[derive(Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    department: Option<String>,
}

/// The queue's filter: the status (`review` unless another or any, `""`, is chosen) and the
/// owner; a malformed one is the person's mistake.
fn filter(q: &QueueQuery) -> Result<(Option<VersionStatus>, Option<DeptCode>), ConsoleError> {
    let status = match q.status.as_deref().map(str::trim) {
        None => Some(VersionStatus::Review),
        Some("") => None,
        Some(raw) => Some(
            VersionStatus::parse(raw).ok_or_else(|| invalid(format!("unknown status {raw:?}")))?,
        ),
    };
    let department = match q.department.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            DeptCode::parse(&raw.to_ascii_uppercase())
                .map_err(|e| invalid(format!("{raw:?}: {e}")))?,
        ),
    };
    Ok((status, department))
}

/// `GET /knowledge/review`: the items in review across departments (or as filtered).
pub async fn queue(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ConsoleError> {
    reviewer(&signed)?;
    let (status, department) = filter(&q)?;
    let mut query: Vec<(&str, String)> = vec![("limit", LIST_LIMIT.to_string())];
    if let Some(s) = status {
        query.push(("status", s.as_str().to_owned()));
    }
    if let Some(d) = &department {
        query.push(("department", d.to_string()));
    }
    let query =
        serde_urlencoded::to_string(&query).map_err(|e| ConsoleError::Internal(e.into()))?;
    let mut items = latest_versions(&console, &signed, &query).await?;
    // The longest waiting first (the API lists by code); an item never submitted last.
    items.sort_by_key(|v| (v.submitted_at.is_none(), v.submitted_at, v.code.clone()));
    let t = lang.t();
    let k = t.kn();
    let offset = console.parts().offset;
    let mut body = Html::new();
    body.raw("<h1>")
        .text(k.review_title)
        .raw("</h1><p class=\"muted\">")
        .text(k.review_intro)
        .raw("</p><form method=\"get\" action=\"/knowledge/review\" class=\"filters card\" id=\"review-filter\"><label for=\"rf-status\">")
        .text(k.status)
        .raw("</label><select id=\"rf-status\" name=\"status\"><option value=\"\"");
    if status.is_none() {
        body.raw(" selected");
    }
    body.raw(">").text(k.any_status).raw("</option>");
    for (code, words) in k.statuses {
        body.raw("<option value=\"").text(code).raw("\"");
        if status.is_some_and(|s| s.as_str() == *code) {
            body.raw(" selected");
        }
        body.raw(">").text(words).raw("</option>");
    }
    body.raw("</select><label for=\"rf-department\">")
        .text(k.department)
        .raw("</label><input type=\"text\" id=\"rf-department\" name=\"department\" maxlength=\"32\" placeholder=\"GZ-TH\" value=\"")
        .text(department.as_ref().map_or("", DeptCode::as_str))
        .raw("\"><button type=\"submit\">")
        .text(k.filter)
        .raw("</button></form>");
    if items.is_empty() {
        body.raw("<p class=\"muted\" id=\"review-empty\">")
            .text(k.review_empty)
            .raw("</p>");
    } else {
        body.append(table::head(
            Some("review-queue"),
            &[
                k.code,
                k.title,
                k.owner,
                k.class,
                k.version,
                k.status,
                k.submitted,
            ],
        ));
        for v in &items {
            body.append(item_row(lang, "/knowledge/review/", v, true))
                .raw("<td>")
                .text(
                    v.submitted_at
                        .map(|at| pages::local(at, offset))
                        .unwrap_or_default(),
                )
                .raw("</td></tr>");
        }
        body.raw("</tbody></table></div>");
    }
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::Review),
            k.review_title,
            body,
        ),
    ))
}

/// Why the review page is shown again after a step.
enum Notice<'a> {
    /// The item changed after the page was read (412): nothing was done.
    Conflict,
    /// The knowledge API refused the step (its words): a state that does not allow it, a
    /// matter no longer in the catalogue.
    Refused(&'a str),
}

/// What the reviewer typed for a step that was not done: shown again in its form.
struct Typed<'a> {
    step: Step,
    note: &'a str,
}

/// How the review page is shown: its status (200, or 409/400 after a step that was not done),
/// the step just done, why a step was not done and what the reviewer had typed.
#[derive(Default)]
struct Shown<'a> {
    status: Option<StatusCode>,
    done: Option<&'a str>,
    notice: Option<Notice<'a>>,
    typed: Option<Typed<'a>>,
}

/// One step's form: the CSRF token, the page's base (its ETag), the note, the button.
fn step_form(
    lang: Lang,
    signed: &Signed,
    code: &ItemCode,
    base: &Base,
    step: Step,
    typed: Option<&Typed<'_>>,
) -> Html {
    let k = lang.t().kn();
    let (label, button) = match step {
        Step::Publish => (k.publish_note, k.publish),
        Step::Reject => (k.reject_note, k.reject),
        Step::Retire => (k.retire_note, k.retire),
    };
    let note = typed.filter(|t| t.step == step).map_or("", |t| t.note);
    let mut h = Html::new();
    h.raw("<form class=\"action\" method=\"post\" id=\"")
        .text(step.as_str())
        .raw("-form\" action=\"/knowledge/review/")
        .text(code.as_str())
        .raw("/")
        .text(step.as_str())
        .raw("\">")
        .append(pages::csrf_field(signed))
        .append(base.field());
    if step == Step::Retire {
        h.raw("<p class=\"muted\">")
            .text(k.retire_warning)
            .raw("</p>");
    }
    let attributes = if step.needs_note() {
        " maxlength=\"2000\" required"
    } else {
        " maxlength=\"2000\""
    };
    labelled_textarea(
        &mut h,
        label,
        &format!("{}-note", step.as_str()),
        "note",
        attributes,
        note,
    );
    h.raw("<button type=\"submit\" id=\"")
        .text(step.as_str())
        .raw("\"");
    if step != Step::Publish {
        h.raw(" class=\"secondary\"");
    }
    h.raw(">").text(button).raw("</button></form>");
    h
}

/// The review page of `code`, read now, shown as `shown` says.
async fn review_page(
    console: &Console,
    signed: &Signed,
    lang: Lang,
    code: &ItemCode,
    shown: Shown<'_>,
) -> Result<Response, ConsoleError> {
    let Shown {
        status,
        done,
        notice,
        typed,
    } = shown;
    let versions = versions_of(console, signed, code).await?;
    let latest = versions.first().ok_or(ConsoleError::NotFound)?;
    let published = versions
        .iter()
        .find(|v| v.status == VersionStatus::Published);
    // The latest version with the item's ETag, read in one request: the steps are sent
    // against what this page shows.
    let (latest_item, etag) = content_tagged(console, signed, code, latest.version).await?;
    let base = Base::of(latest, etag);
    let published_item: Option<Item> = match published {
        Some(p) if p.version == latest.version => Some(latest_item.clone()),
        Some(p) => Some(content(console, signed, code, p.version).await?),
        None => None,
    };
    let working = matches!(
        latest.status,
        VersionStatus::Draft | VersionStatus::Review | VersionStatus::Rejected
    );
    // What the reviewer decides on: the version in review against the published one.
    let diff = match (latest.status, published) {
        (VersionStatus::Review, Some(p)) => {
            Some(diff_of(console, signed, code, p.version, latest.version).await?)
        }
        _ => None,
    };
    let t = lang.t();
    let k = t.kn();
    let offset = console.parts().offset;
    let mut body = crumbs_heading(
        "/knowledge/review",
        k.back_to_queue,
        &latest.title,
        code.as_str(),
    );
    let done_words = match done {
        Some("publish") => Some(k.published_done),
        Some("reject") => Some(k.rejected_done),
        Some("retire") => Some(k.retired_done),
        _ => None,
    };
    if let Some(w) = done_words {
        body.raw("<p class=\"flash ok\" role=\"status\" id=\"done\">")
            .text(w)
            .raw("</p>");
    }
    match notice {
        Some(Notice::Conflict) => {
            body.append(conflict_flash(lang, k.review_conflict, latest, offset));
        }
        Some(Notice::Refused(why)) => {
            body.append(refused_flash(k.review_refused, why));
        }
        None => {}
    }
    body.raw("<section class=\"card\" id=\"review-actions\"><p>")
        .text(k.owner)
        .raw(": <span class=\"mono\">")
        .text(latest.owner.as_str())
        .raw("</span> · ")
        .append(status_and_version(lang, latest));
    if let Some(at) = latest.submitted_at {
        body.raw(" · ")
            .text(k.submitted)
            .raw(" ")
            .text(pages::local(at, offset));
    }
    body.raw("</p>");
    let typed = typed.as_ref();
    let mut steps = 0;
    if latest.status == VersionStatus::Review {
        body.append(step_form(lang, signed, code, &base, Step::Publish, typed))
            .append(step_form(lang, signed, code, &base, Step::Reject, typed));
        steps += 2;
    }
    if published.is_some() {
        body.append(step_form(lang, signed, code, &base, Step::Retire, typed));
        steps += 1;
    }
    if steps == 0 {
        body.raw("<p class=\"muted\">")
            .text(k.nothing_to_decide)
            .raw("</p>");
    }
    body.raw("</section>");
    if latest.status == VersionStatus::Review {
        body.raw("<section class=\"card\" id=\"review-diff\"><h2>")
            .text(k.review_diff_title)
            .raw("</h2>");
        match (&diff, &published_item) {
            (Some(d), Some(old)) => {
                body.append(diff_table(lang, d, old, &latest_item));
            }
            _ => {
                body.raw("<p class=\"muted\">").text(k.new_item).raw("</p>");
            }
        }
        body.raw("</section>");
    }
    body.raw("<div class=\"grid\">")
        .append(working_card(
            lang,
            "submitted",
            k.submitted_title,
            latest,
            working.then_some(&latest_item),
        ))
        .append(published_card(lang, published, published_item.as_ref()))
        .raw("</div>")
        .append(history_table(
            lang,
            &versions,
            offset,
            &format!("/knowledge/review/{code}/diff"),
        ));
    let title = latest.title.clone();
    Ok(pages::html(
        status.unwrap_or(StatusCode::OK),
        layout(lang, Some(signed), Some(Screen::Review), &title, body),
    ))
}

/// `GET /knowledge/review/{code}`: the item's review page.
pub async fn item(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(code): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    reviewer(&signed)?;
    let code = item_code(&code)?;
    review_page(
        &console,
        &signed,
        lang,
        &code,
        Shown {
            done: done.done.as_deref(),
            ..Shown::default()
        },
    )
    .await
}

/// The step's form: the page's base (required: a step is never sent unconditionally from
/// here) and the note.
fn step_fields(pairs: &[(String, String)]) -> Result<(Base, String), ConsoleError> {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let base = field("base")
        .and_then(Base::parse)
        .ok_or_else(|| invalid("the form's version is not one we made".into()))?;
    // A browser sends a textarea's line breaks as CRLF.
    let note = field("note")
        .unwrap_or("")
        .replace("\r\n", "\n")
        .trim()
        .to_owned();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(invalid(format!(
            "the note has more than {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok((base, note))
}

/// A step against the page's ETag. Done: back to the page, which says so. The item changed
/// since the page was read (412): the page again with the version now and the reviewer's note
/// (409), nothing done. The API refused the step (409, 400): the page with its words.
async fn decide(
    console: Console,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    code: String,
    body: Bytes,
    step: Step,
) -> Result<Response, ConsoleError> {
    let pairs: Vec<(String, String)> = signed.form(&console, &headers, &body)?;
    reviewer(&signed)?;
    let code = item_code(&code)?;
    let (base, note) = step_fields(&pairs)?;
    if step.needs_note() && note.is_empty() {
        // The browser's `required` was bypassed: the page again, saying so, nothing sent.
        return review_page(
            &console,
            &signed,
            lang,
            &code,
            Shown {
                status: Some(StatusCode::BAD_REQUEST),
                notice: Some(Notice::Refused(lang.t().kn().note_required)),
                ..Shown::default()
            },
        )
        .await;
    }
    let sent: Result<serde_json::Value, UpstreamError> = console
        .parts()
        .upstream
        .send_if_match(
            signed.token(),
            Method::POST,
            Api::Knowledge,
            &format!("/v1/items/{code}/{}", step.as_str()),
            &serde_json::json!({ "note": note }),
            Some(&base.etag),
        )
        .await;
    let typed = Typed { step, note: &note };
    match sent {
        Ok(_) => Ok(pages::see_other(&format!(
            "/knowledge/review/{code}?done={}",
            step.as_str()
        ))),
        Err(UpstreamError::PreconditionFailed(_)) => {
            review_page(
                &console,
                &signed,
                lang,
                &code,
                Shown {
                    status: Some(StatusCode::CONFLICT),
                    notice: Some(Notice::Conflict),
                    typed: Some(typed),
                    ..Shown::default()
                },
            )
            .await
        }
        Err(e) => {
            let (status, why) = refusal(e)?;
            review_page(
                &console,
                &signed,
                lang,
                &code,
                Shown {
                    status: Some(status),
                    notice: Some(Notice::Refused(&why)),
                    typed: Some(typed),
                    ..Shown::default()
                },
            )
            .await
        }
    }
}

/// `POST /knowledge/review/{code}/{step}`: `publish` the version in review (`note` optional),
/// `reject` it (sent back with `note`) or `retire` the published version (`note` the reason).
pub async fn step(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path((code, step)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let step = Step::parse(&step).ok_or(ConsoleError::NotFound)?;
    decide(console, signed, lang, headers, code, body, step).await
}

/// `GET /knowledge/review/{code}/diff?from=&to=`: two versions of any department's item.
pub async fn diff(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(code): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, ConsoleError> {
    reviewer(&signed)?;
    let code = item_code(&code)?;
    let (from, to) = q.versions()?;
    diff_page(
        &console,
        &signed,
        lang,
        &code,
        (from, to),
        &format!("/knowledge/review/{code}"),
        Screen::Review,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::knowledge::tests::pairs;

    #[test]
    fn the_centres_editors_and_administrators_review_and_nobody_else() {
        let centre = DeptCode::parse("GZ-CENTRE").expect("code");
        let person = |roles: &[Role], dept: Option<&str>| Principal {
            subject: "p".into(),
            name: None,
            roles: roles.iter().copied().collect(),
            department: dept.map(|d| DeptCode::parse(d).expect("code")),
        };
        assert!(reviews_knowledge(
            &person(&[Role::KnowledgeEditor], Some("GZ-CENTRE")),
            &centre
        ));
        assert!(reviews_knowledge(&person(&[Role::Admin], None), &centre));
        for (roles, dept) in [
            (&[Role::KnowledgeEditor][..], Some("GZ-TH")),
            (
                &[Role::DepartmentStaff, Role::KnowledgeEditor][..],
                Some("GZ-TH"),
            ),
            // The centre's department on its own is not the editor's role.
            (&[Role::DepartmentStaff][..], Some("GZ-CENTRE")),
            (&[Role::Supervisor][..], None),
            (&[Role::KnowledgeEditor][..], None),
        ] {
            assert!(
                !reviews_knowledge(&person(roles, dept), &centre),
                "{roles:?} {dept:?}"
            );
        }
    }

    #[test]
    fn the_queue_filter_is_review_unless_chosen_and_checked() {
        let q = |status: Option<&str>, department: Option<&str>| QueueQuery {
            status: status.map(str::to_owned),
            department: department.map(str::to_owned),
        };
        assert_eq!(
            filter(&q(None, None)).expect("ok"),
            (Some(VersionStatus::Review), None)
        );
        assert_eq!(filter(&q(Some(""), Some(" "))).expect("ok"), (None, None));
        let (status, dept) = filter(&q(Some("published"), Some("gz-th"))).expect("ok");
        assert_eq!(status, Some(VersionStatus::Published));
        assert_eq!(dept.as_ref().map(DeptCode::as_str), Some("GZ-TH"));
        assert!(matches!(
            filter(&q(Some("gone"), None)),
            Err(ConsoleError::Invalid(_))
        ));
        assert!(matches!(
            filter(&q(None, Some("GZ TH/../x"))),
            Err(ConsoleError::Invalid(_))
        ));
    }

    #[test]
    fn a_step_needs_our_base_and_a_bounded_note() {
        let base = "3:review:\"41\"";
        let (b, note) = step_fields(&pairs(&[
            ("_csrf", "x"),
            ("base", base),
            ("note", " 请补充\r\n依据 "),
        ]))
        .expect("fields");
        assert_eq!(b.etag, "\"41\"");
        assert_eq!(b.version, 3);
        assert_eq!(note, "请补充\n依据");
        // Publishing needs no note.
        let (_, note) = step_fields(&pairs(&[("base", base)])).expect("fields");
        assert_eq!(note, "");
        // An empty note is read as empty: the step decides whether that is enough.
        let (_, note) = step_fields(&pairs(&[("base", base), ("note", " \r\n")])).expect("fields");
        assert!(note.is_empty());
        assert!(Step::Reject.needs_note() && Step::Retire.needs_note());
        assert!(!Step::Publish.needs_note());
        // No base, or one we did not make: refused, never sent without If-Match.
        for form in [
            pairs(&[("note", "x")]),
            pairs(&[("base", "3:review:41"), ("note", "x")]),
        ] {
            assert!(matches!(step_fields(&form), Err(ConsoleError::Invalid(_))));
        }
        let long = "长".repeat(MAX_NOTE_CHARS + 1);
        assert!(matches!(
            step_fields(&pairs(&[("base", base), ("note", &long)])),
            Err(ConsoleError::Invalid(_))
        ));
    }

    /// Through the router, with the knowledge API on a port nothing listens on: what is
    /// refused is refused before any service is asked (a service asked would make it a 503).
    mod routes {
        use axum::http::StatusCode;

        use crate::session::random_token;
        use crate::web::knowledge::tests::routes::console;
        use crate::web::tests::{
            form_post as post, get_signed as get, signed_in, status_of as status,
        };

        const STEPS: [&str; 3] = [
            "/knowledge/review/YB/publish",
            "/knowledge/review/YB/reject",
            "/knowledge/review/YB/retire",
        ];
        const PAGES: [&str; 3] = [
            "/knowledge/review",
            "/knowledge/review/YB",
            "/knowledge/review/YB/diff?from=1&to=2",
        ];

        #[tokio::test]
        async fn the_review_is_the_centres_and_its_steps_need_the_csrf_token() {
            let c = console();
            let base = "base=2%3Areview%3A%2217%22&note=x";
            let (reviewer, csrf) = signed_in(&c, &["knowledge_editor"], Some("GZ-CENTRE")).await;
            for uri in STEPS {
                let without = post(uri, &reviewer, base.to_owned());
                assert_eq!(status(&c, without).await, StatusCode::FORBIDDEN, "{uri}");
                let wrong = post(uri, &reviewer, format!("_csrf={}&{base}", random_token()));
                assert_eq!(status(&c, wrong).await, StatusCode::FORBIDDEN, "{uri}");
                // With the token the knowledge API is asked, and it is not there.
                let right = post(uri, &reviewer, format!("_csrf={csrf}&{base}"));
                assert_eq!(
                    status(&c, right).await,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{uri}"
                );
            }
            for uri in PAGES {
                assert_eq!(
                    status(&c, get(uri, &reviewer)).await,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{uri}: the reviewer's page asks the knowledge API"
                );
            }
            // A department's editor, staff, an agent: refused before anything is read or sent.
            for (roles, dept) in [
                (&["department_staff", "knowledge_editor"][..], Some("GZ-TH")),
                (&["knowledge_editor"][..], Some("GZ-TH")),
                (&["agent"][..], None),
            ] {
                let (who, csrf) = signed_in(&c, roles, dept).await;
                for uri in PAGES {
                    assert_eq!(
                        status(&c, get(uri, &who)).await,
                        StatusCode::FORBIDDEN,
                        "{roles:?} {uri}"
                    );
                }
                for uri in STEPS {
                    let r = post(uri, &who, format!("_csrf={csrf}&{base}"));
                    assert_eq!(
                        status(&c, r).await,
                        StatusCode::FORBIDDEN,
                        "{roles:?} {uri}"
                    );
                }
            }
            // A step without our base is the person's mistake, not sent (no 503).
            let r = post(
                "/knowledge/review/YB/publish",
                &reviewer,
                format!("_csrf={csrf}"),
            );
            assert_eq!(status(&c, r).await, StatusCode::BAD_REQUEST);
            // A step the review has not: not found, nothing sent (no 503).
            let r = post(
                "/knowledge/review/YB/approve",
                &reviewer,
                format!("_csrf={csrf}&{base}"),
            );
            assert_eq!(status(&c, r).await, StatusCode::NOT_FOUND);
        }
    }
}
