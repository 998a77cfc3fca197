//! `GET /wechat` (server URL verification) and `POST /wechat` (pushed messages and events).
//!
//! A POST is checked in this order, and nothing is stored before all checks pass: the
//! timestamp window, the signature (`msg_signature` over `Encrypt` in safe mode), the body as
//! XML (64 KiB, no DTD), decryption and the AppId, the fields, the text rule. Then:
//!
//! - text like `查询 2612030000000011` (or a bare ticket number): the ticket's public status;
//! - `满意`/`不满意 <number>`, `补充 <number> <text>`: the survey answer or the information the
//!   department asked for, on the follower's own ticket;
//! - text, voice, image, location, link: one contact per conversation. The first message
//!   from a follower opens a ticket; what the follower sends within
//!   `wechat.conversation_window_secs` of their last message (the photo, then the location) is
//!   added to that ticket as 市民补充 (`Action::Supplement`, recorded as the system actor
//!   `intake` on the citizen's behalf) and the reply names the ticket. If that ticket no
//!   longer takes additions, the message opens a new ticket and a new conversation. The
//!   conversation is kept in Redis ([`super::conversation`]); without Redis, or with the
//!   window 0, every message is its own ticket. A text starting with 保密 is confidential and
//!   always a ticket of its own;
//! - every message is keyed by `MsgId` (events by `FromUserName`+`CreateTime`) in Redis and
//!   in the ledger (the Create's or the Supplement's idempotency key), and that key is
//!   checked before the conversation, so WeChat's repeats of an unanswered request get the
//!   same reply with the same number and are never added twice;
//! - events: a welcome on subscribe, a hint on CLICK, `success` otherwise (no ticket).
//!
//! Progress queries, follow-ups and events never join a conversation.
//!
//! The reply waits [`super::Parts::answer_within`] for the ledger; past that it is `success`
//! and the number follows as a customer-service message.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use hotline_domain::contract::{Citizen, CreateTicket, Location, TicketCommand};
use hotline_domain::{Action, Actor, Channel, RequestType, TicketNo};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use std::time::{Duration, Instant};

use super::WechatState;
use super::conversation::{self, Conversations, Fate, Holder, SUPPLEMENTS};
use super::crypto::{self, CryptoError};
use super::message::{self, Event, Inbound, Kind, XmlError};
use crate::idempotency::{self, Claim};
use crate::metrics::TICKETS_CREATED;

/// How often a message waiting for its conversation's first ticket looks again.
const CONVERSATION_POLL: Duration = Duration::from_millis(50);

/// Largest body WeChat sends is a few KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

const WELCOME: &str = "欢迎关注12345政务服务便民热线。直接发送文字、语音、图片或位置即可反映诉求；发送“查询 工单编号”查询办理进度；需要保密请以“保密”开头。";
const HINT: &str = "请发送文字、语音、图片或位置反映诉求；发送“查询 工单编号”查询办理进度。";

/// Why a request gets no reply but an HTTP error. WeChat retries only on silence, so these
/// are for forged, stale or broken requests.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    #[error("bad query: {0}")]
    Query(&'static str),
    #[error("timestamp outside the window")]
    Stale,
    #[error("bad signature")]
    Signature,
    #[error("the body is not UTF-8 or too large")]
    Body,
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("text refused: {0}")]
    Text(String),
    #[error("temporarily unavailable")]
    Unavailable,
}

