//! The SLA service with the real ledger: ticket events drive the clocks, extensions go through
//! the SLA subject, decisions move deadlines, and an overdue clock ends in a supervision order
//! in the ticket's history.

mod common;

use std::time::Duration;

use chrono::{DateTime, Duration as Span, Utc};
use common::{code, eventually, ticket};
use hotline_bus::rpc::{self, CallError};
use hotline_bus::{Bus, Envelope};
use hotline_domain::contract::{
    CommandAccepted, CreateTicket, ErrorKind, ExtensionRequest, GetTicket, Location, SlaEvent,
    SlaEventKind, SupervisingAuthority, TicketCommand, TicketQuery, TicketView, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, RequestType, TicketNo};
use hotline_sla::{Policy, WorkCalendar};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

struct Running {
    bus: Bus,
    pool: PgPool,
    http: String,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The issuer of people's tokens the SLA API verifies; `token` is a supervisor's.
    issuer: hotline_auth::testing::TestIssuer,
    token: String,
}

async fn start() -> Running {
    let env = hotline_testkit::env().await.expect("test env");
    let mut settings = env.settings().expect("settings");
    let issuer = hotline_auth::testing::TestIssuer::start().await;
    issuer.configure(&mut settings);
    let token = issuer.token("supervisor-2", &[hotline_auth::Role::Supervisor], None);
    let shutdown = CancellationToken::new();
    let ledger = tokio::spawn(hotline_tickets::run(settings.clone(), shutdown.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http = format!("http://{}", listener.local_addr().expect("addr"));
    let sla = tokio::spawn(hotline_sla::run_with_listener(
        settings.clone(),
        Policy::default(),
        WorkCalendar::china(),
        listener,
        shutdown.clone(),
    ));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "sla-test")
        .await
        .expect("nats");
    let pool = hotline_bus::db::connect(&env.database_url, 4)
        .await
        .expect("postgres");
    // Both services answer.
    eventually("the ledger and the SLA API", || {
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
        bus,
        pool,
        http,
        shutdown,
        tasks: vec![ledger, sla],
        issuer,
        token,
    }
}

impl Running {
    /// GET with the supervisor's token.
    /// `GET /v1/figures?{query}` as JSON.
    async fn figures(&self, query: &str) -> Value {
        self.authed(format!("{}/v1/figures?{query}", self.http))
            .await
            .expect("figures")
            .json()
            .await
            .expect("json")
    }

    async fn authed(&self, url: String) -> reqwest::Result<reqwest::Response> {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("stops in time")
                .expect("joined")
                .expect("ends cleanly");
        }
    }

    async fn send(&self, no: TicketNo, key: &str, actor: Actor, action: Action) -> CommandAccepted {
        let cmd = TicketCommand::Act {
            idempotency_key: key.to_owned(),
            actor: actor.clone(),
            ticket_no: no,
            action,
        };
        let caller = hotline_tickets::callers::sender_of(&actor).expect("a service's actor");
        rpc::call(
            &self.bus,
            self.bus.subjects.ticket_commands_from(caller),
            &cmd,
            Duration::from_secs(5),
        )
        .await
        .expect("the ledger accepts")
    }

    async fn create(&self, no: TicketNo) {
        let cmd = TicketCommand::Create {
            idempotency_key: format!("create-{no}"),
            actor: Actor::Citizen {
                channel: Channel::Phone,
            },
            ticket: Box::new(CreateTicket {
                ticket_no: no,
                channel: Channel::Phone,
                request_type: RequestType::Complaint,
                service_code: None,
                description: "water pipe leaking".into(),
                location: Location {
                    address: Some("天河区天河路1号".into()),
                    ..Location::default()
                },
                citizen: Default::default(),
                confidential: false,
                attributes: Default::default(),
                media_url: None,
                hold: false,
            }),
        };
        let _: CommandAccepted = rpc::call(
            &self.bus,
            self.bus
                .subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            &cmd,
            Duration::from_secs(5),
        )
        .await
        .expect("created");
    }

    /// Creates a ticket, dispatches it to GZ-TH and lets GZ-TH accept it.
    async fn accepted(&self, no: TicketNo) {
        self.create(no).await;
        self.send(
            no,
            &format!("dispatch-{no}"),
            agent(),
            Action::Dispatch {
                lead: code("GZ-TH"),
                co: vec![code("GZ-HZ")],
                note: String::new(),
            },
        )
        .await;
        self.running(no, "sign_off").await;
        self.send(no, &format!("accept-{no}"), th(), Action::Accept)
            .await;
    }

    async fn deadlines(&self, no: TicketNo) -> Option<Value> {
        let r = self
            .authed(format!("{}/v1/tickets/{no}/deadlines", self.http))
            .await
            .ok()?;
        r.status().is_success().then_some(())?;
        r.json().await.ok()
    }

    /// Waits for the running clock of `stage` and returns it.
    async fn running(&self, no: TicketNo, stage: &str) -> Value {
        self.clock_where(no, stage, |c| {
            c["state"] == "open" || c["state"] == "paused"
        })
        .await
    }

    async fn clock_where(&self, no: TicketNo, stage: &str, ok: impl Fn(&Value) -> bool) -> Value {
        eventually(&format!("the {stage} clock"), || async {
            let d = self.deadlines(no).await?;
            d["clocks"]
                .as_array()?
                .iter()
                .find(|c| c["stage"] == stage && ok(c))
                .cloned()
        })
        .await
    }

    async fn extend(
        &self,
        no: TicketNo,
        dept: &str,
        key: &str,
        until: DateTime<Utc>,
    ) -> Result<CommandAccepted, CallError> {
        let req = ExtensionRequest {
            idempotency_key: format!("gw:{dept}:{key}"),
            ticket_no: no,
            department: code(dept),
            reason: "the replacement part is on order".into(),
            until,
        };
        rpc::call(
            &self.bus,
            self.bus.subjects.sla_extension_request(),
            &req,
            Duration::from_secs(10),
        )
        .await
    }
}

fn agent() -> Actor {
    Actor::Agent {
        id: "agent-7".into(),
    }
}

fn th() -> Actor {
    Actor::Department {
        code: code("GZ-TH"),
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn ticket_events_drive_the_clocks_and_extensions_move_deadlines() {
    let r = start().await;
    let no = ticket(11);
    r.create(no).await;
    let dispatch = r.running(no, "dispatch").await;
    assert_eq!(dispatch["limit"], "2 working hours");
    assert!(dispatch.get("department").is_none(), "the centre's stage");

    r.send(
        no,
        "dispatch",
        agent(),
        Action::Dispatch {
            lead: code("GZ-TH"),
            co: vec![],
            note: String::new(),
        },
    )
    .await;
    let sign_off = r.running(no, "sign_off").await;
    assert_eq!(sign_off["department"], "GZ-TH");
    assert_eq!(sign_off["limit"], "1 working day");
    // The dispatch clock ended (on time).
    r.clock_where(no, "dispatch", |c| c["state"] == "met").await;

    r.send(no, "accept", th(), Action::Accept).await;
    let handling = r.running(no, "handling").await;
    assert_eq!(handling["limit"], "13 working days");
    r.clock_where(no, "sign_off", |c| c["state"] == "met").await;
    let due = time(&handling["due_at"]);

    // 补充材料: the clock pauses, keeping the working time left, and resumes.
    r.send(
        no,
        "ask",
        th(),
        Action::RequestInformation {
            question: "which floor?".into(),
        },
    )
    .await;
    let paused = r
        .clock_where(no, "handling", |c| c["state"] == "paused")
        .await;
    assert!(paused["remaining_seconds"].as_i64().expect("remaining") > 0);
    assert!(
        paused.get("next_fire_at").is_none(),
        "nothing fires while paused"
    );
    r.send(
        no,
        "answer",
        agent(),
        Action::ProvideInformation {
            note: "3rd floor".into(),
        },
    )
    .await;
    let resumed = r
        .clock_where(no, "handling", |c| c["state"] == "open")
        .await;
    let resumed_due = time(&resumed["due_at"]);
    // Later by the working time the clock stood still (a moment here); 17:30 and 09:00 of the
    // next working day are the same point in working time, so compare in working time.
    assert!(
        resumed_due >= due - Span::seconds(1),
        "{resumed_due} vs {due}"
    );
    let shift = WorkCalendar::china().working_time_between(due, resumed_due);
    assert!(shift <= Span::minutes(5), "{resumed_due} vs {due}");
    assert_eq!(resumed["next_step"], "warning");

    // Extensions: not by another department, not to an earlier date, then one is accepted.
    let until = (resumed_due + Span::days(7)).with_nanosecond_zero();
    let err = r
        .extend(no, "GZ-HZ", "x1", until)
        .await
        .expect_err("not theirs");
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let err = r
        .extend(no, "GZ-TH", "x2", resumed_due - Span::hours(1))
        .await
        .expect_err("earlier");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let accepted = r.extend(no, "GZ-TH", "x3", until).await.expect("forwarded");
    assert_eq!(accepted.ticket_no, no);
    // A retry of the same request gets the ledger's first answer.
    let again = r.extend(no, "GZ-TH", "x3", until).await.expect("replayed");
    assert!(again.replayed);
    assert_eq!(again.seq, accepted.seq);
    let err = r
        .extend(no, "GZ-TH", "x4", until)
        .await
        .expect_err("pending");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let pending: Value = r
        .authed(format!("{}/v1/extensions?status=pending", r.http))
        .await
        .expect("listed")
        .json()
        .await
        .expect("json");
    assert_eq!(pending["extensions"].as_array().expect("list").len(), 1);
    assert_eq!(pending["extensions"][0]["department"], "GZ-TH");

    // The centre decides; the deadline moves to the date asked for.
    let client = reqwest::Client::new();
    let url = format!("{}/v1/extensions/{no}/decision", r.http);
    let refused = client
        .post(&url)
        .json(&serde_json::json!({"approved": true}))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 401, "no token");
    let agent = r
        .issuer
        .token("agent-1", &[hotline_auth::Role::Agent], None);
    let refused = client
        .post(&url)
        .bearer_auth(&agent)
        .header("X-Agent-Id", "supervisor-2")
        .json(&serde_json::json!({"approved": true}))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 403, "an agent does not decide extensions");
    let decided = client
        .post(&url)
        .bearer_auth(&r.token)
        .json(&serde_json::json!({"approved": true, "note": "ok"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(decided.status(), 200);
    let extended = r
        .clock_where(no, "handling", |c| c["extensions"] == 1)
        .await;
    assert_eq!(time(&extended["due_at"]), until);
    let d = r.deadlines(no).await.expect("deadlines");
    assert_eq!(d["extensions"][0]["status"], "approved");
    assert_eq!(d["extensions"][0]["decided_by"], "supervisor-2");
    let none = client
        .post(&url)
        .bearer_auth(&r.token)
        .json(&serde_json::json!({"approved": false}))
        .send()
        .await
        .expect("sent");
    assert_eq!(none.status(), 404, "nothing pending any more");

    // Over the cap (1 by default).
    let err = r
        .extend(no, "GZ-TH", "x5", until + Span::days(1))
        .await
        .expect_err("cap");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.public_message().contains("extension"),
        "{}",
        err.public_message()
    );
    // After the deadline (moved into the past here): refused, whatever the cap.
    sqlx::query(
        "UPDATE sla.clock SET started_at = now() - interval '3 days', \
         warn_at = now() - interval '2 days', due_at = now() - interval '1 day', \
         next_fire_at = now() + interval '1 day' WHERE ticket_no = $1 AND stage = 'handling'",
    )
    .bind(hotline_sla::store::ticket_key(no))
    .execute(&r.pool)
    .await
    .expect("moved");
    let err = r
        .extend(no, "GZ-TH", "x6", Utc::now() + Span::days(3))
        .await
        .expect_err("too late");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.public_message().contains("passed"),
        "{}",
        err.public_message()
    );

    // Completion ends handling (late now) and starts the callback clock.
    r.send(
        no,
        "reply",
        th(),
        Action::Reply {
            text: "fixed".into(),
        },
    )
    .await;
    r.send(
        no,
        "complete",
        th(),
        Action::Complete {
            note: String::new(),
        },
    )
    .await;
    r.running(no, "callback").await;
    r.clock_where(no, "handling", |c| c["state"] == "breached")
        .await;
    let figures = r.figures("department=GZ-TH").await;
    assert_eq!(figures["sign_off_on_time_rate"], 1.0);
    assert_eq!(figures["completion_on_time_rate"], 0.0);
    // The same clocks over whole days, read from the daily rollups alone.
    let by_days = r
        .figures(&format!("department=GZ-TH&{}", rollup_days()))
        .await;
    let ended = counts(&figures, &["ended", "on_time"]);
    assert!(ended.iter().any(|row| row[2] == 1), "{ended:?}");
    assert_eq!(counts(&by_days, &["ended", "on_time"]), ended);
    assert_eq!(by_days["completion_on_time_rate"], 0.0);
    // Counted again from the clocks, the rollups are what the service kept.
    hotline_sla::figures::recount_days(&r.pool)
        .await
        .expect("recount");
    let recounted = r
        .figures(&format!("department=GZ-TH&{}", rollup_days()))
        .await;
    assert_eq!(counts(&recounted, &["ended", "on_time"]), ended);
    // The 30-day on-time gauge reads the same ended clocks.
    hotline_sla::metrics::refresh(&r.pool)
        .await
        .expect("gauges");
    let on_time = |stage: &str| {
        hotline_sla::metrics::ON_TIME
            .with_label_values(&[stage])
            .get()
    };
    assert_eq!((on_time("sign_off"), on_time("handling")), (1.0, 0.0));
    let bad = r
        .authed(format!("{}/v1/figures?from=2026-02-30", r.http))
        .await
        .expect("sent");
    assert_eq!(bad.status(), 400);
    r.stop().await;
}

#[tokio::test]
async fn an_overdue_clock_ends_in_a_supervision_order_in_the_ledger() {
    let r = start().await;
    let no = ticket(21);
    r.accepted(no).await;
    r.running(no, "handling").await;
    // The handling deadline passed ten days ago (as if the department sat on it).
    sqlx::query(
        "UPDATE sla.clock SET started_at = now() - interval '20 days', \
         warn_at = now() - interval '11 days', due_at = now() - interval '10 days', \
         next_step = 'warning', next_fire_at = now() - interval '11 days' \
         WHERE ticket_no = $1 AND stage = 'handling'",
    )
    .bind(hotline_sla::store::ticket_key(no))
    .execute(&r.pool)
    .await
    .expect("moved");
    let escalated = r
        .clock_where(no, "handling", |c| c["level"] == "escalated")
        .await;
    assert_eq!(escalated["escalated_to"], "市政府督查室");
    // The supervision order is a step in the ticket's history, by the SLA service.
    let history = eventually("the supervise step", || async {
        let t: TicketWithHistory = rpc::call(
            &r.bus,
            r.bus.subjects.ticket_get(),
            &GetTicket {
                ticket_no: no,
                as_department: None,
            },
            Duration::from_secs(5),
        )
        .await
        .ok()?;
        t.history
            .iter()
            .any(|h| h.step == "supervise")
            .then_some(t.history)
    })
    .await;
    let supervise = history
        .iter()
        .find(|h| h.step == "supervise")
        .expect("supervised");
    assert_eq!(supervise.actor, Actor::system("sla"));
    assert_eq!(
        history.iter().filter(|h| h.step == "supervise").count(),
        1,
        "one order"
    );
    // The SLA events reached the stream (through the outbox), the escalation naming the
    // authority: a district has no parent, so the city's supervision office.
    let stream = r
        .bus
        .js
        .get_stream(r.bus.subjects.sla_stream())
        .await
        .expect("stream");
    let raw = eventually("the escalated event", || async {
        stream
            .get_last_raw_message_by_subject(&r.bus.subjects.sla_event("escalated"))
            .await
            .ok()
    })
    .await;
    let event: Envelope<SlaEvent> = Envelope::from_slice(&raw.payload).expect("event");
    assert_eq!(event.data.kind, SlaEventKind::Escalated);
    assert_eq!(event.data.ticket_no, no);
    assert_eq!(
        event.data.authority,
        Some(SupervisingAuthority::SupervisionOffice {
            name: "市政府督查室".into()
        })
    );
    // The report of the period lists the ticket; the figures count it as overdue now.
    let report: Value = r
        .authed(format!("{}/v1/report", r.http))
        .await
        .expect("report")
        .json()
        .await
        .expect("json");
    assert_eq!(report["supervised"], 1);
    assert_eq!(report["clocks"][0]["ticket_no"], no.to_string());
    let figures = r.figures("stage=handling").await;
    assert_eq!(figures["overdue_now"], 1);
    // The ladder's steps over whole days, read from the daily rollups alone.
    let by_days = r
        .figures(&format!("stage=handling&{}", rollup_days()))
        .await;
    let steps = counts(&figures, &["warnings", "overdue", "supervised"]);
    assert!(steps.iter().any(|row| row[4] == 1), "{steps:?}");
    assert_eq!(
        counts(&by_days, &["warnings", "overdue", "supervised"]),
        steps
    );
    assert!(
        figures["rows"][0]["oldest_overdue_hours"]
            .as_f64()
            .expect("age")
            > 200.0
    );
    r.stop().await;
}

/// Yesterday and today in the city as a period of dates: whole days, which the figures read
/// from their daily rollups alone (yesterday too, for a test that runs across midnight).
fn rollup_days() -> String {
    let today = hotline_sla::calendar::to_local(Utc::now()).date();
    format!("from={}&to={today}", today - Span::days(1))
}

/// The figures' rows as (department, stage, the named counts…), to compare two periods'.
fn counts(figures: &Value, fields: &[&str]) -> Vec<Vec<Value>> {
    let rows = figures["rows"].as_array().expect("rows");
    rows.iter()
        .map(|row| {
            [&"department", &"stage"]
                .into_iter()
                .chain(fields)
                .map(|f| row[*f].clone())
                .collect()
        })
        .collect()
}

trait Whole {
    fn with_nanosecond_zero(self) -> Self;
}

impl Whole for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike as _;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

/// `GET /v1/deadlines?tickets=...`: many tickets' deadlines in one request, in the request's
/// order, each as `GET /v1/tickets/{no}/deadlines` gives it; department staff get only their
/// department's clocks, and a ticket they have none of is left out, not a refusal of the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tickets_deadlines_in_one_request_limited_to_the_callers_department() {
    let r = start().await;
    let (tianhe, haizhu, waiting) = (ticket(31), ticket(32), ticket(33));
    r.accepted(tianhe).await; // GZ-TH leads, GZ-HZ co-handles
    r.create(haizhu).await;
    r.send(
        haizhu,
        &format!("dispatch-{haizhu}"),
        agent(),
        Action::Dispatch {
            lead: code("GZ-HZ"),
            co: vec![],
            note: String::new(),
        },
    )
    .await;
    r.running(haizhu, "sign_off").await;
    r.create(waiting).await;
    r.running(waiting, "dispatch").await;
    let unknown = ticket(39);

    let get = |token: String, tickets: String| {
        let url = format!("{}/v1/deadlines?tickets={tickets}", r.http);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("sent")
        }
    };
    let list = format!("{waiting},{tianhe},{unknown},{haizhu},{tianhe}");
    let all: Value = get(r.token.clone(), list.clone())
        .await
        .json()
        .await
        .expect("json");
    let answered: Vec<&str> = all["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|d| d["ticket_no"].as_str().expect("ticket_no"))
        .collect();
    let (w, t, h) = (waiting.to_string(), tianhe.to_string(), haizhu.to_string());
    assert_eq!(
        answered,
        vec![w.as_str(), t.as_str(), h.as_str()],
        "the request's order, once each, no unknown ticket"
    );
    // Each as the one-ticket endpoint answers it.
    for d in all["tickets"].as_array().expect("tickets") {
        let no = TicketNo::parse(d["ticket_no"].as_str().expect("no")).expect("ticket no");
        assert_eq!(Some(d), r.deadlines(no).await.as_ref());
    }

    // Tianhe's staff: their clocks of their ticket only.
    let th_token = r.issuer.token(
        "th-staff",
        &[hotline_auth::Role::DepartmentStaff],
        Some("GZ-TH"),
    );
    let mine: Value = get(th_token.clone(), list)
        .await
        .json()
        .await
        .expect("json");
    let mine = mine["tickets"].as_array().expect("tickets");
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["ticket_no"], t.as_str());
    let clocks = mine[0]["clocks"].as_array().expect("clocks");
    assert!(!clocks.is_empty());
    assert!(
        clocks.iter().all(|c| c["department"] == "GZ-TH"),
        "{clocks:?}"
    );

    // Not a ticket number, or more than a page of them: 400.
    assert_eq!(get(th_token.clone(), "12x".into()).await.status(), 400);
    let many = (0..=hotline_sla::http::MAX_TICKETS_AT_ONCE as u64)
        .map(|i| ticket(1000 + i).to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(get(th_token, many).await.status(), 400);
    r.stop().await;
}
