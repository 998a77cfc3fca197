//! A follower's conversation: the messages one OpenID sends within
//! `wechat.conversation_window_secs` (text, then a photo, then the location) are one contact,
//! so they make one ticket and not three.
//!
//! Kept in Redis, so every replica of the channel sees the same conversation:
//!
//! - `<ns>:wechat:conversation:<sha256(app id, openid)>` holds `pending:<message key>` while
//!   the conversation's first message is becoming a ticket (claimed with `SET NX EX`, so two
//!   messages arriving at once do not both open one), then `ticket:<number>`. It expires
//!   a window after the last message that joined it.
//! - `<ns>:wechat:message:<message key>` remembers what became of a message that did not open
//!   its own ticket in the ordinary way: `added:<number>` (it was added to that ticket as a
//!   市民补充) or `reopened` (the conversation's ticket had closed, so it opened a new one under
//!   a second ledger key, the first having been logged as refused). WeChat's repeats of the
//!   message read it and get the same reply.
//!
//! A Redis that does not answer means no grouping for that message: it opens its own ticket
//! as without a conversation, never an error for the follower.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use hotline_domain::TicketNo;
use hotline_telemetry::prometheus::IntCounterVec;
use sha2::{Digest as _, Sha256};

/// How long a message's fate is remembered: as long as intake's idempotency records.
pub const MESSAGE_TTL: Duration = crate::idempotency::TTL;
/// Longest wait for Redis before the message goes on without a conversation.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

/// Messages added to their conversation's ticket (`added`), or refused by the ledger because
/// that ticket had closed (`refused`: the message opened a new one).
pub static SUPPLEMENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_intake_wechat_conversation_additions_total",
        "WeChat messages added to their conversation's ticket, by outcome",
        &["outcome"],
    )
});

/// What a conversation key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The message with this key is opening the conversation's ticket.
    Opening(String),
    /// The conversation's ticket.
    Ticket(TicketNo),
}

impl Holder {
    pub fn encode(&self) -> String {
        match self {
            Holder::Opening(key) => format!("pending:{key}"),
            Holder::Ticket(no) => format!("ticket:{no}"),
        }
    }

    fn decode(raw: &str) -> Option<Holder> {
        let (state, rest) = raw.split_once(':')?;
        match state {
            "pending" => Some(Holder::Opening(rest.to_owned())),
            "ticket" => TicketNo::parse(rest).ok().map(Holder::Ticket),
            _ => None,
        }
    }
}

/// What became of a message before (its repeat reads this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Added to this ticket as a supplement.
    Added(TicketNo),
    /// Opened a new ticket under the second ledger key.
    Reopened,
}

impl Fate {
    fn encode(self) -> String {
        match self {
            Fate::Added(no) => format!("added:{no}"),
            Fate::Reopened => "reopened".to_owned(),
        }
    }

    fn decode(raw: &str) -> Option<Fate> {
        if raw == "reopened" {
            return Some(Fate::Reopened);
        }
        let no = raw.strip_prefix("added:")?;
        TicketNo::parse(no).ok().map(Fate::Added)
    }
}

/// `<ns>:wechat:conversation:<sha256(app id, openid)>`: no OpenID in Redis's key space.
pub fn conversation_key(namespace: &str, app_id: &str, open_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(app_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(open_id.as_bytes());
    format!(
        "{namespace}:wechat:conversation:{}",
        hex::encode(hasher.finalize())
    )
}

/// `<ns>:wechat:message:<message key>`.
pub fn message_key(namespace: &str, dedup_key: &str) -> String {
    format!("{namespace}:wechat:message:{dedup_key}")
}

/// The conversation store.
pub trait Conversations: Send + Sync + 'static {
    /// Claims `key` for `holder` unless it holds something: `None` when the claim is ours,
    /// else what it holds (`Some(None)`: it expired between the two steps, try again).
    fn claim<'a>(
        &'a self,
        key: &'a str,
        holder: &'a Holder,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<Option<Option<Holder>>>>;
    /// Sets `key` to `new` if it still holds `expected`, or holds nothing and `or_absent`;
    /// answers whether it did.
    fn replace<'a>(
        &'a self,
        key: &'a str,
        expected: &'a Holder,
        new: &'a Holder,
        or_absent: bool,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<bool>>;
    /// Deletes `key` if it still holds `expected` (the opener failed: the next message may
    /// open the conversation).
    fn release<'a>(
        &'a self,
        key: &'a str,
        expected: &'a Holder,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Another message joined: the window runs again from now.
    fn refresh<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, anyhow::Result<()>>;
    /// What became of a message, and whether intake's idempotency record for it exists
    /// (`idem_key`), in one round trip.
    fn seen<'a>(
        &'a self,
        message_key: &'a str,
        idem_key: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<(Option<Fate>, bool)>>;
    fn remember<'a>(
        &'a self,
        message_key: &'a str,
        fate: Fate,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// Compare-and-set: `KEYS[1]` becomes `ARGV[2]` (for `ARGV[3]` seconds) if it holds
/// `ARGV[1]`, or nothing and `ARGV[4]` is `1`.
const REPLACE: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == ARGV[1] or (v == false and ARGV[4] == '1') then \
      redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end \
    return 0";
/// Compare-and-delete.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) end return 0";

/// Redis through a ConnectionManager (lazy, reconnecting: the channel starts while Redis is
/// down, and a message then simply opens its own ticket).
#[derive(Clone)]
pub struct RedisConversations {
    connection: redis::aio::ConnectionManager,
}

impl RedisConversations {
    pub fn new(url: &str) -> anyhow::Result<RedisConversations> {
        let client = redis::Client::open(url).context("parsing redis.url")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(RedisConversations { connection })
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(&mut connection))
            .await
            .context("Redis did not answer in time")?
            .context("Redis command failed")
    }
}