impl WechatError {
    fn status(&self) -> StatusCode {
        match self {
            WechatError::Stale
            | WechatError::Signature
            | WechatError::Crypto(CryptoError::AppId) => StatusCode::FORBIDDEN,
            WechatError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WechatError::Body => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// What the log says: a fixed word. The messages may quote the caller's element names or
    /// parser context, which only the caller gets back.
    fn kind(&self) -> &'static str {
        match self {
            WechatError::Query(_) => "query",
            WechatError::Stale => "stale",
            WechatError::Signature => "signature",
            WechatError::Body => "body",
            WechatError::Xml(_) => "xml",
            WechatError::Crypto(CryptoError::AppId) => "app_id",
            WechatError::Crypto(_) => "crypto",
            WechatError::Text(_) => "text",
            WechatError::Unavailable => "unavailable",
        }
    }

    fn into_response(self) -> Response {
        let status = self.status();
        tracing::info!(
            status = status.as_u16(),
            reason = self.kind(),
            "wechat request refused"
        );
        (status, self.to_string()).into_response()
    }
}

/// `/wechat`, with its own body limit.
pub fn router(state: WechatState) -> Router {
    Router::new()
        .route("/wechat", get(verify).post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

#[derive(Debug, Default, Deserialize)]
struct Query {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

fn query(raw: Option<&str>) -> Result<Query, WechatError> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| WechatError::Query("undecodable"))
}

/// The timestamp and nonce, with the timestamp inside the window.
fn fresh<'a>(state: &WechatState, q: &'a Query) -> Result<(&'a str, &'a str), WechatError> {
    let timestamp = q
        .timestamp
        .as_deref()
        .ok_or(WechatError::Query("timestamp"))?;
    let nonce = q.nonce.as_deref().ok_or(WechatError::Query("nonce"))?;
    let at: i64 = timestamp
        .parse()
        .map_err(|_| WechatError::Query("timestamp"))?;
    let now = chrono::Utc::now().timestamp();
    if (now - at).abs() > state.0.config.timestamp_window_secs {
        return Err(WechatError::Stale);
    }
    Ok((timestamp, nonce))
}

/// GET: WeChat checks that the URL is ours before it pushes anything.
async fn verify(State(state): State<WechatState>, RawQuery(raw): RawQuery) -> Response {
    let result = (|| {
        let q = query(raw.as_deref())?;
        let (timestamp, nonce) = fresh(&state, &q)?;
        let given = q.signature.as_deref().ok_or(WechatError::Signature)?;
        let expected = crypto::signature(&[&state.0.config.token, timestamp, nonce]);
        if !crypto::same(given, &expected) {
            return Err(WechatError::Signature);
        }
        q.echostr.clone().ok_or(WechatError::Query("echostr"))
    })();
    match result {
        Ok(echo) => (StatusCode::OK, echo).into_response(),
        Err(e) => e.into_response(),
    }
}

/// POST: a follower's message or event.
async fn receive(
    State(state): State<WechatState>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match receive_checked(&state, raw.as_deref(), body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn receive_checked(
    state: &WechatState,
    raw: Option<&str>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, WechatError> {
    let config = &state.0.config;
    let q = query(raw)?;
    let (timestamp, nonce) = fresh(state, &q)?;
    let safe = q.encrypt_type.as_deref() == Some("aes");
    if !safe {
        let given = q.signature.as_deref().ok_or(WechatError::Signature)?;
        let expected = crypto::signature(&[&config.token, timestamp, nonce]);
        if !crypto::same(given, &expected) {
            return Err(WechatError::Signature);
        }
    }
    let body = body.map_err(|_| WechatError::Body)?;
    let body = std::str::from_utf8(&body).map_err(|_| WechatError::Body)?;
    let outer = message::fields(body)?;
    let fields = if safe {
        let cipher = config
            .cipher
            .as_ref()
            .ok_or(WechatError::Query("encrypt_type"))?;
        let encrypted = outer.get("Encrypt").ok_or(XmlError::Field("Encrypt"))?;
        let given = q.msg_signature.as_deref().ok_or(WechatError::Signature)?;
        let expected = crypto::signature(&[&config.token, timestamp, nonce, encrypted]);
        if !crypto::same(given, &expected) {
            return Err(WechatError::Signature);
        }
        message::fields(&cipher.decrypt(encrypted)?)?
    } else {
        outer
    };
    for (name, value) in &fields {
        hotline_domain::text::check(name, value).map_err(|e| WechatError::Text(e.to_string()))?;
    }
    let inbound = Inbound::parse(&fields)?;
    let reply = answer(state, &inbound).await?;
    let Some(content) = reply else {
        return Ok((StatusCode::OK, "success").into_response());
    };
    let now = chrono::Utc::now().timestamp();
    let xml = message::text_reply(&inbound.from, &inbound.to, now, &content);
    let xml = match (&config.cipher, safe) {
        (Some(cipher), true) => {
            let encrypt = cipher.encrypt(&xml)?;
            let timestamp = now.to_string();
            let nonce = format!("{}", rand::random::<u32>());
            let signature = crypto::signature(&[&config.token, &timestamp, &nonce, &encrypt]);
            message::encrypted_reply(&encrypt, &signature, &timestamp, &nonce)
        }
        _ => xml,
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

/// The reply's text, or `None` for `success`.
async fn answer(state: &WechatState, inbound: &Inbound) -> Result<Option<String>, WechatError> {
    if let Kind::Text { content } = &inbound.kind {
        if let Some(ticket_no) = progress_query(content) {
            return Ok(Some(progress(state, ticket_no).await));
        }
        if let Some((ticket_no, action)) = follow_up(content) {
            return follow_up_answer(state, inbound, ticket_no, action)
                .await
                .map(Some);
        }
    }
    let ticket = match &inbound.kind {
        Kind::Event(Event::Subscribe) => return Ok(Some(WELCOME.to_owned())),
        Kind::Event(Event::Click { .. }) | Kind::Unsupported => return Ok(Some(HINT.to_owned())),
        Kind::Event(_) => return Ok(None),
        _ => match draft(state, inbound) {
            Ok(ticket) => ticket,
            Err(reason) => return Ok(Some(reason)),
        },
    };
    ticket
        .check_text()
        .map_err(|e| WechatError::Text(e.to_string()))?;
    let key = dedup_key(&state.0.config.app_id, inbound);
    let deadline = Instant::now() + state.0.answer_within;
    // A confidential request asks for a ticket of its own: it neither joins nor opens a
    // conversation (an addition could not make the conversation's ticket confidential).
    if let (Some(window), Some(conversations), Some(_), false) = (
        state.0.config.conversation_window,
        &state.0.conversations,
        &state.0.idempotency,
        ticket.confidential,
    ) {
        let grouping = Grouping {
            conversations: conversations.as_ref(),
            window,
            deadline,
        };
        return grouped(state, inbound, key, ticket, grouping).await;
    }
    let ledger_key = key.clone();
    open(state, inbound, key, ledger_key, ticket, None, deadline).await
}

/// What a message's place in its follower's conversation needs.
struct Grouping<'a> {
    conversations: &'a dyn Conversations,
    window: Duration,
    /// The passive reply's deadline: waiting for another message's number ends here.
    deadline: Instant,
}

/// Where a message goes in its follower's conversation.
enum Place {
    /// Open a ticket; `claimed`: this message holds the conversation and gives it the number.
    Open { claimed: bool },
    /// Add to the conversation's ticket.
    Join(TicketNo),
}

/// The message within its follower's conversation: a repeat gets its first reply; the first
/// message opens the ticket; later ones are added to it as 市民补充.
async fn grouped(
    state: &WechatState,
    inbound: &Inbound,
    key: String,
    ticket: CreateTicket,
    grouping: Grouping<'_>,
) -> Result<Option<String>, WechatError> {
    let namespace = &state.0.config.namespace;
    let message_key = conversation::message_key(namespace, &key);
    let idem_key = format!("{namespace}:idem:{key}");
    let deadline = grouping.deadline;
    // The message's own record first: a repeat must not be added a second time.
    match grouping.conversations.seen(&message_key, &idem_key).await {
        Ok((Some(Fate::Added(ticket_no)), _)) => return Ok(Some(added(ticket_no))),
        Ok((Some(Fate::Reopened), _)) => {
            let ledger_key = reopened_key(&key);
            return open(state, inbound, key, ledger_key, ticket, None, deadline).await;
        }
        // It opened a ticket the ordinary way (or is opening it): the same ticket again.
        Ok((None, true)) => {
            let ledger_key = key.clone();
            return open(state, inbound, key, ledger_key, ticket, None, deadline).await;
        }
        Ok((None, false)) => {}
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "wechat conversation skipped");
            let ledger_key = key.clone();
            return open(state, inbound, key, ledger_key, ticket, None, deadline).await;
        }
    }
    let conversation_key =
        conversation::conversation_key(namespace, &state.0.config.app_id, &inbound.from);
    let mine = Holder::Opening(key.clone());
    let ticket_no = match place(&grouping, &conversation_key, &mine, &key).await {
        Place::Open { claimed } => {
            let claim = claimed.then_some(Claimed {
                key: conversation_key,
                holder: mine,
                window: grouping.window,
            });
            let ledger_key = key.clone();
            return open(state, inbound, key, ledger_key, ticket, claim, deadline).await;
        }
        Place::Join(ticket_no) => ticket_no,
    };
    let note = supplement_note(inbound).unwrap_or_else(|| ticket.description.clone());
    let action = Action::Supplement { note };
    action
        .check_text()
        .map_err(|e| WechatError::Text(e.to_string()))?;
    let command = TicketCommand::Act {
        idempotency_key: key.clone(),
        actor: Actor::system("intake"),
        ticket_no,
        action,
    };
    let within = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(within, state.0.ledger.submit(command)).await {
        Ok(Ok(_)) => {
            let fate = Fate::Added(ticket_no);
            if let Err(e) = grouping.conversations.remember(&message_key, fate).await {
                // A repeat then sends the Supplement again, which the ledger's key replays.
                tracing::warn!(error = %format!("{e:#}"), "wechat addition not remembered");
            }
            if let Err(e) = grouping
                .conversations
                .refresh(&conversation_key, grouping.window)
                .await
            {
                tracing::warn!(error = %format!("{e:#}"), "wechat conversation not refreshed");
            }
            SUPPLEMENTS.with_label_values(&["added"]).inc();
            Ok(Some(added(ticket_no)))
        }
        Ok(Err(e)) if e.kind().is_refusal() => {
            // The conversation's ticket no longer takes additions (answered, closed): this
            // message opens a new ticket and a new conversation. The ledger logged the refusal
            // under the message's key, so the Create goes under a second one.
            SUPPLEMENTS.with_label_values(&["refused"]).inc();
            if let Err(e) = grouping
                .conversations
                .remember(&message_key, Fate::Reopened)
                .await
            {
                tracing::warn!(error = %format!("{e:#}"), "wechat reopening not remembered");
            }
            let claimed = grouping
                .conversations
                .replace(
                    &conversation_key,
                    &Holder::Ticket(ticket_no),
                    &mine,
                    true,
                    grouping.window,
                )
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %format!("{e:#}"), "wechat conversation not reopened");
                    false
                });
            let claim = claimed.then_some(Claimed {
                key: conversation_key,
                holder: mine,
                window: grouping.window,
            });
            let ledger_key = reopened_key(&key);
            open(state, inbound, key, ledger_key, ticket, claim, deadline).await
        }
        // WeChat repeats the request; the key makes the repeat the same step.
        Ok(Err(_)) | Err(_) => Err(WechatError::Unavailable),
    }
}

