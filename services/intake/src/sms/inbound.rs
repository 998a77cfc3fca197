//! `POST /sms/inbound`: the gateway's callback for each SMS a citizen sends to the hotline.
//!
//! The body is JSON or a form with `from`, `to`, `text`, `message_id` and `timestamp`, signed
//! like our requests to the gateway ([`super::sign`], under `sms.inbound_secret`). Checked in
//! this order, and nothing is stored before all checks pass: the signature headers and the
//! timestamp window (401), the nonce not seen before (401: a replay), the body and its fields
//! (400), the text (control characters: 400).
//! Then, by the text:
//!
//! - `STOP`, `TD`, `T`, `退订` (any case, trimmed): the number goes on the STOP list and gets
//!   nothing more, not even a confirmation; `START`, `恢复` takes it off again;
//! - `查询 <number>` / `CX <number>`: the ticket's progress by SMS, only when the ticket's
//!   contact phone is the sender's (otherwise nothing is sent: a stranger learns nothing);
//! - anything else: one ticket per gateway message id (Redis and the ledger, key
//!   `sms:<sha256 of the id>`), the receipt with its number by SMS the first time; a text
//!   starting with 保密 is confidential.
//!
//! The answer is `200 {"code":"OK"}` once the message is dealt with; 503 asks the gateway to
//! call again (the ledger or a store did not answer).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use hotline_domain::contract::{Citizen, CreateTicket, ErrorKind, Location, TicketCommand};
use hotline_domain::{Actor, Channel, PhoneNumber, RequestType, TicketNo};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::SmsState;
use super::metrics::INBOUND;
use super::provider::Template;
use super::sign::{self, SignatureError};
use crate::idempotency::{self, Claim};
use crate::metrics::TICKETS_CREATED;

/// An SMS is at most a few hundred characters even when concatenated; the callback is small.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Why a callback is refused. The gateway retries on 5xx only.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("malformed callback: {0}")]
    Malformed(&'static str),
    #[error("text refused: {0}")]
    Text(String),
    #[error("temporarily unavailable")]
    Unavailable,
}

impl InboundError {
    fn status(&self) -> StatusCode {
        match self {
            InboundError::Signature(_) => StatusCode::UNAUTHORIZED,
            InboundError::Malformed(_) | InboundError::Text(_) => StatusCode::BAD_REQUEST,
            InboundError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A fixed word for logs and metrics.
    fn kind(&self) -> &'static str {
        match self {
            InboundError::Signature(SignatureError::Stale) => "stale",
            InboundError::Signature(SignatureError::Replayed) => "replayed",
            InboundError::Signature(_) => "signature",
            InboundError::Malformed(_) => "malformed",
            InboundError::Text(_) => "text",
            InboundError::Unavailable => "unavailable",
        }
    }

    fn into_response(self) -> Response {
        let status = self.status();
        let kind = self.kind();
        tracing::info!(
            status = status.as_u16(),
            reason = kind,
            "sms callback refused"
        );
        let outcome = if matches!(self, InboundError::Unavailable) {
            "unavailable".to_owned()
        } else {
            format!("refused_{kind}")
        };
        INBOUND.with_label_values(&[&outcome]).inc();
        (
            status,
            axum::Json(serde_json::json!({ "code": kind, "message": self.to_string() })),
        )
            .into_response()
    }
}

pub fn router(state: SmsState) -> Router {
    Router::new()
        .route("/sms/inbound", post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The callback's fields we use; `to` (our number) and `timestamp` (the handset's) are
/// ignored: the signed header carries the time that counts.
#[derive(Debug, Deserialize)]
struct Wire {
    from: String,
    text: String,
    message_id: String,
}

/// An inbound SMS, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub from: PhoneNumber,
    pub text: String,
    pub message_id: String,
}

/// What the citizen's text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Stop,
    Start,
    Progress(TicketNo),
    Report {
        description: String,
        confidential: bool,
    },
}

