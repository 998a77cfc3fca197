//! The citizen web page over real HTTP: intake runs as `hotline intake` does
//! (`run_with_listener` on a port-0 listener: Postgres for photos, Redis for form tokens and
//! limits, NATS for numbers), with the tickets ledger and dispatch in-process beside it (see
//! `support`; dispatch's catalogue holds the test's noise matter, whose `when` question is
//! required). What the page did is checked in the ledger's own state and in Postgres.
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

use std::time::{Duration, Instant};

use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_domain::contract::{GetTicket, TicketQuery, TicketView, TicketWithHistory};
use hotline_domain::{Channel, TicketNo};
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

mod support;

/// A real 2×2 RGB PNG.
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xc0,
    0x00, 0xc2, 0x20, 0xe2, 0x3f, 0x00, 0x1a, 0xf3, 0x03, 0xfd, 0x42, 0x27, 0x4b, 0xb0, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
const PHONE: &str = "13800138000";
const NAME: &str = "张三丰";
const DESCRIPTION: &str = "工地夜间施工噪音很大";
const ADDRESS: &str = "天河区天河路1号";

/// Intake with its page, and the ledger and dispatch behind it.
struct Platform {
    url: String,
    http: reqwest::Client,
    bus: Bus,
    pool: sqlx::PgPool,
    redis_url: String,
    namespace: String,
    stop: CancellationToken,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn platform() -> Platform {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = env.settings().expect("settings");
    let stop = CancellationToken::new();
    support::start_tickets(&settings, &stop).await;
    support::start_dispatch(&settings, &stop).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(hotline_intake::run_with_listener(
        settings.clone(),
        listener,
        stop.clone(),
    ));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
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
        assert!(!task.is_finished(), "intake stopped before it was ready");
        assert!(Instant::now() < deadline, "intake never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Platform {
        url,
        http,
        bus: Bus::connect(&env.nats_url, &env.namespace, "intake-itest")
            .await
            .expect("NATS"),
        pool: sqlx::PgPool::connect(&env.database_url)
            .await
            .expect("Postgres"),
        redis_url: env.redis_url.clone(),
        namespace: env.namespace.clone(),
        stop,
    }
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    async fn of(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    /// The value of the attribute `attr` on the element that has `marker`.
    fn attribute(&self, marker: &str, attr: &str) -> String {
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker} in {}", self.body));
        let tag_start = self.body[..at].rfind('<').expect("a tag");
        let tag = &self.body[tag_start..];
        let tag = &tag[..tag.find('>').expect("tag end")];
        let key = format!("{attr}=\"");
        let from = tag.find(&key).expect("attribute") + key.len();
        tag[from..from + tag[from..].find('"').expect("quote")].to_owned()
    }

    fn token(&self) -> String {
        self.attribute("name=\"token\"", "value")
    }

    fn ticket_no(&self) -> TicketNo {
        let marker = "id=\"ticket-no\">";
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no receipt: {}", self.body))
            + marker.len();
        let end = at + self.body[at..].find('<').expect("end");
        TicketNo::parse(&self.body[at..end]).expect("a ticket number")
    }

    /// The `name=value` of the browser cookie the page set.
    fn cookie(&self) -> String {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("hotline_browser="))
            .and_then(|v| v.split(';').next())
            .expect("a browser cookie")
            .to_owned()
    }
}

/// A form as a browser fetches it: its token and the browser's cookie.
struct Form {
    token: String,
    cookie: String,
}