/// Claims the conversation, or finds its ticket, waiting (until the reply's deadline) while
/// another message is opening it. Redis not answering: the message opens its own ticket.
async fn place(grouping: &Grouping<'_>, conversation_key: &str, mine: &Holder, key: &str) -> Place {
    loop {
        match grouping
            .conversations
            .claim(conversation_key, mine, grouping.window)
            .await
        {
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "wechat conversation skipped");
                return Place::Open { claimed: false };
            }
            Ok(None) => return Place::Open { claimed: true },
            Ok(Some(Some(Holder::Ticket(ticket_no)))) => return Place::Join(ticket_no),
            // WeChat's repeat of the message opening it: that attempt gives the number.
            Ok(Some(Some(Holder::Opening(opener)))) if opener == key => {
                return Place::Open { claimed: false };
            }
            // Another message is opening it (or the key expired between our two steps).
            Ok(Some(_)) => {
                let left = grouping.deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    // The first message's ticket is late: better a ticket of its own than none.
                    return Place::Open { claimed: false };
                }
                tokio::time::sleep(left.min(CONVERSATION_POLL)).await;
            }
        }
    }
}

/// The conversation a message opens, handed to the job that makes its ticket.
struct Claimed {
    key: String,
    holder: Holder,
    window: Duration,
}

