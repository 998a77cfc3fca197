//! `GET /v1/messages` against real NATS and Postgres: the newest contacts by message (new
//! tickets from every channel but the phone, a citizen's addition recorded by intake), newest
//! first, cut at the limit, masked; an agent's own supplement and phone tickets are not
//! messages; the centre's people may read it, department staff may not.

mod common;

use std::time::Duration;

use hotline_auth::Role;
use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_domain::contract::{Citizen, CommandAccepted, CreateTicket, Location, TicketCommand};
use hotline_domain::{Action, Actor, Channel, RequestType, TicketNo};
use serde_json::Value;

const PHONE: &str = "13800138000";

async fn send(bus: &Bus, command: TicketCommand) {
    let _: CommandAccepted = rpc::call(
        bus,
        bus.subjects
            .ticket_commands_from(hotline_bus::Service::Intake),
        &command,
        Duration::from_secs(5),
    )
    .await
    .expect("the ledger took it");
}

async fn create(bus: &Bus, n: u64, channel: Channel, description: &str) -> TicketNo {
    let no = TicketNo::compose(261211, n).expect("no");
    send(
        bus,
        TicketCommand::Create {
            idempotency_key: format!("msg-create-{n}"),
            actor: Actor::Citizen { channel },
            ticket: Box::new(CreateTicket {
                ticket_no: no,
                channel,
                request_type: RequestType::Complaint,
                service_code: None,
                description: description.into(),
                location: Location::default(),
                citizen: Citizen {
                    phone: Some(PHONE.into()),
                    name: Some("张三".into()),
                    ..Citizen::default()
                },
                confidential: false,
                attributes: Default::default(),
                media_url: None,
                // Kept where it is: a dispatch would not change what is listed, but a held
                // ticket takes supplements without waiting on anyone.
                hold: true,
            }),
        },
    )
    .await;
    no
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_contacts_by_message_come_newest_first_masked_and_only_to_the_centre() {
    let running = common::start().await;
    let (bus, base, issuer) = (&running.bus, running.base.clone(), &running.issuer);
    let http = reqwest::Client::new();
    let token = |role: Role| {
        issuer.token(
            &format!("{role}-1"),
            &[role],
            role.needs_department().then_some("GZ-TH"),
        )
    };
    let get = |role: Role, query: &str| {
        let request = http
            .get(format!("{base}/v1/messages{query}"))
            .bearer_auth(token(role));
        async move {
            let r = request.send().await.expect("GET");
            let status = r.status().as_u16();
            let body = r.text().await.expect("body");
            (status, body)
        }
    };

    let (status, body) = get(Role::Agent, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["messages"],
        serde_json::json!([])
    );

    let web = create(bus, 1, Channel::Web, "小区门口夜间施工噪音扰民").await;
    let phone = create(bus, 2, Channel::Phone, "路灯不亮").await;
    let long = "楼道里堆满杂物，".repeat(40);
    let wechat = create(bus, 3, Channel::Wechat, &long).await;
    // The citizen's photo by WeChat, added by intake to the phone ticket: a message.
    send(
        bus,
        TicketCommand::Act {
            idempotency_key: "msg-supplement-1".into(),
            actor: Actor::system("intake"),
            ticket_no: phone,
            action: Action::Supplement {
                note: "补充照片：路灯位置".into(),
            },
        },
    )
    .await;
    // What an agent types for the citizen during a call is not a message.
    let r = http
        .post(format!("{base}/v1/tickets/{web}/actions"))
        .bearer_auth(token(Role::Agent))
        .json(&serde_json::json!({"action": "supplement", "note": "来电补充：晚上十点后仍在施工"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);

    let (status, body) = get(Role::Agent, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains(PHONE) && !body.contains("张三"),
        "masked: {body}"
    );
    let v: Value = serde_json::from_str(&body).expect("json");
    let found: Vec<hotline_tickets::messages::Message> =
        serde_json::from_value(v["messages"].clone()).expect("messages");
    let seen: Vec<(hotline_tickets::messages::Kind, TicketNo)> =
        found.iter().map(|m| (m.kind, m.ticket_no)).collect();
    use hotline_tickets::messages::Kind;
    assert_eq!(
        seen,
        vec![
            (Kind::Supplement, phone),
            (Kind::Created, wechat),
            (Kind::Created, web)
        ],
        "newest first; neither the phone's ticket nor the agent's supplement: {body}"
    );
    let supplement = &found[0];
    assert_eq!(supplement.text, "补充照片：路灯位置");
    assert_eq!(supplement.channel, Channel::Phone, "the ticket's channel");
    assert!(supplement.seq > 1, "a later step: {}", supplement.seq);
    assert_eq!(found[1].channel, Channel::Wechat);
    assert_eq!(found[1].seq, 1);
    assert_eq!(
        found[1].text.chars().count(),
        hotline_tickets::messages::TEXT_CHARS as usize,
        "the text is cut"
    );
    assert_eq!(found[2].citizen.phone.as_deref(), Some("138****8000"));
    assert!(found[0].at >= found[1].at && found[1].at >= found[2].at);

    // The limit cuts the merged list, not each part.
    let (status, body) = get(Role::Dispatcher, "?limit=2").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let nos: Vec<&str> = v["messages"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["ticket_no"].as_str())
        .collect();
    assert_eq!(nos, vec![phone.to_string(), wechat.to_string()]);
    for bad in ["?limit=0", "?limit=51", "?limit=x", "?channel=web"] {
        assert_eq!(get(Role::Agent, bad).await.0, 400, "{bad}");
    }

    // The centre's people read it; a department's staff would see other departments' tickets.
    assert_eq!(get(Role::Supervisor, "").await.0, 200);
    assert_eq!(get(Role::Admin, "").await.0, 200);
    assert_eq!(get(Role::DepartmentStaff, "").await.0, 403);
    assert_eq!(get(Role::KnowledgeEditor, "").await.0, 403);
    let r = http
        .get(format!("{base}/v1/messages"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 401);

    running.stop().await;
}
