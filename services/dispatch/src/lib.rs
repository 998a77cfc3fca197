//! Dispatch (派单): decides where each new or reopened ticket goes.
//!
//! A ticket created held (暂缓派单: an agent made it during a call and may still answer it on
//! the spot) is not routed on `created`: the decision is recorded as `held`, and the ticket is
//! routed when its `release` event comes, exactly as a `created` one.
//!
//! - [`catalogue`]: the dispatch catalogue (派单目录), versioned and audited.
//! - [`gazetteer`]: the district an address is in (属地).
//! - [`router`]: the pure routing decision for a ticket with a matter code.
//! - [`classifier`]: smart dispatch's classifier of free text into the board's classes
//!   (also offline: `hotline dispatch classify | eval | train`).
//! - [`smart`]: a ticket without a matter code: class → matter (with the knowledge service's
//!   hints) → department (属地 by the gazetteer); automatic above the classifier's threshold,
//!   else the manual queue with the top three.
//! - [`scope`]: out-of-scope cues (不予受理), proposed to a person, never applied alone.
//! - [`assistant`]: the seat assistant's fields from a text; its emergency cue puts a ticket
//!   first in the manual queue (紧急转办 is a person's call, made at once).
//! - this module: the consumer of ticket events (routing on `created`/`release`/`reopen`,
//!   learning from `return`/`review_return`), the decision log, the manual dispatch queue, the
//!   HTTP API (port 8082) and the catalogue's NATS responder (Open311 services come from here).
#![forbid(unsafe_code)]

pub mod assistant;
pub mod catalogue;
pub mod classifier;
pub mod corrections;
pub mod gazetteer;
pub mod http;
pub mod router;
pub mod scope;
pub mod smart;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context as _;
use hotline_bus::consumer::{self, ConsumerSpec, HandleError};
use hotline_bus::rpc::{self, CallError, RemoteError};
use hotline_bus::{Bus, Envelope};
use hotline_config::Settings;
use hotline_domain::contract::{
    CatalogueService, CommandAccepted, ErrorKind, Location, TicketCommand, TicketEvent, TicketView,
};
use hotline_domain::ticket::ReturnDecision;
use hotline_domain::{Action, Actor, DeptCode, Directory, ServiceCode, TicketNo};
use hotline_runtime::Service;
use hotline_telemetry::prometheus;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalogue::Catalogue;
use crate::classifier::Model;
use crate::gazetteer::Gazetteer;
use crate::router::Decision;
use crate::scope::ScopeCue;
use crate::smart::{Assessment, Candidate, MatterHint};

pub const SCHEMA: &str = "dispatch";
pub const CONSUMER: &str = hotline_bus::subjects::durable::DISPATCH;

static DECISIONS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_dispatch_decisions_total",
        "Routing decisions by outcome",
        &["outcome"],
    )
});

static DECISION_SECONDS: LazyLock<prometheus::HistogramVec> = LazyLock::new(|| {
    hotline_telemetry::histogram_vec(
        "hotline_dispatch_decision_seconds",
        "From the ticket's event to the routing decision, by how it was decided",
        &["via"],
    )
});

static EMERGENCIES: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_dispatch_emergencies_total",
        "Tickets whose text states an emergency, put first in the manual queue",
        &["kind"],
    )
});

static HINT_FAILURES: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_dispatch_knowledge_hint_failures_total",
        "Smart dispatch decisions made without the knowledge service's matter hints",
        &[],
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
    via: &'static str,
    category: Option<String>,
    confidence: Option<f32>,
    matter: Option<String>,
    model: Option<String>,
    latency_ms: Option<f32>,
}

