//! The agent desk (接线员工作台), for the centre's agents on the phone: the agent's calls and the
//! contacts arriving by message (WeChat, web, email, app, SMS) appear live, a call's page shows the caller's history and open tickets, the knowledge base suggests
//! answers while the agent types, and the agent answers on the spot with a leaf or files the
//! ticket with the seat assistant's fields, the likely duplicates and smart dispatch's
//! suggestion in view; then finishes the call.
//!
//! Every read and step goes to the owning service with the agent's own token:
//! - the phone channel (8084): the agent's active calls, a call with the caller's history and
//!   tickets (masked), the ticket from the call, the answer's leaf, finishing;
//! - knowledge (8085): suggestions, search, the tree (按图索骥), answering a ticket with a leaf
//!   (the ledger's `answer` step, recorded as the agent), flagging a wrong answer;
//! - tickets (8081): the newest contacts by message, likely duplicates of the draft, the audited
//!   reveal, the ticket search (by number: the ticket with its history);
//! - dispatch (8082): the seat assistant (`POST /v1/assist`) and smart dispatch's assessment.
//!
//! Live calls: the phone channel publishes no call events (it keeps calls in Postgres), and the
//! console has no NATS user, so [`events`] polls the agent's `/v1/calls/active` with the agent's
//! token every [`POLL_EVERY`] for as long as the desk is open, and pushes the list to the
//! browser as a server-sent event when it changed (htmx's SSE extension swaps it in).
//!
//! Live messages: the same loop asks the tickets service's `GET /v1/messages` (new tickets from
//! every channel but the phone, citizens' additions by message; masked) every
//! [`MESSAGES_EVERY_POLLS`] polls, one request for the whole panel, and pushes it as a
//! `messages` event when it changed. Each links to the ticket search by its number
//! (`/agent/tickets?no=`), which shows that ticket and its history: agents have no ticket page
//! of their own.
//!
//! | route | what |
//! |---|---|
//! | `GET /agent` | the desk: live calls, live messages, shortcuts, the ticket search |
//! | `GET /agent/events` | server-sent events: `calls`, `messages` (each list's HTML) |
//! | `GET /agent/calls/{id}` | a call: the caller's history, the request, knowledge, the ticket form |
//! | `POST /agent/calls/{id}/{knowledge,assist,ticket,answer,flag,finish}` | a call's steps |
//! | `GET /agent/calls/{id}/tree/{item}`, `POST /agent/calls/{id}/reveal/{no}` | the tree walk, the audited reveal |
//! | `GET /agent/tickets?status=&service_code=&from=` or `?no=` | the ticket search; by number, the ticket and its history |

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use hotline_auth::Role;
use hotline_domain::contract::{Citizen, TicketView, TicketWithHistory};
use hotline_domain::{ItemCode, TicketNo};
use serde::Deserialize;

use super::guard::Signed;
use super::pages::{self, Screen, layout};
use super::{Console, dept::ticket_no};
use crate::error::ConsoleError;
use crate::html::Html;
use crate::i18n::agent::AgentTexts;
use crate::i18n::{Lang, Texts};
use crate::session::{Loaded, random_token};
use crate::upstream::{Api, UpstreamError};

/// The roles of the desk: the phone channel's agents.
pub const AGENT_ROLES: &[Role] = &[Role::Agent];
/// How often an open desk asks the phone channel for the agent's calls.
pub const POLL_EVERY: Duration = Duration::from_millis(1500);
/// The live messages are asked for every this many polls (3 s): a message waits for an agent
/// for minutes, a ringing call for seconds.
pub const MESSAGES_EVERY_POLLS: u32 = 2;
/// How many contacts by message the desk shows.
const MESSAGES_SHOWN: u32 = 20;
/// How much of a message's text the desk shows.
const MESSAGE_CHARS: usize = 80;
/// A feed ends after this long (the browser reconnects at once), so a long-open desk has its
/// session and roles checked again by the sign-in extractor.
const FEED_MAX: Duration = Duration::from_secs(600);
/// A feed ends when the access token has less than this left: the reconnect refreshes it.
const FEED_TOKEN_MARGIN_MS: i64 = 30_000;
/// Knowledge hits shown.
const HITS: usize = 6;
/// Longest text sent for suggestions (the knowledge service bounds queries too).
const MAX_QUERY_CHARS: usize = 500;

fn desk(signed: &Signed) -> Result<(), ConsoleError> {
    signed.require(AGENT_ROLES)
}

/// A call id as the phone channel's URLs need it: every byte but letters, digits, `-`, `_` and
/// `.` percent-encoded (CTI call ids may hold `#`, `+`, `@`, `:`).
pub fn encode_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A call id from our URL: what the CTI form allows, bounded; anything else names no call.
fn call_id(raw: &str) -> Result<String, ConsoleError> {
    let ok = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:+#*".contains(&b));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ConsoleError::NotFound)
    }
}

fn item_code(raw: &str) -> Result<ItemCode, ConsoleError> {
    ItemCode::parse(raw.trim()).map_err(|_| ConsoleError::NotFound)
}

// ---- what the services answer ----

/// A call as the phone channel shows it to staff (the caller's number masked).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallView {
    pub call_id: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default)]
    pub line: Option<String>,
    #[serde(default)]
    pub ivr: Option<String>,
    pub state: String,
    pub ringing_at: DateTime<Utc>,
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ticket_nos: Vec<TicketNo>,
    #[serde(default)]
    pub answer_leaf: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Active {
    calls: Vec<CallView>,
}

/// A contact by message as the tickets service lists it (`GET /v1/messages`, contacts masked).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageView {
    /// `created` (a new ticket), `supplement` or `provide_information` (a citizen's addition).
    pub kind: String,
    pub ticket_no: TicketNo,
    pub seq: i32,
    pub at: DateTime<Utc>,
    pub channel: String,
    #[serde(default)]
    pub request_type: String,
    #[serde(default)]
    pub service_code: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub citizen: Citizen,
}

#[derive(Debug, Deserialize)]
struct Messages {
    messages: Vec<MessageView>,
}

#[derive(Debug, Deserialize)]
struct CallDetail {
    call: CallView,
    #[serde(default)]
    history: Vec<CallView>,
    #[serde(default)]
    tickets: Vec<TicketView>,
    #[serde(default)]
    open_ticket_nos: Vec<TicketNo>,
}

