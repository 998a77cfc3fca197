//! The call platform's CTI events, in the generic CTI webhook form helpdesks accept from PBXs
//! (Zammad's): `application/x-www-form-urlencoded` with `event=newCall|answer|hangup`, `from`,
//! `to`, `direction=in|out`, `callId`, `user` (the agent; `user[]` is accepted too), `cause`
//! (on hangup) and an optional IVR keypress (`ivr`).
//!
//! [`CtiEvent::parse`] is the only way in: what comes out has a known event, a bounded call id,
//! phone numbers as [`PhoneNumber`] and texts that pass the domain's text rule.

use hotline_domain::PhoneNumber;

use crate::form;

/// Longest call id the platform may send (Zammad's are 32-64 characters).
const MAX_CALL_ID: usize = 128;
const MAX_SHORT: usize = 64;

/// What a CTI event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    NewCall,
    Answer,
    Hangup,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::NewCall => "newCall",
            EventKind::Answer => "answer",
            EventKind::Hangup => "hangup",
        }
    }

    fn parse(raw: &str) -> Option<EventKind> {
        match raw {
            "newCall" => Some(EventKind::NewCall),
            "answer" => Some(EventKind::Answer),
            "hangup" => Some(EventKind::Hangup),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    pub fn parse(raw: &str) -> Option<Direction> {
        match raw {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    }
}

/// One checked CTI event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtiEvent {
    pub kind: EventKind,
    pub call_id: String,
    pub direction: Option<Direction>,
    /// The citizen's number: `from` on an inbound call, `to` on an outbound one. Personal data.
    pub citizen: Option<PhoneNumber>,
    /// The hotline's side of the call (the number dialled or dialled from); not personal.
    pub line: Option<String>,
    /// The agent (username) who answers or dials.
    pub agent: Option<String>,
    /// Why the call ended (hangup): normalClearing, busy, cancel, noAnswer, ...
    pub cause: Option<String>,
    /// The IVR keypress result, e.g. `1` or `2#3`.
    pub ivr: Option<String>,
}

/// What is wrong with an event. Unknown events are told apart: the platform gets 422 for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtiError {
    #[error("the form is not valid UTF-8")]
    NotUtf8,
    #[error("event is missing")]
    MissingEvent,
    #[error("event must be newCall, answer or hangup")]
    UnknownEvent,
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} was given more than once")]
    Repeated(&'static str),
    #[error("{0} is not valid")]
    Bad(&'static str),
}

impl CtiError {
    /// The platform's answer: 422 for an event we do not know, else 400.
    pub fn is_unknown_event(&self) -> bool {
        matches!(self, CtiError::UnknownEvent)
    }
}

/// A short token-like field: bounded, visible ASCII and CJK-free (ids, causes, usernames).
fn token(field: &'static str, raw: &str, max: usize) -> Result<String, CtiError> {
    let ok = !raw.is_empty()
        && raw.len() <= max
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:+#*".contains(&b));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(CtiError::Bad(field))
    }
}

/// A number as the platform sends it: `anonymous`/empty means withheld.
fn number(field: &'static str, raw: &str) -> Result<Option<PhoneNumber>, CtiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("anonymous") {
        return Ok(None);
    }
    PhoneNumber::parse_lenient(trimmed)
        .map(Some)
        .map_err(|_| CtiError::Bad(field))
}

impl CtiEvent {
    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Result<CtiEvent, CtiError> {
        let pairs = form::pairs(body).map_err(|_| CtiError::NotUtf8)?;
        let get = |name: &'static str, alt: &'static str| -> Result<Option<String>, CtiError> {
            let mut found = None;
            for (k, v) in &pairs {
                if k == name || k == alt {
                    if found.is_some() {
                        return Err(CtiError::Repeated(name));
                    }
                    hotline_domain::text::check(name, v).map_err(|_| CtiError::Bad(name))?;
                    found = Some(v.clone());
                }
            }
            Ok(found.filter(|v| !v.is_empty()))
        };
        let kind = match get("event", "event")? {
            None => return Err(CtiError::MissingEvent),
            Some(raw) => EventKind::parse(&raw).ok_or(CtiError::UnknownEvent)?,
        };
        let call_id = get("callId", "call_id")?.ok_or(CtiError::Missing("callId"))?;
        let call_id = token("callId", &call_id, MAX_CALL_ID)?;
        let direction = get("direction", "direction")?
            .map(|d| Direction::parse(&d).ok_or(CtiError::Bad("direction")))
            .transpose()?;
        if kind == EventKind::NewCall && direction.is_none() {
            return Err(CtiError::Missing("direction"));
        }
        let from = get("from", "from")?;
        let to = get("to", "to")?;
        let (citizen_raw, line_raw) = match direction {
            Some(Direction::Out) => (to, from),
            _ => (from, to),
        };
        let citizen = citizen_raw
            .as_deref()
            .map(|raw| number("from", raw))
            .transpose()?
            .flatten();
        let line = line_raw
            .as_deref()
            .map(|raw| token("to", raw.trim(), MAX_SHORT))
            .transpose()?;
        let agent = get("user", "user[]")?
            .map(|u| token("user", u.trim(), MAX_SHORT))
            .transpose()?;
        let cause = get("cause", "cause")?
            .map(|c| token("cause", &c, MAX_SHORT))
            .transpose()?;
        let ivr = get("ivr", "ivr")?
            .map(|c| token("ivr", &c, 16))
            .transpose()?;
        Ok(CtiEvent {
            kind,
            call_id,
            direction,
            citizen,
            line,
            agent,
            cause,
            ivr,
        })
    }
}

