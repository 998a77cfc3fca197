//! The WeChat channel against real NATS, Redis and Postgres, with the real tickets ledger
//! in-process: safe-mode messages repeated concurrently make one ticket, bad requests store
//! nothing, progress queries and events open none, and a reply too slow for the passive answer
//! reaches the follower through a fake of WeChat's HTTP API (token + customer-service send).
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::{get, post};
use hotline_bus::Bus;
use hotline_bus::Service;
use hotline_bus::rpc;
use hotline_config::Settings;
use hotline_domain::contract::{
    CommandAccepted, GetTicket, TicketCommand, TicketQuery, TicketView, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, DeptCode, Status, TicketNo};
use hotline_intake::wechat::crypto::{self, Cipher};
use hotline_intake::wechat::message;
use hotline_intake::wechat::{DEMO_AES_KEY, DEMO_APP_ID, DEMO_TOKEN};
use tokio_util::sync::CancellationToken;

const OPENID: &str = "oHotlineTestFollower0001";

async fn list(bus: &Bus) -> Result<Vec<TicketView>, rpc::CallError> {
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
}

struct Peer {
    http: reqwest::Client,
    url: String,
    cipher: Cipher,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn text_xml(msg_id: &str, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_hotline]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>",
        now()
    )
}

impl Peer {
    /// POSTs `xml` as WeChat does in safe mode; answers the status and the decrypted reply.
    async fn safe(&self, xml: &str) -> (u16, String) {
        self.safe_as(&self.cipher, xml, true).await
    }

    /// [`Peer::safe`] encrypted with `cipher`, with a good or a forged `msg_signature`.
    async fn safe_as(&self, cipher: &Cipher, xml: &str, good_signature: bool) -> (u16, String) {
        let timestamp = now().to_string();
        let nonce = "4242";
        let encrypt = cipher.encrypt(xml).expect("encrypt");
        let signature = crypto::signature(&[DEMO_TOKEN, &timestamp, nonce]);
        let mut msg_signature = crypto::signature(&[DEMO_TOKEN, &timestamp, nonce, &encrypt]);
        if !good_signature {
            msg_signature = crypto::signature(&[DEMO_TOKEN, &timestamp, nonce, "other"]);
        }
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_hotline]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        );
        let response = self
            .http
            .post(&self.url)
            .query(&[
                ("signature", signature.as_str()),
                ("timestamp", &timestamp),
                ("nonce", nonce),
                ("openid", OPENID),
                ("encrypt_type", "aes"),
                ("msg_signature", &msg_signature),
            ])
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        if status != 200 || text == "success" {
            return (status, text);
        }
        let outer = message::fields(&text).expect("reply XML");
        let expected = crypto::signature(&[
            DEMO_TOKEN,
            &outer["TimeStamp"],
            &outer["Nonce"],
            &outer["Encrypt"],
        ]);
        assert_eq!(outer["MsgSignature"], expected, "the reply is signed");
        (
            status,
            self.cipher.decrypt(&outer["Encrypt"]).expect("decrypt"),
        )
    }

    /// POSTs `body` in plaintext mode with the given timestamp and signature.
    async fn plain(&self, body: &str, timestamp: i64, good_signature: bool) -> (u16, String) {
        let timestamp = timestamp.to_string();
        let nonce = "777";
        let mut signature = crypto::signature(&[DEMO_TOKEN, &timestamp, nonce]);
        if !good_signature {
            signature = crypto::signature(&["not-our-token", &timestamp, nonce]);
        }
        let response = self
            .http
            .post(&self.url)
            .query(&[
                ("signature", signature.as_str()),
                ("timestamp", &timestamp),
                ("nonce", nonce),
            ])
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }
}

fn content_of(reply: &str) -> String {
    let fields = message::fields(reply).expect("reply XML");
    assert_eq!(
        fields["ToUserName"], OPENID,
        "ToUserName and FromUserName swapped"
    );
    assert_eq!(fields["FromUserName"], "gh_hotline");
    assert_eq!(fields["MsgType"], "text");
    fields["Content"].clone()
}

fn ticket_in(text: &str) -> TicketNo {
    let digits: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 16)
        .unwrap_or_else(|| panic!("no ticket number in {text:?}"))
        .to_owned();
    TicketNo::parse(&digits).expect("ticket number")
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