/// A knowledge hit (search or suggestion).
#[derive(Debug, Clone, Deserialize)]
pub struct Hit {
    pub code: String,
    pub title: String,
    pub item: String,
    #[serde(default)]
    pub item_title: String,
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub departments: Vec<String>,
    #[serde(default)]
    pub snippet: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Hits {
    #[serde(default)]
    hits: Vec<Hit>,
}

#[derive(Debug, Deserialize)]
struct TreeNode {
    code: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    label: String,
}

#[derive(Debug, Deserialize)]
struct TreeHead {
    code: String,
    title: String,
    #[serde(default)]
    matter_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Leaf {
    code: String,
    title: String,
    answer: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    departments: Vec<String>,
    #[serde(default)]
    procedure: String,
    #[serde(default)]
    materials: Vec<String>,
    #[serde(default)]
    fees: String,
    #[serde(default)]
    time_limit: String,
    #[serde(default)]
    contact: String,
}

#[derive(Debug, Deserialize)]
struct Tree {
    item: TreeHead,
    #[serde(default)]
    path: Vec<String>,
    #[serde(default)]
    children: Vec<TreeNode>,
    #[serde(default)]
    answer: Option<Leaf>,
    #[serde(default)]
    in_force: Option<bool>,
}

/// The seat assistant's fields (dispatch `POST /v1/assist`), those the desk uses.
#[derive(Debug, Default, Deserialize)]
pub struct Assisted {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub request_type: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub matter_code: Option<String>,
    #[serde(default)]
    pub urgency: Option<String>,
    #[serde(default)]
    pub emergency: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Duplicate {
    ticket: TicketView,
}

#[derive(Debug, Deserialize)]
struct Duplicates {
    #[serde(default)]
    candidates: Vec<Duplicate>,
}

#[derive(Debug, Deserialize)]
struct Revealed {
    citizen: Citizen,
}

// ---- the desk and its live calls ----

/// The live call list: what the desk shows and the feed pushes.
pub fn calls_list(lang: Lang, calls: &[CallView], offset: chrono::FixedOffset) -> Html {
    let a = lang.t().agent();
    let mut h = Html::new();
    if calls.is_empty() {
        h.raw("<p class=\"muted\">").text(a.no_calls).raw("</p>");
        return h;
    }
    h.raw("<ul class=\"calls\">");
    for c in calls {
        h.raw("<li class=\"call call-")
            .text(&c.state)
            .raw("\" id=\"call-")
            .text(&c.call_id)
            .raw("\"><strong>")
            .text(Texts::name(a.states, &c.state))
            .raw("</strong> <span class=\"mono\">")
            .text(c.caller.as_deref().unwrap_or("—"))
            .raw("</span> <span class=\"muted\">")
            .text(pages::local(c.ringing_at, offset))
            .raw("</span> <a class=\"button small\" href=\"/agent/calls/")
            .text(encode_id(&c.call_id))
            .raw("\">")
            .text(a.open_call)
            .raw("</a></li>");
    }
    h.raw("</ul>");
    h
}

/// The live messages: what the desk shows and the feed pushes, newest first. Each names its
/// channel, time, kind, ticket (a link to it), request type and matter, the citizen as the
/// tickets service masked them, and the start of the text.
pub fn messages_list(lang: Lang, messages: &[MessageView], offset: chrono::FixedOffset) -> Html {
    let t = lang.t();
    let a = t.agent();
    let mut h = Html::new();
    if messages.is_empty() {
        h.raw("<p class=\"muted\">").text(a.no_messages).raw("</p>");
        return h;
    }
    h.raw("<ul class=\"calls messages\">");
    for m in messages {
        let mut text: String = m.text.chars().take(MESSAGE_CHARS).collect();
        if m.text.chars().nth(MESSAGE_CHARS).is_some() {
            text.push('…');
        }
        h.raw("<li class=\"message message-")
            .text(&m.kind)
            .raw("\" id=\"msg-")
            .display(m.ticket_no)
            .raw("-")
            .display(m.seq)
            .raw("\"><strong>")
            .text(Texts::name(t.channels, &m.channel))
            .raw("</strong> <span class=\"muted\">")
            .text(pages::local(m.at, offset))
            .raw("</span> <span>")
            .text(Texts::name(a.message_kinds, &m.kind))
            .raw("</span> <a class=\"mono\" href=\"/agent/tickets?no=")
            .display(m.ticket_no)
            .raw("\">")
            .display(m.ticket_no)
            .raw("</a> <span>")
            .text(Texts::name(t.request_types, &m.request_type));
        if let Some(code) = &m.service_code {
            h.raw(" · <span class=\"mono\">").text(code).raw("</span>");
        }
        h.raw("</span>");
        for value in [&m.citizen.name, &m.citizen.phone, &m.citizen.email]
            .into_iter()
            .flatten()
        {
            h.raw(" <span class=\"masked\">").text(value).raw("</span>");
        }
        h.raw(" <span class=\"text\">")
            .text(text)
            .raw("</span></li>");
    }
    h.raw("</ul>");
    h
}

fn shortcuts(a: &AgentTexts) -> Html {
    let mut h = Html::new();
    h.raw("<section class=\"card\" id=\"shortcuts\"><h2>")
        .text(a.shortcuts)
        .raw("</h2><dl class=\"facts\">");
    for (key, what) in [
        ("Alt+A", a.key_answer),
        ("Alt+T", a.key_ticket),
        ("Alt+I", a.key_assist),
        ("Alt+S", a.key_search),
        ("Alt+F", a.key_finish),
    ] {
        h.raw("<dt><kbd>")
            .text(key)
            .raw("</kbd></dt><dd>")
            .text(what)
            .raw("</dd>");
    }
    h.raw("</dl><p class=\"muted\">")
        .text(a.shortcuts_note)
        .raw("</p></section>");
    h
}

fn done_flash(a: &AgentTexts, q: &DoneQuery) -> Html {
    let mut h = Html::new();
    let words = match q.done.as_deref() {
        Some("answered") => a.done_answered,
        Some("ticket") => a.done_ticket,
        Some("finish") => a.done_finish,
        Some("flag") => a.flagged,
        _ => return h,
    };
    h.raw("<p class=\"flash ok\" role=\"status\" id=\"done\">")
        .text(words);
    if let Some(no) = q.no.as_deref().and_then(|n| TicketNo::parse(n).ok()) {
        h.raw("<span class=\"mono\">").display(no).raw("</span>");
    }
    h.raw("</p>");
    h
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    no: Option<String>,
}

async fn active(console: &Console, token: &str) -> Result<Vec<CallView>, UpstreamError> {
    console
        .parts()
        .upstream
        .get::<Active>(token, Api::Phone, "/v1/calls/active")
        .await
        .map(|a| a.calls)
}

async fn recent_messages(
    console: &Console,
    token: &str,
) -> Result<Vec<MessageView>, UpstreamError> {
    console
        .parts()
        .upstream
        .get::<Messages>(
            token,
            Api::Tickets,
            &format!("/v1/messages?limit={MESSAGES_SHOWN}"),
        )
        .await
        .map(|m| m.messages)
}

/// `GET /agent`: the desk: the live calls and messages, the shortcuts, the ticket search.
pub async fn home(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(done): Query<DoneQuery>,
) -> Result<Response, ConsoleError> {
    desk(&signed)?;
    let a = lang.t().agent();
    let offset = console.parts().offset;
    let (calls, messages) = tokio::join!(
        active(&console, signed.token()),
        recent_messages(&console, signed.token())
    );
    // A service down: the desk still opens; the feed keeps trying.
    let calls = match calls {
        Ok(calls) => calls_list(lang, &calls, offset),
        Err(UpstreamError::Unauthorized) => {
            return Err(ConsoleError::NotSignedIn { expired: true });
        }
        Err(_) => notice(a.phone_unavailable),
    };
    let messages = match messages {
        Ok(messages) => messages_list(lang, &messages, offset),
        Err(UpstreamError::Unauthorized) => {
            return Err(ConsoleError::NotSignedIn { expired: true });
        }
        Err(_) => notice(a.messages_unavailable),
    };
    let mut body = Html::new();
    body.raw("<h1>")
        .text(a.title)
        .raw("</h1>")
        .append(done_flash(a, &done))
        // One stream for both lists: its `calls` and `messages` events replace them (the
        // first of each comes at once on connecting).
        .raw("<div class=\"grid\" hx-ext=\"sse\" sse-connect=\"/agent/events\"><div><section class=\"card\"><h2>")
        .text(a.live_calls)
        .raw("</h2><p class=\"muted\">")
        .text(a.live_note)
        .raw("</p><div id=\"live-calls\" sse-swap=\"calls\" aria-live=\"polite\">")
        .append(calls)
        .raw("</div></section>")
        .append(search_form(lang, &TicketSearch::default()))
        .raw("</div><div><section class=\"card\" id=\"messages\"><h2>")
        .text(a.live_messages)
        .raw("</h2><p class=\"muted\">")
        .text(a.messages_note)
        .raw("</p><div id=\"live-messages\" sse-swap=\"messages\" aria-live=\"polite\">")
        .append(messages)
        .raw("</div></section>")
        .append(shortcuts(a))
        .raw("</div></div>");
    Ok(pages::html(
        StatusCode::OK,
        layout(lang, Some(&signed), Some(Screen::AgentDesk), a.title, body),
    ))
}

fn notice(words: &str) -> Html {
    let mut h = Html::new();
    h.raw("<p class=\"flash error\" role=\"alert\">")
        .text(words)
        .raw("</p>");
    h
}

/// The lists the feed pushes, each as its own event.
#[derive(Debug, Clone, Copy)]
enum List {
    Calls = 0,
    Messages = 1,
}

impl List {
    fn event(self) -> &'static str {
        match self {
            List::Calls => "calls",
            List::Messages => "messages",
        }
    }
}

/// One agent's live feed: the session it belongs to, what it last sent of each list, and the
/// events of the last poll not yet sent.
struct Feed {
    console: Console,
    id: crate::session::SessionId,
    lang: Lang,
    started: tokio::time::Instant,
    /// By [`List`].
    last: [Option<String>; 2],
    polls: u32,
    ready: VecDeque<Event>,
    retry_sent: bool,
}

impl Feed {
    /// Queues `html` as `list`'s event when it differs from what was last sent of it.
    fn queue(&mut self, list: List, html: String) {
        let last = &mut self.last[list as usize];
        if last.as_deref() == Some(html.as_str()) {
            return;
        }
        *last = Some(html.clone());
        let event = Event::default().event(list.event()).data(html);
        // A closed feed is reopened by the browser after a second.
        self.ready
            .push_back(if std::mem::replace(&mut self.retry_sent, true) {
                event
            } else {
                event.retry(Duration::from_secs(1))
            });
    }