/// The ledger key of a message that opens a new ticket after its addition was refused.
fn reopened_key(key: &str) -> String {
    format!("{key}:reopened")
}

/// What a message adds to the conversation's ticket.
fn supplement_note(inbound: &Inbound) -> Option<String> {
    Some(match &inbound.kind {
        Kind::Text { content } => content.trim().to_owned(),
        Kind::Voice {
            recognition,
            media_id,
        } => recognition
            .clone()
            .unwrap_or_else(|| format!("[语音] 未识别的语音留言，MediaId {media_id}")),
        Kind::Image { pic_url, media_id } => {
            let lower = pic_url.to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                format!("[图片] {pic_url}")
            } else {
                format!("[图片] MediaId {media_id}")
            }
        }
        Kind::Location { lat, long, label } => format!("[位置] {label} ({lat}, {long})"),
        Kind::Link {
            title,
            description,
            url,
        } => format!("[链接] {title}\n{description}\n{url}"),
        _ => return None,
    })
}

fn added(ticket_no: TicketNo) -> String {
    format!("已补充到工单 {ticket_no}。发送“查询 {ticket_no}”可查询办理进度。")
}

/// Opens the message's ticket and answers with its number, or `success` when the ledger is
/// slower than the reply's deadline (the number follows as a customer-service message).
async fn open(
    state: &WechatState,
    inbound: &Inbound,
    key: String,
    ledger_key: String,
    ticket: CreateTicket,
    claim: Option<Claimed>,
    deadline: Instant,
) -> Result<Option<String>, WechatError> {
    let job_state = state.clone();
    let mut job = tokio::spawn(async move {
        let made = create_once(job_state.clone(), key, ledger_key, ticket).await;
        // In the job, not the reply: the conversation gets its number even when the reply
        // has gone as `success`.
        if let (Some(claim), Some(conversations)) = (claim, &job_state.0.conversations) {
            let recorded = match &made {
                Ok((ticket_no, _)) => {
                    conversations
                        .replace(
                            &claim.key,
                            &claim.holder,
                            &Holder::Ticket(*ticket_no),
                            true,
                            claim.window,
                        )
                        .await
                }
                // The next message may open the conversation.
                Err(()) => conversations
                    .release(&claim.key, &claim.holder)
                    .await
                    .map(|()| true),
            };
            if let Err(e) = recorded {
                tracing::warn!(error = %format!("{e:#}"), "wechat conversation not recorded");
            }
        }
        made
    });
    let open_id = inbound.from.clone();
    let within = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(within, &mut job).await {
        Ok(Ok(Ok((ticket_no, _)))) => Ok(Some(receipt(ticket_no))),
        Ok(Ok(Err(()))) | Ok(Err(_)) => Err(WechatError::Unavailable),
        Err(_) => {
            // Too slow for the passive reply: answer `success` now, the number later.
            let outbound = state.0.outbound.clone();
            tokio::spawn(async move {
                let Ok(Ok((ticket_no, outcome))) = job.await else {
                    return;
                };
                // The first attempt says it; a repeat that also waited stays quiet.
                if outcome != "created" {
                    return;
                }
                let Some(outbound) = outbound else {
                    tracing::warn!(ticket = %ticket_no, "no app secret: the late receipt is not sent");
                    return;
                };
                if let Err(e) = outbound.send_text(&open_id, &receipt(ticket_no)).await {
                    tracing::warn!(ticket = %ticket_no, error = %format!("{e:#}"), "late receipt not sent");
                }
            });
            Ok(None)
        }
    }
}

