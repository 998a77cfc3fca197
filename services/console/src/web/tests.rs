//! The router with a memory session store and no services behind it: the headers every answer
//! carries, the CSRF check before any step, the language, the 403 home page.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::*;
use crate::session::{Session, random_token};

fn console() -> Console {
    // The services are "not running" on a port nothing listens on, whatever runs on this
    // machine's default ports (a local demo would answer the default 8081).
    let nowhere = "http://127.0.0.1:9".to_owned();
    let settings = hotline_config::Settings::load_from(
        None,
        [
            ("HOTLINE__CONSOLE__TICKETS_URL".to_owned(), nowhere.clone()),
            ("HOTLINE__CONSOLE__DISPATCH_URL".to_owned(), nowhere.clone()),
            ("HOTLINE__CONSOLE__SLA_URL".to_owned(), nowhere),
        ],
    )
    .expect("settings");
    let clock = Clock::new();
    Console::with_clock(&settings, Store::memory(clock), clock).expect("console")
}

/// A session in `console`'s store with `roles` (and `dept`): its cookie and CSRF token. The
/// screens' own router tests (knowledge, review) sign in with it too.
pub(crate) async fn signed_in(
    console: &Console,
    roles: &[&str],
    dept: Option<&str>,
) -> (String, String) {
    let now = console.sessions().now_ms();
    let csrf = random_token();
    let session = Session {
        subject: "someone".into(),
        name: None,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        department: dept.map(str::to_owned),
        access_token: "not-a-real-token".into(),
        refresh_token: "not-a-real-refresh-token".into(),
        access_expires_at: now + 3_600_000,
        created_at: now,
        last_seen: now,
        csrf: csrf.clone(),
    };
    let id = console.sessions().create(&session).await.expect("stored");
    (format!("hotline_console={}", id.as_str()), csrf)
}

