//! The versioned envelope. Consumers refuse versions they do not know instead of misreading them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const CURRENT_VERSION: u16 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub v: u16,
    /// Stable id; also the `Nats-Msg-Id`, so a republished event is dropped by the stream.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: DateTime<Utc>,
    pub data: T,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Says where, never what: serde's own message quotes the offending value, which may be a
    /// citizen's phone number, and this text goes to logs and dead-letter headers.
    /// Not `#[source]` either: an error chain printed with `{:#}` would quote it all the same.
    #[error("not a valid envelope: {} error at line {} column {}", decode_category(.0), .0.line(), .0.column())]
    Decode(serde_json::Error),
    #[error("envelope version {0} is not supported")]
    Version(u16),
}

impl From<serde_json::Error> for EnvelopeError {
    fn from(e: serde_json::Error) -> Self {
        EnvelopeError::Decode(e)
    }
}

fn decode_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "end of input",
    }
}

impl<T: Serialize> Envelope<T> {
    pub fn new(id: Uuid, kind: impl Into<String>, data: T) -> Envelope<T> {
        Envelope {
            v: CURRENT_VERSION,
            id,
            kind: kind.into(),
            at: Utc::now(),
            data,
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl<T: serde::de::DeserializeOwned> Envelope<T> {
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope<T>, EnvelopeError> {
        let envelope: Envelope<T> = serde_json::from_slice(bytes)?;
        if envelope.v != CURRENT_VERSION {
            return Err(EnvelopeError::Version(envelope.v));
        }
        Ok(envelope)
    }
}

/// The ticket number of a ticket event, read without decoding the whole event: the key that
/// keeps one ticket's events in order in [`crate::consumer::run`].
pub fn ticket_key(payload: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Ticket {
        ticket_no: String,
    }
    #[derive(Deserialize)]
    struct Data {
        ticket: Ticket,
    }
    #[derive(Deserialize)]
    struct Partial {
        data: Data,
    }
    serde_json::from_slice::<Partial>(payload)
        .map(|p| p.data.ticket.ticket_no)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_error_does_not_quote_the_payload() {
        let payload = br#"{"v": 1, "id": "13987650123", "type": "x", "at": "now", "data": 1}"#;
        let err = Envelope::<u8>::from_slice(payload).expect_err("refused");
        let text = err.to_string();
        assert!(!text.contains("13987650123"), "{text}");
        assert!(text.contains("line 1"), "{text}");
        let err =
            Envelope::<u8>::from_slice("\"龚测试员 13987650123\"".as_bytes()).expect_err("refused");
        assert!(!err.to_string().contains("龚测试员"), "{err}");
        // Nor through the error chain, as logs and dead letters print it (`{:#}`).
        let chain = format!("{:#}", anyhow::anyhow!(err));
        assert!(!chain.contains("龚测试员"), "{chain}");
    }

    #[test]
    fn unknown_versions_are_refused() {
        let mut e = Envelope::new(Uuid::now_v7(), "x", 5u8);
        let ok: Envelope<u8> = Envelope::from_slice(&e.to_bytes().expect("json")).expect("decodes");
        assert_eq!(ok.data, 5);
        e.v = 9;
        let err = Envelope::<u8>::from_slice(&e.to_bytes().expect("json")).expect_err("refused");
        assert!(matches!(err, EnvelopeError::Version(9)));
        assert!(matches!(
            Envelope::<u8>::from_slice(b"{"),
            Err(EnvelopeError::Decode(_))
        ));
    }
}
