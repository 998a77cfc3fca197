//! Survey links: `<public_url>/s/<token>`, a token the citizen cannot forge, that expires and
//! works once.
//!
//! `token = base64url(id "." expires "." nonce) "." base64url(HMAC-SHA256(secret, payload)[..16])`.
//! The signature turns away forged and stuffed tokens before the database is asked; the
//! expiry is inside the signed part; the nonce must still be the survey's live one
//! (`survey.link_nonce`), which the answer clears, so a replayed link finds nothing to answer.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::hmac;

/// What a token says, once its signature holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub survey_id: i64,
    pub expires: DateTime<Utc>,
    pub nonce: String,
}

/// Why a token is refused. The citizen sees one page for all of them but `Expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a survey link")]
    Malformed,
    #[error("the signature does not match")]
    Signature,
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks links with the configured secret.
#[derive(Clone)]
pub struct Signer {
    key: hmac::Key,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A fresh random nonce (128 bits).
    pub fn nonce() -> String {
        let bytes: [u8; 16] = rand::random();
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn token(&self, link: &Link) -> String {
        let payload = format!(
            "{}.{}.{}",
            link.survey_id,
            link.expires.timestamp(),
            link.nonce
        );
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
        )
    }

    /// The link a token stands for, if it is ours and not expired at `now`.
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Link, LinkError> {
        if token.len() > 256 {
            return Err(LinkError::Malformed);
        }
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Malformed)?;
        if tag.len() != 16 {
            return Err(LinkError::Malformed);
        }
        // Constant time: compare full tags, then the truncation we keep.
        let expected = hmac::sign(&self.key, &payload);
        if !constant_eq(&expected.as_ref()[..16], &tag) {
            return Err(LinkError::Signature);
        }
        let payload = std::str::from_utf8(&payload).map_err(|_| LinkError::Malformed)?;
        let mut parts = payload.splitn(3, '.');
        let survey_id = parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or(LinkError::Malformed)?;
        let expires = parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .ok_or(LinkError::Malformed)?;
        let nonce = parts.next().ok_or(LinkError::Malformed)?.to_owned();
        if now > expires {
            return Err(LinkError::Expired);
        }
        Ok(Link {
            survey_id,
            expires,
            nonce,
        })
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            survey_id: 42,
            expires: DateTime::<Utc>::from_timestamp(1_900_000_000, 0).expect("time"),
            nonce: Signer::nonce(),
        }
    }

    #[test]
    fn a_token_round_trips_and_anything_else_is_refused() {
        let signer = Signer::new(b"a-survey-link-secret");
        let l = link();
        let token = signer.token(&l);
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        assert_eq!(signer.check(&token, now), Ok(l.clone()));
        // Another secret, a changed id, a cut tag, garbage, too late.
        assert_eq!(
            Signer::new(b"another-secret-entirely").check(&token, now),
            Err(LinkError::Signature)
        );
        let (payload, tag) = token.split_once('.').expect("dot");
        let forged_payload =
            URL_SAFE_NO_PAD.encode(format!("43.{}.{}", l.expires.timestamp(), l.nonce));
        assert_eq!(
            signer.check(&format!("{forged_payload}.{tag}"), now),
            Err(LinkError::Signature)
        );
        assert_eq!(
            signer.check(&format!("{payload}.{}", &tag[..10]), now),
            Err(LinkError::Malformed)
        );
        assert_eq!(signer.check("nonsense", now), Err(LinkError::Malformed));
        assert_eq!(
            signer.check(&"a".repeat(300), now),
            Err(LinkError::Malformed)
        );
        let later = DateTime::<Utc>::from_timestamp(1_900_000_001, 0).expect("time");
        assert_eq!(signer.check(&token, later), Err(LinkError::Expired));
        assert_ne!(Signer::nonce(), Signer::nonce());
    }
}
