//! The department portal's knowledge items against the real services (identity, tickets,
//! dispatch with its catalogue, knowledge with its demo items) on the real NATS, Postgres and
//! Redis:
//!
//! - the centre writes and publishes an item owned by Tianhe (GZ-TH) through the knowledge API
//!   (the demo items belong to other departments);
//! - th-staff1 (Tianhe's staff and knowledge editor) signs in, finds it in the department's list,
//!   edits its draft through the console's form and submits it; the knowledge service records
//!   GZ-TH as the writer and the version goes to review; a submit without the CSRF token is
//!   refused;
//! - a save against a version read before another save (a new draft, then a replaced draft) is
//!   shown as a conflict with the person's text kept, and the stored draft is not touched;
//! - another department's item is refused: its page, its form, a save and a submit;
//! - the diff between the published version and the draft shows the changed answer, and a
//!   rejection's note reaches the list;
//! - the centre's review (kb-centre1, the centre's knowledge editor): Tianhe's submission waits
//!   in the queue, its page shows it beside the published version with the diff; sent back with
//!   a note (none: refused), which Tianhe's list shows; resubmitted; a publish from the page read
//!   before is a conflict (the ETag as If-Match) and publishes nothing; published from the page
//!   now (the public tree answers the new text); retired with a reason; Tianhe's editor gets 403
//!   on every review page and step.

mod common;

use common::{Browser, eventually, field};

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(90);
/// The hotline centre's department token (the demo's): writes for any department, publishes.
const CENTRE: &str = "demo-gz-centre";
/// A matter of the demo catalogue (publishing checks the item's matter against it).
const MATTER: &str = "01.01.002";

struct Platform {
    console: String,
    knowledge: String,
    http: reqwest::Client,
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
        tokio::spawn(hotline_console::run(settings.clone(), stop.clone()));
        let http = reqwest::Client::new();
        for port in [
            settings.identity.port,
            settings.tickets.port,
            settings.dispatch.port,
            settings.knowledge.port,
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
        let knowledge = format!("http://127.0.0.1:{}", settings.knowledge.port);
        // The demo items are published in the background once the catalogue answers: then the
        // catalogue is there for this test's item too.
        eventually("the demo knowledge", || {
            let http = http.clone();
            let url = format!("{knowledge}/v1/search?q=%E5%8C%BB%E4%BF%9D");
            async move {
                let v: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                (v["total"].as_u64()? > 0).then_some(())
            }
        })
        .await;
        Platform {
            console: settings.console_public_url(),
            knowledge,
            http,
            stop,
        }
    }

    /// The knowledge API as the centre: `method path` with `body`, the status and the answer.
    async fn centre(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.knowledge))
            .bearer_auth(CENTRE);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("the knowledge API");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The item's versions, newest first.
    async fn versions(&self, code: &str) -> Vec<Value> {
        let (status, v) = self
            .centre(
                reqwest::Method::GET,
                &format!("/v1/items/{code}/versions"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["versions"].as_array().cloned().expect("versions")
    }

    async fn version(&self, code: &str, version: i64) -> Value {
        let (status, v) = self
            .centre(
                reqwest::Method::GET,
                &format!("/v1/items/{code}/versions/{version}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["item"].clone()
    }
}

/// The answer of the first leaf (`<code>-A1`, under the situation) in a stored item.
fn first_answer(item: &Value) -> String {
    item["nodes"][0]["children"][0]["answer"]
        .as_str()
        .expect("an answer")
        .to_owned()
}

/// The edit form as a browser sends it: every field of the page's form, with `changes`.
fn form_of(page: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let start = page.find("id=\"edit-form\"").expect("the edit form");
    let form = &page[start
        ..page[start..]
            .find("</form>")
            .map_or(page.len(), |e| start + e)];
    let mut fields: Vec<(String, String)> = Vec::new();
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    // Inputs (text, hidden, date): name then value.
    for part in form.split("<input ").skip(1) {
        let tag = part.split('>').next().unwrap_or("");
        // An unchecked box is not sent.
        if tag.contains("type=\"checkbox\"") && !tag.contains(" checked") {
            continue;
        }
        let name = tag
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        let value = tag
            .split("value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        if let (Some(n), Some(v)) = (name, value) {
            fields.push((n.to_owned(), unescape(v)));
        }
    }
    // Textareas: the text after the tag (its first line break is the parser's).
    for part in form.split("<textarea ").skip(1) {
        let (tag, rest) = part.split_once('>').expect("a tag");
        let name = tag
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a name");
        let text = rest.split("</textarea>").next().unwrap_or("");
        let text = text.strip_prefix('\n').unwrap_or(text);
        fields.push((name.to_owned(), unescape(text)));
    }
    // The selected class.
    let select = form.split("<select ").nth(1).expect("the class");
    let selected = select
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.split('>').next().is_some_and(|t| t.contains(" selected")))
        .and_then(|o| o.split('"').next())
        .expect("a class selected");
    fields.push(("class".to_owned(), selected.to_owned()));
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(f) => f.1 = (*value).to_owned(),
            // A box ticked, a choice made.
            None if form.contains(&format!("name=\"{name}\"")) => {
                fields.push(((*name).to_owned(), (*value).to_owned()));
            }
            None => panic!("no field {name} in the form"),
        }
    }
    fields
}