/// Constant-time equality of a presented token with the configured one: the time taken does not
/// tell how many leading characters were right. Both are hashed first so lengths leak nothing.
pub fn token_matches(presented: &str, expected: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbound_new_call_with_ivr() {
        let e = CtiEvent::parse(
            b"event=newCall&from=%2B86+138-0013-8000&to=12345&direction=in&callId=c-1&ivr=2",
        )
        .expect("valid");
        assert_eq!(e.kind, EventKind::NewCall);
        assert_eq!(e.direction, Some(Direction::In));
        assert_eq!(
            e.citizen.as_ref().map(|p| p.as_str()),
            Some("+8613800138000")
        );
        assert_eq!(e.line.as_deref(), Some("12345"));
        assert_eq!(e.ivr.as_deref(), Some("2"));
        assert_eq!(e.agent, None);
    }

    #[test]
    fn an_outbound_call_has_the_citizen_on_the_to_side() {
        let e = CtiEvent::parse(
            b"event=newCall&from=12345&to=13800138000&direction=out&callId=c-2&user%5B%5D=agent1",
        )
        .expect("valid");
        assert_eq!(e.citizen.as_ref().map(|p| p.as_str()), Some("13800138000"));
        assert_eq!(e.agent.as_deref(), Some("agent1"));
    }

    #[test]
    fn answer_and_hangup_carry_user_and_cause() {
        let a =
            CtiEvent::parse(b"event=answer&callId=c-1&user=agent1&direction=in&from=13800138000")
                .expect("valid");
        assert_eq!(a.kind, EventKind::Answer);
        assert_eq!(a.agent.as_deref(), Some("agent1"));
        let h = CtiEvent::parse(b"event=hangup&callId=c-1&cause=normalClearing").expect("valid");
        assert_eq!(h.kind, EventKind::Hangup);
        assert_eq!(h.cause.as_deref(), Some("normalClearing"));
        let anonymous =
            CtiEvent::parse(b"event=newCall&from=anonymous&direction=in&callId=c-3").expect("ok");
        assert_eq!(anonymous.citizen, None);
    }

    #[test]
    fn bad_events_are_refused_with_the_right_error() {
        assert_eq!(
            CtiEvent::parse(b"event=transfer&callId=c-1"),
            Err(CtiError::UnknownEvent)
        );
        assert!(CtiError::UnknownEvent.is_unknown_event());
        assert_eq!(CtiEvent::parse(b"callId=c-1"), Err(CtiError::MissingEvent));
        assert_eq!(
            CtiEvent::parse(b"event=hangup"),
            Err(CtiError::Missing("callId"))
        );
        assert_eq!(
            CtiEvent::parse(b"event=newCall&callId=c-1&from=1380013"),
            Err(CtiError::Missing("direction"))
        );
        assert_eq!(
            CtiEvent::parse(b"event=newCall&callId=c-1&direction=sideways"),
            Err(CtiError::Bad("direction"))
        );
        assert_eq!(
            CtiEvent::parse(b"event=newCall&callId=c-1&direction=in&from=call+me"),
            Err(CtiError::Bad("from"))
        );
        assert_eq!(
            CtiEvent::parse(b"event=hangup&callId=c%001"),
            Err(CtiError::Bad("callId"))
        );
        assert_eq!(
            CtiEvent::parse(b"event=hangup&callId=a&callId=b"),
            Err(CtiError::Repeated("callId"))
        );
        assert_eq!(
            CtiEvent::parse(b"event=hangup&callId=c-1&cause=%FF"),
            Err(CtiError::NotUtf8)
        );
        let long = format!("event=hangup&callId={}", "x".repeat(129));
        assert_eq!(
            CtiEvent::parse(long.as_bytes()),
            Err(CtiError::Bad("callId"))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2000, ..Default::default() })]

        /// Any form over the known names: a checked event whose texts pass the domain's text
        /// rule, or a typed error; never a panic.
        #[test]
        fn any_form_gives_a_clean_event_or_an_error(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "event", "callId", "from", "to", "direction", "user", "user[]",
                        "cause", "ivr",
                    ]),
                    proptest::prelude::any::<String>(),
                ),
                0..8,
            ),
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let mut body = "event=newCall&direction=in&callId=c-1".to_owned();
            for (name, value) in &fields {
                body.push('&');
                body.push_str(&serde_urlencoded::to_string([(name, value)]).expect("encodes"));
            }
            for input in [body.as_bytes(), &raw[..]] {
                if let Ok(e) = CtiEvent::parse(input) {
                    for text in [Some(e.call_id.as_str()), e.line.as_deref(), e.agent.as_deref(),
                                 e.cause.as_deref(), e.ivr.as_deref()].into_iter().flatten() {
                        proptest::prop_assert!(hotline_domain::text::check("f", text).is_ok());
                        proptest::prop_assert!(!text.is_empty() && text.len() <= MAX_CALL_ID);
                    }
                }
            }
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("demo-cti-token", "demo-cti-token"));
        assert!(!token_matches("demo-cti-toke", "demo-cti-token"));
        assert!(!token_matches("", "demo-cti-token"));
        assert!(!token_matches("demo-cti-tokenX", "demo-cti-token"));
    }
}