async fn status_of(bus: &Bus, ticket_no: TicketNo) -> Status {
    list(bus)
        .await
        .expect("list")
        .into_iter()
        .find(|t| t.ticket_no == ticket_no)
        .expect("stored")
        .status
}

async fn wait_ledger(bus: &Bus) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while list(bus).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the tickets service never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn wechat_messages_become_one_ticket_each_and_bad_requests_store_nothing() {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings: Settings = env.settings().expect("settings");
    // One follower sends every message here, each meant as its own ticket: no conversations
    // (the grouping has its own test below).
    settings.wechat.conversation_window_secs = 0;
    assert!(settings.demo, "the demo account is used");
    let stop = CancellationToken::new();
    let _tickets = tokio::spawn(hotline_tickets::run(settings.clone(), stop.clone()));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "wechat-itest")
        .await
        .expect("NATS");
    wait_ledger(&bus).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let _wechat = tokio::spawn(hotline_intake::wechat::run_with_listener(
        settings.clone(),
        listener,
        stop.clone(),
    ));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the wechat channel never got ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peer = Peer {
        http: http.clone(),
        url: format!("{base}/wechat"),
        cipher: Cipher::new(DEMO_AES_KEY, DEMO_APP_ID).expect("cipher"),
    };

    // URL verification.
    let ts = now().to_string();
    let sig = crypto::signature(&[DEMO_TOKEN, &ts, "n1"]);
    let echo = http
        .get(&peer.url)
        .query(&[
            ("signature", sig.as_str()),
            ("timestamp", &ts),
            ("nonce", "n1"),
            ("echostr", "e-12345"),
        ])
        .send()
        .await
        .expect("GET");
    assert_eq!(echo.status().as_u16(), 200);
    assert_eq!(echo.text().await.expect("body"), "e-12345");
    let forged = http
        .get(&peer.url)
        .query(&[
            ("signature", "0".repeat(40).as_str()),
            ("timestamp", &ts),
            ("nonce", "n1"),
            ("echostr", "x"),
        ])
        .send()
        .await
        .expect("GET");
    assert_eq!(forged.status().as_u16(), 403);

    // One MsgId, three concurrent deliveries: one ticket, the same number in every reply.
    let msg_id = format!(
        "{}",
        7_000_000_000_000_000u64 + u64::from(rand::random::<u16>())
    );
    let xml = text_xml(&msg_id, "天河路12号路灯不亮 已经一周了");
    let (a, b, c) = tokio::join!(peer.safe(&xml), peer.safe(&xml), peer.safe(&xml));
    let mut numbers = Vec::new();
    for (status, reply) in [a, b, c] {
        assert_eq!(status, 200, "{reply}");
        let content = content_of(&reply);
        assert!(content.contains("已受理"), "{content}");
        numbers.push(ticket_in(&content));
    }
    assert!(numbers.windows(2).all(|w| w[0] == w[1]), "{numbers:?}");
    let first = numbers[0];
    // A later repeat (after the Redis record was made) is answered the same way.
    let (status, reply) = peer.safe(&xml).await;
    assert_eq!(status, 200);
    assert_eq!(ticket_in(&content_of(&reply)), first);
    let stored = list(&bus).await.expect("list");
    assert_eq!(stored.len(), 1, "one ticket however often it arrives");
    let ticket = &stored[0];
    assert_eq!(ticket.ticket_no, first);
    assert_eq!(ticket.channel, Channel::Wechat);
    assert_eq!(ticket.description, "天河路12号路灯不亮 已经一周了");
    assert_eq!(
        ticket.citizen.account_id.as_deref(),
        Some(format!("wechat:{OPENID}").as_str())
    );

    // Bad requests: refused, nothing stored.
    let plain = text_xml("9100000000000001", "噪音扰民");
    let (status, _) = peer.plain(&plain, now() - 3600, true).await;
    assert_eq!(status, 403, "stale timestamp");
    let (status, _) = peer.plain(&plain, now(), false).await;
    assert_eq!(status, 403, "bad signature");
    let (status, _) = peer
        .plain("<xml><ToUserName>gh</ToUserName><Content>", now(), true)
        .await;
    assert_eq!(status, 400, "malformed XML");
    let (status, _) = peer
        .plain(
            "<!DOCTYPE xml [<!ENTITY a \"b\">]><xml><Content>&a;</Content></xml>",
            now(),
            true,
        )
        .await;
    assert_eq!(status, 400, "a DTD");
    let (status, _) = peer
        .plain(&text_xml("9100000000000002", "bad\u{1}text"), now(), true)
        .await;
    assert_eq!(status, 400, "a control character");
    let (status, _) = peer.plain(&"x".repeat(70 * 1024), now(), true).await;
    assert_eq!(status, 413, "an oversized body");
    let fresh = text_xml("9100000000000005", "噪音扰民");
    let (status, _) = peer.safe_as(&peer.cipher, &fresh, false).await;
    assert_eq!(status, 403, "a forged msg_signature");
    let foreign = Cipher::new(DEMO_AES_KEY, "wx0000000000000000").expect("cipher");
    let (status, _) = peer.safe_as(&foreign, &fresh, true).await;
    assert_eq!(status, 403, "encrypted for another AppId");
    assert_eq!(list(&bus).await.expect("list").len(), 1, "nothing stored");

    // Progress by message, and events: no new ticket.
    let (status, reply) = peer
        .safe(&text_xml("9100000000000003", &format!("查询 {first}")))
        .await;
    assert_eq!(status, 200);
    let content = content_of(&reply);
    assert!(
        content.contains(&first.to_string()) && content.contains("办理中"),
        "{content}"
    );
    assert!(!content.contains(OPENID));
    let subscribe = format!(
        "<xml><ToUserName>gh_hotline</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>{}</CreateTime>\
         <MsgType>event</MsgType><Event>subscribe</Event></xml>",
        now()
    );
    let (status, reply) = peer.plain(&subscribe, now(), true).await;
    assert_eq!(status, 200);
    assert!(content_of(&reply).contains("欢迎关注"));
    let location_event = subscribe.replace("subscribe", "LOCATION");
    let (status, reply) = peer.plain(&location_event, now(), true).await;
    assert_eq!((status, reply.as_str()), (200, "success"));
    assert_eq!(
        list(&bus).await.expect("list").len(),
        1,
        "no ticket for queries and events"
    );

    // A location message in plaintext mode: a ticket at that place.
    let location = format!(
        "<xml><ToUserName>gh_hotline</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>{}</CreateTime>\
         <MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>\
         <Scale>20</Scale><Label><![CDATA[天河路1号]]></Label><MsgId>9100000000000004</MsgId></xml>",
        now()
    );
    let (status, reply) = peer.plain(&location, now(), true).await;
    assert_eq!(status, 200, "{reply}");
    let placed = ticket_in(&content_of(&reply));
    let stored = list(&bus).await.expect("list");
    let at = stored
        .iter()
        .find(|t| t.ticket_no == placed)
        .expect("the location ticket");
    assert_eq!(at.location.lat, Some(23.134521));
    assert_eq!(at.location.address.as_deref(), Some("天河路1号"));

    // Voice without recognition and an image: tickets that keep WeChat's media references.
    let media = |kind: &str, extra: &str, msg_id: &str| {
        format!(
            "<xml><ToUserName>gh_hotline</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>{}</CreateTime>\
             <MsgType>{kind}</MsgType>{extra}<MsgId>{msg_id}</MsgId></xml>",
            now()
        )
    };
    let (status, reply) = peer
        .safe(&media(
            "voice",
            "<MediaId>voice-media-1</MediaId><Format>amr</Format>",
            "9100000000000006",
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    let voice = ticket_in(&content_of(&reply));
    let (status, reply) = peer
        .safe(&media(
            "image",
            "<PicUrl>http://mmbiz.qpic.cn/x.jpg</PicUrl><MediaId>image-media-1</MediaId>",
            "9100000000000007",
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    let image = ticket_in(&content_of(&reply));
    let stored = list(&bus).await.expect("list");
    let find = |no: TicketNo| stored.iter().find(|t| t.ticket_no == no).expect("stored");
    assert!(find(voice).description.contains("语音"));
    assert_eq!(
        find(voice).attributes["wechat_media_id"],
        vec!["voice-media-1"]
    );
    assert_eq!(
        find(image).media_url.as_deref(),
        Some("http://mmbiz.qpic.cn/x.jpg")
    );
    assert_eq!(stored.len(), 4);

    // 保密: a confidential ticket, whose progress shows the state only.
    let (status, reply) = peer
        .safe(&text_xml("9100000000000008", "保密：隔壁店铺占道经营"))
        .await;
    assert_eq!(status, 200, "{reply}");
    let secret = ticket_in(&content_of(&reply));
    let stored = list(&bus).await.expect("list");
    let ticket = stored
        .iter()
        .find(|t| t.ticket_no == secret)
        .expect("stored");
    assert!(ticket.confidential);
    assert_eq!(ticket.description, "隔壁店铺占道经营");

    // Follow-ups reach the ledger: a survey answer on a ticket not yet completed is refused
    // politely; someone else's ticket does not exist for this follower.
    let (status, reply) = peer
        .safe(&text_xml("9100000000000009", &format!("满意 {first}")))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(content_of(&reply).contains("不在待评价状态"), "{reply}");
    let stranger = text_xml("9100000000000010", &format!("补充 {first} 门牌号是12号"))
        .replace(OPENID, "oSomeoneElse0001");
    let (status, reply) = peer.safe(&stranger).await;
    assert_eq!(status, 200, "{reply}");
    let fields = message::fields(&reply).expect("reply XML");
    assert_eq!(fields["ToUserName"], "oSomeoneElse0001");
    assert!(fields["Content"].contains("未找到您的工单"), "{reply}");
    assert_eq!(
        list(&bus).await.expect("list").len(),
        5,
        "follow-ups open no ticket"
    );

    // The location ticket goes round the loop; the follower answers the department's question
    // and then the survey by message.
    let th = || Actor::Department {
        code: DeptCode::parse("GZ-TH").expect("code"),
    };
    act(
        &bus,
        Service::Dispatch,
        Actor::system("dispatch"),
        placed,
        Action::Dispatch {
            lead: DeptCode::parse("GZ-TH").expect("code"),
            co: vec![],
            note: String::new(),
        },
    )
    .await;
    act(&bus, Service::Gateway, th(), placed, Action::Accept).await;
    act(
        &bus,
        Service::Gateway,
        th(),
        placed,
        Action::RequestInformation {
            question: "请提供门牌号".into(),
        },
    )
    .await;
    let (status, reply) = peer
        .safe(&text_xml(
            "9100000000000011",
            &format!("补充 {placed} 天河路1号东门"),
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(content_of(&reply).contains("已将您的补充材料"), "{reply}");
    assert_eq!(status_of(&bus, placed).await, Status::InProgress);
    act(
        &bus,
        Service::Gateway,
        th(),
        placed,
        Action::Reply {
            text: "已修复".into(),
        },
    )
    .await;
    act(
        &bus,
        Service::Gateway,
        th(),
        placed,
        Action::Complete {
            note: String::new(),
        },
    )
    .await;
    let survey = text_xml("9100000000000012", &format!("满意 {placed}"));
    let (a, b) = tokio::join!(peer.safe(&survey), peer.safe(&survey));
    for (status, reply) in [a, b] {
        assert_eq!(status, 200, "{reply}");
        assert!(content_of(&reply).contains("满意"), "{reply}");
    }
    assert_eq!(status_of(&bus, placed).await, Status::Surveyed);
    stop.cancel();
}

/// What the fake WeChat API saw.
#[derive(Default)]
struct FakeApi {
    tokens: Mutex<u32>,
    sent: Mutex<Vec<serde_json::Value>>,
    templates: Mutex<Vec<serde_json::Value>>,
}

#[tokio::test]
async fn a_slow_ledger_gets_success_then_a_customer_service_message() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings: Settings = env.settings().expect("settings");
    let stop = CancellationToken::new();
    let _tickets = tokio::spawn(hotline_tickets::run(settings.clone(), stop.clone()));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "wechat-itest")
        .await
        .expect("NATS");
    wait_ledger(&bus).await;

    // WeChat's API as it answers: a token with expires_in, errcode 0 for a send.
    let fake = Arc::new(FakeApi::default());
    let api = axum::Router::new()
        .route(
            "/cgi-bin/token",
            get(
                |State(f): State<Arc<FakeApi>>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    assert_eq!(q.get("appid").map(String::as_str), Some(DEMO_APP_ID));
                    assert_eq!(q.get("secret").map(String::as_str), Some("itest-secret"));
                    *f.tokens.lock().expect("lock") += 1;
                    axum::Json(serde_json::json!({"access_token": "TOKEN-1", "expires_in": 7200}))
                },
            ),
        )
        .route(
            "/cgi-bin/message/custom/send",
            post(
                |State(f): State<Arc<FakeApi>>,
                 Query(q): Query<std::collections::HashMap<String, String>>,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    if q.get("access_token").map(String::as_str) != Some("TOKEN-1") {
                        return axum::Json(
                            serde_json::json!({"errcode": 40001, "errmsg": "invalid credential"}),
                        );
                    }
                    f.sent.lock().expect("lock").push(body);
                    axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
                },
            ),
        )
        .route(
            "/cgi-bin/message/template/send",
            post(
                |State(f): State<Arc<FakeApi>>,
                 Query(q): Query<std::collections::HashMap<String, String>>,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    assert_eq!(q.get("access_token").map(String::as_str), Some("TOKEN-1"));
                    f.templates.lock().expect("lock").push(body);
                    axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok", "msgid": 1}))
                },
            ),
        )
        .with_state(fake.clone());
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_base = format!("http://{}", api_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(api_listener, api).await });

    let config = hotline_intake::wechat::WechatConfig::from_settings(&settings).expect("config");
    let numbers = hotline_bus::ticket_numbers::TicketNumbers::new(&bus, settings.utc_offset())
        .await
        .expect("numbers");
    let outbound = Arc::new(
        hotline_intake::wechat::outbound::Outbound::new(
            &api_base,
            DEMO_APP_ID,
            Some(hotline_config::Secret::new("itest-secret")),
        )
        .expect("client"),
    );
    let state = hotline_intake::wechat::WechatState::new(hotline_intake::wechat::Parts {
        config,
        ledger: Arc::new(hotline_intake::upstream::BusUpstream::new(bus.clone())),
        numbers: Arc::new(numbers),
        idempotency: None,
        conversations: None,
        outbound: Some(outbound.clone()),
        // No ledger answers this fast: the passive reply is always `success`.
        answer_within: Duration::ZERO,
        readiness: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, hotline_intake::wechat::router(state)).await });
    let peer = Peer {
        http: reqwest::Client::new(),
        url: format!("{base}/wechat"),
        cipher: Cipher::new(DEMO_AES_KEY, DEMO_APP_ID).expect("cipher"),
    };
    for msg_id in ["9200000000000001", "9200000000000002"] {
        let (status, reply) = peer.safe(&text_xml(msg_id, "小区门口垃圾未清运")).await;
        assert_eq!((status, reply.as_str()), (200, "success"));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while fake.sent.lock().expect("lock").len() < 2 {
        assert!(Instant::now() < deadline, "the late receipts never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = fake.sent.lock().expect("lock").clone();
    let stored = list(&bus).await.expect("list");
    assert_eq!(stored.len(), 2);
    for body in &sent {
        assert_eq!(body["touser"], OPENID);
        assert_eq!(body["msgtype"], "text");
        let no = ticket_in(body["text"]["content"].as_str().expect("content"));
        assert!(
            stored.iter().any(|t| t.ticket_no == no),
            "{no} is a stored ticket"
        );
    }
    // A template message (a progress notice) with the same cached token.
    outbound
        .send_template(
            OPENID,
            "TPL-PROGRESS",
            Some("https://12345.example/t"),
            &[("first", "办理进度"), ("keyword1", "2612030000000011")],
        )
        .await
        .expect("template sent");
    let templates = fake.templates.lock().expect("lock").clone();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0]["template_id"], "TPL-PROGRESS");
    assert_eq!(
        templates[0]["data"]["keyword1"]["value"],
        "2612030000000011"
    );
    assert_eq!(templates[0]["url"], "https://12345.example/t");
    assert_eq!(
        *fake.tokens.lock().expect("lock"),
        1,
        "the access token is cached"
    );
    stop.cancel();
}

