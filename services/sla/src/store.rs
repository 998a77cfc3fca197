//! Durable clocks in Postgres (schema `sla`): scheduling many clocks in one statement, and the
//! firing loop any replica runs.
//!
//! Firing: `SELECT … WHERE state = 'open' AND next_fire_at <= now ORDER BY next_fire_at LIMIT n
//! FOR UPDATE SKIP LOCKED`, advance each clock's ladder, write the SLA events (outbox), the
//! event log (with the lateness) and any supervision command, update the clocks, commit. A row
//! is locked by one replica at a time and its step moves on in the same transaction as its
//! event, so no step fires twice; nothing is held in memory, so nothing is lost on a crash and
//! a replica that starts after downtime fires everything that came due meanwhile.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use hotline_bus::outbox::{self, OutboxMessage};
use hotline_bus::{Envelope, Subjects};
use hotline_domain::contract::{SlaEvent, SlaEventKind, SupervisingAuthority, TicketCommand};
use hotline_domain::{Action, Actor, DeptCode, Directory, RequestType, TicketNo};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, Row as _, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::calendar::WorkCalendar;
use crate::error::SlaError;
use crate::ladder::{self, Ladder, Step};
use crate::metrics;
use crate::policy::{Limit, Policy, Stage, Urgency};

pub const SCHEMA: &str = "sla";

/// What the ladder needs besides the database: the policy, the calendar, the department
/// directory (for escalation) and the subjects events go to.
pub struct Engine {
    pub policy: Policy,
    pub calendar: WorkCalendar,
    pub directory: Directory,
    pub subjects: Subjects,
    pub ladder: Ladder,
}

impl Engine {
    pub fn new(
        policy: Policy,
        calendar: WorkCalendar,
        directory: Directory,
        subjects: Subjects,
    ) -> Engine {
        let ladder = Ladder::from_policy(&policy);
        Engine {
            policy,
            calendar,
            directory,
            subjects,
            ladder,
        }
    }
}

/// A clock to schedule. Build it with [`NewClock::new`] (deadline and warning from the policy)
/// or fill it in directly (the benchmark does); [`schedule_batch`] checks it either way.
#[derive(Debug, Clone, PartialEq)]
pub struct NewClock {
    pub ticket_no: TicketNo,
    pub stage: Stage,
    /// `None`: the centre's own stage.
    pub department: Option<DeptCode>,
    pub request_type: RequestType,
    pub urgency: Urgency,
    pub limit: Limit,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub warn_at: DateTime<Utc>,
    /// The ledger history entry that started the stage.
    pub opened_seq: Option<i32>,
}

impl NewClock {
    /// The clock of `stage` started at `started_at`, or `None` when the policy sets no deadline
    /// for the cell (praise handling).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: &Policy,
        cal: &WorkCalendar,
        ticket_no: TicketNo,
        stage: Stage,
        department: Option<DeptCode>,
        request_type: RequestType,
        urgency: Urgency,
        started_at: DateTime<Utc>,
    ) -> Option<NewClock> {
        let limit = policy.limit(request_type, urgency, stage)?;
        let due_at = limit.deadline(started_at, cal);
        let warn_at = policy
            .warning_at(started_at, request_type, urgency, stage, cal)
            .unwrap_or(due_at)
            .min(due_at);
        Some(NewClock {
            ticket_no,
            stage,
            department,
            request_type,
            urgency,
            limit,
            started_at,
            due_at,
            warn_at,
            opened_seq: None,
        })
    }

    /// A clock whose times are out of order is refused before anything is stored.
    pub fn check(&self) -> Result<(), SlaError> {
        if self.due_at < self.started_at {
            return Err(SlaError::invalid(format!(
                "ticket {} {}: the deadline {} is before the clock start {}",
                self.ticket_no,
                self.stage.as_str(),
                self.due_at,
                self.started_at
            )));
        }
        if self.warn_at > self.due_at || self.warn_at < self.started_at {
            return Err(SlaError::invalid(format!(
                "ticket {} {}: the warning {} is outside the clock's span",
                self.ticket_no,
                self.stage.as_str(),
                self.warn_at
            )));
        }
        if ladder::is_department_stage(self.stage) != self.department.is_some() {
            return Err(SlaError::invalid(format!(
                "ticket {} {}: {} stage",
                self.ticket_no,
                self.stage.as_str(),
                if self.department.is_some() {
                    "a centre stage cannot run against a department"
                } else {
                    "a department stage needs a department"
                }
            )));
        }
        Ok(())
    }
}

