//! The survey service with the real ledger and dispatch over NATS and Postgres: a completed
//! ticket gets a survey on the working calendar; the invitation goes out on the citizen's
//! channel with a signed link; 不满意 by link reopens the ticket to the same department with a
//! supervision order; a satisfied agent's entry closes it; past the reopen limit a supervisor
//! rules; a phone callback nobody answers ends as unreachable.
//!
//! Due times come from the calendar (pinned by `policy`'s unit tests); here a due survey's
//! time is moved to now in the table, as a clock would.

use std::time::Duration;

use futures::StreamExt as _;
use hotline_auth::Role;
use hotline_bus::rpc::{self, CallError};
use hotline_bus::{Bus, Envelope};
use hotline_domain::contract::{
    Citizen, CommandAccepted, CreateTicket, GetTicket, Location, Notice, TicketCommand,
    TicketQuery, TicketView, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, DeptCode, RequestType, Status, TicketNo};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

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
    agent: String,
    supervisor: String,
    shutdown: CancellationToken,
    _issuer: hotline_auth::testing::TestIssuer,
}

async fn start(tune: impl FnOnce(&mut hotline_config::Settings)) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,hotline_survey=debug")
        .with_test_writer()
        .try_init();
    let env = hotline_testkit::env().await.expect("test env");
    let mut settings = env.settings().expect("settings");
    let issuer = hotline_auth::testing::TestIssuer::start().await;
    issuer.configure(&mut settings);
    tune(&mut settings);
    settings.validate().expect("valid settings");
    let shutdown = CancellationToken::new();
    tokio::spawn(hotline_tickets::run(settings.clone(), shutdown.clone()));
    tokio::spawn(hotline_dispatch::run(settings.clone(), shutdown.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http = format!("http://{}", listener.local_addr().expect("addr"));
    settings.survey.public_url = http.clone();
    tokio::spawn(hotline_survey::run_with_listener(
        settings.clone(),
        listener,
        shutdown.clone(),
    ));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "survey-test")
        .await
        .expect("nats");
    let pool = hotline_bus::db::connect(&env.database_url, 4)
        .await
        .expect("postgres");
    eventually("the ledger and the survey API", || {
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
        agent: issuer.token("agent-7", &[Role::Agent], None),
        supervisor: issuer.token("supervisor-2", &[Role::Supervisor], None),
        bus,
        pool,
        http,
        web: reqwest::Client::new(),
        shutdown,
        _issuer: issuer,
    }
}

fn gz_th() -> Actor {
    Actor::Department {
        code: DeptCode::parse("GZ-TH").expect("code"),
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

    async fn create(&self, channel: Channel, citizen: Citizen) -> TicketNo {
        let no = TicketNo::compose(261203, u64::from(rand::random::<u32>() % 9_000_000) + 1)
            .expect("no");
        let _: CommandAccepted = rpc::call(
            &self.bus,
            self.bus
                .subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            &TicketCommand::Create {
                idempotency_key: format!("create-{no}"),
                actor: Actor::Citizen { channel },
                ticket: Box::new(CreateTicket {
                    ticket_no: no,
                    channel,
                    request_type: RequestType::Complaint,
                    service_code: None,
                    description: "小区路灯不亮".into(),
                    location: Location::default(),
                    citizen,
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

    /// Dispatched to GZ-TH by an agent (the dispatch service sends tickets without a matter to
    /// the manual queue), then accepted, replied and completed by GZ-TH.
    async fn complete(&self, no: TicketNo, round: u32) {
        let status = self.ticket(no).await.ticket.status;
        if status != Status::Dispatched {
            self.send(
                no,
                &format!("dispatch-{no}-{round}"),
                Actor::Agent {
                    id: "dispatcher-1".into(),
                },
                Action::Dispatch {
                    lead: DeptCode::parse("GZ-TH").expect("code"),
                    co: vec![],
                    note: String::new(),
                },
            )
            .await;
        }
        self.send(no, &format!("accept-{no}-{round}"), gz_th(), Action::Accept)
            .await;
        self.send(
            no,
            &format!("reply-{no}-{round}"),
            gz_th(),
            Action::Reply {
                text: "已修复路灯".into(),
            },
        )
        .await;
        self.send(
            no,
            &format!("complete-{no}-{round}"),
            gz_th(),
            Action::Complete {
                note: String::new(),
            },
        )
        .await;
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

    async fn wait_status(&self, no: TicketNo, status: Status) -> TicketWithHistory {
        eventually(&format!("{no} {status:?}"), || async move {
            let t = self.ticket(no).await;
            (t.ticket.status == status).then_some(t)
        })
        .await
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let r = self
            .web
            .get(format!("{}{path}", self.http))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.web
            .post(format!("{}{path}", self.http))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post")
    }

    /// The ticket's survey with `state`, once there is one.
    async fn survey(&self, no: TicketNo, state: &str) -> Value {
        eventually(&format!("a {state} survey of {no}"), || async move {
            let list = self
                .get(&self.agent, &format!("/v1/surveys?ticket_no={no}"))
                .await;
            list["surveys"]
                .as_array()?
                .iter()
                .find(|s| s["state"] == state)
                .cloned()
        })
        .await
    }

    /// Moves the ticket's pending surveys' due time to now.
    async fn due_now(&self, no: TicketNo) {
        sqlx::query(
            "UPDATE survey.survey SET due_at = now(), next_attempt_at = now() \
             WHERE ticket_no = $1 AND state IN ('scheduled', 'invited') \
             AND next_attempt_at IS NOT NULL",
        )
        .bind(i64::try_from(no.as_u64()).expect("fits"))
        .execute(&self.pool)
        .await
        .expect("moved");
    }
}

fn token_of(notice: &Notice) -> String {
    let link = notice.link.as_deref().expect("a link");
    assert!(notice.text.contains(link), "the text carries the link");
    link.rsplit("/s/").next().expect("token").to_owned()
}

#[tokio::test]
async fn dissatisfied_by_link_reopens_to_the_same_department_and_satisfied_closes() {
    let r = start(|_| {}).await;
    let mut invitations = r
        .bus
        .client
        .subscribe(r.bus.subjects.notify("sms"))
        .await
        .expect("subscribe");
    let phone = format!("139{:08}", rand::random::<u32>() % 100_000_000);
    let no = r
        .create(
            Channel::Sms,
            Citizen {
                phone: Some(phone.clone()),
                ..Citizen::default()
            },
        )
        .await;
    r.complete(no, 1).await;
    let survey = r.survey(no, "scheduled").await;
    assert_eq!(
        (survey["kind"].as_str(), survey["method"].as_str()),
        (Some("case"), Some("sms"))
    );
    assert_eq!(survey["lead"], "GZ-TH");
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(survey["due_at"].clone()).expect("due");
    assert!(
        due > chrono::Utc::now(),
        "due on a later working day, not at once"
    );

    r.due_now(no).await;
    let message = tokio::time::timeout(WAIT, invitations.next())
        .await
        .expect("an invitation in time")
        .expect("a message");
    let notice: Envelope<Notice> = Envelope::from_slice(&message.payload).expect("a notice");
    let notice = notice.data;
    assert_eq!(
        (notice.ticket_no, notice.address.as_str()),
        (no, phone.as_str())
    );
    let token = token_of(&notice);
    r.survey(no, "invited").await;

    // The page: a form; a forged link finds nothing.
    let page = r
        .web
        .get(format!("{}/s/{token}", r.http))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains(&no.to_string()) && html.contains("name=\"case\""));
    let mut forged = token.clone();
    forged.replace_range(0..2, if forged.starts_with("MT") { "Mj" } else { "MT" });
    let refused = r
        .web
        .get(format!("{}/s/{forged}", r.http))
        .send()
        .await
        .expect("page");
    assert_eq!(refused.status(), 404);
    // A form without a rating is shown again, and nothing is recorded.
    let incomplete = r
        .web
        .post(format!("{}/s/{token}", r.http))
        .form(&[("resolved", "no")])
        .send()
        .await
        .expect("post");
    assert_eq!(incomplete.status(), 400);
    r.survey(no, "invited").await;

    let answered = r
        .web
        .post(format!("{}/s/{token}", r.http))
        .form(&[
            ("resolved", "no"),
            ("case", "dissatisfied"),
            ("comment", "路灯仍然不亮"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(answered.status(), 200);
    let replay = r
        .web
        .post(format!("{}/s/{token}", r.http))
        .form(&[("resolved", "yes"), ("case", "satisfied")])
        .send()
        .await
        .expect("post");
    assert_eq!(replay.status(), 409, "a link answers once");

    // 重办: back to GZ-TH with a supervision order from the survey service.
    let reopened = eventually("the reopen's dispatch and supervision", || async {
        let t = r.ticket(no).await;
        let supervised = t
            .history
            .iter()
            .any(|h| h.step == "supervise" && h.actor == Actor::system("survey"));
        (t.ticket.status == Status::Dispatched && supervised).then_some(t)
    })
    .await;
    assert_eq!(
        reopened.ticket.lead,
        Some(DeptCode::parse("GZ-TH").expect("code"))
    );
    let steps: Vec<&str> = reopened.history.iter().map(|h| h.step.as_str()).collect();
    let at = steps
        .iter()
        .position(|s| *s == "survey")
        .expect("survey step");
    assert_eq!(
        &steps[at..at + 3],
        &["survey", "reopen", "dispatch"],
        "{steps:?}"
    );
    let first = r.survey(no, "answered").await;
    assert_eq!(
        (
            first["resolved"].as_bool(),
            first["case_rating"].as_str(),
            first["outcome"].as_str()
        ),
        (Some(false), Some("dissatisfied"), Some("reopened"))
    );

    // Second round: the agent calls back (the citizen answers on the phone): satisfied → closed.
    r.complete(no, 2).await;
    let second = eventually("the second survey", || async {
        let list = r
            .get(&r.agent, &format!("/v1/surveys?ticket_no={no}"))
            .await;
        let surveys = list["surveys"].as_array()?.clone();
        (surveys.len() == 2).then(|| surveys[1].clone())
    })
    .await;
    let id = second["id"].as_i64().expect("id");
    let response = r
        .post(
            &r.agent,
            &format!("/v1/surveys/{id}/answer"),
            json!({"keypresses": "1#1#2"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let closed = r.wait_status(no, Status::Closed).await;
    let survey_entry = closed
        .history
        .iter()
        .rev()
        .find(|h| h.step == "survey")
        .expect("the second survey");
    assert_eq!(
        survey_entry.actor,
        Actor::Agent {
            id: "agent-7".into()
        }
    );
    // The same answer again is refused: one survey per completion.
    let again = r
        .post(
            &r.agent,
            &format!("/v1/surveys/{id}/answer"),
            json!({"keypresses": "11"}),
        )
        .await;
    assert_eq!(again.status(), 409);

    // Figures: two surveys of GZ-TH, one satisfied (keys: 满意 case, 基本满意 call).
    let figures = r.get(&r.supervisor, "/v1/figures?by=department").await;
    let th = figures["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["key"] == "GZ-TH")
        .cloned()
        .expect("GZ-TH");
    assert_eq!(
        (th["answered"].as_i64(), th["satisfied"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(th["satisfaction_rate"].as_f64(), Some(0.5));
    assert_eq!(th["call_satisfaction_rate"].as_f64(), Some(1.0));
    // The total is every department's surveys together.
    let sum = |field: &str| -> i64 {
        figures["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|row| row[field].as_i64())
            .sum()
    };
    assert_eq!(figures["total"]["key"], "all");
    assert_eq!(figures["total"]["answered"].as_i64(), Some(sum("answered")));
    assert_eq!(figures["total"]["surveys"].as_i64(), Some(sum("surveys")));
    assert!(sum("answered") >= 2);
    let csv = r
        .web
        .get(format!("{}/v1/figures.csv?by=channel", r.http))
        .bearer_auth(&r.supervisor)
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert!(csv.starts_with("key,surveys,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("sms,2,")), "{csv}");
    // An agent may not rule on reviews.
    assert_eq!(
        r.web
            .get(format!("{}/v1/reviews", r.http))
            .bearer_auth(&r.agent)
            .send()
            .await
            .expect("reviews")
            .status(),
        403
    );
    r.shutdown.cancel();
}

#[tokio::test]
async fn past_the_reopen_limit_a_supervisor_rules_and_an_unanswered_callback_ends_unreachable() {
    let r = start(|s| {
        s.survey.max_reopens = 0;
        s.survey.max_attempts = 2;
    })
    .await;
    // A web ticket with only a phone number: a callback task for the agents.
    let no = r
        .create(
            Channel::Web,
            Citizen {
                phone: Some("13800138000".into()),
                ..Citizen::default()
            },
        )
        .await;
    r.complete(no, 1).await;
    r.survey(no, "scheduled").await;
    r.due_now(no).await;
    let task = eventually("the callback task", || async {
        let calls = r.get(&r.agent, "/v1/calls").await;
        calls["surveys"]
            .as_array()?
            .iter()
            .find(|s| s["ticket_no"] == no.to_string())
            .cloned()
    })
    .await;
    assert_eq!(task["method"], "phone");
    let id = task["id"].as_i64().expect("id");
    let response = r
        .post(
            &r.agent,
            &format!("/v1/surveys/{id}/answer"),
            json!({"resolved": false, "case_rating": "dissatisfied", "comment": "第三次反映"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["outcome"], "review");
    // Not reopened: waiting for a supervisor.
    let reviews = eventually("the review", || async {
        let list = r.get(&r.supervisor, "/v1/reviews").await;
        list["reviews"]
            .as_array()?
            .iter()
            .any(|v| v["ticket_no"] == no.to_string())
            .then_some(())
    });
    reviews.await;
    let surveyed = r.wait_status(no, Status::Surveyed).await;
    assert!(
        surveyed.history.iter().all(|h| h.step != "reopen"),
        "not reopened past the limit"
    );
    let no_rule = r
        .post(
            &r.supervisor,
            &format!("/v1/reviews/{no}/decision"),
            json!({"decision": "unreasonable_repeat", "note": "同一诉求已答复三次"}),
        )
        .await;
    assert_eq!(no_rule.status(), 400, "the rule must be cited");
    let ruled = r
        .post(
            &r.supervisor,
            &format!("/v1/reviews/{no}/decision"),
            json!({"decision": "unreasonable_repeat", "rule": "《广州市12345热线管理办法》第二十条", "note": "同一诉求已答复三次，无新情况"}),
        )
        .await;
    assert_eq!(ruled.status(), 200);
    let closed = r.wait_status(no, Status::Closed).await;
    let last = closed.history.last().expect("history");
    assert_eq!(last.step, "conclude");
    assert_eq!(
        last.actor,
        Actor::Agent {
            id: "supervisor-2".into()
        }
    );
    let twice = r
        .post(
            &r.supervisor,
            &format!("/v1/reviews/{no}/decision"),
            json!({"decision": "explained", "note": "n"}),
        )
        .await;
    assert_eq!(twice.status(), 404, "ruled once");

    // A phone callback nobody answers: retried, then unreachable and closed, never satisfied.
    let unreached = r
        .create(
            Channel::Phone,
            Citizen {
                phone: Some("13900139000".into()),
                ..Citizen::default()
            },
        )
        .await;
    r.complete(unreached, 1).await;
    r.survey(unreached, "scheduled").await;
    r.due_now(unreached).await;
    let task = r.survey(unreached, "invited").await;
    let id = task["id"].as_i64().expect("id");
    let first: Value = r
        .post(
            &r.agent,
            &format!("/v1/surveys/{id}/not-reached"),
            json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["verdict"], "retry");
    // Off the list until the back-off has passed; then back on it.
    let calls = r.get(&r.agent, "/v1/calls").await;
    assert!(
        calls["surveys"]
            .as_array()
            .expect("list")
            .iter()
            .all(|s| s["id"] != id),
        "waiting for the retry"
    );
    r.due_now(unreached).await;
    eventually("back on the list", || async {
        let calls = r.get(&r.agent, "/v1/calls").await;
        calls["surveys"]
            .as_array()?
            .iter()
            .any(|s| s["id"] == id)
            .then_some(())
    })
    .await;
    let second: Value = r
        .post(
            &r.agent,
            &format!("/v1/surveys/{id}/not-reached"),
            json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(second["verdict"], "unreachable");
    let closed = r.wait_status(unreached, Status::Closed).await;
    assert!(
        closed
            .history
            .iter()
            .any(|h| h.step == "survey_unreachable"),
        "the ledger records the unreachable callback"
    );
    let figures = r.get(&r.supervisor, "/v1/figures?by=channel").await;
    let phone = figures["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["key"] == "phone")
        .cloned()
        .expect("phone row");
    assert_eq!(
        (phone["unreachable"].as_i64(), phone["satisfied"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(phone["reach_rate"].as_f64(), Some(0.0));
    r.shutdown.cancel();
}
