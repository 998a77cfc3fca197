//! Server-side sessions. The browser holds only a random id (cookie `hotline_console`,
//! `HttpOnly; SameSite=Strict; Path=/`, `Secure` behind https); the person's tokens, roles and
//! CSRF token stay here, in Redis, so every replica of the console sees every session and a
//! restart signs nobody out. Redis keys hold the id's SHA-256, never the id: a copy of Redis
//! does not hand out usable cookies.
//!
//! A session ends after `console.idle_timeout_secs` without a request and
//! `console.max_session_secs` after sign-in, whichever comes first (checked on every read; the
//! Redis key's own expiry is the same deadline, so nothing lingers). The clock is tokio's
//! (with the wall clock at start), so tests move it with `tokio::time::pause`.
//!
//! The memory store exists for unit tests only: `run` always uses Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hotline_auth::{Principal, Role};
use hotline_domain::DeptCode;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hotline_console";
/// The sign-in-in-progress cookie: the `state` of the authorization request, so the callback
/// is only accepted in the browser that started the sign-in (login CSRF).
pub const LOGIN_COOKIE: &str = "hotline_console_login";
/// How long a started sign-in may take (the identity page, the password, the way back).
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Redis calls give up after this: a page then answers 503 rather than hang.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// `last_seen` is written back at most this often, so reading pages is not a write each time.
const TOUCH_EVERY_MS: i64 = 30_000;

/// 256 random bits, URL-safe base64 (43 characters): session ids, CSRF tokens, PKCE verifiers,
/// `state`.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `raw` has the shape of [`random_token`]: anything else from a cookie is not looked
/// up at all.
pub fn is_token(raw: &str) -> bool {
    raw.len() == 43
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Equality whose time does not depend on where the inputs differ (CSRF tokens, `state`).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && std::hint::black_box(
            a.bytes()
                .zip(b.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y)),
        ) == 0
}

/// A session id from a cookie, checked for shape.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    pub fn new() -> SessionId {
        SessionId(random_token())
    }

    pub fn parse(raw: &str) -> Option<SessionId> {
        is_token(raw).then(|| SessionId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl Default for SessionId {
    fn default() -> Self {
        SessionId::new()
    }
}

/// Never printed: it is a credential.
impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// What a session holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    /// The token's subject (the account).
    pub subject: String,
    pub name: Option<String>,
    /// Role strings as the token gave them (parsed by [`Session::principal`]).
    pub roles: Vec<String>,
    pub department: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires (ms since the epoch).
    pub access_expires_at: i64,
    /// Sign-in (ms since the epoch): the absolute limit counts from here.
    pub created_at: i64,
    /// The last request (ms since the epoch, written back at most every 30 s).
    pub last_seen: i64,
    /// This session's CSRF token: every state-changing request carries it.
    pub csrf: String,
}

/// Tokens are credentials and names personal data: neither is printed.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("roles", &self.roles)
            .field("department", &self.department)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The person as the services will see them (the same rules as shared/auth: roles of other
    /// systems ignored, department roles without a department dropped).
    pub fn principal(&self) -> Principal {
        let department = self
            .department
            .as_deref()
            .and_then(|d| DeptCode::parse(d).ok());
        let roles = self
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .filter(|r| !r.needs_department() || department.is_some())
            .collect();
        Principal {
            subject: self.subject.clone(),
            name: self.name.clone(),
            roles,
            department,
        }
    }

    /// Whether the session is still alive at `now`.
    pub fn alive_at(&self, now: i64, limits: &Limits) -> bool {
        now - self.last_seen < limits.idle_ms && now - self.created_at < limits.max_ms
    }

    /// How long the session may live from `now` if unused (the Redis key's expiry).
    fn ttl_ms(&self, now: i64, limits: &Limits) -> i64 {
        (limits.idle_ms - (now - self.last_seen))
            .min(limits.max_ms - (now - self.created_at))
            .max(1)
    }
}

/// The session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle_ms: i64,
    pub max_ms: i64,
}

impl Limits {
    pub fn from_settings(c: &hotline_config::Console) -> Limits {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Limits {
            idle_ms: ms(c.idle_timeout_secs),
            max_ms: ms(c.max_session_secs),
        }
    }
}

