//! The route × role test (issue 8): every route of tickets, dispatch, knowledge (reading,
//! editing, answering), SLA and the phone channel, called by every role, without a token, with
//! an expired token, with tokens of another issuer and another audience, and by department staff
//! on another department's ticket. 401/403 exactly where docs/roles.md says no, neither where it says yes.
//!
//! Tokens come from the real issuer (services/identity, password grant); the refused kinds of
//! token are signed with its real current key (expired, other audience, other issuer) or with a
//! key it never published. The services run in-process on the test's own database and namespace.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hotline_bus::rpc;
use hotline_config::Settings;
use hotline_domain::contract::{CommandAccepted, CreateTicket, Location, TicketCommand};
use hotline_domain::{Actor, Channel, RequestType, TicketNo};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The people of the demo, plus a knowledge editor who is nothing else.
const PEOPLE: [&str; 7] = [
    "agent1",
    "dispatcher1",
    "supervisor1",
    "admin1",
    "th-staff1",
    "hz-staff1",
    "ke-th",
];
const CENTRE: [&str; 4] = ["agent1", "dispatcher1", "supervisor1", "admin1"];

/// Tokens that must get 401 wherever a credential is needed.
const REFUSED: [&str; 5] = [
    "anonymous",
    "expired",
    "other-issuer",
    "other-audience",
    "unknown-key",
];

