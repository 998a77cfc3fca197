//! The sign-in page: plain HTML, no script, every value escaped.
//!
//! The form carries the original `/authorize` parameters back as hidden fields, and the POST
//! checks them all again (a page is never trusted to have kept them).

use std::fmt::Write as _;

/// The `/authorize` parameters, as received (checked by the handler).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    /// POST only.
    pub username: Option<String>,
    /// POST only.
    pub password: Option<String>,
}

impl AuthorizeParams {
    fn hidden(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("response_type", self.response_type.as_deref()),
            ("client_id", self.client_id.as_deref()),
            ("redirect_uri", self.redirect_uri.as_deref()),
            ("scope", self.scope.as_deref()),
            ("state", self.state.as_deref()),
            ("code_challenge", self.code_challenge.as_deref()),
            (
                "code_challenge_method",
                self.code_challenge_method.as_deref(),
            ),
            ("nonce", self.nonce.as_deref()),
        ]
    }
}

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}\
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px #0002}h1{font-size:1.25rem;margin:0 0 1.5rem}label{display:block;\
margin:.75rem 0 .25rem}input[type=text],input[type=password]{width:100%;box-sizing:border-box;\
padding:.5rem;font-size:1rem}button{margin-top:1.25rem;width:100%;padding:.6rem;font-size:1rem}\
.error{color:#a00;margin:0 0 1rem}.client{color:#555;font-size:.9rem}";

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// The form, with `error` shown above it and `username` kept after a refusal.
pub fn sign_in(params: &AuthorizeParams, error: Option<&str>, username: &str) -> String {
    let mut body = String::new();
    body.push_str("<h1>12345 热线 · 登录 / Sign in</h1>");
    if let Some(client) = params.client_id.as_deref() {
        let _ = write!(
            body,
            "<p class=\"client\">应用 / Application: {}</p>",
            escape(client)
        );
    }
    if let Some(error) = error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    // A relative action: the page posts back to wherever it was served from.
    body.push_str("<form method=\"post\" action=\"authorize\" autocomplete=\"on\">");
    for (name, value) in params.hidden() {
        if let Some(value) = value {
            let _ = write!(
                body,
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            );
        }
    }
    let _ = write!(
        body,
        "<label for=\"username\">用户名 / Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{}\" \
         autocomplete=\"username\" required autofocus>\
         <label for=\"password\">密码 / Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required>\
         <button type=\"submit\">登录 / Sign in</button></form>",
        escape(username)
    );
    shell("登录 / Sign in", &body)
}

/// A page for requests that cannot be sent back to the client (unknown client or redirect URI).
pub fn error(message: &str) -> String {
    shell(
        "无法登录 / Cannot sign in",
        &format!(
            "<h1>无法登录 / Cannot sign in</h1><p class=\"error\">{}</p>",
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let params = AuthorizeParams {
            client_id: Some("<script>alert(1)</script>".into()),
            state: Some("\"><img src=x onerror=alert(1)>".into()),
            ..AuthorizeParams::default()
        };
        let html = sign_in(&params, Some("<b>bad</b>"), "o'neil\"");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>bad"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("o&#39;neil&quot;"));
    }
}
