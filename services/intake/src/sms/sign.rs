//! The gateway's signature, in both directions, and the keyed hash that stands for a number.
//!
//! Every request, ours to the gateway and the gateway's callbacks to us, carries
//! `X-Sms-Timestamp` (Unix seconds), `X-Sms-Nonce` (8-64 visible ASCII characters) and
//! `X-Sms-Signature`: lowercase hex of HMAC-SHA256(secret, timestamp "\n" nonce "\n" body).
//! The newlines keep the three parts apart (`1` + `23` and `12` + `3` sign differently).
//!
//! HMAC is written out here over `sha2` (RFC 2104, checked against RFC 4231's vectors) rather
//! than pulling a second `digest` generation into the build for forty lines.

use hotline_domain::PhoneNumber;
use sha2::{Digest as _, Sha256};

pub const KEY_HEADER: &str = "x-sms-key";
pub const TIMESTAMP_HEADER: &str = "x-sms-timestamp";
pub const NONCE_HEADER: &str = "x-sms-nonce";
pub const SIGNATURE_HEADER: &str = "x-sms-signature";

const BLOCK: usize = 64;

/// HMAC-SHA256 of the concatenated `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The `X-Sms-Signature` of a request.
pub fn signature(secret: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(
        secret.as_bytes(),
        &[timestamp.as_bytes(), b"\n", nonce.as_bytes(), b"\n", body],
    ))
}

/// Why a callback's signature is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature headers missing or malformed")]
    Missing,
    #[error("timestamp outside the window")]
    Stale,
    #[error("bad signature")]
    Bad,
    #[error("nonce already used")]
    Replayed,
}

/// Checks a callback: the timestamp within `window_secs` of `now`, then the signature (compared
/// in constant time).
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    nonce: Option<&str>,
    given: Option<&str>,
    body: &[u8],
    now: i64,
    window_secs: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(nonce), Some(given)) = (timestamp, nonce, given) else {
        return Err(SignatureError::Missing);
    };
    if !nonce_ok(nonce) {
        return Err(SignatureError::Missing);
    }
    let at: i64 = timestamp.parse().map_err(|_| SignatureError::Missing)?;
    if now.abs_diff(at) > window_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = signature(secret, timestamp, nonce, body);
    if !same(&given.to_ascii_lowercase(), &expected) {
        return Err(SignatureError::Bad);
    }
    Ok(())
}

fn nonce_ok(nonce: &str) -> bool {
    (8..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh nonce for our own requests.
pub fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Constant-time equality, so a forger learns nothing from how fast a guess fails.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The keyed hash (hex) that stands for `number` wherever we keep something about it.
pub fn number_hash(number_key: &str, number: &PhoneNumber) -> String {
    hex::encode(hmac_sha256(
        number_key.as_bytes(),
        &[b"sms-number\0", national(number).as_bytes()],
    ))
}

/// `+8613800138000`, `8613800138000` and `13800138000` are one mobile number: the gateway
/// reports senders with or without the country code, and a STOP must hold either way.
pub fn national(number: &PhoneNumber) -> &str {
    let s = number.as_str();
    let s = s.strip_prefix('+').unwrap_or(s);
    match s.strip_prefix("86") {
        Some(rest) if rest.len() == 11 && rest.starts_with('1') => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1.
        let mac = hmac_sha256(&[0x0b; 20], &[b"Hi There"]);
        assert_eq!(
            hex::encode(mac),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2, in two parts.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn callbacks_are_checked_for_time_and_signature() {
        let body = br#"{"from":"13800138000"}"#;
        let sig = signature("inbound-secret-123", "1000", "nonce-0001", body);
        let check = |ts: Option<&str>, nonce: Option<&str>, sig: Option<&str>, body: &[u8], now| {
            verify("inbound-secret-123", ts, nonce, sig, body, now, 300)
        };
        let ok = Some(sig.as_str());
        assert_eq!(
            check(Some("1000"), Some("nonce-0001"), ok, body, 1100),
            Ok(())
        );
        assert_eq!(
            check(
                Some("1000"),
                Some("nonce-0001"),
                Some(&sig.to_uppercase()),
                body,
                1100
            ),
            Ok(())
        );
        assert_eq!(
            check(Some("1000"), Some("nonce-0001"), ok, body, 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(Some("1000"), Some("nonce-0001"), ok, body, 699),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(Some("1000"), Some("nonce-0001"), ok, b"{}", 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            check(Some("1000"), Some("nonce-0002"), ok, body, 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            check(None, Some("nonce-0001"), ok, body, 1000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(Some("1000"), Some("short"), ok, body, 1000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(Some("soon"), Some("nonce-0001"), ok, body, 1000),
            Err(SignatureError::Missing)
        );
        // The separators matter.
        assert_ne!(
            signature("k", "1", "23nonce-x", b""),
            signature("k", "12", "3nonce-x", b"")
        );
    }

    #[test]
    fn number_hashes_are_keyed_and_ignore_the_country_code() {
        let n = |s| PhoneNumber::parse(s).expect("number");
        let a = number_hash("key-one-0123456789", &n("13800138000"));
        assert_eq!(a, number_hash("key-one-0123456789", &n("+8613800138000")));
        assert_eq!(a, number_hash("key-one-0123456789", &n("8613800138000")));
        assert_ne!(a, number_hash("key-two-0123456789", &n("13800138000")));
        assert_ne!(a, number_hash("key-one-0123456789", &n("13800138001")));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("13800138000"));
        assert_eq!(national(&n("+12025550123")), "12025550123");
    }
}