/// Wall-clock milliseconds that advance with tokio's clock: real time in production, moved by
/// `tokio::time::advance` in tests.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall_at_start_ms: i64,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            wall_at_start_ms: chrono::Utc::now().timestamp_millis(),
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        let elapsed = tokio::time::Instant::now().duration_since(self.start);
        self.wall_at_start_ms + i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A started sign-in, kept until the callback (or [`LOGIN_TTL`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub code_verifier: String,
    /// Where to go after signing in: a path of this console.
    pub return_to: String,
}

/// Where sessions live.
#[derive(Clone)]
pub enum Store {
    Redis {
        connection: redis::aio::ConnectionManager,
        namespace: String,
    },
    /// Unit tests only (see the module header).
    Memory {
        entries: Arc<Mutex<HashMap<String, (String, i64)>>>,
        clock: Clock,
    },
}

impl Store {
    /// Redis at `url`, connected lazily: the console starts while Redis is down and answers 503
    /// until it is back.
    pub fn redis(url: &str, namespace: &str) -> anyhow::Result<Store> {
        let client = redis::Client::open(url).context("parsing redis.url")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(Store::Redis {
            connection,
            namespace: namespace.to_owned(),
        })
    }

    pub fn memory(clock: Clock) -> Store {
        Store::Memory {
            entries: Arc::default(),
            clock,
        }
    }

    fn key(&self, kind: &str, id: &str) -> String {
        match self {
            Store::Redis { namespace, .. } => format!("{namespace}:console:{kind}:{id}"),
            Store::Memory { .. } => format!("{kind}:{id}"),
        }
    }

    async fn query<T: redis::FromRedisValue>(
        connection: &redis::aio::ConnectionManager,
        cmd: &redis::Cmd,
    ) -> anyhow::Result<T> {
        let mut connection = connection.clone();
        tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(&mut connection))
            .await
            .context("Redis did not answer in time")?
            .context("Redis command failed")
    }

    fn memory_entries(
        entries: &Mutex<HashMap<String, (String, i64)>>,
    ) -> anyhow::Result<std::sync::MutexGuard<'_, HashMap<String, (String, i64)>>> {
        entries
            .lock()
            .map_err(|_| anyhow::anyhow!("the memory store's lock is poisoned"))
    }

    /// Sets `key` to `value` for `ttl_ms`; with `only_new`, only when it does not exist
    /// (returns whether it was set).
    async fn put(
        &self,
        key: &str,
        value: &str,
        ttl_ms: i64,
        only_new: bool,
    ) -> anyhow::Result<bool> {
        let ttl_ms = ttl_ms.max(1);
        match self {
            Store::Redis { connection, .. } => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(value).arg("PX").arg(ttl_ms);
                if only_new {
                    cmd.arg("NX");
                }
                let set: Option<String> = Self::query(connection, &cmd).await?;
                Ok(set.is_some())
            }
            Store::Memory { entries, clock } => {
                let now = clock.now_ms();
                let mut map = Self::memory_entries(entries)?;
                let live = map.get(key).is_some_and(|(_, until)| *until > now);
                if only_new && live {
                    return Ok(false);
                }
                map.insert(key.to_owned(), (value.to_owned(), now + ttl_ms));
                Ok(true)
            }
        }
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self {
            Store::Redis { connection, .. } => {
                Self::query(connection, redis::cmd("GET").arg(key)).await
            }
            Store::Memory { entries, clock } => {
                let now = clock.now_ms();
                let map = Self::memory_entries(entries)?;
                Ok(map
                    .get(key)
                    .filter(|(_, until)| *until > now)
                    .map(|(v, _)| v.clone()))
            }
        }
    }

    /// Reads and deletes `key` in one step (a pending sign-in is used once).
    async fn take(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self {
            Store::Redis { connection, .. } => {
                Self::query(connection, redis::cmd("GETDEL").arg(key)).await
            }
            Store::Memory { entries, clock } => {
                let now = clock.now_ms();
                let mut map = Self::memory_entries(entries)?;
                Ok(map
                    .remove(key)
                    .filter(|(_, until)| *until > now)
                    .map(|(v, _)| v))
            }
        }
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self {
            Store::Redis { connection, .. } => {
                let _: i64 = Self::query(connection, redis::cmd("DEL").arg(key)).await?;
                Ok(())
            }
            Store::Memory { entries, .. } => {
                Self::memory_entries(entries)?.remove(key);
                Ok(())
            }
        }
    }
}

/// What reading a session found.
#[derive(Debug)]
pub enum Loaded {
    Live(Box<Session>),
    /// It was there but its time is up (now deleted).
    Expired,
    Missing,
}

/// Sessions and pending sign-ins over a [`Store`].
pub struct Sessions {
    store: Store,
    clock: Clock,
    limits: Limits,
}

