//! The SMS channel against real NATS, Redis and Postgres, with the real tickets ledger
//! in-process and a fake SMS gateway (an axum server speaking the gateway's wire format,
//! checking our signature and recording what it is asked to send): an inbound SMS makes one
//! ticket and one receipt however often the gateway repeats it, forged, stale or malformed
//! callbacks store and send nothing, progress is answered only to the ticket's own number,
//! STOP silences a number until START, and the per-number limits hold.
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

mod support;

use std::time::{Duration, Instant};

use hotline_bus::{Bus, rpc};
use hotline_config::{Secret, Settings};
use hotline_domain::contract::{TicketQuery, TicketView};
use hotline_domain::{Channel, PhoneNumber};
use hotline_intake::sms::sign;
use hotline_intake::sms::{SmsError, SmsProvider, Template};
use tokio_util::sync::CancellationToken;

use support::sms_gateway::{PROVIDER_SECRET, Taken, start_gateway};

const INBOUND_SECRET: &str = "inbound-secret-0123456789";
const NUMBER_KEY: &str = "number-key-0123456789abcdef";

/// The gateway's side of a callback: signs `body` as it would, at `timestamp`.
struct Callbacks {
    http: reqwest::Client,
    url: String,
}

impl Callbacks {
    async fn post(&self, body: String, timestamp: i64, secret: &str, json: bool) -> u16 {
        let timestamp = timestamp.to_string();
        let nonce = format!("{:032x}", rand::random::<u128>());
        let signature = sign::signature(secret, &timestamp, &nonce, body.as_bytes());
        let content_type = if json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        self.http
            .post(&self.url)
            .header("content-type", content_type)
            .header(sign::TIMESTAMP_HEADER, timestamp)
            .header(sign::NONCE_HEADER, nonce)
            .header(sign::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .expect("POST")
            .status()
            .as_u16()
    }

    async fn sms(&self, from: &str, text: &str, message_id: &str) -> u16 {
        let body = serde_json::json!({
            "from": from, "to": "12345", "text": text, "message_id": message_id,
            "timestamp": now(),
        })
        .to_string();
        self.post(body, now(), INBOUND_SECRET, true).await
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn list(bus: &Bus) -> Vec<TicketView> {
    rpc::call(
        bus,
        bus.subjects.ticket_list(),
        &TicketQuery {
            limit: Some(500),
            ..TicketQuery::default()
        },
        Duration::from_secs(5),
    )
    .await
    .expect("list")
}

fn sms_settings(settings: &mut Settings, gateway_url: &str) {
    let sms = &mut settings.sms;
    sms.provider_url = Some(gateway_url.to_owned());
    sms.access_key_id = "LTAI-test".to_owned();
    sms.provider_secret = Some(Secret::new(PROVIDER_SECRET));
    sms.inbound_secret = Some(Secret::new(INBOUND_SECRET));
    sms.number_key = Some(Secret::new(NUMBER_KEY));
    settings.validate().expect("valid sms settings");
}

/// A number no other test run uses (the limits live in a shared Redis, namespaced per run,
/// but a fresh number keeps each case's count its own).
fn fresh_number() -> String {
    format!("139{:08}", rand::random::<u32>() % 100_000_000)
}

#[tokio::test]
async fn inbound_sms_become_one_ticket_with_one_receipt_and_stop_silences_a_number() {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings: Settings = env.settings().expect("settings");
    let (gateway, gateway_url) = start_gateway().await;
    sms_settings(&mut settings, &gateway_url);
    let stop = CancellationToken::new();
    support::start_tickets(&settings, &stop).await;
    let bus = Bus::connect(&env.nats_url, &env.namespace, "sms-itest")
        .await
        .expect("NATS");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let channel = tokio::spawn(hotline_intake::sms::run_with_listener(
        settings.clone(),
        listener,
        stop.clone(),
    ));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(!channel.is_finished(), "the sms channel stopped");
        assert!(Instant::now() < deadline, "the sms channel never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let callbacks = Callbacks {
        http: http.clone(),
        url: format!("{base}/sms/inbound"),
    };
    let citizen = fresh_number();
    let templates = settings.sms.templates.clone();

    // An SMS, delivered three times at once and once more later: one ticket, one receipt.
    let id = format!("gw-{}", rand::random::<u64>());
    let text = "天河路12号路灯不亮 已经一周了";
    let (a, b, c) = tokio::join!(
        callbacks.sms(&citizen, text, &id),
        callbacks.sms(&citizen, text, &id),
        callbacks.sms(&citizen, text, &id)
    );
    assert_eq!((a, b, c), (200, 200, 200));
    assert_eq!(callbacks.sms(&citizen, text, &id).await, 200);
    let stored = list(&bus).await;
    assert_eq!(stored.len(), 1, "one ticket however often it arrives");
    let ticket = &stored[0];
    assert_eq!(ticket.channel, Channel::Sms);
    assert_eq!(ticket.description, text);
    assert!(!ticket.confidential);
    let receipts = gateway.to(&citizen);
    assert_eq!(receipts.len(), 1, "one receipt: {receipts:?}");
    assert_eq!(receipts[0].template_code, templates.receipt);
    assert_eq!(receipts[0].params["no"], ticket.ticket_no.to_string());

    // The same callback as a form, and 保密: a second, confidential ticket.
    let form = serde_urlencoded::to_string([
        ("from", citizen.as_str()),
        ("to", "12345"),
        ("text", "保密：邻居半夜施工"),
        ("message_id", &format!("gw-{}", rand::random::<u64>())),
    ])
    .expect("form");
    assert_eq!(
        callbacks.post(form, now(), INBOUND_SECRET, false).await,
        200
    );
    let stored = list(&bus).await;
    assert_eq!(stored.len(), 2);
    let secret_one = stored
        .iter()
        .find(|t| t.ticket_no != ticket.ticket_no)
        .expect("second ticket");
    assert!(secret_one.confidential);
    assert_eq!(secret_one.description, "邻居半夜施工");
    assert_eq!(gateway.to(&citizen).len(), 2, "its receipt");

    // Refused callbacks: 401 or 400, nothing stored and nothing sent.
    let sent_before = gateway.taken().len();
    let fresh_id = || format!("gw-{}", rand::random::<u64>());
    let body = |text: &str| {
        serde_json::json!({"from": citizen, "to": "12345", "text": text, "message_id": fresh_id()})
            .to_string()
    };
    assert_eq!(
        callbacks
            .post(body("噪音扰民"), now(), "not-the-inbound-secret", true)
            .await,
        401,
        "bad signature"
    );
    assert_eq!(
        callbacks
            .post(body("噪音扰民"), now() - 3600, INBOUND_SECRET, true)
            .await,
        401,
        "stale timestamp"
    );
    let unsigned = http
        .post(&callbacks.url)
        .header("content-type", "application/json")
        .body(body("噪音扰民"))
        .send()
        .await
        .expect("POST");
    assert_eq!(unsigned.status().as_u16(), 401, "no signature");
    assert_eq!(
        callbacks
            .post("{\"from\":".to_owned(), now(), INBOUND_SECRET, true)
            .await,
        400,
        "malformed"
    );
    assert_eq!(
        callbacks
            .post(body("bad\u{7}text"), now(), INBOUND_SECRET, true)
            .await,
        400,
        "a control character"
    );
    assert_eq!(
        callbacks.sms("call me", "噪音扰民", &fresh_id()).await,
        400,
        "not a number"
    );
    assert_eq!(list(&bus).await.len(), 2, "nothing stored");
    assert_eq!(gateway.taken().len(), sent_before, "nothing sent");

    // A captured callback played again (same nonce and signature) is refused: the message id
    // alone would have answered 200.
    let replay_body = body("噪音扰民");
    let ts = now().to_string();
    let nonce = format!("{:032x}", rand::random::<u128>());
    let signature = sign::signature(INBOUND_SECRET, &ts, &nonce, replay_body.as_bytes());
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let response = http
            .post(&callbacks.url)
            .header("content-type", "application/json")
            .header(sign::TIMESTAMP_HEADER, &ts)
            .header(sign::NONCE_HEADER, &nonce)
            .header(sign::SIGNATURE_HEADER, &signature)
            .body(replay_body.clone())
            .send()
            .await
            .expect("POST");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 401], "the replay is refused");
    assert_eq!(list(&bus).await.len(), 3, "the first one made a ticket");
    assert_eq!(
        gateway.taken().len(),
        sent_before + 1,
        "and got its receipt"
    );

    // Progress: answered to the ticket's own number only.
    let no = ticket.ticket_no;
    assert_eq!(
        callbacks
            .sms(&citizen, &format!("查询 {no}"), &fresh_id())
            .await,
        200
    );
    let answers: Vec<Taken> = gateway
        .to(&citizen)
        .into_iter()
        .filter(|t| t.template_code == templates.progress)
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].params["no"], no.to_string());
    assert_eq!(answers[0].params["status"], "办理中");
    let stranger = fresh_number();
    assert_eq!(
        callbacks
            .sms(&stranger, &format!("CX {no}"), &fresh_id())
            .await,
        200
    );
    assert!(
        gateway.to(&stranger).is_empty(),
        "a stranger learns nothing"
    );
    assert_eq!(list(&bus).await.len(), 3, "queries open no ticket");

    // STOP: nothing more to the number, not even a receipt; START lifts it.
    let provider = SmsProvider::new(&settings.sms).expect("provider");
    let quitter = fresh_number();
    let quitter_no = PhoneNumber::parse(&quitter).expect("number");
    assert_eq!(callbacks.sms(&quitter, " 退订 ", &fresh_id()).await, 200);
    assert!(gateway.to(&quitter).is_empty(), "no confirmation");
    assert_eq!(
        provider
            .send(&quitter_no, Template::Survey, &[("no", &no.to_string())])
            .await,
        Err(SmsError::Stopped)
    );
    // With the country code it is the same number.
    let plus = PhoneNumber::parse(&format!("+86{quitter}")).expect("number");
    assert_eq!(
        provider.send(&plus, Template::Survey, &[("no", "1")]).await,
        Err(SmsError::Stopped)
    );
    assert_eq!(callbacks.sms(&quitter, "井盖丢了", &fresh_id()).await, 200);
    assert_eq!(list(&bus).await.len(), 4, "a stopped number still reports");
    assert!(gateway.to(&quitter).is_empty(), "but gets no receipt");
    // The list holds hashes only.
    let pool = sqlx::PgPool::connect(&settings.database.url)
        .await
        .expect("Postgres");
    let hashes: Vec<String> = sqlx::query_scalar("SELECT number_hash FROM sms.stop_list")
        .fetch_all(&pool)
        .await
        .expect("stop list");
    assert_eq!(hashes.len(), 1);
    assert!(!hashes[0].contains(&quitter[3..]), "no number in the list");
    assert_eq!(hashes[0], provider.number_hash(&quitter_no));
    assert_eq!(callbacks.sms(&quitter, "START", &fresh_id()).await, 200);
    assert!(
        provider
            .send(&quitter_no, Template::Survey, &[("no", &no.to_string())])
            .await
            .is_ok()
    );
    assert_eq!(gateway.to(&quitter).len(), 1, "sent again after START");

    // Limits: five an hour, then RateLimited; one one-time code a minute.
    let busy = PhoneNumber::parse(&fresh_number()).expect("number");
    for i in 0..5 {
        let sent = provider
            .send(
                &busy,
                Template::Progress,
                &[("no", "1"), ("status", "办理中")],
            )
            .await;
        assert!(sent.is_ok(), "message {i}: {sent:?}");
    }
    assert_eq!(
        provider
            .send(
                &busy,
                Template::Progress,
                &[("no", "1"), ("status", "办理中")]
            )
            .await,
        Err(SmsError::RateLimited),
        "the sixth in an hour"
    );
    assert_eq!(gateway.to(busy.as_str()).len(), 5);
    let phone = PhoneNumber::parse(&fresh_number()).expect("number");
    let code = [("code", "482913"), ("minutes", "5")];
    assert!(
        provider
            .send(&phone, Template::OneTimeCode, &code)
            .await
            .is_ok()
    );
    assert_eq!(
        provider.send(&phone, Template::OneTimeCode, &code).await,
        Err(SmsError::RateLimited),
        "a second code within the interval"
    );
    let sent: Vec<Taken> = gateway.to(phone.as_str());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].template_code, templates.one_time_code);
    assert_eq!(sent[0].params["code"], "482913");

    // Redis keys of the limits name hashes, never a number.
    let mut redis = redis::Client::open(settings.redis.url.as_str())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:sms:*", settings.namespace))
        .query_async(&mut redis)
        .await
        .expect("KEYS");
    assert!(keys.len() >= 4, "{keys:?}");
    for number in [
        &citizen,
        &quitter,
        &busy.as_str().to_owned(),
        &phone.as_str().to_owned(),
    ] {
        assert!(
            keys.iter().all(|k| !k.contains(&number[3..])),
            "a number in {keys:?}"
        );
    }

    // A provider with the wrong secret is refused by the gateway, and says so.
    let mut wrong = settings.sms.clone();
    wrong.provider_secret = Some(Secret::new("some-other-secret-0123"));
    let wrong = SmsProvider::new(&wrong).expect("provider");
    let other = PhoneNumber::parse(&fresh_number()).expect("number");
    assert!(matches!(
        wrong.send(&other, Template::Receipt, &[("no", "1")]).await,
        Err(SmsError::Refused(_))
    ));
    assert!(*gateway.forged.lock().expect("lock") >= 1);
    assert!(gateway.to(other.as_str()).is_empty());

    stop.cancel();
}