pub fn ticket_key(no: TicketNo) -> i64 {
    no.as_u64() as i64
}

pub fn ticket_from_key(raw: i64) -> Result<TicketNo, SlaError> {
    TicketNo::parse(&format!("{raw:016}"))
        .map_err(|e| SlaError::Internal(anyhow::anyhow!("stored ticket number {raw}: {e}")))
}

/// Schedules many clocks in one statement (`INSERT … SELECT FROM UNNEST`). All or nothing: a
/// bad clock (see [`NewClock::check`]) fails the batch before anything is written, and a second
/// running clock for the same ticket and stage fails the statement. Returns the clocks written.
pub async fn schedule_batch<'e, E>(executor: E, clocks: &[NewClock]) -> Result<u64, SlaError>
where
    E: sqlx::PgExecutor<'e>,
{
    if clocks.is_empty() {
        return Ok(0);
    }
    for clock in clocks {
        clock.check()?;
    }
    let n = clocks.len();
    let mut ticket_nos = Vec::with_capacity(n);
    let mut stages = Vec::with_capacity(n);
    let mut departments = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut urgencies = Vec::with_capacity(n);
    let mut limits = Vec::with_capacity(n);
    let mut calendar = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut due = Vec::with_capacity(n);
    let mut warn = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    for c in clocks {
        ticket_nos.push(ticket_key(c.ticket_no));
        stages.push(c.stage.as_str());
        departments.push(c.department.as_ref().map(|d| d.as_str().to_owned()));
        types.push(c.request_type.as_str());
        urgencies.push(c.urgency.as_str());
        limits.push(c.limit.to_string());
        calendar.push(c.limit.is_calendar());
        started.push(c.started_at);
        due.push(c.due_at);
        warn.push(c.warn_at);
        seqs.push(c.opened_seq);
    }
    let done = sqlx::query(
        "INSERT INTO sla.clock (ticket_no, stage, department, request_type, urgency, limit_text, \
         calendar_hours, started_at, due_at, warn_at, opened_seq, next_step, next_fire_at) \
         SELECT t.*, 'warning', t.warn_at FROM UNNEST($1::bigint[], $2::text[], $3::text[], \
         $4::text[], $5::text[], $6::text[], $7::bool[], $8::timestamptz[], $9::timestamptz[], \
         $10::timestamptz[], $11::int[]) AS t(ticket_no, stage, department, request_type, \
         urgency, limit_text, calendar_hours, started_at, due_at, warn_at, opened_seq)",
    )
    .bind(&ticket_nos)
    .bind(&stages)
    .bind(&departments)
    .bind(&types)
    .bind(&urgencies)
    .bind(&limits)
    .bind(&calendar)
    .bind(&started)
    .bind(&due)
    .bind(&warn)
    .bind(&seqs)
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}

/// An SLA event to publish (through the outbox) and log.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub clock_id: i64,
    pub event: SlaEvent,
    /// When the step was due (ladder steps only).
    pub scheduled_at: Option<DateTime<Utc>>,
    pub detail: serde_json::Value,
}

