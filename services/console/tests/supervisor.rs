//! The supervisor's screens against the real services (identity, tickets, dispatch, SLA) on
//! the real NATS, Postgres and Redis: supervisor1 signs in, reads the board with today's
//! tickets on it and a department's pending extension request, approves it with a note (the
//! ledger records the decision as supervisor1), downloads the report as CSV (BOM) and PDF
//! (whole, its cross-references checked), and reads the hotspot counts by district and the
//! rising classes. The helpers are tests/console.rs's.

mod common;

use common::{Browser, eventually, field};

use std::time::Duration;

use hotline_bus::Bus;
use hotline_bus::rpc::{self, CallError};
use hotline_domain::contract::{
    Citizen, CommandAccepted, CreateTicket, GetTicket, Location, TicketCommand, TicketQuery,
    TicketView, TicketWithHistory,
};
use hotline_domain::{Action, Actor, Channel, RequestType, ServiceCode, TicketNo};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);
const PHONE: &str = "13812345678";

struct Platform {
    bus: Bus,
    console: String,
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
        let mut settings = env.settings().expect("settings");
        // Smart dispatch decides without asking the knowledge service (not running here).
        settings.dispatch.knowledge_hints = false;
        // The board's counts are kept a second, not 30: the test reads them as they change.
        settings.console.figures_max_age_secs = 1;
        let stop = CancellationToken::new();
        tokio::spawn(hotline_identity::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_tickets::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_dispatch::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_sla::run(settings.clone(), stop.clone()));
        tokio::spawn(hotline_console::run(settings.clone(), stop.clone()));
        let http = reqwest::Client::new();
        for port in [
            settings.identity.port,
            settings.tickets.port,
            settings.dispatch.port,
            settings.sla.port,
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
        let bus = Bus::connect(&env.nats_url, &env.namespace, "console-itest")
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
            bus,
            stop,
        }
    }

    /// A citizen's ticket without a matter code, as a channel files it.
    #[allow(dead_code)]
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
                        address: Some("广州市天河区天河路208号".into()),
                        ..Location::default()
                    },
                    citizen: Citizen {
                        name: Some("张三".into()),
                        phone: Some(PHONE.into()),
                        ..Citizen::default()
                    },
                    confidential: false,
                    attributes: Default::default(),
                    media_url: None,
                    hold: false,
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
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Platform {
    /// A ticket on matter `code` at `address`, filed by the web channel.
    async fn file(&self, code: &str, address: &str) -> TicketNo {
        let serial = (uuid::Uuid::new_v4().as_u128() % 9_000_000) as u64 + 1;
        let no = TicketNo::compose(260310, serial).expect("no");
        let _: CommandAccepted = rpc::call(
            &self.bus,
            self.bus
                .subjects
                .ticket_commands_from(hotline_bus::Service::Intake),
            &TicketCommand::Create {
                idempotency_key: format!("sup-create-{no}"),
                actor: Actor::Citizen {
                    channel: Channel::Web,
                },
                ticket: Box::new(CreateTicket {
                    ticket_no: no,
                    channel: Channel::Web,
                    request_type: RequestType::Complaint,
                    service_code: Some(ServiceCode::parse(code).expect("code")),
                    description: "路面破损，影响通行".into(),
                    location: Location {
                        address: Some(address.into()),
                        ..Location::default()
                    },
                    citizen: Citizen {
                        phone: Some(PHONE.into()),
                        ..Citizen::default()
                    },
                    confidential: false,
                    attributes: Default::default(),
                    media_url: None,
                    hold: false,
                }),
            },
            Duration::from_secs(5),
        )
        .await
        .expect("created");
        no
    }

    /// A step as `actor`, sent by the service that speaks for it.
    async fn act(
        &self,
        no: TicketNo,
        actor: Actor,
        action: Action,
    ) -> Result<CommandAccepted, CallError> {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let caller = hotline_tickets::callers::sender_of(&actor).expect("a service's actor");
        rpc::call(
            &self.bus,
            self.bus.subjects.ticket_commands_from(caller),
            &TicketCommand::Act {
                idempotency_key: format!("sup-act-{no}-{n}"),
                actor,
                ticket_no: no,
                action,
            },
            Duration::from_secs(5),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supervisor_reads_the_board_decides_an_extension_and_exports_the_report_and_hotspots() {
    let p = Platform::start().await;
    let console = p.console.clone();
    // Four tickets today: three in Tianhe (two of class 01, one of 02), one in Haizhu (01).
    let no = p.file("01.02.003", "广州市天河区天河路208号").await;
    p.file("01.05.001", "天河区体育西路").await;
    p.file("02.01.001", "天河区林和西路").await;
    p.file("01.02.003", "海珠区江南大道中").await;
    // Smart dispatch sends the first to the catalogue's department, which accepts it and asks
    // for more time.
    let lead = eventually("the ticket dispatched", || async {
        let t = p.ticket(no).await.ticket;
        (t.status == hotline_domain::Status::Dispatched)
            .then_some(t.lead)
            .flatten()
    })
    .await;
    let th = lead.clone();
    let department = Actor::Department { code: th.clone() };
    p.act(no, department.clone(), Action::Accept)
        .await
        .expect("accepted");
    let until = chrono::Utc::now() + chrono::Duration::days(20);
    p.act(
        no,
        department,
        Action::RequestExtension {
            reason: "需协调多个部门现场勘查".into(),
            until,
        },
    )
    .await
    .expect("extension requested");

    let mut sup = Browser::new();
    sup.sign_in(&console, "/supervisor", "supervisor1").await;
    let (status, home) = sup.page(&format!("{console}/")).await;
    assert_eq!(status, StatusCode::OK);
    for href in [
        "/supervisor\"",
        "/supervisor/report\"",
        "/supervisor/hotspots\"",
    ] {
        assert!(home.contains(href), "the home page offers {href}");
    }

    // The board: today's contacts, Tianhe's backlog, the pending request with its reason.
    let deadline = tokio::time::Instant::now() + WAIT;
    let board = loop {
        let (status, page) = sup.page(&format!("{console}/supervisor")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        // The counts may be a read behind (kept a second): wait for them too.
        let counted = page
            .find("id=\"fig-contacts\"")
            .is_some_and(|at| page[at..].contains("<span class=\"big\">4</span>"));
        if page.contains(&format!("id=\"ext-{no}\"")) && counted {
            break page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the extension request never showed: {page}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(board.contains("需协调多个部门现场勘查"));
    assert!(board.contains("hx-trigger=\"every 20s\""), "refreshed live");
    assert!(
        board.contains("id=\"as-of\""),
        "the board says when it counted"
    );
    let contacts = &board[board.find("id=\"fig-contacts\"").expect("contacts")..];
    assert!(
        contacts.contains("<span class=\"big\">4</span>"),
        "four contacts today: {contacts}"
    );
    let tianhe = &board[board.find("id=\"dept-GZ-TH\"").expect("Tianhe's row")..];
    assert!(
        tianhe.contains("<td class=\"backlog\">1</td>"),
        "one ticket with Tianhe"
    );
    assert!(!board.contains(PHONE), "no contact details on the board");
    // The live part alone (htmx's poll).
    let (status, live) = sup.page(&format!("{console}/supervisor/live")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(live.contains(&format!("id=\"ext-{no}\"")) && !live.contains("<html"));

    // Approve it with a note: without the CSRF token refused, with it recorded as supervisor1.
    let action = format!("action=\"/supervisor/extensions/{no}\"");
    let csrf = field(&board, &action, "_csrf");
    let url = format!("{console}/supervisor/extensions/{no}");
    let r = sup
        .post(&url, &[("decision", "approve"), ("note", "同意")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = sup
        .post(
            &url,
            &[
                ("_csrf", csrf.as_str()),
                ("decision", "approve"),
                ("note", "同意，请按期办结"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("a redirect")
        .to_owned();
    // The board it leads to no longer offers the request, though SLA may not have its decision
    // yet.
    let (_, after) = sup.page(&format!("{console}{location}")).await;
    assert!(
        after.contains("flash ok") && !after.contains(&format!("id=\"ext-{no}\"")),
        "the decided request is offered again"
    );
    let found = p.ticket(no).await;
    let decided = found
        .history
        .iter()
        .find(|e| e.step == "decide_extension")
        .expect("the decision in the ledger");
    assert_eq!(
        decided.actor,
        Actor::Agent {
            id: "supervisor1".into()
        }
    );
    assert!(pages_step_text(decided).contains("同意，请按期办结"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, page) = sup.page(&format!("{console}/supervisor")).await;
        if !page.contains(&format!("id=\"ext-{no}\"")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the decided request stayed on the board"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A second decision is the SLA service's refusal, shown as such.
    let r = sup
        .post(
            &url,
            &[
                ("_csrf", csrf.as_str()),
                ("decision", "deny"),
                ("note", "x"),
            ],
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());

    // The report of this month as a page, CSV and PDF.
    let (status, report) = sup.page(&format!("{console}/supervisor/report")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report.contains("id=\"report\"") && report.contains("report.csv?period="));
    let r = sup.get(&format!("{console}/supervisor/report.csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let csv = r.bytes().await.expect("csv");
    assert_eq!(csv[..3], [0xEF, 0xBB, 0xBF], "UTF-8 with a BOM");
    let csv = String::from_utf8(csv.to_vec()).expect("utf-8");
    assert!(csv.contains("部门,办结数,按时办结率"), "{csv}");
    let r = sup
        .get(&format!("{console}/supervisor/report.pdf?period=2026-Q1"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(
        hotline_console::pdf::check(&pdf),
        Ok(1),
        "a whole one-page PDF"
    );
    let (status, _) = sup
        .page(&format!("{console}/supervisor/report?period=2026-13"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a period that is none");

    // Hotspots of today: Tianhe 3, Haizhu 1; class 02 alone: Tianhe 1; both classes are new.
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
        .date_naive();
    let period = format!("{today}..{today}");
    let r = sup
        .get(&format!(
            "{console}/supervisor/hotspots.json?period={period}"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let data: serde_json::Value = r.json().await.expect("json");
    let value = |data: &serde_json::Value, code: &str| {
        data["districts"]
            .as_array()
            .expect("districts")
            .iter()
            .find(|d| d["name"] == code)
            .and_then(|d| d["value"].as_i64())
            .unwrap_or(0)
    };
    assert_eq!(value(&data, "GZ-TH"), 3, "{data}");
    assert_eq!(value(&data, "GZ-HZ"), 1, "{data}");
    assert_eq!(data["max"], 3);
    let r = sup
        .get(&format!(
            "{console}/supervisor/hotspots.json?period={period}&topic=02"
        ))
        .await;
    let data: serde_json::Value = r.json().await.expect("json");
    assert_eq!(value(&data, "GZ-TH"), 1);
    assert_eq!(value(&data, "GZ-HZ"), 0);
    let (status, page) = sup
        .page(&format!("{console}/supervisor/hotspots?period={period}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"hotspot-map\"")
            && page.contains("data-src=\"/supervisor/hotspots.json?")
    );
    assert!(
        page.contains("id=\"rise-01\"") && page.contains("id=\"rise-02\""),
        "{page}"
    );
    assert!(!page.contains("<script>"), "no inline script");

    // Another role has none of it.
    let mut dispatcher = Browser::new();
    dispatcher
        .sign_in(&console, "/dispatch/queue", "dispatcher1")
        .await;
    let (status, _) = dispatcher.page(&format!("{console}/supervisor")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The words of a history entry's action (its note).
fn pages_step_text(entry: &hotline_domain::contract::HistoryEntry) -> String {
    serde_json::to_string(&entry.action).unwrap_or_default()
}
