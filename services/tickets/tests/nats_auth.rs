//! Services prove who they are on NATS: a private nats-server runs with the configuration
//! `hotline nats-config` writes (one nkey user per service), the ledger runs as the `tickets`
//! user, and intake's credentials can file a citizen's ticket but cannot act as a department
//! (neither on its own command subject, where the ledger refuses the actor, nor on the
//! gateway's, where NATS refuses the publish), cannot read the delivery or tickets stream, and
//! cannot delete a stream.
//!
//! Needs the nats-server binary: `NATS_SERVER_BIN` or `nats-server` on PATH (deploy/services.sh
//! installs it). Without it the test fails in CI and is skipped, saying so, elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use hotline_bus::nats_config::{self, ServerOptions};
use hotline_bus::rpc::{self, CallError};
use hotline_bus::{Bus, Service};
use hotline_domain::contract::{
    CommandAccepted, CreateTicket, ErrorKind, Location, TicketCommand, TicketQuery, TicketView,
};
use hotline_domain::{Action, Actor, Channel, DeptCode, RequestType, TicketNo};
use tokio_util::sync::CancellationToken;

/// The private server; killed (by its own pid) when the test ends.
struct NatsServer {
    child: Child,
    url: String,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_server_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

async fn start_server(bin: &Path, dir: &Path, namespace: &str) -> NatsServer {
    let port = hotline_testkit::free_port().expect("port");
    let options = ServerOptions {
        listen: format!("127.0.0.1:{port}"),
        http: None,
        store_dir: dir.join("jetstream"),
    };
    let written = nats_config::write(dir, namespace, &options, false).expect("config written");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&written.server_config)
        .arg("-l")
        .arg(dir.join("nats.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    let server = NatsServer {
        child,
        url: format!("nats://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nats-server did not listen on {port}");
}

fn nats_settings(url: &str, dir: &Path) -> hotline_config::Nats {
    hotline_config::Nats {
        url: url.to_owned(),
        stream_replicas: 1,
        stream_storage: hotline_config::StreamStorage::File,
        user: None,
        password: None,
        password_file: None,
        nkey_seed: None,
        nkey_seed_file: None,
        credentials_file: None,
        credentials_dir: Some(dir.to_path_buf()),
    }
}

fn citizen_create(no: TicketNo) -> TicketCommand {
    TicketCommand::Create {
        idempotency_key: format!("create-{no}"),
        actor: Actor::Citizen {
            channel: Channel::Web,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Web,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "street lamp out".into(),
            location: Location::default(),
            citizen: Default::default(),
            confidential: false,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }),
    }
}

fn as_department(no: TicketNo) -> TicketCommand {
    TicketCommand::Act {
        idempotency_key: format!("accept-{no}"),
        actor: Actor::Department {
            code: DeptCode::parse("GZ-TH").expect("code"),
        },
        ticket_no: no,
        action: Action::Accept,
    }
}

#[tokio::test]
async fn intakes_credentials_cannot_act_as_a_department_read_deliveries_or_delete_streams() {
    let Some(bin) = nats_server_bin() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("nats-server not found (set NATS_SERVER_BIN or run deploy/services.sh)");
        }
        eprintln!("SKIPPED: nats-server not found (set NATS_SERVER_BIN or run deploy/services.sh)");
        return;
    };
    let env = hotline_testkit::env().await.expect("test env");
    let dir = std::env::temp_dir().join(format!("hotline-nats-auth-{}", env.namespace));
    let server = start_server(&bin, &dir, &env.namespace).await;
    let nats = nats_settings(&server.url, &dir);

    // No credentials, no connection.
    assert!(
        async_nats::connect(&server.url).await.is_err(),
        "an anonymous client was let in"
    );

    // The operator creates the streams as the setup user.
    let setup = Bus::connect_with(&nats, &env.namespace, "setup")
        .await
        .expect("setup connects");
    hotline_bus::streams::apply(&setup, Default::default())
        .await
        .expect("streams created");

    // The ledger, as the tickets user.
    let mut settings = env.settings().expect("settings");
    settings.nats = nats.clone();
    let shutdown = CancellationToken::new();
    let ledger = tokio::spawn(hotline_tickets::run(settings, shutdown.clone()));

    let intake = Bus::connect_with(&nats, &env.namespace, "intake")
        .await
        .expect("intake connects");
    let s = intake.subjects.clone();
    let mut ready = false;
    for _ in 0..100 {
        let probe: Result<Vec<TicketView>, CallError> = rpc::call(
            &intake,
            s.ticket_list(),
            &TicketQuery::default(),
            Duration::from_millis(300),
        )
        .await;
        if probe.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the ledger did not answer intake's query");

    // Intake's own work: a citizen's ticket.
    let no = TicketNo::compose(261129, 42).expect("no");
    let created: CommandAccepted = rpc::call(
        &intake,
        s.ticket_commands_from(Service::Intake),
        &citizen_create(no),
        Duration::from_secs(5),
    )
    .await
    .expect("intake files a citizen's ticket");
    assert_eq!(created.ticket_no, no);
    // The ledger's relay, as the tickets user, published the event.
    let tickets_stream = setup
        .js
        .get_stream(s.tickets_stream())
        .await
        .expect("stream");
    let mut published = false;
    for _ in 0..50 {
        if tickets_stream
            .get_last_raw_message_by_subject(&s.ticket_event("created"))
            .await
            .is_ok()
        {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        published,
        "the ledger's event never reached the tickets stream"
    );

    // A department actor on intake's own subject: the ledger refuses it.
    let refused = rpc::call::<_, CommandAccepted>(
        &intake,
        s.ticket_commands_from(Service::Intake),
        &as_department(no),
        Duration::from_secs(5),
    )
    .await
    .expect_err("intake may not act as a department");
    assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused}");

    // On the gateway's subject: NATS does not let the message through at all.
    let denied = rpc::call::<_, CommandAccepted>(
        &intake,
        s.ticket_commands_from(Service::Gateway),
        &as_department(no),
        Duration::from_secs(2),
    )
    .await
    .expect_err("intake may not publish as the gateway");
    assert!(
        matches!(denied, CallError::Unavailable(_)),
        "the ledger answered: {denied}"
    );

    // Reading the delivery stream (what departments get, contacts included) or the tickets
    // stream: consumer creation is refused.
    let mut js = intake.js.clone();
    js.set_timeout(Duration::from_secs(2));
    for stream in [s.delivery_stream(), s.tickets_stream()] {
        let handle = js
            .get_stream(&stream)
            .await
            .expect("stream info is allowed");
        let spy = handle
            .create_consumer(pull::Config {
                durable_name: Some("spy".into()),
                ..Default::default()
            })
            .await;
        assert!(spy.is_err(), "intake created a consumer on {stream}");
        let ephemeral = handle.create_consumer(pull::Config::default()).await;
        assert!(
            ephemeral.is_err(),
            "intake created an ephemeral consumer on {stream}"
        );
    }
    // The same call with the gateway's credentials works: the refusal is the permission.
    let gateway = Bus::connect_with(&nats, &env.namespace, "gateway")
        .await
        .expect("gateway connects");
    gateway
        .js
        .get_stream(s.delivery_stream())
        .await
        .expect("stream")
        .get_or_create_consumer(
            "dept-GZ-TH",
            pull::Config {
                durable_name: Some("dept-GZ-TH".into()),
                filter_subject: s.delivery("GZ-TH"),
                ..Default::default()
            },
        )
        .await
        .expect("the gateway creates a department's consumer");

    // Deleting a stream: refused, and the stream is still there.
    assert!(
        js.delete_stream(s.tickets_stream()).await.is_err(),
        "intake deleted the tickets stream"
    );
    assert!(
        js.delete_stream(s.delivery_stream()).await.is_err(),
        "intake deleted the delivery stream"
    );
    for stream in [s.tickets_stream(), s.delivery_stream()] {
        setup
            .js
            .get_stream(&stream)
            .await
            .unwrap_or_else(|e| panic!("{stream} is gone: {e}"));
    }
    // The ticket was created once and never accepted by the forged department command.
    let tickets = setup
        .js
        .get_stream(s.tickets_stream())
        .await
        .expect("stream");
    let last = tickets
        .get_last_raw_message_by_subject(&s.ticket_event("accept"))
        .await;
    assert!(last.is_err(), "a forged accept reached the ledger");

    // nats-server itself logged the refusals (the same text tests/nats_users.rs looks for).
    let log = std::fs::read_to_string(dir.join("nats.log")).expect("nats log");
    let gateway_subject = s.ticket_commands_from(Service::Gateway);
    assert!(
        log.lines()
            .any(|l| l.contains("Publish Violation") && l.contains(gateway_subject.as_str())),
        "no violation logged for {gateway_subject}"
    );
    assert!(
        log.lines().any(|l| l.contains("Publish Violation")
            && l.contains(&format!("STREAM.DELETE.{}", s.tickets_stream()))),
        "no violation logged for the stream deletion"
    );

    shutdown.cancel();
    ledger
        .await
        .expect("joined")
        .expect("the ledger stops cleanly");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
