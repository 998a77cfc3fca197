//! What every console test shares: a cookie-keeping client that follows the sign-in by hand,
//! the form and redirect helpers, and waiting for something to become true.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + crate::WAIT; // each test file's own patience
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A browser as far as the console and the issuer can tell: keeps cookies (one jar for the
/// host, as browsers do across ports), follows redirects only when told.
pub struct Browser {
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    pub fn keep(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or("");
            let Some((name, v)) = pair.split_once('=') else {
                continue;
            };
            if v.is_empty() || value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let r = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.keep(&r);
        r
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let r = self
            .http
            .post(url)
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.keep(&r);
        r
    }

    /// GET, following redirects (the way a browser does), to the final page's status and body.
    pub async fn page(&mut self, url: &str) -> (StatusCode, String) {
        let mut url = url.to_owned();
        for _ in 0..10 {
            let r = self.get(&url).await;
            if r.status().is_redirection() {
                url = absolute(&url, location(&r));
                continue;
            }
            let status = r.status();
            return (status, r.text().await.expect("body"));
        }
        panic!("too many redirects from {url}");
    }

    /// Signs in through the console: the redirect to the issuer, its sign-in page, the
    /// password, the callback, the page that moves on; returns the page at `path`.
    pub async fn sign_in(&mut self, console: &str, path: &str, username: &str) -> String {
        let r = self.get(&format!("{console}{path}")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "not signed in yet");
        let login = absolute(console, location(&r));
        assert!(login.contains("/auth/login?return_to="), "{login}");
        let r = self.get(&login).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let authorize = location(&r).to_owned();
        assert!(
            authorize.contains("code_challenge_method=S256")
                && authorize.contains("client_id=hotline-console"),
            "{authorize}"
        );
        // The issuer's sign-in page, then its form: the request's parameters come back as
        // hidden fields, with the name and password.
        let r = self.get(&authorize).await;
        assert_eq!(r.status(), StatusCode::OK, "the sign-in page");
        let (endpoint, query) = authorize.split_once('?').expect("a query");
        let mut form: Vec<(String, String)> =
            serde_urlencoded::from_str(query).expect("the request's parameters");
        form.push(("username".into(), username.into()));
        form.push(("password".into(), format!("demo-{username}")));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = self.post(endpoint, &form).await;
        assert_eq!(r.status(), StatusCode::FOUND, "the password is right");
        let callback = location(&r).to_owned();
        assert!(
            callback.starts_with(&format!("{console}/auth/callback?code=")),
            "{callback}"
        );
        let r = self.get(&callback).await;
        assert_eq!(r.status(), StatusCode::OK, "the callback");
        assert!(
            self.cookies.contains_key("hotline_console"),
            "a session cookie"
        );
        let moving_on = r.text().await.expect("body");
        assert!(moving_on.contains(&format!("url={path}")), "{moving_on}");
        let (status, page) = self.page(&format!("{console}{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path} after sign-in: {page}");
        page
    }
}

pub fn location(r: &reqwest::Response) -> &str {
    r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
}

pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        return location.to_owned();
    }
    let origin: String = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    format!("{origin}{location}")
}

/// The value of the first `name="<name>" value="..."` after `after` in `page`.
pub fn field(page: &str, after: &str, name: &str) -> String {
    let start = page
        .find(after)
        .unwrap_or_else(|| panic!("{after} not in the page"));
    let marker = format!("name=\"{name}\" value=\"");
    let rest = &page[start..];
    let at = rest
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} after {after}"))
        + marker.len();
    rest[at..].split('"').next().unwrap_or("").to_owned()
}
