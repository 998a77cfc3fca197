//! Intake against real NATS (JetStream KV for ticket numbers) and Redis.
//!
//! The tickets ledger and dispatch run here for real, in-process on port-0 listeners against
//! the same NATS namespace and database (see `support`; dispatch's catalogue holds the test's
//! noise matter). What intake sent is checked in the ledger's own state.
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Datelike as _, Utc};
use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_config::Settings;
use hotline_domain::contract::{GetTicket, TicketQuery, TicketView, TicketWithHistory};
use hotline_domain::{Channel, RequestType, TicketNo};
use hotline_intake::idempotency::IdempotencyKey;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

mod support;

const API_KEY: &str = "itest-open311-key";

fn settings(env: &hotline_testkit::TestEnv, extra: &[(&str, String)]) -> Settings {
    let mut vars = vec![
        ("NATS_URL".to_owned(), env.nats_url.clone()),
        ("REDIS_URL".to_owned(), env.redis_url.clone()),
        ("DATABASE_URL".to_owned(), env.database_url.clone()),
        ("HOTLINE__NAMESPACE".to_owned(), env.namespace.clone()),
        (
            "HOTLINE__INTAKE__OPEN311_API_KEYS".to_owned(),
            API_KEY.to_owned(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Settings::load_from(None, vars).expect("valid settings")
}

/// A ticket as the real ledger holds it, read through its query subject.
async fn get(bus: &Bus, ticket_no: TicketNo) -> TicketWithHistory {
    rpc::call(
        bus,
        bus.subjects.ticket_get(),
        &GetTicket {
            ticket_no,
            as_department: None,
        },
        Duration::from_secs(5),
    )
    .await
    .expect("the ledger has the ticket")
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
    .expect("the ledger lists")
}

/// The idempotency key of the first command the ledger logged for `no` (its create).
async fn create_key(pool: &sqlx::PgPool, no: TicketNo) -> String {
    sqlx::query_scalar(
        "SELECT idempotency_key FROM tickets.command_log WHERE reply->'ok'->>'ticket_no' = $1 \
         ORDER BY at, idempotency_key LIMIT 1",
    )
    .bind(no.to_string())
    .fetch_one(pool)
    .await
    .expect("the ledger logged the create")
}

/// How many creates the ledger answered as replays of a known key (its own metrics).
async fn replayed_creates(tickets_url: &str) -> u64 {
    let text = reqwest::get(format!("{tickets_url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| {
            l.starts_with("hotline_tickets_commands_total{")
                && l.contains("command=\"create\"")
                && l.contains("outcome=\"replayed\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .map(|n| n.parse::<f64>().expect("a count") as u64)
        .unwrap_or(0)
}

struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn ticket_no(&self) -> TicketNo {
        let id = self.json()[0]["service_request_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_owned();
        TicketNo::parse(&id).expect("a valid ticket number")
    }
}

async fn send(state: &hotline_intake::AppState, request: Request<Body>) -> Answer {
    let response = hotline_intake::router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Answer {
        status,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

fn post(idempotency_key: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/open311/v2/requests.json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(key) = idempotency_key {
        builder = builder.header("Idempotency-Key", key);
    }
    builder
        .body(Body::from(format!(
            "api_key={API_KEY}&service_code=ENV.NOISE&address_string=%E5%A4%A9%E6%B2%B3%E8%B7%AF1%E5%8F%B7\
             &attribute[when]=night&description=%E5%A4%9C%E9%97%B4%E6%96%BD%E5%B7%A5&phone=13800138000"
        )))
        .expect("request")
}

async fn with_bus(env: &hotline_testkit::TestEnv) -> Bus {
    Bus::connect(&env.nats_url, &env.namespace, "intake-itest")
        .await
        .expect("NATS")
}

#[tokio::test]
async fn a_post_gets_a_kv_issued_number_and_reaches_the_ledger_subject() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = settings(&env, &[]);
    let stop = CancellationToken::new();
    let services = env.settings().expect("settings");
    support::start_tickets(&services, &stop).await;
    support::start_dispatch(&services, &stop).await;
    let bus = with_bus(&env).await;
    let pool = sqlx::PgPool::connect(&env.database_url)
        .await
        .expect("Postgres");
    let state = hotline_intake::connect(&settings, stop.clone())
        .await
        .expect("intake connects");

    let posted = send(&state, post(None)).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.body);
    let no = posted.ticket_no();
    // The number is dated by the city's day (UTC+8).
    let today = Utc::now()
        .with_timezone(&settings.utc_offset())
        .date_naive();
    let yymmdd = (today.year() as u32 % 100) * 10_000 + today.month() * 100 + today.day();
    assert_eq!(no.yymmdd(), yymmdd);
    let stored = get(&bus, no).await.ticket;
    assert_eq!(stored.ticket_no, no);
    assert_eq!(stored.channel, Channel::Web);
    assert_eq!(stored.request_type, RequestType::Complaint);
    assert_eq!(stored.description, "夜间施工");
    assert_eq!(
        stored.attributes.get("when"),
        Some(&vec!["night".to_owned()])
    );
    assert!(create_key(&pool, no).await.starts_with("web:"));
    assert_eq!(list(&bus).await.len(), 1);

    let second = send(&state, post(None)).await;
    assert_ne!(second.ticket_no(), no, "no key, new ticket");

    let read = send(
        &state,
        Request::get(format!("/open311/v2/requests/{no}.xml"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(read.body.contains(&format!(
        "<service_request_id>{no}</service_request_id><status>open</status>"
    )));
    assert!(read.body.contains("<service_name>噪音扰民</service_name>"));
    assert!(!read.body.contains("13800138000"), "{}", read.body);

    let unknown = TicketNo::compose(no.yymmdd(), 999_999_998).expect("no");
    let missing = send(
        &state,
        Request::get(format!("/open311/v2/requests/{unknown}.json"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    stop.cancel();
}

#[tokio::test]
async fn a_retry_keeps_its_number_through_a_redis_flush() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = settings(&env, &[]);
    let stop = CancellationToken::new();
    let services = env.settings().expect("settings");
    let tickets = support::start_tickets(&services, &stop).await;
    support::start_dispatch(&services, &stop).await;
    let bus = with_bus(&env).await;
    let pool = sqlx::PgPool::connect(&env.database_url)
        .await
        .expect("Postgres");
    let state = hotline_intake::connect(&settings, stop.clone())
        .await
        .expect("intake connects");

    let first = send(&state, post(Some("citizen-retry-1"))).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = send(&state, post(Some("citizen-retry-1"))).await;
    assert_eq!(again.ticket_no(), first.ticket_no());
    assert_eq!(list(&bus).await.len(), 1);
    assert_eq!(
        replayed_creates(&tickets).await,
        0,
        "Redis answered the retry"
    );
    let key_at_first = create_key(&pool, first.ticket_no()).await;

    // Lose this key from Redis (only ours: the server is shared).
    let key = IdempotencyKey::parse(API_KEY, b"citizen-retry-1")
        .expect("key")
        .cache_key(&settings.namespace);
    let client = redis::Client::open(env.redis_url.as_str()).expect("redis url");
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let held: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("GET");
    assert_eq!(held, Some(format!("created:{}", first.ticket_no())));
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("TTL");
    assert!(ttl > 23 * 3600 && ttl <= 24 * 3600, "ttl {ttl}");
    let _: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("DEL");

    let after_flush = send(&state, post(Some("citizen-retry-1"))).await;
    assert_eq!(after_flush.status, StatusCode::CREATED);
    assert_eq!(after_flush.ticket_no(), first.ticket_no());
    assert_eq!(
        replayed_creates(&tickets).await,
        1,
        "the ledger was asked and recognised the key"
    );
    assert_eq!(list(&bus).await.len(), 1, "still one ticket");
    assert_eq!(
        create_key(&pool, first.ticket_no()).await,
        key_at_first,
        "same idempotency key both times"
    );
    stop.cancel();
}

#[tokio::test]
async fn without_dispatch_or_tickets_the_answer_is_503() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = settings(&env, &[]);
    let stop = CancellationToken::new();
    let state = hotline_intake::connect(&settings, stop.clone())
        .await
        .expect("intake connects");

    let no_catalogue = send(&state, post(None)).await;
    assert_eq!(
        no_catalogue.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        no_catalogue.body
    );
    assert_eq!(no_catalogue.json()[0]["code"], 503);

    // Dispatch comes up; tickets is still down.
    support::start_dispatch(&env.settings().expect("settings"), &stop).await;
    // Past the pause between on-demand loads of a catalogue that was never loaded.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let no_ledger = send(&state, post(None)).await;
    assert_eq!(
        no_ledger.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        no_ledger.body
    );
    assert!(
        !no_ledger.body.contains(&settings.namespace),
        "no subject names: {}",
        no_ledger.body
    );
    stop.cancel();
}

/// A raw HTTP/1.1 GET; enough for the ops routes.
async fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn run_serves_on_its_port_and_stops_on_shutdown() {
    let env = hotline_testkit::env().await.expect("test servers");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let settings = settings(&env, &[]);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(hotline_intake::run_with_listener(
        settings,
        listener,
        shutdown.clone(),
    ));
    let mut healthz = None;
    for _ in 0..100 {
        if let Ok(r) = http_get(port, "/healthz").await {
            healthz = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let healthz = healthz.expect("intake listens");
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    let ready = http_get(port, "/readyz").await.expect("readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let services = http_get(port, "/open311/v2/services.json")
        .await
        .expect("services");
    assert!(
        services.starts_with("HTTP/1.1 503"),
        "no dispatch: {services}"
    );
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops in time")
        .expect("task");
    assert!(stopped.is_ok(), "{stopped:?}");
    assert!(
        http_get(port, "/healthz").await.is_err(),
        "the port is closed after shutdown"
    );
}

#[tokio::test]
async fn an_api_key_over_its_allowance_gets_429_and_files_nothing() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = settings(
        &env,
        &[(
            "HOTLINE__INTAKE__OPEN311_POSTS_PER_KEY_PER_MINUTE",
            "3".to_owned(),
        )],
    );
    let stop = CancellationToken::new();
    let services = env.settings().expect("settings");
    support::start_tickets(&services, &stop).await;
    support::start_dispatch(&services, &stop).await;
    let bus = with_bus(&env).await;
    let state = hotline_intake::connect(&settings, stop.clone())
        .await
        .expect("intake connects");

    for i in 0..3 {
        let posted = send(&state, post(None)).await;
        assert_eq!(
            posted.status,
            StatusCode::CREATED,
            "POST {i}: {}",
            posted.body
        );
    }
    let over = send(&state, post(None)).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.body);
    assert!(
        over.body.contains("429"),
        "Open311's error list: {}",
        over.body
    );
    assert_eq!(list(&bus).await.len(), 3, "the fourth filed nothing");
    // Redis counts a hash of the key, never the key itself.
    let redis = redis::Client::open(env.redis_url.as_str()).expect("redis url");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:web:limit:open311-post:*", env.namespace))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert_eq!(keys.len(), 1, "one counter for the one key");
    assert!(!keys[0].contains(API_KEY));
    stop.cancel();
}