    /// The next event, or `None` when the feed ends (the browser reconnects).
    async fn next(&mut self) -> Option<Event> {
        let stop = self.console.parts().streams.clone();
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.polls > 0 {
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                }
            }
            let poll = self.polls;
            self.polls = self.polls.wrapping_add(1);
            if stop.is_cancelled() || self.started.elapsed() > FEED_MAX {
                return None;
            }
            // The session as it is now: signed out ends the feed, a token refreshed by
            // another request is used.
            let sessions = self.console.sessions();
            let session = match sessions.load(&self.id).await {
                Ok(Loaded::Live(s)) => *s,
                Ok(_) => return None,
                Err(_) => continue,
            };
            if session.access_expires_at - sessions.now_ms() < FEED_TOKEN_MARGIN_MS {
                return None;
            }
            let token = session.access_token.as_str();
            let offset = self.console.parts().offset;
            let a = self.lang.t().agent();
            let due = poll.is_multiple_of(MESSAGES_EVERY_POLLS);
            let (calls, messages) = tokio::join!(active(&self.console, token), async {
                if due {
                    Some(recent_messages(&self.console, token).await)
                } else {
                    None
                }
            });
            let calls = match calls {
                Ok(calls) => calls_list(self.lang, &calls, offset).finish(),
                Err(UpstreamError::Unauthorized | UpstreamError::Forbidden(_)) => return None,
                Err(_) => notice(a.phone_unavailable).finish(),
            };
            self.queue(List::Calls, calls);
            if let Some(messages) = messages {
                let messages = match messages {
                    Ok(messages) => messages_list(self.lang, &messages, offset).finish(),
                    Err(UpstreamError::Unauthorized) => return None,
                    Err(_) => notice(a.messages_unavailable).finish(),
                };
                self.queue(List::Messages, messages);
            }
        }
    }
}

/// `GET /agent/events`: the agent's calls and the contacts by message as server-sent events
/// (`calls`, `messages`: each list's HTML), each sent on connecting and whenever it changes.
pub async fn events(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
) -> Result<Response, ConsoleError> {
    desk(&signed)?;
    let feed = Feed {
        console,
        id: signed.id,
        lang,
        started: tokio::time::Instant::now(),
        last: [None, None],
        polls: 0,
        ready: VecDeque::new(),
        retry_sent: false,
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        feed.next()
            .await
            .map(|event| (Ok::<Event, Infallible>(event), feed))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

// ---- a call ----

async fn call_detail(
    console: &Console,
    signed: &Signed,
    id: &str,
) -> Result<CallDetail, ConsoleError> {
    Ok(console
        .parts()
        .upstream
        .get(
            signed.token(),
            Api::Phone,
            &format!("/v1/calls/{}", encode_id(id)),
        )
        .await?)
}

fn fact(h: &mut Html, label: &str, value: &str) {
    h.raw("<dt>")
        .text(label)
        .raw("</dt><dd>")
        .text(value)
        .raw("</dd>");
}

fn call_facts(lang: Lang, call: &CallView, offset: chrono::FixedOffset) -> Html {
    let a = lang.t().agent();
    let when =
        |t: Option<DateTime<Utc>>| t.map_or_else(|| "—".to_owned(), |t| pages::local(t, offset));
    let mut h = Html::new();
    h.raw("<dl class=\"facts\" id=\"call-facts\">");
    fact(&mut h, a.caller, call.caller.as_deref().unwrap_or("—"));
    fact(&mut h, a.state, Texts::name(a.states, &call.state));
    fact(&mut h, a.line, call.line.as_deref().unwrap_or("—"));
    if let Some(ivr) = &call.ivr {
        fact(&mut h, a.ivr, ivr);
    }
    fact(&mut h, a.rang_at, &pages::local(call.ringing_at, offset));
    fact(&mut h, a.answered_at, &when(call.answered_at));
    if call.ended_at.is_some() {
        fact(&mut h, a.ended_at, &when(call.ended_at));
    }
    if !call.ticket_nos.is_empty() {
        let nos: Vec<String> = call.ticket_nos.iter().map(ToString::to_string).collect();
        fact(&mut h, a.call_tickets, &nos.join(", "));
    }
    if let Some(leaf) = &call.answer_leaf {
        fact(&mut h, a.answer_leaf, leaf);
    }
    h.raw("</dl>");
    h
}

/// The caller's tickets (masked as the phone channel gives them), each with the audited reveal.
fn caller_tickets(
    lang: Lang,
    signed: &Signed,
    call_id: &str,
    detail: &CallDetail,
    revealed: Option<(TicketNo, &Citizen)>,
    offset: chrono::FixedOffset,
) -> Html {
    let t = lang.t();
    let a = t.agent();
    let mut h = Html::new();
    h.raw("<h3>").text(a.open_tickets).raw("</h3>");
    if detail.tickets.is_empty() {
        h.raw("<p class=\"muted\">").text(a.no_tickets).raw("</p>");
    } else {
        h.raw("<div class=\"table-wrap\"><table><thead><tr><th>")
            .text(t.ticket_no)
            .raw("</th><th>")
            .text(t.status)
            .raw("</th><th>")
            .text(t.description)
            .raw("</th><th>")
            .text(t.created)
            .raw("</th><th>")
            .text(t.citizen)
            .raw("</th></tr></thead><tbody>");
        for tk in &detail.tickets {
            let open = detail.open_ticket_nos.contains(&tk.ticket_no);
            let description: String = tk.description.chars().take(60).collect();
            h.raw("<tr id=\"ticket-")
                .display(tk.ticket_no)
                .raw("\" class=\"")
                .text(if open { "row-warn" } else { "" })
                .raw("\"><td class=\"num mono\">")
                .display(tk.ticket_no)
                .raw("</td><td>")
                .append(pages::status_badge(lang, tk.status))
                .raw("</td><td class=\"text\">")
                .text(description)
                .raw("</td><td>")
                .text(pages::local(tk.created_at, offset))
                .raw("</td><td>");
            let shown = match revealed {
                Some((no, citizen)) if no == tk.ticket_no => citizen,
                _ => &tk.citizen,
            };
            for value in [&shown.name, &shown.phone, &shown.email]
                .into_iter()
                .flatten()
            {
                h.raw("<span class=\"masked\">").text(value).raw("</span> ");
            }
            if !matches!(revealed, Some((no, _)) if no == tk.ticket_no) && !tk.confidential {
                h.raw("<form method=\"post\" class=\"inline\" action=\"/agent/calls/")
                    .text(encode_id(call_id))
                    .raw("/reveal/")
                    .display(tk.ticket_no)
                    .raw("\">")
                    .append(pages::csrf_field(signed))
                    .raw("<input type=\"hidden\" name=\"reason\" value=\"")
                    .text(a.reveal_reason_default)
                    .raw("\"><button class=\"secondary small\" type=\"submit\">")
                    .text(t.reveal)
                    .raw("</button></form>");
            }
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
    }
    h.raw("<h3>").text(a.earlier_calls).raw("</h3>");
    if detail.history.is_empty() {
        h.raw("<p class=\"muted\">")
            .text(a.no_earlier_calls)
            .raw("</p>");
    } else {
        h.raw("<ul class=\"plain\">");
        for c in &detail.history {
            h.raw("<li>")
                .text(pages::local(c.ringing_at, offset))
                .raw(" · ")
                .text(Texts::name(a.states, &c.state));
            for no in &c.ticket_nos {
                h.raw(" · <span class=\"mono\">").display(no).raw("</span>");
            }
            h.raw("</li>");
        }
        h.raw("</ul>");
    }
    h
}

/// The request-type choice of the ticket form.
fn request_type_select(t: &'static Texts, chosen: Option<&str>) -> Html {
    let mut h = Html::new();
    h.raw("<label for=\"request_type\">")
        .text(t.request_type)
        .raw("</label><select id=\"request_type\" name=\"request_type\">");
    for (code, words) in t.request_types {
        h.raw("<option value=\"").text(code).raw("\"");
        if chosen == Some(*code) || (chosen.is_none() && *code == "help_request") {
            h.raw(" selected");
        }
        h.raw(">").text(words).raw("</option>");
    }
    h.raw("</select>");
    h
}

/// The fields the seat assistant fills in (the `#assisted` part of the ticket form).
fn assisted_fields(
    lang: Lang,
    address: &str,
    request_type: Option<&str>,
    service_code: &str,
) -> Html {
    let t = lang.t();
    let a = t.agent();
    let mut h = Html::new();
    h.raw("<label for=\"address\">")
        .text(t.address)
        .raw("</label><input type=\"text\" id=\"address\" name=\"address\" maxlength=\"500\" value=\"")
        .text(address)
        .raw("\">")
        .append(request_type_select(t, request_type))
        .raw("<label for=\"service_code\">")
        .text(a.service_code)
        .raw("</label><input type=\"text\" id=\"service_code\" name=\"service_code\" maxlength=\"32\" value=\"")
        .text(service_code)
        .raw("\"><label class=\"check\"><input type=\"checkbox\" name=\"confidential\" value=\"on\"> ")
        .text(a.confidential_box)
        .raw("</label>");
    h
}

fn call_body(
    lang: Lang,
    console: &Console,
    signed: &Signed,
    detail: &CallDetail,
    done: &DoneQuery,
    revealed: Option<(TicketNo, &Citizen)>,
) -> Html {
    let t = lang.t();
    let a = t.agent();
    let offset = console.parts().offset;
    let call = &detail.call;
    let id = encode_id(&call.call_id);
    let base = format!("/agent/calls/{id}");
    let mut body = Html::new();
    body.raw("<p><a href=\"/agent\">← ")
        .text(a.back_to_desk)
        .raw("</a></p><h1>")
        .text(a.call)
        .raw(" <span class=\"mono\">")
        .text(call.caller.as_deref().unwrap_or("—"))
        .raw("</span></h1>")
        .append(done_flash(a, done))
        .raw("<div class=\"grid\"><div>");
    // Taking the request: the text drives the suggestions; the assistant fills the fields.
    body.raw("<section class=\"card\"><h2>")
        .text(a.draft_title)
        .raw("</h2><p class=\"muted\">")
        .text(a.draft_intro)
        .raw("</p><form id=\"draft\" method=\"post\" action=\"")
        .text(&base)
        .raw("/ticket\">")
        .append(pages::csrf_field(signed))
        .raw("<input type=\"hidden\" name=\"key\" value=\"")
        .text(random_token())
        .raw("\"><label for=\"description\">")
        .text(t.description)
        .raw("</label><textarea id=\"description\" name=\"description\" rows=\"5\" maxlength=\"4000\" required hx-post=\"")
        .text(&base)
        .raw("/knowledge\" hx-trigger=\"keyup changed delay:300ms\" hx-target=\"#suggestions\" hx-include=\"#kq\" hx-sync=\"this:replace\"></textarea><div id=\"assisted\">")
        .append(assisted_fields(lang, "", None, ""))
        .raw("</div><div class=\"actions\"><button type=\"button\" class=\"secondary\" accesskey=\"i\" hx-post=\"")
        .text(&base)
        .raw("/assist\" hx-include=\"#draft\" hx-target=\"#assisted\">")
        .text(a.assist)
        .raw(" <kbd>Alt+I</kbd></button> <button type=\"submit\" id=\"create-ticket\" accesskey=\"t\">")
        .text(a.create_ticket)
        .raw(" <kbd>Alt+T</kbd></button></div></form></section>");
    // The call and the caller's history.
    body.raw("<section class=\"card\"><h2>")
        .text(a.call)
        .raw("</h2>")
        .append(call_facts(lang, call, offset))
        .raw("<form method=\"post\" action=\"")
        .text(&base)
        .raw("/finish\">")
        .append(pages::csrf_field(signed))
        .raw("<p class=\"muted\">")
        .text(a.finish_note)
        .raw("</p><button type=\"submit\" id=\"finish\" class=\"secondary\" accesskey=\"f\">")
        .text(a.finish)
        .raw(" <kbd>Alt+F</kbd></button></form></section><section class=\"card\" id=\"caller-history\"><h2>")
        .text(a.history_title)
        .raw("</h2>")
        .append(caller_tickets(lang, signed, &call.call_id, detail, revealed, offset))
        .raw("</section></div><div>");
    // The knowledge base: search, suggestions, the open answer or the tree.
    body.raw("<section class=\"card\"><h2>")
        .text(a.knowledge)
        .raw("</h2><input type=\"search\" id=\"kq\" name=\"q\" maxlength=\"200\" accesskey=\"s\" placeholder=\"")
        .text(a.search_placeholder)
        .raw(" (Alt+S)\" aria-label=\"")
        .text(a.search_placeholder)
        .raw("\" hx-post=\"")
        .text(&base)
        .raw("/knowledge\" hx-trigger=\"keyup changed delay:300ms, search\" hx-target=\"#suggestions\" hx-include=\"#description\" hx-sync=\"this:replace\"><div id=\"suggestions\" aria-live=\"polite\"><p class=\"muted\">")
        .text(a.type_to_search)
        .raw("</p></div><div id=\"leaf\"></div></section>")
        .append(shortcuts(a))
        .raw("</div></div>");
    body
}

/// `GET /agent/calls/{id}`: the call page.
pub async fn call(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Path(id): Path<String>,
    Query(done): Query<DoneQuery>,
) -> Result<Response, ConsoleError> {
    desk(&signed)?;
    let id = call_id(&id)?;
    let detail = call_detail(&console, &signed, &id).await?;
    let body = call_body(lang, &console, &signed, &detail, &done, None);
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::AgentDesk),
            lang.t().agent().call,
            body,
        ),
    ))
}

