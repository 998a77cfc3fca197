//! Dispatch (派单): decides where each new or reopened ticket goes.
//!
//! A ticket created held (暂缓派单: an agent made it during a call and may still answer it on
//! the spot) is not routed on `created`: the decision is recorded as `held`, and the ticket is
//! routed when its `release` event comes, exactly as a `created` one.
//!
//! - [`catalogue`]: the dispatch catalogue (派单目录), versioned and audited.
//! - [`gazetteer`]: the district an address is in (属地).
//! - [`router`]: the pure routing decision.
//! - [`classifier`]: smart dispatch's category classifier (issue 11), offline for now
//!   (`hotline dispatch classify | eval | train`), not yet consulted by the router.
//! - this module: the consumer of ticket events, the manual dispatch queue, the HTTP API
//!   (port 8082) and the catalogue's NATS responder (Open311 services come from here).
//!
//! Smart dispatch (a classifier for tickets without a matter code) comes later; today such
//! tickets go to the manual queue.
#![forbid(unsafe_code)]

pub mod catalogue;
pub mod classifier;
pub mod gazetteer;
pub mod http;
pub mod router;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context as _;
use hotline_bus::consumer::{self, ConsumerSpec, HandleError};
use hotline_bus::rpc::{self, CallError, RemoteError};
use hotline_bus::{Bus, Envelope};
use hotline_config::Settings;
use hotline_domain::contract::{
    CatalogueService, CommandAccepted, ErrorKind, TicketCommand, TicketEvent, TicketView,
};
use hotline_domain::{Action, Actor, DeptCode, Directory};
use hotline_runtime::Service;
use hotline_telemetry::prometheus;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalogue::Catalogue;
use crate::gazetteer::Gazetteer;
use crate::router::Decision;

pub const SCHEMA: &str = "dispatch";
pub const CONSUMER: &str = hotline_bus::subjects::durable::DISPATCH;

static DECISIONS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_dispatch_decisions_total",
        "Routing decisions by outcome",
        &["outcome"],
    )
});

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations"), SCHEMA).await
}

/// Loads the demo catalogue (idempotent). Returns how many entries were added.
pub async fn seed_demo(pool: &PgPool) -> anyhow::Result<usize> {
    Catalogue::seed(pool, &catalogue::demo_entries()?).await
}

/// One routing decision for `dispatch.decision`.
pub struct DecisionRow {
    ticket_no: i64,
    event_id: String,
    outcome: &'static str,
    lead: Option<String>,
    reason: String,
}

/// Writes decisions in batches. The log is for figures and audits; the ticket's own history
/// (written durably by the ledger) holds the same dispatch with its reason, so these commits
/// need not wait for the disk, and one commit carries many decisions.
pub async fn write_decisions(pool: PgPool, mut rx: tokio::sync::mpsc::Receiver<DecisionRow>) {
    let mut batch = Vec::with_capacity(512);
    while rx.recv_many(&mut batch, 512).await > 0 {
        let rows = std::mem::take(&mut batch);
        let result: anyhow::Result<()> = async {
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO dispatch.decision (ticket_no, event_id, outcome, lead, reason) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING",
            )
            .bind(rows.iter().map(|r| r.ticket_no).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.lead.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %format!("{e:#}"), lost = rows.len(), "decision log rows not written");
        }
    }
}

#[derive(Clone)]
pub struct Dispatcher {
    pub decisions: tokio::sync::mpsc::Sender<DecisionRow>,
    pub bus: Bus,
    pub pool: PgPool,
    pub catalogue: Catalogue,
    pub gazetteer: Arc<Gazetteer>,
    pub directory: Arc<Directory>,
}

