//! The ticket-event consumer's transaction against a real Postgres: idempotent by history seq.

mod common;

use chrono::{Duration as Span, Utc};
use common::{code, db, engine, ticket};
use hotline_domain::contract::{HistoryEntry, Location, TicketEvent, TicketView};
use hotline_domain::{Action, Actor, Channel, RequestType, Status, TicketNo};
use hotline_sla::consumer::{Applied, apply};
use uuid::Uuid;

fn event(
    no: TicketNo,
    seq: i32,
    action: Option<Action>,
    status: Status,
    lead: Option<&str>,
) -> TicketEvent {
    let at = Utc::now() - Span::minutes(10) + Span::seconds(i64::from(seq));
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert("urgency".to_owned(), vec!["特急".to_owned()]);
    TicketEvent {
        event_id: Uuid::now_v7(),
        entry: HistoryEntry {
            seq,
            at,
            actor: Actor::system("test"),
            step: action
                .as_ref()
                .map(|a| a.name().to_owned())
                .unwrap_or("created".into()),
            action,
            from: None,
            to: status,
        },
        ticket: TicketView {
            ticket_no: no,
            status,
            channel: Channel::Web,
            request_type: RequestType::HelpRequest,
            service_code: None,
            description: "d".into(),
            location: Location::default(),
            citizen: Default::default(),
            confidential: false,
            lead: lead.map(code),
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

#[tokio::test]
async fn redelivered_and_stale_events_change_nothing() {
    let db = db().await;
    let engine = engine(&db.env.namespace);
    let no = ticket(77);
    let created = event(no, 1, None, Status::Received, None);
    assert_eq!(
        apply(&engine, &db.pool, &created).await.expect("applied"),
        Applied::Done
    );
    assert_eq!(
        apply(&engine, &db.pool, &created).await.expect("applied"),
        Applied::Duplicate
    );
    let dispatch = event(
        no,
        2,
        Some(Action::Dispatch {
            lead: code("GZ-TH"),
            co: vec![],
            note: String::new(),
        }),
        Status::Dispatched,
        Some("GZ-TH"),
    );
    assert_eq!(
        apply(&engine, &db.pool, &dispatch).await.expect("applied"),
        Applied::Done
    );
    // The stale `created` again (a late redelivery) does not reopen the dispatch clock.
    assert_eq!(
        apply(&engine, &db.pool, &created).await.expect("applied"),
        Applied::Duplicate
    );
    let clocks = hotline_sla::store::ticket_clocks(&db.pool, no)
        .await
        .expect("clocks");
    assert_eq!(clocks.len(), 2);
    assert_eq!(
        (clocks[0].stage.as_str(), clocks[0].state.as_str()),
        ("dispatch", "met")
    );
    assert_eq!(
        (clocks[1].stage.as_str(), clocks[1].state.as_str()),
        ("sign_off", "open")
    );
    // 特急: sign-off within 1 calendar hour.
    assert_eq!(clocks[1].limit, "1 calendar hour");
    assert_eq!(clocks[1].due_at - clocks[1].started_at, Span::hours(1));
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM sla.event_log WHERE kind = 'met'")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(logged, 1);
}

#[tokio::test]
async fn a_ticket_first_seen_mid_loop_gets_the_clock_of_its_state() {
    let db = db().await;
    let engine = engine(&db.env.namespace);
    let no = ticket(78);
    // SLA was down while the ticket was created and dispatched: the first event it sees is
    // a request for information.
    let waiting = event(
        no,
        5,
        Some(Action::RequestInformation {
            question: "q".into(),
        }),
        Status::AwaitingCitizen,
        Some("GZ-TH"),
    );
    apply(&engine, &db.pool, &waiting).await.expect("applied");
    let clocks = hotline_sla::store::ticket_clocks(&db.pool, no)
        .await
        .expect("clocks");
    assert_eq!(clocks.len(), 1);
    assert_eq!(
        (clocks[0].stage.as_str(), clocks[0].state.as_str()),
        ("handling", "paused")
    );
    assert_eq!(clocks[0].next_fire_at, None);
    // Closing: the ticket is closed by the centre; no clock runs on.
    let closed = event(no, 9, Some(Action::Close), Status::Closed, None);
    apply(&engine, &db.pool, &closed).await.expect("applied");
    let clocks = hotline_sla::store::ticket_clocks(&db.pool, no)
        .await
        .expect("clocks");
    assert_eq!(clocks[0].state, "met", "paused with time left: on time");
}
