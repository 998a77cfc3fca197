//! Executing commands: group commit.
//!
//! Requests from NATS are queued to one batcher task per replica. The batcher takes everything
//! waiting (up to `batch_max`), runs it in ONE transaction and only then replies: a reply means
//! the change and its event are durable ("acked means durable"). Batching is what lets one
//! Postgres commit carry hundreds of tickets; under light load a batch is a single command and
//! nothing waits.
//!
//! Replicas run batchers in parallel: tickets touched by a batch are locked `FOR UPDATE`, and
//! an idempotency key that two replicas race on fails one transaction, which is retried and then
//! finds the first reply.
//!
//! One command fails alone: when Postgres refuses a batch's transaction (a NUL in a text that
//! got past the edges, say), the batch is split and re-run in halves until the refused command
//! stands by itself; it is answered `invalid` (a data exception) or `internal`, its batch-mates
//! commit and are answered as usual (see `Batcher::execute_isolating`).
//!
//! 并单 (`merge`) is the one command that touches two tickets: the target is locked with the
//! merged ticket, must exist ([`MergeRefused::NoTarget`], `not_found`) and still be worked on
//! ([`MergeRefused::TargetDone`], `conflict`), and takes a `merged_from` entry in the same
//! transaction. The target keeps the list of tickets merged into it (`merged_from`, through
//! chains: a target merged on passes its list along) and every one of its events carries it, so
//! intake's notify router tells those citizens too (docs/messaging.md).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_bus::outbox::{self, OutboxMessage};
use hotline_bus::rpc::RemoteError;
use hotline_bus::{Bus, Envelope};
use hotline_domain::contract::ErrorKind;
use hotline_domain::contract::{
    CommandAccepted, CreateTicket, HistoryEntry, TicketCommand, TicketEvent, TicketView,
};
use hotline_domain::{Action, Actor, Directory, Status, TicketNo, TransitionError};
use sqlx::{PgPool, Postgres, Row as _, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::SCHEMA;
use crate::store::{self, TicketRow};

static COMMANDS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_tickets_commands_total",
        "Commands executed by outcome",
        &["command", "outcome"],
    )
});
static BATCH_SIZE: LazyLock<prometheus::HistogramVec> = LazyLock::new(|| {
    hotline_telemetry::histogram_vec(
        "hotline_tickets_batch_seconds",
        "Time to commit one batch",
        &["size"],
    )
});

use hotline_telemetry::prometheus;

struct Pending {
    command: TicketCommand,
    traceparent: Option<String>,
    reply: oneshot::Sender<Result<CommandAccepted, RemoteError>>,
}

/// A handle to the batcher. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    queue: mpsc::Sender<Pending>,
}

impl Ledger {
    /// Starts the batcher. It runs until every handle is dropped, so commands in hand at
    /// shutdown are still committed and answered.
    pub fn start(
        pool: PgPool,
        bus: Bus,
        directory: Arc<Directory>,
        batch_max: usize,
        _shutdown: CancellationToken,
    ) -> Ledger {
        let (ledger, batcher) = Ledger::new(pool, bus, directory, batch_max);
        tokio::spawn(batcher);
        ledger
    }

    /// The handle and the batcher, for the caller to run under supervision: a batcher that
    /// panics then stops the service instead of leaving every command unanswered. The batcher
    /// returns once every handle is dropped.
    pub fn new(
        pool: PgPool,
        bus: Bus,
        directory: Arc<Directory>,
        batch_max: usize,
    ) -> (
        Ledger,
        impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        let (queue, rx) = mpsc::channel(batch_max * 8);
        let batcher = Batcher {
            pool,
            bus,
            districts: crate::hotspots::Districts::from_directory(&directory),
            directory,
            batch_max,
        };
        (Ledger { queue }, async move {
            batcher.run(rx).await;
            Ok(())
        })
    }

