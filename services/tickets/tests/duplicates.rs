//! 并单 against real NATS and Postgres: the duplicate finder through the HTTP API (same citizen,
//! same place and matter, the windows, finished tickets left out, masking, roles), and the merge
//! in the ledger (a missing or finished target refused with its kind, both histories written,
//! the target's events carrying the merged tickets, chains followed).

mod common;

use common::send;

use std::time::Duration;

use futures::StreamExt as _;
use hotline_auth::Role;
use hotline_bus::rpc::{self, CallError};
use hotline_bus::{Bus, Envelope};
use hotline_domain::contract::{
    Citizen, CommandAccepted, CreateTicket, ErrorKind, GetTicket, Location, TicketCommand,
    TicketEvent, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, RequestType, ServiceCode, Status, TicketNo};
use serde_json::{Value, json};

/// The service (tests/common) and a pool on its database, to move a ticket's time back.
struct Running {
    service: common::Running,
    pool: sqlx::PgPool,
}

impl std::ops::Deref for Running {
    type Target = common::Running;
    fn deref(&self) -> &common::Running {
        &self.service
    }
}

async fn start() -> Running {
    let service = common::start().await;
    let pool = sqlx::PgPool::connect(&service.database_url)
        .await
        .expect("postgres");
    Running { service, pool }
}

impl Running {
    fn token(&self, role: Role) -> String {
        let dept = role.needs_department().then_some("GZ-TH");
        self.issuer.token(&format!("{role}-1"), &[role], dept)
    }

    async fn get(&self, role: Role, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token(role))
            .send()
            .await
            .expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, role: Role, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(role))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Moves a ticket's creation back in time (the ledger stamps it now).
    async fn age(&self, no: TicketNo, days: i64) {
        sqlx::query(
            "UPDATE tickets.ticket SET created_at = created_at - make_interval(days => $2::int) \
             WHERE ticket_no = $1",
        )
        .bind(no.as_u64() as i64)
        .bind(days as i32)
        .execute(&self.pool)
        .await
        .expect("aged");
    }

    async fn stop(self) {
        self.service.stop().await;
    }
}

/// What a test ticket is: its contact, place, matter and text.
#[derive(Default, Clone)]
struct Spec {
    phone: Option<&'static str>,
    address: Option<&'static str>,
    point: Option<(f64, f64)>,
    code: Option<&'static str>,
    text: &'static str,
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn create(bus: &Bus, spec: Spec) -> TicketNo {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let no = TicketNo::compose(261204, n).expect("no");
    let command = TicketCommand::Create {
        idempotency_key: format!("dup-create-{n}"),
        actor: Actor::Citizen {
            channel: Channel::Phone,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Phone,
            request_type: RequestType::Complaint,
            service_code: spec.code.map(|c| ServiceCode::parse(c).expect("code")),
            description: spec.text.into(),
            location: Location {
                address: spec.address.map(str::to_owned),
                lat: spec.point.map(|p| p.0),
                long: spec.point.map(|p| p.1),
                ..Location::default()
            },
            citizen: Citizen {
                phone: spec.phone.map(str::to_owned),
                ..Citizen::default()
            },
            confidential: false,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }),
    };
    send(bus, &command).await.expect("created");
    no
}

fn agent() -> Actor {
    Actor::Agent {
        id: "agent-dup".into(),
    }
}

async fn step(bus: &Bus, no: TicketNo, action: Action) -> Result<CommandAccepted, CallError> {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    send(
        bus,
        &TicketCommand::Act {
            idempotency_key: format!("dup-act-{n}"),
            actor: agent(),
            ticket_no: no,
            action,
        },
    )
    .await
}

/// Answered on the spot and archived: a finished ticket.
async fn close(bus: &Bus, no: TicketNo) {
    step(
        bus,
        no,
        Action::Answer {
            answer: "已答复".into(),
            knowledge_leaf: None,
        },
    )
    .await
    .expect("answered");
    step(bus, no, Action::Close).await.expect("closed");
}

