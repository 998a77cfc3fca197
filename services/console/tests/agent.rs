//! The agent desk against the real services it calls (identity, tickets, dispatch, knowledge with
//! its demo answers, the phone channel, the web channel's Open311) on the real NATS, Postgres and
//! Redis:
//!
//! - agent1 signs in (the real authorization-code flow with PKCE) and opens the desk, whose live
//!   feed (`/agent/events`, server-sent events) is read as a browser's EventSource would;
//! - a citizen reports through Open311: the new ticket arrives on the open feed as a `messages`
//!   event with the citizen masked, and its link opens the ticket with its history;
//! - the call platform posts a CTI newCall and answer for agent1: the call arrives on the open
//!   feed without asking again;
//! - on the call's page the knowledge base suggests answers for the typed request, the agent
//!   opens a leaf and answers on the spot: the ledger's ticket ends `answered`, recorded as the
//!   agent; a step without the CSRF token is refused;
//! - a second call from a citizen with an open ticket at the same place: the seat assistant's
//!   fields come with that ticket as a likely duplicate and smart dispatch's suggestion, and the
//!   agent files the ticket from the call and finishes it.

mod common;

use common::{Browser, absolute, eventually, field, location};

use std::time::Duration;

use hotline_bus::Bus;
use hotline_bus::rpc::{self, CallError};
use hotline_domain::contract::{
    Citizen, CommandAccepted, CreateTicket, GetTicket, Location, TicketCommand, TicketQuery,
    TicketView, TicketWithHistory,
};
use hotline_domain::{Actor, Channel, RequestType, Status, TicketNo};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(90);
const CALLER: &str = "13800138000";
const ADDRESS: &str = "广州市天河区天河路208号";
const STREETLIGHT: &str = "天河路208号门口的路灯坏了好几天，晚上很黑，请尽快修理。";

struct Platform {
    bus: Bus,
    console: String,
    phone: String,
    open311: String,
    stop: CancellationToken,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Platform {
    async fn start() -> Platform {
        let env = hotline_testkit::env().await.expect("test servers");
        let settings = env.settings().expect("settings");
        let stop = CancellationToken::new();
        tokio::spawn(hotline_identity::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_tickets::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_dispatch::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_knowledge::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_intake::phone::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_intake::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_console::run(settings.clone(), stop.clone()));
        let http = reqwest::Client::new();
        for port in [
            settings.identity.port,
            settings.tickets.port,
            settings.dispatch.port,
            settings.knowledge.port,
            settings.phone.port,
            settings.intake.port,
            settings.console.port,
        ] {
            let http = http.clone();
            eventually(&format!("port {port} ready"), || {
                let http = http.clone();
                async move {
                    let r = http
                        .get(format!("http://127.0.0.1:{port}/readyz"))
                        .send()
                        .await
                        .ok()?;
                    r.status().is_success().then_some(())
                }
            })
            .await;
        }
        // The demo knowledge is published in the background once the catalogue is there.
        let knowledge = format!("http://127.0.0.1:{}", settings.knowledge.port);
        eventually("the demo knowledge", || {
            let http = http.clone();
            let url = format!("{knowledge}/v1/search?q=%E5%8C%BB%E4%BF%9D");
            async move {
                let v: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
                (v["total"].as_u64()? > 0).then_some(())
            }
        })
        .await;
        let bus = Bus::connect(&env.nats_url, &env.namespace, "console-agent-itest")
            .await
            .expect("NATS");
        eventually("the ledger", || {
            let bus = bus.clone();
            async move {
                let r: Result<Vec<TicketView>, CallError> = rpc::call(
                    &bus,
                    bus.subjects.ticket_list(),
                    &TicketQuery::default(),
                    Duration::from_millis(500),
                )
                .await;
                r.ok().map(|_| ())
            }
        })
        .await;
        Platform {
            console: settings.console_public_url(),
            phone: format!("http://127.0.0.1:{}", settings.phone.port),
            open311: format!("http://127.0.0.1:{}/open311/v2", settings.intake.port),
            bus,
            stop,
        }
    }

    /// A citizen's report through the web channel's Open311 (the demo key), as a city app
    /// sends it; the ticket's number.
    async fn report(&self, text: &str) -> TicketNo {
        let http = reqwest::Client::new();
        // Intake serves the catalogue once it has read it from dispatch.
        let service_code = eventually("the Open311 services", || {
            let http = http.clone();
            let url = format!("{}/services.json", self.open311);
            async move {
                let services: Vec<serde_json::Value> =
                    http.get(url).send().await.ok()?.json().await.ok()?;
                services
                    .first()
                    .and_then(|s| s["service_code"].as_str())
                    .map(str::to_owned)
            }
        })
        .await;
        let r = http
            .post(format!("{}/requests.json", self.open311))
            .form(&[
                ("api_key", "demo-open311-key"),
                ("service_code", service_code.as_str()),
                ("address_string", ADDRESS),
                ("description", text),
                ("phone", CALLER),
            ])
            .send()
            .await
            .expect("Open311 POST");
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        let body: serde_json::Value = r.json().await.expect("json");
        let no = body[0]["service_request_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a number in {body}"));
        TicketNo::parse(no).expect("a ticket number")
    }

