//! One-time sign-in codes, in Redis: 6 digits, kept only as a salted SHA-256 for
//! `app.code_ttl_secs`, at most `app.code_max_tries` guesses; how many codes a phone number and a
//! client address may ask for in `app.code_window_secs`.
//!
//! Every key is a digest (`{ns}:app:code:<sha256>`), so a Redis dump holds no phone number.
//! A code lost with a Redis flush costs the citizen one more SMS, nothing else.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use hotline_domain::PhoneNumber;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};

use super::error::AppError;

const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// Sends a code to a phone. Production sends it through `crate::sms::provider`; the seam lets
/// the API be tested without one.
pub trait CodeSender: Send + Sync + 'static {
    fn send<'a>(
        &'a self,
        phone: &'a PhoneNumber,
        code: &'a str,
    ) -> BoxFuture<'a, Result<(), SendError>>;
}

/// Why a code did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The number cannot get it (stopped, refused by the operator): the citizen's problem.
    #[error("the number does not take messages")]
    Refused,
    /// The provider's own per-number limits (one code a minute, a few an hour).
    #[error("too many messages to the number")]
    RateLimited,
    /// The provider is busy or down: retry later.
    #[error("the SMS provider is unavailable: {0}")]
    Unavailable(String),
}

/// The limits of `[app]`, resolved.
#[derive(Debug, Clone, Copy)]
pub struct CodeLimits {
    pub ttl: Duration,
    pub max_tries: u32,
    pub per_phone: u32,
    pub per_client: u32,
    pub window: Duration,
}

/// A fresh code: 6 digits, uniformly drawn.
pub fn fresh_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// Codes and their counters in Redis.
#[derive(Clone)]
pub struct Codes {
    connection: redis::aio::ConnectionManager,
    namespace: String,
    limits: CodeLimits,
}

impl Codes {
    pub fn new(url: &str, namespace: &str, limits: CodeLimits) -> anyhow::Result<Codes> {
        let client = redis::Client::open(url).context("parsing redis.url")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(Codes {
            connection,
            namespace: namespace.to_owned(),
            limits,
        })
    }

