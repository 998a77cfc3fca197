//! The knowledge service against real NATS and Postgres, with the real dispatch catalogue (the
//! publish check) and the real ticket ledger (answers on the spot): two replicas of the service
//! on one store, driven over HTTP the way agents, departments and the centre use it.

use std::time::{Duration, Instant};

use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_domain::contract::{CommandAccepted, CreateTicket, Location, TicketCommand};
use hotline_domain::{Actor, Channel, RequestType, TicketNo};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);
const RS: &str = "Bearer demo-gz-rs";
const JT: &str = "Bearer demo-gz-jt";
const CENTRE: &str = "Bearer demo-gz-centre";

struct Platform {
    bus: Bus,
    http: reqwest::Client,
    /// Base URLs of the two knowledge replicas.
    replicas: [String; 2],
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The issuer of people's tokens; `agent` is an agent's token.
    _issuer: hotline_auth::testing::TestIssuer,
    agent: String,
}

impl Platform {
    async fn start() -> Platform {
        let env = hotline_testkit::env().await.expect("test servers");
        let mut settings = env.settings().expect("settings");
        let issuer = hotline_auth::testing::TestIssuer::start().await;
        issuer.configure(&mut settings);
        let agent = issuer.token("agent-7", &[hotline_auth::Role::Agent], None);
        let shutdown = CancellationToken::new();
        let bind = || async {
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind")
        };
        let (tickets, dispatch, first, second) =
            (bind().await, bind().await, bind().await, bind().await);
        let base = |l: &tokio::net::TcpListener| {
            format!("http://127.0.0.1:{}", l.local_addr().expect("addr").port())
        };
        let replicas = [base(&first), base(&second)];
        let dispatch_base = base(&dispatch);
        let tasks = vec![
            tokio::spawn(hotline_tickets::run_with_listener(
                settings.clone(),
                tickets,
                shutdown.clone(),
            )),
            tokio::spawn(hotline_dispatch::run_with_listener(
                settings.clone(),
                dispatch,
                shutdown.clone(),
            )),
            tokio::spawn(hotline_knowledge::run_with_listener(
                settings.clone(),
                first,
                shutdown.clone(),
            )),
            tokio::spawn(hotline_knowledge::run_with_listener(
                settings.clone(),
                second,
                shutdown.clone(),
            )),
        ];
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        for base in replicas.iter().chain([&dispatch_base]) {
            loop {
                let ok = http
                    .get(format!("{base}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    break;
                }
                assert!(Instant::now() < deadline, "{base} never became ready");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let bus = Bus::connect(&settings.nats.url, &settings.namespace, "knowledge-test")
            .await
            .expect("nats");
        Platform {
            bus,
            http,
            replicas,
            shutdown,
            tasks,
            _issuer: issuer,
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.replicas[0])
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn put(&self, path: &str, auth: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(auth), Some(body))
            .await
    }

    async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, auth, Some(body))
            .await
    }

    /// Reads as a department's system (items, versions and tasks need a caller).
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(RS), None).await
    }

    /// Polls `base`'s search for `q` until a hit with `leaf` appears (or `gone` and it vanishes).
    async fn wait_search(&self, base: &str, q: &str, leaf: &str, present: bool) -> Duration {
        let started = Instant::now();
        loop {
            let body: Value = self
                .http
                .get(format!("{base}/v1/search"))
                .query(&[("q", q)])
                .send()
                .await
                .expect("search")
                .json()
                .await
                .expect("json");
            let found = body["hits"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| h["code"] == leaf));
            if found == present {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < WAIT,
                "{leaf} {} in {base}'s search for {q:?}: {body}",
                if present {
                    "never appeared"
                } else {
                    "never left"
                }
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(WAIT, t).await;
        }
    }
}

/// A small medical-insurance item owned by the Human Resources and Social Security Bureau.
fn item(code: &str, matter: &str, answer: &str) -> Value {
    json!({
        "code": code, "title": "新生儿医保", "class": "consultation", "matter_code": matter,
        "owner": "GZ-RS",
        "nodes": [{
            "kind": "situation", "code": format!("{code}-TJ-1"), "label": "本市户籍新生儿",
            "children": [{
                "kind": "answer", "code": format!("{code}-JD-1"), "title": "新生儿参保登记",
                "answer": answer, "departments": ["GZ-RS"], "keywords": ["参保", "新生儿"],
                "synonyms": ["婴儿医保"], "materials": ["户口簿", "出生医学证明"]
            }, {
                "kind": "answer", "code": format!("{code}-JD-2"), "title": "中途参保",
                "answer": "出生三个月内参保的，自出生之日起享受待遇。", "departments": ["GZ-RS"]
            }]
        }]
    })
}