    /// A citizen's open ticket from another channel, with the caller's number and the place.
    async fn create(&self, text: &str) -> TicketNo {
        let serial = (uuid::Uuid::new_v4().as_u128() % 9_000_000) as u64 + 1;
        let no = TicketNo::compose(260305, serial).expect("no");
        let _: CommandAccepted = rpc::call(
            &self.bus,
            self.bus
                .subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            &TicketCommand::Create {
                idempotency_key: format!("create-{no}"),
                actor: Actor::Citizen {
                    channel: Channel::Wechat,
                },
                ticket: Box::new(CreateTicket {
                    ticket_no: no,
                    channel: Channel::Wechat,
                    request_type: RequestType::Complaint,
                    service_code: None,
                    description: text.into(),
                    location: Location {
                        address: Some(ADDRESS.into()),
                        ..Location::default()
                    },
                    citizen: Citizen {
                        phone: Some(CALLER.into()),
                        ..Citizen::default()
                    },
                    confidential: false,
                    attributes: Default::default(),
                    media_url: None,
                    // Kept where it is (not dispatched away) while the test runs.
                    hold: true,
                }),
            },
            Duration::from_secs(5),
        )
        .await
        .expect("created");
        no
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
        .expect("the ticket")
    }

    /// The call platform's CTI event for agent1.
    async fn cti(&self, event: &str, call_id: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/cti/demo-cti-token", self.phone))
            .form(&[
                ("event", event),
                ("from", CALLER),
                ("to", "12345"),
                ("direction", "in"),
                ("callId", call_id),
                ("user", "agent1"),
            ])
            .send()
            .await
            .expect("CTI");
        assert!(r.status().is_success(), "CTI {event}: {}", r.status());
    }
}

/// What follows `marker` in `text` up to the next `end`.
fn after<'t>(text: &'t str, marker: &str, end: char) -> &'t str {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {text}"))
        + marker.len();
    text[at..].split(end).next().unwrap_or("")
}

impl Browser {
    /// A POST the way htmx sends it: the CSRF token in the header, `HX-Request`.
    async fn htmx_post(
        &mut self,
        url: &str,
        csrf: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let r = self
            .http
            .post(url)
            .header(COOKIE, self.cookie_header())
            .header("hx-request", "true")
            .header("x-csrf-token", csrf)
            .form(form)
            .send()
            .await
            .expect("POST");
        self.keep(&r);
        let status = r.status();
        (status, r.text().await.expect("body"))
    }

    async fn htmx_get(&mut self, url: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .header("hx-request", "true")
            .send()
            .await
            .expect("GET");
        let status = r.status();
        (status, r.text().await.expect("body"))
    }
}

