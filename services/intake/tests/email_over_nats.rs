//! The email channel against real NATS, Redis and Postgres, with the real tickets ledger
//! in-process, spoken to over TCP as a mail server would (raw SMTP, and lettre as a client),
//! its auto-replies caught by a small SMTP sink this test runs as the relay:
//!
//! - a GBK mail with an attachment becomes one ticket with the decoded text, the attachment in
//!   Postgres (downloadable by an agent), and an auto-reply with the number; sent again, the
//!   same ticket and no second reply;
//! - a reply with the number in its subject from the ticket's contact supplements that ticket
//!   (补充材料); the same subject from someone else opens a new one;
//! - an unknown recipient gets 550, a foreign domain 550, a message over the size limit 552
//!   (declared and undeclared), a control character 554, and nothing of them is stored;
//! - `Auto-Submitted` mail is a ticket without an auto-reply; a bounce is no ticket;
//! - idle connections and one connection too many get 421.
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

mod support;

use std::time::{Duration, Instant};

use hotline_auth::Role;
use hotline_auth::testing::TestIssuer;
use hotline_bus::rpc;
use hotline_bus::{Bus, Service};
use hotline_config::Settings;
use hotline_domain::contract::{
    CommandAccepted, GetTicket, TicketCommand, TicketQuery, TicketView, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, DeptCode, Status, TicketNo};
use lettre::AsyncTransport as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use support::smtp_sink::Sink;

const CITIZEN: &str = "Citizen.One@Example.COM";
/// The same address as the ticket keeps it (domain lower case).
const CITIZEN_NORMALISED: &str = "Citizen.One@example.com";
/// "现场照片.jpg" in GBK, base64 (an encoded word in the attachment's name).
const PHOTO_NAME_GBK: &str = "=?GBK?B?z9azodXVxqwuanBn?=";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01photo-bytes";

// ---- a raw SMTP client ----

struct Smtp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Smtp {
    /// Connects and reads the greeting.
    async fn connect(addr: &str) -> (Smtp, u16, String) {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (read, writer) = stream.into_split();
        let mut smtp = Smtp {
            reader: BufReader::new(read),
            writer,
        };
        let (code, text) = smtp.reply().await;
        (smtp, code, text)
    }

    /// Reads one (possibly multi-line) reply: its code and all its text.
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(60), self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .expect("read");
            assert!(n > 0, "the server closed the connection; so far: {text:?}");
            assert!(line.len() >= 4, "a reply line: {line:?}");
            text.push_str(&line);
            if line.as_bytes()[3] == b' ' {
                let code = line[..3].parse().expect("a reply code");
                return (code, text);
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        self.reply().await
    }

    /// DATA, the message dot-stuffed, the end marker; the final reply.
    async fn data(&mut self, message: &[u8]) -> (u16, String) {
        let (code, text) = self.cmd("DATA").await;
        assert_eq!(code, 354, "{text}");
        let mut wire = Vec::new();
        for line in message.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.starts_with(b".") {
                wire.push(b'.');
            }
            wire.extend_from_slice(line);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        self.writer.write_all(&wire).await.expect("write");
        self.reply().await
    }

    /// One whole transaction on a fresh connection: the final reply.
    async fn send(addr: &str, from: &str, message: &[u8]) -> (u16, String) {
        let (mut smtp, code, _) = Smtp::connect(addr).await;
        assert_eq!(code, 220);
        assert_eq!(smtp.cmd("EHLO client.example.com").await.0, 250);
        let (code, text) = smtp.cmd(&format!("MAIL FROM:<{from}> BODY=8BITMIME")).await;
        assert_eq!(code, 250, "{text}");
        let (code, text) = smtp.cmd("RCPT TO:<12345@hotline.local>").await;
        assert_eq!(code, 250, "{text}");
        let reply = smtp.data(message).await;
        assert_eq!(smtp.cmd("QUIT").await.0, 221);
        reply
    }
}

// ---- the ledger ----

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
    .expect("get")
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

