//! End to end, with the real binary: an Open311 request travels to a department over gRPC and
//! back; other departments are kept out; a late department gets its backlog; retries make one
//! ticket; the completion is called back by a survey link and 不满意 reopens it to the same
//! department under supervision; a ledger killed with -9 loses nothing it acknowledged.

mod common;

use std::time::Duration;

use common::{Platform, authed};
use futures::StreamExt as _;
use hotline_gateway::proto::{
    AcceptRequest, AddProgressRequest, CompleteRequest, GetTicketRequest, ReplyRequest,
    RequestExtensionRequest, RequestInformationRequest, SubscribeRequest, subscribe_request,
};
use tokio_stream::wrappers::ReceiverStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_to_department_and_back() {
    // Survey links go out at completion (0 working days), not on the next working morning.
    let mut p = Platform::new(vec![(
        "HOTLINE__SURVEY__DELAY_WORKING_DAYS".into(),
        "0".into(),
    )])
    .await;
    p.spawn(&["all", "--demo"]);
    p.wait_ready(&p.every_port()).await;
    // The centre's people sign in at the identity service (docs/roles.md).
    let admin = p.staff_client("admin1").await;
    let agent = p.staff_client("agent1").await;
    let supervisor = p.staff_client("supervisor1").await;
    let code = p.district_service().await;
    let form = [
        ("api_key", "demo-open311-key"),
        ("service_code", code.as_str()),
        ("address_string", "广州市天河区天河路208号"),
        ("description", "路灯不亮，已经三天了"),
        ("phone", "13800138000"),
        ("email", "zhangsan@example.cn"),
        ("first_name", "三"),
        ("last_name", "张"),
    ];
    // A retried POST with the same Idempotency-Key makes one ticket with one number.
    let (status, first) = p.post(&form, Some("retry-key-1")).await;
    assert_eq!(status, 201, "{first}");
    let no = first[0]["service_request_id"]
        .as_str()
        .expect("number")
        .to_owned();
    assert_eq!(no.len(), 16);
    assert!(no.bytes().all(|b| b.is_ascii_digit()));
    let (status, again) = p.post(&form, Some("retry-key-1")).await;
    assert!(status == 200 || status == 201, "{status}");
    assert_eq!(again[0]["service_request_id"].as_str(), Some(no.as_str()));
    let list: Vec<serde_json::Value> = agent
        .get(format!(
            "{}/v1/tickets?phone=13800138000&reason=e2e",
            p.tickets()
        ))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list.len(), 1, "one ticket for the retried request");

    // Dispatched before the department connects: it is offline.
    let mut dispatched = serde_json::Value::Null;
    for _ in 0..100 {
        dispatched = p.get_request(&no).await;
        if dispatched["agency_responsible"] == "GZ-TH" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dispatched["agency_responsible"], "GZ-TH",
        "dispatched to Tianhe by its address"
    );
    assert_eq!(dispatched["status"], "open");
    assert!(
        dispatched.get("phone").is_none() && !dispatched.to_string().contains("13800138000"),
        "no contact data in Open311 GET"
    );

    // The department connects late and still receives its backlog.
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
    let assignment = tokio::time::timeout(Duration::from_secs(10), assignments.next())
        .await
        .expect("backlog in time")
        .expect("an assignment")
        .expect("ok");
    let ticket = assignment.ticket.clone().expect("ticket");
    assert_eq!(ticket.ticket_no, no);
    assert_eq!(
        ticket.citizen.as_ref().map(|c| c.phone.as_str()),
        Some("13800138000"),
        "not confidential: contact visible to the handler"
    );
    acks.send(SubscribeRequest {
        kind: Some(subscribe_request::Kind::Ack(hotline_gateway::proto::Ack {
            delivery_id: assignment.delivery_id.clone(),
        })),
    })
    .await
    .expect("ack");
    let tp = Some(assignment.traceparent.as_str());

    // Another department can neither see nor touch it.
    let mut hz = p.department().await;
    let denied = hz
        .get_ticket(authed(
            GetTicketRequest {
                ticket_no: no.clone(),
            },
            "demo-gz-hz",
            None,
        ))
        .await
        .expect_err("not HZ's");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let denied = hz
        .accept(authed(
            AcceptRequest {
                ticket_no: no.clone(),
                request_id: "hz-1".into(),
            },
            "demo-gz-hz",
            None,
        ))
        .await
        .expect_err("not HZ's");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let bad_token = th
        .accept(authed(
            AcceptRequest {
                ticket_no: no.clone(),
                request_id: "x".into(),
            },
            "wrong-token",
            None,
        ))
        .await;
    assert_eq!(
        bad_token.expect_err("no such credential").code(),
        tonic::Code::Unauthenticated
    );
    let malformed = th
        .accept(authed(
            AcceptRequest {
                ticket_no: "12".into(),
                request_id: "x".into(),
            },
            "demo-gz-th",
            None,
        ))
        .await;
    assert_eq!(
        malformed.expect_err("bad number").code(),
        tonic::Code::InvalidArgument
    );
    // Illegal step for the state: completing before replying.
    let early = th
        .complete(authed(
            CompleteRequest {
                ticket_no: no.clone(),
                request_id: "c0".into(),
                note: String::new(),
            },
            "demo-gz-th",
            tp,
        ))
        .await;
    assert_eq!(
        early.expect_err("not replied yet").code(),
        tonic::Code::FailedPrecondition
    );

    // The department works the ticket.
    let accepted = th
        .accept(authed(
            AcceptRequest {
                ticket_no: no.clone(),
                request_id: "a1".into(),
            },
            "demo-gz-th",
            tp,
        ))
        .await
        .expect("accept")
        .into_inner();
    assert_eq!(accepted.status, "accepted");

    // The department needs material from the citizen (补充材料): the SLA clock pauses; the
    // centre passes the citizen's answer on and the clock runs again.
    let asked = th
        .request_information(authed(
            RequestInformationRequest {
                ticket_no: no.clone(),
                request_id: "i1".into(),
                question: "请提供路灯编号或照片".into(),
            },
            "demo-gz-th",
            tp,
        ))
        .await
        .expect("request information")
        .into_inner();
    assert_eq!(asked.status, "awaiting_citizen");
    let sla = format!("http://127.0.0.1:{}", p.settings.sla.port);
    let paused = wait_json(&admin, &format!("{sla}/v1/tickets/{no}/deadlines"), |d| {
        d.to_string().contains("\"paused\"")
    })
    .await;
    assert!(paused.to_string().contains("handling"), "{paused}");
    let r = agent
        .post(format!("{}/v1/tickets/{no}/actions", p.tickets()))
        .json(&serde_json::json!({"action": "provide_information", "note": "市民补充：灯杆编号 TH-0208"}))
        .send()
        .await
        .expect("provide information");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    wait_json(&admin, &format!("{sla}/v1/tickets/{no}/deadlines"), |d| {
        !d.to_string().contains("\"paused\"")
    })
    .await;

    // An extension asked before the deadline goes through SLA to the ledger; a date before the
    // current deadline is refused with a clear status.
    let ask = |until: chrono::DateTime<chrono::Utc>, id: &str| {
        authed(
            RequestExtensionRequest {
                ticket_no: no.clone(),
                request_id: id.into(),
                reason: "需协调供电部门".into(),
                until: Some(prost_types::Timestamp {
                    seconds: until.timestamp(),
                    nanos: 0,
                }),
            },
            "demo-gz-th",
            tp,
        )
    };
    let early = th
        .request_extension(ask(chrono::Utc::now() + chrono::Duration::minutes(1), "x0"))
        .await
        .expect_err("an earlier date is refused");
    assert_eq!(early.code(), tonic::Code::InvalidArgument, "{early:?}");
    th.request_extension(ask(chrono::Utc::now() + chrono::Duration::days(30), "x1"))
        .await
        .expect("extension requested");
    let pending = wait_json(
        &admin,
        &format!("{sla}/v1/extensions?status=pending"),
        |d| d.to_string().contains(&no),
    )
    .await;
    assert!(pending.to_string().contains("需协调供电部门"), "{pending}");
    let r = supervisor
        .post(format!("{sla}/v1/extensions/{no}/decision"))
        .json(&serde_json::json!({"approved": true, "note": "同意"}))
        .send()
        .await
        .expect("decision");
    assert!(r.status().is_success(), "{:?}", r.text().await);

    th.add_progress(authed(
        AddProgressRequest {
            ticket_no: no.clone(),
            request_id: "p1".into(),
            note: "已派人查看".into(),
        },
        "demo-gz-th",
        tp,
    ))
    .await
    .expect("progress");
    th.reply(authed(
        ReplyRequest {
            ticket_no: no.clone(),
            request_id: "r1".into(),
            text: "路灯已修复，感谢反映".into(),
        },
        "demo-gz-th",
        tp,
    ))
    .await
    .expect("reply");
    let done = th
        .complete(authed(
            CompleteRequest {
                ticket_no: no.clone(),
                request_id: "c1".into(),
                note: "办结".into(),
            },
            "demo-gz-th",
            tp,
        ))
        .await
        .expect("complete")
        .into_inner();
    assert_eq!(done.status, "completed");

    let closed = p.get_request(&no).await;
    assert_eq!(closed["status"], "closed");
    assert!(
        closed["status_notes"]
            .as_str()
            .unwrap_or_default()
            .contains("路灯已修复"),
        "{closed}"
    );
    // FixMyStreet updates list the steps.
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let updates: serde_json::Value = p
        .http
        .get(format!("{}/servicerequestupdates.json", p.intake()))
        .query(&[("start_date", from.as_str())])
        .send()
        .await
        .expect("updates")
        .json()
        .await
        .expect("json");
    let text = updates.to_string();
    assert!(text.contains(&no) && text.contains("已派人查看"), "{text}");

    // The demo knowledge base answers agents: the medical-insurance tree is searchable.
    let knowledge = format!("http://127.0.0.1:{}", p.settings.knowledge.port);
    let found = wait_json(
        &p.http,
        &format!("{knowledge}/v1/search?q=%E6%96%B0%E7%94%9F%E5%84%BF%E5%8F%82%E4%BF%9D"),
        |d| d["hits"].as_array().is_some_and(|h| !h.is_empty()),
    )
    .await;
    assert!(
        found["hits"][0]["code"]
            .as_str()
            .is_some_and(|c| c.starts_with("YB-")),
        "{found}"
    );

    // HZ's own stream has nothing of TH's.
    let (_hz_acks, hz_rx) = tokio::sync::mpsc::channel(4);
    let mut hz_stream = hz
        .subscribe(authed(ReceiverStream::new(hz_rx), "demo-gz-hz", None))
        .await
        .expect("subscribe")
        .into_inner();
    let nothing = tokio::time::timeout(Duration::from_millis(1500), hz_stream.next()).await;
    assert!(nothing.is_err(), "HZ received something: {nothing:?}");

    // 回访: the completion's survey link went to the citizen's e-mail (the notify stream holds
    // it: the demo has no mail relay); 不满意 on the page reopens the ticket to GZ-TH.
    let bus = hotline_bus::Bus::connect(&p.env.nats_url, &p.env.namespace, "e2e")
        .await
        .expect("nats");
    let stream = bus
        .js
        .get_stream(bus.subjects.notify_stream())
        .await
        .expect("notify stream");
    let started = std::time::Instant::now();
    let notice = loop {
        if let Ok(raw) = stream
            .get_last_raw_message_by_subject(&bus.subjects.notify("email"))
            .await
        {
            let envelope: hotline_bus::Envelope<hotline_domain::contract::Notice> =
                hotline_bus::Envelope::from_slice(&raw.payload).expect("a notice");
            if envelope.data.ticket_no.to_string() == no {
                break envelope.data;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no survey invitation for {no}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(notice.address, "zhangsan@example.cn");
    let link = notice.link.expect("a survey link");
    assert!(link.starts_with(&p.settings.survey.public_url), "{link}");
    let page = p.http.get(&link).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains(&no));
    let answered = p
        .http
        .post(&link)
        .form(&[
            ("resolved", "no"),
            ("case", "dissatisfied"),
            ("comment", "路灯晚上还是不亮"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(answered.status(), 200);
    let reopened = wait_json(&agent, &format!("{}/v1/tickets/{no}", p.tickets()), |t| {
        let history = t["history"].as_array().cloned().unwrap_or_default();
        t["ticket"]["status"] == "dispatched"
            && history.iter().any(|h| h["step"] == "reopen")
            && history.iter().any(|h| h["step"] == "supervise")
    })
    .await;
    assert_eq!(
        reopened["ticket"]["lead"], "GZ-TH",
        "重办 to the same department"
    );
    // The department is handed the ticket again.
    let again = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let a = assignments
                .next()
                .await
                .expect("an assignment")
                .expect("ok");
            if a.ticket
                .as_ref()
                .is_some_and(|t| t.ticket_no == no && t.status == "dispatched")
            {
                return a;
            }
        }
    })
    .await
    .expect("the reopened ticket reaches GZ-TH");
    assert_eq!(again.ticket.expect("ticket").ticket_no, no);
    assert_eq!(p.get_request(&no).await["status"], "open");
    let survey = format!("http://127.0.0.1:{}", p.settings.survey.port);
    let surveys = wait_json(
        &agent,
        &format!("{survey}/v1/surveys?ticket_no={no}"),
        |s| s["surveys"][0]["outcome"] == "reopened",
    )
    .await;
    assert_eq!(surveys["surveys"][0]["case_rating"], "dissatisfied");
    assert_eq!(surveys["surveys"][0]["method"], "email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_killed_mid_flight_loses_nothing_acknowledged() {
    let mut p = Platform::new(vec![]).await;
    p.spawn(&["setup", "--demo"]);
    // Each service in its own process, so one can be killed.
    for s in ["tickets", "dispatch", "gateway", "intake", "identity"] {
        p.spawn(&[s, "--demo"]);
    }
    let mut ports = p.all_ports();
    ports.push(p.settings.identity.port);
    p.wait_ready(&ports).await;
    let code = p.district_service().await;
    // The ledger's list is for the centre's people: a supervisor signs in.
    let supervisor = p.staff_client("supervisor1").await;
    let p = std::sync::Arc::new(tokio::sync::Mutex::new(p));
    let total = 200usize;
    let poster = {
        let p = p.clone();
        let code = code.clone();
        tokio::spawn(async move {
            let mut numbers = std::collections::HashMap::new();
            for i in 0..total {
                let key = format!("crash-{i}");
                let description = format!("第{i}号诉求");
                let form = [
                    ("api_key", "demo-open311-key"),
                    ("service_code", code.as_str()),
                    ("address_string", "海珠区滨江路"),
                    ("description", description.as_str()),
                ];
                // A client retries until the ticket is acknowledged, with the same key.
                let mut tries = 0;
                loop {
                    tries += 1;
                    let (status, body) = p.lock().await.post(&form, Some(&key)).await;
                    if status == 201 || status == 200 {
                        numbers.insert(
                            key.clone(),
                            body[0]["service_request_id"]
                                .as_str()
                                .expect("number")
                                .to_owned(),
                        );
                        break;
                    }
                    assert!(status >= 500, "unexpected {status}: {body}");
                    assert!(tries < 300, "ticket {i} never acknowledged");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            numbers
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    {
        let mut guard = p.lock().await;
        guard.kill9("tickets --demo");
        guard.spawn(&["tickets", "--demo"]);
    }
    let numbers = poster.await.expect("poster");
    assert_eq!(numbers.len(), total);
    // Every acknowledged number exists, and a retry of any key gives the same number.
    let guard = p.lock().await;
    let list: Vec<serde_json::Value> = supervisor
        .get(format!("{}/v1/tickets?limit=1000", guard.tickets()))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list.len(),
        total,
        "one ticket per request: nothing lost, nothing doubled"
    );
    let stored: std::collections::HashSet<String> = list
        .iter()
        .map(|t| t["ticket_no"].as_str().expect("no").to_owned())
        .collect();
    for no in numbers.values() {
        assert!(stored.contains(no), "acknowledged ticket {no} is missing");
    }
    let form = [
        ("api_key", "demo-open311-key"),
        ("service_code", code.as_str()),
        ("address_string", "海珠区"),
        ("description", "第7号诉求"),
    ];
    let (_, again) = guard.post(&form, Some("crash-7")).await;
    assert_eq!(
        again[0]["service_request_id"].as_str(),
        numbers.get("crash-7").map(String::as_str)
    );
}

/// GETs `url` until `done` holds for the JSON body (or 30 s pass).
async fn wait_json(
    http: &reqwest::Client,
    url: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let body = match http.get(url).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        if done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} never got there: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