impl Platform {
    async fn get(&self, path: &str, cookie: Option<&str>, forwarded_for: Option<&str>) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.url));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(ip) = forwarded_for {
            request = request.header("x-forwarded-for", ip);
        }
        Page::of(request.send().await.expect("GET")).await
    }

    async fn form(&self) -> Form {
        let page = self.get("/", None, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        Form {
            token: page.token(),
            cookie: page.cookie(),
        }
    }

    async fn post(&self, cookie: Option<&str>, body: Multipart) -> Page {
        let (content_type, bytes) = body.finish();
        let mut request = self
            .http
            .post(format!("{}/", self.url))
            .header("content-type", content_type)
            .body(bytes);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Page::of(request.send().await.expect("POST")).await
    }

    async fn tickets(&self) -> Vec<TicketView> {
        rpc::call(
            &self.bus,
            self.bus.subjects.ticket_list(),
            &TicketQuery {
                limit: Some(100),
                ..TicketQuery::default()
            },
            Duration::from_secs(5),
        )
        .await
        .expect("the ledger lists")
    }

    async fn ticket(&self, ticket_no: TicketNo) -> TicketWithHistory {
        rpc::call(
            &self.bus,
            self.bus.subjects.ticket_get(),
            &GetTicket {
                ticket_no,
                as_department: None,
            },
            Duration::from_secs(5),
        )
        .await
        .expect("the ledger has the ticket")
    }

    async fn photos(&self) -> Vec<(i64, String, i32, Vec<u8>, Vec<u8>, String)> {
        sqlx::query_as(
            "SELECT ticket_no, content_type, size_bytes, sha256, data, file_name \
             FROM attachments.photo ORDER BY ticket_no, position",
        )
        .fetch_all(&self.pool)
        .await
        .expect("the photo table")
    }
}

/// A `multipart/form-data` body, as a browser sends it.
struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    fn new() -> Multipart {
        Multipart {
            boundary: "----hotline-itest-7MA4YWxkTrZu0gW".to_owned(),
            body: Vec::new(),
        }
    }

    fn text(mut self, name: &str, value: &str) -> Multipart {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self
    }

    fn file(mut self, name: &str, file_name: &str, content_type: &str, bytes: &[u8]) -> Multipart {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

/// The whole form filled in as a citizen would, with `description`.
fn report(token: &str, description: &str) -> Multipart {
    Multipart::new()
        .text("token", token)
        .text("category", "ENV.NOISE")
        .text("attribute[when]", "night")
        .text("description", description)
        .text("address", ADDRESS)
        .text("name", NAME)
        .text("phone", PHONE)
}

#[tokio::test]
async fn a_citizen_reports_with_a_photo_and_tracks_it_by_phone_ending() {
    let p = platform().await;
    let page = p.get("/?category=ENV.NOISE", None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert!(page.body.contains("<html lang=\"zh-CN\">"));
    assert!(
        page.body
            .contains("<option value=\"ENV.NOISE\" selected>噪音扰民</option>")
    );
    assert!(
        page.body
            .contains("<select id=\"attr-when\" name=\"attribute[when]\" required")
    );
    let cookie = page.cookie();
    let token = page.token();
    let css = p.get("/static/site.css", None, None).await;
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");

    let form = report(&token, DESCRIPTION)
        .text("photo_note_ignored", "x")
        .file("photo", "路灯.png", "image/png", TINY_PNG)
        // The second file input left empty, as browsers send it.
        .file("photo", "", "application/octet-stream", b"");
    let receipt = p.post(Some(&cookie), form).await;
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
    let no = receipt.ticket_no();
    assert!(
        receipt.body.contains("路灯.png（1 KiB）"),
        "{}",
        receipt.body
    );
    for personal in [PHONE, NAME, DESCRIPTION, ADDRESS] {
        assert!(
            !receipt.body.contains(personal),
            "{personal} on the receipt"
        );
    }

    // The ledger holds a web ticket with what was typed.
    let stored = p.ticket(no).await.ticket;
    assert_eq!(stored.channel, Channel::Web);
    assert_eq!(stored.description, DESCRIPTION);
    assert_eq!(stored.location.address.as_deref(), Some(ADDRESS));
    assert_eq!(stored.citizen.name.as_deref(), Some(NAME));
    assert!(
        stored
            .citizen
            .phone
            .as_deref()
            .is_some_and(|p| p.ends_with("8000"))
    );
    assert_eq!(stored.attributes["when"], vec!["night".to_owned()]);
    assert!(!stored.confidential);
    // And Postgres the photo, byte for byte, under the ticket's number.
    let photos = p.photos().await;
    assert_eq!(photos.len(), 1, "the empty file input stores nothing");
    let (ticket, content_type, size, sha256, data, name) = &photos[0];
    assert_eq!(*ticket as u64, no.as_u64());
    assert_eq!(content_type, "image/png");
    assert_eq!(*size as usize, TINY_PNG.len());
    assert_eq!(data.as_slice(), TINY_PNG);
    assert_eq!(sha256.as_slice(), &Sha256::digest(TINY_PNG)[..]);
    assert_eq!(name, "路灯.png");

    // Sent again (a double click, a reload): the same ticket, no second one, no second photo.
    let again = p
        .post(
            Some(&cookie),
            report(&token, DESCRIPTION).file("photo", "路灯.png", "image/png", TINY_PNG),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.ticket_no(), no);
    assert!(again.body.contains("这张表单已经提交过"));
    assert_eq!(p.tickets().await.len(), 1);
    assert_eq!(p.photos().await.len(), 1);

    // Progress with the right ending: the status and steps, nothing personal.
    let right = p
        .get(&format!("/progress?ticket_no={no}&last4=8000"), None, None)
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    assert!(right.body.contains("<dd id=\"status\">"), "{}", right.body);
    assert!(right.body.contains("<dd>噪音扰民</dd>"));
    assert!(right.body.contains("已受理"), "the first step");
    for personal in [PHONE, NAME, DESCRIPTION, ADDRESS, "8000"] {
        assert!(
            !right.body.contains(personal),
            "{personal} on the progress page"
        );
    }
    // A wrong ending and an unknown number: the same answer.
    let wrong = p
        .get(&format!("/progress?ticket_no={no}&last4=1234"), None, None)
        .await;
    let unknown_no = TicketNo::compose(no.yymmdd(), 999_999_997).expect("no");
    let unknown = p
        .get(
            &format!("/progress?ticket_no={unknown_no}&last4=8000"),
            None,
            None,
        )
        .await;
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
        assert!(page.body.contains("没有找到与该编号和手机尾号相符的工单"));
        assert!(!page.body.contains("id=\"status\""));
    }
    assert_eq!(
        wrong.body.replace(&no.to_string(), ""),
        unknown.body.replace(&unknown_no.to_string(), ""),
        "nothing tells the two apart"
    );
    let malformed = p
        .get("/progress?ticket_no=123&last4=8000", None, None)
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed
            .body
            .contains("id=\"ticket_no-error\" role=\"alert\"")
    );
}