async fn receive(State(state): State<SmsState>, headers: HeaderMap, body: Bytes) -> Response {
    match receive_checked(&state, &headers, &body).await {
        Ok(outcome) => {
            INBOUND.with_label_values(&[outcome]).inc();
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "code": "OK" })),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn receive_checked(
    state: &SmsState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'static str, InboundError> {
    let config = &state.0.config;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    sign::verify(
        &config.inbound_secret,
        header(sign::TIMESTAMP_HEADER),
        header(sign::NONCE_HEADER),
        header(sign::SIGNATURE_HEADER),
        body,
        chrono::Utc::now().timestamp(),
        config.timestamp_window_secs,
    )?;
    // Twice the window: a timestamp may be that far from now on either side.
    let nonce = header(sign::NONCE_HEADER).unwrap_or_default();
    let ttl = config
        .timestamp_window_secs
        .unsigned_abs()
        .saturating_mul(2);
    let first = state
        .0
        .provider
        .limits()
        .first_nonce(nonce, ttl)
        .await
        .map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), "callback nonce not checked");
            InboundError::Unavailable
        })?;
    if !first {
        return Err(SignatureError::Replayed.into());
    }
    let json = header(header::CONTENT_TYPE.as_str()).is_some_and(|c| {
        c.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    let inbound = parse(body, json)?;
    match intent(&inbound.text, config.max_description_chars)? {
        Intent::Stop => {
            let hash = state.0.provider.number_hash(&inbound.from);
            state.0.provider.stop_list().add(&hash).await.map_err(|e| {
                tracing::warn!(error = %format!("{e:#}"), "STOP not recorded");
                InboundError::Unavailable
            })?;
            Ok("stop")
        }
        Intent::Start => {
            let hash = state.0.provider.number_hash(&inbound.from);
            state
                .0
                .provider
                .stop_list()
                .remove(&hash)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %format!("{e:#}"), "START not recorded");
                    InboundError::Unavailable
                })?;
            Ok("start")
        }
        Intent::Progress(ticket_no) => progress(state, &inbound.from, ticket_no).await,
        Intent::Report {
            description,
            confidential,
        } => report(state, &inbound, description, confidential).await,
    }
}

/// The body as JSON or as a form, then each field checked.
pub fn parse(body: &[u8], json: bool) -> Result<Inbound, InboundError> {
    let wire: Wire = if json {
        serde_json::from_slice(body).map_err(|_| InboundError::Malformed("json"))?
    } else {
        let text = std::str::from_utf8(body).map_err(|_| InboundError::Malformed("utf-8"))?;
        serde_urlencoded::from_str(text).map_err(|_| InboundError::Malformed("form"))?
    };
    let from =
        PhoneNumber::parse_lenient(&wire.from).map_err(|_| InboundError::Malformed("from"))?;
    let id_ok = (1..=128).contains(&wire.message_id.len())
        && wire.message_id.bytes().all(|b| b.is_ascii_graphic());
    if !id_ok {
        return Err(InboundError::Malformed("message_id"));
    }
    hotline_domain::text::check("text", &wire.text)
        .map_err(|e| InboundError::Text(e.to_string()))?;
    Ok(Inbound {
        from,
        text: wire.text,
        message_id: wire.message_id,
    })
}

/// What `text` asks for. An empty text or one over `max_chars` is malformed: no ticket can be
/// made of it, and the gateway would get the same answer every time it called again.
pub fn intent(text: &str, max_chars: usize) -> Result<Intent, InboundError> {
    let trimmed = text.trim().trim_matches('\u{3000}');
    let upper = trimmed.to_uppercase();
    if matches!(upper.as_str(), "STOP" | "TD" | "T" | "退订" | "UNSUBSCRIBE") {
        return Ok(Intent::Stop);
    }
    if matches!(upper.as_str(), "START" | "恢复" | "恢复订阅") {
        return Ok(Intent::Start);
    }
    if let Some(ticket_no) = progress_query(trimmed) {
        return Ok(Intent::Progress(ticket_no));
    }
    let (description, confidential) = match confidential_request(trimmed) {
        Some(rest) => (rest.to_owned(), true),
        None => (trimmed.to_owned(), false),
    };
    if description.is_empty() {
        return Err(InboundError::Malformed("empty text"));
    }
    if description.chars().count() > max_chars {
        return Err(InboundError::Malformed("text too long"));
    }
    Ok(Intent::Report {
        description,
        confidential,
    })
}

