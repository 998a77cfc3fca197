//! Notices to citizens over real NATS, Postgres and Redis, with the real tickets ledger
//! in-process, `hotline notify` (the router and the senders) in-process, a small SMTP sink as
//! the relay, a fake SMS gateway and a fake WeChat API: a department's reply and the completion
//! reach an email, an SMS and a WeChat citizen exactly once each, a web ticket gets none, and replaying every
//! ticket event and every notice (the consumers deleted and the process restarted) sends
//! nothing more.
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use hotline_bus::rpc;
use hotline_bus::{Bus, Service};
use hotline_config::{Secret, Settings};
use hotline_domain::contract::{Citizen, CommandAccepted, CreateTicket, Location, TicketCommand};
use hotline_domain::{Action, Actor, Channel, DeptCode, RequestType, TicketNo};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use support::smtp_sink::{Delivered, Sink};

use support::sms_gateway::{PROVIDER_SECRET, start_gateway};

const NUMBER_KEY: &str = "number-key-0123456789abcdef";

// ---- WeChat's API: a token, and customer-service messages recorded ----

/// The customer-service messages the fake WeChat API took.
#[derive(Clone, Default)]
struct WechatApi {
    sent: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WechatApi {
    fn to(&self, open_id: &str) -> Vec<String> {
        self.sent
            .lock()
            .expect("lock")
            .iter()
            .filter(|m| m["touser"] == open_id)
            .map(|m| m["text"]["content"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn start_wechat_api() -> (WechatApi, String) {
    let api = WechatApi::default();
    let app =
        axum::Router::new()
            .route(
                "/cgi-bin/token",
                get(|| async {
                    axum::Json(serde_json::json!({"access_token": "TOKEN-1", "expires_in": 7200}))
                }),
            )
            .route(
                "/cgi-bin/message/custom/send",
                post(
                    |State(api): State<WechatApi>,
                     axum::Json(body): axum::Json<serde_json::Value>| async move {
                        assert_eq!(body["msgtype"], "text");
                        api.sent.lock().expect("lock").push(body);
                        axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
                    },
                ),
            )
            .with_state(api.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (api, base)
}

/// One step on a ticket, sent as `caller` (the ledger checks who may speak for `actor`).
async fn act(bus: &Bus, caller: Service, actor: Actor, ticket_no: TicketNo, action: Action) {
    let command = TicketCommand::Act {
        idempotency_key: format!("itest:{}", rand::random::<u64>()),
        actor,
        ticket_no,
        action,
    };
    let _: CommandAccepted = rpc::call(
        bus,
        bus.subjects.ticket_commands_from(caller),
        &command,
        Duration::from_secs(5),
    )
    .await
    .expect("the ledger took the step");
}

/// A ticket as the channel would create it (intake's user, the citizen on `channel`).
async fn create(bus: &Bus, channel: Channel, citizen: Citizen, confidential: bool) -> TicketNo {
    let ticket_no =
        TicketNo::compose(261203, u64::from(rand::random::<u32>() % 900_000_000)).expect("no");
    let command = TicketCommand::Create {
        idempotency_key: format!("itest:{}", rand::random::<u64>()),
        actor: Actor::Citizen { channel },
        ticket: Box::new(CreateTicket {
            ticket_no,
            channel,
            request_type: RequestType::Complaint,
            service_code: None,
            description: "工地夜间施工噪音".into(),
            location: Location {
                address: Some("天河路12号".into()),
                ..Location::default()
            },
            citizen,
            confidential,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }),
    };
    let accepted: CommandAccepted = rpc::call(
        bus,
        bus.subjects.ticket_commands_from(Service::Intake),
        &command,
        Duration::from_secs(5),
    )
    .await
    .expect("the ledger took the ticket");
    accepted.ticket_no
}

const REPLY: &str = "已责令工地夜间停工";
const PROGRESS: &str = "已派员现场核查";

/// Dispatch, accept, reply, complete: the reply and the completion are for the citizen.
async fn work_through(bus: &Bus, no: TicketNo) {
    let hb = || Actor::Department {
        code: DeptCode::parse("GZ-HB").expect("code"),
    };
    act(
        bus,
        Service::Dispatch,
        Actor::system("dispatch"),
        no,
        Action::Dispatch {
            lead: DeptCode::parse("GZ-HB").expect("code"),
            co: vec![],
            note: String::new(),
        },
    )
    .await;
    act(bus, Service::Gateway, hb(), no, Action::Accept).await;
    act(
        bus,
        Service::Gateway,
        hb(),
        no,
        Action::AddProgress {
            note: PROGRESS.into(),
        },
    )
    .await;
    act(
        bus,
        Service::Gateway,
        hb(),
        no,
        Action::Reply { text: REPLY.into() },
    )
    .await;
    act(
        bus,
        Service::Gateway,
        hb(),
        no,
        Action::Complete {
            note: String::new(),
        },
    )
    .await;
}

/// Waits until durable `name` on `stream` has taken and settled `at_least` messages and has
/// nothing left: the redelivery has run through.
async fn drained(bus: &Bus, stream: &str, name: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = bus
            .js
            .get_stream(stream)
            .await
            .expect("stream")
            .consumer_info(name)
            .await;
        if let Ok(info) = info
            && info.delivered.consumer_sequence >= at_least
            && info.num_pending == 0
            && info.num_ack_pending == 0
        {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never ran through");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stream_messages(bus: &Bus, stream: &str) -> u64 {
    bus.js
        .get_stream(stream)
        .await
        .expect("stream")
        .info()
        .await
        .expect("stream info")
        .state
        .messages
}

fn text_of(d: &Delivered) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(&d.data)
        .expect("a mail");
    format!(
        "{}\n{}",
        parsed.subject().unwrap_or_default(),
        parsed.body_text(0).unwrap_or_default()
    )
}

/// Polls `count` until it reaches `n` (and fails the test after 30 s).
async fn until(what: &str, n: usize, count: impl Fn() -> usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count() < n {
        assert!(Instant::now() < deadline, "{what}: only {} of {n}", count());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn progress_and_reply_reach_each_citizen_once_even_when_everything_is_replayed() {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings: Settings = env.settings().expect("settings");
    let (sink, sink_port) = Sink::start().await;
    settings.email.relay_host = Some("127.0.0.1".into());
    settings.email.relay_port = sink_port;
    let (gateway, gateway_url) = start_gateway().await;
    settings.sms.provider_url = Some(gateway_url);
    settings.sms.access_key_id = "LTAI-test".to_owned();
    settings.sms.provider_secret = Some(Secret::new(PROVIDER_SECRET));
    settings.sms.number_key = Some(Secret::new(NUMBER_KEY));
    let (wechat, wechat_base) = start_wechat_api().await;
    settings.wechat.app_secret = Some(Secret::new("itest-secret"));
    settings.wechat.api_base_url = wechat_base;
    settings.validate().expect("valid settings");
    let templates = settings.sms.templates.clone();
    let stop = CancellationToken::new();
    let _stop_all = stop.clone().drop_guard();
    support::start_tickets(&settings, &stop).await;
    let bus = Bus::connect(&env.nats_url, &env.namespace, "notify-itest")
        .await
        .expect("NATS");

    let first_run = stop.child_token();
    let notify = tokio::spawn(hotline_intake::notify::run(
        settings.clone(),
        first_run.clone(),
    ));

    let mail = format!("c{}@example.cn", rand::random::<u32>());
    let phone = format!("139{:08}", rand::random::<u32>() % 100_000_000);
    let by_mail = create(
        &bus,
        Channel::Email,
        Citizen {
            email: Some(mail.clone()),
            ..Citizen::default()
        },
        false,
    )
    .await;
    // Confidential: departments see no contact, but it is the citizen's own ticket.
    let by_sms = create(
        &bus,
        Channel::Sms,
        Citizen {
            phone: Some(phone.clone()),
            ..Citizen::default()
        },
        true,
    )
    .await;
    let open_id = format!("oItest{}", rand::random::<u32>());
    let by_wechat = create(
        &bus,
        Channel::Wechat,
        Citizen {
            account_id: Some(format!("wechat:{open_id}")),
            ..Citizen::default()
        },
        false,
    )
    .await;
    // The web page answered with the number; no channel back here.
    let by_web = create(
        &bus,
        Channel::Web,
        Citizen {
            phone: Some(phone.clone()),
            email: Some(mail.clone()),
            ..Citizen::default()
        },
        false,
    )
    .await;
    for no in [by_mail, by_sms, by_wechat, by_web] {
        work_through(&bus, no).await;
    }

    until("mails", 2, || sink.to(&mail).len()).await;
    until("SMS", 2, || gateway.to(&phone).len()).await;
    until("WeChat messages", 2, || wechat.to(&open_id).len()).await;
    let messages = wechat.to(&open_id);
    assert_eq!(
        messages.iter().filter(|m| m.contains(REPLY)).count(),
        1,
        "{messages:?}"
    );
    assert_eq!(
        messages.iter().filter(|m| m.contains(PROGRESS)).count(),
        1,
        "{messages:?}"
    );
    assert!(messages.iter().all(|m| m.contains(&by_wechat.to_string())));
    let mails: Vec<String> = sink.to(&mail).iter().map(text_of).collect();
    let reply_mails: Vec<_> = mails.iter().filter(|m| m.contains(REPLY)).collect();
    assert_eq!(reply_mails.len(), 1, "{mails:?}");
    assert!(
        reply_mails[0].contains(&by_mail.to_string()),
        "the number in it"
    );
    assert!(reply_mails[0].contains("办理答复"));
    assert_eq!(
        mails.iter().filter(|m| m.contains(PROGRESS)).count(),
        1,
        "{mails:?}"
    );
    assert!(
        sink.to(&mail).iter().all(|d| d.from == "<>"),
        "from the null reverse-path"
    );
    let sms = gateway.to(&phone);
    let progress: Vec<_> = sms
        .iter()
        .filter(|t| t.template_code == templates.progress)
        .collect();
    assert_eq!(progress.len(), 2, "{sms:?}");
    assert!(
        progress
            .iter()
            .all(|t| t.params["no"] == by_sms.to_string())
    );
    let mut said: Vec<&str> = progress
        .iter()
        .filter_map(|t| t.params["status"].as_str())
        .collect();
    said.sort_unstable();
    let mut expected = vec![PROGRESS, REPLY];
    expected.sort_unstable();
    assert_eq!(said, expected);
    // The survey invitation is the survey service's, at its due time, not the completion's.
    assert!(
        sms.iter().all(|t| t.template_code != templates.survey),
        "{sms:?}"
    );
    assert!(
        sms.iter().all(|t| t.params["no"] != by_web.to_string()),
        "no notice for the web ticket"
    );

    let (tickets, notices) = (bus.subjects.tickets_stream(), bus.subjects.notify_stream());
    let notify_durable = hotline_bus::subjects::durable::NOTIFY;
    let email_durable = hotline_intake::notify::sender_durable(Channel::Email);
    let sms_durable = hotline_intake::notify::sender_durable(Channel::Sms);
    let wechat_durable = hotline_intake::notify::sender_durable(Channel::Wechat);
    // Progress and a reply for each of the 4 tickets; the web ticket's make no notice.
    drained(&bus, &tickets, notify_durable, 8).await;
    assert_eq!(stream_messages(&bus, &notices).await, 6);

    // Replay everything: stop the process, forget every consumer's position, start again.
    first_run.cancel();
    notify
        .await
        .expect("joined")
        .expect("the notify process stopped cleanly");
    for (stream, name) in [
        (&tickets, notify_durable),
        (&notices, email_durable.as_str()),
        (&notices, sms_durable.as_str()),
        (&notices, wechat_durable.as_str()),
    ] {
        bus.js
            .get_stream(stream)
            .await
            .expect("stream")
            .delete_consumer(name)
            .await
            .expect("consumer deleted");
    }
    let second_run = stop.child_token();
    let notify = tokio::spawn(hotline_intake::notify::run(
        settings.clone(),
        second_run.clone(),
    ));
    drained(&bus, &tickets, notify_durable, 8).await;
    // Every notice of the first run was delivered again to a fresh sender.
    drained(&bus, &notices, &email_durable, 2).await;
    drained(&bus, &notices, &sms_durable, 2).await;
    drained(&bus, &notices, &wechat_durable, 2).await;
    // The router's republished notices were the same message ids: dropped by the stream.
    assert_eq!(stream_messages(&bus, &notices).await, 6);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.to(&mail).len(), 2, "no mail sent twice");
    assert_eq!(gateway.to(&phone).len(), 2, "no SMS sent twice");
    assert_eq!(wechat.to(&open_id).len(), 2, "no WeChat message sent twice");
    assert!(!notify.is_finished(), "the notify process still runs");
    second_run.cancel();
    notify.await.expect("joined").expect("stopped cleanly");
}

/// 并单: the citizen of a ticket merged into another hears of the merge, then of the target's
/// steps on their own channel and under their own number, the completion included (only the
/// target is surveyed); the target's citizen hears what they heard before, nothing of the
/// merged one.
#[tokio::test]
async fn after_a_merge_the_merged_citizen_hears_the_targets_steps_and_its_completion() {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings: Settings = env.settings().expect("settings");
    let (sink, sink_port) = Sink::start().await;
    settings.email.relay_host = Some("127.0.0.1".into());
    settings.email.relay_port = sink_port;
    let (wechat, wechat_base) = start_wechat_api().await;
    settings.wechat.app_secret = Some(Secret::new("itest-secret"));
    settings.wechat.api_base_url = wechat_base;
    settings.validate().expect("valid settings");
    let stop = CancellationToken::new();
    let _stop_all = stop.clone().drop_guard();
    support::start_tickets(&settings, &stop).await;
    let bus = Bus::connect(&env.nats_url, &env.namespace, "notify-merge-itest")
        .await
        .expect("NATS");
    let notify = tokio::spawn(hotline_intake::notify::run(
        settings.clone(),
        stop.child_token(),
    ));

    let open_id = format!("oItest{}", rand::random::<u32>());
    let target = create(
        &bus,
        Channel::Wechat,
        Citizen {
            account_id: Some(format!("wechat:{open_id}")),
            ..Citizen::default()
        },
        false,
    )
    .await;
    let mail = format!("m{}@example.cn", rand::random::<u32>());
    let merged = create(
        &bus,
        Channel::Email,
        Citizen {
            email: Some(mail.clone()),
            ..Citizen::default()
        },
        false,
    )
    .await;
    act(
        &bus,
        Service::Dispatch,
        Actor::Agent {
            id: "agent-merge".into(),
        },
        merged,
        Action::Merge { into: target },
    )
    .await;
    work_through(&bus, target).await;

    // The merge, the dispatch, the progress, the reply and the completion.
    until("mails to the merged citizen", 5, || sink.to(&mail).len()).await;
    let mails: Vec<String> = sink.to(&mail).iter().map(text_of).collect();
    assert!(
        mails.iter().all(|m| m.contains(&merged.to_string())),
        "under the merged ticket's own number: {mails:?}"
    );
    assert!(
        mails.iter().all(|m| m.contains(&target.to_string())),
        "naming the target: {mails:?}"
    );
    for words in [
        "已并入该工单",
        "已转交承办单位办理",
        PROGRESS,
        REPLY,
        "已办结",
    ] {
        assert_eq!(
            mails.iter().filter(|m| m.contains(words)).count(),
            1,
            "{words}: {mails:?}"
        );
    }
    // The target's citizen: the progress and the reply, as before.
    until("WeChat messages", 2, || wechat.to(&open_id).len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = wechat.to(&open_id);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages.iter().all(|m| !m.contains(&merged.to_string())),
        "{messages:?}"
    );
    assert_eq!(sink.to(&mail).len(), 5, "nothing twice");
    assert!(!notify.is_finished(), "the notify process still runs");
}
