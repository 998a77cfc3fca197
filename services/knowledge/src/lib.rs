//! # hotline-knowledge: the governed knowledge base (知识库)
//!
//! - [`model`]: an item is a coded decision tree: situations (情形) down to standard answers.
//! - [`search`]: Chinese full-text search (jieba + BM25) over published leaves, one index per
//!   replica.
//! - [`governance`]: draft → review → published → retired, who may do which step.
//! - [`diff`]: what changed between two versions, node by node.
//! - [`store`]: the `knowledge` schema; every change with its event in the outbox.
//! - [`events`]: the facts published on `knowledge.events.<kind>`.
//! - [`formats`]: mind maps (FreeMind `.mm`, OPML) and CSV in and out, lossless.
//! - [`service`]: what the running service shares: the index per replica, searches and
//!   suggestions, the ticket-event handler that counts first-contact answers;
//!   [`http`]: the API on port 8085; [`error`]: errors to HTTP/NATS kinds in one place;
//!   [`demo`]: the demo knowledge.
//! - [`run`] (here, on top): wires them under the shared runtime. `service` imports neither
//!   `http` nor `demo`; they import it.
#![forbid(unsafe_code)]

pub mod demo;
pub mod diff;
pub mod error;
pub mod events;
pub mod formats;
pub mod governance;
pub mod http;
pub mod model;
pub mod search;
pub mod service;
pub mod store;

use std::sync::Arc;

use anyhow::Context as _;
use hotline_auth::Authenticator;
use hotline_bus::consumer::{self, ConsumerSpec};
use hotline_calendar::WorkCalendar;
use hotline_config::Settings;
use hotline_domain::DeptCode;
use hotline_runtime::{Readiness, Service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::search::SearchIndex;
use crate::service::{Knowledge, Limits, SearchRequest, SuggestRequest};
use crate::store::Store;

/// Runs the knowledge service on `listen.host:knowledge.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.knowledge.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0). Ready once this replica's search
/// index is loaded (and while it keeps up with the publish events).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let centre = DeptCode::parse(&settings.city.centre).context("city.centre")?;
    let auth = Arc::new(Authenticator::from_settings(&settings)?);
    let mut service = Service::start("knowledge", &settings, shutdown).await?;
    // Every task stops on the service's token: at shutdown, or when another task fails.
    let shutdown = service.stop_token();
    let bus = service.bus().clone();
    let pool = service
        .postgres(&settings, sqlx::migrate!("./migrations"), store::SCHEMA)
        .await?;
    let store = Store::new(pool.clone(), bus.subjects.clone());
    let index = Arc::new(SearchIndex::new().context("creating the search index")?);
    let knowledge = Knowledge {
        store,
        index,
        bus: bus.clone(),
        auth,
        centre,
        calendar: Arc::new(WorkCalendar::china()),
        utc_offset: settings.utc_offset(),
        limits: Arc::new(Limits {
            max_query_bytes: settings.knowledge.max_query_bytes,
            max_text_bytes: settings.knowledge.max_text_bytes,
            max_import_bytes: settings.knowledge.max_import_bytes,
            update_task_working_days: settings.knowledge.update_task_working_days,
        }),
    };
    if settings.demo {
        // In the background: publishing waits for the dispatch catalogue, which may start later.
        let knowledge = knowledge.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                loaded = demo::load(&knowledge) => match loaded {
                    Ok(n) => tracing::info!(items = n, "demo knowledge published"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "demo knowledge not loaded"),
                },
            }
        });
    }
    let index_loaded = Readiness::default();
    service.ready_when("search index loaded", index_loaded.clone());
    service.spawn(
        "index-follower",
        service::follow_publications(knowledge.clone(), index_loaded, shutdown.clone()),
    );
    service.outbox_relay(&settings, pool.clone(), store::SCHEMA);
    {
        let spec = ConsumerSpec::new(
            bus.subjects.tickets_stream(),
            service::CONSUMER,
            vec![
                bus.subjects.ticket_event("created"),
                bus.subjects.ticket_event("answer"),
            ],
        );
        let group = knowledge.contact_group();
        service.spawn(
            "contact-consumer",
            consumer::run(
                bus.clone(),
                spec,
                |m| hotline_bus::envelope::ticket_key(&m.payload),
                move |m| {
                    let group = group.clone();
                    async move { Knowledge::count_contact(&group, &m).await }
                },
                shutdown.clone(),
            ),
        );
    }
    service.respond(
        "search-responder",
        bus.subjects.knowledge_search(),
        64,
        knowledge.clone(),
        |knowledge, request: SearchRequest| async move { knowledge.search_blocking(request).await },
    );
    service.respond("suggest-responder", bus.subjects.knowledge_suggest(), 64, knowledge.clone(), |knowledge, request: SuggestRequest| async move {
        knowledge.suggest_blocking(request).await
    });
    let verifier = hotline_auth::Verifier::from_settings(&settings)?;
    let app = crate::http::router(knowledge.clone(), verifier);
    service.serve_http("http", listener, app);
    service.run().await
}