/// Writes decisions in batches. The log is for figures and audits; the ticket's own history
/// (written durably by the ledger) holds the same dispatch with its reason, so these commits
/// need not wait for the disk, and one commit carries many decisions.
pub async fn write_decisions(pool: PgPool, mut rx: tokio::sync::mpsc::Receiver<DecisionRow>) {
    let mut batch = Vec::with_capacity(512);
    while rx.recv_many(&mut batch, 512).await > 0 {
        let rows = std::mem::take(&mut batch);
        let result: anyhow::Result<()> = async {
            let mut tx = hotline_bus::db::begin_keyed(&pool).await?;
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO dispatch.decision (ticket_no, event_id, outcome, lead, reason, via, category, confidence, matter, model, latency_ms) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::real[], $9::text[], $10::text[], $11::real[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(rows.iter().map(|r| r.ticket_no).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.lead.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.via).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.category.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.confidence).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.matter.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.model.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.latency_ms).collect::<Vec<_>>())
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

/// How smart dispatch behaves (`[dispatch]` settings).
#[derive(Debug, Clone)]
pub struct SmartSettings {
    pub knowledge_hints: bool,
    pub knowledge_timeout: Duration,
    pub auto_dispatch: bool,
}

impl SmartSettings {
    pub fn from_settings(settings: &Settings) -> SmartSettings {
        SmartSettings {
            knowledge_hints: settings.dispatch.knowledge_hints,
            knowledge_timeout: Duration::from_millis(settings.dispatch.knowledge_timeout_ms),
            auto_dispatch: settings.dispatch.auto_dispatch,
        }
    }
}

/// What the manual queue proposes to the person who picks the ticket up.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Proposal {
    /// 不予受理 under the cited rule.
    Reject(ScopeCue),
    /// 紧急转办 to 110/119/120.
    Emergency {
        kind: assistant::EmergencyKind,
        service: hotline_domain::ticket::EmergencyService,
    },
}

/// A decision and what led to it, for the queue and the decision log.
#[derive(Debug, Clone)]
pub struct Routed {
    pub decision: Decision,
    /// `catalogue` (the ticket had a matter code), `classifier`, `emergency` or `reopen`.
    pub via: &'static str,
    pub assessment: Option<Assessment>,
    /// What a person is asked to confirm.
    pub proposal: Option<Proposal>,
    /// The manual queue's order: 0 an emergency, 1 a proposed 不予受理, 2 the rest.
    pub priority: i16,
}

impl Routed {
    fn emergency(kind: Option<assistant::EmergencyKind>) -> Routed {
        let kind = kind.unwrap_or(assistant::EmergencyKind::Life);
        let what = match kind {
            assistant::EmergencyKind::Life => "life",
            assistant::EmergencyKind::Fire => "fire",
            assistant::EmergencyKind::Gas => "gas",
            assistant::EmergencyKind::Flood => "flood",
        };
        EMERGENCIES.with_label_values(&[what]).inc();
        Routed {
            decision: Decision::Manual {
                reason: format!("紧急转办：the text states an emergency ({what})"),
            },
            via: "emergency",
            assessment: None,
            proposal: Some(Proposal::Emergency {
                kind,
                service: kind.service(),
            }),
            priority: 0,
        }
    }

