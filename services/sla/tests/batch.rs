//! The consumer's group commit applies a batch of many tickets' events with a handful of
//! statements; what it leaves in the database must be what applying the same events one at a
//! time leaves. Two fresh databases, the same rounds of events (each ticket's next step, some
//! redeliveries of older ones, so a batch holds a ticket twice), compared row by row.

mod common;

use chrono::{DateTime, Duration as Span, TimeZone as _, Utc};
use common::{code, engine, ticket};
use hotline_domain::contract::{HistoryEntry, Location, TicketEvent, TicketView};
use hotline_domain::{Action, Actor, Channel, RequestType, Status, TicketNo};
use hotline_sla::consumer::{Applied, apply, apply_batch};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

fn base() -> DateTime<Utc> {
    // A Tuesday morning, working hours in Guangzhou.
    Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0)
        .single()
        .expect("time")
}

/// One step of a ticket's life as the ledger reports it.
struct Step {
    status: Status,
    lead: Option<&'static str>,
    action: Option<Action>,
    actor: Actor,
}

fn step(status: Status, lead: Option<&'static str>) -> Step {
    Step {
        status,
        lead,
        action: None,
        actor: Actor::system("test"),
    }
}

fn event(no: TicketNo, seq: i32, s: &Step) -> TicketEvent {
    let at = base() + Span::minutes(i64::from(seq) * 37);
    let mut attributes = std::collections::BTreeMap::new();
    if no.as_u64().is_multiple_of(3) {
        attributes.insert("urgency".to_owned(), vec!["紧急".to_owned()]);
    }
    TicketEvent {
        event_id: Uuid::now_v7(),
        entry: HistoryEntry {
            seq,
            at,
            actor: s.actor.clone(),
            step: s
                .action
                .as_ref()
                .map(|a| a.name().to_owned())
                .unwrap_or("created".into()),
            action: s.action.clone(),
            from: None,
            to: s.status,
        },
        ticket: TicketView {
            ticket_no: no,
            status: s.status,
            channel: Channel::Web,
            request_type: if no.as_u64().is_multiple_of(2) {
                RequestType::Complaint
            } else {
                RequestType::HelpRequest
            },
            service_code: None,
            description: "d".into(),
            location: Location::default(),
            citizen: Default::default(),
            confidential: false,
            lead: s.lead.map(code),
            co: vec![],
            attributes,
            media_url: None,
            created_at: at,
            updated_at: at,
            held: false,
            extension_pending: false,
        },
        merged_from: Vec::new(),
    }
}

/// Four lives: the plain loop with a pause; a return, redispatch and an approved extension; a
/// first event while waiting on the citizen; one closed straight from received.
fn life(kind: u64) -> Vec<Step> {
    use Status::*;
    let th = Some("GZ-TH");
    let yx = Some("GZ-YX");
    match kind % 4 {
        0 => vec![
            step(Received, None),
            step(Dispatched, th),
            step(Accepted, th),
            step(AwaitingCitizen, th),
            step(InProgress, th),
            step(Completed, th),
            step(Closed, th),
        ],
        1 => vec![
            step(Received, None),
            step(Dispatched, th),
            step(Returned, None),
            step(Dispatched, yx),
            step(Accepted, yx),
            Step {
                status: Accepted,
                lead: yx,
                action: Some(Action::RequestExtension {
                    reason: "r".into(),
                    until: base() + Span::days(20),
                }),
                actor: Actor::Department {
                    code: code("GZ-YX"),
                },
            },
            Step {
                status: Accepted,
                lead: yx,
                action: Some(Action::DecideExtension {
                    approved: true,
                    note: String::new(),
                }),
                actor: Actor::Agent {
                    id: "supervisor1".into(),
                },
            },
            step(Replied, yx),
            step(Completed, yx),
        ],
        2 => vec![
            step(AwaitingCitizen, th),
            step(InProgress, th),
            step(Closed, th),
        ],
        _ => vec![step(Received, None), step(Closed, None)],
    }
}

