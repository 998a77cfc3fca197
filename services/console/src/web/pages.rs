//! The page layout and what several screens show: the header with the screens the roles allow,
//! the home, sign-in and error pages, a ticket's facts, history and deadlines, warning colours.
//! Words come from [`crate::i18n`], data goes through [`Html::text`].

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, FixedOffset, Utc};
use hotline_auth::{Principal, Role};
use hotline_domain::contract::{HistoryEntry, TicketView};
use hotline_domain::{Actor, Status, TicketNo};
use serde::Deserialize;

use super::Console;
use super::guard::Signed;
use crate::assets;
use crate::error::{Failure, FailureKind};
use crate::html::Html;
use crate::i18n::{Lang, Texts};
use crate::upstream::{Api, Upstream};

/// The roles that work the dispatcher's screens (the dispatch API's `ManualQueue` policy).
pub const DISPATCH_ROLES: &[Role] = &[Role::Dispatcher, Role::Supervisor, Role::Admin];

/// A screen of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Inbox,
    /// The department's knowledge items ([`super::knowledge`]).
    Knowledge,
    /// The centre's knowledge review ([`super::review`]).
    Review,
    Queue,
    Returns,
    Catalogue,
    /// The agent desk ([`super::agent`]).
    AgentDesk,
    /// The supervisor's screens ([`super::supervisor`]).
    Board,
    Report,
    Hotspots,
}

impl Screen {
    fn href(self) -> &'static str {
        match self {
            Screen::Inbox => "/dept",
            Screen::Knowledge => "/dept/knowledge",
            Screen::Review => "/knowledge/review",
            Screen::Queue => "/dispatch/queue",
            Screen::Returns => "/dispatch/returns",
            Screen::Catalogue => "/dispatch/catalogue",
            Screen::AgentDesk => "/agent",
            Screen::Board => "/supervisor",
            Screen::Report => "/supervisor/report",
            Screen::Hotspots => "/supervisor/hotspots",
        }
    }

    fn words(self, t: &'static Texts) -> (&'static str, &'static str) {
        match self {
            Screen::Inbox => (t.tile_inbox, t.tile_inbox_desc),
            Screen::Knowledge => (t.kn().tile, t.kn().tile_desc),
            Screen::Review => (t.kn().review_tile, t.kn().review_tile_desc),
            Screen::Queue => (t.tile_queue, t.tile_queue_desc),
            Screen::Returns => (t.tile_returns, t.tile_returns_desc),
            Screen::Catalogue => (t.tile_catalogue, t.tile_catalogue_desc),
            Screen::AgentDesk => (t.agent().tile, t.agent().tile_desc),
            Screen::Board => (t.sup().tile_board, t.sup().tile_board_desc),
            Screen::Report => (t.sup().tile_report, t.sup().tile_report_desc),
            Screen::Hotspots => (t.sup().tile_hotspots, t.sup().tile_hotspots_desc),
        }
    }
}

/// The screens `who` may use: the department portal (inbox and knowledge items) for a
/// department's staff, the knowledge review for the centre's reviewers (`reviews_knowledge`,
/// [`super::review::reviews_knowledge`]), the dispatcher's for dispatchers, supervisors and
/// administrators.
pub fn screens(who: &Principal, reviews_knowledge: bool) -> Vec<Screen> {
    let mut out = Vec::new();
    if who.limited_to_department().is_some() {
        out.extend([Screen::Inbox, Screen::Knowledge]);
    }
    if reviews_knowledge {
        out.push(Screen::Review);
    }
    if who.has_any(DISPATCH_ROLES) {
        out.extend([Screen::Queue, Screen::Returns, Screen::Catalogue]);
    }
    if who.has_any(super::agent::AGENT_ROLES) {
        out.push(Screen::AgentDesk);
    }
    if who.has_any(super::supervisor::SUPERVISOR_ROLES) {
        out.extend([Screen::Board, Screen::Report, Screen::Hotspots]);
    }
    out
}

pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// 303 to `location` (after a POST, the browser GETs it).
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// htmx's settings: no eval and no inline styles (the CSP forbids both), no page snapshots in
/// the browser's storage (pages may hold a revealed phone number), and error pages swapped in
/// like any other so the person sees why.
const HTMX_CONFIG: &str = r#"{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,"historyCacheSize":0,"refreshOnHistoryMiss":true,"selfRequestsOnly":true,"responseHandling":[{"code":"204","swap":false},{"code":".*","swap":true}]}"#;

