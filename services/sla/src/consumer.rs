//! The ticket-event consumer (durable `sla` on the tickets stream): keeps each ticket's stage
//! clocks in line with the ledger.
//!
//! The clock a ticket should have follows from its status after the step ([`desired`]):
//!
//! | status after the step | running clock |
//! |---|---|
//! | received, reopened | dispatch (centre) |
//! | dispatched | sign_off (lead department) |
//! | returned | return_review (centre) |
//! | accepted, in_progress, replied | handling (lead department) |
//! | awaiting_citizen | handling (lead), paused |
//! | completed | callback (centre) |
//! | anything else | none |
//!
//! Clocks that no longer fit are closed at the step's instant (met, or breached when late), a
//! missing one is started at that instant, and a handling clock pauses/resumes with
//! awaiting_citizen. Deriving from the state rather than from each step name makes a redispatch
//! (new lead), a return upheld, a reopen or a first event after SLA downtime all come out right.
//! Extension requests and decisions are recorded on top.
//!
//! Idempotent: one transaction per event; the ticket's row in `sla.ticket` is locked and holds
//! the last history `seq` applied, so a redelivered (or stale) event changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hotline_bus::Envelope;
use hotline_bus::consumer::HandleError;
use hotline_bus::group_commit::GroupCommit;
use hotline_domain::contract::{SlaEvent, SlaEventKind, TicketEvent};
use hotline_domain::{Action, Actor, DeptCode, Status, TicketNo};
use sqlx::{PgPool, Postgres, Row as _, Transaction};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::error::SlaError;
use crate::ladder;
use crate::policy::{Stage, Urgency};
use crate::store::{self, Clock, Emitted, Engine, NewClock, ticket_key};

/// The consumer's durable name.
pub const CONSUMER: &str = hotline_bus::subjects::durable::SLA;

/// The urgency of a ticket: its `urgency` attribute (English or Chinese), else normal. An
/// unknown value counts as normal: the ledger accepted the ticket, and a deadline is better
/// than none.
pub fn urgency(attributes: &std::collections::BTreeMap<String, Vec<String>>) -> Urgency {
    attributes
        .get("urgency")
        .and_then(|v| v.first())
        .and_then(|raw| {
            let parsed = Urgency::parse(raw);
            if parsed.is_none() {
                tracing::warn!("unknown urgency attribute; counting the ticket as normal");
            }
            parsed
        })
        .unwrap_or(Urgency::Normal)
}

/// The clock a ticket in `status` should have running: stage, department, paused.
pub fn desired(status: Status, lead: Option<&DeptCode>) -> Option<(Stage, Option<DeptCode>, bool)> {
    let lead = || lead.cloned();
    match status {
        Status::Received | Status::Reopened => Some((Stage::Dispatch, None, false)),
        Status::Dispatched => lead().map(|d| (Stage::SignOff, Some(d), false)),
        Status::Returned => Some((Stage::ReturnReview, None, false)),
        Status::Accepted | Status::InProgress | Status::Replied => {
            lead().map(|d| (Stage::Handling, Some(d), false))
        }
        Status::AwaitingCitizen => lead().map(|d| (Stage::Handling, Some(d), true)),
        Status::Completed => Some((Stage::Callback, None, false)),
        Status::Answered
        | Status::Rejected
        | Status::Emergency
        | Status::Merged
        | Status::Surveyed
        | Status::Closed => None,
    }
}

/// What handling one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// Seen before (or older than what was applied): nothing changed.
    Duplicate,
}

fn sla_event(kind: SlaEventKind, clock: &Clock, at: DateTime<Utc>) -> SlaEvent {
    SlaEvent {
        event_id: Uuid::now_v7(),
        kind,
        ticket_no: clock.ticket_no,
        stage: clock.stage.clone(),
        department: clock.department_code(),
        due_at: clock.due_at,
        at,
        on_time: None,
        authority: None,
        until: None,
        approved: None,
    }
}

fn emitted(clock_id: i64, event: SlaEvent) -> Emitted {
    Emitted {
        clock_id,
        event,
        scheduled_at: None,
        detail: serde_json::json!({}),
    }
}