#[derive(Deserialize)]
struct RevealForm {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /agent/calls/{id}/reveal/{no}`: one of the caller's tickets' contact, through the
/// tickets service's audited reveal; shown on this answer only, never stored.
pub async fn reveal(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path((id, no)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: RevealForm = signed.form(&console, &headers, &body)?;
    desk(&signed)?;
    let id = call_id(&id)?;
    let no = ticket_no(&no)?;
    let reason = form
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ConsoleError::Invalid("reason".into()))?;
    let detail = call_detail(&console, &signed, &id).await?;
    // Only the caller's own tickets are revealed from the call page.
    if !detail.tickets.iter().any(|t| t.ticket_no == no) {
        return Err(ConsoleError::NotFound);
    }
    let revealed: Revealed = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Tickets,
            &format!("/v1/tickets/{no}/reveal"),
            &serde_json::json!({ "reason": reason }),
            None,
        )
        .await?;
    let body = call_body(
        lang,
        &console,
        &signed,
        &detail,
        &DoneQuery::default(),
        Some((no, &revealed.citizen)),
    );
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::AgentDesk),
            lang.t().agent().call,
            body,
        ),
    ))
}

/// An htmx request gets the fragment; a plain one (no script) the fragment in a page.
fn fragment(headers: &HeaderMap, lang: Lang, signed: &Signed, title: &str, h: Html) -> Response {
    if headers.contains_key("hx-request") {
        pages::html(StatusCode::OK, h.finish())
    } else {
        pages::html(
            StatusCode::OK,
            layout(lang, Some(signed), Some(Screen::AgentDesk), title, h),
        )
    }
}

#[derive(Deserialize, Default)]
struct KnowledgeForm {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

fn bounded(text: &str) -> String {
    text.trim().chars().take(MAX_QUERY_CHARS).collect()
}

/// A snippet as knowledge gives it (escaped HTML with `<em>` around the matches) back to plain
/// text, so that it goes through our escaping like any other data.
pub fn snippet_text(snippet: &str) -> String {
    snippet
        .replace("<em>", "")
        .replace("</em>", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn hits_list(lang: Lang, base: &str, hits: &[Hit]) -> Html {
    let a = lang.t().agent();
    let mut h = Html::new();
    if hits.is_empty() {
        h.raw("<p class=\"muted\">").text(a.no_hits).raw("</p>");
        return h;
    }
    h.raw("<h3>")
        .text(a.suggestions_for)
        .raw("</h3><ol class=\"hits\">");
    for hit in hits.iter().take(HITS) {
        h.raw("<li class=\"hit\" data-leaf=\"")
            .text(&hit.code)
            .raw("\"><strong>")
            .text(&hit.title)
            .raw("</strong> <span class=\"muted\">")
            .text(&hit.item_title);
        for step in &hit.path {
            h.raw(" › ").text(step);
        }
        h.raw("</span>");
        if !hit.departments.is_empty() {
            h.raw(" <span class=\"muted\">· ")
                .text(hit.departments.join(", "))
                .raw("</span>");
        }
        if let Some(s) = &hit.snippet {
            h.raw("<div class=\"note\">")
                .text(snippet_text(s))
                .raw("</div>");
        }
        h.raw("<div class=\"actions\"><a class=\"button small\" href=\"")
            .text(base)
            .raw("/tree/")
            .text(&hit.item)
            .raw("?node=")
            .text(&hit.code)
            .raw("\" hx-get=\"")
            .text(base)
            .raw("/tree/")
            .text(&hit.item)
            .raw("?node=")
            .text(&hit.code)
            .raw("\" hx-target=\"#leaf\" hx-push-url=\"false\">")
            .text(a.open_leaf)
            .raw("</a> <a class=\"small\" href=\"")
            .text(base)
            .raw("/tree/")
            .text(&hit.item)
            .raw("\" hx-get=\"")
            .text(base)
            .raw("/tree/")
            .text(&hit.item)
            .raw("\" hx-target=\"#leaf\" hx-push-url=\"false\">")
            .text(a.walk_tree)
            .raw("</a></div></li>");
    }
    h.raw("</ol>");
    h
}

/// `POST /agent/calls/{id}/knowledge`: answers for what the agent typed: a search when the
/// search box has words, else suggestions for the request's text.
pub async fn knowledge(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: KnowledgeForm = signed.form(&console, &headers, &body)?;
    desk(&signed)?;
    let id = call_id(&id)?;
    let base = format!("/agent/calls/{}", encode_id(&id));
    let up = &console.parts().upstream;
    let q = bounded(form.q.as_deref().unwrap_or(""));
    let text = bounded(form.description.as_deref().unwrap_or(""));
    let a = lang.t().agent();
    let found = if !q.is_empty() {
        let query = serde_urlencoded::to_string([("q", q.as_str()), ("limit", "6")])
            .map_err(|e| ConsoleError::Internal(e.into()))?;
        up.get::<Hits>(
            signed.token(),
            Api::Knowledge,
            &format!("/v1/search?{query}"),
        )
        .await
    } else if !text.is_empty() {
        up.send::<Hits>(
            signed.token(),
            Method::POST,
            Api::Knowledge,
            "/v1/suggest",
            &serde_json::json!({ "text": text, "k": HITS }),
            None,
        )
        .await
    } else {
        let mut h = Html::new();
        h.raw("<p class=\"muted\">")
            .text(a.type_to_search)
            .raw("</p>");
        return Ok(fragment(&headers, lang, &signed, a.knowledge, h));
    };
    let h = match found {
        Ok(hits) => hits_list(lang, &base, &hits.hits),
        // Words the index cannot search (punctuation only, too many terms): nothing found.
        Err(UpstreamError::Invalid(_)) => hits_list(lang, &base, &[]),
        Err(e) => return Err(e.into()),
    };
    Ok(fragment(&headers, lang, &signed, a.knowledge, h))
}

#[derive(Deserialize, Default)]
pub struct NodeQuery {
    #[serde(default)]
    node: Option<String>,
}

fn leaf_view(lang: Lang, signed: &Signed, base: &str, tree: &Tree, leaf: &Leaf) -> Html {
    let a = lang.t().agent();
    let mut h = Html::new();
    h.raw("<article class=\"leaf\" id=\"leaf-")
        .text(&leaf.code)
        .raw("\"><h3>")
        .text(&leaf.title)
        .raw(" <span class=\"mono muted\">")
        .text(&leaf.code)
        .raw("</span></h3><dl class=\"facts\">");
    fact(&mut h, a.answer_title, &leaf.answer);
    for (label, value) in [
        (a.legal_basis, &leaf.legal_basis),
        (a.procedure, &leaf.procedure),
        (a.fees, &leaf.fees),
        (a.time_limit, &leaf.time_limit),
        (a.contact, &leaf.contact),
    ] {
        if !value.is_empty() {
            fact(&mut h, label, value);
        }
    }
    if !leaf.departments.is_empty() {
        fact(&mut h, a.departments, &leaf.departments.join(", "));
    }
    if !leaf.materials.is_empty() {
        fact(&mut h, a.materials, &leaf.materials.join("；"));
    }
    h.raw("</dl>");
    if tree.in_force == Some(false) {
        h.raw("<p class=\"flash error\">")
            .text(a.not_in_force)
            .raw("</p>");
    } else {
        // One action: answer the caller with this leaf. The request's text comes along from
        // the draft (htmx); without it the leaf's title describes the consultation.
        h.raw("<form method=\"post\" id=\"answer-form\" action=\"")
            .text(base)
            .raw("/answer\" hx-include=\"#description\">")
            .append(pages::csrf_field(signed))
            .raw("<input type=\"hidden\" name=\"leaf\" value=\"")
            .text(&leaf.code)
            .raw("\"><input type=\"hidden\" name=\"title\" value=\"")
            .text(&leaf.title)
            .raw("\"><input type=\"hidden\" name=\"service_code\" value=\"")
            .text(tree.item.matter_code.as_deref().unwrap_or(""))
            .raw("\"><p class=\"muted\">")
            .text(a.answer_note)
            .raw("</p><button type=\"submit\" id=\"answer\" accesskey=\"a\">")
            .text(a.answer_here)
            .raw(" <kbd>Alt+A</kbd></button></form>");
    }
    h.raw("<details><summary>")
        .text(a.flag)
        .raw("</summary><form method=\"post\" action=\"")
        .text(base)
        .raw("/flag\" hx-target=\"#leaf\">")
        .append(pages::csrf_field(signed))
        .raw("<input type=\"hidden\" name=\"leaf\" value=\"")
        .text(&leaf.code)
        .raw("\"><select name=\"reason\" aria-label=\"")
        .text(a.flag)
        .raw("\">");
    for (code, words) in a.flag_reasons {
        h.raw("<option value=\"")
            .text(code)
            .raw("\">")
            .text(words)
            .raw("</option>");
    }
    h.raw("</select><label for=\"flag-note\">")
        .text(a.flag_note)
        .raw("</label><input type=\"text\" id=\"flag-note\" name=\"note\" maxlength=\"500\"><button type=\"submit\" class=\"secondary small\">")
        .text(a.flag)
        .raw("</button></form></details></article>");
    h
}

/// `GET /agent/calls/{id}/tree/{item}?node=`: 按图索骥, one step of an item's published tree:
/// its choices, or at a leaf the whole answer with the answer and flag forms.
pub async fn tree(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path((id, item)): Path<(String, String)>,
    Query(q): Query<NodeQuery>,
) -> Result<Response, ConsoleError> {
    desk(&signed)?;
    let id = call_id(&id)?;
    let item = item_code(&item)?;
    let node = q
        .node
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(item_code)
        .transpose()?;
    let base = format!("/agent/calls/{}", encode_id(&id));
    let path = match &node {
        Some(n) => format!("/v1/items/{item}/tree?node={n}"),
        None => format!("/v1/items/{item}/tree"),
    };
    let tree: Tree = console
        .parts()
        .upstream
        .get(signed.token(), Api::Knowledge, &path)
        .await?;
    let a = lang.t().agent();
    let mut h = Html::new();
    h.raw("<nav class=\"crumbs\"><a href=\"")
        .text(&base)
        .raw("/tree/")
        .text(&tree.item.code)
        .raw("\" hx-get=\"")
        .text(&base)
        .raw("/tree/")
        .text(&tree.item.code)
        .raw("\" hx-target=\"#leaf\">")
        .text(&tree.item.title)
        .raw("</a>");
    for step in &tree.path {
        h.raw(" › ").text(step);
    }
    h.raw("</nav>");
    if let Some(leaf) = &tree.answer {
        h.append(leaf_view(lang, &signed, &base, &tree, leaf));
    } else {
        h.raw("<ul class=\"tree\">");
        for child in &tree.children {
            h.raw("<li class=\"")
                .text(&child.kind)
                .raw("\"><a href=\"")
                .text(&base)
                .raw("/tree/")
                .text(&tree.item.code)
                .raw("?node=")
                .text(&child.code)
                .raw("\" hx-get=\"")
                .text(&base)
                .raw("/tree/")
                .text(&tree.item.code)
                .raw("?node=")
                .text(&child.code)
                .raw("\" hx-target=\"#leaf\">")
                .text(&child.label)
                .raw("</a></li>");
        }
        h.raw("</ul>");
    }
    Ok(fragment(&headers, lang, &signed, a.walk_tree, h))
}

#[derive(Deserialize, Default)]
struct DraftForm {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    service_code: Option<String>,
    #[serde(default)]
    request_type: Option<String>,
    #[serde(default)]
    confidential: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

fn some_text(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `POST /agent/calls/{id}/assist`: the ticket form's fields from the request's text (the
/// seat assistant), the likely duplicates (the draft's, and the caller's open tickets) and
/// smart dispatch's suggestion. What the agent already typed in a field is kept.
pub async fn assist(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: DraftForm = signed.form(&console, &headers, &body)?;
    desk(&signed)?;
    let id = call_id(&id)?;
    let t = lang.t();
    let a = t.agent();
    let up = &console.parts().upstream;
    let text = some_text(form.description.as_deref())
        .ok_or_else(|| ConsoleError::Invalid(format!("{}: {}", t.description, t.err_invalid)))?;
    let detail = call_detail(&console, &signed, &id).await?;
    let assisted: Assisted = up
        .send(
            signed.token(),
            Method::POST,
            Api::Dispatch,
            "/v1/assist",
            &serde_json::json!({ "text": text }),
            None,
        )
        .await?;
    let address = some_text(form.address.as_deref()).or_else(|| assisted.address.clone());
    let service_code =
        some_text(form.service_code.as_deref()).or_else(|| assisted.matter_code.clone());
    let request_type = some_text(form.request_type.as_deref())
        .filter(|r| r != "help_request")
        .or_else(|| assisted.request_type.clone());
    let assessed: Option<serde_json::Value> = up
        .send(
            signed.token(),
            Method::POST,
            Api::Dispatch,
            "/v1/assess",
            &serde_json::json!({ "text": text, "address": address }),
            None,
        )
        .await
        .ok();
    // The draft's duplicates: by place and matter or text (the console never holds the
    // caller's number; the same caller's tickets come from the call, below).
    let duplicates: Vec<TicketView> = match &address {
        Some(addr) => up
            .send::<Duplicates>(
                signed.token(),
                Method::POST,
                Api::Tickets,
                "/v1/duplicates",
                &serde_json::json!({
                    "address": addr,
                    "description": text,
                    "service_code": service_code,
                }),
                None,
            )
            .await
            .map(|d| d.candidates.into_iter().map(|c| c.ticket).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let offset = console.parts().offset;
    let mut h = assisted_fields(
        lang,
        address.as_deref().unwrap_or(""),
        request_type.as_deref(),
        service_code.as_deref().unwrap_or(""),
    );
    h.raw("<div class=\"assist\" id=\"assist-result\"><p class=\"muted\">")
        .text(a.assist_note);
    if let Some(c) = &assisted.category {
        h.raw(" ").text(a.category).raw(": ").text(c);
    }
    h.raw("</p>");
    if let Some(kind) = &assisted.emergency {
        h.raw("<p class=\"flash error\" role=\"alert\">")
            .text(a.emergency)
            .text(kind)
            .raw("</p>");
    }
    if let Some(v) = &assessed {
        h.append(dispatch_suggestion(a, v));
    }
    h.raw("<h3>").text(a.duplicates).raw("</h3>");
    let caller_open: Vec<&TicketView> = detail
        .tickets
        .iter()
        .filter(|t| detail.open_ticket_nos.contains(&t.ticket_no))
        .filter(|t| !duplicates.iter().any(|d| d.ticket_no == t.ticket_no))
        .collect();
    if duplicates.is_empty() && caller_open.is_empty() {
        h.raw("<p class=\"muted\" id=\"no-duplicates\">")
            .text(a.no_duplicates)
            .raw("</p>");
    } else {
        h.raw("<ul class=\"duplicates flash error\">");
        for d in &duplicates {
            h.append(duplicate_line(lang, "dup-", d, offset, None));
        }
        for d in caller_open {
            h.append(duplicate_line(
                lang,
                "open-",
                d,
                offset,
                Some(a.caller_open),
            ));
        }
        h.raw("</ul>");
    }
    h.raw("</div>");
    Ok(fragment(&headers, lang, &signed, a.assist, h))
}

fn duplicate_line(
    lang: Lang,
    prefix: &'static str,
    d: &TicketView,
    offset: chrono::FixedOffset,
    why: Option<&str>,
) -> Html {
    let mut h = Html::new();
    let description: String = d.description.chars().take(60).collect();
    h.raw("<li id=\"")
        .raw(prefix)
        .display(d.ticket_no)
        .raw("\"><span class=\"mono\">")
        .display(d.ticket_no)
        .raw("</span> ")
        .append(pages::status_badge(lang, d.status))
        .raw(" ")
        .text(description)
        .raw(" <span class=\"muted\">")
        .text(pages::local(d.created_at, offset))
        .text(
            d.location
                .address
                .as_deref()
                .map(|s| format!(" · {s}"))
                .unwrap_or_default(),
        );
    if let Some(w) = why {
        h.raw(" · ").text(w);
    }
    h.raw("</span></li>");
    h
}

/// Smart dispatch's answer in words: where it would send the ticket, or why a person decides.
fn dispatch_suggestion(a: &AgentTexts, v: &serde_json::Value) -> Html {
    let mut h = Html::new();
    h.raw("<p class=\"suggestion\" id=\"dispatch-suggestion\"><strong>")
        .text(a.dispatch_suggestion)
        .raw("</strong>: ");
    let d = &v["decision"];
    if let Some(lead) = d["dispatch"]["lead"].as_str() {
        h.raw("→ <span class=\"mono\">").text(lead).raw("</span>");
        if let Some(co) = d["dispatch"]["co"].as_array().filter(|c| !c.is_empty()) {
            let co: Vec<&str> = co.iter().filter_map(|c| c.as_str()).collect();
            h.raw(" + ").text(co.join(", "));
        }
    } else if let Some(reason) = d["manual"]["reason"].as_str() {
        h.text(a.dispatch_manual).text(reason);
    }
    if let Some(best) = v["assessment"]["candidates"]
        .as_array()
        .and_then(|c| c.first())
    {
        h.raw(" <span class=\"muted\">(");
        if let Some(c) = best["category"].as_str() {
            h.text(c);
        }
        if let Some(p) = best["probability"].as_f64() {
            h.text(format!(" {:.0}%", p * 100.0));
        }
        if let Some(m) = best["matter_name"].as_str() {
            h.raw(" · ").text(m);
        }
        if let Some(l) = best["lead"].as_str() {
            h.raw(" → ").text(l);
        }
        h.raw(")</span>");
    }
    h.raw("</p>");
    h
}

#[derive(Debug, serde::Deserialize)]
struct Created {
    ticket_no: TicketNo,
}

/// The phone channel's ticket fields from the form.
fn ticket_fields(form: &DraftForm, description: String) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "address": some_text(form.address.as_deref()),
        "service_code": some_text(form.service_code.as_deref()),
        "request_type": some_text(form.request_type.as_deref()),
        "confidential": form.confidential.as_deref() == Some("on"),
    })
}

fn idempotency_key(raw: Option<&str>) -> Option<String> {
    raw.filter(|k| crate::session::is_token(k))
        .map(str::to_owned)
}

/// `POST /agent/calls/{id}/ticket`: the ticket from the call (held from dispatch until the call
/// is finished), with the form's key so a double click is one ticket.
pub async fn create_ticket(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: DraftForm = signed.form(&console, &headers, &body)?;
    desk(&signed)?;
    let id = call_id(&id)?;
    let description = some_text(form.description.as_deref())
        .ok_or_else(|| ConsoleError::Invalid("description".into()))?;
    let key = idempotency_key(form.key.as_deref());
    let created: Created = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Phone,
            &format!("/v1/calls/{}/ticket", encode_id(&id)),
            &ticket_fields(&form, description),
            key.as_deref(),
        )
        .await?;
    Ok(pages::see_other(&format!(
        "/agent/calls/{}?done=ticket&no={}",
        encode_id(&id),
        created.ticket_no
    )))
}

#[derive(Deserialize, Default)]
struct AnswerForm {
    #[serde(default)]
    leaf: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    service_code: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// The consultation's description: what the agent typed, else the answer's title.
pub fn answer_description(
    typed: Option<&str>,
    title: Option<&str>,
    prefix: &str,
) -> Option<String> {
    some_text(typed).or_else(|| some_text(title).map(|t| format!("{prefix}{t}")))
}

/// `POST /agent/calls/{id}/answer`: 直接答复. The phone channel records the leaf on the call and
/// gives the call's ticket (made now, held from dispatch, when the call has none); the
/// knowledge service then answers that ticket with the leaf (the ledger's `answer` step,
/// recorded as the agent), which ends the hold.
pub async fn answer(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: AnswerForm = signed.form(&console, &headers, &body)?;
    desk(&signed)?;
    let id = call_id(&id)?;
    let leaf = item_code(form.leaf.as_deref().unwrap_or(""))
        .map_err(|_| ConsoleError::Invalid("leaf".into()))?;
    let description =
        answer_description(form.description.as_deref(), form.title.as_deref(), "咨询：")
            .ok_or_else(|| ConsoleError::Invalid("description".into()))?;
    let up = &console.parts().upstream;
    let recorded: Created = up
        .send(
            signed.token(),
            Method::POST,
            Api::Phone,
            &format!("/v1/calls/{}/answer", encode_id(&id)),
            &serde_json::json!({
                "knowledge_leaf": leaf.as_str(),
                "description": description,
                "service_code": some_text(form.service_code.as_deref()),
                "request_type": "consultation",
            }),
            None,
        )
        .await?;
    let no = recorded.ticket_no;
    // Repeating it is the same step: knowledge keys the answer by ticket and leaf.
    let _: serde_json::Value = up
        .send(
            signed.token(),
            Method::POST,
            Api::Knowledge,
            &format!("/v1/leaves/{leaf}/answer"),
            &serde_json::json!({ "ticket_no": no.to_string() }),
            None,
        )
        .await?;
    Ok(pages::see_other(&format!(
        "/agent/calls/{}?done=answered&no={no}",
        encode_id(&id)
    )))
}

#[derive(Deserialize, Default)]
struct FlagForm {
    #[serde(default)]
    leaf: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /agent/calls/{id}/flag`: reports a wrong, outdated or unclear answer to the knowledge
/// editors (a task for the leaf's owner).
pub async fn flag(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let form: FlagForm = signed.form(&console, &headers, &body)?;
    desk(&signed)?;
    let id = call_id(&id)?;
    let leaf = item_code(form.leaf.as_deref().unwrap_or(""))
        .map_err(|_| ConsoleError::Invalid("leaf".into()))?;
    let reason = form.reason.unwrap_or_default();
    if !matches!(reason.as_str(), "wrong" | "outdated" | "unclear") {
        return Err(ConsoleError::Invalid("reason".into()));
    }
    let _: serde_json::Value = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Knowledge,
            &format!("/v1/leaves/{leaf}/flags"),
            &serde_json::json!({ "reason": reason, "note": form.note.unwrap_or_default().trim() }),
            None,
        )
        .await?;
    if headers.contains_key("hx-request") {
        let mut h = Html::new();
        h.raw("<p class=\"flash ok\" role=\"status\" id=\"flagged\">")
            .text(lang.t().agent().flagged)
            .raw("</p>");
        return Ok(pages::html(StatusCode::OK, h.finish()));
    }
    Ok(pages::see_other(&format!(
        "/agent/calls/{}?done=flag",
        encode_id(&id)
    )))
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct NoFields {}

/// `POST /agent/calls/{id}/finish`: the agent is done with the call; the phone channel releases
/// its tickets still held to dispatch.
pub async fn finish(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let _: NoFields = signed.form(&console, &headers, &body)?;
    desk(&signed)?;
    let id = call_id(&id)?;
    let _: serde_json::Value = console
        .parts()
        .upstream
        .send(
            signed.token(),
            Method::POST,
            Api::Phone,
            &format!("/v1/calls/{}/finish", encode_id(&id)),
            &serde_json::json!({}),
            None,
        )
        .await?;
    Ok(pages::see_other("/agent?done=finish"))
}

// ---- the ticket search ----

#[derive(Debug, Default, Deserialize)]
pub struct TicketSearch {
    /// A ticket number: that ticket alone, with its history (the live messages link here).
    #[serde(default)]
    no: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    service_code: Option<String>,
    #[serde(default)]
    from: Option<String>,
}

fn search_form(lang: Lang, q: &TicketSearch) -> Html {
    let t = lang.t();
    let a = t.agent();
    let mut h = Html::new();
    h.raw("<section class=\"card\" id=\"ticket-search\"><h2>")
        .text(a.search_title)
        .raw("</h2><form method=\"get\" action=\"/agent/tickets\" class=\"filters\"><label for=\"ts-no\">")
        .text(t.ticket_no)
        .raw("</label><input type=\"text\" id=\"ts-no\" name=\"no\" maxlength=\"16\" inputmode=\"numeric\" value=\"")
        .text(q.no.as_deref().unwrap_or(""))
        .raw("\"><label for=\"ts-status\">")
        .text(t.status)
        .raw("</label><select id=\"ts-status\" name=\"status\"><option value=\"\">")
        .text(a.any_status)
        .raw("</option>");
    for (code, words) in t.statuses {
        h.raw("<option value=\"").text(code).raw("\"");
        if q.status.as_deref() == Some(*code) {
            h.raw(" selected");
        }
        h.raw(">").text(words).raw("</option>");
    }
    h.raw("</select><label for=\"ts-matter\">")
        .text(a.service_code)
        .raw("</label><input type=\"text\" id=\"ts-matter\" name=\"service_code\" maxlength=\"32\" value=\"")
        .text(q.service_code.as_deref().unwrap_or(""))
        .raw("\"><label for=\"ts-from\">")
        .text(a.from_day)
        .raw("</label><input type=\"date\" id=\"ts-from\" name=\"from\" value=\"")
        .text(q.from.as_deref().unwrap_or(""))
        .raw("\"><button type=\"submit\">")
        .text(a.search_go)
        .raw("</button></form></section>");
    h
}

/// The number searched for, if any; a malformed one is the person's mistake.
pub fn searched_no(q: &TicketSearch) -> Result<Option<TicketNo>, ConsoleError> {
    some_text(q.no.as_deref())
        .map(|n| TicketNo::parse(&n).map_err(|_| ConsoleError::Invalid("no".into())))
        .transpose()
}

/// The tickets API's query for the search form; a malformed field is the person's mistake.
pub fn search_query(q: &TicketSearch, offset: chrono::FixedOffset) -> Result<String, ConsoleError> {
    let mut pairs: Vec<(&str, String)> = vec![("limit", "50".to_owned())];
    if let Some(s) = some_text(q.status.as_deref()) {
        hotline_domain::Status::parse(&s).ok_or_else(|| ConsoleError::Invalid("status".into()))?;
        pairs.push(("status", s));
    }
    if let Some(c) = some_text(q.service_code.as_deref()) {
        hotline_domain::ServiceCode::parse(&c)
            .map_err(|_| ConsoleError::Invalid("service_code".into()))?;
        pairs.push(("service_code", c));
    }
    if let Some(f) = some_text(q.from.as_deref()) {
        use chrono::TimeZone as _;
        let day = chrono::NaiveDate::parse_from_str(&f, "%Y-%m-%d")
            .map_err(|_| ConsoleError::Invalid("from".into()))?;
        let start = offset
            .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
            .single()
            .ok_or_else(|| ConsoleError::Invalid("from".into()))?;
        pairs.push(("from", start.with_timezone(&Utc).to_rfc3339()));
    }
    serde_urlencoded::to_string(&pairs).map_err(|e| ConsoleError::Internal(e.into()))
}

/// `GET /agent/tickets`: the tickets by status, matter and day, or one by its number with its
/// history (contacts masked).
pub async fn tickets(
    State(console): State<Console>,
    signed: Signed,
    lang: Lang,
    Query(q): Query<TicketSearch>,
) -> Result<Response, ConsoleError> {
    desk(&signed)?;
    let offset = console.parts().offset;
    let up = &console.parts().upstream;
    // A number is exact: the other filters would only hide the ticket asked for.
    let (found, history) = match searched_no(&q)? {
        Some(no) => {
            match up
                .get::<TicketWithHistory>(
                    signed.token(),
                    Api::Tickets,
                    &format!("/v1/tickets/{no}"),
                )
                .await
            {
                Ok(one) => (vec![one.ticket], Some(one.history)),
                Err(UpstreamError::NotFound(_)) => (Vec::new(), None),
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            let query = search_query(&q, offset)?;
            let found: Vec<TicketView> = up
                .get(
                    signed.token(),
                    Api::Tickets,
                    &format!("/v1/tickets?{query}"),
                )
                .await?;
            (found, None)
        }
    };
    let t = lang.t();
    let a = t.agent();
    let mut body = Html::new();
    body.raw("<p><a href=\"/agent\">← ")
        .text(a.back_to_desk)
        .raw("</a></p><h1>")
        .text(a.search_title)
        .raw("</h1>")
        .append(search_form(lang, &q))
        .raw("<section class=\"card\"><h2>")
        .text(a.results)
        .raw("</h2>");
    if found.is_empty() {
        body.raw("<p class=\"muted\">").text(a.no_hits).raw("</p>");
    } else {
        body.raw("<div class=\"table-wrap\"><table id=\"ticket-results\"><thead><tr><th>")
            .text(t.ticket_no)
            .raw("</th><th>")
            .text(t.status)
            .raw("</th><th>")
            .text(t.matter)
            .raw("</th><th>")
            .text(t.description)
            .raw("</th><th>")
            .text(t.lead)
            .raw("</th><th>")
            .text(t.created)
            .raw("</th></tr></thead><tbody>");
        // One ticket asked for by number is shown whole; a list's rows are cut to stay rows.
        let cut = if history.is_some() { usize::MAX } else { 80 };
        for tk in &found {
            let description: String = tk.description.chars().take(cut).collect();
            body.raw("<tr><td class=\"num mono\">")
                .display(tk.ticket_no)
                .raw("</td><td>")
                .append(pages::status_badge(lang, tk.status))
                .raw("</td><td>")
                .text(tk.service_code.as_ref().map_or("—", |c| c.as_str()))
                .raw("</td><td class=\"text\">")
                .text(description)
                .raw("</td><td>")
                .text(tk.lead.as_ref().map_or("—", |d| d.as_str()))
                .raw("</td><td>")
                .text(pages::local(tk.created_at, offset))
                .raw("</td></tr>");
        }
        body.raw("</tbody></table></div>");
    }
    body.raw("</section>");
    if let Some(history) = history {
        // What the citizen added by message is read here: the live messages show its start.
        body.raw("<section class=\"card\" id=\"ticket-history\"><h2>")
            .text(t.history)
            .raw("</h2>")
            .append(pages::history(lang, &history, offset))
            .raw("</section>");
    }
    Ok(pages::html(
        StatusCode::OK,
        layout(
            lang,
            Some(&signed),
            Some(Screen::AgentDesk),
            a.search_title,
            body,
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_checked_and_encoded_for_the_phone_api() {
        assert_eq!(encode_id("c-1_a.b"), "c-1_a.b");
        assert_eq!(encode_id("c#1+2@x:y"), "c%231%2B2%40x%3Ay");
        assert!(call_id("c#1").is_ok());
        for bad in ["", "a/b", "a b", "../x", &"x".repeat(129)] {
            assert!(matches!(call_id(bad), Err(ConsoleError::NotFound)), "{bad}");
        }
    }

    #[test]
    fn a_snippet_becomes_plain_text_to_escape_again() {
        assert_eq!(
            snippet_text("新生儿<em>医保</em> &lt;b&gt; &amp; &quot;x&quot;"),
            "新生儿医保 <b> & \"x\""
        );
        let mut h = Html::new();
        h.text(snippet_text("&lt;script&gt;"));
        assert_eq!(h.finish(), "&lt;script&gt;");
    }

    #[test]
    fn the_live_list_shows_each_call_masked_and_escaped() {
        let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
        let call = CallView {
            call_id: "c<1>".into(),
            direction: "in".into(),
            caller: Some("138****8000".into()),
            line: None,
            ivr: None,
            state: "ringing".into(),
            ringing_at: Utc::now(),
            answered_at: None,
            ended_at: None,
            ticket_nos: Vec::new(),
            answer_leaf: None,
        };
        let html = calls_list(Lang::Zh, &[call], offset).finish();
        assert!(html.contains("id=\"call-c&lt;1&gt;\""), "{html}");
        assert!(html.contains("href=\"/agent/calls/c%3C1%3E\""), "{html}");
        assert!(html.contains("138****8000") && html.contains("振铃"));
        assert!(
            calls_list(Lang::En, &[], offset)
                .finish()
                .contains("No calls")
        );
    }

    #[test]
    fn the_live_messages_show_each_masked_escaped_cut_and_linked_to_its_ticket() {
        let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
        let no = TicketNo::compose(261211, 7).expect("no");
        let message = |kind: &str, seq: i32, text: String| MessageView {
            kind: kind.into(),
            ticket_no: no,
            seq,
            at: Utc::now(),
            channel: "wechat".into(),
            request_type: "complaint".into(),
            service_code: Some("01.02.003".into()),
            text,
            citizen: Citizen {
                phone: Some("138****8000".into()),
                name: Some("张*".into()),
                ..Citizen::default()
            },
        };
        let long = format!("<b>{}</b>", "噪".repeat(100));
        let html = messages_list(
            Lang::Zh,
            &[
                message("supplement", 3, "照片".into()),
                message("created", 1, long),
            ],
            offset,
        )
        .finish();
        assert!(html.contains(&format!("id=\"msg-{no}-3\"")), "{html}");
        assert!(html.contains(&format!("id=\"msg-{no}-1\"")), "{html}");
        assert!(
            html.find("msg-")
                .is_some_and(|at| html[at..].starts_with(&format!("msg-{no}-3"))),
            "in the order given: {html}"
        );
        assert!(
            html.contains(&format!("href=\"/agent/tickets?no={no}\"")),
            "{html}"
        );
        assert!(html.contains("微信") && html.contains("市民补充") && html.contains("新诉求"));
        assert!(html.contains("投诉") && html.contains("01.02.003"));
        assert!(html.contains("138****8000") && html.contains("张*"));
        assert!(
            html.contains("&lt;b&gt;") && !html.contains("<b>"),
            "escaped"
        );
        let shown = format!("&lt;b&gt;{}…", "噪".repeat(77));
        assert!(html.contains(&shown), "the first 80 characters: {html}");
        assert!(
            messages_list(Lang::En, &[], offset)
                .finish()
                .contains("No messages")
        );
    }

    #[test]
    fn a_ticket_number_searched_for_is_checked() {
        let q = |no: &str| TicketSearch {
            no: Some(no.into()),
            ..TicketSearch::default()
        };
        let no = TicketNo::compose(261211, 7).expect("no");
        assert_eq!(
            searched_no(&q(&format!(" {no} "))).expect("valid"),
            Some(no)
        );
        assert_eq!(searched_no(&q("  ")).expect("blank"), None);
        assert!(matches!(
            searched_no(&q("12345")),
            Err(ConsoleError::Invalid(_))
        ));
    }

    #[test]
    fn an_answer_needs_a_description_or_the_leafs_title() {
        assert_eq!(
            answer_description(Some(" 孩子出生后怎么办医保 "), Some("新生儿参保"), "咨询："),
            Some("孩子出生后怎么办医保".into())
        );
        assert_eq!(
            answer_description(Some("  "), Some("新生儿参保"), "咨询："),
            Some("咨询：新生儿参保".into())
        );
        assert_eq!(answer_description(None, None, "咨询："), None);
    }

    #[test]
    fn the_ticket_search_checks_its_filters() {
        let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
        let q = TicketSearch {
            no: None,
            status: Some("dispatched".into()),
            service_code: Some("15.01.004".into()),
            from: Some("2026-03-05".into()),
        };
        let query = search_query(&q, offset).expect("valid");
        assert!(query.contains("status=dispatched"), "{query}");
        assert!(query.contains("service_code=15.01.004"), "{query}");
        assert!(
            query.contains("from=2026-03-04T16%3A00%3A00%2B00%3A00"),
            "{query}"
        );
        for bad in [
            TicketSearch {
                status: Some("gossip".into()),
                ..TicketSearch::default()
            },
            TicketSearch {
                from: Some("yesterday".into()),
                ..TicketSearch::default()
            },
        ] {
            assert!(matches!(
                search_query(&bad, offset),
                Err(ConsoleError::Invalid(_))
            ));
        }
    }

    #[test]
    fn smart_dispatchs_answer_is_put_in_words() {
        let a = Lang::Zh.t().agent();
        let v = serde_json::json!({
            "decision": {"dispatch": {"lead": "GZ-TH", "co": ["GZ-HZ"], "reason": "x"}},
            "assessment": {"candidates": [{"category": "城乡建设", "probability": 0.91, "lead": "GZ-TH"}]}
        });
        let html = dispatch_suggestion(a, &v).finish();
        assert!(
            html.contains("GZ-TH") && html.contains("GZ-HZ") && html.contains("91%"),
            "{html}"
        );
        let v = serde_json::json!({"decision": {"manual": {"reason": "not sure"}}});
        assert!(dispatch_suggestion(a, &v).finish().contains("not sure"));
    }
}
