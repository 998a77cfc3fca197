//! The whole platform on a NATS with the generated users (`hotline nats-config`): every service
//! connects as its own user, a ticket travels from Open311 to a department and is accepted, an
//! extension request passes gateway -> SLA -> ledger, and nats-server reports no permission
//! violation: the allow-lists are exactly wide enough. Anonymous clients are refused.
//!
//! Needs the nats-server binary (`NATS_SERVER_BIN` or PATH; deploy/services.sh installs it):
//! without it the test fails in CI and is skipped, saying so, elsewhere.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Platform, authed};
use futures::StreamExt as _;
use hotline_gateway::proto::{
    AcceptRequest, RequestExtensionRequest, SubscribeRequest, subscribe_request,
};
use tokio_stream::wrappers::ReceiverStream;

struct NatsServer {
    child: Child,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_works_as_its_own_nats_user_without_a_permission_violation() {
    let Some(bin) = nats_server_bin() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("nats-server not found (set NATS_SERVER_BIN or run deploy/services.sh)");
        }
        eprintln!("SKIPPED: nats-server not found (set NATS_SERVER_BIN or run deploy/services.sh)");
        return;
    };
    let mut p = Platform::new(vec![]).await;
    let dir = std::env::temp_dir().join(format!("hotline-nats-users-{}", p.env.namespace));
    let port = hotline_testkit::free_port().expect("port");
    let url = format!("nats://127.0.0.1:{port}");

    // `hotline nats-config`, the real command, for this test's namespace.
    let status = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["nats-config", "--http", "", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--out")
        .arg(&dir)
        .env("HOTLINE__NAMESPACE", &p.env.namespace)
        .stdout(Stdio::null())
        .status()
        .expect("hotline nats-config runs");
    assert!(status.success());
    let log = dir.join("nats.log");
    let server = NatsServer {
        child: Command::new(&bin)
            .arg("-c")
            .arg(dir.join("nats.conf"))
            .arg("-l")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        async_nats::connect(&url).await.is_err(),
        "an anonymous client was let in"
    );

    p.extra_env = vec![
        ("NATS_URL".into(), url.clone()),
        (
            "HOTLINE__NATS__CREDENTIALS_DIR".into(),
            dir.to_string_lossy().into_owned(),
        ),
    ];
    // `all` runs setup first, as the setup user, then each service as itself.
    p.spawn(&["all", "--demo"]);
    p.wait_ready(&p.every_port()).await;

    let code = p.district_service().await;
    let form = [
        ("api_key", "demo-open311-key"),
        ("service_code", code.as_str()),
        ("address_string", "广州市天河区天河路208号"),
        ("description", "路灯不亮，已经三天了"),
    ];
    let (status, created) = p.post(&form, Some("nats-users-1")).await;
    assert_eq!(status, 201, "{created}");
    let no = created[0]["service_request_id"]
        .as_str()
        .expect("number")
        .to_owned();
    let mut dispatched = serde_json::Value::Null;
    for _ in 0..100 {
        dispatched = p.get_request(&no).await;
        if dispatched["agency_responsible"] == "GZ-TH" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dispatched["agency_responsible"], "GZ-TH", "dispatch ran");

    let mut th = p.department().await;
    let (acks, ack_rx) = tokio::sync::mpsc::channel(16);
    acks.send(SubscribeRequest {
        kind: Some(subscribe_request::Kind::Options(Default::default())),
    })
    .await
    .expect("options");
    let mut assignments = th
        .subscribe(authed(ReceiverStream::new(ack_rx), "demo-gz-th", None))
        .await
        .expect("subscribe")
        .into_inner();
    let assignment = tokio::time::timeout(Duration::from_secs(15), assignments.next())
        .await
        .expect("assignment in time")
        .expect("an assignment")
        .expect("ok");
    assert_eq!(
        assignment.ticket.as_ref().map(|t| t.ticket_no.as_str()),
        Some(no.as_str())
    );
    acks.send(SubscribeRequest {
        kind: Some(subscribe_request::Kind::Ack(hotline_gateway::proto::Ack {
            delivery_id: assignment.delivery_id.clone(),
        })),
    })
    .await
    .expect("ack");
    let accepted = th
        .accept(authed(
            AcceptRequest {
                ticket_no: no.clone(),
                request_id: "a1".into(),
            },
            "demo-gz-th",
            None,
        ))
        .await
        .expect("the gateway's department command is accepted")
        .into_inner();
    assert_eq!(accepted.status, "accepted");
    // A department's extension request: gateway -> SLA -> ledger (relayed as the department).
    let mut extended = None;
    for attempt in 0..50 {
        let r = th
            .request_extension(authed(
                RequestExtensionRequest {
                    ticket_no: no.clone(),
                    request_id: format!("x{attempt}"),
                    reason: "需要更换灯杆，配件在途".into(),
                    until: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 30 * 86_400,
                        nanos: 0,
                    }),
                },
                "demo-gz-th",
                None,
            ))
            .await;
        match r {
            Ok(r) => {
                extended = Some(r.into_inner());
                break;
            }
            // The SLA service may not have seen the dispatch yet: no running deadline.
            Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => panic!("extension request refused: {s:?}"),
        }
    }
    assert!(extended.is_some(), "the extension request went through");

    // Let consumers, relays and the knowledge follower run a moment, then read the server log.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, child) = p.children.first_mut().expect("hotline all");
    assert!(
        child.try_wait().expect("status").is_none(),
        "hotline all stopped"
    );
    let text = std::fs::read_to_string(&log).expect("nats log");
    // Every error but the anonymous client's refused login above: "Publish Violation",
    // "Subscription Violation", a refused service login...
    let violations: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[ERR]"))
        .filter(|l| !l.contains("authentication error") || l.contains("hotline-"))
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    drop(p);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
