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
    #[error("not a valid envelope: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("envelope version {0} is not supported")]
    Version(u16),
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
