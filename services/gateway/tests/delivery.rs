//! The gateway against a real NATS (and Redis): ticket events are published on the tickets
//! stream exactly as the ledger publishes them, and departments connect over gRPC and REST.
//!
//! Unary actions are checked up to the gateway's own answers (authentication, bad input, a
//! ledger that does not answer), and, for extension and information requests, against the
//! real tickets ledger and SLA service running in-process on the test's namespace and database.
//! The end-to-end test of the whole platform lives in the workspace's `tests/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_nats::HeaderMap;
use chrono::{TimeZone as _, Utc};
use hotline_bus::Bus;
use hotline_bus::Envelope;
use hotline_domain::contract::{Citizen, HistoryEntry, Location, TicketEvent, TicketView};
use hotline_domain::ticket::ReturnDecision;
use hotline_domain::{Action, Actor, Channel, DeptCode, RequestType, Status, TicketNo};
use hotline_gateway::proto::department_gateway_client::DepartmentGatewayClient;
use hotline_gateway::proto::{self, SubscribeRequest, subscribe_request};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel as GrpcChannel;
use tonic::{Code, Request, Streaming};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Gateway {
    bus: Bus,
    namespace: String,
    redis_url: String,
    grpc: SocketAddr,
    rest: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start() -> Gateway {
    let env = hotline_testkit::env().await.expect("test servers");
    start_in(&env).await
}

/// A gateway on `env`'s namespace (a second one on the same namespace is a restart).
async fn start_in(env: &hotline_testkit::TestEnv) -> Gateway {
    let settings = hotline_config::Settings::load_from(
        None,
        [
            ("NATS_URL", env.nats_url.as_str()),
            ("REDIS_URL", env.redis_url.as_str()),
            ("DATABASE_URL", env.database_url.as_str()),
            ("HOTLINE__NAMESPACE", env.namespace.as_str()),
            ("HOTLINE__DEMO", "true"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .expect("settings");
    let rest = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (rest_addr, grpc_addr) = (
        rest.local_addr().expect("addr"),
        grpc.local_addr().expect("addr"),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(hotline_gateway::run_with_listeners(
        settings,
        rest,
        grpc,
        shutdown.clone(),
    ));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "gateway-test")
        .await
        .expect("nats");
    hotline_bus::streams::ensure(&bus, Default::default())
        .await
        .expect("streams");
    let gateway = Gateway {
        bus,
        namespace: env.namespace.clone(),
        redis_url: env.redis_url.clone(),
        grpc: grpc_addr,
        rest: rest_addr,
        shutdown,
        task,
    };
    gateway.wait_ready().await;
    gateway
}

impl Gateway {
    async fn wait_ready(&self) {
        let url = format!("http://{}/readyz", self.rest);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gateway never ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn client(&self) -> DepartmentGatewayClient<GrpcChannel> {
        DepartmentGatewayClient::connect(format!("http://{}", self.grpc))
            .await
            .expect("grpc connect")
    }

    /// Publishes `event` the way the ledger's outbox relay does.
    async fn publish(&self, event: &TicketEvent) {
        let envelope = Envelope::new(event.event_id, format!("ticket.{}", event.kind()), event);
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", TRACEPARENT);
        hotline_bus::publish::publish_acked(
            &self.bus,
            self.bus.subjects.ticket_event(event.kind()),
            &event.event_id.to_string(),
            headers,
            envelope.to_bytes().expect("json").into(),
        )
        .await
        .expect("published");
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("gateway stops in time")
            .expect("gateway task");
        result.expect("gateway ends cleanly");
    }
}

fn code(raw: &str) -> DeptCode {
    DeptCode::parse(raw).expect("code")
}

fn ticket_no(sequence: u64) -> TicketNo {
    TicketNo::compose(261129, sequence).expect("ticket no")
}

/// A ticket event as the ledger publishes it after `action` (history entry `seq`).
fn event(
    no: TicketNo,
    seq: i32,
    action: Action,
    lead: &str,
    co: &[&str],
    confidential: bool,
) -> TicketEvent {
    let now = Utc::now();
    TicketEvent {
        event_id: Uuid::now_v7(),
        entry: HistoryEntry {
            seq,
            at: now,
            actor: Actor::system("dispatch"),
            step: action.name().to_owned(),
            action: Some(action),
            from: Some(Status::Received),
            to: Status::Dispatched,
        },
        ticket: TicketView {
            ticket_no: no,
            status: Status::Dispatched,
            channel: Channel::Phone,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "noise at night".into(),
            location: Location::default(),
            citizen: Citizen {
                name: Some("李四".into()),
                phone: Some("13900139000".into()),
                ..Citizen::default()
            },
            confidential,
            lead: Some(code(lead)),
            co: co.iter().map(|c| code(c)).collect(),
            attributes: BTreeMap::new(),
            media_url: None,
            created_at: now,
            updated_at: now,
            held: false,
            extension_pending: false,
        },
        merged_from: Vec::new(),
    }
}

fn dispatch(no: TicketNo, seq: i32, lead: &str, co: &[&str], confidential: bool) -> TicketEvent {
    let action = Action::Dispatch {
        lead: code(lead),
        co: co.iter().map(|c| code(c)).collect(),
        note: format!("dispatch #{seq}"),
    };
    event(no, seq, action, lead, co, confidential)
}

fn supervise(no: TicketNo, seq: i32, lead: &str) -> TicketEvent {
    let action = Action::Supervise {
        note: format!("supervision #{seq}"),
    };
    event(no, seq, action, lead, &[], false)
}

/// A department's open Subscribe stream.
struct Subscription {
    requests: mpsc::Sender<SubscribeRequest>,
    assignments: Streaming<proto::Assignment>,
}

impl Subscription {
    async fn open(gateway: &Gateway, token: &str) -> Result<Subscription, tonic::Status> {
        let (requests, rx) = mpsc::channel(64);
        let mut request = Request::new(ReceiverStream::new(rx));
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
        let assignments = gateway
            .client()
            .await
            .subscribe(request)
            .await?
            .into_inner();
        Ok(Subscription {
            requests,
            assignments,
        })
    }

    async fn next(&mut self) -> proto::Assignment {
        tokio::time::timeout(WAIT, self.assignments.message())
            .await
            .expect("an assignment in time")
            .expect("stream ok")
            .expect("stream open")
    }

    async fn take(&mut self, n: usize) -> Vec<proto::Assignment> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Nothing arrives within `quiet`.
    async fn expect_nothing(&mut self, quiet: Duration) {
        if let Ok(item) = tokio::time::timeout(quiet, self.assignments.message()).await {
            panic!("expected nothing, got {item:?}");
        }
    }

    async fn ack(&self, a: &proto::Assignment) {
        self.requests
            .send(SubscribeRequest {
                kind: Some(subscribe_request::Kind::Ack(proto::Ack {
                    delivery_id: a.delivery_id.clone(),
                })),
            })
            .await
            .expect("ack sent");
    }
}

fn seqs_of(assignments: &[proto::Assignment], no: TicketNo) -> Vec<i32> {
    assignments
        .iter()
        .filter(|a| a.ticket.as_ref().map(|t| t.ticket_no.as_str()) == Some(&no.to_string()))
        .map(|a| a.seq)
        .collect()
}

#[tokio::test]
async fn assignments_reach_lead_and_co_handlers_in_order_and_masked() {
    let gw = start().await;
    let a = ticket_no(101);
    let b = ticket_no(102);
    gw.publish(&dispatch(a, 2, "GZ-TH", &["GZ-ZJ"], true)).await;
    gw.publish(&dispatch(b, 2, "GZ-TH", &[], false)).await;
    // Not work for anyone: not forwarded (not even in the consumer's filter).
    gw.publish(&event(a, 3, Action::Accept, "GZ-TH", &["GZ-ZJ"], true))
        .await;
    gw.publish(&supervise(a, 4, "GZ-TH")).await;
    gw.publish(&supervise(a, 6, "GZ-TH")).await;

    let mut th = Subscription::open(&gw, "demo-gz-th")
        .await
        .expect("subscribed");
    let got = th.take(4).await;
    assert_eq!(
        seqs_of(&got, a),
        vec![2, 4, 6],
        "one ticket's assignments in order"
    );
    assert_eq!(seqs_of(&got, b), vec![2]);
    for item in &got {
        assert_eq!(item.department, "GZ-TH");
        assert_eq!(item.delivery_attempt, 1);
        assert_eq!(
            item.traceparent, TRACEPARENT,
            "the ticket's trace rides along"
        );
        th.ack(item).await;
    }
    let first_a = got
        .iter()
        .find(|x| {
            x.seq == 2
                && x.ticket
                    .as_ref()
                    .is_some_and(|t| t.ticket_no == a.to_string())
        })
        .expect("a's dispatch");
    assert_eq!(first_a.kind, proto::DeliveryKind::Dispatched as i32);
    assert_eq!(first_a.note, "dispatch #2");
    let t = first_a.ticket.as_ref().expect("ticket");
    assert!(t.confidential);
    assert_eq!(
        t.citizen,
        Some(proto::Citizen::default()),
        "保密: no contact"
    );
    assert_eq!(t.co, vec!["GZ-ZJ".to_owned()]);
    let supervision = got.iter().find(|x| x.seq == 4).expect("supervision");
    assert_eq!(supervision.kind, proto::DeliveryKind::Supervision as i32);
    let open_b = got
        .iter()
        .find(|x| {
            x.ticket
                .as_ref()
                .is_some_and(|t| t.ticket_no == b.to_string())
        })
        .expect("b");
    assert_eq!(
        open_b
            .ticket
            .as_ref()
            .and_then(|t| t.citizen.as_ref())
            .map(|c| c.phone.as_str()),
        Some("13900139000"),
        "not confidential: the department may call the citizen back"
    );

    let mut zj = Subscription::open(&gw, "demo-gz-zj")
        .await
        .expect("subscribed");
    let co = zj.next().await;
    assert_eq!(co.kind, proto::DeliveryKind::CoHandling as i32);
    assert_eq!(co.department, "GZ-ZJ");
    assert_eq!(
        co.ticket.as_ref().map(|t| t.ticket_no.clone()),
        Some(a.to_string())
    );
    assert_eq!(
        co.ticket.as_ref().and_then(|t| t.citizen.clone()),
        Some(proto::Citizen::default())
    );
    zj.ack(&co).await;
    zj.expect_nothing(Duration::from_millis(1500)).await;

    // Everything acked: a new connection of GZ-TH gets nothing again.
    drop(th);
    let mut again = Subscription::open(&gw, "demo-gz-th")
        .await
        .expect("subscribed");
    again.expect_nothing(Duration::from_secs(2)).await;

    // The ticket's trace is remembered for calls that carry none.
    let client = redis::Client::open(gw.redis_url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let stored: Option<String> =
        redis::AsyncCommands::get(&mut conn, format!("{}:trace:{a}", gw.namespace))
            .await
            .expect("get");
    assert_eq!(stored.as_deref(), Some(TRACEPARENT));
    drop(again);
    gw.stop().await;
}

#[tokio::test]
async fn a_department_connecting_late_gets_its_whole_backlog() {
    let gw = start().await;
    let c = ticket_no(201);
    let d = ticket_no(202);
    gw.publish(&dispatch(c, 2, "GZ-HZ", &[], false)).await;
    gw.publish(&supervise(c, 5, "GZ-HZ")).await;
    gw.publish(&dispatch(d, 2, "GZ-YX", &[], false)).await;
    // The centre sends D on to Haizhu after Yuexiu's return.
    let review = Action::ReviewReturn {
        ruling: ReturnDecision::Redispatch {
            lead: code("GZ-HZ"),
            co: vec![],
        },
        note: "Haizhu's matter".into(),
    };
    gw.publish(&event(d, 4, review, "GZ-HZ", &[], false)).await;
    gw.publish(&supervise(c, 7, "GZ-HZ")).await;
    // The department has never connected: give the forwarder time to store everything first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // What the backlog gauges report before either department has connected: everything
    // stored for it.
    let mut backlog = hotline_gateway::delivery::read_backlog(&gw.bus)
        .await
        .expect("backlog");
    backlog.sort();
    assert_eq!(
        backlog,
        [
            ("dept-GZ-HZ".to_owned(), 4, 0),
            ("dept-GZ-YX".to_owned(), 1, 0)
        ]
    );

    let mut hz = Subscription::open(&gw, "demo-gz-hz")
        .await
        .expect("subscribed");
    let got = hz.take(4).await;
    // Haizhu's consumer now answers for it: nothing waiting, four out and not acked.
    let mut backlog = hotline_gateway::delivery::read_backlog(&gw.bus)
        .await
        .expect("backlog");
    backlog.sort();
    assert_eq!(
        backlog,
        [
            ("dept-GZ-HZ".to_owned(), 0, 4),
            ("dept-GZ-YX".to_owned(), 1, 0)
        ]
    );
    assert_eq!(seqs_of(&got, c), vec![2, 5, 7]);
    assert_eq!(seqs_of(&got, d), vec![4]);
    let redispatched = got.iter().find(|x| x.seq == 4).expect("d");
    assert_eq!(redispatched.kind, proto::DeliveryKind::Redispatched as i32);
    assert_eq!(redispatched.note, "Haizhu's matter");
    hz.expect_nothing(Duration::from_secs(1)).await;
    drop(hz);
    gw.stop().await;
}

#[tokio::test]
async fn unacked_assignments_come_back_first_and_in_order_after_reconnect() {
    let gw = start().await;
    let e = ticket_no(301);
    let f = ticket_no(302);
    gw.publish(&dispatch(e, 2, "GZ-BY", &[], false)).await;
    gw.publish(&supervise(e, 3, "GZ-BY")).await;
    gw.publish(&supervise(e, 4, "GZ-BY")).await;
    gw.publish(&dispatch(f, 2, "GZ-BY", &[], false)).await;

    let mut by = Subscription::open(&gw, "demo-gz-by")
        .await
        .expect("subscribed");
    let first = by.take(4).await;
    let acked = first
        .iter()
        .find(|x| {
            x.ticket
                .as_ref()
                .is_some_and(|t| t.ticket_no == f.to_string())
        })
        .expect("f");
    by.ack(acked).await;
    // Let the ack land before hanging up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(by);

    gw.publish(&supervise(e, 9, "GZ-BY")).await;
    let mut again = Subscription::open(&gw, "demo-gz-by")
        .await
        .expect("subscribed");
    let redelivered = again.take(3).await;
    assert_eq!(
        seqs_of(&redelivered, e),
        vec![2, 3, 4],
        "given back in order"
    );
    assert!(seqs_of(&redelivered, f).is_empty(), "acked stays acked");
    assert!(redelivered.iter().all(|x| x.delivery_attempt == 2));
    let ids: Vec<_> = first.iter().map(|x| x.delivery_id.clone()).collect();
    assert!(
        redelivered.iter().all(|x| !ids.contains(&x.delivery_id)),
        "each delivery has its own id"
    );
    let newer = again.next().await;
    assert_eq!(newer.seq, 9, "new work comes after what was given back");
    assert_eq!(newer.delivery_attempt, 1);
    drop(again);
    gw.stop().await;
}

#[tokio::test]
async fn a_department_sees_nothing_of_another_departments_work() {
    let gw = start().await;
    let g = ticket_no(401);
    gw.publish(&dispatch(g, 2, "GZ-TH", &["GZ-ZJ"], false))
        .await;

    let mut lw = Subscription::open(&gw, "demo-gz-lw")
        .await
        .expect("subscribed");
    lw.expect_nothing(Duration::from_secs(3)).await;

    // REST too.
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "http://{}/v1/assignments?max=10&wait_ms=500",
            gw.rest
        ))
        .bearer_auth("demo-gz-lw")
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["assignments"], serde_json::json!([]));

    // A wrong token is refused before anything else.
    let refused = Subscription::open(&gw, "demo-gz-nowhere").await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unauthenticated));
    let refused = Subscription::open(&gw, "DEMO-GZ-TH").await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unauthenticated));

    // The lead still gets it.
    let mut th = Subscription::open(&gw, "demo-gz-th")
        .await
        .expect("subscribed");
    assert_eq!(th.next().await.seq, 2);
    drop((lw, th));
    gw.stop().await;
}

