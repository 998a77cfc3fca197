//! Smart dispatch on the real ledger, knowledge service, NATS and Postgres: free text with no
//! matter code goes to its department without a person when the classifier is sure; unsure
//! or out-of-scope text waits in the manual queue with the top three or a proposed rule; a
//! return ruled wrong marks the decision corrected and becomes a training label, as does a
//! person's manual choice; the figures count all of it.

use std::time::Duration;

use hotline_auth::Role;
use hotline_bus::Bus;
use hotline_bus::rpc::{self, CallError};
use hotline_domain::contract::{
    Citizen, CommandAccepted, CreateTicket, GetTicket, Location, TicketCommand, TicketQuery,
    TicketView, TicketWithHistory,
};
use hotline_domain::ticket::ReturnDecision;
use hotline_domain::{Action, Actor, Channel, DeptCode, RequestType, Status, TicketNo};
use serde_json::{Value, json};
use sqlx::{PgPool, Row as _};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

const LABOUR: &str = "我在公司工作了三年，公司一直没有给我缴纳社会保险和住房公积金，还拖欠了两个月工资，请问我应该怎么维权？劳动合同也没有签。";
const DISCIPLINE: &str = "我要举报我们镇的镇长收受贿赂、以权谋私，请严肃查处。";
const FIRE: &str = "我家楼下的商铺着火了，浓烟滚滚，楼上还有老人，请马上派人来！";
const VAGUE: &str = "你好，我想反映一个情况，麻烦尽快处理一下，谢谢。";

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Running {
    bus: Bus,
    pool: PgPool,
    http: String,
    web: reqwest::Client,
    dispatcher: String,
    shutdown: CancellationToken,
    _issuer: hotline_auth::testing::TestIssuer,
}

