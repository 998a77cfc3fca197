//! Intake against real NATS (JetStream KV for ticket numbers) and Redis.
//!
//! The tickets and dispatch services are answered here by `StandIn`, a small in-test responder
//! on their subjects that exercises only intake's wire handling: it is NOT the ledger. The
//! end-to-end tests (tests/ at the workspace root) run the real services.
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Datelike as _, Utc};
use hotline_bus::Bus;
use hotline_bus::rpc::{self, RemoteError};
use hotline_config::Settings;
use hotline_domain::contract::{
    AttributeType, AttributeValue, CatalogueService, CommandAccepted, CreateTicket, GetTicket,
    ServiceAttribute, TicketCommand, TicketQuery, TicketUpdate, TicketView, TicketWithHistory,
    UpdatesQuery,
};
use hotline_domain::{RequestType, ServiceCode, Status, TicketNo};
use hotline_intake::idempotency::IdempotencyKey;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

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

/// Answers the tickets and dispatch subjects from memory, for intake's wire handling only.
#[derive(Default)]
struct StandIn {
    created: Mutex<Vec<(String, CreateTicket)>>,
    by_key: Mutex<HashMap<String, TicketNo>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StandIn {
    fn view(&self, no: TicketNo) -> Option<TicketView> {
        let created = lock(&self.created);
        let (_, t) = created.iter().find(|(_, t)| t.ticket_no == no)?;
        Some(TicketView {
            ticket_no: t.ticket_no,
            status: Status::Received,
            channel: t.channel,
            request_type: t.request_type,
            service_code: t.service_code.clone(),
            description: t.description.clone(),
            location: t.location.clone(),
            citizen: t.citizen.clone(),
            confidential: t.confidential,
            lead: None,
            co: vec![],
            attributes: t.attributes.clone(),
            media_url: t.media_url.clone(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        })
    }

    fn creates(&self) -> Vec<(String, CreateTicket)> {
        lock(&self.created).clone()
    }

    /// Serves the ledger's subjects until `stop`.
    fn serve_ledger(self: &Arc<Self>, bus: &Bus, stop: &CancellationToken) {
        let me = self.clone();
        tokio::spawn(rpc::serve(
            bus.clone(),
            bus.subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            "tickets",
            8,
            move |command: TicketCommand| {
                let me = me.clone();
                async move {
                    let TicketCommand::Create {
                        idempotency_key,
                        ticket,
                        ..
                    } = command
                    else {
                        return Err(RemoteError::invalid("stand-in takes Create only"));
                    };
                    let mut by_key = lock(&me.by_key);
                    let replayed = by_key.get(&idempotency_key).copied();
                    let ticket_no = replayed.unwrap_or(ticket.ticket_no);
                    if replayed.is_none() {
                        by_key.insert(idempotency_key.clone(), ticket_no);
                    }
                    lock(&me.created).push((idempotency_key, *ticket));
                    Ok(CommandAccepted {
                        ticket_no,
                        status: Status::Received,
                        seq: 1,
                        replayed: replayed.is_some(),
                    })
                }
            },
            stop.clone(),
        ));
        let me = self.clone();
        tokio::spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_get(),
            "tickets",
            8,
            move |request: GetTicket| {
                let me = me.clone();
                async move {
                    let ticket = me
                        .view(request.ticket_no)
                        .ok_or_else(|| RemoteError::not_found("no such ticket"))?;
                    Ok(TicketWithHistory {
                        ticket,
                        history: vec![],
                    })
                }
            },
            stop.clone(),
        ));
        let me = self.clone();
        tokio::spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_list(),
            "tickets",
            8,
            move |query: TicketQuery| {
                let me = me.clone();
                async move {
                    let nos: Vec<TicketNo> = lock(&me.by_key).values().copied().collect();
                    Ok::<_, RemoteError>(
                        nos.into_iter()
                            .filter(|n| query.ticket_nos.is_empty() || query.ticket_nos.contains(n))
                            .filter_map(|n| me.view(n))
                            .collect::<Vec<_>>(),
                    )
                }
            },
            stop.clone(),
        ));
        // Ticket numbering asks the ledger where a day's numbers stand when the KV counter
        // is missing (a new namespace here).
        let me = self.clone();
        tokio::spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_max_sequence(),
            "tickets",
            8,
            move |yymmdd: u32| {
                let me = me.clone();
                async move {
                    let max = lock(&me.created)
                        .iter()
                        .map(|(_, t)| t.ticket_no)
                        .filter(|no| no.yymmdd() == yymmdd)
                        .map(|no| no.as_u64() / 10 % 1_000_000_000)
                        .max()
                        .unwrap_or(0);
                    Ok::<_, RemoteError>(max)
                }
            },
            stop.clone(),
        ));
        tokio::spawn(rpc::serve(
            bus.clone(),
            bus.subjects.ticket_updates(),
            "tickets",
            8,
            |_query: UpdatesQuery| async { Ok::<_, RemoteError>(Vec::<TicketUpdate>::new()) },
            stop.clone(),
        ));
    }

    /// Serves dispatch's catalogue subject until `stop`.
    fn serve_catalogue(bus: &Bus, stop: &CancellationToken) {
        tokio::spawn(rpc::serve(
            bus.clone(),
            bus.subjects.catalogue_services(),
            "dispatch",
            8,
            |_: ()| async {
                Ok::<_, RemoteError>(vec![CatalogueService {
                    code: ServiceCode::parse("ENV.NOISE").expect("code"),
                    name: "噪音扰民".into(),
                    description: "Noise from venues, building sites, neighbours".into(),
                    group: "环境保护".into(),
                    keywords: vec!["noise".into()],
                    default_request_type: RequestType::Complaint,
                    attributes: vec![ServiceAttribute {
                        code: "when".into(),
                        variable: true,
                        datatype: AttributeType::Singlevaluelist,
                        required: true,
                        description: "When does it happen?".into(),
                        order: 1,
                        values: vec![
                            AttributeValue {
                                key: "day".into(),
                                name: "白天".into(),
                            },
                            AttributeValue {
                                key: "night".into(),
                                name: "夜间".into(),
                            },
                        ],
                    }],
                }])
            },
            stop.clone(),
        ));
    }
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