/// A whole page.
pub fn layout(
    lang: Lang,
    signed: Option<&Signed>,
    current: Option<Screen>,
    title: &str,
    body: Html,
) -> String {
    let t = lang.t();
    let mut page = Html::new();
    page.raw("<!doctype html><html lang=\"")
        .text(lang.html_lang())
        .raw("\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<meta name=\"htmx-config\" content=\"")
        .text(HTMX_CONFIG)
        .raw("\"><title>")
        .text(title)
        .raw(" · ")
        .text(t.app_name)
        .raw("</title><link rel=\"icon\" href=\"")
        .text(assets::url("icon.svg"))
        .raw("\"><link rel=\"stylesheet\" href=\"")
        .text(assets::url("console.css"))
        .raw("\"><script src=\"")
        .text(assets::url("htmx.min.js"))
        .raw("\" defer></script><script src=\"")
        // htmx's SSE extension (the agent desk's live calls), after htmx: both deferred, so
        // they run in this order.
        .text(assets::url("htmx-ext-sse.min.js"))
        .raw("\" defer></script><script src=\"")
        // The hotspot map's loader: does nothing on a page without the map (it loads ECharts
        // only there), and is in every page's head because htmx runs no script it swaps in.
        .text(assets::url("hotspots.js"))
        .raw("\" defer></script></head>");
    match signed {
        // Every htmx request carries the CSRF token; plain forms carry it as a field.
        Some(s) => {
            page.raw("<body hx-boost=\"true\" hx-headers=\"")
                .text(format!("{{\"X-CSRF-Token\":\"{}\"}}", s.csrf()))
                .raw("\">");
        }
        None => {
            page.raw("<body>");
        }
    }
    page.raw("<header class=\"top\"><a class=\"brand\" href=\"/\">")
        .text(t.app_name)
        .raw("</a><nav>");
    if let Some(s) = signed {
        for screen in screens(&s.principal, s.reviews_knowledge) {
            page.raw("<a href=\"").text(screen.href()).raw("\"");
            if current == Some(screen) {
                page.raw(" aria-current=\"page\"");
            }
            page.raw(">").text(screen.words(t).0).raw("</a>");
        }
    }
    page.raw("</nav><div class=\"who\">");
    if let Some(s) = signed {
        page.raw("<span>")
            .text(s.principal.name.as_deref().unwrap_or(&s.principal.subject));
        if let Some(dept) = &s.principal.department {
            page.raw(" · ").text(dept.as_str());
        }
        let roles: Vec<&str> = s
            .principal
            .roles
            .iter()
            .map(|r| Texts::name(t.roles, r.as_str()))
            .collect();
        page.raw(" · ").text(roles.join("、")).raw("</span>");
    }
    page.raw("<span class=\"lang\"><a hx-boost=\"false\" href=\"?lang=")
        .text(lang.other().code())
        .raw("\">")
        .text(t.other_lang)
        .raw("</a></span>");
    if let Some(s) = signed {
        page.raw("<form method=\"post\" action=\"/auth/logout\" hx-boost=\"false\">")
            .append(csrf_field(s))
            .raw("<button class=\"secondary small\" type=\"submit\">")
            .text(t.sign_out)
            .raw("</button></form>");
    }
    page.raw("</div></header><main>")
        .append(body)
        .raw("</main></body></html>");
    page.finish()
}

/// The hidden CSRF field of a form.
pub fn csrf_field(signed: &Signed) -> Html {
    let mut h = Html::new();
    h.raw("<input type=\"hidden\" name=\"_csrf\" value=\"")
        .text(signed.csrf())
        .raw("\">");
    h
}

/// The home page: a tile per screen.
pub fn home(lang: Lang, signed: &Signed, screens: &[Screen]) -> String {
    let t = lang.t();
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.home_title)
        .raw("</h1><p>")
        .text(t.home_intro)
        .raw("</p><div class=\"tiles\">");
    for screen in screens {
        let (name, desc) = screen.words(t);
        body.raw("<a href=\"")
            .text(screen.href())
            .raw("\"><strong>")
            .text(name)
            .raw("</strong>")
            .text(desc)
            .raw("</a>");
    }
    body.raw("</div>");
    layout(lang, Some(signed), None, t.home_title, body)
}