fn receipt(ticket_no: TicketNo) -> String {
    format!("您的诉求已受理，工单编号 {ticket_no}。发送“查询 {ticket_no}”可查询办理进度。")
}

/// A text starting with 保密 (`保密：…`, `【保密】…`) asks for confidentiality: departments get
/// no contact details and progress answers show the state only. The rest is the description.
fn confidential_request(content: &str) -> Option<&str> {
    let text = content.trim();
    let rest = text
        .strip_prefix("【保密】")
        .or_else(|| text.strip_prefix("[保密]"))
        .or_else(|| text.strip_prefix("保密"))?;
    Some(
        rest.trim_start_matches([' ', '\u{3000}', ':', '：', ',', '，'])
            .trim(),
    )
}

/// The follower's own step on one of their tickets: `满意 <number>` / `不满意 <number>`
/// answers the callback survey (回访), `补充 <number> <text>` answers the department's request
/// for more information (补充材料).
fn follow_up(content: &str) -> Option<(TicketNo, Action)> {
    let text = content.trim();
    let number_then = |rest: &str| -> Option<(TicketNo, String)> {
        let rest = rest.trim_start_matches([' ', '\u{3000}', ':', '：']);
        let digits = rest.get(..16)?;
        let ticket_no = TicketNo::parse(digits).ok()?;
        Some((ticket_no, rest[16..].trim().to_owned()))
    };
    if let Some(rest) = text.strip_prefix("不满意") {
        let (no, note) = number_then(rest)?;
        return Some((
            no,
            Action::Survey {
                satisfied: false,
                note,
            },
        ));
    }
    if let Some(rest) = text.strip_prefix("满意") {
        let (no, note) = number_then(rest)?;
        return Some((
            no,
            Action::Survey {
                satisfied: true,
                note,
            },
        ));
    }
    if let Some(rest) = text.strip_prefix("补充") {
        let (no, note) = number_then(rest)?;
        return (!note.is_empty()).then_some((no, Action::ProvideInformation { note }));
    }
    None
}