fn ticket_in(text: &str) -> TicketNo {
    let digits = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 16)
        .unwrap_or_else(|| panic!("no ticket number in {text:?}"));
    TicketNo::parse(digits).expect("ticket number")
}

fn gbk_mail(message_id: &str) -> Vec<u8> {
    format!(
        "From: =?GBK?B?1cXI/Q==?= <{CITIZEN}>\r\n\
To: 12345@hotline.local\r\n\
Subject: =?GBK?B?wre1xrK7wcE=?=\r\n\
Message-ID: <{message_id}>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"=_b\"\r\n\
\r\n\
--=_b\r\n\
Content-Type: text/plain; charset=GBK\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
=CC=EC=BA=D3=C2=B7208=BA=C5=C2=B7=B5=C6=BB=B5=C1=CB=C8=FD=CC=EC=A1=A3\r\n\
.leading dot line\r\n\
--=_b\r\n\
Content-Type: image/jpeg; name=\"{PHOTO_NAME_GBK}\"\r\n\
Content-Disposition: attachment; filename=\"{PHOTO_NAME_GBK}\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{}\r\n\
--=_b--\r\n",
        base64_encode(PHOTO)
    )
    .into_bytes()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn plain_mail(from: &str, subject: &str, body: &str, extra_headers: &str) -> Vec<u8> {
    let id = format!("{}@example.net", rand::random::<u64>());
    format!(
        "From: {from}\r\nTo: 12345@hotline.local\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra_headers}\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn metric(http: &reqwest::Client, base: &str, line_start: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test]
async fn email_becomes_tickets_and_bad_mail_stores_nothing() {
    let env = hotline_testkit::env().await.expect("test servers");
    let issuer = TestIssuer::start().await;
    let mut settings: Settings = env.settings().expect("settings");
    issuer.configure(&mut settings);
    let (sink, sink_port) = Sink::start().await;
    settings.email.relay_host = Some("127.0.0.1".into());
    settings.email.relay_port = sink_port;
    settings.email.max_message_bytes = 64 * 1024;
    settings.email.max_attachment_bytes = 32 * 1024;
    settings.email.idle_timeout_secs = 3;
    settings.email.max_connections = 3;
    let stop = CancellationToken::new();
    support::start_tickets(&settings, &stop).await;
    let bus = Bus::connect(&env.nats_url, &env.namespace, "email-itest")
        .await
        .expect("NATS");

    let smtp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = smtp.local_addr().expect("addr").to_string();
    let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", http_listener.local_addr().expect("addr"));
    let channel = tokio::spawn(hotline_intake::email::run_with_listeners(
        settings.clone(),
        smtp,
        http_listener,
        stop.clone(),
    ));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            !channel.is_finished(),
            "the email channel stopped before it was ready"
        );
        assert!(
            Instant::now() < deadline,
            "the email channel never got ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A GBK mail with a photo: one ticket, decoded, the photo kept, the number replied.
    let message_id = format!("gbk-{}@example.com", rand::random::<u64>());
    let gbk = gbk_mail(&message_id);
    let (code, text) = Smtp::send(&addr, "bounces+c1@example.com", &gbk).await;
    assert_eq!(code, 250, "{text}");
    assert!(text.starts_with("250 2.0.0 "), "{text}");
    let first = ticket_in(&text);
    let found = get(&bus, first).await.ticket;
    assert_eq!(found.channel, Channel::Email);
    assert_eq!(found.status, Status::Received);
    assert_eq!(
        found.description, "路灯不亮\n天河路208号路灯坏了三天。\n.leading dot line",
        "decoded from GBK, dot-unstuffed"
    );
    assert_eq!(found.citizen.email.as_deref(), Some(CITIZEN_NORMALISED));
    assert_eq!(found.citizen.name.as_deref(), Some("张三"));
    assert!(!found.confidential);
    assert_eq!(
        found.attributes.get("email.attachment_names"),
        Some(&vec!["现场照片.jpg".to_owned()])
    );
    let ids = found
        .attributes
        .get("email.attachment_ids")
        .cloned()
        .expect("attachment ids");
    assert_eq!(ids.len(), 1);
    let pool = sqlx::PgPool::connect(&settings.database.url)
        .await
        .expect("Postgres");
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT content FROM email.attachment WHERE id = $1::uuid")
            .bind(&ids[0])
            .fetch_one(&pool)
            .await
            .expect("the attachment is in Postgres");
    assert_eq!(stored, PHOTO);
    // An agent downloads it; nobody else does.
    let url = format!("{base}/v1/attachments/{}", ids[0]);
    let anonymous = http.get(&url).send().await.expect("GET");
    assert_eq!(anonymous.status().as_u16(), 401);
    let staff = issuer.token("th-staff1", &[Role::DepartmentStaff], Some("GZ-TH"));
    let refused = http
        .get(&url)
        .bearer_auth(&staff)
        .send()
        .await
        .expect("GET");
    assert_eq!(refused.status().as_u16(), 403);
    let agent = issuer.token("agent1", &[Role::Agent], None);
    let download = http
        .get(&url)
        .bearer_auth(&agent)
        .send()
        .await
        .expect("GET");
    assert_eq!(download.status().as_u16(), 200);
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename*=UTF-8''%E7%8E%B0%E5%9C%BA%E7%85%A7%E7%89%87.jpg"
    );
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    assert_eq!(download.bytes().await.expect("body").as_ref(), PHOTO);

    // The auto-reply goes to the reverse-path, from the null sender, marked auto-replied,
    // with the number in its subject.
    let receipt = sink.wait_for("bounces+c1@example.com", 1).await;
    assert_eq!(
        receipt.from, "<>",
        "auto-replies go out with the null reverse-path"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&receipt.data)
        .expect("the auto-reply parses");
    let subject = parsed.subject().expect("a subject").to_owned();
    assert_eq!(subject, format!("您的诉求已受理 工单编号 {first}"));
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(parsed.in_reply_to().as_text(), Some(message_id.as_str()));
    assert!(
        parsed
            .body_text(0)
            .expect("text")
            .contains(&first.to_string()),
        "the number is in the text"
    );

    // The same message again (the sending server retried): the same ticket, no second reply.
    let (code, text) = Smtp::send(&addr, "bounces+c1@example.com", &gbk).await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(ticket_in(&text), first);
    assert_eq!(
        list(&bus).await.len(),
        1,
        "one ticket however often it is sent"
    );

    // Refused at RCPT: an unknown mailbox, another domain; over the size limit (declared, and
    // not declared but sent); a control character. Nothing of them is stored.
    let (mut s, code, greeting) = Smtp::connect(&addr).await;
    assert_eq!(code, 220);
    assert!(greeting.contains("hotline.local"), "{greeting}");
    let (code, ehlo) = s.cmd("EHLO client.example.com").await;
    assert_eq!(code, 250);
    assert!(
        ehlo.contains("SIZE 65536") && ehlo.contains("SMTPUTF8"),
        "{ehlo}"
    );
    assert!(
        ehlo.contains("8BITMIME") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert_eq!(s.cmd("VRFY 12345").await.0, 252);
    assert_eq!(s.cmd("MAIL FROM:<a@example.com> SIZE=999999").await.0, 552);
    assert_eq!(s.cmd("MAIL FROM:<a@example.com>").await.0, 250);
    let (code, text) = s.cmd("RCPT TO:<nobody@hotline.local>").await;
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("550 5.1.1"), "{text}");
    assert_eq!(s.cmd("RCPT TO:<12345@elsewhere.example>").await.0, 550);
    assert_eq!(s.cmd("DATA").await.0, 554, "no valid recipient");
    assert_eq!(s.cmd("RSET").await.0, 250);
    assert_eq!(s.cmd("MAIL FROM:<a@example.com>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<12345@hotline.local>").await.0, 250);
    let big = plain_mail("a@example.com", "big", &"路灯不亮。\n".repeat(8000), "");
    let (code, text) = s.data(&big).await;
    assert_eq!(code, 552, "{text}");
    // The session goes on after a refused message.
    assert_eq!(s.cmd("MAIL FROM:<a@example.com>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<12345@hotline.local>").await.0, 250);
    let bell = plain_mail("a@example.com", "噪音", "半夜\u{7}施工", "");
    let (code, text) = s.data(&bell).await;
    assert_eq!(code, 554, "{text}");
    assert!(text.contains("5.6.0"), "{text}");
    let (code, _) = s.cmd("QUIT").await;
    assert_eq!(code, 221);
    assert_eq!(list(&bus).await.len(), 1, "nothing stored for refused mail");
    let attachments: i64 = sqlx::query_scalar("SELECT count(*) FROM email.attachment")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(attachments, 1);

    // A bounce (null reverse-path) is taken and opens nothing.
    let bounce = plain_mail(
        "MAILER-DAEMON@example.com",
        "Undelivered Mail",
        "failed",
        "",
    );
    let (code, _) = Smtp::send(&addr, "", &bounce).await;
    assert_eq!(code, 250);
    assert_eq!(list(&bus).await.len(), 1, "a bounce is no ticket");

    // Automatic mail (a sensor's report) is a ticket but gets no auto-reply.
    let suppressed_before = metric(
        &http,
        &base,
        "hotline_email_auto_replies_total{outcome=\"suppressed_auto_submitted\"}",
    )
    .await;
    let sensor = plain_mail(
        "sensor@devices.example.org",
        "水位告警",
        "东濠涌水位超过警戒线",
        "Auto-Submitted: auto-generated\r\n",
    );
    let (code, text) = Smtp::send(&addr, "sensor@devices.example.org", &sensor).await;
    assert_eq!(code, 250, "{text}");
    let sensor_ticket = ticket_in(&text);
    assert_eq!(
        get(&bus, sensor_ticket).await.ticket.description,
        "水位告警\n东濠涌水位超过警戒线"
    );
    assert_eq!(
        metric(
            &http,
            &base,
            "hotline_email_auto_replies_total{outcome=\"suppressed_auto_submitted\"}",
        )
        .await,
        suppressed_before + 1
    );

    // 保密 in the subject: a confidential ticket. Its reply arriving shows the sensor's reply,
    // sent earlier if at all, would have arrived too.
    let secret = plain_mail(
        "Later <later@example.com>",
        "=?UTF-8?B?44CQ5L+d5a+G44CR6YK75bGF6KOF5L+u5Zmq6Z+z?=",
        "每晚十点后还在装修",
        "",
    );
    let (code, text) = Smtp::send(&addr, "later@example.com", &secret).await;
    assert_eq!(code, 250, "{text}");
    let secret_ticket = get(&bus, ticket_in(&text)).await.ticket;
    assert!(secret_ticket.confidential);
    assert_eq!(
        secret_ticket.description,
        "邻居装修噪音\n每晚十点后还在装修"
    );
    sink.wait_for("later@example.com", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sink.to("sensor@devices.example.org").is_empty(),
        "no auto-reply to Auto-Submitted mail"
    );

    // The department asks for more information; the citizen answers by replying to the
    // receipt (lettre as the client): the answer goes onto the same ticket.
    let th = || Actor::Department {
        code: DeptCode::parse("GZ-TH").expect("code"),
    };
    act(
        &bus,
        Service::Dispatch,
        Actor::system("dispatch"),
        first,
        Action::Dispatch {
            lead: DeptCode::parse("GZ-TH").expect("code"),
            co: vec![],
            note: String::new(),
        },
    )
    .await;
    act(&bus, Service::Gateway, th(), first, Action::Accept).await;
    act(
        &bus,
        Service::Gateway,
        th(),
        first,
        Action::RequestInformation {
            question: "请提供具体位置".into(),
        },
    )
    .await;
    let tickets_before = list(&bus).await.len();
    let port = addr
        .rsplit(':')
        .next()
        .expect("port")
        .parse::<u16>()
        .expect("port");
    let client =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .build();
    let answer = lettre::Message::builder()
        .from(CITIZEN.parse().expect("from"))
        .to("12345@hotline.local".parse().expect("to"))
        .subject(format!("Re: {subject}"))
        .in_reply_to(format!("<{message_id}>"))
        .body(format!(
            "在天河路208号东门对面。\n\n> 您的来信已受理，工单编号 {first}。\n"
        ))
        .expect("message");
    let sent = client
        .send(answer.clone())
        .await
        .expect("lettre delivered the reply");
    assert!(sent.is_positive());
    let after = get(&bus, first).await;
    assert_eq!(
        after.ticket.status,
        Status::InProgress,
        "the clock runs again"
    );
    let last = after.history.last().expect("history");
    assert_eq!(
        last.action,
        Some(Action::ProvideInformation {
            note: "在天河路208号东门对面。".into()
        })
    );
    assert_eq!(list(&bus).await.len(), tickets_before, "no new ticket");
    let confirmation = sink.wait_for(CITIZEN, 1).await;
    let confirmation = mail_parser::MessageParser::default()
        .parse(&confirmation.data)
        .expect("parses")
        .subject()
        .map(str::to_owned);
    assert_eq!(
        confirmation,
        Some(format!("补充材料已收到 工单编号 {first}"))
    );
    // Sent again: the same step, no second note and no second confirmation.
    client
        .send(answer)
        .await
        .expect("lettre delivered the repeat");
    assert_eq!(get(&bus, first).await.history.len(), after.history.len());
    assert_eq!(
        metric(
            &http,
            &base,
            "hotline_email_accepted_total{outcome=\"supplement_replayed\"}"
        )
        .await,
        1
    );

    // The same subject from someone else is a new request, not a step on this ticket.
    let stranger = plain_mail(
        "stranger@example.net",
        &format!("Re: 工单编号 {first}"),
        "我这里也有路灯不亮",
        "",
    );
    let (code, text) = Smtp::send(&addr, "stranger@example.net", &stranger).await;
    assert_eq!(code, 250, "{text}");
    assert_ne!(ticket_in(&text), first);
    assert_eq!(list(&bus).await.len(), tickets_before + 1);
    assert_eq!(get(&bus, first).await.history.len(), after.history.len());
    assert_eq!(
        sink.to(CITIZEN).len(),
        1,
        "one confirmation for the supplement"
    );

    // Written again while nobody asked (the ticket is in progress): the citizen's own addition
    // (市民补充) is recorded on the same ticket; status and clocks stay as they are.
    let addition = lettre::Message::builder()
        .from(CITIZEN.parse().expect("from"))
        .to("12345@hotline.local".parse().expect("to"))
        .subject(format!("Re: {subject}"))
        .body("晚上也不亮，补充一张照片稍后发。".to_owned())
        .expect("message");
    client
        .send(addition)
        .await
        .expect("lettre delivered the addition");
    let added = get(&bus, first).await;
    assert_eq!(added.ticket.status, Status::InProgress, "status unchanged");
    assert_eq!(
        added.history.last().and_then(|e| e.action.clone()),
        Some(Action::Supplement {
            note: "晚上也不亮，补充一张照片稍后发。".into()
        })
    );
    assert_eq!(list(&bus).await.len(), tickets_before + 1, "no new ticket");
    sink.wait_for(CITIZEN, 2).await;

    // Connection limits: one over `max_connections` is told 421; a silent client is closed
    // with 421 after the idle timeout.
    let mut held = Vec::new();
    for _ in 0..3 {
        let (s, code, _) = Smtp::connect(&addr).await;
        assert_eq!(code, 220);
        held.push(s);
    }
    let (_, code, text) = Smtp::connect(&addr).await;
    assert_eq!(code, 421, "{text}");
    let (code, text) = held[0].reply().await;
    assert_eq!(code, 421, "idle: {text}");
    assert!(text.starts_with("421 4.4.2"), "{text}");
    drop(held);

    stop.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(40), channel)
        .await
        .expect("the channel stops on shutdown")
        .expect("join");
    assert!(ended.is_ok(), "{ended:?}");
}