/// What a database holds after the events: clocks, the SLA event log and extensions, in an
/// order that does not depend on ids.
async fn state(pool: &PgPool) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query(
        "SELECT ticket_no, stage, coalesce(department, ''), state, due_at, warn_at, \
         coalesce(next_step, ''), next_fire_at, paused_at, remaining_ms, warn_remaining_ms, \
         closed_at, closed_seq, opened_seq, level, extensions FROM sla.clock",
    )
    .fetch_all(pool)
    .await
    .expect("clocks")
    .iter()
    .map(|r| {
        format!(
            "clock {} {} {} {} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {} {}",
            r.get::<i64, _>(0),
            r.get::<String, _>(1),
            r.get::<String, _>(2),
            r.get::<String, _>(3),
            r.get::<DateTime<Utc>, _>(4),
            r.get::<DateTime<Utc>, _>(5),
            r.get::<String, _>(6),
            r.get::<Option<DateTime<Utc>>, _>(7),
            r.get::<Option<DateTime<Utc>>, _>(8),
            r.get::<Option<i64>, _>(9),
            r.get::<Option<i64>, _>(10),
            r.get::<Option<DateTime<Utc>>, _>(11),
            r.get::<Option<i32>, _>(12),
            r.get::<Option<i32>, _>(13),
            r.get::<i16, _>(14),
            r.get::<i32, _>(15),
        )
    })
    .collect();
    rows.extend(
        sqlx::query("SELECT ticket_no, kind, stage FROM sla.event_log")
            .fetch_all(pool)
            .await
            .expect("event log")
            .iter()
            .map(|r| {
                format!(
                    "event {} {} {}",
                    r.get::<i64, _>(0),
                    r.get::<String, _>(1),
                    r.get::<String, _>(2)
                )
            }),
    );
    rows.extend(
        sqlx::query("SELECT ticket_no, department, status, until, previous_due FROM sla.extension")
            .fetch_all(pool)
            .await
            .expect("extensions")
            .iter()
            .map(|r| {
                format!(
                    "extension {} {} {} {:?} {:?}",
                    r.get::<i64, _>(0),
                    r.get::<String, _>(1),
                    r.get::<String, _>(2),
                    r.get::<DateTime<Utc>, _>(3),
                    r.get::<DateTime<Utc>, _>(4),
                )
            }),
    );
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_leaves_what_one_event_at_a_time_leaves() {
    let together = common::db().await;
    let alone = common::db().await;
    let engine = engine(&together.env.namespace);

    let tickets: Vec<(TicketNo, Vec<TicketEvent>)> = (0..40u64)
        .map(|i| {
            let no = ticket(500 + i);
            let events = life(i)
                .iter()
                .enumerate()
                .map(|(k, s)| event(no, k as i32 + 1, s))
                .collect();
            (no, events)
        })
        .collect();
    let longest = tickets.iter().map(|(_, e)| e.len()).max().unwrap_or(0);
    let mut rounds_seen = 0;
    let mut duplicates = 0;
    for round in 0..longest + 2 {
        // Each ticket's next step, and for every fifth ticket the step before last again (a
        // redelivery), in the same batch.
        let mut batch = Vec::new();
        for (i, (_, events)) in tickets.iter().enumerate() {
            if let Some(e) = events.get(round) {
                batch.push(e.clone());
            }
            if i.is_multiple_of(5)
                && round >= 2
                && let Some(e) = events.get(round - 2)
            {
                batch.push(e.clone());
            }
        }
        if batch.is_empty() {
            continue;
        }
        rounds_seen += 1;
        let batched: Vec<Applied> = apply_batch(&engine, &together.pool, &batch)
            .await
            .into_iter()
            .map(|r| r.expect("applied in the batch"))
            .collect();
        let mut single = Vec::new();
        for e in &batch {
            single.push(apply(&engine, &alone.pool, e).await.expect("applied alone"));
        }
        assert_eq!(batched, single, "round {round}");
        duplicates += batched.iter().filter(|a| **a == Applied::Duplicate).count();
    }
    assert!(rounds_seen >= 9);
    assert!(duplicates >= 8, "the redeliveries were not in the batches");

    let (a, b) = (state(&together.pool).await, state(&alone.pool).await);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    // The lives did what they should: paused and resumed clocks, an approved extension, a
    // clock opened paused.
    let has = |what: &str| a.iter().any(|r| r.contains(what));
    assert!(
        has("event") && has(" paused ") && has(" resumed "),
        "{a:#?}"
    );
    assert!(has("extension") && has(" approved "), "{a:#?}");
    let opened_paused = a
        .iter()
        .filter(|r| r.starts_with("clock") && r.contains(" handling GZ-TH met "))
        .count();
    assert!(opened_paused > 0, "{a:#?}");
    // A resumed clock warns before its deadline, as the pause left it.
    let resumed: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT c.warn_at, c.due_at FROM sla.clock c JOIN sla.event_log e \
         ON e.clock_id = c.id AND e.kind = 'resumed'",
    )
    .fetch_all(&together.pool)
    .await
    .expect("resumed clocks");
    assert!(!resumed.is_empty());
    for (warn, due) in resumed {
        assert!(warn < due, "warned at {warn}, due {due}");
    }
}
