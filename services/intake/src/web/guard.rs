//! What keeps the page from being abused, kept in Redis: one-time form tokens bound to the
//! browser that fetched the form, and per-client attempt counters.
//!
//! A token is issued with each form and stored as `{ns}:web:form:<token>` = the browser's id
//! (a random cookie) for [`TOKEN_TTL`]. A POST must carry a token we issued to the browser
//! sending it: a page on another site cannot read the token or set the cookie (SameSite=Strict),
//! so it cannot post for the citizen (CSRF). The token is also the submission's idempotency
//! key, so sending the form twice makes one ticket.
//!
//! Everything here answers an error when Redis does not: the page then refuses with 503 rather
//! than run without its CSRF check or its brute-force limit.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::HeaderMap;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// How long a fetched form can be sent.
pub const TOKEN_TTL: Duration = Duration::from_secs(2 * 60 * 60);
/// How long a browser's id cookie lives.
pub const BROWSER_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The cookie holding the browser's id.
pub const BROWSER_COOKIE: &str = "hotline_browser";
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// 128 random bits as 32 lowercase hex digits; what the page hands out as tokens and ids.
#[derive(Clone, PartialEq, Eq)]
pub struct Random(String);

impl Random {
    pub fn new() -> Random {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Random(hex::encode(bytes))
    }

    /// Only what [`Random::new`] makes: anything else never reaches Redis.
    pub fn parse(raw: &str) -> Option<Random> {
        (raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Random(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Random {
    fn default() -> Random {
        Random::new()
    }
}

impl std::fmt::Debug for Random {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A token is a capability: not in logs.
        f.write_str("Random(..)")
    }
}

/// The browser's id from its cookie, if it sent a well-formed one.
pub fn browser_of(headers: &HeaderMap) -> Option<Random> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .and_then(|(_, value)| Random::parse(value.trim()))
}

/// A limited action and its allowance per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Progress lookups: ticket number + last 4 digits of the phone. 10 in 10 minutes keeps
    /// the 10,000 possible endings out of reach.
    Lookup,
    /// Form submissions.
    Submit,
}

impl Bucket {
    pub fn allowance(self) -> (u32, Duration) {
        match self {
            Bucket::Lookup => (10, Duration::from_secs(10 * 60)),
            Bucket::Submit => (30, Duration::from_secs(60 * 60)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Bucket::Lookup => "lookup",
            Bucket::Submit => "submit",
        }
    }
}

/// Who is counted: the client's address (a /64 for IPv6, which a client gets whole), hashed so
/// that Redis holds no address.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey(String);

impl ClientKey {
    /// A caller known by a secret (an api key): hashed, so Redis holds no key.
    pub fn of_secret(secret: &str) -> ClientKey {
        let mut hasher = Sha256::new();
        hasher.update(b"secret\0");
        hasher.update(secret.as_bytes());
        ClientKey(hex::encode(&hasher.finalize()[..16]))
    }

    pub fn of(ip: Option<IpAddr>) -> ClientKey {
        let mut hasher = Sha256::new();
        match ip {
            Some(IpAddr::V4(v4)) => hasher.update(v4.octets()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => hasher.update(v4.octets()),
                None => hasher.update(&v6.octets()[..8]),
            },
            // Only when served without a peer address (never by the runtime).
            None => hasher.update(b"unknown"),
        }
        ClientKey(hex::encode(&hasher.finalize()[..16]))
    }
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(..)")
    }
}

/// The client's address: the peer's, or, when the peer is a proxy on our own network, the
/// nearest address in `X-Forwarded-For` that is not. A client connecting from the internet
/// cannot choose its bucket by sending the header.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted_proxy(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted_proxy(**ip))
        .or(forwarded.first())
        .copied()
        .or(Some(peer))
}

/// Loopback and private ranges: where an ingress or load balancer in front of us lives.
fn trusted_proxy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => trusted_proxy(IpAddr::V4(v4)),
            None => {
                v6.is_loopback()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        },
    }
}

/// The answer of a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Allowed,
    /// Over the limit; the window ends within this many seconds.
    Exceeded {
        retry_after_secs: u64,
    },
}

/// Tokens and counters in Redis.
#[derive(Clone)]
pub struct Guard {
    connection: redis::aio::ConnectionManager,
    namespace: String,
}

impl Guard {
    /// Connects lazily: intake starts while Redis is down, and the page answers 503 until it is
    /// back.
    pub fn new(url: &str, namespace: &str) -> anyhow::Result<Guard> {
        let client = redis::Client::open(url).context("parsing redis.url")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(Guard {
            connection,
            namespace: namespace.to_owned(),
        })
    }