impl Sessions {
    pub fn new(store: Store, clock: Clock, limits: Limits) -> Sessions {
        Sessions {
            store,
            clock,
            limits,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether the store answers (readiness).
    pub async fn ping(&self) -> anyhow::Result<()> {
        match &self.store {
            Store::Redis { connection, .. } => {
                let _: String = Store::query(connection, &redis::cmd("PING")).await?;
                Ok(())
            }
            Store::Memory { .. } => Ok(()),
        }
    }

    fn session_key(&self, id: &SessionId) -> String {
        self.store.key("session", &id.digest())
    }

    /// Stores a new session; its id goes into the cookie.
    pub async fn create(&self, session: &Session) -> anyhow::Result<SessionId> {
        let id = SessionId::new();
        self.save(&id, session).await?;
        Ok(id)
    }

    /// Writes `session` back under `id`, expiring when it would end unused.
    pub async fn save(&self, id: &SessionId, session: &Session) -> anyhow::Result<()> {
        let value = serde_json::to_string(session).context("encoding a session")?;
        let ttl = session.ttl_ms(self.clock.now_ms(), &self.limits);
        self.store
            .put(&self.session_key(id), &value, ttl, false)
            .await?;
        Ok(())
    }

    /// The session under `id` if it is alive, its use recorded (idle time counts from now).
    pub async fn load(&self, id: &SessionId) -> anyhow::Result<Loaded> {
        let key = self.session_key(id);
        let Some(raw) = self.store.get(&key).await? else {
            return Ok(Loaded::Missing);
        };
        let mut session: Session = match serde_json::from_str(&raw) {
            Ok(s) => s,
            // A session written by an incompatible version: as good as signed out.
            Err(_) => {
                self.store.delete(&key).await?;
                return Ok(Loaded::Missing);
            }
        };
        let now = self.clock.now_ms();
        if !session.alive_at(now, &self.limits) {
            self.store.delete(&key).await?;
            return Ok(Loaded::Expired);
        }
        if now - session.last_seen >= TOUCH_EVERY_MS {
            session.last_seen = now;
            self.save(id, &session).await?;
        }
        Ok(Loaded::Live(Box::new(session)))
    }

    /// Signs out: the session is gone for every replica at once.
    pub async fn delete(&self, id: &SessionId) -> anyhow::Result<()> {
        self.store.delete(&self.session_key(id)).await
    }

    /// Takes the refresh of `id`'s tokens for this replica for a few seconds; `false` when
    /// another request (here or on another replica) is refreshing them. The identity service
    /// revokes a refresh token used twice, so two refreshes at once would sign the person out.
    pub async fn lock_refresh(&self, id: &SessionId) -> anyhow::Result<bool> {
        let key = self.store.key("refreshing", &id.digest());
        self.store.put(&key, "1", 15_000, true).await
    }

    pub async fn unlock_refresh(&self, id: &SessionId) -> anyhow::Result<()> {
        let key = self.store.key("refreshing", &id.digest());
        self.store.delete(&key).await
    }

    /// Remembers a started sign-in under its `state`.
    pub async fn begin_login(&self, state: &str, pending: &PendingLogin) -> anyhow::Result<()> {
        let value = serde_json::to_string(pending).context("encoding a sign-in")?;
        let key = self.store.key("login", &hex::encode(Sha256::digest(state)));
        let ttl = i64::try_from(LOGIN_TTL.as_millis()).unwrap_or(600_000);
        self.store.put(&key, &value, ttl, false).await?;
        Ok(())
    }

    /// The sign-in started with `state`, once.
    pub async fn finish_login(&self, state: &str) -> anyhow::Result<Option<PendingLogin>> {
        let key = self.store.key("login", &hex::encode(Sha256::digest(state)));
        Ok(self
            .store
            .take(&key)
            .await?
            .and_then(|raw| serde_json::from_str(&raw).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(now: i64) -> Session {
        Session {
            subject: "th-staff1".into(),
            name: Some("天河 staff".into()),
            roles: vec![
                "department_staff".into(),
                "knowledge_editor".into(),
                "someone_elses_role".into(),
            ],
            department: Some("GZ-TH".into()),
            access_token: "access-token-value".into(),
            refresh_token: "refresh-token-value".into(),
            access_expires_at: now + 900_000,
            created_at: now,
            last_seen: now,
            csrf: random_token(),
        }
    }

    fn sessions(clock: Clock) -> Sessions {
        Sessions::new(
            Store::memory(clock),
            clock,
            Limits {
                idle_ms: 30 * 60_000,
                max_ms: 8 * 3_600_000,
            },
        )
    }

    async fn live(s: &Sessions, id: &SessionId) -> bool {
        matches!(s.load(id).await.expect("store"), Loaded::Live(_))
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_ends_after_the_idle_timeout() {
        let clock = Clock::new();
        let s = sessions(clock);
        let id = s.create(&session(clock.now_ms())).await.expect("stored");
        tokio::time::advance(Duration::from_secs(29 * 60)).await;
        assert!(live(&s, &id).await, "used within the idle timeout");
        // The use above restarted the idle time.
        tokio::time::advance(Duration::from_secs(29 * 60)).await;
        assert!(live(&s, &id).await);
        tokio::time::advance(Duration::from_secs(31 * 60)).await;
        assert!(
            matches!(
                s.load(&id).await.expect("store"),
                Loaded::Expired | Loaded::Missing
            ),
            "31 minutes unused"
        );
        assert!(matches!(s.load(&id).await.expect("store"), Loaded::Missing));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_session_still_ends_at_the_absolute_limit() {
        let clock = Clock::new();
        let s = sessions(clock);
        let id = s.create(&session(clock.now_ms())).await.expect("stored");
        // Used every 20 minutes for 7 h 40 min: alive throughout.
        for _ in 0..23 {
            tokio::time::advance(Duration::from_secs(20 * 60)).await;
            assert!(live(&s, &id).await);
        }
        tokio::time::advance(Duration::from_secs(20 * 60)).await;
        assert!(!live(&s, &id).await, "8 hours after sign-in");
    }

    #[tokio::test(start_paused = true)]
    async fn sign_out_and_a_pending_sign_in_are_single_use() {
        let clock = Clock::new();
        let s = sessions(clock);
        let id = s.create(&session(clock.now_ms())).await.expect("stored");
        s.delete(&id).await.expect("deleted");
        assert!(!live(&s, &id).await);

        let state = random_token();
        let pending = PendingLogin {
            code_verifier: random_token(),
            return_to: "/dept".into(),
        };
        s.begin_login(&state, &pending).await.expect("stored");
        assert!(
            s.finish_login("other-state")
                .await
                .expect("store")
                .is_none()
        );
        let found = s.finish_login(&state).await.expect("store").expect("once");
        assert_eq!(found.return_to, "/dept");
        assert!(
            s.finish_login(&state).await.expect("store").is_none(),
            "twice"
        );

        s.begin_login(&state, &pending).await.expect("stored");
        tokio::time::advance(LOGIN_TTL + Duration::from_secs(1)).await;
        assert!(
            s.finish_login(&state).await.expect("store").is_none(),
            "too late"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_one_refresh_at_a_time() {
        let clock = Clock::new();
        let s = sessions(clock);
        let id = SessionId::new();
        assert!(s.lock_refresh(&id).await.expect("store"));
        assert!(!s.lock_refresh(&id).await.expect("store"));
        s.unlock_refresh(&id).await.expect("store");
        assert!(s.lock_refresh(&id).await.expect("store"));
        // A lock whose holder died runs out.
        tokio::time::advance(Duration::from_secs(16)).await;
        assert!(s.lock_refresh(&id).await.expect("store"));
    }

    #[test]
    fn the_principal_follows_the_services_rules_and_nothing_secret_is_printed() {
        let s = session(0);
        let p = s.principal();
        assert!(p.has(Role::DepartmentStaff) && p.has(Role::KnowledgeEditor));
        assert_eq!(p.roles.len(), 2, "unknown roles ignored");
        assert_eq!(
            p.limited_to_department().map(DeptCode::as_str),
            Some("GZ-TH")
        );
        let mut no_dept = s.clone();
        no_dept.department = None;
        assert!(no_dept.principal().roles.is_empty());
        let shown = format!("{s:?}");
        for secret in [
            "access-token-value",
            "refresh-token-value",
            "th-staff1",
            "天河",
            &s.csrf,
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let id = SessionId::new();
        assert!(!format!("{id:?}").contains(id.as_str()));
    }

    #[test]
    fn ids_and_secrets_are_checked_for_shape_and_compared_in_full() {
        let t = random_token();
        assert!(is_token(&t) && SessionId::parse(&t).is_some());
        for bad in ["", "short", &format!("{t}x"), &t.replace(&t[..1], "/")] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
        assert!(same_secret(&t, &t.clone()));
        assert!(!same_secret(&t, &random_token()));
        assert!(!same_secret(&t, &t[..42]));
    }
}