pub struct Platform {
    pub settings: Settings,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    pub tasks: tokio::task::JoinSet<(&'static str, anyhow::Result<()>)>,
    _env: hotline_testkit::TestEnv,
}

impl Platform {
    /// Identity, tickets, dispatch, knowledge, SLA, survey and phone in this process.
    pub async fn start() -> Platform {
        let env = hotline_testkit::env().await.expect("test servers");
        let settings = env.settings().expect("settings");
        assert_eq!(settings.auth.issuer, settings.identity.issuer);
        let shutdown = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let s = settings.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { ("identity", hotline_identity::run(s, stop).await) });
        let s = settings.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { ("tickets", hotline_tickets::run(s, stop).await) });
        let s = settings.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { ("dispatch", hotline_dispatch::run(s, stop).await) });
        let s = settings.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { ("knowledge", hotline_knowledge::run(s, stop).await) });
        let s = settings.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { ("sla", hotline_sla::run(s, stop).await) });
        let s = settings.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { ("survey", hotline_survey::run(s, stop).await) });
        let s = settings.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { ("phone", hotline_intake::phone::run(s, stop).await) });
        let mut p = Platform {
            settings,
            http: reqwest::Client::new(),
            shutdown,
            tasks,
            _env: env,
        };
        let s = p.settings.clone();
        for port in [
            s.identity.port,
            s.tickets.port,
            s.dispatch.port,
            s.knowledge.port,
            s.sla.port,
            s.survey.port,
            s.phone.port,
        ] {
            p.wait_ready(port).await;
        }
        p
    }

    async fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ok = self
                .http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            if let Some(Ok((name, result))) = self.tasks.try_join_next() {
                panic!("{name} stopped while starting: {result:?}");
            }
            assert!(Instant::now() < deadline, "port {port} never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, port: u16, path: &str) -> String {
        format!("http://127.0.0.1:{port}{path}")
    }

    /// An access token from the issuer's password grant.
    pub async fn sign_in(&self, username: &str, password: &str) -> String {
        let r = self
            .http
            .post(format!("{}/token", self.settings.identity.issuer))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
                ("client_id", "hotline-console"),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(r.status(), 200, "sign in as {username}");
        let body: Value = r.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Tokens for every person, and the kinds of token that must be refused.
    pub async fn tokens(&self) -> HashMap<&'static str, Option<String>> {
        let pool = hotline_identity::connect_db(&self.settings)
            .await
            .expect("identity db");
        let editor = hotline_identity::NewAccount::parse(
            "ke-th",
            Some("Knowledge editor of GZ-TH"),
            &["knowledge_editor".to_owned()],
            Some("GZ-TH"),
        )
        .expect("account");
        hotline_identity::Accounts::new(pool.clone())
            .add(&editor, "ke-th-password-1")
            .await
            .expect("add ke-th");
        let mut tokens = HashMap::new();
        for who in PEOPLE {
            let password = if who == "ke-th" {
                "ke-th-password-1".to_owned()
            } else {
                format!("demo-{who}")
            };
            tokens.insert(who, Some(self.sign_in(who, &password).await));
        }
        tokens.insert("anonymous", None);
        // Signed with the issuer's own current key, but wrong in one claim each.
        let keys = hotline_identity::keys::KeyRing::new(pool, 900)
            .load()
            .await
            .expect("keys");
        let now = chrono::Utc::now().timestamp();
        let claims = |iss: &str, aud: &str, exp: i64| {
            json!({
                "iss": iss, "sub": "admin1", "aud": aud, "exp": exp, "nbf": now - 60,
                "iat": now - 60, "jti": uuid::Uuid::new_v4().to_string(),
                "azp": "hotline-console", "roles": ["admin"], "scope": "openid profile hotline",
            })
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(keys.kid.clone());
        let sign = |c: &Value| jsonwebtoken::encode(&header, c, &keys.encoding).expect("sign");
        let issuer = self.settings.auth.issuer.clone();
        let audience = self.settings.auth.audience.clone();
        tokens.insert(
            "expired",
            Some(sign(&claims(&issuer, &audience, now - 3600))),
        );
        tokens.insert(
            "other-issuer",
            Some(sign(&claims(
                "http://127.0.0.1:1/evil",
                &audience,
                now + 600,
            ))),
        );
        tokens.insert(
            "other-audience",
            Some(sign(&claims(&issuer, "another-app", now + 600))),
        );
        // A well-formed admin token from a key the issuer never published.
        let stranger = hotline_auth::testing::SigningKey::es256("stranger-key");
        tokens.insert(
            "unknown-key",
            Some(stranger.sign(&claims(&issuer, &audience, now + 600))),
        );
        // The valid ones really verify (the refusals below are not a broken issuer).
        let verifier = hotline_auth::Verifier::from_settings(&self.settings).expect("verifier");
        for who in PEOPLE {
            let token = tokens[who].as_deref().expect("token");
            verifier.verify(token).await.expect("a real token verifies");
        }
        tokens
    }

    /// Creates a ticket over the ledger's command subject, as intake does.
    pub async fn create_ticket(&self, confidential: bool, phone: &str) -> TicketNo {
        let bus =
            hotline_bus::Bus::connect(&self.settings.nats.url, &self.settings.namespace, "test")
                .await
                .expect("bus");
        let seq = (uuid::Uuid::new_v4().as_u128() % 900_000_000) as u64 + 1;
        let no = TicketNo::compose(261202, seq).expect("number");
        let created: CommandAccepted = rpc::call(
            &bus,
            bus.subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            &TicketCommand::Create {
                idempotency_key: format!("roles-{no}"),
                actor: Actor::Citizen {
                    channel: Channel::Phone,
                },
                ticket: Box::new(CreateTicket {
                    ticket_no: no,
                    channel: Channel::Phone,
                    request_type: RequestType::Complaint,
                    service_code: None,
                    description: "楼下餐馆油烟很大".into(),
                    location: Location::default(),
                    citizen: hotline_domain::contract::Citizen {
                        name: Some("测试人".into()),
                        phone: Some(phone.into()),
                        ..Default::default()
                    },
                    confidential,
                    attributes: Default::default(),
                    media_url: None,
                    hold: false,
                }),
            },
            Duration::from_secs(10),
        )
        .await
        .expect("ticket created");
        created.ticket_no
    }

    /// Sends one request; returns the status.
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> u16 {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.http.request(method, url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().await.expect("request").status().as_u16()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One row of docs/roles.md: a request and who may make it.
struct Case {
    port: u16,
    method: &'static str,
    path: String,
    body: Option<Value>,
    allowed: Vec<&'static str>,
}

fn case(
    port: u16,
    method: &'static str,
    path: &str,
    body: Option<Value>,
    allowed: &[&'static str],
) -> Case {
    Case {
        port,
        method,
        path: path.to_owned(),
        body,
        allowed: allowed.to_vec(),
    }
}

fn all_people() -> Vec<&'static str> {
    PEOPLE.to_vec()
}

fn plus(base: &[&'static str], more: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(more).copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_exactly_whom_the_roles_table_refuses() {
    let p = Platform::start().await;
    let tokens = p.tokens().await;
    let s = p.settings.clone();
    let admin = tokens["admin1"].clone().expect("admin");
    let dispatcher = tokens["dispatcher1"].clone().expect("dispatcher");

    // A GZ-TH ticket, and a confidential one, dispatched there by the dispatcher.
    let ticket = p.create_ticket(false, "13912340001").await;
    let secret = p.create_ticket(true, "13912340002").await;
    for no in [ticket, secret] {
        let status = p
            .call(
                "POST",
                &p.url(s.tickets.port, &format!("/v1/tickets/{no}/actions")),
                Some(&dispatcher),
                Some(&json!({"action": "dispatch", "lead": "GZ-TH"})),
            )
            .await;
        assert_eq!(status, 200, "dispatch {no} to GZ-TH");
    }
    // The SLA service starts the department's clock from the events: wait for it, so that the
    // deadlines of the ticket are the department's (and refused to another department).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = p
            .http
            .get(p.url(s.sla.port, &format!("/v1/tickets/{ticket}/deadlines")))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("deadlines");
        if r.status() == 200 {
            let body: Value = r.json().await.expect("json");
            if body["clocks"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["department"] == "GZ-TH"))
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no GZ-TH clock for {ticket}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A catalogue entry and a knowledge item to point the routes at.
    let catalogue: Vec<Value> = p
        .http
        .get(p.url(s.dispatch.port, "/v1/catalogue"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("catalogue")
        .json()
        .await
        .expect("json");
    let entry = catalogue.first().expect("a catalogue entry").clone();
    let code = entry["code"].as_str().expect("code").to_owned();
    // The demo knowledge is published in the background after knowledge is ready: wait for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let items = loop {
        let items: Value = p
            .http
            .get(p.url(s.knowledge.port, "/v1/items"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("items")
            .json()
            .await
            .expect("json");
        if items["items"][0]["code"].is_string() || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let item = items["items"][0]["code"]
        .as_str()
        .expect("a demo knowledge item")
        .to_owned();

    let t = s.tickets.port;
    let d = s.dispatch.port;
    let k = s.knowledge.port;
    let sla = s.sla.port;
    let survey = s.survey.port;
    let phone = s.phone.port;
    let centre_th = plus(&CENTRE, &["th-staff1"]);
    let centre_staff = plus(&CENTRE, &["th-staff1", "hz-staff1"]);
    let revealers = ["agent1", "supervisor1", "admin1"];
    let editors = ["admin1", "th-staff1", "ke-th"];
    let mut put_body = json!({ "entry": entry, "reason": "roles test" });
    put_body["expected_version"] = entry["version"].clone();
    let act = |body: Value| Some(body);
    let cases = vec![
        // Tickets (8081).
        case(t, "GET", "/v1/tickets", None, &centre_staff),
        case(t, "GET", "/v1/tickets?department=GZ-TH", None, &centre_th),
        case(
            t,
            "GET",
            "/v1/tickets?phone=13912340001&reason=callback",
            None,
            &revealers,
        ),
        case(t, "GET", &format!("/v1/tickets/{ticket}"), None, &centre_th),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "answer", "answer": "x"})),
            &revealers,
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "merge", "into": secret.to_string()})),
            &["agent1", "dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "dispatch", "lead": "GZ-TH"})),
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "supervise", "note": "快办"})),
            &["supervisor1", "admin1"],
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "decide_extension", "approved": false})),
            &["supervisor1", "admin1"],
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "close"})),
            &revealers,
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "accept"})),
            &["th-staff1"],
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/actions"),
            act(json!({"action": "add_progress", "note": "在办"})),
            &["th-staff1"],
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{ticket}/reveal"),
            act(json!({"reason": "call back"})),
            &plus(&revealers, &["th-staff1"]),
        ),
        case(
            t,
            "POST",
            &format!("/v1/tickets/{secret}/reveal"),
            act(json!({"reason": "call back"})),
            &revealers,
        ),
        case(t, "GET", "/v1/reveals", None, &["supervisor1", "admin1"]),
        case(
            t,
            "GET",
            "/v1/hotspots?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
            None,
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            t,
            "GET",
            &format!("/v1/tickets/{ticket}/duplicates"),
            None,
            &CENTRE,
        ),
        case(
            t,
            "POST",
            "/v1/duplicates",
            Some(json!({"address": "天河区体育西路103号"})),
            &CENTRE,
        ),
        // A draft with a phone number finds a person's tickets: the roles that may reveal.
        case(
            t,
            "POST",
            "/v1/duplicates",
            Some(json!({"phone": "13912340001", "address": "天河区体育西路103号"})),
            &revealers,
        ),
        // Dispatch (8082).
        case(d, "GET", "/v1/catalogue", None, &all_people()),
        case(
            d,
            "GET",
            &format!("/v1/catalogue/{code}"),
            None,
            &all_people(),
        ),
        case(
            d,
            "GET",
            &format!("/v1/catalogue/{code}/history"),
            None,
            &all_people(),
        ),
        case(
            d,
            "PUT",
            &format!("/v1/catalogue/{code}"),
            Some(put_body),
            &["admin1"],
        ),
        case(
            d,
            "GET",
            "/v1/manual-queue",
            None,
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            d,
            "POST",
            &format!("/v1/manual-queue/{ticket}/dispatch"),
            act(json!({"lead": "GZ-TH"})),
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            d,
            "GET",
            "/v1/decisions/summary",
            None,
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            d,
            "GET",
            "/v1/figures",
            None,
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            d,
            "POST",
            "/v1/assess",
            Some(json!({"text": "公司拖欠工资三个月"})),
            &["agent1", "dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            d,
            "POST",
            "/v1/assist",
            Some(json!({"text": "天河区天河路208号路灯不亮，电话13800138000"})),
            &["agent1", "dispatcher1", "supervisor1", "admin1"],
        ),
        // Knowledge (8085): reading what is not public, editing, answering.
        case(k, "GET", "/v1/items", None, &all_people()),
        case(k, "GET", &format!("/v1/items/{item}"), None, &all_people()),
        case(
            k,
            "GET",
            &format!("/v1/items/{item}/versions"),
            None,
            &all_people(),
        ),
        case(
            k,
            "GET",
            &format!("/v1/items/{item}/versions/1"),
            None,
            &all_people(),
        ),
        case(
            k,
            "GET",
            &format!("/v1/items/{item}/diff?from=1&to=1"),
            None,
            &all_people(),
        ),
        case(k, "GET", "/v1/tasks", None, &all_people()),
        case(k, "GET", "/v1/figures/first-contact", None, &all_people()),
        // Editing with a body the editor's route refuses as invalid (400): the point is who
        // gets past the door, not what the governance rules then say.
        case(
            k,
            "PUT",
            "/v1/items/bad%20code/draft",
            act(json!({})),
            &editors,
        ),
        case(k, "POST", "/v1/items/bad%20code/submit", None, &editors),
        case(
            k,
            "POST",
            "/v1/items/bad%20code/publish",
            act(json!({})),
            &editors,
        ),
        case(
            k,
            "POST",
            "/v1/items/bad%20code/reject",
            act(json!({"note": "x"})),
            &editors,
        ),
        case(
            k,
            "POST",
            "/v1/items/bad%20code/retire",
            act(json!({"note": "x"})),
            &editors,
        ),
        // Policy changes are the centre's: a department's editor is refused by the rules.
        case(
            k,
            "POST",
            "/v1/items/bad%20code/policy-changes",
            act(json!({"reason": "x"})),
            &["admin1"],
        ),
        case(
            k,
            "POST",
            "/v1/tasks/999999999/close",
            act(json!({"note": ""})),
            &editors,
        ),
        case(k, "POST", "/v1/import?format=nonsense", None, &editors),
        case(
            k,
            "POST",
            "/v1/leaves/bad%20code/flags",
            act(json!({"reason": "wrong"})),
            &revealers,
        ),
        case(
            k,
            "POST",
            "/v1/leaves/bad%20code/answer",
            act(json!({"ticket_no": ticket.to_string()})),
            &revealers,
        ),
        // SLA (8086).
        case(
            sla,
            "GET",
            &format!("/v1/tickets/{ticket}/deadlines"),
            None,
            &centre_th,
        ),
        case(sla, "GET", "/v1/figures", None, &centre_staff),
        case(sla, "GET", "/v1/figures?department=GZ-TH", None, &centre_th),
        case(
            sla,
            "GET",
            "/v1/extensions",
            None,
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            sla,
            "GET",
            "/v1/report",
            None,
            &["dispatcher1", "supervisor1", "admin1"],
        ),
        case(
            sla,
            "POST",
            &format!("/v1/extensions/{ticket}/decision"),
            act(json!({"approved": false})),
            &["supervisor1", "admin1"],
        ),
        case(sla, "GET", "/v1/policy", None, &all_people()),
        // Survey (8088): a survey or review that does not exist is 404 for those let in.
        case(
            survey,
            "GET",
            &format!("/v1/surveys?ticket_no={ticket}"),
            None,
            &CENTRE,
        ),
        case(survey, "GET", "/v1/surveys/999999999", None, &CENTRE),
        case(survey, "GET", "/v1/calls", None, &CENTRE),
        case(
            survey,
            "POST",
            "/v1/surveys/999999999/answer",
            act(json!({"keypresses": "11"})),
            &revealers,
        ),
        case(
            survey,
            "POST",
            "/v1/surveys/999999999/not-reached",
            None,
            &revealers,
        ),
        case(
            survey,
            "GET",
            "/v1/reviews",
            None,
            &["supervisor1", "admin1"],
        ),
        case(
            survey,
            "POST",
            &format!("/v1/reviews/{ticket}/decision"),
            act(json!({"decision": "explained", "note": "已解释"})),
            &["supervisor1", "admin1"],
        ),
        case(survey, "GET", "/v1/figures", None, &centre_staff),
        case(survey, "GET", "/v1/figures.csv", None, &centre_staff),
        case(
            survey,
            "GET",
            "/v1/figures?department=GZ-TH",
            None,
            &centre_th,
        ),
        // Phone (8084): a call that does not exist is 404 for those let in.
        case(
            phone,
            "GET",
            "/v1/calls/active",
            None,
            &["agent1", "supervisor1"],
        ),
        case(
            phone,
            "GET",
            "/v1/calls/no-such-call",
            None,
            &["agent1", "supervisor1"],
        ),
        case(
            phone,
            "POST",
            "/v1/calls/no-such-call/ticket",
            act(json!({"description": "x"})),
            &["agent1", "supervisor1"],
        ),
        case(
            phone,
            "POST",
            "/v1/calls/no-such-call/answer",
            act(json!({"knowledge_leaf": "YB-JD-1"})),
            &["agent1", "supervisor1"],
        ),
        case(
            phone,
            "GET",
            "/v1/missed-calls",
            None,
            &["agent1", "supervisor1"],
        ),
        case(
            phone,
            "POST",
            "/v1/missed-calls/no-such-call/done",
            None,
            &["agent1", "supervisor1"],
        ),
        case(
            phone,
            "GET",
            "/v1/figures",
            None,
            &["supervisor1", "admin1"],
        ),
    ];

    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &cases {
        let url = p.url(c.port, &c.path);
        for who in PEOPLE.iter().chain(REFUSED.iter()) {
            let token = tokens[who].as_deref();
            let status = p.call(c.method, &url, token, c.body.as_ref()).await;
            checked += 1;
            let expected_refusal = if REFUSED.contains(who) {
                Some(401)
            } else if c.allowed.contains(who) {
                None
            } else {
                Some(403)
            };
            let ok = match expected_refusal {
                Some(code) => status == code,
                None => status != 401 && status != 403,
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {who}: {status}, expected {}",
                    c.method,
                    c.path,
                    expected_refusal.map_or("neither 401 nor 403".to_owned(), |c| c.to_string())
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} calls disagree with docs/roles.md:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The finding, re-run: an X-Agent-Id header is no credential.
    let r = p
        .http
        .post(p.url(t, &format!("/v1/tickets/{ticket}/actions")))
        .header("x-agent-id", "anyone")
        .json(&json!({"action": "supervise", "note": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    // Published answers stay public.
    let status = p
        .call(
            "GET",
            &p.url(k, "/v1/search?q=%E5%8C%BB%E4%BF%9D"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "search is public");
}