/// Applies one ticket event to the clocks, in one transaction.
pub async fn apply(
    engine: &Engine,
    pool: &PgPool,
    event: &TicketEvent,
) -> Result<Applied, SlaError> {
    // The clocks are found by ticket and id: plans made once (db::begin_keyed).
    let mut tx = hotline_bus::db::begin_keyed(pool).await?;
    let (applied, events) = apply_in(engine, &mut tx, &[event]).await?;
    store::emit(&mut tx, &engine.subjects, Utc::now(), &events).await?;
    tx.commit().await?;
    Ok(applied.into_iter().next().unwrap_or(Applied::Duplicate))
}

/// Applies the events of different tickets in one transaction (the consumer's group commit):
/// one `COMMIT`, one outbox write and a fixed number of statements for the batch instead of
/// four or five per event. When any event fails the batch is rolled back and each event is
/// applied alone, so one bad event costs only itself.
pub async fn apply_batch(
    engine: &Engine,
    pool: &PgPool,
    events: &[TicketEvent],
) -> Vec<Result<Applied, SlaError>> {
    if events.len() == 1 {
        return vec![apply(engine, pool, &events[0]).await];
    }
    let together = async {
        let mut tx = hotline_bus::db::begin_keyed(pool).await?;
        let all: Vec<&TicketEvent> = events.iter().collect();
        let (applied, emitted) = apply_in(engine, &mut tx, &all).await?;
        store::emit(&mut tx, &engine.subjects, Utc::now(), &emitted).await?;
        tx.commit().await?;
        Ok::<_, SlaError>(applied)
    };
    match together.await {
        Ok(applied) => applied.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::warn!(events = events.len(), error = %e, "SLA batch failed; applying its events one by one");
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                results.push(apply(engine, pool, event).await);
            }
            results
        }
    }
}

/// The work of [`apply`] and [`apply_batch`] inside the caller's transaction: the results in
/// the events' order, and the SLA events to emit. A ticket's second event in the same batch
/// goes into a later wave, so each wave claims a ticket at most once.
async fn apply_in(
    engine: &Engine,
    tx: &mut Transaction<'_, Postgres>,
    events: &[&TicketEvent],
) -> Result<(Vec<Applied>, Vec<Emitted>), SlaError> {
    let mut applied = vec![Applied::Duplicate; events.len()];
    let mut emitted = Vec::new();
    let mut left: Vec<usize> = (0..events.len()).collect();
    while !left.is_empty() {
        let mut seen = std::collections::HashSet::new();
        let (wave, later): (Vec<usize>, Vec<usize>) = left
            .iter()
            .partition(|&&i| seen.insert(events[i].ticket.ticket_no));
        let mut wave = wave;
        // Ticket order: two replicas' batches lock `sla.ticket` rows in the same order.
        wave.sort_by_key(|&i| events[i].ticket.ticket_no);
        let wave_events: Vec<&TicketEvent> = wave.iter().map(|&i| events[i]).collect();
        let (done, e) = apply_wave(engine, tx, &wave_events).await?;
        for (i, a) in wave.into_iter().zip(done) {
            applied[i] = a;
        }
        emitted.extend(e);
        left = later;
    }
    Ok((applied, emitted))
}

/// A paused clock running again: id, due, warn, next step and when it fires.
type Resume = (
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<&'static str>,
    Option<DateTime<Utc>>,
);