#[tokio::test]
async fn rest_pulls_acks_and_reports_errors_as_json() {
    let gw = start().await;
    let h = ticket_no(501);
    gw.publish(&dispatch(h, 2, "GZ-PY", &[], true)).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", gw.rest);

    let r = http
        .get(format!("{base}/v1/assignments"))
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["kind"], "unauthenticated");

    let r = http
        .get(format!("{base}/v1/assignments?max=10&wait_ms=10000"))
        .bearer_auth("demo-gz-py")
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    let items = body["assignments"].as_array().expect("array");
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["kind"], "dispatched");
    assert_eq!(item["seq"], 2);
    assert_eq!(item["department"], "GZ-PY");
    assert_eq!(item["ticket"]["ticket_no"], h.to_string());
    assert_eq!(item["ticket"]["citizen"], serde_json::json!({}), "保密");
    assert!(!body.to_string().contains("13900139000"));
    let delivery_id = item["delivery_id"].as_str().expect("id").to_owned();

    // Another department cannot ack it.
    let r = http
        .post(format!("{base}/v1/assignments/{delivery_id}/ack"))
        .bearer_auth("demo-gz-th")
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!("{base}/v1/assignments/{delivery_id}/ack"))
        .bearer_auth("demo-gz-py")
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/v1/assignments/{delivery_id}/ack"))
        .bearer_auth("demo-gz-py")
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["kind"], "not_found");

    // Acked: nothing more, for REST or gRPC.
    let r = http
        .get(format!("{base}/v1/assignments?wait_ms=300"))
        .bearer_auth("demo-gz-py")
        .send()
        .await
        .expect("http");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["assignments"], serde_json::json!([]));

    // Bad input is refused at the edge with the mapped status.
    let r = http
        .post(format!("{base}/v1/tickets/12345/accept"))
        .bearer_auth("demo-gz-py")
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["kind"], "invalid");
    let r = http
        .post(format!("{base}/v1/tickets/{h}/return"))
        .bearer_auth("demo-gz-py")
        .json(&serde_json::json!({"reasn": "typo"}))
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{base}/v1/tickets?status=bogus"))
        .bearer_auth("demo-gz-py")
        .send()
        .await
        .expect("http");
    assert_eq!(r.status(), 400);

    for path in ["/healthz", "/readyz"] {
        let r = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("http");
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("http")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("hotline_gateway_deliveries_forwarded_total"));
    assert!(metrics.contains("hotline_gateway_refusals_total"));
    gw.stop().await;
}