/// Records a follow-up on the follower's own ticket. The ledger takes survey answers and
/// information only from the centre, so the channel records them as the system actor `intake`
/// on the citizen's behalf, after checking the ticket is this follower's (anyone else hears it
/// does not exist). The message's key makes WeChat's repeats one step.
async fn follow_up_answer(
    state: &WechatState,
    inbound: &Inbound,
    ticket_no: TicketNo,
    action: Action,
) -> Result<String, WechatError> {
    let not_found = format!("未找到您的工单 {ticket_no}，请核对编号。");
    let within = state.0.answer_within;
    let found = match tokio::time::timeout(within, state.0.ledger.get(ticket_no)).await {
        Err(_) => return Err(WechatError::Unavailable),
        Ok(Err(e)) if e.kind() == hotline_domain::contract::ErrorKind::NotFound => {
            return Ok(not_found);
        }
        Ok(Err(_)) => return Err(WechatError::Unavailable),
        Ok(Ok(found)) => found,
    };
    let owner = format!("wechat:{}", inbound.from);
    if found.ticket.citizen.account_id.as_deref() != Some(owner.as_str()) {
        return Ok(not_found);
    }
    action
        .check_text()
        .map_err(|e| WechatError::Text(e.to_string()))?;
    let done = match &action {
        Action::Survey {
            satisfied: true, ..
        } => format!("感谢您对工单 {ticket_no} 的评价：满意。"),
        Action::Survey { .. } => {
            format!("感谢您对工单 {ticket_no} 的评价：不满意。我们将跟进处理。")
        }
        _ => format!("已将您的补充材料转交工单 {ticket_no} 的承办单位。"),
    };
    let refused = match &action {
        Action::Survey { .. } => format!("工单 {ticket_no} 当前不在待评价状态。"),
        _ => format!("工单 {ticket_no} 当前无需补充材料。"),
    };
    let command = TicketCommand::Act {
        idempotency_key: dedup_key(&state.0.config.app_id, inbound),
        actor: Actor::system("intake"),
        ticket_no,
        action,
    };
    match tokio::time::timeout(within, state.0.ledger.submit(command)).await {
        Ok(Ok(_)) => Ok(done),
        Ok(Err(e)) if e.kind().is_refusal() => Ok(refused),
        // WeChat repeats the request; the key makes the repeat the same step.
        Ok(Err(_)) | Err(_) => Err(WechatError::Unavailable),
    }
}

/// `查询 <number>`, `查询<number>` or a bare number.
fn progress_query(content: &str) -> Option<TicketNo> {
    let text = content.trim();
    let rest = text
        .strip_prefix("查询")
        .or_else(|| text.strip_prefix("进度"))
        .unwrap_or(text)
        .trim_start_matches([' ', '\u{3000}', ':', '：'])
        .trim();
    if rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_digit()) {
        TicketNo::parse(rest).ok()
    } else {
        None
    }
}