#[tokio::test]
async fn the_governed_loop_reaches_every_replica_and_refuses_what_breaks_the_rules() {
    let p = Platform::start().await;
    let medical_insurance = "15.01.004";

    // A department writes only its own items.
    let (status, body) = p
        .put(
            "/v1/items/XB/draft",
            JT,
            item("XB", medical_insurance, "携带户口簿办理。"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["kind"], "forbidden");
    let (status, body) = p
        .put(
            "/v1/items/XB/draft",
            RS,
            item(
                "XB",
                medical_insurance,
                "携带户口簿到街道社保服务窗口办理参保登记。",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 1);

    // Publishing without review is refused; so is a department publishing.
    let (status, body) = p
        .post("/v1/items/XB/publish", Some(CENTRE), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = p.post("/v1/items/XB/submit", Some(RS), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = p.post("/v1/items/XB/publish", Some(RS), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = p
        .post("/v1/items/XB/publish", Some(CENTRE), json!({"note": "ok"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every replica's search shows it, within a second of the publish.
    for base in &p.replicas {
        let took = p.wait_search(base, "新生儿参保", "XB-JD-1", true).await;
        assert!(took < Duration::from_secs(1), "{base} took {took:?}");
    }
    let (_, body) = p
        .get("/v1/search?q=%E6%96%B0%E7%94%9F%E5%84%BF%E5%8F%82%E4%BF%9D")
        .await;
    let hit = &body["hits"][0];
    assert_eq!(hit["code"], "XB-JD-1");
    assert!(hit["score"].as_f64().is_some_and(|s| s > 0.0));
    assert_eq!(hit["matter_code"], medical_insurance);

    // Tree navigation: the item's first choice, then the situation's answers.
    let (status, body) = p.get("/v1/items/XB/tree").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["children"][0]["code"], "XB-TJ-1");
    let (_, body) = p.get("/v1/items/XB/tree?node=XB-TJ-1").await;
    assert_eq!(body["children"].as_array().map(Vec::len), Some(2));
    let (_, body) = p.get("/v1/items/XB/tree?node=XB-JD-1").await;
    assert_eq!(body["answer"]["materials"][0], "户口簿");
    assert_eq!(body["path"], json!(["本市户籍新生儿"]));

    // A policy change opens a task due in five working days; publishing version 2 closes it.
    let (status, task) = p
        .post(
            "/v1/items/XB/policy-changes",
            Some(CENTRE),
            json!({"reason": "2027年缴费标准调整"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(task["department"], "GZ-RS");
    let (_, tasks) = p.get("/v1/tasks?department=GZ-RS&open=true").await;
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(1));
    let (status, _) = p
        .put(
            "/v1/items/XB/draft?submit=true",
            RS,
            item(
                "XB",
                medical_insurance,
                "新版：通过粤省事小程序办理参保登记。",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = p
        .post("/v1/items/XB/publish", Some(CENTRE), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tasks) = p.get("/v1/tasks?department=GZ-RS&open=true").await;
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(0), "{tasks}");
    for base in &p.replicas {
        p.wait_search(base, "粤省事", "XB-JD-1", true).await;
    }
    let (_, diff) = p.get("/v1/items/XB/diff?from=1&to=2").await;
    assert_eq!(diff["diff"]["nodes"][0]["code"], "XB-JD-1");
    assert_eq!(diff["diff"]["nodes"][0]["fields"], json!(["answer"]));
    let (_, versions) = p.get("/v1/items/XB/versions").await;
    let statuses: Vec<&str> = versions["versions"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["status"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses, vec!["published", "superseded"]);

    // The demo knowledge (loaded by the replicas in the background) passed the publish check:
    // every demo item's matter code is in the live dispatch catalogue.
    let demo = hotline_knowledge::demo::items().expect("demo items").len();
    let started = Instant::now();
    loop {
        let (_, items) = p.get("/v1/items?status=published&limit=5000").await;
        let published = items["items"]
            .as_array()
            .map_or(0, |i| i.iter().filter(|i| i["code"] != "XB").count());
        if published == demo {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{published} of {demo} demo items published"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, body) = p.get("/v1/items/YB/tree?node=YB-TJ-1").await;
    assert!(
        body["children"].as_array().is_some_and(|c| c.len() == 2),
        "{body}"
    );

    // Retiring takes it out of every replica's search.
    let (status, _) = p
        .post(
            "/v1/items/XB/retire",
            Some(CENTRE),
            json!({"note": "政策废止"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for base in &p.replicas {
        p.wait_search(base, "粤省事", "XB-JD-1", false).await;
    }
    p.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_nothing_half_stored() {
    let p = Platform::start().await;

    // A matter the dispatch catalogue does not know cannot be published.
    let (status, _) = p
        .put(
            "/v1/items/ZZ/draft?submit=true",
            RS,
            item("ZZ", "99.99.999", "答复"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = p
        .post("/v1/items/ZZ/publish", Some(CENTRE), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, body) = p.get("/v1/items/ZZ").await;
    assert_eq!(body["version"]["status"], "review");

    // An import with one malformed item stores none of them.
    let csv = "item_code,item_title,class,matter_code,owner,code,parent_code,kind,label,answer\n";
    let (status, body) = {
        let r = p
            .http
            .post(p.url("/v1/import?format=csv"))
            .header("authorization", RS)
            .body(format!("{csv}garbage\n"))
            .send()
            .await
            .expect("import");
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = {
        let r = p
            .http
            .post(p.url("/v1/import?format=mm"))
            .header("authorization", RS)
            .body("<map><node TEXT=\"x\"><node></map>")
            .send()
            .await
            .expect("import");
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, items) = p.get("/v1/items").await;
    assert_eq!(items["items"].as_array().map(Vec::len), Some(1), "{items}");

    // A 100 KB query is refused before it reaches the index (POST takes what a URL cannot);
    // so is a query over the limit in a URL, and an unauthenticated edit.
    let long = "医".repeat(35_000);
    let (status, body) = p.post("/v1/search", None, json!({ "q": long })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["kind"], "invalid");
    let r = p
        .http
        .get(p.url("/v1/search"))
        .query(&[("q", "医".repeat(400).as_str())])
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (status, _) = p
        .send(
            reqwest::Method::PUT,
            "/v1/items/ZY/draft",
            None,
            Some(item("ZY", "15.01.004", "x")),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no credential at all");
    // An agent's valid token is no editor's.
    let agent = format!("Bearer {}", p.agent);
    let (status, _) = p
        .put("/v1/items/ZY/draft", &agent, item("ZY", "15.01.004", "x"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Duplicate node codes inside one item are refused.
    let mut dup = item("ZD", "15.01.004", "答复");
    dup["nodes"][0]["children"][1]["code"] = json!("ZD-JD-1");
    let (status, body) = p.put("/v1/items/ZD/draft", RS, dup).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    p.stop().await;
}

#[tokio::test]
async fn an_answer_on_the_spot_is_recorded_against_its_leaf() {
    let p = Platform::start().await;
    let (status, _) = p
        .put(
            "/v1/items/XA/draft?submit=true",
            RS,
            item("XA", "15.01.004", "携带户口簿办理参保登记。"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = p
        .post("/v1/items/XA/publish", Some(CENTRE), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    p.wait_search(&p.replicas[0], "参保登记", "XA-JD-1", true)
        .await;

    // A citizen calls about it; the agent answers from the leaf.
    let no = TicketNo::compose(261130, u64::from(rand_seq())).expect("number");
    let created: CommandAccepted = rpc::call(
        &p.bus,
        p.bus
            .subjects
            .ticket_commands_from(hotline_bus::Service::Intake),
        &TicketCommand::Create {
            idempotency_key: format!("k-{no}"),
            actor: Actor::Citizen {
                channel: Channel::Phone,
            },
            ticket: Box::new(CreateTicket {
                ticket_no: no,
                channel: Channel::Phone,
                request_type: RequestType::Consultation,
                // No matter code yet: the agent answers during the call. Made during a call, the
                // ticket is held from dispatch (smart dispatch would route this text at once).
                service_code: None,
                description: "孩子刚出生，怎么办医保？".into(),
                location: Location::default(),
                citizen: Default::default(),
                confidential: false,
                attributes: Default::default(),
                media_url: None,
                hold: true,
            }),
        },
        WAIT,
    )
    .await
    .expect("ticket created");
    assert_eq!(created.ticket_no, no);
    let r = p
        .http
        .post(p.url("/v1/leaves/XA-JD-1/answer"))
        .bearer_auth(&p.agent)
        .json(&json!({ "ticket_no": no.to_string() }))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);

    // The figures count the contact and the answer on the spot.
    let started = Instant::now();
    loop {
        let (_, figures) = p.get("/v1/figures/first-contact").await;
        let item = figures["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["item_code"] == "XA").cloned());
        if let Some(item) = item
            && item["answered_on_the_spot"] == 1
        {
            assert_eq!(item["contacts"], 1);
            assert_eq!(item["rate"], 1.0);
            assert_eq!(figures["leaves"][0]["code"], "XA-JD-1");
            break;
        }
        assert!(started.elapsed() < WAIT, "never counted: {figures}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An agent flags the answer as outdated: a task for the owner, due in 5 working days.
    let r = p
        .http
        .post(p.url("/v1/leaves/XA-JD-1/flags"))
        .bearer_auth(&p.agent)
        .json(&json!({ "reason": "outdated", "note": "缴费渠道已变" }))
        .send()
        .await
        .expect("flag");
    assert_eq!(r.status(), StatusCode::CREATED);
    let task: Value = r.json().await.expect("task");
    assert_eq!(task["kind"], "flag");
    assert_eq!(task["leaf_code"], "XA-JD-1");
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(task["due_at"].clone()).expect("due");
    assert!(due > chrono::Utc::now() + chrono::Duration::days(4));
    // Another department cannot close it; the owner can, with a note.
    let id = task["id"].as_i64().expect("id");
    let (status, _) = p
        .post(
            &format!("/v1/tasks/{id}/close"),
            Some(JT),
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = p
        .post(
            &format!("/v1/tasks/{id}/close"),
            Some(RS),
            json!({"note": "已核实，仍然有效"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    p.stop().await;
}

/// The status, the ETag and the body of an answer.
async fn answered(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let tag = response
        .headers()
        .get("etag")
        .map(|t| t.to_str().expect("ascii").to_owned());
    (
        status,
        tag,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

/// Two editors (or two tabs) read the same item; the first write wins, the second names the
/// revision it read (If-Match) and is refused with 412 without writing anything.
#[tokio::test]
async fn a_draft_write_or_submit_against_a_stale_etag_is_refused_and_writes_nothing() {
    let p = Platform::start().await;
    let code = format!("IM{}", rand_seq());
    let draft = format!("/v1/items/{code}/draft");
    // A request with an optional If-Match.
    let write = |method: reqwest::Method, path: String, tag: Option<String>, body: Value| {
        let mut request = p
            .http
            .request(method, p.url(&path))
            .header("authorization", RS)
            .json(&body);
        if let Some(tag) = tag {
            request = request.header("if-match", tag);
        }
        answered(request)
    };
    let read = |path: String| answered(p.http.get(p.url(&path)).header("authorization", RS));

    // Without If-Match a write goes through, as before (imports, existing clients); the
    // answer carries the new ETag, strong and quoted.
    let (status, written_tag, body) = write(
        reqwest::Method::PUT,
        draft.clone(),
        None,
        item(&code, "15.01.004", "第一稿。"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let written_tag = written_tag.expect("a draft write answers its ETag");
    assert!(
        written_tag.starts_with('"') && written_tag.ends_with('"'),
        "{written_tag}"
    );

    // Both read the same item, and the same ETag.
    let (status, tag, _) = read(format!("/v1/items/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    let read_tag = tag.expect("the item has an ETag");
    assert_eq!(read_tag, written_tag);
    let (_, version_tag, _) = read(format!("/v1/items/{code}/versions/1")).await;
    assert_eq!(version_tag.as_deref(), Some(read_tag.as_str()));

    // The first writer's rewrite of the draft (same version number) wins and changes the ETag.
    let (status, first_tag, body) = write(
        reqwest::Method::PUT,
        draft.clone(),
        Some(read_tag.clone()),
        item(&code, "15.01.004", "第一位编辑的修改。"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 1, "a rewrite keeps the version number");
    let first_tag = first_tag.expect("etag");
    assert_ne!(first_tag, read_tag, "a rewrite changes the ETag");

    // The second writer read the same ETag: 412, and the stored draft is the first's.
    let (status, _, body) = write(
        reqwest::Method::PUT,
        draft.clone(),
        Some(read_tag.clone()),
        item(&code, "15.01.004", "第二位编辑的修改。"),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(body["error"]["kind"], "precondition_failed");
    let (_, tag, stored) = read(format!("/v1/items/{code}/versions/1")).await;
    assert_eq!(
        stored["item"]["nodes"][0]["children"][0]["answer"],
        "第一位编辑的修改。"
    );
    assert_eq!(tag.as_deref(), Some(first_tag.as_str()), "nothing written");

    // A weak tag, another item's sort of tag or a list without the current one never match.
    for stale in [
        format!("W/{first_tag}"),
        "\"not-ours\"".to_owned(),
        format!("{read_tag}, \"0\""),
    ] {
        let (status, _, _) = write(
            reqwest::Method::PUT,
            draft.clone(),
            Some(stale.clone()),
            item(&code, "15.01.004", "x"),
        )
        .await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{stale}");
    }

    // A submit with the stale ETag is refused too, and the draft stays a draft.
    let submit = format!("/v1/items/{code}/submit");
    let (status, _, body) = write(
        reqwest::Method::POST,
        submit.clone(),
        Some(read_tag.clone()),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    let (_, _, versions) = read(format!("/v1/items/{code}/versions")).await;
    assert_eq!(versions["versions"][0]["status"], "draft");

    // With the current one (in a list, as RFC 9110 allows) it goes to review, and the submit
    // changes the ETag: a form read before it is stale.
    let (status, submitted_tag, body) = write(
        reqwest::Method::POST,
        submit.clone(),
        Some(format!("\"0\", {first_tag}")),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "review");
    assert_ne!(submitted_tag.as_deref(), Some(first_tag.as_str()));

    // If-Match on an item that does not exist: nothing to match, nothing created.
    let missing = format!("IN{}", rand_seq());
    let (status, _, _) = write(
        reqwest::Method::PUT,
        format!("/v1/items/{missing}/draft"),
        Some("*".to_owned()),
        item(&missing, "15.01.004", "x"),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _) = p.get(&format!("/v1/items/{missing}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    p.stop().await;
}

/// A reviewer's page read before another review and the owner's resubmission names an ETag
/// that is no longer the item's: publishing, rejecting or retiring with it is refused (412) and
/// changes nothing; with the current one each goes through and answers the next ETag.
#[tokio::test]
async fn a_review_step_against_a_stale_etag_is_refused_and_changes_nothing() {
    let p = Platform::start().await;
    let code = format!("IR{}", rand_seq());
    // A step with an If-Match, answering the status, the ETag and the body.
    let step = |path: String, auth: &'static str, tag: String, body: Value| {
        let request = p
            .http
            .post(p.url(&path))
            .header("authorization", auth)
            .header("if-match", tag)
            .json(&body);
        answered(request)
    };
    let current = || {
        let request = p
            .http
            .get(p.url(&format!("/v1/items/{code}")))
            .header("authorization", RS);
        async move {
            let response = request.send().await.expect("request");
            let tag = response
                .headers()
                .get("etag")
                .map(|t| t.to_str().expect("ascii").to_owned())
                .expect("an ETag");
            let body: Value = response.json().await.expect("json");
            (tag, body["version"]["status"].clone())
        }
    };
    let (status, body) = p
        .put(
            &format!("/v1/items/{code}/draft?submit=true"),
            RS,
            item(&code, "15.01.004", "第一稿。"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The reviewer's page: version 1 in review, and its ETag.
    let (seen, _) = current().await;
    // Meanwhile another reviewer sends it back, and the owner resubmits version 2.
    let (status, _, body) = step(
        format!("/v1/items/{code}/reject"),
        CENTRE,
        seen.clone(),
        json!({"note": "请补充材料"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = p
        .put(
            &format!("/v1/items/{code}/draft?submit=true"),
            RS,
            item(&code, "15.01.004", "第二稿。"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The first reviewer publishes from the page read before: refused, nothing published.
    let (status, _, body) = step(
        format!("/v1/items/{code}/publish"),
        CENTRE,
        seen.clone(),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(body["error"]["kind"], "precondition_failed");
    let (now, state) = current().await;
    assert_eq!(state, "review", "still in review");
    let (status, _, _) = step(
        format!("/v1/items/{code}/reject"),
        CENTRE,
        seen.clone(),
        json!({"note": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        current().await,
        (now.clone(), json!("review")),
        "nothing written"
    );
    // With the page read now: published, and the answer names the next ETag.
    let (status, published_tag, body) = step(
        format!("/v1/items/{code}/publish"),
        CENTRE,
        now.clone(),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    let published_tag = published_tag.expect("a publish answers its ETag");
    assert_eq!(current().await, (published_tag.clone(), json!("published")));
    // Retiring with the ETag of before the publish is refused; with the current one it is done.
    let (status, _, _) = step(
        format!("/v1/items/{code}/retire"),
        CENTRE,
        now,
        json!({"note": "政策废止"}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(current().await.1, "published");
    let (status, _, body) = step(
        format!("/v1/items/{code}/retire"),
        CENTRE,
        published_tag,
        json!({"note": "政策废止"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(current().await.1, "retired");
    p.stop().await;
}

fn rand_seq() -> u32 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7)
        % 900_000_000)
        + 1
}