/// The page of someone not signed in: a link to sign in (a plain link, not a form, so the
/// redirect to the issuer is a navigation the CSP's `form-action` does not govern).
pub fn sign_in(lang: Lang, notice: Option<&str>) -> String {
    let t = lang.t();
    let mut body = Html::new();
    body.raw("<div class=\"signin card\"><h1>")
        .text(t.signin_title)
        .raw("</h1>");
    if let Some(n) = notice {
        body.raw("<p class=\"flash ok\">").text(n).raw("</p>");
    }
    body.raw("<p>")
        .text(t.signin_intro)
        .raw("</p><a class=\"button\" id=\"sign-in\" href=\"/auth/login\">")
        .text(t.sign_in)
        .raw("</a></div>");
    layout(lang, None, None, t.signin_title, body)
}

/// After the callback: on to `to` by a same-site navigation (see [`super::auth`]).
pub fn moving_on(lang: Lang, to: &str) -> String {
    let t = lang.t();
    let mut page = Html::new();
    page.raw("<!doctype html><html lang=\"")
        .text(lang.html_lang())
        .raw("\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=")
        .text(to)
        .raw("\"><title>")
        .text(t.app_name)
        .raw("</title><link rel=\"icon\" href=\"")
        .text(assets::url("icon.svg"))
        .raw("\"></head><body><p><a href=\"")
        .text(to)
        .raw("\">")
        .text(t.home)
        .raw("</a></p></body></html>");
    page.finish()
}

/// The page of a failed request.
pub fn error(lang: Lang, _console: &Console, failure: &Failure) -> String {
    let t = lang.t();
    let words = match failure.kind {
        FailureKind::Forbidden => t.err_forbidden,
        FailureKind::Csrf => t.err_csrf,
        FailureKind::NotFound => t.err_not_found,
        FailureKind::Invalid => t.err_invalid,
        FailureKind::Conflict => t.err_conflict,
        FailureKind::SignInFailed | FailureKind::SignIn { .. } => t.err_signin,
        FailureKind::Unavailable => t.err_unavailable,
        FailureKind::Internal => t.err_internal,
    };
    let mut body = Html::new();
    body.raw("<h1>")
        .text(t.err_title)
        .raw("</h1><p class=\"flash error\" role=\"alert\">")
        .text(words);
    if let Some(detail) = &failure.detail {
        body.text(detail);
    }
    body.raw("</p><p><a href=\"/\">")
        .text(t.back_home)
        .raw("</a>");
    if failure.kind == FailureKind::SignInFailed {
        body.raw(" · <a hx-boost=\"false\" href=\"/auth/login\">")
            .text(t.sign_in)
            .raw("</a>");
    }
    body.raw("</p>");
    // The error page has no session at hand: its header shows no screens.
    layout(lang, None, None, t.err_title, body)
}