/// `查询 <number>`, `CX <number>` (any case), with or without a space or colon.
fn progress_query(text: &str) -> Option<TicketNo> {
    let rest = text
        .strip_prefix("查询")
        .or_else(|| text.strip_prefix("CX"))
        .or_else(|| text.strip_prefix("cx"))
        .or_else(|| text.strip_prefix("Cx"))
        .or_else(|| text.strip_prefix("cX"))?
        .trim_start_matches([' ', '\u{3000}', ':', '：'])
        .trim();
    (rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_digit()))
        .then(|| TicketNo::parse(rest).ok())
        .flatten()
}

/// A text starting with 保密 (`保密：…`, `【保密】…`) asks for confidentiality, as on WeChat
/// and email: departments get no contact details. The rest is the description.
fn confidential_request(text: &str) -> Option<&str> {
    let rest = text
        .strip_prefix("【保密】")
        .or_else(|| text.strip_prefix("[保密]"))
        .or_else(|| text.strip_prefix("保密"))?;
    Some(
        rest.trim_start_matches([' ', '\u{3000}', ':', '：', ',', '，'])
            .trim(),
    )
}

/// `sms:<sha256 of the gateway's message id>`: the id itself never reaches Redis or the ledger.
pub fn dedup_key(message_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"sms\0");
    hasher.update(message_id.as_bytes());
    format!("sms:{}", hex::encode(hasher.finalize()))
}

/// Answers a progress query by SMS when the ticket's contact phone is the sender's.
async fn progress(
    state: &SmsState,
    from: &PhoneNumber,
    ticket_no: TicketNo,
) -> Result<&'static str, InboundError> {
    let found = match state.0.ledger.get(ticket_no).await {
        Ok(found) => found,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok("progress_unknown"),
        Err(_) => return Err(InboundError::Unavailable),
    };
    let owner = found
        .ticket
        .citizen
        .phone
        .as_deref()
        .and_then(|p| PhoneNumber::parse_lenient(p).ok());
    if owner.is_none_or(|p| sign::national(&p) != sign::national(from)) {
        return Ok("progress_unknown");
    }
    let status = if found.ticket.status.is_open_for_citizen() {
        "办理中"
    } else {
        "已办结"
    };
    let no = ticket_no.to_string();
    // A refusal (STOP, limits) is the answer; the gateway need not call again.
    let _ = state
        .0
        .provider
        .send(from, Template::Progress, &[("no", &no), ("status", status)])
        .await;
    Ok("progress")
}