impl Browser {
    async fn post_form(&mut self, url: &str, form: &[(String, String)]) -> reqwest::Response {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post(url, &pairs).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tianhe_edits_and_submits_its_item_is_refused_another_departments_and_sees_a_stale_save_as_a_conflict()
 {
    let p = Platform::start().await;
    let console = p.console.clone();

    // Tianhe's item, written and published by the centre (the demo has none of Tianhe's).
    let code = format!("TH{}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000);
    let item = json!({
        "code": code, "title": "天河区测试事项", "class": "consultation", "matter_code": MATTER,
        "owner": "GZ-TH",
        "nodes": [
            {"kind": "situation", "code": format!("{code}-S1"), "label": "本区居民", "children": [
                {"kind": "answer", "code": format!("{code}-A1"), "title": "本区居民的答复",
                 "answer": "请携带身份证到天河区政务服务中心办理。", "departments": ["GZ-TH"],
                 "materials": ["身份证"], "effective_from": "2026-01-01"}
            ]},
            {"kind": "answer", "code": format!("{code}-A2"), "title": "其他情况", "answer": "请拨打12345咨询。"}
        ]
    });
    centre_publishes(&p, &code, item).await;
    // Another department's published item (a demo item of Human Resources and Social Security).
    let (status, listed) = p
        .centre(
            reqwest::Method::GET,
            "/v1/items?department=GZ-RS&limit=1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let other = listed["items"][0]["code"]
        .as_str()
        .expect("a GZ-RS item")
        .to_owned();

    // th-staff1 signs in at the list: Tianhe's item, published; nothing of GZ-RS's.
    let mut th = Browser::new();
    let list = th.sign_in(&console, "/dept/knowledge", "th-staff1").await;
    assert!(
        list.contains(&format!("href=\"/dept/knowledge/{code}\"")),
        "{list}"
    );
    assert!(list.contains("已发布"), "the status: {list}");
    assert!(
        !list.contains(&format!("/dept/knowledge/{other}\"")),
        "{list}"
    );
    assert!(
        list.contains("href=\"/dept/knowledge\" aria-current=\"page\""),
        "the portal's navigation links the list: {list}"
    );
    let (_, english) = th.page(&format!("{console}/dept/knowledge?lang=en")).await;
    assert!(english.contains("Our knowledge items"), "{english}");
    let (_, _) = th.page(&format!("{console}/dept/knowledge?lang=zh")).await;

    // The item's page: the published content, no working version yet, the way to edit.
    let (status, page) = th.page(&format!("{console}/dept/knowledge/{code}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("请携带身份证到天河区政务服务中心办理。"),
        "{page}"
    );
    assert!(page.contains("id=\"edit\""), "{page}");
    assert!(!page.contains("id=\"submit\""), "nothing to submit yet");

    // Two forms read from the published version 1 (two tabs).
    let a1 = format!("l.{code}-A1.answer");
    let a1 = a1.as_str();
    let (status, first_form) = th
        .page(&format!("{console}/dept/knowledge/{code}/edit"))
        .await;
    assert_eq!(status, StatusCode::OK, "{first_form}");
    let second_form = first_form.clone();
    assert!(field(&first_form, "id=\"edit-form\"", "base").starts_with("1:published:"));

    // The first saves: a new draft, version 2, written by GZ-TH.
    let saved_text = "请携带身份证和户口簿到天河区政务服务中心办理。\r\n可先在网上预约。";
    let r = th
        .post_form(
            &format!("{console}/dept/knowledge/{code}/edit"),
            &form_of(&first_form, &[(a1, saved_text)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION].to_str().expect("ascii"),
        format!("/dept/knowledge/{code}?done=saved")
    );
    let versions = p.versions(&code).await;
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["status"], "draft");
    assert_eq!(versions[0]["written_by"], "GZ-TH");
    let draft = p.version(&code, 2).await;
    assert_eq!(
        first_answer(&draft),
        "请携带身份证和户口簿到天河区政务服务中心办理。\n可先在网上预约。",
        "saved with the browser's CRLF as LF"
    );
    assert_eq!(
        draft["nodes"][1]["answer"], "请拨打12345咨询。",
        "the rest is kept"
    );
    assert_eq!(draft["owner"], "GZ-TH");

    // The second tab saves against version 1: a conflict, shown with its text, nothing written.
    let stale_text = "第二个标签页里的修改。";
    let r = th
        .post_form(
            &format!("{console}/dept/knowledge/{code}/edit"),
            &form_of(&second_form, &[(a1, stale_text)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let conflict = r.text().await.expect("body");
    assert!(conflict.contains("id=\"conflict\""), "{conflict}");
    assert!(
        conflict.contains(stale_text),
        "the person's text is kept: {conflict}"
    );
    assert!(
        field(&conflict, "id=\"edit-form\"", "base").starts_with("2:draft:"),
        "the form is now against the version there"
    );
    assert_eq!(
        first_answer(&p.version(&code, 2).await),
        first_answer(&draft),
        "the stale save wrote nothing"
    );

    // The same with a replaced draft (same version number, written again since the read).
    let materials = format!("l.{code}-A1.materials");
    let remove_a2 = format!("l.{code}-A2.remove");
    let (s1, a3) = (format!("{code}-S1"), format!("{code}-A3"));
    let (_, third_form) = th
        .page(&format!("{console}/dept/knowledge/{code}/edit"))
        .await;
    let (_, fourth_form) = th
        .page(&format!("{console}/dept/knowledge/{code}/edit"))
        .await;
    let r = th
        .post_form(
            &format!("{console}/dept/knowledge/{code}/edit"),
            &form_of(
                &third_form,
                &[
                    (a1, "第三次修改后的答复。"),
                    (materials.as_str(), "身份证\r\n户口簿"),
                    // One answer removed, one added under the situation.
                    (remove_a2.as_str(), "1"),
                    ("new.parent", s1.as_str()),
                    ("new.code", a3.as_str()),
                    ("new.title", "持居住证的居民"),
                    ("new.answer", "持居住证的居民请携带居住证办理。"),
                ],
            ),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = th
        .post_form(
            &format!("{console}/dept/knowledge/{code}/edit"),
            &form_of(&fourth_form, &[(a1, "第四次。")]),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a replaced draft is a change too"
    );
    let draft = p.version(&code, 2).await;
    assert_eq!(first_answer(&draft), "第三次修改后的答复。");
    assert_eq!(
        draft["nodes"][0]["children"][0]["materials"],
        json!(["身份证", "户口簿"])
    );
    assert_eq!(p.versions(&code).await.len(), 2, "still one draft");
    assert_eq!(
        draft["nodes"].as_array().map(Vec::len),
        Some(1),
        "A2 removed"
    );
    let added = &draft["nodes"][0]["children"][1];
    assert_eq!(added["code"], a3.as_str());
    assert_eq!(added["answer"], "持居住证的居民请携带居住证办理。");
    assert_eq!(added["departments"], json!(["GZ-TH"]));

    // The item's page shows the draft beside the published version; the diff names the change.
    let (status, page) = th
        .page(&format!("{console}/dept/knowledge/{code}?done=saved"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("草稿已保存"), "{page}");
    assert!(
        page.contains("第三次修改后的答复。")
            && page.contains("请携带身份证到天河区政务服务中心办理。")
    );
    assert!(
        page.contains(&format!("/dept/knowledge/{code}/diff?from=1&amp;to=2")),
        "{page}"
    );
    let (status, diff) = th
        .page(&format!("{console}/dept/knowledge/{code}/diff?from=1&to=2"))
        .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert!(diff.contains(&format!("{code}-A1")), "{diff}");
    assert!(
        diff.contains("请携带身份证到天河区政务服务中心办理。")
            && diff.contains("第三次修改后的答复。"),
        "before and after: {diff}"
    );
    assert!(
        diff.contains("身份证；户口簿"),
        "a list on one line: {diff}"
    );
    assert!(
        diff.contains(&format!(
            "{code}-A2</td><td>删除</td><td class=\"text\">其他情况<"
        )) && diff.contains(&format!(
            "{code}-A3</td><td>新增</td><td class=\"text\"></td><td class=\"text\">持居住证的居民<"
        )),
        "the removed and the added answer: {diff}"
    );
    assert!(!diff.contains(&s1), "an unchanged situation is not listed");

    // Submit: refused without the CSRF token, then done.
    let csrf = field(&page, "id=\"actions\"", "_csrf");
    let r = th
        .post(&format!("{console}/dept/knowledge/{code}/submit"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(p.versions(&code).await[0]["status"], "draft");
    let r = th
        .post(
            &format!("{console}/dept/knowledge/{code}/submit"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let versions = p.versions(&code).await;
    assert_eq!(versions[0]["status"], "review");
    assert_eq!(versions[0]["version"], 2);
    let (_, page) = th
        .page(&format!("{console}/dept/knowledge/{code}?done=submitted"))
        .await;
    assert!(
        page.contains("已提交审核") && page.contains("等待热线中心审核"),
        "{page}"
    );
    assert!(!page.contains("id=\"edit\""), "no editing in review");
    let (status, _) = th
        .page(&format!("{console}/dept/knowledge/{code}/edit"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A form read before the submit is stale now (the status changed, not the version).
    let r = th
        .post_form(
            &format!("{console}/dept/knowledge/{code}/edit"),
            &form_of(&fourth_form, &[]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(p.versions(&code).await[0]["status"], "review");

    // The centre sends it back with a note: the list shows it.
    let (status, v) = p
        .centre(
            reqwest::Method::POST,
            &format!("/v1/items/{code}/reject"),
            Some(json!({"note": "请补充法律依据"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, list) = th.page(&format!("{console}/dept/knowledge")).await;
    assert!(
        list.contains("请补充法律依据") && list.contains("已退回"),
        "{list}"
    );

    // Another department's item: not shown, not editable, not submittable.
    for path in [
        format!("/dept/knowledge/{other}"),
        format!("/dept/knowledge/{other}/edit"),
        format!("/dept/knowledge/{other}/diff?from=1&to=1"),
    ] {
        let (status, body) = th.page(&format!("{console}{path}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(!body.contains("name=\"base\""), "{path}");
    }
    let before = p.versions(&other).await;
    let info = &before[0];
    let base = format!(
        "{}:{}:{}",
        info["version"],
        info["status"].as_str().expect("status"),
        info["written_at"].as_str().expect("time")
    );
    let r = th
        .post(
            &format!("{console}/dept/knowledge/{other}/edit"),
            &[
                ("_csrf", csrf.as_str()),
                ("base", base.as_str()),
                ("title", "天河改的"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = th
        .post(
            &format!("{console}/dept/knowledge/{other}/submit"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let after = p.versions(&other).await;
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0]["written_at"], info["written_at"], "untouched");
    assert_ne!(after[0]["title"], "天河改的");
}

/// An attribute's text as a browser sends it back.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `item` written, submitted and published by the centre through the knowledge API.
async fn centre_publishes(p: &Platform, code: &str, item: Value) {
    let (status, v) = p
        .centre(
            reqwest::Method::PUT,
            &format!("/v1/items/{code}/draft?submit=true"),
            Some(item),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = p
        .centre(
            reqwest::Method::POST,
            &format!("/v1/items/{code}/publish"),
            Some(json!({"note": "test item"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// Tianhe's item `code` (answer A1 `answer`), written and published by the centre through the
/// knowledge API: version 1.
async fn publish_tianhe_item(p: &Platform, code: &str, answer: &str) {
    let item = json!({
        "code": code, "title": "天河区审核测试事项", "class": "consultation", "matter_code": MATTER,
        "owner": "GZ-TH",
        "nodes": [
            {"kind": "situation", "code": format!("{code}-S1"), "label": "本区居民", "children": [
                {"kind": "answer", "code": format!("{code}-A1"), "title": "本区居民的答复",
                 "answer": answer, "departments": ["GZ-TH"]}
            ]}
        ]
    });
    centre_publishes(p, code, item).await;
}

/// The published answer A1 of `code` as agents and citizens get it (the public tree), or
/// `None` when nothing of the item is published.
async fn published_answer(p: &Platform, code: &str) -> Option<String> {
    let r = p
        .http
        .get(format!(
            "{}/v1/items/{code}/tree?node={code}-A1",
            p.knowledge
        ))
        .send()
        .await
        .expect("the knowledge API");
    if r.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    Some(
        v["answer"]["answer"]
            .as_str()
            .expect("an answer")
            .to_owned(),
    )
}

/// The department's editor changes A1 to `text` through the console's form and submits it.
async fn edit_and_submit(th: &mut Browser, console: &str, code: &str, text: &str) {
    let (status, form) = th
        .page(&format!("{console}/dept/knowledge/{code}/edit"))
        .await;
    assert_eq!(status, StatusCode::OK, "{form}");
    let a1 = format!("l.{code}-A1.answer");
    let r = th
        .post_form(
            &format!("{console}/dept/knowledge/{code}/edit"),
            &form_of(&form, &[(a1.as_str(), text)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = th.page(&format!("{console}/dept/knowledge/{code}")).await;
    let csrf = field(&page, "id=\"actions\"", "_csrf");
    let base = unescape(&field(&page, "id=\"actions\"", "base"));
    let r = th
        .post(
            &format!("{console}/dept/knowledge/{code}/submit"),
            &[("_csrf", csrf.as_str()), ("base", base.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "submitted");
}

/// A step's form on a review page as the browser sends it, with `note`.
fn step_form(page: &str, step: &str, note: &str) -> Vec<(String, String)> {
    let form = format!("id=\"{step}-form\"");
    vec![
        ("_csrf".to_owned(), field(page, &form, "_csrf")),
        ("base".to_owned(), unescape(&field(page, &form, "base"))),
        ("note".to_owned(), note.to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_centres_editor_sends_back_publishes_and_retires_what_tianhe_submits_and_a_stale_page_is_a_conflict()
 {
    let p = Platform::start().await;
    let console = p.console.clone();
    let code = format!("TR{}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000);
    let first = "请携带身份证到天河区政务服务中心办理。";
    let second = "请携带身份证和户口簿到天河区政务服务中心办理。";
    let third = "请携带身份证和户口簿到天河区政务服务中心办理，可先在网上预约。";
    publish_tianhe_item(&p, &code, first).await;

    // Tianhe's editor changes the answer and submits it: version 2 in review.
    let mut th = Browser::new();
    th.sign_in(&console, "/dept/knowledge", "th-staff1").await;
    edit_and_submit(&mut th, &console, &code, second).await;
    assert_eq!(p.versions(&code).await[0]["status"], "review");

    // The centre's knowledge editor: the review is their screen (and the portal is not).
    let mut kb = Browser::new();
    let queue = kb
        .sign_in(&console, "/knowledge/review", "kb-centre1")
        .await;
    assert!(
        queue.contains(&format!("href=\"/knowledge/review/{code}\"")),
        "the item waits in the queue: {queue}"
    );
    assert!(
        queue.contains("href=\"/knowledge/review\" aria-current=\"page\""),
        "{queue}"
    );
    assert!(!queue.contains("href=\"/dept\""), "no department portal");
    let (status, home) = kb.page(&format!("{console}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("知识审核"), "the home page's tile: {home}");
    let (_, english) = kb
        .page(&format!("{console}/knowledge/review?lang=en"))
        .await;
    assert!(english.contains("Knowledge review"), "{english}");
    let _ = kb
        .page(&format!("{console}/knowledge/review?lang=zh"))
        .await;

    // The item's review page: the submitted version beside the published one, and the diff.
    let (status, review) = kb.page(&format!("{console}/knowledge/review/{code}")).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert!(
        review.contains(first) && review.contains(second),
        "{review}"
    );
    let diff_at = review.find("id=\"review-diff\"").expect("the diff");
    let diff = &review[diff_at..];
    assert!(
        diff.contains(&format!("{code}-A1")) && diff.contains(first) && diff.contains(second),
        "before and after: {diff}"
    );
    for form in ["publish-form", "reject-form", "retire-form"] {
        assert!(review.contains(&format!("id=\"{form}\"")), "{form}");
    }
    // This page is kept open in another tab: it goes stale below.
    let stale = review.clone();

    // Sent back: without a note nothing is sent; with one, the department sees it.
    let reject = format!("{console}/knowledge/review/{code}/reject");
    let r = kb
        .post_form(&reject, &step_form(&review, "reject", " "))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("body").contains("请填写意见"));
    assert_eq!(p.versions(&code).await[0]["status"], "review");
    let r = kb
        .post_form(&reject, &step_form(&review, "reject", "请补充法律依据"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION].to_str().expect("ascii"),
        format!("/knowledge/review/{code}?done=reject")
    );
    let versions = p.versions(&code).await;
    assert_eq!(versions[0]["status"], "rejected");
    assert_eq!(versions[0]["review_note"], "请补充法律依据");
    assert_eq!(versions[0]["reviewed_by"], "GZ-CENTRE");
    let (_, list) = th.page(&format!("{console}/dept/knowledge")).await;
    assert!(
        list.contains("请补充法律依据") && list.contains("已退回"),
        "{list}"
    );
    assert_eq!(
        published_answer(&p, &code).await.as_deref(),
        Some(first),
        "nothing published yet"
    );

    // Tianhe submits again (version 3): back in the queue.
    edit_and_submit(&mut th, &console, &code, third).await;
    let (_, queue) = kb.page(&format!("{console}/knowledge/review")).await;
    assert!(queue.contains(&format!("href=\"/knowledge/review/{code}\"")));

    // Publishing from the page read before the rejection and the resubmission: a conflict, the
    // version now named, the reviewer's note kept, nothing published.
    let publish = format!("{console}/knowledge/review/{code}/publish");
    let r = kb
        .post_form(&publish, &step_form(&stale, "publish", "同意发布"))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let conflict = r.text().await.expect("body");
    assert!(conflict.contains("id=\"conflict\""), "{conflict}");
    assert!(
        conflict.contains("v3 · 待审核"),
        "the version now: {conflict}"
    );
    assert!(conflict.contains("同意发布</textarea>"), "the note kept");
    assert!(
        conflict.contains(third),
        "the version now shown: {conflict}"
    );
    assert_eq!(p.versions(&code).await[0]["status"], "review");
    assert_eq!(published_answer(&p, &code).await.as_deref(), Some(first));

    // From the page shown now it is published: agents and citizens get the new answer.
    let r = kb
        .post_form(&publish, &step_form(&conflict, "publish", "同意发布"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let versions = p.versions(&code).await;
    assert_eq!(versions[0]["version"], 3);
    assert_eq!(versions[0]["status"], "published");
    assert_eq!(published_answer(&p, &code).await.as_deref(), Some(third));
    let (_, page) = kb
        .page(&format!("{console}/knowledge/review/{code}?done=publish"))
        .await;
    assert!(page.contains("id=\"done\""), "{page}");
    assert!(!page.contains("id=\"publish-form\""), "nothing in review");
    assert!(page.contains("id=\"retire-form\""), "{page}");
    let (status, _) = kb
        .page(&format!(
            "{console}/knowledge/review/{code}/diff?from=1&to=3"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A department's editor has none of the review: pages, steps.
    for path in [
        "/knowledge/review".to_owned(),
        format!("/knowledge/review/{code}"),
        format!("/knowledge/review/{code}/diff?from=1&to=3"),
    ] {
        let (status, body) = th.page(&format!("{console}{path}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (_, own) = th.page(&format!("{console}/dept/knowledge/{code}")).await;
    // Their session's token, from the sign-out form (the item has no step of theirs now).
    let th_csrf = field(&own, "action=\"/auth/logout\"", "_csrf");
    let base = step_form(&page, "retire", "x")[1].1.clone();
    for step in ["publish", "reject", "retire"] {
        let r = th
            .post(
                &format!("{console}/knowledge/review/{code}/{step}"),
                &[
                    ("_csrf", th_csrf.as_str()),
                    ("base", base.as_str()),
                    ("note", "天河的"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{step}");
    }
    assert_eq!(p.versions(&code).await[0]["status"], "published");

    // Retired with a reason: gone from what agents and citizens get.
    let retire = format!("{console}/knowledge/review/{code}/retire");
    let r = kb.post_form(&retire, &step_form(&page, "retire", "")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a reason is needed");
    let r = kb
        .post_form(&retire, &step_form(&page, "retire", "政策已废止"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(p.versions(&code).await[0]["status"], "retired");
    assert_eq!(published_answer(&p, &code).await, None);
    let (_, page) = kb
        .page(&format!("{console}/knowledge/review/{code}?done=retire"))
        .await;
    assert!(page.contains("已停用"), "{page}");
    assert!(
        !page.contains("id=\"retire-form\""),
        "nothing left to retire"
    );
}
