//! The dispatch catalogue's services (Open311 `services`), cached.
//!
//! Refreshed every minute in the background. When dispatch is briefly down the last copy keeps
//! serving (the catalogue changes by rulings, not by the second); only a catalogue that was
//! never loaded makes requests fail with 503.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hotline_bus::rpc::CallError;
use hotline_domain::ServiceCode;
use hotline_domain::contract::CatalogueService;
use tokio_util::sync::CancellationToken;

use crate::error::Open311Error;
use crate::upstream::CatalogueSource;

pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// While the catalogue was never loaded, requests try to load it, but not more often than
/// this, so a down dispatch service is not hammered by every citizen's request.
const RETRY_ON_DEMAND_AFTER: Duration = Duration::from_secs(2);

/// One loaded copy of the catalogue.
#[derive(Debug)]
pub struct Snapshot {
    services: Vec<CatalogueService>,
    index: HashMap<ServiceCode, usize>,
    /// When the content last changed (Open311 discovery's `changeset`).
    pub changed_at: DateTime<Utc>,
}

impl Snapshot {
    fn new(mut services: Vec<CatalogueService>, changed_at: DateTime<Utc>) -> Snapshot {
        services.sort_by(|a, b| a.code.cmp(&b.code));
        services.dedup_by(|a, b| a.code == b.code);
        let index = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.code.clone(), i))
            .collect();
        Snapshot {
            services,
            index,
            changed_at,
        }
    }

    pub fn services(&self) -> &[CatalogueService] {
        &self.services
    }

    pub fn get(&self, code: &ServiceCode) -> Option<&CatalogueService> {
        self.index.get(code).map(|&i| &self.services[i])
    }
}

struct State {
    current: Option<Arc<Snapshot>>,
    last_attempt: Option<Instant>,
}

pub struct Catalogue {
    source: Arc<dyn CatalogueSource>,
    state: RwLock<State>,
    loading: tokio::sync::Mutex<()>,
}

impl Catalogue {
    pub fn new(source: Arc<dyn CatalogueSource>) -> Catalogue {
        Catalogue {
            source,
            state: RwLock::new(State {
                current: None,
                last_attempt: None,
            }),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The current copy, loading it first if there is none yet.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, Open311Error> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let _loading = self.loading.lock().await;
        // Someone else may have loaded it while we waited.
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let recently_tried = self
            .read(|s| s.last_attempt)
            .is_some_and(|t| t.elapsed() < RETRY_ON_DEMAND_AFTER);
        if !recently_tried && let Err(e) = self.load().await {
            tracing::warn!(error = %e, "the service catalogue could not be loaded");
        }
        self.current().ok_or_else(|| {
            Open311Error::Unavailable(
                "the service catalogue is not available yet, please retry".into(),
            )
        })
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.read(|s| s.current.clone())
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update of plain data; the data is
        // still a consistent snapshot pointer, so keep serving it.
        let guard = self.state.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    /// Fetches the catalogue; keeps the old copy when the fetch fails.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self) -> Result<(), CallError> {
        // Under the loading lock: a request that finds no copy yet waits for an attempt in
        // flight (the refresher's first, at start) instead of answering 503 because an attempt
        // "was just made".
        let _loading = self.loading.lock().await;
        self.load().await
    }

    /// One attempt; the caller holds `loading`.
    async fn load(&self) -> Result<(), CallError> {
        let attempt = Instant::now();
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .last_attempt = Some(attempt);
        let services = self.source.services().await?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let changed_at = match &state.current {
            Some(old) if same_services(old.services(), &services) => old.changed_at,
            _ => Utc::now(),
        };
        state.current = Some(Arc::new(Snapshot::new(services, changed_at)));
        Ok(())
    }

    /// Refreshes every `every` until `shutdown`.
    pub fn spawn_refresher(
        self: Arc<Self>,
        every: Duration,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticker.tick() => {
                        if let Err(e) = self.refresh().await {
                            let stale = self.current().is_some();
                            tracing::warn!(error = %e, serving_stale_copy = stale, "catalogue refresh failed");
                        }
                    }
                }
            }
        })
    }
}

fn same_services(old: &[CatalogueService], new: &[CatalogueService]) -> bool {
    let mut new: Vec<&CatalogueService> = new.iter().collect();
    new.sort_by(|a, b| a.code.cmp(&b.code));
    new.dedup_by(|a, b| a.code == b.code);
    old.len() == new.len() && old.iter().zip(new).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeCatalogue, service};

    #[tokio::test]
    async fn never_loaded_is_unavailable_then_loads_on_demand() {
        let source = Arc::new(FakeCatalogue::down());
        let catalogue = Catalogue::new(source.clone());
        let e = catalogue.snapshot().await.expect_err("nothing loaded");
        assert_eq!(e.status(), 503);
        source.set(vec![service("S1")]);
        // Within the retry pause the failure is answered without asking dispatch again.
        assert!(catalogue.snapshot().await.is_err());
        assert_eq!(source.calls(), 1);
        catalogue.refresh().await.expect("loads");
        let snap = catalogue.snapshot().await.expect("loaded");
        assert!(snap.get(&ServiceCode::parse("S1").expect("code")).is_some());
    }

    /// A dispatch that answers after a while.
    struct Slow(Vec<CatalogueService>);

    impl CatalogueSource for Slow {
        fn services(
            &self,
        ) -> futures::future::BoxFuture<'_, Result<Vec<CatalogueService>, CallError>> {
            let services = self.0.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(services)
            })
        }
    }

    #[tokio::test]
    async fn a_request_during_the_first_load_waits_for_it_instead_of_503() {
        let catalogue = Arc::new(Catalogue::new(Arc::new(Slow(vec![service("S1")]))));
        let first = tokio::spawn({
            let catalogue = catalogue.clone();
            async move { catalogue.refresh().await }
        });
        // The refresher's attempt is in flight (and counts as "just tried").
        tokio::time::sleep(Duration::from_millis(20)).await;
        let snap = catalogue
            .snapshot()
            .await
            .expect("waited for the load in flight");
        assert_eq!(snap.services().len(), 1);
        assert!(first.await.expect("joins").is_ok());
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_stale_copy() {
        let source = Arc::new(FakeCatalogue::with(vec![service("S1"), service("S2")]));
        let catalogue = Catalogue::new(source.clone());
        catalogue.refresh().await.expect("loads");
        let first = catalogue.snapshot().await.expect("loaded");
        source.go_down();
        assert!(catalogue.refresh().await.is_err());
        let still = catalogue.snapshot().await.expect("stale copy served");
        assert_eq!(still.services().len(), 2);
        // Same content: the changeset does not move.
        source.set(vec![service("S2"), service("S1")]);
        catalogue.refresh().await.expect("loads");
        assert_eq!(
            catalogue.snapshot().await.expect("x").changed_at,
            first.changed_at
        );
        source.set(vec![service("S1")]);
        catalogue.refresh().await.expect("loads");
        assert_eq!(catalogue.snapshot().await.expect("x").services().len(), 1);
    }
}