    fn plain(decision: Decision, via: &'static str) -> Routed {
        Routed {
            decision,
            via,
            assessment: None,
            proposal: None,
            priority: 2,
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
    pub model: Arc<Model>,
    pub smart: SmartSettings,
    /// Until when (ms since the Unix epoch) decisions go without knowledge hints, after the
    /// knowledge service failed to answer: one wait of `knowledge_timeout` per pause, not one
    /// per ticket, while it is down.
    pub hints_paused_until: Arc<std::sync::atomic::AtomicI64>,
}

/// How long decisions skip the knowledge hints after a failed one.
const HINT_PAUSE_MS: i64 = 30_000;

impl Dispatcher {
    /// Handles one `created`, `release`, `reopen`, `return` or `review_return` event.
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
        match event.entry.step.as_str() {
            // What happened to a decision afterwards: the measured precision.
            "return" | "review_return" => {
                return tracing::Instrument::instrument(self.learn(&event), span.clone())
                    .await
                    .map_err(HandleError::Retry);
            }
            _ => {}
        }
        if event.ticket.held {
            // The release event brings it back here; dispatching now would race the agent.
            let outcome = self
                .record(
                    &event.ticket,
                    &event.event_id.to_string(),
                    "held",
                    None,
                    "held while the agent is on the call",
                    &Routed::plain(
                        Decision::Manual {
                            reason: String::new(),
                        },
                        "held",
                    ),
                    None,
                )
                .await;
            DECISIONS.with_label_values(&["held"]).inc();
            return outcome.map_err(HandleError::Retry);
        }
        let emergency = (event.entry.step != "reopen")
            .then(|| assistant::emergency_cue(&event.ticket.description))
            .flatten();
        let routed = match (event.entry.step.as_str(), &event.ticket.lead) {
            // 紧急转办: a stated danger (fire, gas, flood, a life) goes to a person at once,
            // first in the queue with the hand-off proposed, whatever its matter code says.
            _ if emergency.is_some() => Routed::emergency(emergency),
            // 重办: a reopened ticket goes back to the department that completed it (the ledger
            // keeps the lead on reopen); one answered on the spot has none and is routed.
            ("reopen", Some(lead)) => Routed::plain(
                Decision::Dispatch {
                    lead: lead.clone(),
                    co: event.ticket.co.clone(),
                    reason: "重办：回访不满意，交原承办单位重新办理".to_owned(),
                },
                "reopen",
            ),
            _ => match &event.ticket.service_code {
                Some(code) => {
                    let entry = self.catalogue.get(code).await;
                    Routed::plain(
                        router::route(&event.ticket, entry.as_ref(), &self.gazetteer),
                        "catalogue",
                    )
                }
                None => {
                    tracing::Instrument::instrument(
                        self.smart_route(&event.ticket.description, &event.ticket.location),
                        span.clone(),
                    )
                    .await
                }
            },
        };
        let latency = (chrono::Utc::now() - event.entry.at)
            .to_std()
            .unwrap_or_default();
        DECISION_SECONDS
            .with_label_values(&[routed.via])
            .observe(latency.as_secs_f64());
        let event_id = event.event_id.to_string();
        let outcome = tracing::Instrument::instrument(
            self.apply(&event.ticket, &event_id, routed, latency),
            span.clone(),
        )
        .await;
        outcome.map_err(HandleError::Retry)
    }

    /// A ticket without a matter code: out-of-scope cues, then the classifier, the matter and
    /// the department ([`smart`]).
    pub async fn smart_route(&self, text: &str, location: &Location) -> Routed {
        let hints = if self.smart.knowledge_hints {
            self.matter_hints(text).await
        } else {
            Vec::new()
        };
        let entries = self.catalogue.entries();
        let assessment = smart::assess(
            &self.model,
            text,
            location,
            &entries,
            &hints,
            &self.gazetteer,
        );
        let best = assessment.best().cloned();
        if let Some(cue) = scope::check(text) {
            return Routed {
                decision: Decision::Manual {
                    reason: format!("不予受理建议：{}（{}）", cue.citation, cue.matched),
                },
                via: "classifier",
                assessment: Some(assessment),
                proposal: Some(Proposal::Reject(cue)),
                priority: 1,
            };
        }
        let decision = match best {
            Some(Candidate {
                lead: Some(lead),
                co,
                category,
                probability,
                why,
                ..
            }) if assessment.auto && self.smart.auto_dispatch => Decision::Dispatch {
                lead,
                co,
                reason: format!(
                    "智能派单：{category} {:.0}%，{why}（{}）",
                    probability * 100.0,
                    assessment.model
                ),
            },
            Some(best) => Decision::Manual {
                reason: match &best.lead {
                    Some(_) if !self.smart.auto_dispatch => {
                        format!("automatic dispatch is off; likely {}", best.category)
                    }
                    Some(_) => format!(
                        "classifier not sure: {} {:.0}%",
                        best.category,
                        best.probability * 100.0
                    ),
                    None => format!("likely {}, but {}", best.category, best.why),
                },
            },
            None => Decision::Manual {
                reason: "no matter code and no class".to_owned(),
            },
        };
        Routed {
            decision,
            via: "classifier",
            assessment: Some(assessment),
            proposal: None,
            priority: 2,
        }
    }

    /// The knowledge service's matters for a text, best first; none when it does not answer in
    /// time (the decision goes on with the catalogue's own names).
    async fn matter_hints(&self, text: &str) -> Vec<MatterHint> {
        #[derive(serde::Serialize)]
        struct Ask<'a> {
            text: &'a str,
            k: usize,
        }
        #[derive(serde::Deserialize)]
        struct Reply {
            hits: Vec<Hit>,
        }
        #[derive(serde::Deserialize)]
        struct Hit {
            matter_code: String,
        }
        use std::sync::atomic::Ordering;
        let now = chrono::Utc::now().timestamp_millis();
        if now < self.hints_paused_until.load(Ordering::Relaxed) {
            HINT_FAILURES.with_label_values(&[] as &[&str]).inc();
            return Vec::new();
        }
        // The gist is at the start; the knowledge service caps the text too.
        let end = text.char_indices().nth(600).map_or(text.len(), |(i, _)| i);
        let ask = Ask {
            text: &text[..end],
            k: 5,
        };
        let reply: Result<Reply, CallError> = rpc::call(
            &self.bus,
            self.bus.subjects.knowledge_suggest(),
            &ask,
            self.smart.knowledge_timeout,
        )
        .await;
        match reply {
            Ok(reply) => {
                let mut hints: Vec<MatterHint> = Vec::new();
                for hit in reply.hits {
                    if let Ok(code) = ServiceCode::parse(&hit.matter_code)
                        && !hints.iter().any(|h| h.code == code)
                    {
                        hints.push(MatterHint { code });
                    }
                }
                hints
            }
            Err(e) => {
                HINT_FAILURES.with_label_values(&[] as &[&str]).inc();
                self.hints_paused_until
                    .store(now + HINT_PAUSE_MS, Ordering::Relaxed);
                tracing::warn!(error = %e, "no knowledge hints: deciding without them for 30 s");
                Vec::new()
            }
        }
    }

