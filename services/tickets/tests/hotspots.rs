//! 社情民意 hotspots against real NATS and Postgres: the ledger places each new ticket in the
//! district its address names, and `GET /v1/hotspots` counts a period's tickets by matter class
//! and district, for the centre's supervisors (department staff and agents: 403).

mod common;

use std::time::Duration;

use hotline_auth::Role;
use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_domain::contract::{Citizen, CommandAccepted, CreateTicket, Location, TicketCommand};
use hotline_domain::{Actor, Channel, RequestType, ServiceCode, TicketNo};
use serde_json::Value;

async fn create(bus: &Bus, n: u64, code: Option<&str>, address: &str) -> TicketNo {
    let no = TicketNo::compose(261210, n).expect("no");
    let command = TicketCommand::Create {
        idempotency_key: format!("hot-create-{n}"),
        actor: Actor::Citizen {
            channel: Channel::Web,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Web,
            request_type: RequestType::Complaint,
            service_code: code.map(|c| ServiceCode::parse(c).expect("code")),
            description: "路灯不亮".into(),
            location: Location {
                address: Some(address.into()),
                ..Location::default()
            },
            citizen: Citizen::default(),
            confidential: false,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }),
    };
    let _: CommandAccepted = rpc::call(
        bus,
        bus.subjects
            .ticket_commands_from(hotline_bus::Service::Intake),
        &command,
        Duration::from_secs(5),
    )
    .await
    .expect("created");
    no
}

/// RFC 3339 in UTC with `Z`: nothing to escape in a query.
fn z(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_counted_by_matter_class_and_the_district_their_address_names() {
    let running = common::start().await;
    let (bus, base, issuer) = (&running.bus, running.base.clone(), &running.issuer);
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    create(bus, 1, Some("01.02.003"), "广州市天河区天河路208号").await;
    create(bus, 2, Some("01.05.001"), "天河区体育西路").await;
    create(bus, 3, Some("01.02.003"), "海珠区江南大道中").await;
    create(bus, 4, Some("07.01.001"), "海珠区新港西路").await;
    create(bus, 5, None, "某路1号").await;
    let after = chrono::Utc::now() + chrono::Duration::seconds(5);

    let http = reqwest::Client::new();
    let get = |role: Role, query: String| {
        let http = http.clone();
        let token = issuer.token(
            &format!("{role}-1"),
            &[role],
            role.needs_department().then_some("GZ-TH"),
        );
        let url = format!("{base}/v1/hotspots?{query}");
        async move {
            let r = http.get(url).bearer_auth(token).send().await.expect("GET");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let period = format!("from={}&to={}", z(before), z(after));
    let (status, body) = get(Role::Supervisor, period.clone()).await;
    assert_eq!(status, 200, "{body}");
    let cells: Vec<hotline_tickets::hotspots::Cell> =
        serde_json::from_value(body["cells"].clone()).expect("cells");
    let count = |class: &str, district: &str| {
        cells
            .iter()
            .find(|c| c.class == class && c.district == district)
            .map_or(0, |c| c.count)
    };
    assert_eq!(count("01", "GZ-TH"), 2);
    assert_eq!(count("01", "GZ-HZ"), 1);
    assert_eq!(count("07", "GZ-HZ"), 1);
    assert_eq!(count("", ""), 1, "no matter and no district named");
    assert_eq!(cells.iter().map(|c| c.count).sum::<i64>(), 5);
    assert_eq!(cells[0].count, 2, "largest first");

    // By channel (all five came by the web); none is with a department yet.
    let (status, body) = get(Role::Supervisor, format!("{period}&by=channel")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["cells"],
        serde_json::json!([{"key": "web", "count": 5}])
    );
    let (status, body) = get(Role::Supervisor, format!("{period}&by=backlog")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cells"], Value::Array(Vec::new()));
    assert_eq!(get(Role::Supervisor, format!("{period}&by=x")).await.0, 400);

    // A period before the tickets counts none of them.
    let (status, body) = get(
        Role::Admin,
        format!(
            "from={}&to={}",
            z(before - chrono::Duration::days(2)),
            z(before - chrono::Duration::days(1))
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["cells"], Value::Array(Vec::new()));
    // Counts are the centre's: not department staff's nor agents'.
    assert_eq!(get(Role::DepartmentStaff, period.clone()).await.0, 403);
    assert_eq!(get(Role::Agent, period.clone()).await.0, 403);
    // A period backwards or without its ends is refused.
    let backwards = format!("from={}&to={}", z(after), z(before));
    assert_eq!(get(Role::Supervisor, backwards).await.0, 400);
    assert_eq!(get(Role::Supervisor, String::new()).await.0, 400);

    running.stop().await;
}