impl Dispatcher {
    /// Handles one `created`, `release` or `reopen` event.
    async fn handle(&self, message: &async_nats::jetstream::Message) -> Result<(), HandleError> {
        let span = tracing::info_span!(
            "dispatch.route",
            otel.kind = "consumer",
            ticket = tracing::field::Empty
        );
        hotline_bus::trace::adopt(&span, message.headers.as_ref());
        let envelope: Envelope<TicketEvent> = Envelope::from_slice(&message.payload)
            .map_err(|e| HandleError::Reject(anyhow::anyhow!(e)))?;
        let event = envelope.data;
        span.record("ticket", tracing::field::display(event.ticket.ticket_no));
        if event.ticket.held {
            // The release event brings it back here; dispatching now would race the agent.
            let outcome = self
                .record(
                    &event.ticket,
                    &event.event_id.to_string(),
                    "held",
                    None,
                    "held while the agent is on the call",
                )
                .await;
            DECISIONS.with_label_values(&["held"]).inc();
            return outcome.map_err(HandleError::Retry);
        }
        let entry = match &event.ticket.service_code {
            Some(code) => self.catalogue.get(code).await,
            None => None,
        };
        let decision = match (event.entry.step.as_str(), &event.ticket.lead) {
            // 重办: a reopened ticket goes back to the department that completed it (the ledger
            // keeps the lead on reopen); one answered on the spot has none and is routed.
            ("reopen", Some(lead)) => Decision::Dispatch {
                lead: lead.clone(),
                co: event.ticket.co.clone(),
                reason: "重办：回访不满意，交原承办单位重新办理".to_owned(),
            },
            _ => router::route(&event.ticket, entry.as_ref(), &self.gazetteer),
        };
        let event_id = event.event_id.to_string();
        let outcome = tracing::Instrument::instrument(
            self.apply(&event.ticket, &event_id, decision),
            span.clone(),
        )
        .await;
        outcome.map_err(HandleError::Retry)
    }

    async fn apply(
        &self,
        ticket: &TicketView,
        event_id: &str,
        decision: Decision,
    ) -> anyhow::Result<()> {
        match decision {
            Decision::Dispatch { lead, co, reason } => {
                let command = TicketCommand::Act {
                    idempotency_key: format!("dispatch:{event_id}"),
                    actor: Actor::system("dispatch"),
                    ticket_no: ticket.ticket_no,
                    action: Action::Dispatch {
                        lead: lead.clone(),
                        co,
                        note: reason.clone(),
                    },
                };
                let result: Result<CommandAccepted, CallError> = rpc::call(
                    &self.bus,
                    self.bus
                        .subjects
                        .ticket_commands_from(hotline_bus::Service::Dispatch),
                    &command,
                    rpc::DEFAULT_TIMEOUT,
                )
                .await;
                match result {
                    Ok(_) => {
                        self.record(ticket, event_id, "auto", Some(&lead), &reason)
                            .await?;
                        DECISIONS.with_label_values(&["auto"]).inc();
                        Ok(())
                    }
                    // The ticket moved on (an agent answered it meanwhile): nothing to do.
                    Err(e) if e.kind() == ErrorKind::Conflict => {
                        self.record(ticket, event_id, "moved_on", None, &e.public_message())
                            .await?;
                        DECISIONS.with_label_values(&["moved_on"]).inc();
                        Ok(())
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::Invalid | ErrorKind::Forbidden | ErrorKind::NotFound
                        ) =>
                    {
                        let reason = format!("automatic dispatch refused: {}", e.public_message());
                        self.enqueue(ticket, event_id, &reason).await
                    }
                    Err(e) => Err(anyhow::Error::from(e).context("sending the dispatch command")),
                }
            }
            Decision::Manual { reason } => self.enqueue(ticket, event_id, &reason).await,
        }
    }

