//! The mobile app's API over real HTTP: `hotline app` runs as it does in production
//! (`app::run_with_listener` on a port-0 listener: Postgres schema `app` and `attachments`,
//! Redis for codes and limits, NATS for numbers), with the tickets ledger and dispatch
//! in-process beside it (see `support`), and a fake SMS gateway speaking the provider's wire
//! format (signed JSON POSTs, `services/intake/src/sms/provider.rs`). The codes are read from
//! what the gateway received, as a phone would read them.
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use bytes::Bytes;
use hotline_bus::Bus;
use hotline_bus::Service;
use hotline_bus::rpc;
use hotline_config::{Secret, Settings};
use hotline_domain::contract::{CommandAccepted, TicketCommand};
use hotline_domain::contract::{GetTicket, TicketQuery, TicketView, TicketWithHistory};
use hotline_domain::{Action, Actor, Channel, DeptCode, Status, TicketNo};
use hotline_intake::sms::sign;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

mod support;

const PROVIDER_SECRET: &str = "provider-secret-for-tests-0123";
const NUMBER_KEY: &str = "number-key-for-tests-0123456";
/// A real 2×2 RGB PNG.
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xc0,
    0x00, 0xc2, 0x20, 0xe2, 0x3f, 0x00, 0x1a, 0xf3, 0x03, 0xfd, 0x42, 0x27, 0x4b, 0xb0, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// What the fake gateway took: (number, template code, params).
#[derive(Clone, Default)]
struct Gateway {
    taken: Arc<Mutex<Vec<(String, String, Value)>>>,
}

impl Gateway {
    /// The last one-time code sent to `phone`.
    fn code_for(&self, phone: &str) -> Option<String> {
        self.taken
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find(|(to, template, _)| to == phone && template == "SMS_HOTLINE_OTP")
            .and_then(|(_, _, params)| params["code"].as_str().map(str::to_owned))
    }
}