    /// Executes one command; returns after it is committed.
    pub async fn execute(&self, command: TicketCommand) -> Result<CommandAccepted, RemoteError> {
        let (reply, answer) = oneshot::channel();
        let traceparent = hotline_bus::trace::current_traceparent();
        self.queue
            .send(Pending {
                command,
                traceparent,
                reply,
            })
            .await
            .map_err(|_| {
                RemoteError::new(
                    hotline_domain::contract::ErrorKind::Unavailable,
                    "the ledger is shutting down",
                )
            })?;
        answer.await.map_err(|_| {
            RemoteError::new(
                hotline_domain::contract::ErrorKind::Unavailable,
                "the ledger is shutting down",
            )
        })?
    }
}

/// How long a small batch waits for company before it commits.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

struct Batcher {
    pool: PgPool,
    bus: Bus,
    directory: Arc<Directory>,
    /// The district each new ticket's address names (the hotspots' count, crate::hotspots).
    districts: crate::hotspots::Districts,
    batch_max: usize,
}

/// Maps a domain refusal to the error kind the edges turn into status codes.
pub fn refusal(e: &TransitionError) -> RemoteError {
    use hotline_domain::contract::ErrorKind as K;
    let kind = match e {
        TransitionError::Illegal { .. }
        | TransitionError::ExtensionPending
        | TransitionError::NoExtensionPending
        | TransitionError::Held { .. }
        | TransitionError::NotHeld => K::Conflict,
        TransitionError::CentreOnly { .. } | TransitionError::NotHandler { .. } => K::Forbidden,
        TransitionError::UnknownDepartment
        | TransitionError::NotAStreetOfDistrict
        | TransitionError::EmptyText
        | TransitionError::MergeIntoSelf
        | TransitionError::LeadAlsoCoHandler => K::Invalid,
    };
    RemoteError::new(kind, e.to_string())
}

/// Why a merge (并单) was refused on the target's side. The merged ticket's own rules (centre
/// only, not into itself, still received) are `Ticket::decide`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeRefused {
    #[error("the ticket to merge into, {0}, does not exist")]
    NoTarget(TicketNo),
    #[error("ticket {target} is {status}: only a ticket still being worked on can take another in")]
    TargetDone { target: TicketNo, status: Status },
    #[error("ticket {target} cannot take another in: {cause}")]
    Target {
        target: TicketNo,
        cause: TransitionError,
    },
}

impl MergeRefused {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MergeRefused::NoTarget(_) => ErrorKind::NotFound,
            MergeRefused::TargetDone { .. } => ErrorKind::Conflict,
            MergeRefused::Target { cause, .. } => refusal(cause).kind,
        }
    }

    fn remote(&self) -> RemoteError {
        RemoteError::new(self.kind(), self.to_string())
    }
}

/// What one batch writes.
#[derive(Default)]
struct Writes {
    new_tickets: Vec<(CreateTicket, DateTime<Utc>, Option<String>)>,
    updated: HashMap<TicketNo, TicketRow>,
    history: Vec<(TicketNo, HistoryEntry)>,
    log: Vec<(String, serde_json::Value)>,
    events: Vec<OutboxMessage>,
}