/// Waits until the stand-in's subscriptions answer (they subscribe in spawned tasks).
async fn wait_for_stand_in(bus: &Bus, ledger_too: bool) {
    for _ in 0..100 {
        let catalogue: Result<Vec<CatalogueService>, _> = rpc::call(
            bus,
            bus.subjects.catalogue_services(),
            &(),
            Duration::from_millis(200),
        )
        .await;
        let ledger = if ledger_too {
            let probe = GetTicket {
                ticket_no: TicketNo::compose(261129, 1).expect("no"),
                as_department: None,
            };
            let answer: Result<TicketWithHistory, rpc::CallError> = rpc::call(
                bus,
                bus.subjects.ticket_get(),
                &probe,
                Duration::from_millis(200),
            )
            .await;
            let max: Result<u64, rpc::CallError> = rpc::call(
                bus,
                bus.subjects.ticket_max_sequence(),
                &261129u32,
                Duration::from_millis(200),
            )
            .await;
            // NotFound means the stand-in answered.
            matches!(answer, Err(rpc::CallError::Remote(_))) && max.is_ok()
        } else {
            true
        };
        if catalogue.is_ok() && ledger {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the stand-in never answered");
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
    let bus = with_bus(&env).await;
    let stand_in = Arc::new(StandIn::default());
    stand_in.serve_ledger(&bus, &stop);
    StandIn::serve_catalogue(&bus, &stop);
    wait_for_stand_in(&bus, true).await;
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
    let creates = stand_in.creates();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].1.ticket_no, no);
    assert!(creates[0].0.starts_with("web:"));
    assert_eq!(creates[0].1.request_type, RequestType::Complaint);
    assert_eq!(creates[0].1.description, "夜间施工");

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
    let bus = with_bus(&env).await;
    let stand_in = Arc::new(StandIn::default());
    stand_in.serve_ledger(&bus, &stop);
    StandIn::serve_catalogue(&bus, &stop);
    wait_for_stand_in(&bus, true).await;
    let state = hotline_intake::connect(&settings, stop.clone())
        .await
        .expect("intake connects");

    let first = send(&state, post(Some("citizen-retry-1"))).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = send(&state, post(Some("citizen-retry-1"))).await;
    assert_eq!(again.ticket_no(), first.ticket_no());
    assert_eq!(stand_in.creates().len(), 1, "Redis answered the retry");

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
    let creates = stand_in.creates();
    assert_eq!(
        creates.len(),
        2,
        "the ledger was asked and recognised the key"
    );
    assert_eq!(
        creates[0].0, creates[1].0,
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
    let bus = with_bus(&env).await;
    StandIn::serve_catalogue(&bus, &stop);
    wait_for_stand_in(&bus, false).await;
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