/// `no` with its last digit changed: the check digit no longer matches.
fn typo(no: &str) -> String {
    let mut digits = no.as_bytes().to_vec();
    let last = digits.len() - 1;
    digits[last] = if digits[last] == b'9' {
        b'0'
    } else {
        digits[last] + 1
    };
    String::from_utf8(digits).expect("ascii")
}

fn authed<T>(body: T) -> Request<T> {
    let mut r = Request::new(body);
    r.metadata_mut()
        .insert("authorization", "Bearer demo-gz-th".parse().expect("ascii"));
    r
}

#[tokio::test]
async fn actions_are_checked_at_the_edge_and_a_missing_ledger_is_unavailable() {
    let gw = start().await;
    let mut client = gw.client().await;
    let good = ticket_no(601).to_string();

    let err = client
        .accept(Request::new(proto::AcceptRequest {
            ticket_no: good.clone(),
            request_id: "r1".into(),
        }))
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let err = client
        .accept(authed(proto::AcceptRequest {
            ticket_no: typo(&good),
            request_id: "r1".into(),
        }))
        .await
        .expect_err("bad check digit");
    assert_eq!(err.code(), Code::InvalidArgument);

    let err = client
        .r#return(authed(proto::ReturnRequest {
            ticket_no: good.clone(),
            request_id: "r2".into(),
            reason: "   ".into(),
        }))
        .await
        .expect_err("empty reason");
    assert_eq!(err.code(), Code::InvalidArgument);

    let err = client
        .request_extension(authed(proto::RequestExtensionRequest {
            ticket_no: good.clone(),
            request_id: "r3".into(),
            reason: "parts on order".into(),
            until: None,
        }))
        .await
        .expect_err("no deadline");
    assert_eq!(err.code(), Code::InvalidArgument);

    // Valid, but no ledger answers in this test's namespace: UNAVAILABLE, never a hang.
    let started = std::time::Instant::now();
    let err = client
        .accept(authed(proto::AcceptRequest {
            ticket_no: good.clone(),
            request_id: "r4".into(),
        }))
        .await
        .expect_err("no ledger");
    assert_eq!(err.code(), Code::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = client
        .list_tickets(authed(proto::ListTicketsRequest {
            statuses: vec!["dispatched".into()],
            limit: 0,
        }))
        .await
        .expect_err("no ledger");
    assert_eq!(err.code(), Code::Unavailable);
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_ends_subscriptions_and_gives_their_work_back() {
    let env = hotline_testkit::env().await.expect("test servers");
    let gw = start_in(&env).await;
    let k = ticket_no(701);
    gw.publish(&dispatch(k, 2, "GZ-HP", &[], false)).await;
    let mut hp = Subscription::open(&gw, "demo-gz-hp")
        .await
        .expect("subscribed");
    let got = hp.next().await;
    assert_eq!(got.seq, 2);
    gw.stop().await;
    let end = tokio::time::timeout(WAIT, hp.assignments.message())
        .await
        .expect("the stream ends");
    match end {
        Err(status) => assert_eq!(status.code(), Code::Unavailable),
        Ok(None) => {}
        Ok(Some(a)) => panic!("unexpected assignment {a:?}"),
    }
    drop(hp);

    // The restarted gateway hands it out again at once, not after the 30 s ack wait: it was
    // given back at shutdown.
    let gw = start_in(&env).await;
    let started = std::time::Instant::now();
    let mut hp = Subscription::open(&gw, "demo-gz-hp")
        .await
        .expect("subscribed");
    let again = hp.next().await;
    assert_eq!(again.seq, 2);
    assert_eq!(again.delivery_attempt, 2);
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(hp);
    gw.stop().await;
}

/// A ticket in the real ledger, created by a citizen and dispatched to `lead` by an agent, each
/// sent on the subject of the service that speaks for that actor (the ledger checks it).
async fn ledger_ticket(bus: &Bus, no: TicketNo, lead: &str) {
    use hotline_domain::contract::{CommandAccepted, CreateTicket, TicketCommand};
    let send = |command: TicketCommand, caller: hotline_bus::Service| async move {
        let _: CommandAccepted = hotline_bus::rpc::call(
            bus,
            bus.subjects.ticket_commands_from(caller),
            &command,
            Duration::from_secs(5),
        )
        .await
        .expect("the ledger took the command");
    };
    let create = TicketCommand::Create {
        idempotency_key: format!("itest:create:{no}"),
        actor: Actor::Citizen {
            channel: Channel::Phone,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Phone,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "noise at night".into(),
            location: Location::default(),
            citizen: Citizen::default(),
            confidential: false,
            attributes: BTreeMap::new(),
            media_url: None,
            hold: false,
        }),
    };
    send(create, hotline_bus::Service::Intake).await;
    let dispatch = TicketCommand::Act {
        idempotency_key: format!("itest:dispatch:{no}"),
        actor: Actor::Agent {
            id: "agent-1".into(),
        },
        ticket_no: no,
        action: Action::Dispatch {
            lead: code(lead),
            co: vec![],
            note: "noise: the district's".into(),
        },
    };
    send(dispatch, hotline_bus::Service::Dispatch).await;
}

