//! No personal data in logs, spans, metrics or dead letters (issue 8, PIPL): a citizen with a
//! distinctive phone number, name, e-mail and address files through Open311 (the real path),
//! the centre reads, searches by phone, reveals and dispatches, a department reads, the same
//! citizen calls the phone channel (a ticket during the call, an abandoned call), and a
//! poisoned event holding the same values is dead-lettered. Then everything captured (every
//! tracing event and span field at debug level, every service's /metrics, the dead letters'
//! headers) is searched for those values.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const PHONE: &str = "13987650123";
const FAMILY: &str = "龚";
const GIVEN: &str = "测试员";
const EMAIL: &str = "pii-probe-7731@example.org";
const ADDRESS: &str = "幸福路77号测试小区";

/// Where the subscriber writes: one buffer for the whole test binary.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Every personal value seeded, and the parts a careless log line would show.
fn needles() -> Vec<String> {
    vec![
        PHONE.to_owned(),
        format!("{FAMILY}{GIVEN}"),
        GIVEN.to_owned(),
        EMAIL.to_owned(),
        "pii-probe-7731".to_owned(),
        ADDRESS.to_owned(),
        "测试小区".to_owned(),
    ]
}

/// The contact details only: staff reads show where the problem is, never who reported it.
fn contact_needles() -> Vec<String> {
    needles()
        .into_iter()
        .filter(|n| !n.contains("小区"))
        .collect()
}

fn assert_clean(what: &str, text: &str) {
    assert_free_of(what, text, &needles());
}