/// The clock writes a wave of events makes, worked out before any is written so that each kind
/// is one statement for the whole wave.
#[derive(Default)]
struct Writes {
    /// id, met or breached, at, seq.
    closes: Vec<(i64, &'static str, DateTime<Utc>, i32)>,
    /// id, paused at, remaining ms, warning remaining ms.
    pauses: Vec<(i64, DateTime<Utc>, i64, Option<i64>)>,
    resumes: Vec<Resume>,
    opens: Vec<NewClock>,
    /// Tickets first seen while waiting on the citizen: their new clock starts paused.
    open_paused: Vec<(TicketNo, Stage, DateTime<Utc>)>,
}

/// Events of distinct tickets, in ticket order.
async fn apply_wave(
    engine: &Engine,
    tx: &mut Transaction<'_, Postgres>,
    events: &[&TicketEvent],
) -> Result<(Vec<Applied>, Vec<Emitted>), SlaError> {
    // One statement claims the events: it creates each ticket's row or moves its `last_seq`
    // forward, and locks the row either way (ON CONFLICT DO UPDATE locks the conflicting row
    // even when its WHERE is false). A ticket not returned: this event, or a later one, was
    // applied already.
    let nos: Vec<i64> = events
        .iter()
        .map(|e| ticket_key(e.ticket.ticket_no))
        .collect();
    let seqs: Vec<i32> = events.iter().map(|e| e.entry.seq).collect();
    let claimed: std::collections::HashSet<i64> = sqlx::query_scalar::<_, i64>(
        "INSERT INTO sla.ticket (ticket_no, last_seq)          SELECT * FROM UNNEST($1::bigint[], $2::int[]) AS t(ticket_no, last_seq) ORDER BY 1          ON CONFLICT (ticket_no) DO UPDATE SET last_seq = EXCLUDED.last_seq, updated_at = now()          WHERE sla.ticket.last_seq < EXCLUDED.last_seq RETURNING ticket_no",
    )
    .bind(&nos)
    .bind(&seqs)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let mut applied = vec![Applied::Duplicate; events.len()];
    if claimed.is_empty() {
        return Ok((applied, Vec::new()));
    }
    let claimed_nos: Vec<i64> = nos
        .iter()
        .copied()
        .filter(|n| claimed.contains(n))
        .collect();
    let mut running: std::collections::HashMap<TicketNo, Vec<Clock>> =
        std::collections::HashMap::new();
    for clock in store::running_clocks_of(&mut *tx, &claimed_nos).await? {
        running.entry(clock.ticket_no).or_default().push(clock);
    }
    let mut writes = Writes::default();
    let mut emitted = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if !claimed.contains(&ticket_key(event.ticket.ticket_no)) {
            continue;
        }
        applied[i] = Applied::Done;
        let clocks = running.remove(&event.ticket.ticket_no).unwrap_or_default();
        emitted.extend(plan(engine, event, clocks, &mut writes));
    }
    let open_paused = std::mem::take(&mut writes.open_paused);
    write(&mut *tx, writes).await?;
    if !open_paused.is_empty() {
        // Rare (SLA was down while the ticket moved on): the clocks just opened, paused.
        let mut writes = Writes::default();
        for (no, stage, at) in open_paused {
            let clocks = store::running_clocks(&mut *tx, no, true).await?;
            if let Some(clock) = clocks.iter().find(|c| c.stage == stage.as_str()) {
                emitted.push(plan_pause(clock, at, &engine.calendar, &mut writes));
            }
        }
        write(&mut *tx, writes).await?;
    }
    // Extension requests and decisions (a few a day per department) on top of the clocks.
    for (i, event) in events.iter().enumerate() {
        if applied[i] == Applied::Done {
            emitted.extend(extension(engine, tx, event).await?);
        }
    }
    Ok((applied, emitted))
}

/// What `event` does to its ticket's running `clocks`: the writes it adds, the SLA events it
/// emits.
fn plan(
    engine: &Engine,
    event: &TicketEvent,
    running: Vec<Clock>,
    writes: &mut Writes,
) -> Vec<Emitted> {
    let ticket = &event.ticket;
    let (no, seq, at) = (ticket.ticket_no, event.entry.seq, event.entry.at);
    let mut events = Vec::new();
    let want = desired(ticket.status, ticket.lead.as_ref());
    let mut kept: Option<Clock> = None;
    for clock in running {
        let fits = want.as_ref().is_some_and(|(stage, dept, _)| {
            clock.stage == stage.as_str()
                && clock.department.as_deref() == dept.as_ref().map(|d| d.as_str())
        });
        if fits && kept.is_none() {
            kept = Some(clock);
        } else {
            events.push(plan_close(&clock, at, seq, writes));
        }
    }
    if let Some((stage, dept, paused)) = want {
        let cal = &engine.calendar;
        match kept {
            Some(clock) if paused && !clock.is_paused() => {
                events.push(plan_pause(&clock, at, cal, writes));
            }
            Some(clock) if !paused && clock.is_paused() => {
                events.push(plan_resume(engine, &clock, at, writes));
            }
            Some(_) => {}
            None => {
                let new = NewClock::new(
                    &engine.policy,
                    cal,
                    no,
                    stage,
                    dept,
                    ticket.request_type,
                    urgency(&ticket.attributes),
                    at,
                );
                if let Some(mut new) = new {
                    new.opened_seq = Some(seq);
                    writes.opens.push(new);
                    if paused {
                        writes.open_paused.push((no, stage, at));
                    }
                }
            }
        }
    }
    events
}

