//! Per-number sending limits in Redis: at most `sms.max_per_hour` messages to a number in a
//! clock window of an hour, and one one-time code per `sms.one_time_code_interval_secs`. Keys
//! are `{ns}:sms:hour:<number hash>` and `{ns}:sms:otp:<number hash>`: Redis holds no number.
//!
//! A Redis that does not answer stops sending (the caller sees a retryable error): without the
//! counter nothing would hold back a loop or an abuser sending codes to a stranger's phone.

use std::time::Duration;

use anyhow::Context as _;

const TIMEOUT: Duration = Duration::from_millis(500);
const HOUR_SECS: u64 = 3600;

/// What the limits say about one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the hourly count, or a one-time code too soon after the last.
    Limited,
}

#[derive(Clone)]
pub struct Limits {
    connection: redis::aio::ConnectionManager,
    namespace: String,
    max_per_hour: u32,
    code_interval_secs: u64,
}

impl Limits {
    /// Connects lazily: the process starts while Redis is down, and sends nothing until it
    /// answers.
    pub fn new(
        url: &str,
        namespace: &str,
        max_per_hour: u32,
        code_interval_secs: u64,
    ) -> anyhow::Result<Limits> {
        let client = redis::Client::open(url).context("parsing redis.url")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(Limits {
            connection,
            namespace: namespace.to_owned(),
            max_per_hour,
            code_interval_secs,
        })
    }

    /// Remembers a callback's nonce for `ttl_secs`; answers `false` when it was seen before
    /// (a replayed callback: a captured STOP or START must not be played again within the
    /// timestamp window). The key holds a hash of the nonce.
    pub async fn first_nonce(&self, nonce: &str, ttl_secs: u64) -> anyhow::Result<bool> {
        use sha2::{Digest as _, Sha256};
        let key = format!(
            "{}:sms:nonce:{}",
            self.namespace,
            hex::encode(Sha256::digest(nonce.as_bytes()))
        );
        let mut connection = self.connection.clone();
        let set: Option<String> = tokio::time::timeout(
            TIMEOUT,
            redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ttl_secs.max(1))
                .query_async(&mut connection),
        )
        .await
        .context("Redis did not answer in time")?
        .context("Redis SET failed")?;
        Ok(set.is_some())
    }

    pub fn hour_key(&self, number_hash: &str) -> String {
        format!("{}:sms:hour:{number_hash}", self.namespace)
    }

    pub fn code_key(&self, number_hash: &str) -> String {
        format!("{}:sms:otp:{number_hash}", self.namespace)
    }

    /// Counts one message to the number (and, for a one-time code, starts its interval).
    /// A refused message is counted too: retrying a refused send does not wear the limit down
    /// faster than waiting does, since the window is fixed.
    pub async fn take(&self, number_hash: &str, one_time_code: bool) -> anyhow::Result<Verdict> {
        let mut connection = self.connection.clone();
        if one_time_code {
            let set: Option<String> = tokio::time::timeout(
                TIMEOUT,
                redis::cmd("SET")
                    .arg(self.code_key(number_hash))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(self.code_interval_secs)
                    .query_async(&mut connection),
            )
            .await
            .context("Redis did not answer in time")?
            .context("Redis SET failed")?;
            if set.is_none() {
                return Ok(Verdict::Limited);
            }
        }
        let key = self.hour_key(number_hash);
        let (count,): (u64,) = tokio::time::timeout(
            TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("INCR")
                .arg(&key)
                .cmd("EXPIRE")
                .arg(&key)
                .arg(HOUR_SECS)
                .arg("NX")
                .ignore()
                .query_async(&mut connection),
        )
        .await
        .context("Redis did not answer in time")?
        .context("Redis INCR failed")?;
        Ok(if count > u64::from(self.max_per_hour) {
            Verdict::Limited
        } else {
            Verdict::Allowed
        })
    }
}

#[cfg(test)]
mod tests {
    use hotline_domain::PhoneNumber;

    use super::*;
    use crate::sms::sign::number_hash;

    #[tokio::test]
    async fn limit_keys_hold_a_hash_never_the_number() {
        // Lazy (but inside a runtime): no Redis is contacted to build the keys.
        let limits = Limits::new("redis://127.0.0.1:1", "city", 5, 60).expect("limits");
        let number = PhoneNumber::parse("13800138000").expect("number");
        let hash = number_hash("number-key-0123456789", &number);
        for key in [limits.hour_key(&hash), limits.code_key(&hash)] {
            assert!(key.starts_with("city:sms:"), "{key}");
            assert!(key.ends_with(&hash), "{key}");
            assert!(
                !key.contains("13800138000") && !key.contains("38001380"),
                "{key}"
            );
        }
        assert_ne!(limits.hour_key(&hash), limits.code_key(&hash));
    }
}