/// The ticket with its history, as the ledger keeps it.
async fn history(bus: &Bus, ticket_no: TicketNo) -> TicketWithHistory {
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
    .expect("the ticket")
}

/// The notes of the ticket's 市民补充 steps, in order.
async fn supplements(bus: &Bus, ticket_no: TicketNo) -> Vec<String> {
    history(bus, ticket_no)
        .await
        .history
        .into_iter()
        .filter_map(|entry| match entry.action {
            Some(Action::Supplement { note }) => Some(note),
            _ => None,
        })
        .collect()
}

/// A message of `kind` from `open_id` (plain XML, before encryption).
fn message_from(open_id: &str, kind: &str, fields: &str, msg_id: &str) -> String {
    format!(
        "<xml><ToUserName>gh_hotline</ToUserName><FromUserName>{open_id}</FromUserName><CreateTime>{}</CreateTime>\
         <MsgType>{kind}</MsgType>{fields}<MsgId>{msg_id}</MsgId></xml>",
        now()
    )
}

#[tokio::test]
async fn a_followers_messages_within_the_window_are_one_ticket() {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings: Settings = env.settings().expect("settings");
    // Short, so that the test can outwait it.
    settings.wechat.conversation_window_secs = 2;
    let stop = CancellationToken::new();
    let _tickets = tokio::spawn(hotline_tickets::run(settings.clone(), stop.clone()));
    let bus = Bus::connect(&env.nats_url, &env.namespace, "wechat-itest")
        .await
        .expect("NATS");
    wait_ledger(&bus).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let _wechat = tokio::spawn(hotline_intake::wechat::run_with_listener(
        settings.clone(),
        listener,
        stop.clone(),
    ));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the wechat channel never got ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peer = Peer {
        http,
        url: format!("{base}/wechat"),
        cipher: Cipher::new(DEMO_AES_KEY, DEMO_APP_ID).expect("cipher"),
    };
    let follower = "oHotlineConversation0001";
    let reply_to = |reply: &str| -> String {
        let fields = message::fields(reply).expect("reply XML");
        assert_eq!(fields["ToUserName"], follower);
        fields["Content"].clone()
    };

    // Text, then a photo, then the place: one ticket, the two later ones added to it.
    let text = message_from(
        follower,
        "text",
        "<Content>小区门口井盖缺失</Content>",
        "9300000000000001",
    );
    let (status, reply) = peer.safe(&text).await;
    assert_eq!(status, 200, "{reply}");
    let content = reply_to(&reply);
    assert!(content.contains("已受理"), "{content}");
    let first = ticket_in(&content);
    let image = message_from(
        follower,
        "image",
        "<PicUrl>http://mmbiz.qpic.cn/well.jpg</PicUrl><MediaId>image-media-9</MediaId>",
        "9300000000000002",
    );
    let (status, reply) = peer.safe(&image).await;
    assert_eq!(status, 200, "{reply}");
    let content = reply_to(&reply);
    assert!(content.contains("已补充到工单"), "{content}");
    assert_eq!(ticket_in(&content), first);
    let location = message_from(
        follower,
        "location",
        "<Location_X>23.1291</Location_X><Location_Y>113.2644</Location_Y><Scale>20</Scale>\
         <Label><![CDATA[天河路2号]]></Label>",
        "9300000000000003",
    );
    let (status, reply) = peer.plain(&location, now(), true).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(ticket_in(&reply_to(&reply)), first);

    // WeChat's repeats: the same replies, nothing added twice.
    let (status, again) = peer.safe(&image).await;
    assert_eq!(status, 200, "{again}");
    let content = reply_to(&again);
    assert!(content.contains("已补充到工单"), "{content}");
    assert_eq!(ticket_in(&content), first);
    let (status, again) = peer.safe(&text).await;
    assert_eq!(status, 200, "{again}");
    let content = reply_to(&again);
    assert!(content.contains("已受理"), "{content}");
    assert_eq!(ticket_in(&content), first);
    let mine: Vec<TicketView> = list(&bus)
        .await
        .expect("list")
        .into_iter()
        .filter(|t| t.citizen.account_id.as_deref() == Some(&format!("wechat:{follower}")))
        .collect();
    assert_eq!(mine.len(), 1, "one contact, one ticket");
    assert_eq!(mine[0].description, "小区门口井盖缺失");
    assert_eq!(
        supplements(&bus, first).await,
        vec![
            "[图片] http://mmbiz.qpic.cn/well.jpg".to_owned(),
            "[位置] 天河路2号 (23.1291, 113.2644)".to_owned(),
        ]
    );

    // A progress query during the conversation answers; it is not added.
    let (status, reply) = peer
        .safe(&message_from(
            follower,
            "text",
            &format!("<Content>查询 {first}</Content>"),
            "9300000000000004",
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply_to(&reply).contains("办理中"), "{reply}");
    assert_eq!(supplements(&bus, first).await.len(), 2);

    // After the window: a new contact, a new ticket.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (status, reply) = peer
        .safe(&message_from(
            follower,
            "text",
            "<Content>另一处路灯不亮</Content>",
            "9300000000000005",
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    let content = reply_to(&reply);
    assert!(content.contains("已受理"), "{content}");
    let second = ticket_in(&content);
    assert_ne!(second, first);
    assert_eq!(supplements(&bus, first).await.len(), 2);

    // Two first messages at once from another follower: one ticket, the other message added.
    let other = "oHotlineConversation0002";
    let a = message_from(
        other,
        "text",
        "<Content>楼下餐馆油烟扰民</Content>",
        "9300000000000006",
    );
    let b = message_from(
        other,
        "text",
        "<Content>每天晚上十点以后</Content>",
        "9300000000000007",
    );
    let ((status_a, reply_a), (status_b, reply_b)) = tokio::join!(peer.safe(&a), peer.safe(&b));
    assert_eq!((status_a, status_b), (200, 200), "{reply_a} {reply_b}");
    let (content_a, content_b) = (
        message::fields(&reply_a).expect("xml")["Content"].clone(),
        message::fields(&reply_b).expect("xml")["Content"].clone(),
    );
    assert_eq!(ticket_in(&content_a), ticket_in(&content_b));
    let opened = [&content_a, &content_b]
        .iter()
        .filter(|c| c.contains("已受理"))
        .count();
    assert_eq!(opened, 1, "{content_a} / {content_b}");
    let theirs: Vec<TicketView> = list(&bus)
        .await
        .expect("list")
        .into_iter()
        .filter(|t| t.citizen.account_id.as_deref() == Some(&format!("wechat:{other}")))
        .collect();
    assert_eq!(theirs.len(), 1, "two first messages at once: one ticket");
    assert_eq!(supplements(&bus, theirs[0].ticket_no).await.len(), 1);

    // The conversation's ticket is completed within the window: the next message is refused
    // as an addition and opens a new ticket, which later messages join.
    let third = "oHotlineConversation0003";
    let (status, reply) = peer
        .safe(&message_from(
            third,
            "text",
            "<Content>人行道地砖松动</Content>",
            "9300000000000008",
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    let done = ticket_in(&message::fields(&reply).expect("xml")["Content"]);
    let th = || Actor::Department {
        code: DeptCode::parse("GZ-TH").expect("code"),
    };
    act(
        &bus,
        Service::Dispatch,
        Actor::system("dispatch"),
        done,
        Action::Dispatch {
            lead: DeptCode::parse("GZ-TH").expect("code"),
            co: vec![],
            note: String::new(),
        },
    )
    .await;
    act(&bus, Service::Gateway, th(), done, Action::Accept).await;
    act(
        &bus,
        Service::Gateway,
        th(),
        done,
        Action::Reply {
            text: "已修复".into(),
        },
    )
    .await;
    act(
        &bus,
        Service::Gateway,
        th(),
        done,
        Action::Complete {
            note: String::new(),
        },
    )
    .await;
    let refused = || {
        hotline_intake::wechat::conversation::SUPPLEMENTS
            .with_label_values(&["refused"])
            .get()
    };
    let refused_before = refused();
    let photo = message_from(
        third,
        "image",
        "<PicUrl>http://mmbiz.qpic.cn/tile.jpg</PicUrl><MediaId>image-media-10</MediaId>",
        "9300000000000009",
    );
    let (status, reply) = peer.safe(&photo).await;
    assert_eq!(status, 200, "{reply}");
    let content = message::fields(&reply).expect("xml")["Content"].clone();
    assert!(content.contains("已受理"), "{content}");
    let reopened = ticket_in(&content);
    assert_ne!(reopened, done);
    assert_eq!(refused(), refused_before + 1, "the addition was refused");
    assert!(supplements(&bus, done).await.is_empty());
    let (status, again) = peer.safe(&photo).await;
    assert_eq!(status, 200, "{again}");
    let content = message::fields(&again).expect("xml")["Content"].clone();
    assert!(content.contains("已受理"), "{content}");
    assert_eq!(
        ticket_in(&content),
        reopened,
        "a repeat gets the same reply"
    );
    let (status, reply) = peer
        .safe(&message_from(
            third,
            "text",
            "<Content>在公交站旁边</Content>",
            "9300000000000010",
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    let content = message::fields(&reply).expect("xml")["Content"].clone();
    assert!(content.contains("已补充到工单"), "{content}");
    assert_eq!(ticket_in(&content), reopened);
    assert_eq!(
        supplements(&bus, reopened).await,
        vec!["在公交站旁边".to_owned()]
    );
    stop.cancel();
}
