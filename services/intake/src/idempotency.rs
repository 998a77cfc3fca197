//! Retried POSTs get the ticket number of their first attempt.
//!
//! A client's `Idempotency-Key` is hashed with its api key (two clients choosing the same key
//! never collide) into `web:<sha256>`. Two layers use it:
//!
//! - Redis, the fast path: `{ns}:idem:web:<sha256>` holds `reserved:<ticket no>` from just
//!   before the Create command, then `created:<ticket no>` once the ledger committed (24 h).
//!   A retry that finds `created` is answered without asking the ledger; one that finds
//!   `reserved` (the first attempt may have died before the ledger answered) sends the Create
//!   again with the same number.
//! - The ledger, the durable backstop: the same key is the Create command's idempotency key,
//!   so after a Redis flush the retry still gets the first ticket number, from the ledger.
//!
//! Redis is optional at run time: when it does not answer, intake goes to the ledger.

use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use hotline_domain::TicketNo;
use sha2::{Digest as _, Sha256};

use crate::error::Rejection;

/// How long a key is remembered in Redis.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest wait for Redis before going to the ledger without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

/// A client's idempotency key, scoped to its api key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    digest: String,
}

impl IdempotencyKey {
    /// Reads the `Idempotency-Key` header value: 1-255 visible ASCII characters.
    pub fn parse(api_key: &str, raw: &[u8]) -> Result<IdempotencyKey, Rejection> {
        if raw.is_empty() || raw.len() > 255 || !raw.iter().all(|b| b.is_ascii_graphic()) {
            return Err(Rejection::IdempotencyKey);
        }
        let mut hasher = Sha256::new();
        hasher.update(api_key.as_bytes());
        // A separator, so that ("ab","c") and ("a","bc") differ.
        hasher.update([0u8]);
        hasher.update(raw);
        Ok(IdempotencyKey {
            digest: hex::encode(hasher.finalize()),
        })
    }

    /// The key in the Create command, checked by the ledger.
    pub fn ledger_key(&self) -> String {
        format!("web:{}", self.digest)
    }

    /// The Redis key.
    pub fn cache_key(&self, namespace: &str) -> String {
        format!("{namespace}:idem:web:{}", self.digest)
    }
}

/// What Redis remembers about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    /// A number was taken for the key; the Create may or may not have committed.
    Reserved(TicketNo),
    /// The ledger committed the ticket.
    Created(TicketNo),
}

impl Remembered {
    fn encode(self) -> String {
        match self {
            Remembered::Reserved(no) => format!("reserved:{no}"),
            Remembered::Created(no) => format!("created:{no}"),
        }
    }

    fn decode(raw: &str) -> Option<Remembered> {
        let (state, no) = raw.split_once(':')?;
        let no = TicketNo::parse(no).ok()?;
        match state {
            "reserved" => Some(Remembered::Reserved(no)),
            "created" => Some(Remembered::Created(no)),
            _ => None,
        }
    }
}

/// What the fast path says a Create should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The ledger already committed this key's ticket: answer with it, send nothing.
    Replayed(TicketNo),
    /// Send the Create with this number (fresh, or an earlier attempt's reservation).
    Send(TicketNo),
}

/// The number a Create for `cache_key` carries, shared by every channel so one request makes
/// one ticket on any of them. A Redis that does not answer is skipped (the ledger's key is the
/// backstop), never an error; only `issue` (a fresh number) can fail.
pub async fn claim<E, F, Fut>(
    cache: Option<&dyn IdempotencyCache>,
    cache_key: &str,
    issue: F,
) -> Result<Claim, E>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<TicketNo, E>>,
{
    let Some(cache) = cache else {
        return issue().await.map(Claim::Send);
    };
    let remembered = cache.lookup(cache_key).await.unwrap_or_else(|e| {
        tracing::warn!(error = %format!("{e:#}"), "idempotency lookup skipped");
        None
    });
    match remembered {
        Some(Remembered::Created(no)) => return Ok(Claim::Replayed(no)),
        Some(Remembered::Reserved(no)) => return Ok(Claim::Send(no)),
        None => {}
    }
    let fresh = issue().await?;
    Ok(match cache.reserve(cache_key, fresh).await {
        Ok(None) => Claim::Send(fresh),
        Ok(Some(Remembered::Created(no))) => Claim::Replayed(no),
        // Another attempt of the same request got there first: use its number, so that both
        // reach the ledger as the same ticket.
        Ok(Some(Remembered::Reserved(no))) => Claim::Send(no),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "idempotency reservation skipped");
            Claim::Send(fresh)
        }
    })
}

