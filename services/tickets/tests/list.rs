//! `GET /v1/tickets` against real NATS and Postgres: a returned ticket's row carries the return
//! waiting for review (the latest of several), and no other row carries one; a ticket says
//! whether its extension request waits for a decision.

use hotline_auth::Role;
use hotline_bus::Bus;
use hotline_domain::contract::{Citizen, CreateTicket, Location, TicketCommand};
use hotline_domain::ticket::ReturnDecision;
use hotline_domain::{Action, Actor, Channel, DeptCode, RequestType, TicketNo};
use serde_json::Value;

mod common;

use common::{send, start};

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

async fn create(bus: &Bus) -> TicketNo {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let no = TicketNo::compose(261213, n).expect("no");
    let command = TicketCommand::Create {
        idempotency_key: format!("list-create-{n}"),
        actor: Actor::Citizen {
            channel: Channel::Phone,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Phone,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "路灯不亮".into(),
            location: Location {
                address: Some("天河区天河路1号".into()),
                ..Location::default()
            },
            citizen: Citizen {
                phone: Some("13800138000".into()),
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

async fn step(bus: &Bus, no: TicketNo, actor: Actor, action: Action) {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = action.name();
    send(
        bus,
        &TicketCommand::Act {
            idempotency_key: format!("list-act-{n}"),
            actor,
            ticket_no: no,
            action,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{name} on {no}: {e:?}"));
}

fn dispatcher() -> Actor {
    Actor::Agent {
        id: "dispatcher-1".into(),
    }
}

fn tianhe() -> Actor {
    Actor::Department {
        code: DeptCode::parse("GZ-TH").expect("code"),
    }
}

async fn dispatch(bus: &Bus, no: TicketNo) {
    let action = Action::Dispatch {
        lead: DeptCode::parse("GZ-TH").expect("code"),
        co: Vec::new(),
        note: String::new(),
    };
    step(bus, no, dispatcher(), action).await;
}

async fn give_back(bus: &Bus, no: TicketNo, reason: &str) {
    let action = Action::Return {
        reason: reason.into(),
    };
    step(bus, no, tianhe(), action).await;
}

async fn uphold(bus: &Bus, no: TicketNo) {
    let action = Action::ReviewReturn {
        ruling: ReturnDecision::Uphold,
        note: "仍属本区".into(),
    };
    step(bus, no, dispatcher(), action).await;
}

fn row(list: &Value, no: TicketNo) -> &Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|r| r["ticket_no"] == no.to_string())
        .unwrap_or_else(|| panic!("{no} not in {list}"))
}

#[tokio::test]
async fn a_returned_tickets_row_carries_its_latest_return_and_no_other_row_carries_one() {
    let r = start().await;
    // Returned twice: the department gave it back, the dispatcher upheld that, and the
    // department gave it back again. The review is of the second return.
    let twice = create(&r.bus).await;
    dispatch(&r.bus, twice).await;
    give_back(&r.bus, twice, "第一次：不属本区").await;
    uphold(&r.bus, twice).await;
    give_back(&r.bus, twice, "第二次：属海珠区辖区").await;
    // Never returned.
    let never = create(&r.bus).await;
    dispatch(&r.bus, never).await;
    // Returned once, then upheld: back with the department, nothing waiting for review.
    let upheld = create(&r.bus).await;
    dispatch(&r.bus, upheld).await;
    give_back(&r.bus, upheld, "不属本区").await;
    uphold(&r.bus, upheld).await;

    let token = r.issuer.token("dispatcher-1", &[Role::Dispatcher], None);
    let (status, list) = r
        .get(&token, "/v1/tickets?status=returned,dispatched&limit=100")
        .await;
    assert_eq!(status, 200, "{list}");
    let returned = row(&list, twice);
    assert_eq!(returned["status"], "returned");
    let last = &returned["last_return"];
    assert_eq!(last["reason"], "第二次：属海珠区辖区", "{returned}");
    assert_eq!(last["department"], "GZ-TH");
    // The step's own time, as the ticket's history has it.
    let (status, one) = r.get(&token, &format!("/v1/tickets/{twice}")).await;
    assert_eq!(status, 200, "{one}");
    let latest = one["history"]
        .as_array()
        .expect("history")
        .iter()
        .rev()
        .find(|e| e["step"] == "return")
        .expect("a return step");
    assert_eq!(last["at"], latest["at"]);
    // The rest of the row is the ticket as before, contact masked.
    assert_eq!(returned["description"], "路灯不亮");
    assert_ne!(returned["citizen"]["phone"], "13800138000");

    for no in [never, upheld] {
        let other = row(&list, no);
        assert_eq!(other["status"], "dispatched");
        assert!(
            other.get("last_return").is_none(),
            "only a returned ticket's row carries its return: {other}"
        );
    }

    // The department's staff list their tickets the same way (the return is theirs).
    let staff = r
        .issuer
        .token("th-1", &[Role::DepartmentStaff], Some("GZ-TH"));
    let (status, list) = r.get(&staff, "/v1/tickets?status=returned").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        row(&list, twice)["last_return"]["reason"],
        "第二次：属海珠区辖区"
    );
    r.stop().await;
}

/// The ledger says whether the lead's request for more time waits for the centre's decision,
/// on the ticket and on its list row, from the request until the decision only.
#[tokio::test]
async fn a_ticket_says_its_extension_request_is_pending_until_it_is_decided() {
    let r = start().await;
    let no = create(&r.bus).await;
    dispatch(&r.bus, no).await;
    step(&r.bus, no, tianhe(), Action::Accept).await;
    let token = r.issuer.token("dispatcher-1", &[Role::Dispatcher], None);
    let pending = |v: &Value| v.get("extension_pending").and_then(Value::as_bool);

    let (status, one) = r.get(&token, &format!("/v1/tickets/{no}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(pending(&one["ticket"]), None, "nothing asked yet: {one}");

    let until = chrono::Utc::now() + chrono::Duration::days(10);
    let ask = Action::RequestExtension {
        reason: "需协调多个部门".into(),
        until,
    };
    step(&r.bus, no, tianhe(), ask).await;
    let (_, one) = r.get(&token, &format!("/v1/tickets/{no}")).await;
    assert_eq!(pending(&one["ticket"]), Some(true), "{one}");
    let (_, list) = r.get(&token, "/v1/tickets?status=accepted&limit=100").await;
    assert_eq!(pending(row(&list, no)), Some(true), "{list}");

    let decide = Action::DecideExtension {
        approved: true,
        note: String::new(),
    };
    step(&r.bus, no, dispatcher(), decide).await;
    let (_, one) = r.get(&token, &format!("/v1/tickets/{no}")).await;
    assert_eq!(pending(&one["ticket"]), None, "decided: {one}");
    r.stop().await;
}