fn numbers(answer: &Value) -> Vec<String> {
    answer["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["ticket"]["ticket_no"].as_str().expect("no").to_owned())
        .collect()
}

fn candidate(answer: &Value, no: TicketNo) -> &Value {
    answer["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["ticket"]["ticket_no"] == no.to_string())
        .unwrap_or_else(|| panic!("{no} not among {answer}"))
}

fn reason_kinds(candidate: &Value) -> Vec<String> {
    candidate["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["kind"].as_str().expect("kind").to_owned())
        .collect()
}

const PHONE: &str = "13800138000";
const LAMP: &str = "03.01.001";
const NOISE: &str = "05.02.003";

#[tokio::test]
async fn duplicates_are_the_same_citizen_or_place_and_matter_open_and_within_their_windows() {
    let r = start().await;
    let bus = &r.bus;
    let a = create(
        bus,
        Spec {
            phone: Some(PHONE),
            address: Some("广州市天河区体育西路103号"),
            code: Some(LAMP),
            text: "路灯不亮",
            ..Spec::default()
        },
    )
    .await;
    // The same citizen (with the country code) on another matter elsewhere.
    let same_citizen = create(
        bus,
        Spec {
            phone: Some("+8613800138000"),
            address: Some("海珠区江南大道中1号"),
            code: Some(NOISE),
            text: "夜间施工噪音",
            ..Spec::default()
        },
    )
    .await;
    // Someone else, the same matter, an address that contains A's.
    let same_place = create(
        bus,
        Spec {
            phone: Some("13900139000"),
            address: Some("体育西路103号B座门口"),
            code: Some(LAMP),
            text: "门口的灯坏了",
            ..Spec::default()
        },
    )
    .await;
    // Someone else at A's address on another matter.
    let other_matter = create(
        bus,
        Spec {
            phone: Some("13900139001"),
            address: Some("天河区体育西路103号"),
            code: Some(NOISE),
            text: "噪音扰民",
            ..Spec::default()
        },
    )
    .await;
    // The same citizen eight days ago, and the same place and matter four days ago.
    let old_citizen = create(
        bus,
        Spec {
            phone: Some(PHONE),
            address: Some("越秀区北京路1号"),
            text: "咨询社保",
            ..Spec::default()
        },
    )
    .await;
    r.age(old_citizen, 8).await;
    let old_place = create(
        bus,
        Spec {
            phone: Some("13900139002"),
            address: Some("体育西路103号"),
            code: Some(LAMP),
            text: "路灯不亮",
            ..Spec::default()
        },
    )
    .await;
    r.age(old_place, 4).await;
    // The same citizen, same place and matter, but finished.
    let closed = create(
        bus,
        Spec {
            phone: Some(PHONE),
            address: Some("体育西路103号"),
            code: Some(LAMP),
            text: "路灯不亮",
            ..Spec::default()
        },
    )
    .await;
    close(bus, closed).await;
    // No code, someone else, 44 m from the draft's point, like words.
    let nearby = create(
        bus,
        Spec {
            phone: Some("13900139003"),
            point: Some((23.1295, 113.2644)),
            text: "小区门口的路灯坏了",
            ..Spec::default()
        },
    )
    .await;

    let (status, answer) = r
        .get(Role::Agent, &format!("/v1/tickets/{a}/duplicates"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut found = numbers(&answer);
    found.sort();
    let mut expected = vec![same_citizen.to_string(), same_place.to_string()];
    expected.sort();
    assert_eq!(found, expected, "{answer:#}");
    assert_eq!(
        reason_kinds(candidate(&answer, same_citizen)),
        ["same_citizen"]
    );
    let place = candidate(&answer, same_place);
    assert_eq!(reason_kinds(place), ["same_place", "same_matter"]);
    assert_eq!(place["reasons"][0]["by"], "address_contained");
    assert_eq!(place["reasons"][1]["service_code"], LAMP);
    // Masked like every list of this API.
    assert_eq!(
        candidate(&answer, same_citizen)["ticket"]["citizen"]["phone"],
        "+86****8000"
    );
    assert_eq!(place["ticket"]["citizen"]["phone"], "139****9000");
    let _ = other_matter;

    // A draft on the phone during a call: the caller, and a place given by coordinates.
    let draft = json!({
        "phone": "138 0013 8000",
        "lat": 23.1291, "long": 113.2644,
        "description": "小区门口路灯坏了，晚上很黑",
    });
    let (status, answer) = r.post(Role::Agent, "/v1/duplicates", &draft).await;
    assert_eq!(status, 200, "{answer}");
    let mut found = numbers(&answer);
    found.sort();
    let mut expected = vec![a.to_string(), same_citizen.to_string(), nearby.to_string()];
    expected.sort();
    assert_eq!(found, expected, "{answer:#}");
    let near = candidate(&answer, nearby);
    assert_eq!(reason_kinds(near), ["same_place", "similar_text"]);
    assert_eq!(near["reasons"][0]["by"], "nearby");
    let metres = near["reasons"][0]["distance_m"].as_u64().expect("metres");
    assert!((40..=50).contains(&metres), "{metres}");
    let scores: Vec<f64> = answer["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // Who may look: the people who merge; a dispatcher not by a person's phone number.
    let (status, _) = r
        .get(Role::Dispatcher, &format!("/v1/tickets/{a}/duplicates"))
        .await;
    assert_eq!(status, 200);
    let (status, _) = r.post(Role::Dispatcher, "/v1/duplicates", &draft).await;
    assert_eq!(status, 403);
    let (status, answer) = r
        .post(
            Role::Dispatcher,
            "/v1/duplicates",
            &json!({"address": "体育西路103号", "service_code": LAMP}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(numbers(&answer).contains(&a.to_string()), "{answer}");
    let (status, _) = r
        .get(
            Role::DepartmentStaff,
            &format!("/v1/tickets/{a}/duplicates"),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = r.post(Role::Agent, "/v1/duplicates", &json!({})).await;
    assert_eq!(status, 400);
    let missing = TicketNo::compose(261204, 999_999).expect("no");
    let (status, _) = r
        .get(Role::Agent, &format!("/v1/tickets/{missing}/duplicates"))
        .await;
    assert_eq!(status, 404);
    r.stop().await;
}

/// Every event the stream holds for `no`, oldest first.
async fn events_of(bus: &Bus, no: TicketNo, at_least: usize) -> Vec<TicketEvent> {
    let stream = bus
        .js
        .get_stream(bus.subjects.tickets_stream())
        .await
        .expect("stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < at_least {
        let m = tokio::time::timeout_at(deadline, messages.next())
            .await
            .expect("events in time")
            .expect("some")
            .expect("ok");
        let e: Envelope<TicketEvent> = Envelope::from_slice(&m.payload).expect("envelope");
        if e.data.ticket.ticket_no == no {
            seen.push(e.data);
        }
    }
    seen
}

async fn history(bus: &Bus, no: TicketNo) -> TicketWithHistory {
    rpc::call(
        bus,
        bus.subjects.ticket_get(),
        &GetTicket {
            ticket_no: no,
            as_department: None,
        },
        Duration::from_secs(5),
    )
    .await
    .expect("get")
}

#[tokio::test]
async fn a_merge_needs_an_open_target_and_is_recorded_on_both_tickets() {
    let r = start().await;
    let bus = &r.bus;
    let spec = || Spec {
        phone: Some(PHONE),
        address: Some("体育西路103号"),
        text: "路灯不亮",
        ..Spec::default()
    };
    let x = create(bus, spec()).await;
    let target = create(bus, spec()).await;
    let finished = create(bus, spec()).await;
    close(bus, finished).await;
    let merge = |into| Action::Merge { into };

    let missing = TicketNo::compose(261204, 999_998).expect("no");
    let refused = step(bus, x, merge(missing))
        .await
        .expect_err("no such target");
    assert_eq!(refused.kind(), ErrorKind::NotFound, "{refused}");
    let refused = step(bus, x, merge(finished))
        .await
        .expect_err("a closed target");
    assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");
    let refused = step(bus, x, merge(x)).await.expect_err("itself");
    assert_eq!(refused.kind(), ErrorKind::Invalid, "{refused}");
    // The target's side is the ledger's to write.
    let refused = step(bus, target, Action::MergedFrom { from: x })
        .await
        .expect_err("never sent");
    assert_eq!(refused.kind(), ErrorKind::Invalid, "{refused}");
    assert_eq!(history(bus, x).await.ticket.status, Status::Received);
    assert_eq!(history(bus, target).await.history.len(), 1);

    let merged = step(bus, x, merge(target)).await.expect("merged");
    assert_eq!(merged.status, Status::Merged);
    let x_steps = history(bus, x).await.history;
    assert_eq!(
        x_steps.last().and_then(|h| h.action.clone()),
        Some(Action::Merge { into: target })
    );
    let t = history(bus, target).await;
    assert_eq!(
        t.ticket.status,
        Status::Received,
        "the target's state stays"
    );
    let last = t.history.last().expect("an entry");
    assert_eq!(last.step, "merged_from");
    assert_eq!(last.action, Some(Action::MergedFrom { from: x }));
    // A merged ticket is finished: nothing more merges into it, nor is it merged again.
    let late = create(bus, spec()).await;
    let refused = step(bus, late, merge(x)).await.expect_err("x is merged");
    assert_eq!(refused.kind(), ErrorKind::Conflict);

    // The target merged on: its citizens and the ones merged into it follow.
    let last_target = create(bus, spec()).await;
    step(bus, target, merge(last_target))
        .await
        .expect("merged on");
    step(
        bus,
        last_target,
        Action::Dispatch {
            lead: hotline_domain::DeptCode::parse("GZ-TH").expect("code"),
            co: vec![],
            note: String::new(),
        },
    )
    .await
    .expect("dispatched");
    let events = events_of(bus, last_target, 3).await;
    let steps: Vec<&str> = events.iter().map(|e| e.entry.step.as_str()).collect();
    assert_eq!(steps, ["created", "merged_from", "dispatch"]);
    assert!(events[0].merged_from.is_empty());
    let mut carried = events[2].merged_from.clone();
    carried.sort();
    let mut expected = vec![x, target];
    expected.sort();
    assert_eq!(carried, expected, "the chain rides on the target's events");
    let target_events = events_of(bus, target, 3).await;
    assert_eq!(target_events[1].merged_from, [x]);
    assert_eq!(target_events[2].entry.step, "merge");
    r.stop().await;
}