/// Writes a wave's clock changes: at most one statement per kind.
async fn write(conn: &mut sqlx::PgConnection, writes: Writes) -> Result<(), SlaError> {
    if !writes.closes.is_empty() {
        let (mut ids, mut states, mut ats, mut seqs) = (vec![], vec![], vec![], vec![]);
        for (id, state, at, seq) in writes.closes {
            ids.push(id);
            states.push(state);
            ats.push(at);
            seqs.push(seq);
        }
        // The clocks close, a request nobody decided before its stage ended has nothing left
        // to extend, and the day's figures count them (figures::DAY_ENDED_SQL) in the same
        // statement: no round trip more. A clock closes once (`closed_at IS NULL`), so a
        // redelivered batch counts nothing twice; the rows are added in key order so two
        // replicas' batches lock a day's rows in the same order.
        sqlx::query(
            "WITH closed AS (UPDATE sla.clock AS c SET state = u.state, closed_at = u.at, \
             closed_seq = u.seq, next_step = NULL, next_fire_at = NULL \
             FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[], $4::int[]) \
             AS u(id, state, at, seq) WHERE c.id = u.id AND c.closed_at IS NULL \
             RETURNING c.id, c.department, c.stage, c.state, c.closed_at), \
             lapsed AS (UPDATE sla.extension SET status = 'lapsed' \
             WHERE clock_id IN (SELECT id FROM closed) AND status = 'pending') \
             INSERT INTO sla.day_ended AS d (day, department, stage, ended, on_time) \
             SELECT (closed_at AT TIME ZONE $5)::date, COALESCE(department, 'centre'), stage, \
             count(*), count(*) FILTER (WHERE state = 'met') FROM closed \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 \
             ON CONFLICT (day, department, stage) DO UPDATE \
             SET ended = d.ended + EXCLUDED.ended, on_time = d.on_time + EXCLUDED.on_time",
        )
        .bind(&ids)
        .bind(&states)
        .bind(&ats)
        .bind(&seqs)
        .bind(crate::figures::TIME_ZONE)
        .execute(&mut *conn)
        .await?;
    }
    if !writes.pauses.is_empty() {
        let (mut ids, mut ats, mut remaining, mut warn) = (vec![], vec![], vec![], vec![]);
        for (id, at, r, w) in writes.pauses {
            ids.push(id);
            ats.push(at);
            remaining.push(r);
            warn.push(w);
        }
        sqlx::query(
            "UPDATE sla.clock AS c SET state = 'paused', paused_at = u.at,              remaining_ms = u.remaining, warn_remaining_ms = u.warn, next_step = NULL,              next_fire_at = NULL              FROM UNNEST($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[])              AS u(id, at, remaining, warn) WHERE c.id = u.id",
        )
        .bind(&ids)
        .bind(&ats)
        .bind(&remaining)
        .bind(&warn)
        .execute(&mut *conn)
        .await?;
    }
    if !writes.resumes.is_empty() {
        let (mut ids, mut due, mut warn, mut step, mut fire) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (id, d, w, s, f) in writes.resumes {
            ids.push(id);
            due.push(d);
            warn.push(w);
            step.push(s);
            fire.push(f);
        }
        sqlx::query(
            "UPDATE sla.clock AS c SET state = 'open', due_at = u.due, warn_at = u.warn,              paused_at = NULL, remaining_ms = NULL, warn_remaining_ms = NULL,              next_step = u.step, next_fire_at = u.fire              FROM UNNEST($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::text[],              $5::timestamptz[]) AS u(id, due, warn, step, fire) WHERE c.id = u.id",
        )
        .bind(&ids)
        .bind(&due)
        .bind(&warn)
        .bind(&step)
        .bind(&fire)
        .execute(&mut *conn)
        .await?;
    }
    store::schedule_batch(&mut *conn, &writes.opens).await?;
    Ok(())
}