    fn digest(&self, kind: &str, value: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.namespace.as_bytes());
        hasher.update([0u8]);
        hasher.update(kind.as_bytes());
        hasher.update([0u8]);
        hasher.update(value);
        hex::encode(hasher.finalize())
    }

    fn code_key(&self, phone: &PhoneNumber) -> String {
        let digest = self.digest("code", phone.as_str().as_bytes());
        format!("{}:app:code:{digest}", self.namespace)
    }

    /// Counts one code asked for by `phone` from `client`; refuses past either limit.
    pub async fn allow(&self, phone: &PhoneNumber, client: Option<IpAddr>) -> Result<(), AppError> {
        let client = match client {
            Some(ip) => ip.to_string(),
            None => "unknown".to_owned(),
        };
        let buckets = [
            (
                format!(
                    "{}:app:limit:phone:{}",
                    self.namespace,
                    self.digest("phone", phone.as_str().as_bytes())
                ),
                self.limits.per_phone,
            ),
            (
                format!(
                    "{}:app:limit:client:{}",
                    self.namespace,
                    self.digest("client", client.as_bytes())
                ),
                self.limits.per_client,
            ),
        ];
        for (key, limit) in buckets {
            let (count, ttl) = self.hit(&key).await.map_err(unavailable)?;
            if count > u64::from(limit) {
                return Err(AppError::TooManyCodes {
                    retry_after_secs: ttl,
                });
            }
        }
        Ok(())
    }

    /// SET NX EX then INCR in one transaction: the window starts with the first request and the
    /// key never lacks its expiry.
    async fn hit(&self, key: &str) -> anyhow::Result<(u64, u64)> {
        let window = self.limits.window.as_secs();
        let mut connection = self.connection.clone();
        let (count, ttl): (u64, i64) = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(key)
                .arg(0)
                .arg("NX")
                .arg("EX")
                .arg(window)
                .ignore()
                .cmd("INCR")
                .arg(key)
                .cmd("TTL")
                .arg(key)
                .query_async(&mut connection),
        )
        .await
        .context("Redis did not answer in time")?
        .context("Redis counter failed")?;
        Ok((count, u64::try_from(ttl).unwrap_or(window).max(1)))
    }

    /// Keeps `code` for `phone`, replacing any earlier one (and its tries).
    pub async fn store(&self, phone: &PhoneNumber, code: &str) -> Result<(), AppError> {
        let salt: [u8; 16] = rand::random();
        let digest = code_digest(&salt, code);
        let key = self.code_key(phone);
        let mut connection = self.connection.clone();
        let _: () = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(&key)
                .ignore()
                .cmd("HSET")
                .arg(&key)
                .arg("salt")
                .arg(hex::encode(salt))
                .arg("digest")
                .arg(&digest)
                .arg("tries")
                .arg(0)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(self.limits.ttl.as_secs())
                .ignore()
                .query_async(&mut connection),
        )
        .await
        .context("Redis did not answer in time")
        .and_then(|r| r.context("storing a code"))
        .map_err(unavailable)?;
        Ok(())
    }

    /// Checks a guess. Every guess counts (the right one too, so the count cannot be probed);
    /// past the limit even the right code is refused until the code expires. A right guess
    /// uses the code up.
    pub async fn check(&self, phone: &PhoneNumber, guess: &str) -> Result<(), AppError> {
        let key = self.code_key(phone);
        let mut connection = self.connection.clone();
        let (tries, salt, digest, ttl): (u64, Option<String>, Option<String>, i64) =
            tokio::time::timeout(
                REDIS_TIMEOUT,
                redis::pipe()
                    .atomic()
                    .cmd("HINCRBY")
                    .arg(&key)
                    .arg("tries")
                    .arg(1)
                    .cmd("HGET")
                    .arg(&key)
                    .arg("salt")
                    .cmd("HGET")
                    .arg(&key)
                    .arg("digest")
                    .cmd("TTL")
                    .arg(&key)
                    .query_async(&mut connection),
            )
            .await
            .context("Redis did not answer in time")
            .and_then(|r| r.context("checking a code"))
            .map_err(unavailable)?;
        let (Some(salt), Some(digest)) = (salt, digest) else {
            // No code: HINCRBY made a bare counter; it must not outlive the window.
            let _: redis::RedisResult<()> = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut connection)
                .await;
            return Err(AppError::WrongCode);
        };
        if tries > u64::from(self.limits.max_tries) {
            return Err(AppError::Locked {
                retry_after_secs: u64::try_from(ttl).unwrap_or(1).max(1),
            });
        }
        let salt = hex::decode(salt).map_err(|_| AppError::WrongCode)?;
        let presented = code_digest(&salt, guess);
        if !constant_time_eq(presented.as_bytes(), digest.as_bytes()) {
            return Err(AppError::WrongCode);
        }
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .map_err(|e| unavailable(e.into()))?;
        Ok(())
    }
}

fn code_digest(salt: &[u8], code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(code.as_bytes());
    hex::encode(hasher.finalize())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn unavailable(e: anyhow::Error) -> AppError {
    tracing::warn!(error = %format!("{e:#}"), "app: Redis is unavailable");
    AppError::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50).map(|_| fresh_code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(
            codes.len() > 40,
            "50 draws of a million should rarely repeat"
        );
    }

    #[test]
    fn digests_depend_on_salt_and_code_and_hide_both() {
        let a = code_digest(b"salt-one", "123456");
        assert_eq!(a, code_digest(b"salt-one", "123456"));
        assert_ne!(a, code_digest(b"salt-two", "123456"));
        assert_ne!(a, code_digest(b"salt-one", "123457"));
        assert!(!a.contains("123456"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[tokio::test]
    async fn redis_keys_never_hold_the_phone_number() {
        let limits = CodeLimits {
            ttl: Duration::from_secs(300),
            max_tries: 5,
            per_phone: 5,
            per_client: 20,
            window: Duration::from_secs(3600),
        };
        let codes = Codes::new("redis://127.0.0.1:1", "ns", limits).expect("lazy");
        let phone = PhoneNumber::parse("13800138000").expect("phone");
        let key = codes.code_key(&phone);
        assert!(key.starts_with("ns:app:code:"));
        assert!(!key.contains("13800138000"));
        assert_ne!(
            key,
            codes.code_key(&PhoneNumber::parse("13800138001").expect("phone"))
        );
    }
}
