//! The ledger against real NATS and Postgres: commands, idempotency, refusals, events, queries.

mod common;

use std::time::Duration;

use futures::StreamExt as _;
use hotline_bus::Envelope;
use hotline_bus::rpc;
use hotline_domain::contract::{
    CreateTicket, ErrorKind, GetTicket, Location, TicketCommand, TicketEvent, TicketQuery,
    TicketView, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, DeptCode, RequestType, Status, TicketNo};

use common::{send, start};

fn create(no: TicketNo, key: &str) -> TicketCommand {
    TicketCommand::Create {
        idempotency_key: key.to_owned(),
        actor: Actor::Citizen {
            channel: Channel::Web,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Web,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "street lamp out".into(),
            location: Location {
                address: Some("天河区天河路1号".into()),
                ..Location::default()
            },
            citizen: hotline_domain::contract::Citizen {
                phone: Some("13800138000".into()),
                ..Default::default()
            },
            confidential: false,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }),
    }
}

fn act(no: TicketNo, key: &str, actor: Actor, action: Action) -> TicketCommand {
    TicketCommand::Act {
        idempotency_key: key.to_owned(),
        actor,
        ticket_no: no,
        action,
    }
}

fn dept(code: &str) -> DeptCode {
    DeptCode::parse(code).expect("code")
}