/// Marks the key's ticket as committed; a Redis that does not answer is only logged.
pub async fn confirm(cache: Option<&dyn IdempotencyCache>, cache_key: &str, ticket_no: TicketNo) {
    if let Some(cache) = cache
        && let Err(e) = cache.confirm(cache_key, ticket_no).await
    {
        tracing::warn!(error = %format!("{e:#}"), "idempotency confirmation skipped");
    }
}

/// The fast path's store.
pub trait IdempotencyCache: Send + Sync + 'static {
    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<Remembered>>>;
    /// Reserves `ticket_no` for `key` unless the key holds something already; answers `None`
    /// when the reservation is ours, else what the key holds.
    fn reserve<'a>(
        &'a self,
        key: &'a str,
        ticket_no: TicketNo,
    ) -> BoxFuture<'a, anyhow::Result<Option<Remembered>>>;
    fn confirm<'a>(
        &'a self,
        key: &'a str,
        ticket_no: TicketNo,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// Redis through a ConnectionManager (reconnects on its own; connects lazily, so intake starts
/// while Redis is down).
#[derive(Clone)]
pub struct RedisCache {
    connection: redis::aio::ConnectionManager,
}

impl RedisCache {
    pub fn new(url: &str) -> anyhow::Result<RedisCache> {
        let client = redis::Client::open(url).context("parsing redis.url")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(RedisCache { connection })
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(&mut connection))
            .await
            .context("Redis did not answer in time")?
            .context("Redis command failed")
    }
}

impl IdempotencyCache for RedisCache {
    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<Remembered>>> {
        Box::pin(async move {
            let value: Option<String> = self.query(redis::cmd("GET").arg(key)).await?;
            Ok(value.as_deref().and_then(Remembered::decode))
        })
    }

    fn reserve<'a>(
        &'a self,
        key: &'a str,
        ticket_no: TicketNo,
    ) -> BoxFuture<'a, anyhow::Result<Option<Remembered>>> {
        Box::pin(async move {
            let set: Option<String> = self
                .query(
                    redis::cmd("SET")
                        .arg(key)
                        .arg(Remembered::Reserved(ticket_no).encode())
                        .arg("NX")
                        .arg("EX")
                        .arg(TTL.as_secs()),
                )
                .await?;
            if set.is_some() {
                return Ok(None);
            }
            let value: Option<String> = self.query(redis::cmd("GET").arg(key)).await?;
            Ok(value.as_deref().and_then(Remembered::decode))
        })
    }

    fn confirm<'a>(
        &'a self,
        key: &'a str,
        ticket_no: TicketNo,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let _: Option<String> = self
                .query(
                    redis::cmd("SET")
                        .arg(key)
                        .arg(Remembered::Created(ticket_no).encode())
                        .arg("EX")
                        .arg(TTL.as_secs()),
                )
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_to_the_api_key_and_validated() {
        let a = IdempotencyKey::parse("client-a-key", b"retry-1").expect("valid");
        let b = IdempotencyKey::parse("client-b-key", b"retry-1").expect("valid");
        assert_ne!(a, b);
        assert_eq!(
            a,
            IdempotencyKey::parse("client-a-key", b"retry-1").expect("valid")
        );
        assert!(a.ledger_key().starts_with("web:"));
        assert_eq!(a.ledger_key().len(), 4 + 64);
        assert_eq!(
            a.cache_key("hotline"),
            format!("hotline:idem:{}", a.ledger_key())
        );
        assert_ne!(
            IdempotencyKey::parse("ab", b"c").expect("valid"),
            IdempotencyKey::parse("a", b"bc").expect("valid")
        );
        for bad in [&b""[..], b"has space", b"\xff", &[b'x'; 256][..]] {
            assert_eq!(
                IdempotencyKey::parse("k", bad),
                Err(Rejection::IdempotencyKey)
            );
        }
    }

    #[test]
    fn remembered_values_round_trip_and_garbage_is_ignored() {
        let no = TicketNo::compose(261129, 7).expect("no");
        for r in [Remembered::Reserved(no), Remembered::Created(no)] {
            assert_eq!(Remembered::decode(&r.encode()), Some(r));
        }
        assert_eq!(Remembered::decode("created:123"), None);
        assert_eq!(Remembered::decode("other:2611290000000070"), None);
        assert_eq!(Remembered::decode("garbage"), None);
    }
}