async fn start() -> Running {
    let env = hotline_testkit::env().await.expect("test env");
    let mut settings = env.settings().expect("settings");
    let issuer = hotline_auth::testing::TestIssuer::start().await;
    issuer.configure(&mut settings);
    // The demo catalogue and the demo knowledge (whose items name their matters).
    settings.demo = true;
    settings.validate().expect("valid settings");
    let shutdown = CancellationToken::new();
    tokio::spawn(hotline_tickets::run(settings.clone(), shutdown.clone()));
    tokio::spawn(hotline_knowledge::run(settings.clone(), shutdown.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(hotline_dispatch::run_with_listener(
        settings.clone(),
        listener,
        shutdown.clone(),
    ));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "smart-dispatch-test")
        .await
        .expect("nats");
    let pool = hotline_bus::db::connect(&env.database_url, 4)
        .await
        .expect("postgres");
    eventually("the ledger and the dispatch API", || {
        let (bus, http) = (bus.clone(), http.clone());
        async move {
            let probe: Result<Vec<TicketView>, CallError> = rpc::call(
                &bus,
                bus.subjects.ticket_list(),
                &TicketQuery::default(),
                Duration::from_millis(200),
            )
            .await;
            let ready = reqwest::get(format!("{http}/readyz")).await.ok()?;
            (probe.is_ok() && ready.status().is_success()).then_some(())
        }
    })
    .await;
    Running {
        dispatcher: issuer.token("dispatcher-3", &[Role::Dispatcher], None),
        bus,
        pool,
        http,
        web: reqwest::Client::new(),
        shutdown,
        _issuer: issuer,
    }
}

impl Running {
    async fn send(&self, no: TicketNo, key: &str, actor: Actor, action: Action) {
        let caller = hotline_tickets::callers::sender_of(&actor).expect("a service's actor");
        let _: CommandAccepted = rpc::call(
            &self.bus,
            self.bus.subjects.ticket_commands_from(caller),
            &TicketCommand::Act {
                idempotency_key: key.to_owned(),
                actor,
                ticket_no: no,
                action,
            },
            Duration::from_secs(5),
        )
        .await
        .expect("the ledger accepts");
    }

    async fn create(&self, text: &str) -> TicketNo {
        let serial = (uuid::Uuid::new_v4().as_u128() % 9_000_000) as u64 + 1;
        let no = TicketNo::compose(261203, serial).expect("no");
        let _: CommandAccepted = rpc::call(
            &self.bus,
            self.bus
                .subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            &TicketCommand::Create {
                idempotency_key: format!("create-{no}"),
                actor: Actor::Citizen {
                    channel: Channel::Wechat,
                },
                ticket: Box::new(CreateTicket {
                    ticket_no: no,
                    channel: Channel::Wechat,
                    request_type: RequestType::Complaint,
                    service_code: None,
                    description: text.into(),
                    location: Location::default(),
                    citizen: Citizen::default(),
                    confidential: false,
                    attributes: Default::default(),
                    media_url: None,
                    hold: false,
                }),
            },
            Duration::from_secs(5),
        )
        .await
        .expect("created");
        no
    }

    async fn ticket(&self, no: TicketNo) -> TicketWithHistory {
        rpc::call(
            &self.bus,
            self.bus.subjects.ticket_get(),
            &GetTicket {
                ticket_no: no,
                as_department: None,
            },
            Duration::from_secs(5),
        )
        .await
        .expect("the ticket")
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .web
            .get(format!("{}{path}", self.http))
            .bearer_auth(&self.dispatcher)
            .send()
            .await
            .expect("get");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    async fn queued(&self, no: TicketNo) -> Value {
        eventually(&format!("{no} in the manual queue"), || async move {
            let queue = self.get("/v1/manual-queue").await;
            queue
                .as_array()?
                .iter()
                .find(|q| q["ticket_no"] == no.to_string())
                .cloned()
        })
        .await
    }

    async fn decision(&self, no: TicketNo) -> sqlx::postgres::PgRow {
        eventually(&format!("the decision on {no}"), || async move {
            sqlx::query(
                "SELECT outcome, lead, via, category, confidence, latency_ms, returned_at, corrected_to, model \
                 FROM dispatch.decision WHERE ticket_no = $1 AND via = 'classifier'",
            )
            .bind(no.as_u64() as i64)
            .fetch_optional(&self.pool)
            .await
            .expect("query")
        })
        .await
    }
}

#[tokio::test]
async fn free_text_is_dispatched_queued_corrected_and_counted() {
    let r = start().await;

    // Sure: to the social-insurance bureau, in the ledger, with the classifier's reason.
    let labour = r.create(LABOUR).await;
    let t = eventually("the labour ticket dispatched", || async {
        let t = r.ticket(labour).await;
        (t.ticket.status == Status::Dispatched).then_some(t)
    })
    .await;
    assert_eq!(t.ticket.lead.as_ref().map(|d| d.as_str()), Some("GZ-RS"));
    let note = t
        .history
        .iter()
        .find_map(|h| match &h.action {
            Some(Action::Dispatch { note, .. }) => Some(note.clone()),
            _ => None,
        })
        .expect("a dispatch step");
    assert!(note.starts_with("智能派单：劳动和社会保障"), "{note}");
    let d = r.decision(labour).await;
    assert_eq!(d.get::<String, _>("outcome"), "auto");
    assert_eq!(
        d.get::<Option<String>, _>("category").as_deref(),
        Some("劳动和社会保障")
    );
    assert!(
        d.get::<Option<f32>, _>("confidence")
            .is_some_and(|c| c > 0.75)
    );
    assert!(d.get::<Option<f32>, _>("latency_ms").is_some());
    assert!(
        d.get::<Option<String>, _>("model")
            .is_some_and(|m| m.starts_with("dispatch-classifier"))
    );

    // Out of scope: first in the queue, with the rule proposed; never rejected by itself.
    let discipline = r.create(DISCIPLINE).await;
    let vague = r.create(VAGUE).await;
    let fire = r.create(FIRE).await;
    let q = r.queued(fire).await;
    assert_eq!(q["priority"], "emergency", "{q}");
    assert_eq!(q["proposal"]["action"], "emergency");
    assert_eq!(q["proposal"]["kind"], "fire");
    assert_eq!(q["proposal"]["service"], "fire119");
    let q = r.queued(discipline).await;
    assert_eq!(q["priority"], "out_of_scope");
    assert_eq!(q["proposal"]["action"], "reject");
    assert_eq!(q["proposal"]["rule"], "discipline_inspection");
    assert!(
        q["proposal"]["citation"]
            .as_str()
            .is_some_and(|c| c.contains("12388"))
    );
    assert_eq!(r.ticket(discipline).await.ticket.status, Status::Received);

    // Unsure: queued with three suggestions, the first with a probability.
    let q = r.queued(vague).await;
    assert_eq!(q["priority"], "normal");
    let candidates = q["suggestions"]["candidates"]
        .as_array()
        .expect("candidates");
    assert_eq!(candidates.len(), 3, "{q}");
    assert!(candidates[0]["probability"].as_f64().is_some());
    let queue = r.get("/v1/manual-queue").await;
    let pos = |no: TicketNo| {
        queue
            .as_array()
            .and_then(|a| a.iter().position(|x| x["ticket_no"] == no.to_string()))
            .expect("queued")
    };
    assert!(pos(discipline) < pos(vague), "then proposed rejections");
    assert!(pos(fire) < pos(discipline), "emergencies come first");

    // The department returns the labour ticket; the centre rules it belongs to education.
    let rs = Actor::Department {
        code: DeptCode::parse("GZ-RS").expect("code"),
    };
    r.send(
        labour,
        "return-1",
        rs,
        Action::Return {
            reason: "不属于本单位职责".into(),
        },
    )
    .await;
    r.send(
        labour,
        "review-1",
        Actor::Agent {
            id: "dispatcher-3".into(),
        },
        Action::ReviewReturn {
            ruling: ReturnDecision::Redispatch {
                lead: DeptCode::parse("GZ-JY").expect("code"),
                co: vec![],
            },
            note: String::new(),
        },
    )
    .await;
    eventually("the decision corrected", || async {
        let d = r.decision(labour).await;
        (d.get::<Option<String>, _>("corrected_to").as_deref() == Some("GZ-JY")
            && d.get::<Option<chrono::DateTime<chrono::Utc>>, _>("returned_at")
                .is_some())
        .then_some(())
    })
    .await;

    // A person routes the vague one to health: both choices are labels now.
    let response = r
        .web
        .post(format!("{}/v1/manual-queue/{vague}/dispatch", r.http))
        .bearer_auth(&r.dispatcher)
        .json(&json!({"lead": "GZ-WJ", "note": "医疗问题"}))
        .send()
        .await
        .expect("dispatch");
    assert!(response.status().is_success(), "{}", response.status());
    let labels: Vec<(String, String)> = eventually("two corrections", || async {
        let rows = sqlx::query(
            "SELECT source, category FROM dispatch.correction WHERE ticket_no = ANY($1) ORDER BY source",
        )
        .bind(vec![labour.as_u64() as i64, vague.as_u64() as i64])
        .fetch_all(&r.pool)
        .await
        .expect("query");
        (rows.len() == 2).then(|| {
            rows.iter()
                .map(|row| (row.get("source"), row.get("category")))
                .collect()
        })
    })
    .await;
    assert_eq!(
        labels,
        vec![
            ("manual".to_owned(), "卫生计生".to_owned()),
            ("return".to_owned(), "教育文体".to_owned())
        ]
    );

    // The labels come out as training lines for `hotline dispatch train --extra`.
    let mut out = Vec::new();
    let written = hotline_dispatch::corrections::export(&r.pool, &mut out)
        .await
        .expect("export");
    assert_eq!(written, 2);
    let lines: Vec<Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a json line"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["category"] == "教育文体" && l["detail"] == LABOUR),
        "{lines:?}"
    );

    // The figures: three classifier decisions, one automatic and corrected.
    let f = r.get("/v1/figures").await;
    let total = &f["by_class"][0];
    assert_eq!(total["key"], Value::Null, "{f}");
    assert_eq!(total["decided"], 3, "{f}");
    assert_eq!(total["auto"], 1, "{f}");
    assert_eq!(total["corrected"], 1, "{f}");
    assert_eq!(total["precision"], 0.0, "{f}");
    assert!(total["latency_p99_ms"].as_f64().is_some(), "{f}");
    assert_eq!(f["manual_queue"]["resolved_with_suggestions"], 1, "{f}");

    // What the agent's desk asks while typing.
    let a: Value = r
        .web
        .post(format!("{}/v1/assess", r.http))
        .bearer_auth(&r.dispatcher)
        .json(&json!({"text": LABOUR}))
        .send()
        .await
        .expect("assess")
        .json()
        .await
        .expect("json");
    assert_eq!(a["decision"]["dispatch"]["lead"], "GZ-RS", "{a}");
    assert_eq!(
        a["assessment"]["candidates"][0]["category"],
        "劳动和社会保障"
    );
    assert_eq!(a["emergency"], Value::Null);

    // The seat assistant fills the ticket from a transcript.
    let fields: Value = r
        .web
        .post(format!("{}/v1/assist", r.http))
        .bearer_auth(&r.dispatcher)
        .json(&json!({"text": "我住在天河区天河路208号，电话13800138000，请问我公司拖欠工资三个月怎么办？"}))
        .send()
        .await
        .expect("assist")
        .json()
        .await
        .expect("json");
    assert_eq!(fields["phones"], json!(["13800138000"]), "{fields}");
    assert!(
        fields["district"]
            .as_str()
            .is_some_and(|d| d.contains("天河")),
        "{fields}"
    );
    assert_eq!(fields["category"], "劳动和社会保障", "{fields}");

    // Bad input is refused as invalid, never guessed at.
    for (path, body) in [
        ("/v1/assess", json!({"text": "  "})),
        ("/v1/assess", json!({"words": "公司拖欠工资"})),
        ("/v1/assist", json!({"text": ""})),
        ("/v1/assist", json!({"text": 42})),
    ] {
        let status = r
            .web
            .post(format!("{}{path}", r.http))
            .bearer_auth(&r.dispatcher)
            .json(&body)
            .send()
            .await
            .expect("post")
            .status();
        assert_eq!(status.as_u16(), 400, "{path} {body}");
    }
    r.shutdown.cancel();
}
