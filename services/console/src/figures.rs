//! The supervisor's counts, kept a short while (`console.figures_max_age_secs`).
//!
//! The board, the report (通报) and the hotspots (社情民意) show counts that the services
//! compute over whole periods: SLA's on-time figures, the ledger's counts by channel, backlog
//! and class x district, the survey's satisfaction. With 100,000 tickets stored each costs
//! 100-300 ms, and a board polled every 20 s by every supervisor asked for all of them each
//! time. A count a few seconds old is what a wall board shows anyway, so the console keeps
//! each answer for `max_age` and says on the page when it was read:
//!
//! - younger than `max_age`: served as it is;
//! - older, up to [`STALE_FOR`] times `max_age`: served as it is, and one refresh starts in the
//!   background with the token of the request that found it old, so the next view is fresh
//!   and no person waits for a recount;
//! - older still, or never read: read now, the person waits.
//!
//! An answer is shared by the people who would get the same one: the services decide what a
//! person may count by their roles and department only (docs/roles.md), so those are the key
//! with the API and the path, never the person. Refusals and failures are not kept: a person
//! the service refuses is refused every time. What changes the moment a person acts (the
//! pending extension requests, a ticket) is never read through here.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hotline_auth::Principal;
use hotline_telemetry::prometheus::IntCounterVec;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::upstream::{Api, Upstream, UpstreamError};

/// An answer older than `max_age` is still served, with a refresh behind it, until it is this
/// many times `max_age` old.
pub const STALE_FOR: u32 = 20;
/// Most answers kept (periods people chose × scopes); the oldest read goes first.
const MAX_ENTRIES: usize = 512;

/// Reads of the supervisor's counts, by how they were served.
static READS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_console_figures_reads_total",
        "Reads of the supervisor's counts: fresh (kept), stale (kept, refreshed behind), read (asked the service)",
        &["outcome"],
    )
});

/// A count and when the service computed it.
#[derive(Debug, Clone)]
pub struct Read<T> {
    pub value: T,
    pub as_of: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    scope: String,
    api: Api,
    path: String,
}

struct Entry {
    value: Arc<serde_json::Value>,
    read: Instant,
    as_of: DateTime<Utc>,
    refreshing: bool,
}

/// The kept answers.
pub struct Figures {
    max_age: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// What a person may count is decided by their roles and department: the key's scope.
pub fn scope(principal: &Principal) -> String {
    let mut s = String::new();
    for role in &principal.roles {
        s.push_str(role.as_str());
        s.push(',');
    }
    s.push('|');
    if let Some(dept) = &principal.department {
        s.push_str(dept.as_str());
    }
    s
}

enum Found {
    Fresh(Arc<serde_json::Value>, DateTime<Utc>),
    /// Old: served, and this request starts the refresh when `refresh`.
    Stale(Arc<serde_json::Value>, DateTime<Utc>, bool),
    Missing,
}

impl Figures {
    /// `max_age` zero keeps nothing: every read asks the service.
    pub fn new(max_age: Duration) -> Arc<Figures> {
        Arc::new(Figures {
            max_age,
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// The answer of `GET <api><path>` for a person of `scope`, kept or read now.
    pub async fn get<T: DeserializeOwned>(
        self: &Arc<Self>,
        upstream: &Upstream,
        scope: &str,
        token: &str,
        api: Api,
        path: &str,
    ) -> Result<Read<T>, UpstreamError> {
        if self.max_age.is_zero() {
            let value = upstream.get(token, api, path).await?;
            return Ok(Read {
                value,
                as_of: Utc::now(),
            });
        }
        let key = Key {
            scope: scope.to_owned(),
            api,
            path: path.to_owned(),
        };
        let (value, as_of) = match self.find(&key) {
            Found::Fresh(value, as_of) => {
                READS.with_label_values(&["fresh"]).inc();
                (value, as_of)
            }
            Found::Stale(value, as_of, refresh) => {
                READS.with_label_values(&["stale"]).inc();
                if refresh {
                    let (figures, upstream, token) =
                        (Arc::clone(self), upstream.clone(), token.to_owned());
                    tokio::spawn(async move {
                        let read = upstream.get::<serde_json::Value>(&token, key.api, &key.path);
                        match read.await {
                            Ok(value) => {
                                figures.keep(key, value);
                            }
                            Err(e) => {
                                // The old answer stays; the next view past its age tries again.
                                tracing::warn!(api = ?key.api, error = %e, "refreshing a count failed");
                                figures.refresh_failed(&key);
                            }
                        }
                    });
                }
                (value, as_of)
            }
            Found::Missing => {
                READS.with_label_values(&["read"]).inc();
                let value = upstream.get::<serde_json::Value>(token, api, path).await?;
                self.keep(key, value)
            }
        };
        let value = T::deserialize(&*value).map_err(|e| UpstreamError::Unavailable {
            api: api.name(),
            cause: anyhow::anyhow!(
                "the kept {} answer is not the expected JSON: {e}",
                api.name()
            ),
        })?;
        Ok(Read { value, as_of })
    }

    fn find(&self, key: &Key) -> Found {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key) else {
            return Found::Missing;
        };
        let age = entry.read.elapsed();
        if age <= self.max_age {
            return Found::Fresh(Arc::clone(&entry.value), entry.as_of);
        }
        if age <= self.max_age * STALE_FOR {
            let refresh = !entry.refreshing;
            entry.refreshing = true;
            return Found::Stale(Arc::clone(&entry.value), entry.as_of, refresh);
        }
        Found::Missing
    }

    fn keep(&self, key: Key, value: serde_json::Value) -> (Arc<serde_json::Value>, DateTime<Utc>) {
        let value = Arc::new(value);
        let as_of = Utc::now();
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES
            && !entries.contains_key(&key)
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.read)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            key,
            Entry {
                value: Arc::clone(&value),
                read: Instant::now(),
                as_of,
                refreshing: false,
            },
        );
        (value, as_of)
    }

