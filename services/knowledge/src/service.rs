//! The running service: one search index per replica, kept current from the publish events;
//! the ticket-event consumer that counts first-contact answers; NATS search and suggestion
//! responders; the outbox relay; the HTTP API (port 8085).
//!
//! A replica starts by noting the knowledge stream's last sequence, then loads every published
//! item from Postgres, then follows the stream from just after the noted sequence. An event that
//! raced the snapshot is applied again harmlessly: the index ignores versions it already holds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt as _;
use hotline_auth::Authenticator;
use hotline_bus::consumer::HandleError;
use hotline_bus::group_commit::GroupCommit;
use hotline_bus::rpc::{self, RemoteError};
use hotline_bus::{Bus, Envelope};
use hotline_calendar::WorkCalendar;
use hotline_domain::contract::{CatalogueService, TicketEvent};
use hotline_domain::{Action, DeptCode, ServiceCode};
use hotline_telemetry::prometheus;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::events::{EventKind, KnowledgeEvent};
use crate::governance::Editor;
use crate::search::{Filters, Hit, SearchIndex, SearchQuery, SearchResults};
use crate::store::{Contact, Store};

pub const CONSUMER: &str = hotline_bus::subjects::durable::KNOWLEDGE;

static INDEX_APPLIED: std::sync::LazyLock<prometheus::IntCounterVec> =
    std::sync::LazyLock::new(|| {
        hotline_telemetry::counter_vec(
            "hotline_knowledge_index_events_total",
            "Publish events applied to this replica's search index, by kind and outcome",
            &["kind", "outcome"],
        )
    });

static QUERIES: std::sync::LazyLock<prometheus::HistogramVec> = std::sync::LazyLock::new(|| {
    hotline_telemetry::histogram_vec(
        "hotline_knowledge_query_seconds",
        "Search and suggestion time inside the index",
        &["kind"],
    )
});

/// Limits taken from the settings, checked at the edge.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_query_bytes: usize,
    pub max_text_bytes: usize,
    pub max_import_bytes: usize,
    pub update_task_working_days: u32,
}

/// What every handler shares.
#[derive(Clone)]
pub struct Knowledge {
    pub store: Store,
    pub index: Arc<SearchIndex>,
    pub bus: Bus,
    pub auth: Arc<Authenticator>,
    pub centre: DeptCode,
    pub calendar: Arc<WorkCalendar>,
    /// The city's offset from UTC: answers in force are judged by the local date.
    pub utc_offset: chrono::FixedOffset,
    pub limits: Arc<Limits>,
}

/// A search request over NATS (the HTTP API takes the same fields as query parameters).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchRequest {
    pub q: String,
    #[serde(default)]
    pub class: Option<crate::model::ItemClass>,
    #[serde(default)]
    pub department: Option<DeptCode>,
    /// Only answers in force on this day (default: today in the city).
    #[serde(default)]
    pub on: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub item: Option<hotline_domain::ItemCode>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
}

/// Answer suggestions for a ticket's free text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SuggestRequest {
    pub text: String,
    #[serde(default)]
    pub k: Option<usize>,
    #[serde(default)]
    pub class: Option<crate::model::ItemClass>,
    #[serde(default)]
    pub department: Option<DeptCode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Suggestions {
    pub hits: Vec<Hit>,
    pub took_us: u64,
}

pub const MAX_LIMIT: usize = 100;
pub const MAX_K: usize = 20;

impl Knowledge {
    /// The editor behind an `Authorization: Bearer` header: the centre's credential is the centre.
    pub fn editor(&self, header: Option<&str>) -> Option<Editor> {
        let code = self.auth.department_for_header(header)?;
        Some(if code == self.centre {
            Editor::Centre(code)
        } else {
            Editor::Department(code)
        })
    }