/// Reads the event stream until `what` arrives in a `calls` event; returns everything read.
async fn read_until(feed: &mut reqwest::Response, seen: &mut String, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen.contains(what) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "{what} never came on the feed: {seen}");
        match tokio::time::timeout(left, feed.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Ok(None)) => panic!("the feed ended before {what}: {seen}"),
            Ok(Err(e)) => panic!("the feed failed: {e}"),
            Err(_) => panic!("{what} never came on the feed: {seen}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_sees_calls_live_answers_one_on_the_spot_and_files_another_with_its_duplicates() {
    let p = Platform::start().await;
    let console = p.console.clone();
    let mut agent = Browser::new();
    let desk = agent.sign_in(&console, "/agent", "agent1").await;
    assert!(desk.contains("sse-connect=\"/agent/events\""), "{desk}");
    assert!(
        desk.contains("accesskey") || desk.contains("Alt+A"),
        "shortcuts listed"
    );
    // The home page offers the desk to an agent.
    let (status, home) = agent.page(&format!("{console}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("href=\"/agent\""), "{home}");

    // The desk's live feed, as the browser's EventSource opens it.
    let mut feed = agent
        .http
        .get(format!("{console}/agent/events"))
        .header(COOKIE, agent.cookie_header())
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("the feed");
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/event-stream"))
    );
    let mut seen = String::new();
    // The first events at once: the lists as they are (no call yet).
    read_until(&mut feed, &mut seen, "event: calls").await;
    read_until(&mut feed, &mut seen, "event: messages").await;

    // A citizen reports a broken streetlight through Open311: it arrives on the open desk as a
    // message, the citizen masked, linked to the ticket.
    let reported = p.report("天河路208号路灯不亮，晚上很黑").await;
    let marker = format!("id=\"msg-{reported}-1\"");
    read_until(&mut feed, &mut seen, &marker).await;
    let event = seen
        .split("\n\n")
        .filter(|e| e.contains(&marker))
        .last()
        .expect("the event");
    assert!(event.contains("event: messages"), "{event}");
    assert!(event.contains("138****8000"), "masked: {event}");
    assert!(event.contains("天河路208号路灯不亮"), "the text: {event}");
    assert!(
        event.contains(&format!("href=\"/agent/tickets?no={reported}\"")),
        "{event}"
    );
    assert!(!seen.contains(CALLER), "the number never reaches the page");
    let (status, page) = agent
        .page(&format!("{console}/agent/tickets?no={reported}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&reported.to_string()), "{page}");
    assert!(page.contains("id=\"ticket-history\""), "{page}");
    assert!(!page.contains(CALLER));

    // A call rings for agent1 and is answered: it arrives on the open feed.
    let call1 = format!("c1-{}", uuid::Uuid::new_v4().simple());
    p.cti("newCall", &call1).await;
    p.cti("answer", &call1).await;
    read_until(&mut feed, &mut seen, &format!("id=\"call-{call1}\"")).await;
    assert!(seen.contains("138****8000"), "masked: {seen}");
    assert!(!seen.contains(CALLER), "the number never reaches the page");

    // The call's page.
    let (status, page) = agent.page(&format!("{console}/agent/calls/{call1}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("138****8000") && !page.contains(CALLER));
    let csrf = field(&page, "id=\"draft\"", "_csrf");
    let base = format!("{console}/agent/calls/{call1}");

    // Suggestions for what the agent typed.
    let (status, hits) = agent
        .htmx_post(
            &format!("{base}/knowledge"),
            &csrf,
            &[
                ("description", "孩子刚出生，想问新生儿怎么参加医保"),
                ("q", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    assert!(hits.contains("data-leaf=\""), "a suggestion: {hits}");
    let leaf = after(&hits, "data-leaf=\"", '"').to_owned();
    let open = after(&hits, "hx-get=\"", '"').replace("&amp;", "&");
    assert!(open.contains(&format!("?node={leaf}")), "{open}");
    // A search works as well.
    let (status, searched) = agent
        .htmx_post(
            &format!("{base}/knowledge"),
            &csrf,
            &[("description", ""), ("q", "医保")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(searched.contains("data-leaf=\""), "{searched}");

    // The leaf's whole answer, with the one action.
    let (status, answer_page) = agent.htmx_get(&format!("{console}{open}")).await;
    assert_eq!(status, StatusCode::OK, "{answer_page}");
    assert!(answer_page.contains("id=\"answer-form\""), "{answer_page}");
    let title = field(&answer_page, "id=\"answer-form\"", "title");
    let service_code = field(&answer_page, "id=\"answer-form\"", "service_code");
    // The tree walk from the item's top.
    let top = open.split('?').next().expect("path");
    let (status, tree) = agent.htmx_get(&format!("{console}{top}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tree.contains("class=\"tree\""), "{tree}");

    // Without the CSRF token nothing is answered.
    let r = agent
        .post(
            &format!("{base}/answer"),
            &[("leaf", leaf.as_str()), ("title", title.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Answered on the spot.
    let r = agent
        .post(
            &format!("{base}/answer"),
            &[
                ("_csrf", csrf.as_str()),
                ("leaf", leaf.as_str()),
                ("title", title.as_str()),
                ("service_code", service_code.as_str()),
                ("description", "孩子刚出生，想问新生儿怎么参加医保"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r).to_owned();
    assert!(to.contains("done=answered"), "{to}");
    let no = TicketNo::parse(after(&to, "no=", '&')).expect("a ticket number");
    let found = p.ticket(no).await;
    assert_eq!(found.ticket.status, Status::Answered);
    assert_eq!(found.ticket.channel, Channel::Phone);
    let answered = found.history.last().expect("a step");
    assert_eq!(
        answered.actor,
        Actor::Agent {
            id: "agent1".into()
        }
    );
    let (_, page) = agent.page(&absolute(&console, &to)).await;
    assert!(page.contains("id=\"done\""), "the flash");
    assert!(page.contains(&leaf), "the call records the leaf: {page}");

    // The answer reads wrong: flagged for the editors.
    let (status, flagged) = agent
        .htmx_post(
            &format!("{base}/flag"),
            &csrf,
            &[
                ("leaf", leaf.as_str()),
                ("reason", "unclear"),
                ("note", "测试"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{flagged}");
    assert!(flagged.contains("id=\"flagged\""));

    let r = agent
        .post(&format!("{base}/finish"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/agent?done=finish");

    // The same citizen has an open ticket at the same place; they call again about it.
    let earlier = p.create(STREETLIGHT).await;
    let call2 = format!("c2-{}", uuid::Uuid::new_v4().simple());
    p.cti("newCall", &call2).await;
    read_until(&mut feed, &mut seen, &format!("id=\"call-{call2}\"")).await;
    p.cti("answer", &call2).await;
    let (status, page) = agent.page(&format!("{console}/agent/calls/{call2}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("id=\"ticket-{earlier}\"")),
        "the caller's ticket in the history: {page}"
    );
    let csrf = field(&page, "id=\"draft\"", "_csrf");
    let key = field(&page, "id=\"draft\"", "key");
    let base = format!("{console}/agent/calls/{call2}");
    let (status, assisted) = agent
        .htmx_post(
            &format!("{base}/assist"),
            &csrf,
            &[
                ("description", STREETLIGHT),
                ("address", ADDRESS),
                ("service_code", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assisted}");
    assert!(
        assisted.contains(&format!("id=\"dup-{earlier}\"")),
        "the earlier ticket as a likely duplicate: {assisted}"
    );
    assert!(
        assisted.contains("id=\"dispatch-suggestion\""),
        "{assisted}"
    );
    assert!(
        assisted.contains(&format!("value=\"{ADDRESS}\"")),
        "{assisted}"
    );
    let request_type = if assisted.contains("value=\"complaint\" selected") {
        "complaint"
    } else {
        "help_request"
    };

    let r = agent
        .post(
            &format!("{base}/ticket"),
            &[
                ("_csrf", csrf.as_str()),
                ("key", key.as_str()),
                ("description", STREETLIGHT),
                ("address", ADDRESS),
                ("request_type", request_type),
                ("service_code", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r).to_owned();
    assert!(to.contains("done=ticket"), "{to}");
    let filed = TicketNo::parse(after(&to, "no=", '&')).expect("a ticket number");
    assert_ne!(filed, earlier);
    let found = p.ticket(filed).await;
    assert_eq!(found.ticket.channel, Channel::Phone);
    assert_eq!(found.ticket.location.address.as_deref(), Some(ADDRESS));
    assert_eq!(found.ticket.description, STREETLIGHT);
    let r = agent
        .post(&format!("{base}/finish"), &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The ticket search finds it.
    let (status, list) = agent
        .page(&format!("{console}/agent/tickets?status="))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&filed.to_string()), "{list}");

    // Signed out: the feed ends (the browser's reconnect is then sent to sign in).
    let r = agent
        .post(
            &format!("{console}/auth/logout"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert!(r.status().is_redirection());
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match feed.chunk().await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the feed ended with the session");
}