/// One ticket per message id, and the receipt the first time.
async fn report(
    state: &SmsState,
    inbound: &Inbound,
    description: String,
    confidential: bool,
) -> Result<&'static str, InboundError> {
    let key = dedup_key(&inbound.message_id);
    let cache = state.0.idempotency.as_deref();
    let cache_key = format!("{}:idem:{key}", state.0.config.namespace);
    let issue = || async {
        state.0.numbers.next().await.map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), "no ticket number");
            InboundError::Unavailable
        })
    };
    let ticket_no = match idempotency::claim(cache, &cache_key, issue).await? {
        Claim::Replayed(no) => {
            TICKETS_CREATED
                .with_label_values(&[Channel::Sms.as_str(), "replayed_cache"])
                .inc();
            tracing::info!(ticket = %no, "sms repeat answered from the cache");
            return Ok("replayed_cache");
        }
        Claim::Send(no) => no,
    };
    let ticket = CreateTicket {
        ticket_no,
        channel: Channel::Sms,
        request_type: RequestType::HelpRequest,
        service_code: None,
        description,
        location: Location::default(),
        citizen: Citizen {
            phone: Some(inbound.from.as_str().to_owned()),
            ..Citizen::default()
        },
        confidential,
        attributes: Default::default(),
        media_url: None,
        hold: false,
    };
    ticket
        .check_text()
        .map_err(|e| InboundError::Text(e.to_string()))?;
    let command = TicketCommand::Create {
        idempotency_key: key,
        actor: Actor::Citizen {
            channel: Channel::Sms,
        },
        ticket: Box::new(ticket),
    };
    let accepted = state.0.ledger.submit(command).await.map_err(|e| {
        tracing::warn!(error = %e, "the ledger did not take an sms ticket");
        InboundError::Unavailable
    })?;
    idempotency::confirm(cache, &cache_key, accepted.ticket_no).await;
    let outcome = if accepted.replayed {
        "replayed"
    } else {
        "created"
    };
    TICKETS_CREATED
        .with_label_values(&[Channel::Sms.as_str(), outcome])
        .inc();
    tracing::info!(ticket = %accepted.ticket_no, outcome, "sms ticket");
    if !accepted.replayed {
        let no = accepted.ticket_no.to_string();
        // The ticket stands whether or not the receipt goes out; the send logs its outcome.
        let _ = state
            .0
            .provider
            .send(&inbound.from, Template::Receipt, &[("no", &no)])
            .await;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_start_words_are_recognised() {
        for text in [
            "STOP",
            " stop ",
            "Stop\n",
            "TD",
            "td",
            "退订",
            "\u{3000}退订",
            "T",
        ] {
            assert_eq!(intent(text, 100).ok(), Some(Intent::Stop), "{text:?}");
        }
        for text in ["START", "start", " 恢复 "] {
            assert_eq!(intent(text, 100).ok(), Some(Intent::Start), "{text:?}");
        }
        for text in ["STOP the noise", "请退订", "stopp"] {
            assert!(
                matches!(intent(text, 100), Ok(Intent::Report { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn progress_queries_and_reports_are_told_apart() {
        let no = TicketNo::parse("2612030000000011").expect("no");
        for text in [
            "查询 2612030000000011",
            "查询2612030000000011",
            "CX 2612030000000011",
            "cx：2612030000000011",
        ] {
            assert_eq!(intent(text, 100).ok(), Some(Intent::Progress(no)), "{text}");
        }
        assert!(matches!(
            intent("查询 2612030000000012", 100),
            Ok(Intent::Report { .. })
        ));
        assert_eq!(
            intent("保密：邻居半夜施工", 100).ok(),
            Some(Intent::Report {
                description: "邻居半夜施工".into(),
                confidential: true
            })
        );
        assert_eq!(
            intent(" 路灯不亮 ", 100).ok(),
            Some(Intent::Report {
                description: "路灯不亮".into(),
                confidential: false
            })
        );
        assert!(matches!(intent("  ", 100), Err(InboundError::Malformed(_))));
        assert!(matches!(
            intent("保密", 100),
            Err(InboundError::Malformed(_))
        ));
        assert!(matches!(
            intent(&"字".repeat(101), 100),
            Err(InboundError::Malformed(_))
        ));
    }

    #[test]
    fn callbacks_parse_as_json_or_form_and_refuse_control_characters() {
        let json = r#"{"from":"+8613800138000","to":"12345","text":"路灯不亮","message_id":"m-1","timestamp":1764750000}"#;
        let parsed = parse(json.as_bytes(), true).expect("json");
        assert_eq!(parsed.from.as_str(), "+8613800138000");
        assert_eq!(parsed.text, "路灯不亮");
        let form = "from=13800138000&to=12345&text=%E8%B7%AF%E7%81%AF&message_id=m-2&timestamp=1";
        assert_eq!(
            parse(form.as_bytes(), false).expect("form").message_id,
            "m-2"
        );
        assert!(matches!(
            parse(
                br#"{"from":"13800138000","text":"a\u0007b","message_id":"m"}"#,
                true
            ),
            Err(InboundError::Text(_))
        ));
        assert!(matches!(
            parse(br#"{"from":"call me","text":"a","message_id":"m"}"#, true),
            Err(InboundError::Malformed("from"))
        ));
        assert!(matches!(
            parse(
                br#"{"from":"13800138000","text":"a","message_id":"has space"}"#,
                true
            ),
            Err(InboundError::Malformed("message_id"))
        ));
        assert!(matches!(parse(b"{", true), Err(InboundError::Malformed(_))));
        assert!(matches!(
            parse(b"\xff", false),
            Err(InboundError::Malformed(_))
        ));
    }

    #[test]
    fn dedup_keys_hide_the_message_id() {
        let a = dedup_key("gw-msg-0001");
        assert_eq!(a, dedup_key("gw-msg-0001"));
        assert_ne!(a, dedup_key("gw-msg-0002"));
        assert!(a.starts_with("sms:") && a.len() == 4 + 64);
        assert!(!a.contains("gw-msg"));
    }
}