/// A time in the city's local time.
pub fn local(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A ticket's deadlines as the SLA API gives them.
#[derive(Debug, Clone, Deserialize)]
pub struct Deadlines {
    #[serde(default)]
    pub clocks: Vec<ClockView>,
    #[serde(default)]
    pub extensions: Vec<ExtensionView>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClockView {
    pub stage: String,
    #[serde(default)]
    pub department: Option<String>,
    pub due_at: DateTime<Utc>,
    pub warn_at: DateTime<Utc>,
    /// `open` while it runs (or is paused).
    pub state: String,
    pub level: String,
    #[serde(default)]
    pub paused_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExtensionView {
    pub status: String,
    pub until: DateTime<Utc>,
}

#[derive(Deserialize)]
struct DeadlinesOf {
    ticket_no: TicketNo,
    #[serde(flatten)]
    deadlines: Deadlines,
}

#[derive(Deserialize)]
struct ManyDeadlines {
    tickets: Vec<DeadlinesOf>,
}

/// Most tickets SLA's `GET /v1/deadlines` takes at once.
const DEADLINES_AT_ONCE: usize = 200;

/// The deadlines of `tickets`, read with one SLA request per 200 (`GET /v1/deadlines`) rather
/// than one per row: an inbox of 100 rows asked 100 times took 0.3-0.8 s with 100,000 tickets
/// stored. A ticket without a clock the person may see is absent, and so is every ticket when
/// SLA does not answer: the rows are shown without a deadline.
pub async fn deadlines_of(
    up: &Upstream,
    token: &str,
    tickets: &[TicketNo],
) -> HashMap<TicketNo, Deadlines> {
    let reads = tickets.chunks(DEADLINES_AT_ONCE).map(|chunk| {
        let list = chunk
            .iter()
            .map(|no| no.to_string())
            .collect::<Vec<_>>()
            .join(",");
        async move {
            up.get::<ManyDeadlines>(token, Api::Sla, &format!("/v1/deadlines?tickets={list}"))
                .await
        }
    });
    let mut found = HashMap::with_capacity(tickets.len());
    for answer in futures::future::join_all(reads).await {
        match answer {
            Ok(many) => found.extend(many.tickets.into_iter().map(|d| (d.ticket_no, d.deadlines))),
            Err(e) => tracing::warn!(error = %e, "SLA deadlines not read; rows shown without"),
        }
    }
    found
}

impl Deadlines {
    /// The running clock due first (optionally of one stage).
    pub fn current(&self, stage: Option<&str>) -> Option<&ClockView> {
        self.clocks
            .iter()
            .filter(|c| c.state == "open" && stage.is_none_or(|s| c.stage == s))
            .min_by_key(|c| c.due_at)
    }
}

/// How urgent a deadline is: the colour of its badge and its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    None,
    Paused,
    Ok,
    Warn,
    Over,
}

impl Urgency {
    pub fn of(clock: Option<&ClockView>, now: DateTime<Utc>) -> Urgency {
        let Some(c) = clock else {
            return Urgency::None;
        };
        if c.paused_at.is_some() {
            Urgency::Paused
        } else if now >= c.due_at
            || matches!(c.level.as_str(), "overdue" | "supervised" | "escalated")
        {
            Urgency::Over
        } else if now >= c.warn_at || c.level == "warned" {
            Urgency::Warn
        } else {
            Urgency::Ok
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Urgency::None => "due due-none",
            Urgency::Paused => "due due-paused",
            Urgency::Ok => "due due-ok",
            Urgency::Warn => "due due-warn",
            Urgency::Over => "due due-over",
        }
    }

    /// The class of a list row, so a late ticket stands out in the whole line.
    pub fn row_class(self) -> &'static str {
        match self {
            Urgency::Over => "row-over",
            Urgency::Warn => "row-warn",
            _ => "",
        }
    }
}

/// A deadline badge: the due time, coloured by urgency.
pub fn due_badge(lang: Lang, clock: Option<&ClockView>, offset: FixedOffset) -> Html {
    let t = lang.t();
    let urgency = Urgency::of(clock, Utc::now());
    let mut h = Html::new();
    h.raw("<span class=\"").text(urgency.class()).raw("\">");
    match clock {
        None => {
            h.text(t.no_deadline);
        }
        Some(c) => {
            h.text(local(c.due_at, offset));
            if urgency == Urgency::Paused {
                h.raw(" · ").text(t.paused);
            } else if c.level != "none" {
                h.raw(" · ").text(Texts::name(t.levels, &c.level));
            }
        }
    }
    h.raw("</span>");
    h
}

pub fn status_badge(lang: Lang, status: Status) -> Html {
    let mut h = Html::new();
    h.raw("<span class=\"status\">")
        .text(Texts::name(lang.t().statuses, status.as_str()))
        .raw("</span>");
    h
}

/// A ticket's facts. The citizen as the tickets API gave them: masked, or absent for a
/// confidential ticket read by a department.
pub fn facts(lang: Lang, ticket: &TicketView, offset: FixedOffset) -> Html {
    let t = lang.t();
    let mut h = Html::new();
    let row = |h: &mut Html, label: &str, value: Html| {
        h.raw("<dt>")
            .text(label)
            .raw("</dt><dd>")
            .append(value)
            .raw("</dd>");
    };
    let text = |s: &str| {
        let mut v = Html::new();
        v.text(s);
        v
    };
    h.raw("<dl class=\"facts\">");
    row(&mut h, t.ticket_no, {
        let mut v = Html::new();
        v.raw("<span class=\"mono\">")
            .display(ticket.ticket_no)
            .raw("</span>");
        v
    });
    row(&mut h, t.status, status_badge(lang, ticket.status));
    row(
        &mut h,
        t.matter,
        text(ticket.service_code.as_ref().map_or("—", |c| c.as_str())),
    );
    row(
        &mut h,
        t.request_type,
        text(Texts::name(t.request_types, ticket.request_type.as_str())),
    );
    row(
        &mut h,
        t.channel,
        text(Texts::name(t.channels, ticket.channel.as_str())),
    );
    row(&mut h, t.created, text(&local(ticket.created_at, offset)));
    row(&mut h, t.description, text(&ticket.description));
    row(
        &mut h,
        t.address,
        text(ticket.location.address.as_deref().unwrap_or("—")),
    );
    row(
        &mut h,
        t.lead,
        text(ticket.lead.as_ref().map_or("—", |d| d.as_str())),
    );
    if !ticket.co.is_empty() {
        let co: Vec<&str> = ticket.co.iter().map(|d| d.as_str()).collect();
        row(&mut h, t.co, text(&co.join(", ")));
    }
    let c = &ticket.citizen;
    let mut who = Html::new();
    if ticket.confidential {
        who.raw("<span class=\"muted\">")
            .text(t.confidential)
            .raw("</span>");
    }
    for (label, value) in [(t.name, &c.name), (t.phone, &c.phone), (t.email, &c.email)] {
        if let Some(v) = value {
            who.raw("<span class=\"masked\">")
                .text(label)
                .raw(": ")
                .text(v)
                .raw("</span> ");
        }
    }
    row(&mut h, t.citizen, who);
    h.raw("</dl>");
    h
}

/// Who took a step, in words.
fn actor(lang: Lang, actor: &Actor) -> String {
    let t = lang.t();
    match actor {
        Actor::Citizen { channel } => {
            format!(
                "{}（{}）",
                t.citizen,
                Texts::name(t.channels, channel.as_str())
            )
        }
        Actor::Agent { id } => id.clone(),
        Actor::Department { code } => code.as_str().to_owned(),
        Actor::System { service } => service.clone(),
    }
}

/// The words a step carried (note, reason, reply, question, the department it went to).
pub fn step_text(entry: &HistoryEntry) -> String {
    let Some(action) = &entry.action else {
        return String::new();
    };
    let Ok(value) = serde_json::to_value(action) else {
        return String::new();
    };
    let mut parts = Vec::new();
    for key in ["lead", "to", "into"] {
        if let Some(v) = value[key].as_str() {
            parts.push(format!("→ {v}"));
        }
    }
    if let Some(lead) = value["ruling"]["lead"].as_str() {
        parts.push(format!("→ {lead}"));
    }
    for key in ["reason", "question", "text", "answer", "note"] {
        if let Some(v) = value[key].as_str().filter(|v| !v.is_empty()) {
            parts.push(v.to_owned());
        }
    }
    parts.join(" · ")
}

/// The ticket's history, oldest first.
pub fn history(lang: Lang, entries: &[HistoryEntry], offset: FixedOffset) -> Html {
    let t = lang.t();
    let mut h = Html::new();
    h.raw("<ol class=\"history\">");
    for e in entries {
        h.raw("<li><span class=\"when\">")
            .text(local(e.at, offset))
            .raw(" · ")
            .text(actor(lang, &e.actor))
            .raw("</span><br><strong>")
            .text(Texts::name(t.steps, &e.step))
            .raw("</strong> → ")
            .text(Texts::name(t.statuses, e.to.as_str()));
        let words = step_text(e);
        if !words.is_empty() {
            h.raw("<div class=\"note\">").text(words).raw("</div>");
        }
        h.raw("</li>");
    }
    h.raw("</ol>");
    h
}

/// Every clock of the ticket the reader may see.
pub fn deadlines_table(lang: Lang, d: &Deadlines, offset: FixedOffset) -> Html {
    let t = lang.t();
    let mut h = Html::new();
    if d.clocks.is_empty() {
        h.raw("<p class=\"muted\">").text(t.no_deadline).raw("</p>");
        return h;
    }
    h.raw("<div class=\"table-wrap\"><table><thead><tr><th>")
        .text(t.stage)
        .raw("</th><th>")
        .text(t.department)
        .raw("</th><th>")
        .text(t.warn_from)
        .raw("</th><th>")
        .text(t.due)
        .raw("</th></tr></thead><tbody>");
    for c in &d.clocks {
        h.raw("<tr><td>")
            .text(Texts::name(t.stages, &c.stage))
            .raw("</td><td>")
            .text(c.department.as_deref().unwrap_or("—"))
            .raw("</td><td>")
            .text(local(c.warn_at, offset))
            .raw("</td><td>");
        if c.state == "open" {
            h.append(due_badge(lang, Some(c), offset));
        } else {
            h.text(local(c.due_at, offset));
        }
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
    if d.extensions.iter().any(|e| e.status == "pending") {
        h.raw("<p class=\"flash ok\">")
            .text(t.extension_pending)
            .raw("</p>");
    }
    h
}

/// "Done: <step>" after a successful step (`?done=<step>`).
pub fn done_flash(lang: Lang, done: Option<&str>) -> Html {
    let mut h = Html::new();
    if let Some(step) = done {
        let t = lang.t();
        h.raw("<p class=\"flash ok\" role=\"status\">")
            .text(t.done)
            .text(Texts::name(t.steps, step))
            .raw("</p>");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn clock(due_in_min: i64, warn_in_min: i64, level: &str) -> ClockView {
        let now = Utc::now();
        ClockView {
            stage: "handling".into(),
            department: Some("GZ-TH".into()),
            due_at: now + chrono::Duration::minutes(due_in_min),
            warn_at: now + chrono::Duration::minutes(warn_in_min),
            state: "open".into(),
            level: level.into(),
            paused_at: None,
        }
    }

    #[test]
    fn warning_colours_follow_the_deadline_and_the_level() {
        let now = Utc::now();
        assert_eq!(Urgency::of(None, now), Urgency::None);
        assert_eq!(Urgency::of(Some(&clock(60, 30, "none")), now), Urgency::Ok);
        assert_eq!(
            Urgency::of(Some(&clock(60, -1, "none")), now),
            Urgency::Warn
        );
        assert_eq!(
            Urgency::of(Some(&clock(60, 30, "warned")), now),
            Urgency::Warn
        );
        assert_eq!(
            Urgency::of(Some(&clock(-1, -30, "none")), now),
            Urgency::Over
        );
        assert_eq!(
            Urgency::of(Some(&clock(60, 30, "supervised")), now),
            Urgency::Over
        );
        let mut paused = clock(-1, -30, "overdue");
        paused.paused_at = Some(now);
        assert_eq!(Urgency::of(Some(&paused), now), Urgency::Paused);
    }

    #[test]
    fn the_screens_follow_the_roles() {
        let person = |roles: &[Role], dept: Option<&str>| Principal {
            subject: "p".into(),
            name: None,
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
            department: dept.map(|d| hotline_domain::DeptCode::parse(d).expect("code")),
        };
        // Whether a person reviews knowledge is the guard's call (it knows the centre's
        // code); here, what the header shows for each.
        let centre = hotline_domain::DeptCode::parse("GZ-CENTRE").expect("code");
        let with_review =
            |p: &Principal| screens(p, crate::web::review::reviews_knowledge(p, &centre));
        assert_eq!(
            with_review(&person(
                &[Role::DepartmentStaff, Role::KnowledgeEditor],
                Some("GZ-TH")
            )),
            [Screen::Inbox, Screen::Knowledge]
        );
        assert_eq!(
            with_review(&person(&[Role::Dispatcher], None)),
            [Screen::Queue, Screen::Returns, Screen::Catalogue]
        );
        assert_eq!(
            with_review(&person(&[Role::Agent], None)),
            [Screen::AgentDesk]
        );
        assert!(with_review(&person(&[Role::KnowledgeEditor], Some("GZ-TH"))).is_empty());
        // The centre's knowledge editor: the review only; an administrator reviews too.
        assert_eq!(
            with_review(&person(&[Role::KnowledgeEditor], Some("GZ-CENTRE"))),
            [Screen::Review]
        );
        assert_eq!(
            with_review(&person(&[Role::Admin], None)),
            [
                Screen::Review,
                Screen::Queue,
                Screen::Returns,
                Screen::Catalogue,
                Screen::Board,
                Screen::Report,
                Screen::Hotspots
            ]
        );
    }
}
