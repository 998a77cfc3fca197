//! The tickets service started for a test, shared by the integration tests that need it.

use std::time::Duration;

use hotline_auth::testing::TestIssuer;
use hotline_bus::Bus;
use hotline_bus::rpc::{self, CallError};
use hotline_domain::contract::{CommandAccepted, TicketCommand, TicketQuery, TicketView};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The tickets service on a free port, its bus and a token issuer.
pub struct Running {
    pub bus: Bus,
    pub http: reqwest::Client,
    pub base: String,
    #[allow(dead_code)] // the ledger's tests act over NATS only
    pub issuer: TestIssuer,
    /// The test's database (its own schema), for a test that reads or moves rows itself.
    #[allow(dead_code)] // not every test reads the database
    pub database_url: String,
    pub shutdown: CancellationToken,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the service on a fresh namespace and schema, and waits until the ledger answers.
pub async fn start() -> Running {
    let env = hotline_testkit::env().await.expect("test env");
    let mut settings = env.settings().expect("settings");
    let issuer = TestIssuer::start().await;
    issuer.configure(&mut settings);
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = tokio::spawn(hotline_tickets::run_with_listener(
        settings.clone(),
        listener,
        shutdown.clone(),
    ));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "test")
        .await
        .expect("nats");
    for _ in 0..100 {
        let probe: Result<Vec<TicketView>, CallError> = rpc::call(
            &bus,
            bus.subjects.ticket_list(),
            &TicketQuery::default(),
            Duration::from_millis(200),
        )
        .await;
        if probe.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Running {
        bus,
        http: reqwest::Client::new(),
        base,
        issuer,
        database_url: env.database_url.clone(),
        shutdown,
        handle,
    }
}

impl Running {
    /// `GET` with a bearer token: the status and the JSON body (null when none).
    #[allow(dead_code)] // not every test reads over HTTP
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("join").expect("clean shutdown");
    }
}

/// Sends as the service that speaks for the command's actor (the ledger checks the caller).
#[allow(dead_code)] // not every test sends commands
pub async fn send(bus: &Bus, cmd: &TicketCommand) -> Result<CommandAccepted, CallError> {
    let actor = match cmd {
        TicketCommand::Create { actor, .. } | TicketCommand::Act { actor, .. } => actor,
    };
    let caller = hotline_tickets::callers::sender_of(actor).expect("a service's actor");
    rpc::call(
        bus,
        bus.subjects.ticket_commands_from(caller),
        cmd,
        Duration::from_secs(5),
    )
    .await
}