    /// A return (退单) marks the automatic decision returned; the centre's ruling that it goes
    /// elsewhere marks it corrected and teaches the classifier the right class.
    async fn learn(&self, event: &TicketEvent) -> anyhow::Result<()> {
        let no = event.ticket.ticket_no.as_u64() as i64;
        match &event.entry.action {
            Some(Action::Return { .. }) => {
                sqlx::query(
                    "UPDATE dispatch.decision SET returned_at = $2 \
                     WHERE ticket_no = $1 AND outcome = 'auto' AND returned_at IS NULL",
                )
                .bind(no)
                .bind(event.entry.at)
                .execute(&self.pool)
                .await
                .context("marking a decision returned")?;
            }
            Some(Action::ReviewReturn {
                ruling: ReturnDecision::Redispatch { lead, .. },
                ..
            }) => {
                let corrected = sqlx::query(
                    "UPDATE dispatch.decision SET corrected_to = $2 \
                     WHERE ticket_no = $1 AND outcome = 'auto' AND corrected_to IS NULL AND lead IS DISTINCT FROM $2",
                )
                .bind(no)
                .bind(lead.as_str())
                .execute(&self.pool)
                .await
                .context("marking a decision corrected")?;
                if corrected.rows_affected() > 0 {
                    self.teach(
                        event.ticket.ticket_no,
                        &event.ticket.description,
                        "return",
                        lead,
                    )
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Records a ticket's text with the class of the department people chose, when that
    /// department handles exactly one class.
    pub async fn teach(
        &self,
        ticket_no: TicketNo,
        text: &str,
        source: &'static str,
        lead: &DeptCode,
    ) -> anyhow::Result<()> {
        let classes = self.catalogue.classes_of(lead);
        let [class] = classes.as_slice() else {
            return Ok(());
        };
        if !self.model.classes.contains(class) {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO dispatch.correction (ticket_no, source, text, category, lead) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(ticket_no.as_u64() as i64)
        .bind(source)
        .bind(text)
        .bind(class)
        .bind(lead.as_str())
        .execute(&self.pool)
        .await
        .context("recording a correction")?;
        Ok(())
    }

    async fn apply(
        &self,
        ticket: &TicketView,
        event_id: &str,
        routed: Routed,
        latency: Duration,
    ) -> anyhow::Result<()> {
        match &routed.decision {
            Decision::Dispatch { lead, co, reason } => {
                let command = TicketCommand::Act {
                    idempotency_key: format!("dispatch:{event_id}"),
                    actor: Actor::system("dispatch"),
                    ticket_no: ticket.ticket_no,
                    action: Action::Dispatch {
                        lead: lead.clone(),
                        co: co.clone(),
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
                        self.record(
                            ticket,
                            event_id,
                            "auto",
                            Some(lead),
                            reason,
                            &routed,
                            Some(latency),
                        )
                        .await?;
                        DECISIONS.with_label_values(&["auto"]).inc();
                        Ok(())
                    }
                    // The ticket moved on (an agent answered it meanwhile): nothing to do.
                    Err(e) if e.kind() == ErrorKind::Conflict => {
                        self.record(
                            ticket,
                            event_id,
                            "moved_on",
                            None,
                            &e.public_message(),
                            &routed,
                            Some(latency),
                        )
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
                        self.enqueue(ticket, event_id, &reason, &routed, latency)
                            .await
                    }
                    Err(e) => Err(anyhow::Error::from(e).context("sending the dispatch command")),
                }
            }
            Decision::Manual { reason } => {
                self.enqueue(ticket, event_id, reason, &routed, latency)
                    .await
            }
        }
    }

    async fn enqueue(
        &self,
        ticket: &TicketView,
        event_id: &str,
        reason: &str,
        routed: &Routed,
        latency: Duration,
    ) -> anyhow::Result<()> {
        // A reopened ticket may be queued a second time: the queue holds its latest state.
        sqlx::query(
            "INSERT INTO dispatch.manual_queue (ticket_no, reason, ticket, priority, suggestions, proposal) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (ticket_no) DO UPDATE SET reason = EXCLUDED.reason, ticket = EXCLUDED.ticket, \
             priority = EXCLUDED.priority, suggestions = EXCLUDED.suggestions, proposal = EXCLUDED.proposal, \
             enqueued_at = now(), resolved_at = NULL, resolved_by = NULL, resolved_to = NULL \
             WHERE dispatch.manual_queue.resolved_at IS NOT NULL OR dispatch.manual_queue.reason <> EXCLUDED.reason",
        )
        .bind(ticket.ticket_no.as_u64() as i64)
        .bind(reason)
        .bind(serde_json::to_value(ticket.public())?)
        .bind(routed.priority)
        .bind(routed.assessment.as_ref().map(serde_json::to_value).transpose()?)
        .bind(routed.proposal.as_ref().map(serde_json::to_value).transpose()?)
        .execute(&self.pool)
        .await
        .context("queueing for manual dispatch")?;
        self.record(
            ticket,
            event_id,
            "manual",
            None,
            reason,
            routed,
            Some(latency),
        )
        .await?;
        DECISIONS.with_label_values(&["manual"]).inc();
        tracing::info!(ticket = %ticket.ticket_no, "queued for manual dispatch");
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        ticket: &TicketView,
        event_id: &str,
        outcome: &'static str,
        lead: Option<&DeptCode>,
        reason: &str,
        routed: &Routed,
        latency: Option<Duration>,
    ) -> anyhow::Result<()> {
        let best = routed.assessment.as_ref().and_then(|a| a.best());
        let row = DecisionRow {
            ticket_no: ticket.ticket_no.as_u64() as i64,
            event_id: event_id.to_owned(),
            outcome,
            lead: lead.map(|d| d.to_string()),
            reason: reason.to_owned(),
            via: routed.via,
            category: best.map(|b| b.category.clone()),
            confidence: best.map(|b| b.probability),
            matter: best
                .and_then(|b| b.matter.as_ref())
                .or(ticket.service_code.as_ref())
                .map(|m| m.to_string()),
            model: routed.assessment.as_ref().map(|a| a.model.clone()),
            latency_ms: latency.map(|l| l.as_secs_f32() * 1000.0),
        };
        self.decisions
            .send(row)
            .await
            .map_err(|_| anyhow::anyhow!("the decision log has stopped"))
    }
}

/// The classifier: `dispatch.model_file` when set, else the one built in.
pub fn load_model(settings: &Settings) -> anyhow::Result<Model> {
    if settings.dispatch.model_file.is_empty() {
        return Model::shipped().context("the built-in dispatch classifier");
    }
    let path = &settings.dispatch.model_file;
    let json = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Model::from_json(&json).with_context(|| format!("loading the classifier {path}"))
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
    let model = Arc::new(load_model(&settings)?);
    tracing::info!(model = %model.version, threshold = model.auto_threshold, "dispatch classifier loaded");
    let dispatcher = Dispatcher {
        decisions,
        bus: bus.clone(),
        pool: pool.clone(),
        catalogue: catalogue.clone(),
        gazetteer: Arc::new(Gazetteer::demo(&directory)),
        directory,
        model,
        smart: SmartSettings::from_settings(&settings),
        hints_paused_until: Arc::default(),
    };

    let spec = ConsumerSpec::new(
        bus.subjects.tickets_stream(),
        CONSUMER,
        vec![
            bus.subjects.ticket_event("created"),
            // A held ticket is routed when it is released.
            bus.subjects.ticket_event("release"),
            bus.subjects.ticket_event("reopen"),
            // What became of automatic decisions: smart dispatch's measured precision.
            bus.subjects.ticket_event("return"),
            bus.subjects.ticket_event("review_return"),
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