fn plan_close(clock: &Clock, at: DateTime<Utc>, seq: i32, writes: &mut Writes) -> Emitted {
    // A paused clock is on time while it had time left when it stopped.
    let on_time = if clock.is_paused() {
        clock.remaining_ms.unwrap_or(0) > 0
    } else {
        at <= clock.due_at
    };
    writes
        .closes
        .push((clock.id, if on_time { "met" } else { "breached" }, at, seq));
    let mut event = sla_event(SlaEventKind::Met, clock, at);
    event.on_time = Some(on_time);
    emitted(clock.id, event)
}

fn plan_pause(
    clock: &Clock,
    at: DateTime<Utc>,
    cal: &crate::WorkCalendar,
    writes: &mut Writes,
) -> Emitted {
    let p = ladder::pause(
        at,
        clock.due_at,
        clock.warn_at,
        clock.level_raw,
        clock.calendar_hours,
        cal,
    );
    writes.pauses.push((
        clock.id,
        at,
        store::millis(p.remaining),
        p.warn_remaining.map(store::millis),
    ));
    emitted(clock.id, sla_event(SlaEventKind::Paused, clock, at))
}

fn plan_resume(engine: &Engine, clock: &Clock, at: DateTime<Utc>, writes: &mut Writes) -> Emitted {
    let paused = ladder::Paused {
        remaining: chrono::Duration::milliseconds(clock.remaining_ms.unwrap_or(0)),
        warn_remaining: clock.warn_remaining_ms.map(chrono::Duration::milliseconds),
    };
    let (due, warn) = ladder::resume(at, paused, clock.calendar_hours, &engine.calendar);
    let warn = warn.unwrap_or(clock.warn_at.min(due)).max(clock.started_at);
    let next = engine.ladder.next(
        clock.level_raw,
        warn,
        due,
        clock.department.is_some(),
        &engine.calendar,
    );
    writes.resumes.push((
        clock.id,
        due,
        warn,
        next.map(|(s, _)| s.as_str()),
        next.map(|(_, t)| t),
    ));
    let mut event = sla_event(SlaEventKind::Resumed, clock, at);
    event.due_at = due;
    emitted(clock.id, event)
}

/// An extension request or decision the event carries, recorded after the clocks moved.
async fn extension(
    engine: &Engine,
    tx: &mut Transaction<'_, Postgres>,
    event: &TicketEvent,
) -> Result<Option<Emitted>, SlaError> {
    let (no, seq, at) = (event.ticket.ticket_no, event.entry.seq, event.entry.at);
    match (&event.entry.action, &event.entry.actor) {
        (Some(Action::RequestExtension { reason, until }), Actor::Department { code }) => {
            record_request(tx, no, code, reason, *until, seq, at, None).await
        }
        (Some(Action::DecideExtension { approved, note }), actor) => {
            let by = match actor {
                Actor::Agent { id } => id.clone(),
                Actor::System { service } => format!("system:{service}"),
                _ => "unknown".to_owned(),
            };
            decide(engine, tx, no, *approved, note, &by, seq, at).await
        }
        _ => Ok(None),
    }
}