    /// Today in the city (answers in force are judged by the local date).
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.utc_offset)
            .date_naive()
    }

    pub fn search(&self, request: SearchRequest) -> Result<SearchResults, RemoteError> {
        if request.q.len() > self.limits.max_query_bytes {
            return Err(RemoteError::invalid(format!(
                "the query is longer than {} bytes; send a ticket's text to the suggestion endpoint",
                self.limits.max_query_bytes
            )));
        }
        let query = SearchQuery {
            q: request.q,
            filters: Filters {
                class: request.class,
                department: request.department,
                in_force_on: Some(request.on.unwrap_or_else(|| self.today())),
                item: request.item,
            },
            limit: request.limit.unwrap_or(10).clamp(1, MAX_LIMIT),
            offset: request
                .offset
                .unwrap_or(0)
                .min(crate::search::MAX_WINDOW.saturating_sub(MAX_LIMIT)),
            highlight: true,
        };
        let timer = QUERIES.with_label_values(&["search"]).start_timer();
        let result = self.index.search(&query).map_err(RemoteError::from);
        timer.observe_duration();
        result
    }

    pub fn suggest(&self, request: SuggestRequest) -> Result<Suggestions, RemoteError> {
        if request.text.len() > self.limits.max_text_bytes {
            return Err(RemoteError::invalid(format!(
                "the text is longer than {} bytes",
                self.limits.max_text_bytes
            )));
        }
        let started = Instant::now();
        let filters = Filters {
            class: request.class,
            department: request.department,
            in_force_on: Some(self.today()),
            item: None,
        };
        let timer = QUERIES.with_label_values(&["suggest"]).start_timer();
        let hits = self
            .index
            .suggest(
                &request.text,
                request.k.unwrap_or(5).clamp(1, MAX_K),
                &filters,
            )
            .map_err(RemoteError::from);
        timer.observe_duration();
        Ok(Suggestions {
            hits: hits?,
            took_us: started.elapsed().as_micros() as u64,
        })
    }

    /// [`Knowledge::search`] on the blocking pool: a search is 1-10 ms of CPU, which must not
    /// stall the async threads that serve everything else.
    pub async fn search_blocking(
        &self,
        request: SearchRequest,
    ) -> Result<SearchResults, RemoteError> {
        let k = self.clone();
        tokio::task::spawn_blocking(move || k.search(request))
            .await
            .map_err(|e| RemoteError::internal(&anyhow::anyhow!(e)))?
    }

    /// [`Knowledge::suggest`] on the blocking pool.
    pub async fn suggest_blocking(
        &self,
        request: SuggestRequest,
    ) -> Result<Suggestions, RemoteError> {
        let k = self.clone();
        tokio::task::spawn_blocking(move || k.suggest(request))
            .await
            .map_err(|e| RemoteError::internal(&anyhow::anyhow!(e)))?
    }

    /// The matter codes the dispatch catalogue knows.
    pub async fn catalogue_codes(&self) -> Result<BTreeSet<ServiceCode>, RemoteError> {
        let services: Vec<CatalogueService> = rpc::call(
            &self.bus,
            self.bus.subjects.catalogue_services(),
            &(),
            rpc::DEFAULT_TIMEOUT,
        )
        .await
        .map_err(RemoteError::from)?;
        Ok(services.into_iter().map(|s| s.code).collect())
    }

    /// Applies one publish or retire event to this replica's index.
    async fn apply(&self, event: &KnowledgeEvent) -> anyhow::Result<()> {
        // A replica that just loaded the store replays publications it already holds: skip
        // them without reading the store, so catching up after a start takes milliseconds.
        // (A retirement names the version it retires, which the index holds: never skipped.)
        if event.kind == EventKind::Published
            && self
                .index
                .version_of(&event.item_code)
                .is_some_and(|held| held >= i64::from(event.version))
        {
            INDEX_APPLIED
                .with_label_values(&[event.kind.as_str(), "already_current"])
                .inc();
            return Ok(());
        }
        let outcome = match event.kind {
            EventKind::Published => {
                let Some((item, _)) = self
                    .store
                    .version(&event.item_code, Some(event.version))
                    .await
                    .context("reading the published version")?
                else {
                    anyhow::bail!(
                        "published version {} of {} is not stored",
                        event.version,
                        event.item_code
                    );
                };
                let index = self.index.clone();
                let version = i64::from(event.version);
                tokio::task::spawn_blocking(move || index.upsert(&item, version))
                    .await
                    .context("index task")??
            }
            EventKind::Retired => {
                let index = self.index.clone();
                let (code, version) = (event.item_code.clone(), i64::from(event.version));
                tokio::task::spawn_blocking(move || index.remove(&code, version))
                    .await
                    .context("index task")??
            }
            EventKind::TaskOpened | EventKind::TaskDone => return Ok(()),
        };
        INDEX_APPLIED
            .with_label_values(&[
                event.kind.as_str(),
                if outcome {
                    "applied"
                } else {
                    "already_current"
                },
            ])
            .inc();
        Ok(())
    }

    /// Counts a contact from the ticket stream: a new ticket on a matter, or a direct answer
    /// from a leaf (一次性解答).
    /// The contact a ticket event makes, if any: every created ticket on its matter, and every
    /// answer on the spot from a leaf.
    pub(crate) fn contact_of(
        message: &async_nats::jetstream::Message,
    ) -> Result<Option<Contact>, HandleError> {
        let envelope: Envelope<TicketEvent> = Envelope::from_slice(&message.payload)
            .map_err(|e| HandleError::Reject(anyhow::anyhow!(e)))?;
        let event = envelope.data;
        let (kind, leaf) = match &event.entry.action {
            Some(Action::Answer {
                knowledge_leaf: Some(leaf),
                ..
            }) => ("answered", Some(leaf.as_str().to_owned())),
            _ if event.kind() == "created" => ("created", None),
            _ => return Ok(None),
        };
        Ok(Some(Contact {
            event_id: event.event_id,
            ticket_no: event.ticket.ticket_no.as_u64() as i64,
            kind,
            matter_code: event.ticket.service_code.as_ref().map(|c| c.to_string()),
            leaf,
            at: event.entry.at,
        }))
    }

    /// The contact consumer's group commit: the contacts its lanes hand over at the same moment
    /// go in one statement and one commit.
    pub(crate) fn contact_group(&self) -> ContactGroup {
        let store = self.store.clone();
        GroupCommit::spawn(256, 2, move |contacts: Vec<Contact>| {
            let store = store.clone();
            async move {
                let result = store
                    .record_contacts(&contacts)
                    .await
                    .map_err(|e| format!("{:#}", anyhow::Error::new(e)));
                vec![result; contacts.len()]
            }
        })
    }

    pub(crate) async fn count_contact(
        group: &ContactGroup,
        message: &async_nats::jetstream::Message,
    ) -> Result<(), HandleError> {
        let Some(contact) = Self::contact_of(message)? else {
            return Ok(());
        };
        group
            .submit(contact)
            .await
            .map_err(|e| HandleError::Retry(anyhow::anyhow!(e)))?
            .map_err(|e| HandleError::Retry(anyhow::anyhow!("recording a contact: {e}")))
    }
}

