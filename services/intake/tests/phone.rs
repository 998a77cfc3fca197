//! The phone channel over real Postgres, NATS and Redis: CTI events in Zammad's generic form
//! from a stand-in call platform (reqwest posting the same form), agents' tokens from a test
//! issuer, and the real ledger (the tickets service) in-process; where a test needs them, the
//! real dispatch and knowledge services too (the hold of a call's ticket from dispatch).
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

use std::time::{Duration, Instant};

use hotline_auth::Role;
use hotline_auth::testing::TestIssuer;
use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_config::{Secret, Settings};
use hotline_domain::contract::{TicketQuery, TicketView};
use hotline_domain::{Channel, TicketNo};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const CTI_TOKEN: &str = "itest-cti-token-0001";

/// What runs beside the phone channel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Beside {
    Nothing,
    Ledger,
    /// The ledger, dispatch (its demo catalogue) and knowledge.
    LedgerAndKnowledge,
}

struct Phone {
    base: String,
    /// The knowledge service's base URL, with [`Beside::LedgerAndKnowledge`].
    knowledge: Option<String>,
    http: reqwest::Client,
    issuer: TestIssuer,
    pool: sqlx::PgPool,
    stop: CancellationToken,
    settings: Settings,
    _env: hotline_testkit::TestEnv,
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Phone {
    /// The phone channel on a free port, with what runs `beside` it.
    async fn start(beside: Beside) -> Phone {
        Phone::start_with(beside, |_| {}).await
    }

    /// [`Phone::start`] with settings of the test's own (a short wrap-up time, say).
    async fn start_with(beside: Beside, adjust: impl FnOnce(&mut Settings)) -> Phone {
        let env = hotline_testkit::env().await.expect("test servers");
        let issuer = TestIssuer::start().await;
        let mut settings = env.settings().expect("settings");
        issuer.configure(&mut settings);
        adjust(&mut settings);
        // The demo's department tokens and catalogue stay (knowledge needs them); the CTI
        // token is the test's, not the demo's.
        settings.phone.cti_token = Some(Secret::new(CTI_TOKEN));
        let stop = CancellationToken::new();
        let mut ready_urls = Vec::new();
        if beside != Beside::Nothing {
            tokio::spawn(hotline_tickets::run(settings.clone(), stop.clone()));
        }
        let mut knowledge = None;
        if beside == Beside::LedgerAndKnowledge {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            ready_urls.push(format!("http://{}", listener.local_addr().expect("addr")));
            tokio::spawn(hotline_dispatch::run_with_listener(
                settings.clone(),
                listener,
                stop.clone(),
            ));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            ready_urls.push(url.clone());
            knowledge = Some(url);
            tokio::spawn(hotline_knowledge::run_with_listener(
                settings.clone(),
                listener,
                stop.clone(),
            ));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        ready_urls.push(base.clone());
        tokio::spawn(hotline_intake::phone::run_with_listener(
            settings.clone(),
            listener,
            stop.clone(),
        ));
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for url in &ready_urls {
            loop {
                let ready = http
                    .get(format!("{url}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    break;
                }
                assert!(Instant::now() < deadline, "{url} never got ready");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if beside != Beside::Nothing {
            // The ledger answers queries once it is up (ticket numbers ask it for a day's first).
            let bus = Bus::connect(&settings.nats.url, &settings.namespace, "phone-itest")
                .await
                .expect("NATS");
            while tickets(&bus, TicketQuery::default()).await.is_err() {
                assert!(Instant::now() < deadline, "the ledger never answered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let pool = sqlx::PgPool::connect(&env.database_url)
            .await
            .expect("Postgres");
        Phone {
            base,
            knowledge,
            http,
            issuer,
            pool,
            stop,
            settings,
            _env: env,
        }
    }

    async fn cti(&self, form: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/cti/{CTI_TOKEN}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .expect("CTI post");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn token(&self, who: &str, roles: &[Role]) -> String {
        self.issuer.token(who, roles, None)
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

fn call_ids(list: &Value) -> Vec<String> {
    list["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["call_id"].as_str().expect("id").to_owned())
        .collect()
}

async fn tickets(bus: &Bus, query: TicketQuery) -> Result<Vec<TicketView>, rpc::CallError> {
    rpc::call(
        bus,
        bus.subjects.ticket_list(),
        &query,
        Duration::from_secs(5),
    )
    .await
}

async fn tickets_by_phone(bus: &Bus, phone: &str) -> Vec<TicketView> {
    let query = TicketQuery {
        citizen_phone: Some(phone.to_owned()),
        ..TicketQuery::default()
    };
    tickets(bus, query).await.expect("ticket list")
}

#[tokio::test]
async fn a_call_rings_is_answered_becomes_a_ticket_and_ends() {
    let p = Phone::start(Beside::Ledger).await;
    let agent1 = p.token("agent1", &[Role::Agent]);
    let agent2 = p.token("agent2", &[Role::Agent]);

    let ring = "event=newCall&from=%2B86+138-0013-8000&to=12345&direction=in&callId=call-1&ivr=2";
    let (status, body) = p.cti(ring).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["repeated"], false);
    // The platform repeats an event: stored once.
    let (status, body) = p.cti(ring).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["repeated"], true);
    assert_eq!(
        p.count("SELECT count(*) FROM phone.event WHERE call_id = 'call-1'")
            .await,
        1
    );

    let (status, _) = p
        .cti("event=answer&from=%2B8613800138000&to=12345&direction=in&callId=call-1&user=agent1")
        .await;
    assert_eq!(status, StatusCode::OK);

    // agent1 sees the call, the number masked; agent2 neither lists nor opens it.
    let (status, active) = p.get(&agent1, "/v1/calls/active").await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(call_ids(&active), vec!["call-1"]);
    assert_eq!(active["calls"][0]["caller"], "+86****8000");
    assert_eq!(active["calls"][0]["state"], "answered");
    assert!(!active.to_string().contains("13800138000"));
    let (_, other) = p.get(&agent2, "/v1/calls/active").await;
    assert!(call_ids(&other).is_empty(), "{other}");
    let (status, _) = p.get(&agent2, "/v1/calls/call-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The ticket, with the call's number and the agent's account of the call.
    let ticket = serde_json::json!({
        "description": "楼下工地夜间施工噪音",
        "transcript": "市民反映：每晚十点后仍在施工。",
        "address": "天河路1号",
    });
    let (status, created) = p
        .post(&agent1, "/v1/calls/call-1/ticket", ticket.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let no = TicketNo::parse(created["ticket_no"].as_str().expect("no")).expect("a number");
    // A retry gives the same ticket.
    let (status, again) = p.post(&agent1, "/v1/calls/call-1/ticket", ticket).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["ticket_no"], created["ticket_no"]);
    assert_eq!(again["replayed"], true);

    let bus = Bus::connect(&p.settings.nats.url, &p.settings.namespace, "phone-itest")
        .await
        .expect("NATS");
    let found = tickets_by_phone(&bus, "+8613800138000").await;
    assert_eq!(found.len(), 1, "one ticket for the call");
    let t = &found[0];
    assert_eq!(t.ticket_no, no);
    assert_eq!(t.channel, Channel::Phone);
    assert_eq!(t.attributes["phone.agent"], vec!["agent1"]);
    assert_eq!(t.attributes["phone.call_id"], vec!["call-1"]);
    assert_eq!(t.attributes["phone.ivr"], vec!["2"]);
    assert_eq!(t.location.address.as_deref(), Some("天河路1号"));

    // The call's page: the caller's tickets, open ones listed, contact masked.
    let (status, page) = p.get(&agent1, "/v1/calls/call-1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["call"]["ticket_nos"][0], created["ticket_no"]);
    assert_eq!(page["open_ticket_nos"][0], created["ticket_no"]);
    assert_eq!(page["tickets"][0]["citizen"]["phone"], "+86****8000");
    assert!(!page.to_string().contains("13800138000"));

    // 直接答复: the leaf is recorded on the call, against the call's ticket.
    let (status, answered) = p
        .post(
            &agent1,
            "/v1/calls/call-1/answer",
            serde_json::json!({ "knowledge_leaf": "YB-JD-2" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["ticket_no"], created["ticket_no"]);
    assert_eq!(
        p.count("SELECT count(*) FROM phone.call WHERE answer_leaf = 'YB-JD-2'")
            .await,
        1
    );
    let (status, _) = p
        .post(
            &agent1,
            "/v1/calls/call-1/answer",
            serde_json::json!({ "knowledge_leaf": "not a leaf" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = p
        .cti("event=hangup&from=%2B8613800138000&to=12345&direction=in&callId=call-1&cause=normalClearing")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, active) = p.get(&agent1, "/v1/calls/active").await;
    assert!(call_ids(&active).is_empty(), "ended: {active}");

    // Tokens: none is 401, a role without phone work 403.
    let (status, _) = p.get("", "/v1/calls/active").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let staff = p
        .issuer
        .token("th-staff1", &[Role::DepartmentStaff], Some("GZ-TH"));
    let (status, _) = p.get(&staff, "/v1/calls/active").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A control character in the description: 400, no ticket.
    let (status, _) = p
        .post(
            &agent1,
            "/v1/calls/call-1/ticket",
            serde_json::json!({ "description": "bad\u{0}text" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(tickets_by_phone(&bus, "+8613800138000").await.len(), 1);
}

#[tokio::test]
async fn cti_tokens_unknown_events_and_abandoned_calls() {
    let p = Phone::start(Beside::Nothing).await;
    let form = "event=newCall&from=13900139000&to=12345&direction=in&callId=call-x";

    // Bad or missing tokens: 401, nothing stored.
    let wrong = p
        .http
        .post(format!("{}/cti/not-the-token-000", p.base))
        .body(form)
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let header_wrong = p
        .http
        .post(format!("{}/cti", p.base))
        .header("X-CTI-Token", "not-the-token-000")
        .body(form)
        .send()
        .await
        .expect("post");
    assert_eq!(header_wrong.status(), StatusCode::UNAUTHORIZED);
    let none = p
        .http
        .post(format!("{}/cti", p.base))
        .body(form)
        .send()
        .await
        .expect("post");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    // An unknown event with the right token: 422, nothing stored.
    let unknown = p
        .http
        .post(format!("{}/cti", p.base))
        .header("X-CTI-Token", CTI_TOKEN)
        .body("event=transfer&callId=call-x&direction=in&from=13900139000")
        .send()
        .await
        .expect("post");
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p.count("SELECT count(*) FROM phone.call").await, 0);
    assert_eq!(p.count("SELECT count(*) FROM phone.event").await, 0);

    // The token in a header (and as a Bearer token) works as in the path.
    let ok = p
        .http
        .post(format!("{}/cti", p.base))
        .header("X-CTI-Token", CTI_TOKEN)
        .body("event=newCall&from=13800138000&to=12345&direction=in&callId=call-a")
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::OK);
    let ok = p
        .http
        .post(format!("{}/cti", p.base))
        .bearer_auth(CTI_TOKEN)
        .body("event=answer&from=13800138000&to=12345&direction=in&callId=call-a&user=agent1")
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::OK);
    let (status, _) = p
        .cti("event=hangup&callId=call-a&cause=normalClearing")
        .await;
    assert_eq!(status, StatusCode::OK);

    // An abandoned call: rang, the caller hung up.
    let (status, _) = p.cti(form).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        let (status, _) = p
            .cti("event=hangup&from=13900139000&to=12345&direction=in&callId=call-x&cause=cancel")
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    let agent = p.token("agent1", &[Role::Agent]);
    let supervisor = p.token("supervisor1", &[Role::Supervisor]);
    let (status, missed) = p.get(&agent, "/v1/missed-calls").await;
    assert_eq!(status, StatusCode::OK, "{missed}");
    assert_eq!(call_ids(&missed), vec!["call-x"]);
    assert_eq!(missed["calls"][0]["caller"], "139****9000");
    assert_eq!(missed["calls"][0]["cause"], "cancel");

    let (status, figures) = p.get(&supervisor, "/v1/figures").await;
    assert_eq!(status, StatusCode::OK, "{figures}");
    assert_eq!(figures["offered"], 2);
    assert_eq!(figures["answered"], 1);
    assert_eq!(figures["abandoned"], 1);
    assert_eq!(figures["answer_rate"], 0.5);
    assert_eq!(figures["answered_within_target"], 0.5);
    assert_eq!(figures["answer_target_secs"], 15);
    assert_eq!(figures["missed_not_called_back"], 1);
    assert!(
        figures["average_handle_secs"]
            .as_f64()
            .is_some_and(|s| (0.0..30.0).contains(&s)),
        "{figures}"
    );
    let (status, _) = p.get(&agent, "/v1/figures").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "agents do not read figures");
    let (status, _) = p
        .get(
            &supervisor,
            "/v1/figures?from=2026-12-02T10:00:00Z&to=2026-12-01T10:00:00Z",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The callback list is worked off.
    let (status, _) = p
        .post(&agent, "/v1/missed-calls/call-a/done", Value::Null)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an answered call is no missed call"
    );
    let (status, _) = p
        .post(&agent, "/v1/missed-calls/call-x/done", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, missed) = p.get(&agent, "/v1/missed-calls").await;
    assert!(call_ids(&missed).is_empty(), "{missed}");
    let (_, figures) = p.get(&supervisor, "/v1/figures").await;
    assert_eq!(figures["missed_not_called_back"], 0);
    assert_eq!(figures["abandoned"], 1);
}

/// 直接答复 during a call: the phone channel records the leaf and files the ticket; the answer
/// step goes through the knowledge service's answer route (the ledger takes an agent's Answer
/// only from the centre's staff services), and the ticket ends up answered with that leaf.
#[tokio::test]
async fn an_answer_on_the_spot_goes_through_the_knowledge_service() {
    let p = Phone::start(Beside::LedgerAndKnowledge).await;
    let kb = p.knowledge.clone().expect("knowledge runs");
    let agent1 = p.token("agent1", &[Role::Agent]);
    let send = |method: reqwest::Method, url: String, auth: String, body: Value| {
        let http = p.http.clone();
        async move {
            let r = http
                .request(method, url)
                .header("authorization", auth)
                .json(&body)
                .send()
                .await
                .expect("send");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // A published leaf: written by the department, published by the centre (demo tokens).
    let item = serde_json::json!({
        "code": "XP", "title": "新生儿医保", "class": "consultation", "matter_code": "15.01.004",
        "owner": "GZ-RS",
        "nodes": [{
            "kind": "situation", "code": "XP-TJ-1", "label": "本市户籍新生儿",
            "children": [{
                "kind": "answer", "code": "XP-JD-1", "title": "新生儿参保登记",
                "answer": "携带户口簿办理参保登记。", "departments": ["GZ-RS"]
            }]
        }]
    });
    let (status, body) = send(
        reqwest::Method::PUT,
        format!("{kb}/v1/items/XP/draft?submit=true"),
        "Bearer demo-gz-rs".into(),
        item,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(
        reqwest::Method::POST,
        format!("{kb}/v1/items/XP/publish"),
        "Bearer demo-gz-centre".into(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for form in [
        "event=newCall&from=13700137000&to=12345&direction=in&callId=call-k",
        "event=answer&from=13700137000&to=12345&direction=in&callId=call-k&user=agent1",
    ] {
        assert_eq!(p.cti(form).await.0, StatusCode::OK);
    }
    let (status, on_call) = p
        .post(
            &agent1,
            "/v1/calls/call-k/answer",
            serde_json::json!({
                "knowledge_leaf": "XP-JD-1",
                "description": "孩子刚出生，怎么办医保？",
                "request_type": "consultation",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{on_call}");
    let no = on_call["ticket_no"].as_str().expect("a ticket").to_owned();
    assert_eq!(on_call["answer_route"], "/v1/leaves/XP-JD-1/answer");

    let (status, answered) = send(
        reqwest::Method::POST,
        format!("{kb}/v1/leaves/XP-JD-1/answer"),
        format!("Bearer {agent1}"),
        serde_json::json!({ "ticket_no": no }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answered}");

    let bus = Bus::connect(&p.settings.nats.url, &p.settings.namespace, "phone-itest")
        .await
        .expect("NATS");
    let found = tickets_by_phone(&bus, "13700137000").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ticket_no.to_string(), no);
    assert_eq!(found[0].status, hotline_domain::Status::Answered);
    assert_eq!(found[0].attributes["phone.answer_leaf"], vec!["XP-JD-1"]);
    assert_eq!(found[0].attributes["phone.agent"], vec!["agent1"]);
}

/// Publishes the knowledge item `XP` with its leaf `XP-JD-1` (written by the department,
/// published by the centre: demo tokens).
async fn publish_newborn_leaf(p: &Phone) {
    let kb = p.knowledge.clone().expect("knowledge runs");
    let item = serde_json::json!({
        "code": "XP", "title": "新生儿医保", "class": "consultation", "matter_code": "15.01.004",
        "owner": "GZ-RS",
        "nodes": [{
            "kind": "situation", "code": "XP-TJ-1", "label": "本市户籍新生儿",
            "children": [{
                "kind": "answer", "code": "XP-JD-1", "title": "新生儿参保登记",
                "answer": "携带户口簿办理参保登记。", "departments": ["GZ-RS"]
            }]
        }]
    });
    let r = p
        .http
        .put(format!("{kb}/v1/items/XP/draft?submit=true"))
        .bearer_auth("demo-gz-rs")
        .json(&item)
        .send()
        .await
        .expect("draft");
    assert_eq!(r.status(), StatusCode::OK);
    let r = p
        .http
        .post(format!("{kb}/v1/items/XP/publish"))
        .bearer_auth("demo-gz-centre")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status(), StatusCode::OK);
}

async fn one_ticket(bus: &Bus, no: TicketNo) -> TicketView {
    let query = TicketQuery {
        ticket_nos: vec![no],
        ..TicketQuery::default()
    };
    let mut found = tickets(bus, query).await.expect("ticket list");
    assert_eq!(found.len(), 1, "ticket {no}");
    found.remove(0)
}

/// Dispatch's decisions on `no`, oldest first (its log is written in batches: poll).
async fn decisions(p: &Phone, no: TicketNo) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT outcome FROM dispatch.decision WHERE ticket_no = $1 ORDER BY at, outcome",
    )
    .bind(no.as_u64() as i64)
    .fetch_all(&p.pool)
    .await
    .expect("decisions")
}

async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A matter of a city department (02.01.001, 党务政务: GZ-ZW in the demo catalogue), which
/// dispatch routes automatically without needing the district.
fn city_matter() -> Value {
    serde_json::json!({
        "description": "政务服务大厅预约系统打不开",
        "service_code": "02.01.001",
        "address": "天河区天河路1号",
        "request_type": "complaint",
    })
}

async fn call_answered_by(p: &Phone, call_id: &str, from: &str, agent: &str) {
    for form in [
        format!("event=newCall&from={from}&to=12345&direction=in&callId={call_id}"),
        format!("event=answer&from={from}&to=12345&direction=in&callId={call_id}&user={agent}"),
    ] {
        assert_eq!(p.cti(&form).await.0, StatusCode::OK);
    }
}

/// The requirement: a ticket made during a call is held from dispatch while the call is
/// open and the agent has not finished, so an answer on the spot never races an automatic
/// dispatch. The real ledger, dispatch (demo catalogue) and knowledge run beside the phone
/// channel; the wrap-up time is 2 s.
#[tokio::test]
async fn a_calls_ticket_is_held_from_dispatch_until_the_agent_finishes_or_the_wrap_up_passes() {
    const WRAP_UP_SECS: u64 = 2;
    let p = Phone::start_with(Beside::LedgerAndKnowledge, |s| {
        s.phone.wrap_up_secs = WRAP_UP_SECS;
    })
    .await;
    let kb = p.knowledge.clone().expect("knowledge runs");
    publish_newborn_leaf(&p).await;
    let agent1 = p.token("agent1", &[Role::Agent]);
    let agent2 = p.token("agent2", &[Role::Agent]);
    let bus = Bus::connect(&p.settings.nats.url, &p.settings.namespace, "phone-itest")
        .await
        .expect("NATS");
    // Shared references for the polling closures below.
    let (pp, bb) = (&p, &bus);

    // 1. Answered on the spot: the ticket is of a matter dispatch would route at once, yet it
    // waits, and the agent's answer wins.
    call_answered_by(&p, "call-h1", "13600136001", "agent1").await;
    let mut body = city_matter();
    body["knowledge_leaf"] = "XP-JD-1".into();
    let (status, on_call) = p.post(&agent1, "/v1/calls/call-h1/answer", body).await;
    assert_eq!(status, StatusCode::OK, "{on_call}");
    let answered_no = TicketNo::parse(on_call["ticket_no"].as_str().expect("no")).expect("no");
    wait_for("dispatch records the held ticket", move || async move {
        decisions(pp, answered_no).await == ["held"]
    })
    .await;
    let t = one_ticket(&bus, answered_no).await;
    assert_eq!((t.status, t.held), (hotline_domain::Status::Received, true));
    let (_, page) = p.get(&agent1, "/v1/calls/call-h1").await;
    assert_eq!(page["held_ticket_nos"][0], on_call["ticket_no"], "{page}");
    // Another agent cannot finish someone else's call.
    let (status, _) = p
        .post(&agent2, "/v1/calls/call-h1/finish", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = p
        .http
        .post(format!("{kb}/v1/leaves/XP-JD-1/answer"))
        .bearer_auth(&agent1)
        .json(&serde_json::json!({ "ticket_no": answered_no }))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::OK);
    let t = one_ticket(&bus, answered_no).await;
    assert_eq!(
        (t.status, t.held),
        (hotline_domain::Status::Answered, false)
    );
    // Finishing finds the hold already ended: nothing is released, nothing dispatched.
    let (status, finished) = p
        .post(&agent1, "/v1/calls/call-h1/finish", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{finished}");
    assert_eq!(finished["tickets"][0]["outcome"], "moved_on", "{finished}");

    // 2. Finished without an answer: the release sends it to dispatch, which routes it as a
    // new ticket.
    call_answered_by(&p, "call-h2", "13600136002", "agent1").await;
    let (status, created) = p
        .post(&agent1, "/v1/calls/call-h2/ticket", city_matter())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let finished_no = TicketNo::parse(created["ticket_no"].as_str().expect("no")).expect("no");
    wait_for("dispatch records the held ticket", move || async move {
        decisions(pp, finished_no).await == ["held"]
    })
    .await;
    assert!(one_ticket(&bus, finished_no).await.held);
    let (status, finished) = p
        .post(&agent1, "/v1/calls/call-h2/finish", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{finished}");
    assert_eq!(finished["tickets"][0]["outcome"], "released", "{finished}");
    assert_eq!(finished["tickets"][0]["ticket_no"], created["ticket_no"]);
    wait_for(
        "dispatch decides on the released ticket",
        move || async move { decisions(pp, finished_no).await.len() == 2 },
    )
    .await;
    let mut seen = decisions(&p, finished_no).await;
    seen.sort();
    assert_eq!(seen, ["auto", "held"]);
    let t = one_ticket(&bus, finished_no).await;
    assert_eq!(t.status, hotline_domain::Status::Dispatched);
    assert!(!t.held);
    assert_eq!(t.lead.as_ref().map(|d| d.as_str()), Some("GZ-ZW"));
    // Finishing again: nothing left to release.
    let (status, again) = p
        .post(&agent1, "/v1/calls/call-h2/finish", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["tickets"], serde_json::json!([]), "{again}");

    // 3. The agent's browser died: the call hangs up, nobody finishes. The ticket stays held
    // through the wrap-up time, then the sweeper releases it.
    call_answered_by(&p, "call-h3", "13600136003", "agent1").await;
    let (status, created) = p
        .post(&agent1, "/v1/calls/call-h3/ticket", city_matter())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let swept_no = TicketNo::parse(created["ticket_no"].as_str().expect("no")).expect("no");
    let (status, _) = p
        .cti("event=hangup&from=13600136003&to=12345&direction=in&callId=call-h3&cause=normalClearing")
        .await;
    assert_eq!(status, StatusCode::OK);
    let hung_up = Instant::now();
    wait_for("the swept ticket is dispatched", move || async move {
        let t = one_ticket(bb, swept_no).await;
        // Never released before the wrap-up time is over (once released, dispatch takes a
        // moment to route it: not held and not yet dispatched is fine after the wrap-up).
        assert!(
            t.held || hung_up.elapsed() >= Duration::from_secs(WRAP_UP_SECS),
            "released before the wrap-up time was over: {t:?}"
        );
        t.status == hotline_domain::Status::Dispatched
    })
    .await;
    assert!(
        hung_up.elapsed() >= Duration::from_secs(WRAP_UP_SECS),
        "released {:?} after the hang-up",
        hung_up.elapsed()
    );
    let (cause, after_hangup): (String, f64) = sqlx::query_as(
        "SELECT h.end_cause, EXTRACT(EPOCH FROM h.ended_at - c.ended_at)::float8 \
         FROM phone.held_ticket h JOIN phone.call c USING (call_id) WHERE h.ticket_no = $1",
    )
    .bind(swept_no.as_u64() as i64)
    .fetch_one(&p.pool)
    .await
    .expect("the hold's end");
    assert_eq!(cause, "wrap_up");
    assert!(after_hangup >= WRAP_UP_SECS as f64, "{after_hangup}");

    // The answered ticket was never dispatched, however long one waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(decisions(&p, answered_no).await, ["held"]);
    assert_eq!(
        one_ticket(&bus, answered_no).await.status,
        hotline_domain::Status::Answered
    );
}