/// Records a pending extension request (from the responder right after the ledger accepted it,
/// or from the consumer when the `request_extension` event arrives; whichever is first). Returns
/// the `extension_requested` event when this call is the one that announces it.
#[allow(clippy::too_many_arguments)]
pub async fn record_request(
    tx: &mut Transaction<'_, Postgres>,
    no: TicketNo,
    department: &DeptCode,
    reason: &str,
    until: DateTime<Utc>,
    request_seq: i32,
    at: DateTime<Utc>,
    idempotency_key: Option<&str>,
) -> Result<Option<Emitted>, SlaError> {
    let running = store::running_clocks(tx, no, false).await?;
    let Some(clock) = running
        .iter()
        .find(|c| c.department.as_deref() == Some(department.as_str()))
    else {
        tracing::warn!(ticket = %no, "an extension request without a running clock of its department");
        return Ok(None);
    };
    // The consumer announces (announced = true); the responder only records, with its key.
    let announce = idempotency_key.is_none();
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO sla.extension (ticket_no, clock_id, department, reason, until, previous_due, \
         idempotency_key, request_seq, announced, requested_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(ticket_key(no))
    .bind(clock.id)
    .bind(department.as_str())
    .bind(reason)
    .bind(until)
    .bind(clock.due_at)
    .bind(idempotency_key)
    .bind(request_seq)
    .bind(announce)
    .bind(at)
    .fetch_optional(&mut **tx)
    .await?;
    let announce_now = match (inserted, idempotency_key) {
        (Some(_), _) => announce,
        // Recorded first by the other path: add what this one knows.
        (None, Some(key)) => {
            sqlx::query(
                "UPDATE sla.extension SET idempotency_key = COALESCE(idempotency_key, $3) \
                 WHERE ticket_no = $1 AND request_seq = $2",
            )
            .bind(ticket_key(no))
            .bind(request_seq)
            .bind(key)
            .execute(&mut **tx)
            .await?;
            false
        }
        (None, None) => sqlx::query_scalar::<_, i64>(
            "UPDATE sla.extension SET announced = true WHERE ticket_no = $1 AND request_seq = $2 \
             AND NOT announced RETURNING id",
        )
        .bind(ticket_key(no))
        .bind(request_seq)
        .fetch_optional(&mut **tx)
        .await?
        .is_some(),
    };
    if !announce_now {
        return Ok(None);
    }
    let mut event = sla_event(SlaEventKind::ExtensionRequested, clock, at);
    event.until = Some(until);
    Ok(Some(emitted(clock.id, event)))
}

/// Applies the centre's decision: approved moves the clock's deadline to the requested date
/// (and re-arms the ladder), denied keeps it.
#[allow(clippy::too_many_arguments)]
async fn decide(
    engine: &Engine,
    tx: &mut Transaction<'_, Postgres>,
    no: TicketNo,
    approved: bool,
    note: &str,
    by: &str,
    seq: i32,
    at: DateTime<Utc>,
) -> Result<Option<Emitted>, SlaError> {
    let row = sqlx::query(
        "UPDATE sla.extension SET status = $2, decided_at = $3, decided_by = $4, note = $5, \
         decision_seq = $6 WHERE ticket_no = $1 AND status = 'pending' RETURNING clock_id, until",
    )
    .bind(ticket_key(no))
    .bind(if approved { "approved" } else { "denied" })
    .bind(at)
    .bind(by)
    .bind(note)
    .bind(seq)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        tracing::warn!(ticket = %no, "an extension decision without a recorded request");
        return Ok(None);
    };
    let clock_id: i64 = row.try_get("clock_id")?;
    let until: DateTime<Utc> = row.try_get("until")?;
    let running = store::running_clocks(tx, no, true).await?;
    let Some(clock) = running.into_iter().find(|c| c.id == clock_id) else {
        return Ok(None);
    };
    let mut event = sla_event(SlaEventKind::ExtensionDecided, &clock, at);
    event.approved = Some(approved);
    event.until = Some(until);
    if approved {
        let (warn, level) = ladder::extend(
            at,
            clock.started_at,
            until,
            clock.level_raw,
            engine.policy.warning_share(),
            clock.calendar_hours,
            &engine.calendar,
        );
        if clock.is_paused() {
            // Not reachable through the ledger (no question while an extension is pending), but
            // kept consistent: the time left is measured to the new deadline.
            let paused_at = clock.paused_at.unwrap_or(at);
            let p = ladder::pause(
                paused_at,
                until,
                warn,
                level,
                clock.calendar_hours,
                &engine.calendar,
            );
            sqlx::query(
                "UPDATE sla.clock SET due_at = $2, warn_at = $3, level = $4, remaining_ms = $5, \
                 warn_remaining_ms = $6, extensions = extensions + 1 WHERE id = $1",
            )
            .bind(clock.id)
            .bind(until)
            .bind(warn)
            .bind(level)
            .bind(store::millis(p.remaining))
            .bind(p.warn_remaining.map(store::millis))
            .execute(&mut **tx)
            .await?;
        } else {
            let next = engine.ladder.next(
                level,
                warn,
                until,
                clock.department.is_some(),
                &engine.calendar,
            );
            sqlx::query(
                "UPDATE sla.clock SET due_at = $2, warn_at = $3, level = $4, next_step = $5, \
                 next_fire_at = $6, extensions = extensions + 1 WHERE id = $1",
            )
            .bind(clock.id)
            .bind(until)
            .bind(warn)
            .bind(level)
            .bind(next.map(|(s, _)| s.as_str()))
            .bind(next.map(|(_, t)| t))
            .execute(&mut **tx)
            .await?;
        }
        event.due_at = until;
    }
    Ok(Some(emitted(clock.id, event)))
}