/// The public status of a ticket, as Open311 shows it (no contact details; nothing of a
/// confidential ticket but its state).
async fn progress(state: &WechatState, ticket_no: TicketNo) -> String {
    match state.0.ledger.get(ticket_no).await {
        Ok(found) => {
            let view = &found.ticket;
            let state_text = if view.status.is_open_for_citizen() {
                "办理中"
            } else {
                "已办结"
            };
            let mut text = format!("工单 {ticket_no}：{state_text}（{}）", view.status.as_str());
            if !view.confidential
                && let Some(note) = crate::present::status_notes(&found.history)
            {
                text.push_str("\n最新进展：");
                text.push_str(&note);
            }
            text
        }
        Err(e) if e.kind() == hotline_domain::contract::ErrorKind::NotFound => {
            format!("未找到工单 {ticket_no}，请核对编号。")
        }
        Err(_) => "查询暂时不可用，请稍后再试。".to_owned(),
    }
}

/// The ticket a message asks for, or the reply saying why it cannot be one.
fn draft(state: &WechatState, inbound: &Inbound) -> Result<CreateTicket, String> {
    let mut location = Location::default();
    let mut media_url = None;
    let mut attributes = BTreeMap::new();
    let mut confidential = false;
    let description = match &inbound.kind {
        Kind::Text { content } => match confidential_request(content) {
            Some(rest) => {
                confidential = true;
                rest.to_owned()
            }
            None => content.trim().to_owned(),
        },
        Kind::Voice {
            recognition,
            media_id,
        } => {
            attributes.insert("wechat_media_id".to_owned(), vec![media_id.clone()]);
            // Without recognition an agent fetches the recording by its MediaId (WeChat keeps
            // media three days).
            recognition
                .clone()
                .unwrap_or_else(|| "[语音] 市民通过微信发送的语音留言（未识别）".to_owned())
        }
        Kind::Image { pic_url, media_id } => {
            attributes.insert("wechat_media_id".to_owned(), vec![media_id.clone()]);
            let lower = pic_url.to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                media_url = Some(pic_url.clone());
            }
            "[图片] 市民通过微信发送的图片".to_owned()
        }
        Kind::Location { lat, long, label } => {
            location.lat = Some(*lat);
            location.long = Some(*long);
            location.address = (!label.is_empty()).then(|| label.clone());
            format!("[位置] {label}")
        }
        Kind::Link {
            title,
            description,
            url,
        } => format!("[链接] {title}\n{description}\n{url}"),
        _ => return Err(HINT.to_owned()),
    };
    if description.is_empty() {
        return Err(HINT.to_owned());
    }
    let max = state.0.config.max_description_chars;
    if description.chars().count() > max {
        return Err(format!("内容过长（最多 {max} 字），请精简后重新发送。"));
    }
    Ok(CreateTicket {
        // Replaced by the issued number in create_once.
        ticket_no: TicketNo::compose(0, 0).ok_or_else(|| HINT.to_owned())?,
        channel: Channel::Wechat,
        request_type: RequestType::HelpRequest,
        service_code: None,
        description,
        location,
        citizen: Citizen {
            account_id: Some(format!("wechat:{}", inbound.from)),
            ..Citizen::default()
        },
        confidential,
        attributes,
        media_url,
        hold: false,
    })
}

/// `wechat:<sha256(app id, MsgId)>`, or of `FromUserName`+`CreateTime` without a MsgId.
fn dedup_key(app_id: &str, inbound: &Inbound) -> String {
    let mut hasher = Sha256::new();
    hasher.update(app_id.as_bytes());
    hasher.update([0u8]);
    match &inbound.msg_id {
        Some(id) => hasher.update(id.as_bytes()),
        None => {
            hasher.update(inbound.from.as_bytes());
            hasher.update([0u8]);
            hasher.update(inbound.create_time.to_string().as_bytes());
        }
    }
    format!("wechat:{}", hex::encode(hasher.finalize()))
}