    fn refresh_failed(&self, key: &Key) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.refreshing = false;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // A panic while holding the lock leaves a map that is still whole: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;

    use super::*;

    /// A service that counts what it is asked and refuses the token `refused`.
    async fn counting_service() -> (String, Arc<AtomicU64>) {
        let asked = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&asked);
        let app = Router::new().route(
            "/v1/count",
            get(move |headers: HeaderMap| {
                let counter = Arc::clone(&counter);
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    let refused = headers
                        .get("authorization")
                        .is_some_and(|v| v.as_bytes() == b"Bearer refused");
                    if refused {
                        return (
                            StatusCode::FORBIDDEN,
                            r#"{"error":{"kind":"forbidden","message":"no"}}"#.to_owned(),
                        );
                    }
                    (StatusCode::OK, format!(r#"{{"n":{n}}}"#))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, asked)
    }

    #[derive(serde::Deserialize)]
    struct Count {
        n: u64,
    }

    async fn n(figures: &Arc<Figures>, up: &Upstream, scope: &str, token: &str) -> u64 {
        figures
            .get::<Count>(up, scope, token, Api::Tickets, "/v1/count")
            .await
            .expect("the count")
            .value
            .n
    }

    fn upstream(url: String) -> Upstream {
        Upstream::new(url, String::new(), String::new(), Duration::from_secs(5)).expect("a client")
    }

    #[tokio::test]
    async fn a_count_is_kept_then_served_old_once_while_it_is_read_again_behind() {
        let (url, asked) = counting_service().await;
        let up = upstream(url);
        let figures = Figures::new(Duration::from_millis(300));
        assert_eq!(n(&figures, &up, "supervisor,|", "t").await, 1);
        assert_eq!(n(&figures, &up, "supervisor,|", "t").await, 1);
        assert_eq!(asked.load(Ordering::SeqCst), 1, "the second view was kept");

        // Another scope is another answer.
        assert_eq!(n(&figures, &up, "department_staff,|th", "t").await, 2);
        assert_eq!(figures.len(), 2);

        tokio::time::sleep(Duration::from_millis(400)).await;
        // Old: this view gets the old count at once, and one refresh starts behind it.
        assert_eq!(n(&figures, &up, "supervisor,|", "t").await, 1);
        assert_eq!(n(&figures, &up, "supervisor,|", "t").await, 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while asked.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            asked.load(Ordering::SeqCst),
            3,
            "two old views, one refresh"
        );
        assert_eq!(n(&figures, &up, "supervisor,|", "t").await, 3);
    }

    #[tokio::test]
    async fn a_refusal_is_not_kept_and_age_zero_keeps_nothing() {
        let (url, asked) = counting_service().await;
        let up = upstream(url);
        let figures = Figures::new(Duration::from_secs(60));
        for _ in 0..2 {
            let refused = figures
                .get::<Count>(&up, "agent,|", "refused", Api::Tickets, "/v1/count")
                .await;
            assert!(matches!(refused, Err(UpstreamError::Forbidden(_))));
        }
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!(figures.len(), 0);

        let every_time = Figures::new(Duration::ZERO);
        assert_eq!(n(&every_time, &up, "s", "t").await, 3);
        assert_eq!(n(&every_time, &up, "s", "t").await, 4);
        assert_eq!(every_time.len(), 0);
    }

    #[test]
    fn the_scope_is_the_roles_and_the_department_not_the_person() {
        let person = |subject: &str, role: hotline_auth::Role, dept: Option<&str>| Principal {
            subject: subject.to_owned(),
            name: None,
            roles: [role].into_iter().collect(),
            department: dept.map(|d| hotline_domain::DeptCode::parse(d).expect("a code")),
        };
        let a = person("supervisor1", hotline_auth::Role::Supervisor, None);
        let b = person("supervisor2", hotline_auth::Role::Supervisor, None);
        let c = person(
            "th-staff1",
            hotline_auth::Role::DepartmentStaff,
            Some("GZ-TH"),
        );
        let d = person(
            "yx-staff1",
            hotline_auth::Role::DepartmentStaff,
            Some("GZ-YX"),
        );
        assert_eq!(scope(&a), scope(&b));
        assert_ne!(scope(&a), scope(&c));
        assert_ne!(scope(&c), scope(&d));
    }
}