#[tokio::test]
async fn a_nul_in_the_description_is_a_400_page_and_stores_nothing() {
    let p = platform().await;
    let form = p.form().await;
    let refused = p
        .post(
            Some(&form.cookie),
            report(&form.token, "噪音\u{0}很大").file("photo", "a.png", "image/png", TINY_PNG),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("<p class=\"error\" id=\"description-error\" role=\"alert\">"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("U+0000"));
    assert!(
        refused
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"description-error")
    );
    // What was typed is still there (the NUL dropped), to be corrected.
    assert!(refused.body.contains(&format!("value=\"{ADDRESS}\"")));
    assert!(refused.body.contains(">噪音很大</textarea>"));
    assert!(p.tickets().await.is_empty(), "no ticket");
    assert!(p.photos().await.is_empty(), "no photo");
    // The refusal did not use the token up: the corrected form goes through with it.
    assert_eq!(refused.token(), form.token);
    let fixed = p
        .post(Some(&form.cookie), report(&form.token, "噪音很大"))
        .await;
    assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
    assert!(!fixed.body.contains("这张表单已经提交过"));
    assert_eq!(p.tickets().await.len(), 1);
}

#[tokio::test]
async fn forms_need_our_token_in_the_browser_it_was_given_to_and_real_images() {
    let p = platform().await;
    let form = p.form().await;
    // Another browser (no cookie, as a cross-site post would be): refused, a fresh form.
    let stranger = p.post(None, report(&form.token, DESCRIPTION)).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN, "{}", stranger.body);
    assert!(stranger.body.contains("表单已过期"));
    assert_ne!(stranger.token(), form.token);
    // A token we never issued, in the right browser.
    let forged = p
        .post(
            Some(&form.cookie),
            report("0123456789abcdef0123456789abcdef", DESCRIPTION),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // HTML named .png and declared image/png: the bytes decide.
    let fake = p
        .post(
            Some(&form.cookie),
            report(&form.token, DESCRIPTION).file(
                "photo",
                "x.png",
                "image/png",
                b"<html><script>alert(1)</script>",
            ),
        )
        .await;
    assert_eq!(fake.status, StatusCode::BAD_REQUEST, "{}", fake.body);
    assert!(
        fake.body
            .contains("<p class=\"error\" id=\"photos-error\" role=\"alert\">")
    );
    assert!(fake.body.contains("不是 JPEG、PNG 或 WebP"));
    // Four photos: one too many.
    let mut four = report(&form.token, DESCRIPTION);
    for i in 0..4 {
        four = four.file("photo", &format!("{i}.png"), "image/png", TINY_PNG);
    }
    let too_many = p.post(Some(&form.cookie), four).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert!(too_many.body.contains("最多上传 3 张照片"));
    // A real JPEG signature, over 5 MiB: read to its end (the route takes 15 MiB), refused, and
    // the rest of the form is still there to correct.
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(5 * 1024 * 1024 + 1, 0);
    let oversized = p
        .post(
            Some(&form.cookie),
            report(&form.token, DESCRIPTION).file("photo", "big.jpg", "image/jpeg", &big),
        )
        .await;
    assert_eq!(
        oversized.status,
        StatusCode::BAD_REQUEST,
        "{}",
        oversized.body
    );
    assert!(oversized.body.contains("第 1 张照片超过 5 MiB"));
    assert!(
        oversized
            .body
            .contains(&format!(">{DESCRIPTION}</textarea>"))
    );
    // The required question unanswered: asked, next to its field.
    let unanswered = p
        .post(
            Some(&form.cookie),
            Multipart::new()
                .text("token", &form.token)
                .text("category", "ENV.NOISE")
                .text("description", DESCRIPTION)
                .text("address", ADDRESS),
        )
        .await;
    assert_eq!(unanswered.status, StatusCode::BAD_REQUEST);
    assert!(
        unanswered
            .body
            .contains("<p class=\"error\" id=\"attr-when-error\" role=\"alert\">"),
        "{}",
        unanswered.body
    );
    // Not a multipart form at all.
    let plain = p
        .http
        .post(format!("{}/", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &form.cookie)
        .body(format!("token={}&description=x", form.token))
        .send()
        .await
        .expect("POST");
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
    assert!(p.tickets().await.is_empty());
    assert!(p.photos().await.is_empty());
}

#[tokio::test]
async fn lookups_are_limited_per_client_so_the_ending_cannot_be_guessed() {
    let p = platform().await;
    let form = p.form().await;
    let receipt = p
        .post(Some(&form.cookie), report(&form.token, DESCRIPTION))
        .await;
    let no = receipt.ticket_no();
    // Behind our own proxy (the test connects from loopback) the forwarded address counts.
    let guesser = Some("203.0.113.7");
    for guess in 0..10 {
        let page = p
            .get(
                &format!("/progress?ticket_no={no}&last4={guess:04}"),
                None,
                guesser,
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "guess {guess}");
    }
    // The eleventh, even with the right ending, is refused.
    let limited = p
        .get(
            &format!("/progress?ticket_no={no}&last4=8000"),
            None,
            guesser,
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.body.contains("尝试次数过多"));
    assert!(!limited.body.contains("id=\"status\""));
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=600).contains(&retry), "{retry}");
    // The window is in Redis, and it ends.
    let client = redis::Client::open(p.redis_url.as_str()).expect("redis url");
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:web:limit:lookup:*", p.namespace))
        .query_async(&mut redis)
        .await
        .expect("KEYS");
    assert_eq!(keys.len(), 1, "one client counted: {keys:?}");
    assert!(!keys[0].contains("203.0.113.7"), "no address in Redis");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut redis)
        .await
        .expect("TTL");
    assert!((1..=600).contains(&ttl), "{ttl}");
    // Another client is not affected.
    let other = p
        .get(
            &format!("/progress?ticket_no={no}&last4=8000"),
            None,
            Some("203.0.113.8"),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
}