/// One ticket per key: Redis first, the ledger's idempotency key as the backstop (as
/// `routes::create_once` for Open311). `ledger_key` is `key` but for a message that reopens
/// a conversation. `Err(())` when no number or no ledger answer.
async fn create_once(
    state: WechatState,
    key: String,
    ledger_key: String,
    ticket: CreateTicket,
) -> Result<(TicketNo, &'static str), ()> {
    let issue = || async {
        state.0.numbers.next().await.map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), "no ticket number");
        })
    };
    let cache = state.0.idempotency.as_deref();
    let cache_key = format!("{}:idem:{key}", state.0.config.namespace);
    let ticket_no = match idempotency::claim(cache, &cache_key, issue).await? {
        Claim::Replayed(no) => return Ok((no, "replayed_cache")),
        Claim::Send(no) => no,
    };
    let command = TicketCommand::Create {
        idempotency_key: ledger_key,
        actor: Actor::Citizen {
            channel: Channel::Wechat,
        },
        ticket: Box::new(CreateTicket {
            ticket_no,
            ..ticket
        }),
    };
    let accepted = state.0.ledger.submit(command).await.map_err(|e| {
        tracing::warn!(error = %e, "the ledger did not take a wechat ticket");
    })?;
    idempotency::confirm(cache, &cache_key, accepted.ticket_no).await;
    let outcome = if accepted.replayed {
        "replayed"
    } else {
        "created"
    };
    TICKETS_CREATED
        .with_label_values(&[Channel::Wechat.as_str(), outcome])
        .inc();
    Ok((accepted.ticket_no, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(msg_id: Option<&str>, from: &str, create_time: i64) -> Inbound {
        Inbound {
            to: "gh_1".into(),
            from: from.into(),
            create_time,
            msg_id: msg_id.map(str::to_owned),
            kind: Kind::Text {
                content: "x".into(),
            },
        }
    }

    #[test]
    fn progress_queries_are_recognised() {
        let no = TicketNo::parse("2612030000000011").expect("no");
        for text in [
            "查询 2612030000000011",
            "查询2612030000000011",
            "查询：2612030000000011",
            "  2612030000000011 ",
            "进度 2612030000000011",
        ] {
            assert_eq!(progress_query(text), Some(no), "{text}");
        }
        for text in [
            "查询",
            "路灯坏了 2612030000000011",
            "261203000000001",
            "查询 abc",
        ] {
            assert_eq!(progress_query(text), None, "{text}");
        }
    }

    #[test]
    fn follow_ups_name_a_ticket_and_an_action() {
        let no = TicketNo::parse("2612030000000011").expect("no");
        assert_eq!(
            follow_up("满意 2612030000000011"),
            Some((
                no,
                Action::Survey {
                    satisfied: true,
                    note: String::new()
                }
            ))
        );
        assert_eq!(
            follow_up("不满意：2612030000000011 还是很吵"),
            Some((
                no,
                Action::Survey {
                    satisfied: false,
                    note: "还是很吵".into()
                }
            ))
        );
        assert_eq!(
            follow_up("补充 2612030000000011 门牌号是12号"),
            Some((
                no,
                Action::ProvideInformation {
                    note: "门牌号是12号".into()
                }
            ))
        );
        assert_eq!(follow_up("补充 2612030000000011"), None, "nothing to add");
        assert_eq!(follow_up("满意"), None);
        assert_eq!(follow_up("满意 26120300"), None);
        assert_eq!(follow_up("我很满意 2612030000000011"), None);
    }

    #[test]
    fn confidentiality_is_asked_by_a_prefix() {
        assert_eq!(
            confidential_request("保密：邻居半夜施工"),
            Some("邻居半夜施工")
        );
        assert_eq!(
            confidential_request("【保密】 邻居半夜施工"),
            Some("邻居半夜施工")
        );
        assert_eq!(confidential_request(" 保密 邻居"), Some("邻居"));
        assert_eq!(confidential_request("请保密"), None);
        assert_eq!(confidential_request("邻居半夜施工"), None);
    }

    #[test]
    fn dedup_keys_follow_msg_id_or_sender_and_time() {
        let a = dedup_key("wx1", &inbound(Some("1"), "o1", 10));
        assert_eq!(
            a,
            dedup_key("wx1", &inbound(Some("1"), "o2", 11)),
            "MsgId decides"
        );
        assert_ne!(
            a,
            dedup_key("wx2", &inbound(Some("1"), "o1", 10)),
            "per account"
        );
        assert!(a.starts_with("wechat:") && a.len() == 7 + 64);
        let e = dedup_key("wx1", &inbound(None, "o1", 10));
        assert_eq!(e, dedup_key("wx1", &inbound(None, "o1", 10)));
        assert_ne!(e, dedup_key("wx1", &inbound(None, "o1", 11)));
        assert_ne!(e, dedup_key("wx1", &inbound(None, "o2", 10)));
        assert!(!a.contains("o1"), "no OpenID in the key");
    }
}