/// The consumer's handler: decode, apply, and say whether to retry.
/// The consumer's group commit: the events its lanes hand over at the same moment are applied
/// in one transaction ([`apply_batch`]).
pub type Group = GroupCommit<TicketEvent, Result<Applied, SlaError>>;

/// Starts the group commit task for `engine` and `pool`.
pub fn group(engine: Arc<Engine>, pool: PgPool) -> Group {
    GroupCommit::spawn(256, 2, move |events: Vec<TicketEvent>| {
        let (engine, pool) = (engine.clone(), pool.clone());
        async move { apply_batch(&engine, &pool, &events).await }
    })
}

pub async fn handle(
    group: &Group,
    message: &async_nats::jetstream::Message,
) -> Result<(), HandleError> {
    let span = tracing::info_span!(
        "sla.ticket_event",
        otel.kind = "consumer",
        ticket = tracing::field::Empty,
        step = tracing::field::Empty
    );
    hotline_bus::trace::adopt(&span, message.headers.as_ref());
    let envelope: Envelope<TicketEvent> = Envelope::from_slice(&message.payload)
        .map_err(|e| HandleError::Reject(anyhow::anyhow!(e)))?;
    let event = envelope.data;
    span.record("ticket", tracing::field::display(event.ticket.ticket_no));
    span.record("step", event.entry.step.as_str());
    let applied = group
        .submit(event)
        .instrument(span)
        .await
        .map_err(|e| HandleError::Retry(anyhow::anyhow!(e)))?;
    applied.map(|_| ()).map_err(|e| match e {
        SlaError::Invalid(_) => HandleError::Reject(anyhow::anyhow!("{e}")),
        other => HandleError::Retry(anyhow::anyhow!("{other:#}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> DeptCode {
        DeptCode::parse(raw).expect("code")
    }

    #[test]
    fn each_status_has_its_clock() {
        let th = code("GZ-TH");
        assert_eq!(
            desired(Status::Received, None),
            Some((Stage::Dispatch, None, false))
        );
        assert_eq!(
            desired(Status::Dispatched, Some(&th)),
            Some((Stage::SignOff, Some(th.clone()), false))
        );
        assert_eq!(
            desired(Status::Returned, Some(&th)),
            Some((Stage::ReturnReview, None, false))
        );
        assert_eq!(
            desired(Status::Replied, Some(&th)),
            Some((Stage::Handling, Some(th.clone()), false))
        );
        assert_eq!(
            desired(Status::AwaitingCitizen, Some(&th)),
            Some((Stage::Handling, Some(th.clone()), true))
        );
        assert_eq!(
            desired(Status::Completed, None),
            Some((Stage::Callback, None, false))
        );
        for s in [
            Status::Surveyed,
            Status::Closed,
            Status::Answered,
            Status::Merged,
        ] {
            assert_eq!(desired(s, None), None, "{s}");
        }
    }

    #[test]
    fn urgency_comes_from_the_attribute() {
        let mut attrs = std::collections::BTreeMap::new();
        assert_eq!(urgency(&attrs), Urgency::Normal);
        attrs.insert("urgency".to_owned(), vec!["特急".to_owned()]);
        assert_eq!(urgency(&attrs), Urgency::Emergency);
        attrs.insert("urgency".to_owned(), vec!["urgent".to_owned()]);
        assert_eq!(urgency(&attrs), Urgency::Urgent);
        attrs.insert("urgency".to_owned(), vec!["whenever".to_owned()]);
        assert_eq!(urgency(&attrs), Urgency::Normal);
    }
}