    async fn enqueue(
        &self,
        ticket: &TicketView,
        event_id: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        // A reopened ticket may be queued a second time: the queue holds its latest state.
        sqlx::query(
            "INSERT INTO dispatch.manual_queue (ticket_no, reason, ticket) VALUES ($1, $2, $3) \
             ON CONFLICT (ticket_no) DO UPDATE SET reason = EXCLUDED.reason, ticket = EXCLUDED.ticket, \
             enqueued_at = now(), resolved_at = NULL, resolved_by = NULL, resolved_to = NULL \
             WHERE dispatch.manual_queue.resolved_at IS NOT NULL OR dispatch.manual_queue.reason <> EXCLUDED.reason",
        )
        .bind(ticket.ticket_no.as_u64() as i64)
        .bind(reason)
        .bind(serde_json::to_value(ticket.public())?)
        .execute(&self.pool)
        .await
        .context("queueing for manual dispatch")?;
        self.record(ticket, event_id, "manual", None, reason)
            .await?;
        DECISIONS.with_label_values(&["manual"]).inc();
        tracing::info!(ticket = %ticket.ticket_no, "queued for manual dispatch");
        Ok(())
    }

    async fn record(
        &self,
        ticket: &TicketView,
        event_id: &str,
        outcome: &'static str,
        lead: Option<&DeptCode>,
        reason: &str,
    ) -> anyhow::Result<()> {
        let row = DecisionRow {
            ticket_no: ticket.ticket_no.as_u64() as i64,
            event_id: event_id.to_owned(),
            outcome,
            lead: lead.map(|d| d.to_string()),
            reason: reason.to_owned(),
        };
        self.decisions
            .send(row)
            .await
            .map_err(|_| anyhow::anyhow!("the decision log has stopped"))
    }
}

/// Runs the dispatch service until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.dispatch.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut service = Service::start("dispatch", &settings, shutdown).await?;
    // Every task stops on the service's token: at shutdown, or when another task fails.
    let shutdown = service.stop_token();
    let bus = service.bus().clone();
    let pool = service
        .postgres(&settings, sqlx::migrate!("./migrations"), SCHEMA)
        .await?;
    if settings.demo {
        seed_demo(&pool).await?;
    }
    let directory = Arc::new(service.directory(&settings).await?);
    let catalogue = Catalogue::load(pool.clone(), directory.clone()).await?;
    let (decisions, decision_rx) = tokio::sync::mpsc::channel(4096);
    {
        // Ends once every dispatcher handle is gone, i.e. after the other tasks stopped.
        let pool = pool.clone();
        service.spawn("decision-log", async move {
            write_decisions(pool, decision_rx).await;
            Ok(())
        });
    }
    let dispatcher = Dispatcher {
        decisions,
        bus: bus.clone(),
        pool: pool.clone(),
        catalogue: catalogue.clone(),
        gazetteer: Arc::new(Gazetteer::demo(&directory)),
        directory,
    };

    let spec = ConsumerSpec::new(
        bus.subjects.tickets_stream(),
        CONSUMER,
        vec![
            bus.subjects.ticket_event("created"),
            // A held ticket is routed when it is released.
            bus.subjects.ticket_event("release"),
            bus.subjects.ticket_event("reopen"),
        ],
    );
    {
        let dispatcher = dispatcher.clone();
        service.spawn(
            "consumer",
            consumer::run(
                bus.clone(),
                spec,
                |m| hotline_bus::envelope::ticket_key(&m.payload),
                move |m| {
                    let dispatcher = dispatcher.clone();
                    async move { dispatcher.handle(&m).await }
                },
                shutdown.clone(),
            ),
        );
    }
    service.respond(
        "catalogue-responder",
        bus.subjects.catalogue_services(),
        64,
        catalogue.clone(),
        |catalogue, _: ()| async move {
            Ok::<Vec<CatalogueService>, RemoteError>(
                catalogue.all().await.iter().map(|e| e.service()).collect(),
            )
        },
    );
    {
        // Other replicas change the catalogue too.
        let catalogue = catalogue.clone();
        let stop = shutdown.clone();
        service.spawn("catalogue-reload", async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {
                        if let Err(e) = catalogue.reload().await {
                            tracing::warn!(error = %format!("{e:#}"), "catalogue reload failed");
                        }
                    }
                }
            }
        });
    }
    // The router holds the last dispatcher handle: when it stops, the decision log drains.
    let app = http::router(
        dispatcher,
        hotline_auth::Verifier::from_settings(&settings)?,
    );
    service.serve_http("http", listener, app);
    service.run().await
}