impl Batcher {
    async fn run(self, mut rx: mpsc::Receiver<Pending>) {
        let mut batch = Vec::with_capacity(self.batch_max);
        while rx.recv_many(&mut batch, self.batch_max).await > 0 {
            // Group commit: when only a few commands wait, linger a moment for more, so that
            // moderate load is also carried by few commits (each costs a disk flush). Under light
            // load this adds at most LINGER; under heavy load batches fill without waiting.
            if batch.len() < self.batch_max / 8 {
                let deadline = tokio::time::Instant::now() + LINGER;
                while batch.len() < self.batch_max {
                    let room = self.batch_max - batch.len();
                    match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
            }
            let started = std::time::Instant::now();
            let size = batch.len();
            self.execute_batch(std::mem::take(&mut batch)).await;
            let bucket = match size {
                1 => "1",
                2..=16 => "2-16",
                17..=128 => "17-128",
                _ => "129+",
            };
            BATCH_SIZE
                .with_label_values(&[bucket])
                .observe(started.elapsed().as_secs_f64());
        }
    }

    async fn execute_batch(&self, batch: Vec<Pending>) {
        let replies = self.execute_isolating(&batch).await;
        for (pending, reply) in batch.into_iter().zip(replies) {
            let label = match &reply {
                Ok(r) if r.replayed => "replayed",
                Ok(_) => "ok",
                Err(e) => kind_label(e),
            };
            COMMANDS
                .with_label_values(&[command_label(&pending.command), label])
                .inc();
            let _ = pending.reply.send(reply);
        }
    }

    /// Runs `batch` so that one command Postgres refuses fails alone (issue 8: one NUL in one
    /// description made 37 of 40 concurrent requests fail).
    ///
    /// The whole batch is tried first. When its transaction fails on something that is not the
    /// database being away, the batch is split in halves, each tried in its own transaction,
    /// left before right so commands on one ticket still apply in arrival order; halves that
    /// fail split again. A refused command is thereby found in about 2·log2(n) transactions
    /// while its batch-mates commit. Nothing is replied before its transaction commits, so
    /// "acked means durable" and the outbox are untouched; a refused command is not written to
    /// the command log, so nothing of it is stored.
    async fn execute_isolating(
        &self,
        batch: &[Pending],
    ) -> Vec<Result<CommandAccepted, RemoteError>> {
        let mut replies: Vec<Option<Result<CommandAccepted, RemoteError>>> =
            (0..batch.len()).map(|_| None).collect();
        // Ranges still to run, the next one on top.
        let mut todo = Vec::with_capacity(8);
        todo.push(0..batch.len());
        while let Some(range) = todo.pop() {
            let part = &batch[range.clone()];
            let mut outcome = self.try_batch(part).await;
            // A key raced by another replica, a serialization failure or a deadlock passes on a
            // second try (which then finds the winner's reply); so may a dropped connection.
            if outcome
                .as_ref()
                .is_err_and(|e| failure(e) != Failure::Refused)
            {
                outcome = self.try_batch(part).await;
            }
            match outcome {
                Ok(done) => {
                    for (slot, reply) in replies[range].iter_mut().zip(done) {
                        *slot = Some(reply);
                    }
                }
                Err(e) => match failure(&e) {
                    Failure::Refused | Failure::Transient if part.len() > 1 => {
                        let mid = range.start + part.len() / 2;
                        todo.push(mid..range.end);
                        todo.push(range.start..mid);
                    }
                    kind => {
                        let error = if kind == Failure::Refused && is_data_exception(&e) {
                            // Text or values the store cannot hold: the sender's fault, and
                            // retrying it cannot help.
                            tracing::warn!(error = %format!("{e:#}"), "command refused by the store");
                            RemoteError::invalid("the command holds data that cannot be stored")
                        } else {
                            RemoteError::internal(&e)
                        };
                        for slot in &mut replies[range] {
                            *slot = Some(Err(error.clone()));
                        }
                    }
                },
            }
        }
        replies
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(RemoteError::internal(&anyhow::anyhow!(
                        "command left without a reply"
                    )))
                })
            })
            .collect()
    }

    async fn try_batch(
        &self,
        batch: &[Pending],
    ) -> anyhow::Result<Vec<Result<CommandAccepted, RemoteError>>> {
        // Every statement of the batch finds its rows by key: plans made once (db::begin_keyed).
        let mut tx = hotline_bus::db::begin_keyed(&self.pool)
            .await
            .context("begin")?;
        let keys: Vec<&str> = batch.iter().map(|p| p.command.idempotency_key()).collect();
        let mut replayed: HashMap<String, serde_json::Value> = HashMap::new();
        for row in sqlx::query("SELECT idempotency_key, reply FROM tickets.command_log WHERE idempotency_key = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await
            .context("reading command log")?
        {
            replayed.insert(row.try_get("idempotency_key")?, row.try_get("reply")?);
        }
        // Lock every ticket an action touches, in a stable order so batches do not deadlock.
        // A merge touches its target too.
        let mut act_nos: Vec<i64> = batch
            .iter()
            .flat_map(|p| match &p.command {
                TicketCommand::Act {
                    ticket_no, action, ..
                } => {
                    let into = match action {
                        Action::Merge { into } => Some(into.as_u64() as i64),
                        _ => None,
                    };
                    [Some(ticket_no.as_u64() as i64), into]
                }
                TicketCommand::Create { .. } => [None, None],
            })
            .flatten()
            .collect();
        act_nos.sort_unstable();
        act_nos.dedup();
        let mut rows: HashMap<TicketNo, TicketRow> = HashMap::new();
        if !act_nos.is_empty() {
            for row in sqlx::query(store::SELECT_FOR_UPDATE)
                .bind(&act_nos)
                .fetch_all(&mut *tx)
                .await
                .context("locking tickets")?
            {
                let loaded = store::row_to_ticket_row(&row)?;
                rows.insert(loaded.view.ticket_no, loaded);
            }
        }

        // Numbers already taken (a Create replayed under another key must not make a second
        // ticket, nor fail the whole batch on the primary key).
        let create_nos: Vec<i64> = batch
            .iter()
            .filter_map(|p| match &p.command {
                TicketCommand::Create { ticket, .. } => Some(ticket.ticket_no.as_u64() as i64),
                TicketCommand::Act { .. } => None,
            })
            .collect();
        let mut taken: std::collections::HashSet<i64> = std::collections::HashSet::new();
        if !create_nos.is_empty() {
            taken.extend(
                sqlx::query_scalar::<_, i64>(
                    "SELECT ticket_no FROM tickets.ticket WHERE ticket_no = ANY($1)",
                )
                .bind(&create_nos)
                .fetch_all(&mut *tx)
                .await
                .context("checking ticket numbers")?,
            );
        }

        let now = Utc::now();
        let mut writes = Writes::default();
        let mut replies = Vec::with_capacity(batch.len());
        let mut created_in_batch: HashMap<TicketNo, ()> = HashMap::new();
        for pending in batch {
            let key = pending.command.idempotency_key().to_owned();
            if let Some(previous) = replayed.get(&key) {
                replies.push(decode_logged(previous));
                continue;
            }
            let reply = match &pending.command {
                TicketCommand::Create { actor, ticket, .. } => {
                    if created_in_batch.insert(ticket.ticket_no, ()).is_some()
                        || taken.contains(&(ticket.ticket_no.as_u64() as i64))
                    {
                        // Not logged: the caller retries the same key with a fresh number.
                        replies.push(Err(RemoteError::conflict(
                            "that ticket number is already taken",
                        )));
                        continue;
                    } else {
                        Ok(self.create(
                            &mut writes,
                            actor,
                            ticket,
                            now,
                            pending.traceparent.clone(),
                        )?)
                    }
                }
                TicketCommand::Act {
                    action: Action::MergedFrom { .. },
                    ..
                } => Err(RemoteError::invalid(
                    "`merged_from` is recorded by the ledger with the other ticket's `merge`: \
                     send `merge` on that ticket",
                )),
                TicketCommand::Act {
                    actor,
                    ticket_no,
                    action: action @ Action::Merge { into },
                    ..
                } => self.merge(
                    &mut writes,
                    &mut rows,
                    (*ticket_no, *into),
                    actor,
                    action,
                    now,
                    pending.traceparent.clone(),
                )?,
                TicketCommand::Act {
                    actor,
                    ticket_no,
                    action,
                    ..
                } => match rows.get_mut(ticket_no) {
                    None => Err(RemoteError::not_found(format!(
                        "ticket {ticket_no} does not exist"
                    ))),
                    Some(row) => self.act(
                        &mut writes,
                        row,
                        actor,
                        action,
                        now,
                        pending.traceparent.clone(),
                    )?,
                },
            };
            // Refusals are logged too: a retry must not succeed where the first attempt was
            // refused because the ticket has moved on since.
            let logged = match &reply {
                Ok(accepted) => serde_json::json!({ "ok": accepted }),
                Err(e) => serde_json::json!({ "err": e }),
            };
            replayed.insert(key.clone(), logged.clone());
            writes.log.push((key, logged));
            replies.push(reply);
        }
        let touched: std::collections::HashSet<TicketNo> =
            writes.history.iter().map(|(n, _)| *n).collect();
        writes.updated = rows
            .into_iter()
            .filter(|(no, _)| touched.contains(no))
            .collect();
        self.write(&mut tx, &writes).await?;
        tx.commit().await.context("commit")?;
        Ok(replies)
    }

    fn create(
        &self,
        writes: &mut Writes,
        actor: &Actor,
        ticket: &CreateTicket,
        now: DateTime<Utc>,
        traceparent: Option<String>,
    ) -> anyhow::Result<CommandAccepted> {
        let entry = HistoryEntry {
            seq: 1,
            at: now,
            actor: actor.clone(),
            step: "created".into(),
            action: None,
            from: None,
            to: Status::Received,
        };
        let view = TicketView {
            ticket_no: ticket.ticket_no,
            status: Status::Received,
            channel: ticket.channel,
            request_type: ticket.request_type,
            service_code: ticket.service_code.clone(),
            description: ticket.description.clone(),
            location: ticket.location.clone(),
            citizen: ticket.citizen.clone(),
            confidential: ticket.confidential,
            lead: None,
            co: Vec::new(),
            attributes: ticket.attributes.clone(),
            media_url: ticket.media_url.clone(),
            held: ticket.hold,
            extension_pending: false,
            created_at: now,
            updated_at: now,
        };
        writes
            .events
            .push(self.event(&entry, view, Vec::new(), traceparent.clone())?);
        writes.history.push((ticket.ticket_no, entry));
        writes.new_tickets.push((ticket.clone(), now, traceparent));
        Ok(CommandAccepted {
            ticket_no: ticket.ticket_no,
            status: Status::Received,
            seq: 1,
            replayed: false,
        })
    }

    /// 并单: `no` merged into `into`. Both rows are locked in this transaction, so the target's
    /// state checked here is the one the merge commits against; the merged ticket's rules go
    /// first (a merge into itself is `invalid`, not a missing target).
    #[allow(clippy::too_many_arguments)]
    fn merge(
        &self,
        writes: &mut Writes,
        rows: &mut HashMap<TicketNo, TicketRow>,
        (no, into): (TicketNo, TicketNo),
        actor: &Actor,
        action: &Action,
        now: DateTime<Utc>,
        traceparent: Option<String>,
    ) -> anyhow::Result<Result<CommandAccepted, RemoteError>> {
        let Some(row) = rows.get(&no) else {
            return Ok(Err(RemoteError::not_found(format!(
                "ticket {no} does not exist"
            ))));
        };
        if let Err(e) = row.machine.decide(actor, action, &self.directory) {
            return Ok(Err(refusal(&e)));
        }
        // Citizens merged into the merged ticket follow it on to the new target.
        let chain = row.merged_from.clone();
        let merged_from = Action::MergedFrom { from: no };
        let refused = match rows.get(&into) {
            None => Some(MergeRefused::NoTarget(into)),
            Some(target) => match target.machine.decide(actor, &merged_from, &self.directory) {
                Ok(_) => None,
                Err(TransitionError::Illegal { from, .. }) => Some(MergeRefused::TargetDone {
                    target: into,
                    status: from,
                }),
                Err(cause) => Some(MergeRefused::Target {
                    target: into,
                    cause,
                }),
            },
        };
        if let Some(refused) = refused {
            return Ok(Err(refused.remote()));
        }
        let row = rows.get_mut(&no).context("the merged ticket is locked")?;
        let accepted = match self.act(writes, row, actor, action, now, traceparent.clone())? {
            Ok(accepted) => accepted,
            refused @ Err(_) => return Ok(refused),
        };
        let target = rows.get_mut(&into).context("the target is locked")?;
        for merged in std::iter::once(no).chain(chain) {
            if !target.merged_from.contains(&merged) {
                target.merged_from.push(merged);
            }
        }
        if let Err(e) = self.act(writes, target, actor, &merged_from, now, traceparent)? {
            // Decided above against the same locked row: this cannot happen, and half a merge
            // must not commit (the batch fails and the command is isolated).
            anyhow::bail!("the merge target refused after it was checked: {e}");
        }
        Ok(Ok(accepted))
    }

    fn act(
        &self,
        writes: &mut Writes,
        row: &mut TicketRow,
        actor: &Actor,
        action: &Action,
        now: DateTime<Utc>,
        traceparent: Option<String>,
    ) -> anyhow::Result<Result<CommandAccepted, RemoteError>> {
        let transition = match row.machine.decide(actor, action, &self.directory) {
            Ok(t) => t,
            Err(e) => {
                if let Actor::Department { code } = actor
                    && matches!(e, TransitionError::NotHandler { .. })
                {
                    tracing::warn!(ticket = %row.view.ticket_no, department = %code, action = action.name(), "department refused: not its ticket");
                }
                return Ok(Err(refusal(&e)));
            }
        };
        let from = row.machine.status;
        row.machine.apply(transition);
        row.last_seq += 1;
        row.view.status = row.machine.status;
        row.view.lead = row.machine.lead.clone();
        row.view.co = row.machine.co.clone();
        row.view.held = row.machine.held;
        row.view.extension_pending = row.machine.extension_pending;
        row.view.updated_at = now;
        for dept in row.machine.lead.iter().chain(row.machine.co.iter()) {
            if !row.handlers.iter().any(|h| h == dept.as_str()) {
                row.handlers.push(dept.to_string());
            }
        }
        let entry = HistoryEntry {
            seq: row.last_seq,
            at: now,
            actor: actor.clone(),
            step: action.name().to_owned(),
            action: Some(action.clone()),
            from: Some(from),
            to: row.machine.status,
        };
        // The ticket's own trace when the caller brought none, so every step stays in one trace.
        let trace = traceparent.or_else(|| row.traceparent.clone());
        writes
            .events
            .push(self.event(&entry, row.view.clone(), row.merged_from.clone(), trace)?);
        writes.history.push((row.view.ticket_no, entry));
        Ok(Ok(CommandAccepted {
            ticket_no: row.view.ticket_no,
            status: row.machine.status,
            seq: row.last_seq,
            replayed: false,
        }))
    }

    fn event(
        &self,
        entry: &HistoryEntry,
        ticket: TicketView,
        merged_from: Vec<TicketNo>,
        traceparent: Option<String>,
    ) -> anyhow::Result<OutboxMessage> {
        let event_id = Uuid::now_v7();
        let subject = self.bus.subjects.ticket_event(&entry.step);
        let envelope = Envelope::new(
            event_id,
            format!("ticket.{}", entry.step),
            TicketEvent {
                event_id,
                entry: entry.clone(),
                ticket,
                merged_from,
            },
        );
        Ok(OutboxMessage {
            subject,
            msg_id: event_id.to_string(),
            traceparent,
            payload: envelope.to_bytes().context("encoding event")?,
        })
    }

    async fn write(&self, tx: &mut Transaction<'_, Postgres>, w: &Writes) -> anyhow::Result<()> {
        if !w.new_tickets.is_empty() {
            let mut nos = Vec::new();
            let mut channels = Vec::new();
            let mut types = Vec::new();
            let mut codes = Vec::new();
            let mut descriptions = Vec::new();
            let mut locations = Vec::new();
            let mut citizens = Vec::new();
            let mut phones = Vec::new();
            let mut confidential = Vec::new();
            let mut attributes = Vec::new();
            let mut media = Vec::new();
            let mut traces = Vec::new();
            let mut ats = Vec::new();
            let mut held = Vec::new();
            let mut address_keys = Vec::new();
            let mut districts = Vec::new();
            for (t, at, trace) in &w.new_tickets {
                nos.push(t.ticket_no.as_u64() as i64);
                channels.push(t.channel.as_str());
                types.push(t.request_type.as_str());
                codes.push(t.service_code.as_ref().map(|c| c.to_string()));
                descriptions.push(t.description.as_str());
                locations.push(serde_json::to_value(&t.location)?);
                citizens.push(serde_json::to_value(&t.citizen)?);
                phones.push(t.citizen.phone.clone());
                confidential.push(t.confidential);
                attributes.push(serde_json::to_value(&t.attributes)?);
                media.push(t.media_url.clone());
                traces.push(trace.clone());
                ats.push(*at);
                held.push(t.hold);
                address_keys.push(
                    t.location
                        .address
                        .as_deref()
                        .and_then(crate::duplicates::address_key),
                );
                districts.push(
                    t.location
                        .address
                        .as_deref()
                        .and_then(|a| self.districts.of(a)),
                );
            }
            sqlx::query(
                "INSERT INTO tickets.ticket (ticket_no, status, channel, request_type, service_code, description, location, \
                 citizen, citizen_phone, confidential, attributes, media_url, last_seq, traceparent, created_at, updated_at, held, \
                 address_key, district) \
                 SELECT n, 'received', c, rt, sc, d, l, ci, p, cf, a, m, 1, tp, at, at, h, ak, di FROM UNNEST($1::bigint[], $2::text[], \
                 $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::bool[], $10::jsonb[], $11::text[], \
                 $12::text[], $13::timestamptz[], $14::bool[], $15::text[], $16::text[]) AS u(n, c, rt, sc, d, l, ci, p, cf, a, m, tp, at, h, ak, di)",
            )
            .bind(&nos)
            .bind(&channels)
            .bind(&types)
            .bind(&codes)
            .bind(&descriptions)
            .bind(&locations)
            .bind(&citizens)
            .bind(&phones)
            .bind(&confidential)
            .bind(&attributes)
            .bind(&media)
            .bind(&traces)
            .bind(&ats)
            .bind(&held)
            .bind(&address_keys)
            .bind(&districts)
            .execute(&mut **tx)
            .await
            .context("inserting tickets")?;
        }
        if !w.updated.is_empty() {
            let mut nos = Vec::new();
            let mut statuses = Vec::new();
            let mut leads = Vec::new();
            let mut cos = Vec::new();
            let mut handlers = Vec::new();
            let mut pending = Vec::new();
            let mut satisfied = Vec::new();
            let mut held = Vec::new();
            let mut seqs = Vec::new();
            let mut ats = Vec::new();
            let mut merged = Vec::new();
            for (no, row) in &w.updated {
                nos.push(no.as_u64() as i64);
                statuses.push(row.machine.status.as_str());
                leads.push(row.machine.lead.as_ref().map(|d| d.to_string()));
                // Postgres has no arrays of arrays of differing length: send as JSON.
                cos.push(serde_json::to_value(
                    row.machine
                        .co
                        .iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>(),
                )?);
                handlers.push(serde_json::to_value(&row.handlers)?);
                pending.push(row.machine.extension_pending);
                satisfied.push(row.machine.satisfied);
                held.push(row.machine.held);
                seqs.push(row.last_seq);
                ats.push(row.view.updated_at);
                merged.push(serde_json::to_value(
                    row.merged_from
                        .iter()
                        .map(|n| n.as_u64())
                        .collect::<Vec<_>>(),
                )?);
            }
            sqlx::query(
                "UPDATE tickets.ticket t SET status = u.s, lead = u.l, \
                 co = ARRAY(SELECT jsonb_array_elements_text(u.co)), handlers = ARRAY(SELECT jsonb_array_elements_text(u.h)), \
                 extension_pending = u.ep, satisfied = u.sat, last_seq = u.seq, updated_at = u.at, held = u.held, \
                 merged_from = ARRAY(SELECT jsonb_array_elements_text(u.mf)::bigint) \
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::bool[], $7::bool[], $8::int[], \
                 $9::timestamptz[], $10::bool[], $11::jsonb[]) AS u(n, s, l, co, h, ep, sat, seq, at, held, mf) WHERE t.ticket_no = u.n",
            )
            .bind(&nos)
            .bind(&statuses)
            .bind(&leads)
            .bind(&cos)
            .bind(&handlers)
            .bind(&pending)
            .bind(&satisfied)
            .bind(&seqs)
            .bind(&ats)
            .bind(&held)
            .bind(&merged)
            .execute(&mut **tx)
            .await
            .context("updating tickets")?;
        }
        if !w.history.is_empty() {
            let mut nos = Vec::new();
            let mut seqs = Vec::new();
            let mut ats = Vec::new();
            let mut actors = Vec::new();
            let mut steps = Vec::new();
            let mut actions = Vec::new();
            let mut froms = Vec::new();
            let mut tos = Vec::new();
            for (no, e) in &w.history {
                nos.push(no.as_u64() as i64);
                seqs.push(e.seq);
                ats.push(e.at);
                actors.push(serde_json::to_value(&e.actor)?);
                steps.push(e.step.as_str());
                actions.push(e.action.as_ref().map(serde_json::to_value).transpose()?);
                froms.push(e.from.map(|s| s.as_str()));
                tos.push(e.to.as_str());
            }
            sqlx::query(
                "INSERT INTO tickets.history (ticket_no, seq, at, actor, step, action, from_status, to_status) \
                 SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::timestamptz[], $4::jsonb[], $5::text[], $6::jsonb[], \
                 $7::text[], $8::text[])",
            )
            .bind(&nos)
            .bind(&seqs)
            .bind(&ats)
            .bind(&actors)
            .bind(&steps)
            .bind(&actions)
            .bind(&froms)
            .bind(&tos)
            .execute(&mut **tx)
            .await
            .context("inserting history")?;
        }
        if !w.log.is_empty() {
            let keys: Vec<&str> = w.log.iter().map(|(k, _)| k.as_str()).collect();
            let replies: Vec<&serde_json::Value> = w.log.iter().map(|(_, r)| r).collect();
            sqlx::query("INSERT INTO tickets.command_log (idempotency_key, reply) SELECT * FROM UNNEST($1::text[], $2::jsonb[])")
                .bind(&keys)
                .bind(&replies)
                .execute(&mut **tx)
                .await
                .context("writing the command log")?;
        }
        outbox::enqueue(tx, SCHEMA, &w.events)
            .await
            .context("writing the outbox")?;
        Ok(())
    }
}

