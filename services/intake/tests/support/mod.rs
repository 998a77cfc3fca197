//! The real services intake's Open311 tests post against, run in-process on port-0 listeners
//! against the test's own NATS namespace and database: the tickets ledger, and dispatch with
//! the `ENV.NOISE` matter the tests use put into its catalogue through dispatch's own store
//! (the demo catalogue has no such code; seeding before start-up means the first catalogue
//! load already has it).

#![allow(dead_code)]

pub mod sms_gateway;
pub mod smtp_sink;

use std::time::{Duration, Instant};

use hotline_bus::rpc::{self, CallError};
use hotline_config::Settings;
use hotline_dispatch::catalogue::{Catalogue, Entry, Scope};
use hotline_domain::contract::{
    AttributeType, AttributeValue, CatalogueService, CommandAccepted, ServiceAttribute,
    TicketCommand,
};
use hotline_domain::{Action, Actor, DeptCode, RequestType, ServiceCode, TicketNo};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a service may take to become ready (migrations, streams, consumers).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The noise matter the tests post (`service_code=ENV.NOISE&attribute[when]=night`).
pub fn noise_entry() -> Entry {
    Entry {
        code: ServiceCode::parse("ENV.NOISE").expect("code"),
        name: "噪音扰民".into(),
        description: "Noise from venues, building sites, neighbours".into(),
        group: "环境保护".into(),
        keywords: vec!["noise".into()],
        default_request_type: RequestType::Complaint,
        scope: Scope::City {
            department: DeptCode::parse("GZ-HB").expect("dept"),
        },
        co_handlers: vec![],
        attributes: vec![ServiceAttribute {
            code: "when".into(),
            variable: true,
            datatype: AttributeType::Singlevaluelist,
            required: true,
            description: "When does it happen?".into(),
            order: 1,
            values: vec![
                AttributeValue {
                    key: "day".into(),
                    name: "白天".into(),
                },
                AttributeValue {
                    key: "night".into(),
                    name: "夜间".into(),
                },
            ],
        }],
        version: 0,
    }
}

/// The tickets service (the ledger) on a port-0 listener; returns once `/readyz` answers 200.
pub async fn start_tickets(settings: &Settings, stop: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(hotline_tickets::run_with_listener(
        settings.clone(),
        listener,
        stop.clone(),
    ));
    wait_ready("tickets", &url, &task).await;
    wait_commands(settings).await;
    url
}

/// Waits until the ledger's command responder for intake answers: `/readyz` can answer before
/// it has subscribed. The probe speaks for a system actor intake may not send, so the caller
/// check refuses it before the ledger sees it (nothing is stored).
async fn wait_commands(settings: &Settings) {
    let bus = hotline_bus::Bus::connect(&settings.nats.url, &settings.namespace, "intake-itest")
        .await
        .expect("NATS");
    let probe = TicketCommand::Act {
        idempotency_key: "itest:probe".into(),
        actor: Actor::system("dispatch"),
        ticket_no: TicketNo::compose(261129, 1).expect("no"),
        action: Action::Accept,
    };
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let answer: Result<CommandAccepted, CallError> = rpc::call(
            &bus,
            bus.subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            &probe,
            Duration::from_millis(500),
        )
        .await;
        match answer {
            Err(CallError::Unavailable(_)) => {}
            Err(CallError::Remote(_)) => return,
            other => panic!("the probe was not refused: {other:?}"),
        }
        assert!(Instant::now() < deadline, "the ledger never took commands");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The dispatch service on a port-0 listener, its catalogue holding [`noise_entry`]; returns
/// once `/readyz` answers 200.
pub async fn start_dispatch(settings: &Settings, stop: &CancellationToken) -> String {
    let pool = sqlx::PgPool::connect(&settings.database.url)
        .await
        .expect("Postgres");
    hotline_dispatch::migrate(&pool).await.expect("migrations");
    Catalogue::seed(&pool, &[noise_entry()])
        .await
        .expect("catalogue entry");
    pool.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(hotline_dispatch::run_with_listener(
        settings.clone(),
        listener,
        stop.clone(),
    ));
    wait_ready("dispatch", &url, &task).await;
    wait_catalogue(settings).await;
    url
}

/// Waits until dispatch's catalogue responder answers with the noise matter (`/readyz` can
/// answer before it has subscribed; intake pauses between loads of a catalogue it never had).
async fn wait_catalogue(settings: &Settings) {
    let bus = hotline_bus::Bus::connect(&settings.nats.url, &settings.namespace, "intake-itest")
        .await
        .expect("NATS");
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let answer: Result<Vec<CatalogueService>, CallError> = rpc::call(
            &bus,
            bus.subjects.catalogue_services(),
            &(),
            Duration::from_millis(500),
        )
        .await;
        if answer.is_ok_and(|services| services.iter().any(|s| s.code == noise_entry().code)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dispatch never served its catalogue"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_ready(name: &str, url: &str, task: &JoinHandle<anyhow::Result<()>>) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let ready = http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return;
        }
        assert!(!task.is_finished(), "{name} stopped before it was ready");
        assert!(Instant::now() < deadline, "{name} never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