/// Redis takes whole seconds; a window under one second still lasts one.
fn seconds(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

impl Conversations for RedisConversations {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        holder: &'a Holder,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<Option<Option<Holder>>>> {
        Box::pin(async move {
            let set: Option<String> = self
                .query(
                    redis::cmd("SET")
                        .arg(key)
                        .arg(holder.encode())
                        .arg("NX")
                        .arg("EX")
                        .arg(seconds(ttl)),
                )
                .await?;
            if set.is_some() {
                return Ok(None);
            }
            let value: Option<String> = self.query(redis::cmd("GET").arg(key)).await?;
            Ok(Some(value.as_deref().and_then(Holder::decode)))
        })
    }

    fn replace<'a>(
        &'a self,
        key: &'a str,
        expected: &'a Holder,
        new: &'a Holder,
        or_absent: bool,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let done: i64 = self
                .query(
                    redis::cmd("EVAL")
                        .arg(REPLACE)
                        .arg(1)
                        .arg(key)
                        .arg(expected.encode())
                        .arg(new.encode())
                        .arg(seconds(ttl))
                        .arg(if or_absent { "1" } else { "0" }),
                )
                .await?;
            Ok(done == 1)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        expected: &'a Holder,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let _: i64 = self
                .query(
                    redis::cmd("EVAL")
                        .arg(RELEASE)
                        .arg(1)
                        .arg(key)
                        .arg(expected.encode()),
                )
                .await?;
            Ok(())
        })
    }

    fn refresh<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let _: i64 = self
                .query(redis::cmd("EXPIRE").arg(key).arg(seconds(ttl)))
                .await?;
            Ok(())
        })
    }

    fn seen<'a>(
        &'a self,
        message_key: &'a str,
        idem_key: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<(Option<Fate>, bool)>> {
        Box::pin(async move {
            let values: Vec<Option<String>> = self
                .query(redis::cmd("MGET").arg(message_key).arg(idem_key))
                .await?;
            let fate = values
                .first()
                .and_then(Option::as_deref)
                .and_then(Fate::decode);
            let known = values.get(1).is_some_and(Option::is_some);
            Ok((fate, known))
        })
    }

    fn remember<'a>(
        &'a self,
        message_key: &'a str,
        fate: Fate,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let _: Option<String> = self
                .query(
                    redis::cmd("SET")
                        .arg(message_key)
                        .arg(fate.encode())
                        .arg("EX")
                        .arg(MESSAGE_TTL.as_secs()),
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
    fn holders_and_fates_round_trip() {
        let no = TicketNo::parse("2612030000000011").expect("no");
        for holder in [Holder::Opening("wechat:ab".into()), Holder::Ticket(no)] {
            assert_eq!(Holder::decode(&holder.encode()), Some(holder));
        }
        for fate in [Fate::Added(no), Fate::Reopened] {
            assert_eq!(Fate::decode(&fate.encode()), Some(fate));
        }
        assert_eq!(Holder::decode("ticket:12"), None);
        assert_eq!(Fate::decode("created:2612030000000011"), None);
    }

    #[test]
    fn conversation_keys_hide_the_openid() {
        let a = conversation_key("ns", "wx1", "oFollower1");
        assert!(a.starts_with("ns:wechat:conversation:") && !a.contains("oFollower1"));
        assert_ne!(
            a,
            conversation_key("ns", "wx2", "oFollower1"),
            "per account"
        );
        assert_ne!(a, conversation_key("ns", "wx1", "oFollower2"));
    }
}
