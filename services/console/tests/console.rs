//! The console against the real services it calls (identity, tickets, dispatch, SLA) on the
//! real NATS, Postgres and Redis, each test in its own namespace and database:
//!
//! - sign-in is the real authorization-code flow with PKCE: the console's redirect, the
//!   identity service's sign-in page and its POST, the callback, the session cookie, driven by
//!   an HTTP client that keeps cookies and follows nothing by itself;
//! - a dispatcher dispatches a ticket from the manual queue to one of its suggestions or a
//!   chosen department, through the console;
//! - the department's staff see it in their inbox with its deadline, reveal the citizen's phone
//!   through the audited reveal, and accept, reply and complete it through the console; the
//!   ledger records the department as the actor;
//! - each person is refused the other's screens, and a step without the CSRF token is refused.

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
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);
/// Vague enough that smart dispatch asks a person.
const VAGUE: &str = "你好，我想反映一个情况，麻烦尽快处理一下，谢谢。";
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatcher_dispatches_from_the_queue_and_the_department_works_the_ticket_to_completion()
{
    let p = Platform::start().await;
    let console = p.console.clone();
    let no = p.create(VAGUE).await;

    // The dispatcher signs in and finds the ticket in the manual queue with its suggestions.
    let mut dispatcher = Browser::new();
    dispatcher
        .sign_in(&console, "/dispatch/queue", "dispatcher1")
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let queue = loop {
        let (status, page) = dispatcher.page(&format!("{console}/dispatch/queue")).await;
        if status == StatusCode::OK && page.contains(&format!("id=\"q-{no}\"")) {
            break page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ticket never reached the queue page"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!queue.contains(PHONE), "the queue shows no contact details");
    let action = format!("action=\"/dispatch/queue/{no}\"");
    let csrf = field(&queue, &action, "_csrf");

    // Without the CSRF token the dispatch is refused and nothing happens.
    let r = dispatcher
        .post(
            &format!("{console}/dispatch/queue/{no}"),
            &[("lead", "GZ-TH")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(p.ticket(no).await.ticket.status, Status::Received);

    // One click on a suggestion, to Tianhe: the button submits its row's form with its
    // department as `suggested`, the chooser left empty (the returns test below types one).
    let r = dispatcher
        .post(
            &format!("{console}/dispatch/queue/{no}"),
            &[
                ("_csrf", csrf.as_str()),
                ("lead", ""),
                ("note", "天河区处理"),
                ("suggested", "GZ-TH"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/dispatch/queue?done=dispatch");
    let found = p.ticket(no).await;
    assert_eq!(found.ticket.status, Status::Dispatched);
    assert_eq!(
        found.ticket.lead.as_ref().map(|d| d.as_str()),
        Some("GZ-TH")
    );
    let dispatched = found.history.last().expect("a step");
    assert_eq!(
        dispatched.actor,
        Actor::Agent {
            id: "dispatcher1".into()
        },
        "recorded as the person who clicked"
    );
    let (_, queue) = dispatcher.page(&format!("{console}/dispatch/queue")).await;
    assert!(
        !queue.contains(&format!("id=\"q-{no}\"")),
        "gone from the queue"
    );
    // The dispatcher has no department portal.
    let (status, _) = dispatcher.page(&format!("{console}/dept")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Tianhe's staff sign in straight into the portal and see the ticket with its deadline.
    let mut staff = Browser::new();
    staff.sign_in(&console, "/dept", "th-staff1").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let inbox = loop {
        let (_, page) = staff.page(&format!("{console}/dept")).await;
        let line = page.find(&format!("/dept/tickets/{no}\"")).and_then(|row| {
            let rest = &page[row..];
            rest.find("</tr>").map(|end| rest[..end].to_owned())
        });
        if line.is_some_and(|l| l.contains("due due-ok") || l.contains("due due-warn")) {
            break page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ticket with its sign-off deadline never showed in the inbox"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!inbox.contains(PHONE));
    let (status, _) = staff.page(&format!("{console}/dispatch/queue")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "staff have no dispatcher screens"
    );

    // The ticket: masked contact, then the audited reveal.
    let ticket_url = format!("{console}/dept/tickets/{no}");
    let (status, page) = staff.page(&ticket_url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("138****5678"),
        "masked as the tickets API gives it"
    );
    assert!(!page.contains(PHONE));
    let csrf = field(&page, &format!("/dept/tickets/{no}/reveal"), "_csrf");
    let r = staff
        .post(
            &format!("{ticket_url}/reveal"),
            &[("_csrf", csrf.as_str()), ("reason", "联系市民核实地址")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("body").contains(PHONE), "revealed");

    // Accept, reply, complete: each from the page's own form, with its CSRF token and key.
    for (step, fields) in [
        ("accept", vec![]),
        ("reply", vec![("text", "已安排现场处理，问题已解决。")]),
        ("complete", vec![("note", "办结")]),
    ] {
        let (_, page) = staff.page(&ticket_url).await;
        let action = format!("/dept/tickets/{no}/act/{step}");
        assert!(page.contains(&action), "{step} is offered: {page}");
        let csrf = field(&page, &action, "_csrf");
        let key = field(&page, &action, "key");
        let mut form = vec![("_csrf", csrf.as_str()), ("key", key.as_str())];
        form.extend(fields);
        let r = staff.post(&format!("{console}{action}"), &form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{step}");
        let (_, after) = staff.page(&absolute(&console, location(&r))).await;
        assert!(after.contains("flash ok"), "{step} done");
    }
    let found = p.ticket(no).await;
    assert_eq!(found.ticket.status, Status::Completed);
    let department = Actor::Department {
        code: hotline_domain::DeptCode::parse("GZ-TH").expect("code"),
    };
    for step in ["accept", "reply", "complete"] {
        let entry = found
            .history
            .iter()
            .find(|e| e.step == step)
            .unwrap_or_else(|| panic!("{step} in the history"));
        assert_eq!(entry.actor, department, "{step} recorded as the department");
    }

    // Signing out ends the session: the next page asks to sign in again.
    let (_, page) = staff.page(&ticket_url).await;
    let csrf = field(&page, "action=\"/auth/logout\"", "_csrf");
    let r = staff
        .post(
            &format!("{console}/auth/logout"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = staff.get(&format!("{console}/dept")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/auth/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_callback_signs_nobody_in() {
    let p = Platform::start().await;
    let console = p.console.clone();
    let mut browser = Browser::new();
    // A callback this browser never started (another's code and state): refused.
    let r = browser
        .get(&format!(
            "{console}/auth/callback?code=stolen-code&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!browser.cookies.contains_key("hotline_console"));
    // A started sign-in whose state comes back altered: refused too.
    let r = browser.get(&format!("{console}/auth/login")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = browser
        .get(&format!(
            "{console}/auth/callback?code=x&state=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!browser.cookies.contains_key("hotline_console"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_return_is_reviewed_with_its_deadline_and_re_dispatched() {
    let p = Platform::start().await;
    let console = p.console.clone();
    let no = p.create(VAGUE).await;
    let mut dispatcher = Browser::new();
    dispatcher
        .sign_in(&console, "/dispatch/queue", "dispatcher1")
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let queue = loop {
        let (_, page) = dispatcher.page(&format!("{console}/dispatch/queue")).await;
        if page.contains(&format!("id=\"q-{no}\"")) {
            break page;
        }
        assert!(tokio::time::Instant::now() < deadline, "never queued");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let csrf = field(&queue, &format!("action=\"/dispatch/queue/{no}\""), "_csrf");
    let r = dispatcher
        .post(
            &format!("{console}/dispatch/queue/{no}"),
            &[("_csrf", csrf.as_str()), ("lead", "GZ-TH")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Tianhe returns it: not theirs.
    let mut staff = Browser::new();
    let ticket_url = format!("{console}/dept/tickets/{no}");
    let page = staff
        .sign_in(&console, &format!("/dept/tickets/{no}"), "th-staff1")
        .await;
    let action = format!("/dept/tickets/{no}/act/return");
    let csrf = field(&page, &action, "_csrf");
    let key = field(&page, &action, "key");
    let r = staff
        .post(
            &format!("{console}{action}"),
            &[
                ("_csrf", csrf.as_str()),
                ("key", key.as_str()),
                ("reason", "属海珠区辖区，非本区职责"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(p.ticket(no).await.ticket.status, Status::Returned);
    // A second return is refused by the ledger and shown as such (409), not as success.
    let r = staff
        .post(
            &format!("{console}{action}"),
            &[("_csrf", csrf.as_str()), ("reason", "again")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // The dispatcher sees it with the reason and the review's deadline, and re-dispatches it.
    let deadline = tokio::time::Instant::now() + WAIT;
    let returns = loop {
        let (_, page) = dispatcher
            .page(&format!("{console}/dispatch/returns"))
            .await;
        let line = page
            .find(&format!("/dispatch/tickets/{no}\""))
            .and_then(|row| {
                let rest = &page[row..];
                rest.find("</tr>").map(|end| rest[..end].to_owned())
            });
        if line.as_deref().is_some_and(|l| {
            l.contains("属海珠区辖区") && (l.contains("due due-ok") || l.contains("due due-warn"))
        }) {
            break page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the return never showed with its reason and deadline"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let action = format!("action=\"/dispatch/returns/{no}\"");
    let csrf = field(&returns, &action, "_csrf");
    let r = dispatcher
        .post(
            &format!("{console}/dispatch/returns/{no}"),
            &[
                ("_csrf", csrf.as_str()),
                ("decision", "redispatch"),
                ("lead", "GZ-HZ"),
                ("note", "改派海珠区"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let found = p.ticket(no).await;
    assert_eq!(found.ticket.status, Status::Dispatched);
    assert_eq!(
        found.ticket.lead.as_ref().map(|d| d.as_str()),
        Some("GZ-HZ")
    );
    // Tianhe no longer holds it: its staff cannot act on it any more.
    let (_, page) = staff.page(&ticket_url).await;
    assert!(
        !page.contains(&format!("/dept/tickets/{no}/act/")),
        "no steps offered"
    );
}