fn assert_free_of(what: &str, text: &str, needles: &[String]) {
    for needle in needles {
        if let Some(at) = text.find(needle.as_str()) {
            let start = text[..at]
                .char_indices()
                .rev()
                .nth(200)
                .map_or(0, |(i, _)| i);
            let end = (at + needle.len() + 200).min(text.len());
            let end = (end..=text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            panic!("{what} holds {needle:?}:\n…{}…", &text[start..end]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_personal_data_appears_in_no_log_span_metric_or_dead_letter() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(
            "debug,h2=info,hyper=info,hyper_util=info,tower=info,reqwest=info,rustls=info,\
             async_nats=info,sqlx=info,tantivy=info,tokio_util=info,mio=info",
        )
        // Span fields go into every line, so what a span carries is searched too.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let env = hotline_testkit::env().await.expect("test servers");
    let settings = env.settings().expect("settings");
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    macro_rules! start {
        ($name:literal, $run:path) => {{
            let (s, stop) = (settings.clone(), shutdown.clone());
            tasks.spawn(async move { ($name, $run(s, stop).await) });
        }};
    }
    start!("identity", hotline_identity::run);
    start!("tickets", hotline_tickets::run);
    start!("dispatch", hotline_dispatch::run);
    start!("sla", hotline_sla::run);
    start!("intake", hotline_intake::run);
    start!("phone", hotline_intake::phone::run);
    let http = reqwest::Client::new();
    let ports = [
        settings.identity.port,
        settings.tickets.port,
        settings.dispatch.port,
        settings.sla.port,
        settings.intake.port,
        settings.phone.port,
    ];
    let deadline = Instant::now() + Duration::from_secs(90);
    for port in ports {
        while !http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            if let Some(Ok((name, r))) = tasks.try_join_next() {
                panic!("{name} stopped: {r:?}");
            }
            assert!(Instant::now() < deadline, "port {port} never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let token = |user: &'static str| {
        let http = http.clone();
        let issuer = settings.identity.issuer.clone();
        async move {
            let r: Value = http
                .post(format!("{issuer}/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", user),
                    ("password", &format!("demo-{user}")),
                    ("client_id", "hotline-console"),
                ])
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("json");
            r["access_token"].as_str().expect("access token").to_owned()
        }
    };
    let agent = token("agent1").await;
    let dispatcher = token("dispatcher1").await;
    let staff = token("th-staff1").await;
    let intake = format!("http://127.0.0.1:{}/open311/v2", settings.intake.port);
    let tickets = format!("http://127.0.0.1:{}", settings.tickets.port);

    // The citizen files through Open311, once in the open and once confidentially.
    let mut service_code = None;
    while service_code.is_none() {
        let services: Vec<Value> = http
            .get(format!("{intake}/services.json"))
            .send()
            .await
            .expect("services")
            .json()
            .await
            .unwrap_or_default();
        service_code = services
            .first()
            .and_then(|s| s["service_code"].as_str())
            .map(str::to_owned);
        assert!(Instant::now() < deadline, "no Open311 services");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let service_code = service_code.expect("a service");
    let mut numbers = Vec::new();
    for confidential in ["false", "true"] {
        let form = [
            ("api_key", "demo-open311-key"),
            ("service_code", service_code.as_str()),
            ("address_string", ADDRESS),
            ("description", "门口路灯不亮"),
            ("phone", PHONE),
            ("first_name", GIVEN),
            ("last_name", FAMILY),
            ("email", EMAIL),
            ("lat", "23.135"),
            ("long", "113.327"),
            ("confidential", confidential),
        ];
        let r = http
            .post(format!("{intake}/requests.json"))
            .form(&form)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        let body: Value = r.json().await.expect("json");
        let no = body[0]["service_request_id"]
            .as_str()
            .or_else(|| body[0]["token"].as_str())
            .expect("a request id")
            .to_owned();
        numbers.push(no);
    }

    // The centre reads, searches by phone, reveals; a department reads its ticket.
    let mut seen = false;
    for _ in 0..100 {
        let r = http
            .get(format!("{tickets}/v1/tickets/{}", numbers[0]))
            .bearer_auth(&agent)
            .send()
            .await
            .expect("get");
        if r.status() == 200 {
            let body = r.text().await.expect("text");
            assert_free_of("an agent's masked read", &body, &contact_needles());
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the ticket never reached the ledger");
    let found = http
        .get(format!("{tickets}/v1/tickets"))
        .query(&[
            ("phone", PHONE),
            ("reason", "caller asks about earlier requests"),
        ])
        .bearer_auth(&agent)
        .send()
        .await
        .expect("search");
    assert_eq!(found.status(), 200);
    assert_free_of(
        "a phone search's masked list",
        &found.text().await.expect("text"),
        &contact_needles(),
    );
    let revealed: Value = http
        .post(format!("{tickets}/v1/tickets/{}/reveal", numbers[0]))
        .bearer_auth(&agent)
        .json(&json!({"reason": "call back"}))
        .send()
        .await
        .expect("reveal")
        .json()
        .await
        .expect("json");
    assert_eq!(revealed["citizen"]["phone"], PHONE, "the reveal shows it");
    let audit: Value = http
        .get(format!("{tickets}/v1/reveals"))
        .bearer_auth(&token("supervisor1").await)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let kinds: Vec<&str> = audit["reveals"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"contact") && kinds.contains(&"phone_search"),
        "{audit}"
    );
    assert_clean("the reveal audit", &audit.to_string());
    for no in &numbers {
        let _ = http
            .post(format!("{tickets}/v1/tickets/{no}/actions"))
            .bearer_auth(&dispatcher)
            .json(&json!({"action": "dispatch", "lead": "GZ-TH"}))
            .send()
            .await
            .expect("dispatch");
    }
    let secret = http
        .get(format!("{tickets}/v1/tickets/{}", numbers[1]))
        .bearer_auth(&staff)
        .send()
        .await
        .expect("department read");
    if secret.status() == 200 {
        let body: Value = secret.json().await.expect("json");
        assert_eq!(
            body["ticket"]["citizen"],
            json!({}),
            "保密: no citizen for departments"
        );
    }
    let public = http
        .get(format!("{intake}/requests/{}.json", numbers[1]))
        .send()
        .await
        .expect("open311 get")
        .text()
        .await
        .expect("text");
    assert_clean("Open311's view of a confidential request", &public);
    assert!(
        !public.contains("23.135"),
        "coordinates of a confidential request: {public}"
    );

    // The same citizen calls: the phone channel stores the number, an agent files a ticket
    // during the call; a second call is abandoned and lands on the callback list.
    let phone = format!("http://127.0.0.1:{}", settings.phone.port);
    for form in [
        format!("event=newCall&from={PHONE}&to=12345&direction=in&callId=pii-call-1"),
        format!("event=answer&from={PHONE}&to=12345&direction=in&callId=pii-call-1&user=agent1"),
        format!("event=newCall&from={PHONE}&to=12345&direction=in&callId=pii-call-2"),
        "event=hangup&callId=pii-call-2&cause=cancel".to_owned(),
    ] {
        let r = http
            .post(format!("{phone}/cti/demo-cti-token"))
            .body(form)
            .send()
            .await
            .expect("cti");
        assert_eq!(r.status(), 200);
    }
    let r = http
        .post(format!("{phone}/v1/calls/pii-call-1/ticket"))
        .bearer_auth(&agent)
        .json(&json!({
            "description": format!("{FAMILY}{GIVEN}反映路灯不亮"),
            "transcript": format!("来电人{FAMILY}{GIVEN}，邮箱{EMAIL}"),
            "address": ADDRESS,
        }))
        .send()
        .await
        .expect("phone ticket");
    assert_eq!(r.status(), 201);
    for path in ["/v1/calls/pii-call-1", "/v1/missed-calls"] {
        let text = http
            .get(format!("{phone}{path}"))
            .bearer_auth(&agent)
            .send()
            .await
            .expect("phone read")
            .text()
            .await
            .expect("text");
        assert!(text.contains("pii-call"), "{path}: {text}");
        assert_free_of(&format!("phone {path}"), &text, &[PHONE.to_owned()]);
    }

    // A poisoned event holding the same values: the consumers dead-letter it.
    let bus = hotline_bus::Bus::connect(&settings.nats.url, &settings.namespace, "pii-test")
        .await
        .expect("bus");
    let poison = format!("\"{FAMILY}{GIVEN} {PHONE} {ADDRESS} {EMAIL}\"");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "pii-poison-1");
    bus.js
        .publish_with_headers(
            bus.subjects.ticket_event("created"),
            headers,
            poison.into_bytes().into(),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
    // Give the consumers time to take it, and the relay and SLA timers a few rounds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stream = bus
        .js
        .get_stream(bus.subjects.dead_letter_stream())
        .await
        .expect("dead-letter stream");
    let mut dead = String::new();
    let info = stream.get_info().await.expect("info");
    for seq in info.state.first_sequence..=info.state.last_sequence {
        if let Ok(m) = stream.get_raw_message(seq).await {
            dead.push_str(&format!("{:?}\n", m.headers));
        }
    }
    assert!(
        dead.contains("Hotline-Dlq-Reason"),
        "the poisoned event was dead-lettered: {dead}"
    );
    assert_clean("dead-letter headers", &dead);

    // Metrics of every service.
    for port in ports {
        let text = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert_clean(&format!("/metrics on {port}"), &text);
    }
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    let logs = capture.text();
    assert!(
        logs.contains(&numbers[0]) || logs.contains("tickets"),
        "the capture holds the services' logs"
    );
    let _ =
        std::io::stderr().write_all(format!("captured {} bytes of logs\n", logs.len()).as_bytes());
    assert_clean("the services' logs and spans", &logs);
}