/// A service's `/readyz` answers 200 within [`WAIT`].
async fn wait_ready(name: &str, url: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/readyz")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the ledger's command responder answers the gateway's subject: `/readyz` can
/// answer before it has subscribed. The probe speaks for a system actor the gateway may not
/// send, so the caller check refuses it before the ledger sees it (nothing is stored).
async fn wait_commands(bus: &Bus) {
    use hotline_bus::rpc::CallError;
    use hotline_domain::contract::{CommandAccepted, TicketCommand};
    let probe = TicketCommand::Act {
        idempotency_key: "itest:probe".into(),
        actor: Actor::system("dispatch"),
        ticket_no: ticket_no(1),
        action: Action::Accept,
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer: Result<CommandAccepted, CallError> = hotline_bus::rpc::call(
            bus,
            bus.subjects
                .ticket_commands_from(hotline_bus::Service::Gateway),
            &probe,
            Duration::from_millis(500),
        )
        .await;
        match answer {
            Err(CallError::Unavailable(_)) => {}
            Err(CallError::Remote(_)) => return,
            other => panic!("the probe was not refused: {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ledger never took commands"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the SLA service's extension responder answers (as [`wait_commands`]); the
/// probe has no idempotency key, which the SLA service refuses before anything else.
async fn wait_sla(bus: &Bus) {
    use hotline_bus::rpc::CallError;
    use hotline_domain::contract::{CommandAccepted, ExtensionRequest};
    let probe = ExtensionRequest {
        idempotency_key: String::new(),
        ticket_no: ticket_no(1),
        department: code("GZ-TH"),
        reason: "probe".into(),
        until: Utc::now(),
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer: Result<CommandAccepted, CallError> = hotline_bus::rpc::call(
            bus,
            bus.subjects.sla_extension_request(),
            &probe,
            Duration::from_millis(500),
        )
        .await;
        match answer {
            Err(CallError::Unavailable(_)) => {}
            Err(CallError::Remote(_)) => return,
            other => panic!("the probe was not refused: {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the SLA service never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn authed_as<T>(token: &str, body: T) -> Request<T> {
    let mut r = Request::new(body);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

/// Extension requests go to the SLA service, whose refusals come back as gRPC codes and HTTP
/// statuses; information requests go to the ledger. The ledger and the SLA service run here
/// for real, in-process, and the refusals are real ones: another department's deadline, a date
/// not after the deadline, a second request while one is pending.
#[tokio::test]
async fn extensions_are_checked_by_the_sla_service_and_its_refusals_are_mapped() {
    use hotline_domain::contract::{GetTicket, TicketWithHistory};

    let env = hotline_testkit::env().await.expect("test servers");
    let gw = start_in(&env).await;
    let services = env.settings().expect("settings");
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let tickets_url = format!("http://{}", listener.local_addr().expect("addr"));
    let tickets = tokio::spawn(hotline_tickets::run_with_listener(
        services.clone(),
        listener,
        stop.clone(),
    ));
    wait_ready("tickets", &tickets_url).await;
    wait_commands(&gw.bus).await;

    let mut client = gw.client().await;
    let good = ticket_no(801);
    ledger_ticket(&gw.bus, good, "GZ-TH").await;
    let accepted = client
        .accept(authed(proto::AcceptRequest {
            ticket_no: good.to_string(),
            request_id: "a1".into(),
        }))
        .await
        .expect("GZ-TH accepts")
        .into_inner();
    assert_eq!(accepted.status, "accepted");
    let request =
        |id: &str, reason: &str, until: chrono::DateTime<Utc>| proto::RequestExtensionRequest {
            ticket_no: good.to_string(),
            request_id: id.into(),
            reason: reason.into(),
            until: Some(wire_time(until)),
        };
    // No SLA service in this namespace yet: UNAVAILABLE, never a hang.
    let started = std::time::Instant::now();
    let err = client
        .request_extension(authed(request(
            "e0",
            "parts",
            Utc::now() + chrono::Duration::days(30),
        )))
        .await
        .expect_err("no sla");
    assert_eq!(err.code(), Code::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(10));

    // The SLA service comes up and starts the handling clock from the ledger's events.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sla_url = format!("http://{}", listener.local_addr().expect("addr"));
    let sla = tokio::spawn(hotline_sla::run_with_listener(
        services.clone(),
        hotline_sla::load_policy(&services).expect("policy"),
        hotline_sla::load_calendar(&services).expect("calendar"),
        listener,
        stop.clone(),
    ));
    wait_ready("sla", &sla_url).await;
    wait_sla(&gw.bus).await;
    let pool = sqlx::PgPool::connect(&env.database_url)
        .await
        .expect("Postgres");
    let deadline = tokio::time::Instant::now() + WAIT;
    let due = loop {
        let mut conn = pool.acquire().await.expect("connection");
        let clocks = hotline_sla::store::running_clocks(&mut conn, good, false)
            .await
            .expect("clocks");
        if let Some(clock) = clocks.iter().find(|c| {
            c.stage() == Some(hotline_sla::Stage::Handling)
                && c.department_code() == Some(code("GZ-TH"))
        }) {
            break clock.due_at;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no handling clock for GZ-TH: {clocks:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Another department asks about GZ-TH's deadline.
    let err = client
        .request_extension(authed_as(
            "demo-gz-hz",
            request("e1", "not ours", due + chrono::Duration::days(1)),
        ))
        .await
        .expect_err("another department's deadline");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // A date not after the deadline.
    let err = client
        .request_extension(authed(request(
            "e1",
            "too early",
            due - chrono::Duration::hours(1),
        )))
        .await
        .expect_err("not after the deadline");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    let reply = client
        .request_extension(authed(request(
            "e2",
            "parts on order",
            due + chrono::Duration::days(1),
        )))
        .await
        .expect("accepted")
        .into_inner();
    // The reply is the ledger's: its history ends with the department's request.
    let stored: TicketWithHistory = hotline_bus::rpc::call(
        &gw.bus,
        gw.bus.subjects.ticket_get(),
        &GetTicket {
            ticket_no: good,
            as_department: None,
        },
        Duration::from_secs(5),
    )
    .await
    .expect("the ledger has the ticket");
    let last = stored.history.last().expect("history");
    assert_eq!(
        (reply.seq, reply.status.as_str()),
        (last.seq, stored.ticket.status.as_str())
    );
    assert_eq!(reply.status, "accepted");
    assert_eq!(
        last.actor,
        Actor::Department {
            code: code("GZ-TH")
        },
        "the authenticated department"
    );
    assert_eq!(
        last.action,
        Some(Action::RequestExtension {
            reason: "parts on order".into(),
            until: Utc
                .timestamp_opt((due + chrono::Duration::days(1)).timestamp(), 0)
                .single()
                .expect("instant"),
        })
    );
    // The SLA service recorded it as pending, under the gateway's key.
    let (department, key, reason, status): (String, Option<String>, String, String) =
        sqlx::query_as(
            "SELECT department, idempotency_key, reason, status FROM sla.extension \
             WHERE ticket_no = $1",
        )
        .bind(hotline_sla::store::ticket_key(good))
        .fetch_one(&pool)
        .await
        .expect("one extension request");
    assert_eq!(department, "GZ-TH");
    assert_eq!(key.as_deref(), Some("gw:GZ-TH:e2"));
    assert_eq!(reason, "parts on order");
    assert_eq!(status, "pending");

    // A second request while the first is pending: the SLA service's conflict.
    let err = client
        .request_extension(authed(request(
            "e3",
            "more parts",
            due + chrono::Duration::days(2),
        )))
        .await
        .expect_err("one is pending");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

    // REST goes the same way.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{}/v1/tickets/{good}/extension", gw.rest))
        .bearer_auth("demo-gz-th")
        .json(&serde_json::json!({
            "reason": "more parts",
            "until": (due + chrono::Duration::days(2)).to_rfc3339(),
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 409);

    // 补充材料: checked at the edge, then sent to the ledger, which refuses it while the
    // extension is pending (a pending extension is decided against a running clock).
    let err = client
        .request_information(authed(proto::RequestInformationRequest {
            ticket_no: good.to_string(),
            request_id: "i1".into(),
            question: " ".into(),
        }))
        .await
        .expect_err("empty question");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .request_information(authed(proto::RequestInformationRequest {
            ticket_no: good.to_string(),
            request_id: "i2".into(),
            question: "which floor?".into(),
        }))
        .await
        .expect_err("extension pending");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let r = http
        .post(format!("http://{}/v1/tickets/{good}/information", gw.rest))
        .bearer_auth("demo-gz-th")
        .json(&serde_json::json!({"question": ""}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);

    stop.cancel();
    for (name, task) in [("tickets", tickets), ("sla", sla)] {
        let ended = tokio::time::timeout(WAIT, task)
            .await
            .unwrap_or_else(|_| panic!("{name} stops in time"))
            .expect("task");
        assert!(ended.is_ok(), "{name}: {ended:?}");
    }
    gw.stop().await;
}

fn wire_time(t: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// Reflection answers in both versions: v1 (grpcurl) and v1alpha (grpcio's own client).
#[tokio::test]
async fn reflection_lists_the_gateway_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};
    let gw = start().await;
    let service = "hotline.gateway.v1.DepartmentGateway";
    let channel = GrpcChannel::from_shared(format!("http://{}", gw.grpc))
        .expect("uri")
        .connect()
        .await
        .expect("grpc connect");

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1 reflection")
        .into_inner();
    let reply = replies.message().await.expect("v1 reply").expect("one");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("v1: not a service list: {:?}", reply.message_response);
    };
    assert!(list.service.iter().any(|s| s.name == service), "{list:?}");

    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let reply = replies
        .message()
        .await
        .expect("v1alpha reply")
        .expect("one");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("v1alpha: not a service list: {:?}", reply.message_response);
    };
    assert!(list.service.iter().any(|s| s.name == service), "{list:?}");
    gw.stop().await;
}