#[tokio::test]
async fn commands_are_idempotent_refusals_are_typed_and_events_follow_in_order() {
    let r = start().await;
    let bus = &r.bus;
    let no = TicketNo::compose(261129, 11).expect("no");
    let first = send(bus, &create(no, "k-create")).await.expect("created");
    assert_eq!(
        (first.status, first.seq, first.replayed),
        (Status::Received, 1, false)
    );
    let again = send(bus, &create(no, "k-create")).await.expect("replayed");
    assert!(again.replayed);
    assert_eq!(again.ticket_no, no);
    // The same number under another key is a conflict, not a second ticket.
    let dup = send(bus, &create(no, "k-other")).await.expect_err("taken");
    assert_eq!(dup.kind(), ErrorKind::Conflict);

    let agent = Actor::Agent {
        id: "agent-7".into(),
    };
    let th = Actor::Department {
        code: dept("GZ-TH"),
    };
    let hz = Actor::Department {
        code: dept("GZ-HZ"),
    };
    send(
        bus,
        &act(
            no,
            "k-d",
            agent.clone(),
            Action::Dispatch {
                lead: dept("GZ-TH"),
                co: vec![],
                note: String::new(),
            },
        ),
    )
    .await
    .expect("dispatch");
    let refused = send(bus, &act(no, "k-x", hz.clone(), Action::Accept))
        .await
        .expect_err("not HZ's ticket");
    assert_eq!(refused.kind(), ErrorKind::Forbidden);
    let illegal = send(
        bus,
        &act(
            no,
            "k-c",
            th.clone(),
            Action::Complete {
                note: String::new(),
            },
        ),
    )
    .await
    .expect_err("not replied");
    assert_eq!(illegal.kind(), ErrorKind::Conflict);
    send(bus, &act(no, "k-a", th.clone(), Action::Accept))
        .await
        .expect("accept");
    send(
        bus,
        &act(
            no,
            "k-r",
            th.clone(),
            Action::Reply {
                text: "lamp fixed".into(),
            },
        ),
    )
    .await
    .expect("reply");
    let done = send(
        bus,
        &act(
            no,
            "k-f",
            th.clone(),
            Action::Complete {
                note: String::new(),
            },
        ),
    )
    .await
    .expect("complete");
    assert_eq!((done.status, done.seq), (Status::Completed, 5));
    // Retrying an old command does not move the ticket again.
    let replay = send(bus, &act(no, "k-a", th.clone(), Action::Accept))
        .await
        .expect("replay");
    assert!(replay.replayed);
    assert_eq!(
        replay.status,
        Status::Accepted,
        "the first reply, not a new transition"
    );

    let got: TicketWithHistory = rpc::call(
        bus,
        bus.subjects.ticket_get(),
        &GetTicket {
            ticket_no: no,
            as_department: Some(dept("GZ-TH")),
        },
        Duration::from_secs(5),
    )
    .await
    .expect("get");
    let steps: Vec<&str> = got.history.iter().map(|h| h.step.as_str()).collect();
    assert_eq!(
        steps,
        ["created", "dispatch", "accept", "reply", "complete"]
    );
    let forbidden = rpc::call::<_, TicketWithHistory>(
        bus,
        bus.subjects.ticket_get(),
        &GetTicket {
            ticket_no: no,
            as_department: Some(dept("GZ-HZ")),
        },
        Duration::from_secs(5),
    )
    .await
    .expect_err("HZ never held it");
    assert_eq!(forbidden.kind(), ErrorKind::Forbidden);
    let mine: Vec<TicketView> = rpc::call(
        bus,
        bus.subjects.ticket_list(),
        &TicketQuery {
            department: Some(dept("GZ-TH")),
            ..Default::default()
        },
        Duration::from_secs(5),
    )
    .await
    .expect("list");
    assert_eq!(mine.len(), 1);
    let theirs: Vec<TicketView> = rpc::call(
        bus,
        bus.subjects.ticket_list(),
        &TicketQuery {
            department: Some(dept("GZ-HZ")),
            ..Default::default()
        },
        Duration::from_secs(5),
    )
    .await
    .expect("list");
    assert!(theirs.is_empty());

    // The outbox relay published every step, in order, exactly once.
    let stream = bus
        .js
        .get_stream(bus.subjects.tickets_stream())
        .await
        .expect("stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut seen = Vec::new();
    let mut messages = consumer.messages().await.expect("messages");
    while seen.len() < 5 {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("event in time")
            .expect("some")
            .expect("ok");
        let e: Envelope<TicketEvent> = Envelope::from_slice(&m.payload).expect("envelope");
        assert!(
            m.headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .is_some()
        );
        seen.push(e.data.entry.step.clone());
        m.ack().await.expect("ack");
    }
    assert_eq!(seen, ["created", "dispatch", "accept", "reply", "complete"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), messages.next())
            .await
            .is_err(),
        "no duplicate events"
    );

    r.stop().await;
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_ticket() {
    let r = start().await;
    let bus = &r.bus;
    let no = TicketNo::compose(261129, 99).expect("no");
    let cmd = create(no, "same-key");
    let attempts = futures::future::join_all((0..20).map(|_| send(bus, &cmd))).await;
    let ok: Vec<_> = attempts
        .into_iter()
        .map(|a| a.expect("each attempt answered"))
        .collect();
    assert!(ok.iter().all(|a| a.ticket_no == no));
    assert_eq!(
        ok.iter().filter(|a| !a.replayed).count(),
        1,
        "exactly one attempt created it"
    );
    r.stop().await;
}

#[tokio::test]
async fn a_taken_number_is_refused_without_burning_the_key_and_the_day_high_water_is_reported() {
    let r = start().await;
    let bus = &r.bus;
    let taken = TicketNo::compose(261129, 500).expect("no");
    send(bus, &create(taken, "first")).await.expect("created");
    let high: u64 = rpc::call(
        bus,
        bus.subjects.ticket_max_sequence(),
        &261129u32,
        Duration::from_secs(5),
    )
    .await
    .expect("max");
    assert_eq!(high, 500);
    let none: u64 = rpc::call(
        bus,
        bus.subjects.ticket_max_sequence(),
        &261130u32,
        Duration::from_secs(5),
    )
    .await
    .expect("max");
    assert_eq!(none, 0);
    // A stale number under a new key is refused, and the refusal is not remembered for the key:
    // the caller's retry with a fresh number goes through.
    let refused = send(bus, &create(taken, "second"))
        .await
        .expect_err("number taken");
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    let fresh = TicketNo::compose(261129, 501).expect("no");
    let ok = send(bus, &create(fresh, "second"))
        .await
        .expect("fresh number accepted under the same key");
    assert_eq!((ok.ticket_no, ok.replayed), (fresh, false));
    r.stop().await;
}