async fn gateway_send(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let checked = sign::verify(
        PROVIDER_SECRET,
        header(sign::TIMESTAMP_HEADER),
        header(sign::NONCE_HEADER),
        header(sign::SIGNATURE_HEADER),
        &body,
        chrono::Utc::now().timestamp(),
        300,
    );
    if checked.is_err() {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": "SignatureDoesNotMatch"})),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": "isv.INVALID_PARAMETERS"})),
        );
    };
    gateway.taken.lock().expect("lock").push((
        request["phone_numbers"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        request["template_code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        request["template_param"].clone(),
    ));
    (
        axum::http::StatusCode::OK,
        axum::Json(json!({"code": "OK", "message": "OK", "biz_id": "1^0"})),
    )
}

async fn start_gateway() -> (Gateway, String) {
    let gateway = Gateway::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/sms/send", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/sms/send", post(gateway_send))
        .with_state(gateway.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (gateway, url)
}

struct Platform {
    url: String,
    http: reqwest::Client,
    gateway: Gateway,
    bus: Bus,
    pool: sqlx::PgPool,
    redis_url: String,
    stop: CancellationToken,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn platform() -> Platform {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings: Settings = env.settings().expect("settings");
    let (gateway, gateway_url) = start_gateway().await;
    settings.sms.provider_url = Some(gateway_url);
    settings.sms.access_key_id = "LTAI-test".to_owned();
    settings.sms.provider_secret = Some(Secret::new(PROVIDER_SECRET));
    settings.sms.number_key = Some(Secret::new(NUMBER_KEY));
    // Low enough that a test reaches it: 3 codes per client address per window.
    settings.app.codes_per_client = 3;
    settings.app.push_endpoint = Some("http://127.0.0.1:9/push".to_owned());
    settings.validate().expect("valid settings");
    let stop = CancellationToken::new();
    support::start_tickets(&settings, &stop).await;
    support::start_dispatch(&settings, &stop).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(hotline_intake::app::run_with_listener(
        settings.clone(),
        listener,
        stop.clone(),
    ));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            !task.is_finished(),
            "the app API stopped before it was ready"
        );
        assert!(Instant::now() < deadline, "the app API never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Platform {
        url,
        http,
        gateway,
        bus: Bus::connect(&env.nats_url, &env.namespace, "intake-itest")
            .await
            .expect("NATS"),
        pool: sqlx::PgPool::connect(&env.database_url)
            .await
            .expect("Postgres"),
        redis_url: env.redis_url.clone(),
        stop,
    }
}

/// A number no other run uses (the SMS provider's limits live in the shared Redis).
fn fresh_number() -> String {
    format!("139{:08}", rand::random::<u32>() % 100_000_000)
}

struct Tokens {
    access: String,
    refresh: String,
}

impl Tokens {
    fn of(body: &Value) -> Tokens {
        Tokens {
            access: body["access_token"].as_str().expect("access").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }
}

impl Platform {
    async fn post_json(
        &self,
        path: &str,
        body: Value,
        bearer: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("GET");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ask_code(&self, phone: &str) -> String {
        let (status, body) = self
            .post_json("/v1/auth/code", json!({ "phone": phone }), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        self.gateway
            .code_for(phone)
            .expect("the gateway got a code")
    }

    async fn sign_in(&self, phone: &str) -> Tokens {
        let code = self.ask_code(phone).await;
        assert_eq!(code.len(), 6);
        let (status, body) = self
            .post_json(
                "/v1/auth/token",
                json!({ "phone": phone, "code": code }),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        Tokens::of(&body)
    }

    async fn submit(
        &self,
        bearer: &str,
        key: &str,
        ticket: &Value,
        photo: Option<&[u8]>,
    ) -> (StatusCode, Value) {
        let boundary = "----hotline-app-itest-9f2b";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"ticket\"\r\n\
             Content-Type: application/json\r\n\r\n{ticket}\r\n"
        )
        .into_bytes();
        if let Some(bytes) = photo {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; \
                     filename=\"lamp.png\"\r\nContent-Type: image/png\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let response = self
            .http
            .post(format!("{}/v1/tickets", self.url))
            .bearer_auth(bearer)
            .header("idempotency-key", key)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
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
        .expect("get")
    }

    async fn tickets_of(&self, phone: &str) -> Vec<TicketView> {
        rpc::call(
            &self.bus,
            self.bus.subjects.ticket_list(),
            &TicketQuery {
                citizen_phone: Some(phone.to_owned()),
                limit: Some(100),
                ..TicketQuery::default()
            },
            Duration::from_secs(5),
        )
        .await
        .expect("list")
    }

    /// One step on a ticket, sent as `caller` (the ledger checks who may speak for `actor`).
    async fn act(&self, caller: Service, actor: Actor, ticket_no: TicketNo, action: Action) {
        let command = TicketCommand::Act {
            idempotency_key: format!("itest:{}", rand::random::<u64>()),
            actor,
            ticket_no,
            action,
        };
        let _: CommandAccepted = rpc::call(
            &self.bus,
            self.bus.subjects.ticket_commands_from(caller),
            &command,
            Duration::from_secs(5),
        )
        .await
        .expect("the ledger took the step");
    }

    /// Waits for dispatch to route the ticket (the noise matter goes to GZ-HB).
    async fn dispatched(&self, no: TicketNo) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.ticket(no).await.ticket.status != Status::Dispatched {
            assert!(Instant::now() < deadline, "never dispatched");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn photos_of(&self, no: TicketNo) -> Vec<(String, i32, Vec<u8>)> {
        sqlx::query_as(
            "SELECT content_type, size_bytes, sha256 FROM attachments.photo \
             WHERE ticket_no = $1 ORDER BY position",
        )
        .bind(i64::try_from(no.as_u64()).expect("fits"))
        .fetch_all(&self.pool)
        .await
        .expect("photos")
    }
}

fn noise_report(description: &str) -> Value {
    json!({
        "category": "ENV.NOISE",
        "description": description,
        "address": "天河区天河路1号",
        "lat": 23.1291,
        "long": 113.3276,
        "confidential": false,
        "attributes": { "when": ["night"] },
    })
}

#[tokio::test]
async fn a_citizen_signs_in_reports_with_a_photo_and_follows_only_their_own_tickets() {
    let p = platform().await;
    let phone = fresh_number();
    let a = p.sign_in(&phone).await;

    // The SMS said which template and how long the code lives; the number went to the gateway
    // and nowhere else.
    {
        let taken = p.gateway.taken.lock().expect("lock");
        let (_, template, params) = taken.last().expect("an SMS");
        assert_eq!(template, "SMS_HOTLINE_OTP");
        assert_eq!(params["minutes"], "5");
    }

    // Submit with a PNG and GPS; the retry is the same ticket with the photo stored once.
    let (status, body) = p
        .submit(
            &a.access,
            "report-1",
            &noise_report("工地夜间施工噪音"),
            Some(TINY_PNG),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["photos"], 1);
    let no = TicketNo::parse(body["ticket_no"].as_str().expect("no")).expect("a ticket number");
    let (status, again) = p
        .submit(
            &a.access,
            "report-1",
            &noise_report("工地夜间施工噪音"),
            Some(TINY_PNG),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["ticket_no"].as_str(), again["replayed"].as_bool()),
        (Some(no.to_string().as_str()), Some(true))
    );

    let found = p.ticket(no).await;
    assert_eq!(found.ticket.channel, Channel::App);
    assert_eq!(found.ticket.citizen.phone.as_deref(), Some(phone.as_str()));
    assert!(
        found
            .ticket
            .citizen
            .account_id
            .as_deref()
            .is_some_and(|id| id.starts_with("app:") && !id.contains(&phone)),
        "the account is named by its id, not the number"
    );
    assert_eq!(found.ticket.location.lat, Some(23.1291));
    assert_eq!(found.ticket.location.long, Some(113.3276));
    assert_eq!(
        found.ticket.attributes.get("when"),
        Some(&vec!["night".to_owned()])
    );
    let photos = p.photos_of(no).await;
    assert_eq!(photos.len(), 1, "one photo however often it was sent");
    assert_eq!(photos[0].0, "image/png");
    assert_eq!(photos[0].2, Sha256::digest(TINY_PNG).to_vec());

    // My tickets, and the timeline of one.
    let (status, list) = p.get("/v1/tickets", &a.access).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> = list["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["ticket_no"].as_str())
        .collect();
    assert_eq!(listed, [no.to_string().as_str()]);
    let (status, timeline) = p.get(&format!("/v1/tickets/{no}"), &a.access).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert_eq!(timeline["ticket_no"], no.to_string());
    assert_eq!(timeline["history"][0]["step"], "created");
    assert!(
        timeline.get("citizen").is_none(),
        "no contact details in a timeline"
    );

    // Not awaiting a survey yet: 409, nothing recorded.
    let (status, _) = p
        .post_json(
            &format!("/v1/tickets/{no}/survey"),
            json!({"satisfied": true}),
            Some(&a.access),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The department works it through to completion; then the survey is due and recorded.
    p.dispatched(no).await;
    let hb = || Actor::Department {
        code: DeptCode::parse("GZ-HB").expect("code"),
    };
    p.act(Service::Gateway, hb(), no, Action::Accept).await;
    p.act(
        Service::Gateway,
        hb(),
        no,
        Action::Reply {
            text: "已责令工地夜间停工".into(),
        },
    )
    .await;
    p.act(
        Service::Gateway,
        hb(),
        no,
        Action::Complete {
            note: String::new(),
        },
    )
    .await;
    let (status, body) = p
        .post_json(
            &format!("/v1/tickets/{no}/survey"),
            json!({"satisfied": true, "note": "处理及时"}),
            Some(&a.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "surveyed");
    let found = p.ticket(no).await;
    assert_eq!(found.ticket.status, Status::Surveyed);
    assert!(matches!(
        found.history.last().and_then(|e| e.action.as_ref()),
        Some(Action::Survey { satisfied: true, note }) if note == "处理及时"
    ));
    let (_, timeline) = p.get(&format!("/v1/tickets/{no}"), &a.access).await;
    let texts: Vec<&str> = timeline["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|s| s["text"].as_str())
        .collect();
    assert!(texts.contains(&"已责令工地夜间停工"), "{timeline}");

    // A push device for the notify stream (stored, nothing sent yet).
    let (status, _) = p
        .post_json(
            "/v1/devices",
            json!({"token": "fcm-token-1", "platform": "android"}),
            Some(&a.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = p
        .post_json(
            "/v1/devices",
            json!({"token": "fcm-token-2", "platform": "windows"}),
            Some(&a.access),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let devices: Vec<(String, String)> =
        sqlx::query_as("SELECT token, platform FROM app.device ORDER BY token")
            .fetch_all(&p.pool)
            .await
            .expect("devices");
    assert_eq!(devices, [("fcm-token-1".to_owned(), "android".to_owned())]);

    // Another citizen sees nothing of it, as if it did not exist.
    let b_phone = fresh_number();
    let b_code = p.ask_code(&b_phone).await;
    // A second code within the minute is the provider's limit: refused, and the first code
    // still opens.
    let (status, body) = p
        .post_json("/v1/auth/code", json!({ "phone": b_phone }), None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(p.gateway.code_for(&b_phone), Some(b_code.clone()));
    let (status, body) = p
        .post_json(
            "/v1/auth/token",
            json!({ "phone": b_phone, "code": b_code }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b = Tokens::of(&body);
    let (status, _) = p.get(&format!("/v1/tickets/{no}"), &b.access).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = p
        .post_json(
            &format!("/v1/tickets/{no}/survey"),
            json!({"satisfied": false, "note": "x"}),
            Some(&b.access),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, b_list) = p.get("/v1/tickets", &b.access).await;
    assert_eq!(b_list["tickets"].as_array().map(Vec::len), Some(0));

    // Bad input (a NUL in the description): 400, no ticket, no photo.
    let before = p.tickets_of(&phone).await.len();
    let (status, body) = p
        .submit(
            &a.access,
            "report-nul",
            &noise_report("噪音\u{0}很大"),
            Some(TINY_PNG),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(p.tickets_of(&phone).await.len(), before, "nothing stored");
    let (stray,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM attachments.photo WHERE ticket_no <> $1")
            .bind(i64::try_from(no.as_u64()).expect("fits"))
            .fetch_one(&p.pool)
            .await
            .expect("count");
    assert_eq!(stray, 0, "no photo of the refused submission");

    // Refresh rotates; replaying the spent token revokes the session (both holders' tokens).
    let (status, body) = p
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": a.refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = Tokens::of(&body);
    assert_ne!(rotated.refresh, a.refresh);
    let (status, _) = p.get("/v1/tickets", &rotated.access).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = p
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": a.refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = p
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": rotated.refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the family is revoked");
    let (status, _) = p.get("/v1/tickets", &rotated.access).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "and its access tokens too"
    );

    // Logout revokes.
    let (status, _) = p
        .post_json("/v1/auth/logout", json!({}), Some(&b.access))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = p.get("/v1/tickets", &b.access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = p
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": b.refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A revoked session registers no device.
    let (status, _) = p
        .post_json(
            "/v1/devices",
            json!({"token": "fcm-token-3", "platform": "ios"}),
            Some(&rotated.access),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked session");
}

#[tokio::test]
async fn five_wrong_codes_lock_the_code_and_the_right_one_no_longer_opens() {
    let p = platform().await;
    let phone = fresh_number();
    let code = p.ask_code(&phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for attempt in 1..=5 {
        let (status, body) = p
            .post_json(
                "/v1/auth/token",
                json!({"phone": phone, "code": wrong}),
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
        assert_eq!(body["error"], "wrong_code");
    }
    let (status, body) = p
        .post_json(
            "/v1/auth/token",
            json!({"phone": phone, "code": code}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "locked");
    let (accounts,): (i64,) = sqlx::query_as("SELECT count(*) FROM app.citizen WHERE phone = $1")
        .bind(&phone)
        .fetch_one(&p.pool)
        .await
        .expect("count");
    assert_eq!(accounts, 0, "no account was made");
    // Nothing in Redis names the number.
    let redis = redis::Client::open(p.redis_url.as_str()).expect("redis");
    let mut connection = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{phone}*"))
        .query_async(&mut connection)
        .await
        .expect("keys");
    assert!(keys.is_empty(), "{keys:?}");

    // This client asked for one code; two more are allowed, the fourth is refused before any
    // SMS goes out.
    p.ask_code(&fresh_number()).await;
    p.ask_code(&fresh_number()).await;
    let sent = p.gateway.taken.lock().expect("lock").len();
    let (status, body) = p
        .post_json("/v1/auth/code", json!({"phone": fresh_number()}), None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too_many_codes");
    assert_eq!(p.gateway.taken.lock().expect("lock").len(), sent, "no SMS");
}