/// See [`Knowledge::contact_group`].
pub(crate) type ContactGroup = GroupCommit<Contact, Result<(), String>>;

/// Loads the index from Postgres and follows the publish events until `shutdown`.
pub(crate) async fn follow_publications(
    knowledge: Knowledge,
    ready: hotline_telemetry::Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stream_name = knowledge.bus.subjects.knowledge_stream();
    let mut stream = knowledge
        .bus
        .js
        .get_stream(&stream_name)
        .await
        .with_context(|| format!("stream {stream_name}"))?;
    let last = stream
        .info()
        .await
        .context("stream info")?
        .state
        .last_sequence;
    let started = Instant::now();
    let published = knowledge
        .store
        .published()
        .await
        .context("reading the published items")?;
    let items: Vec<_> = published
        .into_iter()
        .map(|(item, v)| (item, i64::from(v)))
        .collect();
    let index = knowledge.index.clone();
    let loaded = tokio::task::spawn_blocking(move || index.upsert_many(&items))
        .await
        .context("index task")??;
    tracing::info!(
        items = loaded,
        leaves = knowledge.index.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "search index loaded"
    );
    ready.set(true);
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subjects: vec![
                knowledge
                    .bus
                    .subjects
                    .knowledge_event(EventKind::Published.as_str()),
                knowledge
                    .bus
                    .subjects
                    .knowledge_event(EventKind::Retired.as_str()),
            ],
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: last + 1,
            },
            ..Default::default()
        })
        .await
        .context("following knowledge events")?;
    let mut messages = consumer.messages().await.context("knowledge events")?;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            m = messages.next() => m,
        };
        let Some(message) = next else {
            anyhow::bail!("the knowledge event stream ended");
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "knowledge event stream hiccup; the ordered consumer resumes");
                continue;
            }
        };
        let event: KnowledgeEvent = match Envelope::from_slice(&message.payload) {
            Ok(e) => e.data,
            Err(e) => {
                tracing::warn!(error = %e, "skipping an unreadable knowledge event");
                continue;
            }
        };
        // A replica that cannot apply an edit must not serve stale answers silently: retry,
        // and report not ready while it cannot.
        let mut attempt = 0u32;
        while let Err(e) = knowledge.apply(&event).await {
            attempt += 1;
            ready.set(false);
            tracing::warn!(item = %event.item_code, version = event.version, attempt, error = %format!("{e:#}"), "index update failed; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(25)))) => {}
            }
        }
        ready.set(true);
    }
}