async fn send(
    console: &Console,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router(console.clone())
        .oneshot(request)
        .await
        .expect("answered");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn get(uri: &str) -> axum::http::request::Builder {
    Request::builder().uri(uri)
}

/// The status of `request` through `console`'s router.
pub(crate) async fn status_of(console: &Console, request: Request<Body>) -> StatusCode {
    router(console.clone())
        .oneshot(request)
        .await
        .expect("answered")
        .status()
}

/// A form POST with the session's cookie.
pub(crate) fn form_post(uri: &str, cookie: &str, body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

/// A GET with the session's cookie.
pub(crate) fn get_signed(uri: &str, cookie: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn every_answer_carries_the_csp_and_no_framing() {
    let c = console();
    for uri in ["/", "/assets/htmx.min.js", "/no-such-page", "/dept"] {
        let (_, headers, _) = send(&c, get(uri).body(Body::empty()).expect("request")).await;
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert_eq!(csp, CSP, "{uri}");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{directive}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let c = console();
    let (cookie, _) = signed_in(&c, &["dispatcher"], None).await;
    let (status, _, body) = send(
        &c,
        get("/")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/dispatch/queue"), "the dispatcher's screens");
    assert!(!body.contains("/dept\""), "no department portal");
    for inline in ["<script>", "<style", " style=", " onclick=", "javascript:"] {
        assert!(!body.contains(inline), "{inline} in {body}");
    }
    assert!(body.contains("<script src=\"/assets/htmx.min.js?v="));
}

#[tokio::test]
async fn a_post_without_this_sessions_csrf_token_is_refused() {
    let c = console();
    let (cookie, csrf) = signed_in(&c, &["department_staff"], Some("GZ-TH")).await;
    let no = hotline_domain::TicketNo::compose(260301, 17).expect("a number");
    let uri = format!("/dept/tickets/{no}/act/accept");
    let post = |body: String, extra: Option<(&'static str, String)>| {
        let mut b = Request::builder()
            .method("POST")
            .uri(&uri)
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((k, v)) = extra {
            b = b.header(k, v);
        }
        b.body(Body::from(body)).expect("request")
    };
    for (body, extra) in [
        (String::new(), None),
        (format!("_csrf={}", random_token()), None),
        (
            format!("_csrf={csrf}"),
            Some(("origin", "https://evil.example".to_owned())),
        ),
        (String::new(), Some(("x-csrf-token", random_token()))),
    ] {
        let (status, _, page) = send(&c, post(body.clone(), extra)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(page.contains(crate::i18n::ZH.err_csrf));
    }
    // With the token the request passes the check and reaches the tickets API, which is not
    // running here: 503, not 403.
    let (status, _, _) = send(&c, post(format!("_csrf={csrf}"), None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = send(
        &c,
        post(String::new(), Some(("x-csrf-token", csrf.clone()))),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // Signing out needs it too, and then the session is gone.
    let logout = |body: String| {
        Request::builder()
            .method("POST")
            .uri("/auth/logout")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request")
    };
    let (status, _, _) = send(&c, logout(String::new())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = send(&c, logout(format!("_csrf={csrf}"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cleared = headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(cleared.starts_with("hotline_console=;") && cleared.contains("Max-Age=0"));
    let (status, headers, _) = send(
        &c,
        get("/dept")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out");
    assert!(
        headers[header::LOCATION]
            .to_str()
            .is_ok_and(|l| l.starts_with("/auth/login?return_to=%2Fdept"))
    );
}

#[tokio::test]
async fn a_person_without_a_screen_gets_a_plain_403_and_a_screen_outside_their_roles_too() {
    let c = console();
    let (cookie, _) = signed_in(&c, &["knowledge_editor"], Some("GZ-TH")).await;
    let (status, _, body) = send(
        &c,
        get("/")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains(crate::i18n::ZH.err_forbidden));
    let (cookie, _) = signed_in(&c, &["department_staff"], Some("GZ-TH")).await;
    for uri in [
        "/dispatch/queue",
        "/dispatch/returns",
        "/dispatch/catalogue",
        "/agent",
        "/agent/events",
        "/agent/tickets",
    ] {
        let (status, _, _) = send(
            &c,
            get(uri)
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
    }
    let (cookie, _) = signed_in(&c, &["dispatcher"], None).await;
    let (status, _, _) = send(
        &c,
        get("/dept")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn english_is_chosen_by_query_remembered_by_cookie_and_chinese_is_the_default() {
    let c = console();
    let (_, _, body) = send(&c, get("/").body(Body::empty()).expect("request")).await;
    assert!(body.contains("lang=\"zh-CN\"") && body.contains(crate::i18n::ZH.signin_title));
    let (_, headers, body) = send(&c, get("/?lang=en").body(Body::empty()).expect("request")).await;
    assert!(body.contains("lang=\"en\"") && body.contains(crate::i18n::EN.signin_title));
    let set = headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(set.starts_with("hotline_lang=en;") && set.contains("Max-Age=31536000"));
    let (_, _, body) = send(
        &c,
        get("/")
            .header(header::COOKIE, "hotline_lang=en")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert!(body.contains(crate::i18n::EN.signin_title));
    let (_, _, body) = send(
        &c,
        get("/")
            .header(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert!(body.contains(crate::i18n::EN.signin_title));
}

#[tokio::test]
async fn an_htmx_request_without_a_session_is_sent_to_sign_in_by_header() {
    let c = console();
    let (status, headers, _) = send(
        &c,
        get("/dept/rows")
            .header("hx-request", "true")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["hx-redirect"]
            .to_str()
            .is_ok_and(|l| l.starts_with("/auth/login?return_to="))
    );
}

#[test]
fn the_origin_is_the_public_urls() {
    assert_eq!(
        origin_of("https://console.example.org/base"),
        "https://console.example.org"
    );
    assert_eq!(origin_of("http://127.0.0.1:8089"), "http://127.0.0.1:8089");
}

/// A stand-in for the dispatch API: a manual queue of `rows` tickets, each with three
/// suggestions as smart dispatch gives them, and the demo catalogue; it keeps the departments
/// dispatches were asked for. Serves until the test ends.
async fn dispatch_api(rows: u64) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::routing::{get, post};
    let entries = hotline_dispatch::catalogue::demo_entries().expect("the demo catalogue");
    let queue: Vec<serde_json::Value> = (1..=rows)
        .map(|i| {
            let no = hotline_domain::TicketNo::compose(261213, i).expect("a number");
            let candidate = |category: &str, p: f64, lead: &str| {
                serde_json::json!({
                    "category": category,
                    "probability": p,
                    "matter": "03.01.001",
                    "matter_name": "路灯不亮",
                    "lead": lead,
                    "why": format!("class {category} has the matter; district matter, 天河区"),
                })
            };
            serde_json::json!({
                "ticket_no": no.to_string(),
                "reason": "confidence 0.41 below 0.85",
                "ticket": {
                    "ticket_no": no.to_string(),
                    "status": "received",
                    "channel": "email",
                    "request_type": "complaint",
                    "description": format!("你好，有件事想反映一下，麻烦处理。{i}"),
                    "location": {"address": format!("广州市天河区天河路{i}号")},
                    "created_at": "2026-12-13T01:00:00Z",
                    "updated_at": "2026-12-13T01:00:00Z",
                },
                "enqueued_at": "2026-12-13T01:00:01Z",
                "priority": "normal",
                "suggestions": {
                    "model": "shipped",
                    "auto": false,
                    "candidates": [
                        candidate("市政设施", 0.41, "GZ-TH"),
                        candidate("城市管理", 0.22, "GZ-CG"),
                        candidate("交通运输", 0.12, "GZ-JT"),
                    ],
                },
            })
        })
        .collect();
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = asked.clone();
    let app = axum::Router::new()
        .route(
            "/v1/manual-queue",
            get(move || {
                let queue = queue.clone();
                async move { axum::Json(queue) }
            }),
        )
        .route(
            "/v1/manual-queue/{no}/dispatch",
            post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let kept = kept.clone();
                async move {
                    if let Ok(mut kept) = kept.lock() {
                        kept.push(body["lead"].as_str().unwrap_or("").to_owned());
                    }
                    axum::Json(serde_json::json!({"ticket_no": "", "replayed": false}))
                }
            }),
        )
        .route(
            "/v1/catalogue",
            get(move || {
                let entries = entries.clone();
                async move { axum::Json(entries) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, asked)
}

#[tokio::test]
async fn the_manual_queue_of_100_tickets_keeps_every_rows_choices_in_a_light_page() {
    let (dispatch, asked) = dispatch_api(100).await;
    let settings = hotline_config::Settings::load_from(
        None,
        [("HOTLINE__CONSOLE__DISPATCH_URL".to_owned(), dispatch)],
    )
    .expect("settings");
    let clock = Clock::new();
    let c = Console::with_clock(&settings, Store::memory(clock), clock).expect("console");
    let (cookie, csrf) = signed_in(&c, &["dispatcher"], None).await;
    let (status, _, body) = send(
        &c,
        get("/dispatch/queue")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.matches("<datalist id=\"departments\">").count(), 1);
    assert!(
        body.contains("<option value=\"GZ-JT\">"),
        "the catalogue's departments offered"
    );
    let rows: Vec<&str> = body
        .split("<section class=\"card queued\"")
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 100);
    for (row, i) in rows.iter().zip(1..) {
        let no = hotline_domain::TicketNo::compose(261213, i).expect("a number");
        assert!(row.starts_with(&format!(" id=\"q-{no}\"")), "{row}");
        // One form: the chooser's, which deploy/peers/console.py fills in (`choose-{no}`) and
        // submits with its own button; the suggestions' buttons submit it too.
        assert_eq!(row.matches("<form").count(), 1, "{row}");
        let form = &row[row.find("<form").expect("a form")..];
        assert!(form.starts_with(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/dispatch/queue/{no}\" id=\"d-{no}\">"
        )));
        assert!(form.contains(&format!("name=\"_csrf\" value=\"{csrf}\"")));
        assert!(form.contains(&format!("name=\"lead\" id=\"choose-{no}\"")));
        assert!(form.contains("<button type=\"submit\">"));
        for (j, lead) in ["GZ-TH", "GZ-CG", "GZ-JT"].iter().enumerate() {
            assert!(
                row.contains(&format!(
                    "form=\"d-{no}\" name=\"suggested\" value=\"{lead}\" id=\"suggest-{no}-{j}\""
                )),
                "{row}"
            );
        }
    }
    // 238 KB when each suggestion was a form of its own with its CSRF field and an unused
    // idempotency key; 163 KB with one form per row.
    assert!(
        body.len() < 175_000,
        "the queue of 100 is {} bytes",
        body.len()
    );

    // What the browser sends: a suggestion's button with the chooser left empty, and the
    // chooser's own button with a department typed in.
    let no = hotline_domain::TicketNo::compose(261213, 7).expect("a number");
    for (form, expected) in [
        (format!("_csrf={csrf}&lead=&note=&suggested=GZ-CG"), "GZ-CG"),
        (format!("_csrf={csrf}&lead=GZ-HZ&note=%E6%94%B9"), "GZ-HZ"),
    ] {
        let (status, headers, page) = send(
            &c,
            Request::builder()
                .method("POST")
                .uri(format!("/dispatch/queue/{no}"))
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.clone()))
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{form}: {page}");
        assert_eq!(headers[header::LOCATION], "/dispatch/queue?done=dispatch");
        let last = asked.lock().ok().and_then(|a| a.last().cloned());
        assert_eq!(last.as_deref(), Some(expected), "{form}");
    }
}