/// Writes events into the outbox and the event log, in the caller's transaction.
pub async fn emit(
    tx: &mut Transaction<'_, Postgres>,
    subjects: &Subjects,
    fired_at: DateTime<Utc>,
    events: &[Emitted],
) -> Result<(), SlaError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut messages = Vec::with_capacity(events.len());
    for e in events {
        let kind = e.event.kind.as_str();
        let envelope = Envelope::new(e.event.event_id, format!("sla.{kind}"), &e.event);
        messages.push(OutboxMessage {
            subject: subjects.sla_event(kind),
            msg_id: e.event.event_id.to_string(),
            traceparent: None,
            payload: envelope
                .to_bytes()
                .map_err(|err| SlaError::Internal(err.into()))?,
        });
    }
    outbox::enqueue(tx, SCHEMA, &messages).await?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.event.event_id).collect();
    let clocks: Vec<i64> = events.iter().map(|e| e.clock_id).collect();
    let tickets: Vec<i64> = events
        .iter()
        .map(|e| ticket_key(e.event.ticket_no))
        .collect();
    let stages: Vec<&str> = events.iter().map(|e| e.event.stage.as_str()).collect();
    let departments: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.event.department.as_ref().map(|d| d.as_str()))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.kind.as_str()).collect();
    let scheduled: Vec<Option<DateTime<Utc>>> = events.iter().map(|e| e.scheduled_at).collect();
    let dues: Vec<DateTime<Utc>> = events.iter().map(|e| e.event.due_at).collect();
    let details: Vec<String> = events.iter().map(|e| e.detail.to_string()).collect();
    // The day's figures count the ladder's steps in the same statement
    // (figures::DAY_STEPS_SQL); the consumer's events (met, paused, …) add no row.
    sqlx::query(
        "WITH logged AS (INSERT INTO sla.event_log (event_id, clock_id, ticket_no, stage, \
         department, kind, scheduled_at, fired_at, due_at, detail) SELECT u.event_id, \
         u.clock_id, u.ticket_no, u.stage, u.department, u.kind, u.scheduled_at, $8, u.due_at, \
         u.detail::jsonb FROM \
         UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
         $7::timestamptz[], $9::timestamptz[], $10::text[]) AS u(event_id, clock_id, ticket_no, \
         stage, department, kind, scheduled_at, due_at, detail) \
         RETURNING stage, department, kind) \
         INSERT INTO sla.day_steps AS d (day, department, stage, kind, n) \
         SELECT ($8 AT TIME ZONE $11)::date, COALESCE(department, 'centre'), stage, kind, count(*) \
         FROM logged WHERE kind IN ('warning', 'overdue', 'supervised', 'escalated') \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 \
         ON CONFLICT (day, department, stage, kind) DO UPDATE SET n = d.n + EXCLUDED.n",
    )
    .bind(&ids)
    .bind(&clocks)
    .bind(&tickets)
    .bind(&stages)
    .bind(&departments)
    .bind(&kinds)
    .bind(&scheduled)
    .bind(fired_at)
    .bind(&dues)
    .bind(&details)
    .bind(crate::figures::TIME_ZONE)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What one call of [`fire_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Fired {
    /// Clocks taken (at most the limit).
    pub clocks: usize,
    /// Ladder steps fired (a clock far behind may fire several at once).
    pub steps: usize,
}

struct Advanced {
    id: i64,
    level: i16,
    next_step: Option<&'static str>,
    next_fire_at: Option<DateTime<Utc>>,
    overdue_at: Option<DateTime<Utc>>,
    supervised_at: Option<DateTime<Utc>>,
    escalated_at: Option<DateTime<Utc>>,
    escalated_to: Option<String>,
}

fn authority_label(a: &SupervisingAuthority) -> String {
    match a {
        SupervisingAuthority::Department { code } => code.as_str().to_owned(),
        SupervisingAuthority::SupervisionOffice { name } => name.clone(),
    }
}

/// Fires every step due at `now` of up to `limit` open clocks, in one transaction. Clocks
/// another replica is firing are skipped (`SKIP LOCKED`), never waited for or fired twice.
pub async fn fire_due(
    engine: &Engine,
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Fired, SlaError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, ticket_no, stage, department, due_at, warn_at, level, next_step, next_fire_at \
         FROM sla.clock WHERE state = 'open' AND next_fire_at <= $1 \
         ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(Fired::default());
    }
    let cal = &engine.calendar;
    let mut advanced = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    let mut commands: Vec<(String, i64, serde_json::Value)> = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let ticket_no = ticket_from_key(row.try_get("ticket_no")?)?;
        let stage_raw: String = row.try_get("stage")?;
        let department: Option<String> = row.try_get("department")?;
        let department = match department {
            Some(d) => Some(DeptCode::parse(&d).map_err(|e| {
                SlaError::Internal(anyhow::anyhow!("stored department {d:?}: {e}"))
            })?),
            None => None,
        };
        let due_at: DateTime<Utc> = row.try_get("due_at")?;
        let warn_at: DateTime<Utc> = row.try_get("warn_at")?;
        let mut level: i16 = row.try_get("level")?;
        let next_step: Option<String> = row.try_get("next_step")?;
        let mut fire_at: Option<DateTime<Utc>> = row.try_get("next_fire_at")?;
        let mut step = next_step.as_deref().and_then(Step::parse);
        let mut a = Advanced {
            id,
            level,
            next_step: None,
            next_fire_at: None,
            overdue_at: None,
            supervised_at: None,
            escalated_at: None,
            escalated_to: None,
        };
        while let (Some(s), Some(at)) = (step, fire_at) {
            if at > now {
                break;
            }
            let mut event = SlaEvent {
                event_id: Uuid::now_v7(),
                kind: SlaEventKind::Warning,
                ticket_no,
                stage: stage_raw.clone(),
                department: department.clone(),
                due_at,
                at: now,
                on_time: None,
                authority: None,
                until: None,
                approved: None,
            };
            match s {
                Step::Warning => event.kind = SlaEventKind::Warning,
                Step::Overdue => {
                    event.kind = SlaEventKind::Overdue;
                    a.overdue_at = Some(at);
                }
                Step::Supervise => {
                    event.kind = SlaEventKind::Supervised;
                    a.supervised_at = Some(at);
                    let key = format!("sla:supervise:{id}:{}", at.timestamp());
                    let command = TicketCommand::Act {
                        idempotency_key: key.clone(),
                        actor: Actor::system("sla"),
                        ticket_no,
                        action: Action::Supervise {
                            note: supervision_note(&stage_raw, due_at),
                        },
                    };
                    let json =
                        serde_json::to_value(&command).map_err(|e| SlaError::Internal(e.into()))?;
                    commands.push((key, ticket_key(ticket_no), json));
                }
                Step::Escalate => {
                    event.kind = SlaEventKind::Escalated;
                    a.escalated_at = Some(at);
                    if let Some(d) = &department {
                        let authority = ladder::authority(
                            d,
                            &engine.directory,
                            engine.policy.supervision_office(),
                        );
                        a.escalated_to = Some(authority_label(&authority));
                        event.authority = Some(authority);
                    }
                }
            }
            metrics::FIRED.with_label_values(&[s.as_str()]).inc();
            metrics::LATENESS
                .with_label_values(&[s.as_str()])
                .observe((now - at).to_std().unwrap_or_default().as_secs_f64());
            let detail = serde_json::json!({ "authority": event.authority });
            events.push(Emitted {
                clock_id: id,
                event,
                scheduled_at: Some(at),
                detail,
            });
            level = s.level_after();
            match engine
                .ladder
                .next(level, warn_at, due_at, department.is_some(), cal)
            {
                Some((s, t)) => {
                    step = Some(s);
                    fire_at = Some(t);
                }
                None => {
                    step = None;
                    fire_at = None;
                }
            }
        }
        a.level = level;
        a.next_step = step.map(Step::as_str);
        a.next_fire_at = fire_at;
        advanced.push(a);
    }
    let ids: Vec<i64> = advanced.iter().map(|a| a.id).collect();
    let levels: Vec<i16> = advanced.iter().map(|a| a.level).collect();
    let steps: Vec<Option<&str>> = advanced.iter().map(|a| a.next_step).collect();
    let fires: Vec<Option<DateTime<Utc>>> = advanced.iter().map(|a| a.next_fire_at).collect();
    let overdue: Vec<Option<DateTime<Utc>>> = advanced.iter().map(|a| a.overdue_at).collect();
    let supervised: Vec<Option<DateTime<Utc>>> = advanced.iter().map(|a| a.supervised_at).collect();
    let escalated: Vec<Option<DateTime<Utc>>> = advanced.iter().map(|a| a.escalated_at).collect();
    let escalated_to: Vec<Option<&str>> =
        advanced.iter().map(|a| a.escalated_to.as_deref()).collect();
    sqlx::query(
        "UPDATE sla.clock c SET level = u.level, next_step = u.step, next_fire_at = u.fire, \
         overdue_at = COALESCE(u.overdue_at, c.overdue_at), \
         supervised_at = COALESCE(u.supervised_at, c.supervised_at), \
         escalated_at = COALESCE(u.escalated_at, c.escalated_at), \
         escalated_to = COALESCE(u.escalated_to, c.escalated_to) \
         FROM UNNEST($1::bigint[], $2::smallint[], $3::text[], $4::timestamptz[], \
         $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::text[]) \
         AS u(id, level, step, fire, overdue_at, supervised_at, escalated_at, escalated_to) \
         WHERE c.id = u.id",
    )
    .bind(&ids)
    .bind(&levels)
    .bind(&steps)
    .bind(&fires)
    .bind(&overdue)
    .bind(&supervised)
    .bind(&escalated)
    .bind(&escalated_to)
    .execute(&mut *tx)
    .await?;
    emit(&mut tx, &engine.subjects, now, &events).await?;
    if !commands.is_empty() {
        let keys: Vec<&str> = commands.iter().map(|c| c.0.as_str()).collect();
        let tickets: Vec<i64> = commands.iter().map(|c| c.1).collect();
        let bodies: Vec<String> = commands.iter().map(|c| c.2.to_string()).collect();
        sqlx::query(
            "INSERT INTO sla.command (idempotency_key, ticket_no, command) \
             SELECT k, t, c::jsonb FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS u(k, t, c) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&keys)
        .bind(&tickets)
        .bind(&bodies)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify('sla_command', '')")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Fired {
        clocks: rows.len(),
        steps: events.len(),
    })
}

/// The supervision order's text (督办): names the stage and the missed deadline (local time),
/// nothing personal.
fn supervision_note(stage: &str, due_at: DateTime<Utc>) -> String {
    let stage = Stage::parse(stage)
        .map(|s| format!("{} ({})", s.chinese(), s.as_str()))
        .unwrap_or_else(|| stage.to_owned());
    format!(
        "督办 supervision order: the {stage} deadline {} passed",
        crate::calendar::to_local(due_at).format("%Y-%m-%d %H:%M")
    )
}

/// When the earliest open clock's next step is due.
pub async fn earliest_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, SlaError> {
    Ok(sqlx::query_scalar(
        "SELECT next_fire_at FROM sla.clock WHERE state = 'open' AND next_fire_at IS NOT NULL \
         ORDER BY next_fire_at LIMIT 1",
    )
    .fetch_optional(pool)
    .await?)
}

/// The firing loop: fires what is due, then sleeps until the earliest next step (at most
/// `poll`). Run one per replica; replicas share the work through `SKIP LOCKED`.
pub async fn run_firing_loop(
    engine: Arc<Engine>,
    pool: PgPool,
    batch: i64,
    poll: StdDuration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let batch = batch.max(1);
    while !shutdown.is_cancelled() {
        match fire_due(&engine, &pool, Utc::now(), batch).await {
            // A full batch: more may be due right now.
            Ok(fired) if fired.clocks as i64 >= batch => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "firing deadlines failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(poll) => {}
                }
                continue;
            }
        }
        let earliest = earliest_due(&pool).await.unwrap_or_else(|e| {
            tracing::warn!(error = %format!("{e:#}"), "reading the next deadline failed");
            None
        });
        let wait = ladder::sleep_for(Utc::now(), earliest, poll);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    Ok(())
}

/// A clock as stored (for the API and the consumer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clock {
    pub id: i64,
    pub ticket_no: TicketNo,
    pub stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub request_type: String,
    pub urgency: String,
    pub limit: String,
    #[serde(skip)]
    pub calendar_hours: bool,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub warn_at: DateTime<Utc>,
    pub state: String,
    /// none, warned, overdue, supervised, escalated.
    pub level: &'static str,
    #[serde(skip)]
    pub level_raw: i16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_fire_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DateTime<Utc>>,
    /// Working (or wall-clock) time left when paused, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<i64>,
    #[serde(skip)]
    pub remaining_ms: Option<i64>,
    #[serde(skip)]
    pub warn_remaining_ms: Option<i64>,
    pub extensions: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervised_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

pub const CLOCK_COLUMNS: &str = "id, ticket_no, stage, department, request_type, urgency, \
    limit_text, calendar_hours, started_at, due_at, warn_at, state, level, next_step, \
    next_fire_at, paused_at, remaining_ms, warn_remaining_ms, extensions, overdue_at, \
    supervised_at, escalated_at, escalated_to, closed_at";

pub fn level_name(level: i16) -> &'static str {
    match level {
        i16::MIN..=0 => "none",
        1 => "warned",
        2 => "overdue",
        3 => "supervised",
        _ => "escalated",
    }
}

impl Clock {
    pub fn from_row(row: &sqlx::postgres::PgRow) -> Result<Clock, SlaError> {
        let level: i16 = row.try_get("level")?;
        let remaining_ms: Option<i64> = row.try_get("remaining_ms")?;
        Ok(Clock {
            id: row.try_get("id")?,
            ticket_no: ticket_from_key(row.try_get("ticket_no")?)?,
            stage: row.try_get("stage")?,
            department: row.try_get("department")?,
            request_type: row.try_get("request_type")?,
            urgency: row.try_get("urgency")?,
            limit: row.try_get("limit_text")?,
            calendar_hours: row.try_get("calendar_hours")?,
            started_at: row.try_get("started_at")?,
            due_at: row.try_get("due_at")?,
            warn_at: row.try_get("warn_at")?,
            state: row.try_get("state")?,
            level: level_name(level),
            level_raw: level,
            next_step: row.try_get("next_step")?,
            next_fire_at: row.try_get("next_fire_at")?,
            paused_at: row.try_get("paused_at")?,
            remaining_seconds: remaining_ms.map(|ms| ms / 1000),
            remaining_ms,
            warn_remaining_ms: row.try_get("warn_remaining_ms")?,
            extensions: row.try_get("extensions")?,
            overdue_at: row.try_get("overdue_at")?,
            supervised_at: row.try_get("supervised_at")?,
            escalated_at: row.try_get("escalated_at")?,
            escalated_to: row.try_get("escalated_to")?,
            closed_at: row.try_get("closed_at")?,
        })
    }

    pub fn stage(&self) -> Option<Stage> {
        Stage::parse(&self.stage)
    }

    pub fn department_code(&self) -> Option<DeptCode> {
        self.department
            .as_deref()
            .and_then(|d| DeptCode::parse(d).ok())
    }

    pub fn is_paused(&self) -> bool {
        self.state == "paused"
    }
}

/// The running (open or paused) clocks of a ticket; `lock` takes them `FOR UPDATE`.
pub async fn running_clocks(
    conn: &mut PgConnection,
    ticket_no: TicketNo,
    lock: bool,
) -> Result<Vec<Clock>, SlaError> {
    let sql = format!(
        "SELECT {CLOCK_COLUMNS} FROM sla.clock WHERE ticket_no = $1 \
         AND state IN ('open', 'paused') ORDER BY id{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_key(ticket_no))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(Clock::from_row).collect()
}

/// The open and paused clocks of several tickets, locked, by ticket and then oldest first (one
/// statement for a consumer's batch; the row locks are taken in that order).
pub async fn running_clocks_of(
    conn: &mut PgConnection,
    ticket_nos: &[i64],
) -> Result<Vec<Clock>, SlaError> {
    let sql = format!(
        "SELECT {CLOCK_COLUMNS} FROM sla.clock WHERE ticket_no = ANY($1) \
         AND state IN ('open', 'paused') ORDER BY ticket_no, id FOR UPDATE"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_nos)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(Clock::from_row).collect()
}

/// Every clock of a ticket, oldest first.
pub async fn ticket_clocks(pool: &PgPool, ticket_no: TicketNo) -> Result<Vec<Clock>, SlaError> {
    let sql = format!("SELECT {CLOCK_COLUMNS} FROM sla.clock WHERE ticket_no = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_key(ticket_no))
        .fetch_all(pool)
        .await?;
    rows.iter().map(Clock::from_row).collect()
}

/// The stage clocks of every ticket of `tickets`, each ticket's oldest first (one statement: a
/// department's inbox reads its rows' deadlines at once).
pub async fn tickets_clocks(pool: &PgPool, tickets: &[TicketNo]) -> Result<Vec<Clock>, SlaError> {
    let keys: Vec<i64> = tickets.iter().map(|&no| ticket_key(no)).collect();
    let sql = format!(
        "SELECT {CLOCK_COLUMNS} FROM sla.clock WHERE ticket_no = ANY($1) ORDER BY ticket_no, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&keys)
        .fetch_all(pool)
        .await?;
    rows.iter().map(Clock::from_row).collect()
}

/// Milliseconds of a duration, for storage.
pub fn millis(d: Duration) -> i64 {
    d.num_milliseconds()
}