    fn token_key(&self, token: &Random) -> String {
        format!("{}:web:form:{}", self.namespace, token.as_str())
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        let mut connection = self.connection.clone();
        tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(&mut connection))
            .await
            .context("Redis did not answer in time")?
            .context("Redis command failed")
    }

    /// A new form token for `browser`.
    pub async fn issue(&self, browser: &Random) -> anyhow::Result<Random> {
        let token = Random::new();
        let _: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.token_key(&token))
                    .arg(browser.as_str())
                    .arg("EX")
                    .arg(TOKEN_TTL.as_secs()),
            )
            .await?;
        Ok(token)
    }

    /// Whether `token` was issued to `browser` and has not expired.
    pub async fn check(&self, token: &Random, browser: &Random) -> anyhow::Result<bool> {
        let held: Option<String> = self
            .query(redis::cmd("GET").arg(self.token_key(token)))
            .await?;
        Ok(held.as_deref() == Some(browser.as_str()))
    }

    /// Counts one attempt of `client` in `bucket`'s window.
    pub async fn hit(&self, bucket: Bucket, client: &ClientKey) -> anyhow::Result<Allowance> {
        let (limit, window) = bucket.allowance();
        self.count(bucket.name(), client, limit, window).await
    }

    /// Counts one attempt of `client` against `limit` per `window` in the counter `name`.
    pub async fn count(
        &self,
        name: &str,
        client: &ClientKey,
        limit: u32,
        window: Duration,
    ) -> anyhow::Result<Allowance> {
        let key = format!("{}:web:limit:{name}:{}", self.namespace, client.0);
        let mut connection = self.connection.clone();
        // SET NX EX then INCR in one transaction: the window starts with the first attempt and
        // the key can never be left without its expiry.
        let (count, ttl): (u64, i64) = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(0)
                .arg("NX")
                .arg("EX")
                .arg(window.as_secs())
                .ignore()
                .cmd("INCR")
                .arg(&key)
                .cmd("TTL")
                .arg(&key)
                .query_async(&mut connection),
        )
        .await
        .context("Redis did not answer in time")?
        .context("Redis counter failed")?;
        if count > u64::from(limit) {
            Ok(Allowance::Exceeded {
                retry_after_secs: u64::try_from(ttl).unwrap_or(window.as_secs()).max(1),
            })
        } else {
            Ok(Allowance::Allowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn tokens_are_random_hex_and_nothing_else_parses() {
        let a = Random::new();
        assert_ne!(a, Random::new());
        assert_eq!(Random::parse(a.as_str()), Some(a.clone()));
        for bad in [
            "",
            "xyz",
            &"A".repeat(32),
            &"0".repeat(33),
            "../../etc/passwd",
        ] {
            assert_eq!(Random::parse(bad), None, "{bad}");
        }
        assert_eq!(format!("{a:?}"), "Random(..)");
    }

    #[test]
    fn the_browser_cookie_is_found_among_others() {
        let id = Random::new();
        let cookie = format!("a=1; {BROWSER_COOKIE}={}; b=2", id.as_str());
        assert_eq!(browser_of(&headers(&[("cookie", &cookie)])), Some(id));
        assert_eq!(
            browser_of(&headers(&[("cookie", "hotline_browser=forged")])),
            None
        );
        assert_eq!(browser_of(&HeaderMap::new()), None);
    }

    #[test]
    fn forwarded_addresses_count_only_behind_our_own_proxy() {
        let public: IpAddr = "203.0.113.9".parse().expect("ip");
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let spoof = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(
            client_ip(Some(public), &spoof),
            Some(public),
            "a client on the internet cannot choose its address"
        );
        let chain = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.50, 10.0.0.7")]);
        assert_eq!(
            client_ip(Some(proxy), &chain),
            Some("203.0.113.50".parse().expect("ip")),
            "the nearest untrusted hop, not what the client wrote first"
        );
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new()), Some(proxy));
        assert_eq!(client_ip(None, &chain), None);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ClientKey::of(Some(a)), ClientKey::of(Some(b)));
        assert_ne!(ClientKey::of(Some(a)), ClientKey::of(Some(c)));
        let v4: IpAddr = "203.0.113.9".parse().expect("ip");
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().expect("ip");
        assert_eq!(ClientKey::of(Some(v4)), ClientKey::of(Some(mapped)));
        assert!(!format!("{:?}", ClientKey::of(Some(v4))).contains("203"));
    }
}