fn decode_logged(value: &serde_json::Value) -> Result<CommandAccepted, RemoteError> {
    if let Some(ok) = value.get("ok") {
        match serde_json::from_value::<CommandAccepted>(ok.clone()) {
            Ok(mut accepted) => {
                accepted.replayed = true;
                Ok(accepted)
            }
            Err(e) => Err(RemoteError::internal(&anyhow::anyhow!(
                "command log entry unreadable: {e}"
            ))),
        }
    } else {
        match value
            .get("err")
            .map(|e| serde_json::from_value::<RemoteError>(e.clone()))
        {
            Some(Ok(e)) => Err(e),
            _ => Err(RemoteError::internal(&anyhow::anyhow!(
                "command log entry unreadable"
            ))),
        }
    }
}

fn command_label(c: &TicketCommand) -> &'static str {
    match c {
        TicketCommand::Create { .. } => "create",
        TicketCommand::Act { action, .. } => action.name(),
    }
}

/// What a failed batch transaction says about its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Postgres (or our own encoding) refused something in the batch: some command is bad.
    Refused,
    /// A conflict with a concurrent transaction: the same batch may pass on a second try.
    Transient,
    /// The database is away (connection, pool, I/O): retried once, never split (that would
    /// only multiply the waits).
    Unavailable,
}

fn sqlx_error(e: &anyhow::Error) -> Option<&sqlx::Error> {
    e.chain().find_map(|c| c.downcast_ref::<sqlx::Error>())
}

fn failure(e: &anyhow::Error) -> Failure {
    match sqlx_error(e) {
        // Not from the database at all: encoding a row or an event failed, which depends on
        // the command.
        None => Failure::Refused,
        Some(sqlx::Error::Database(db)) => match db.code().as_deref() {
            // unique_violation (a key raced by another replica), serialization_failure,
            // deadlock_detected.
            Some("23505" | "40001" | "40P01") => Failure::Transient,
            _ => Failure::Refused,
        },
        Some(
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Encode(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. },
        ) => Failure::Refused,
        Some(_) => Failure::Unavailable,
    }
}

/// SQLSTATE class 22 (data exception: a NUL in text, `\u0000` in jsonb, a value out of
/// range) and 54 (program limit exceeded: an index row too large).
fn is_data_exception(e: &anyhow::Error) -> bool {
    match sqlx_error(e) {
        Some(sqlx::Error::Database(db)) => db
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("54")),
        _ => false,
    }
}

fn kind_label(e: &RemoteError) -> &'static str {
    e.kind.as_str()
}
