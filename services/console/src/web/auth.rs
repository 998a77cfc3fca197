//! Sign-in and sign-out.
//!
//! `GET /auth/login?return_to=/path`: a fresh `state` and PKCE pair, kept in the store under the
//! state (10 minutes, single use) and the state in a cookie of this browser; then to the
//! issuer's authorization endpoint. `GET /auth/callback?code&state[&iss]`: the cookie's state
//! must be the query's and still pending; the code is exchanged with the verifier; the access
//! token is verified as the services verify it; a new session (new id, new CSRF token) is
//! stored and its cookie set.
//!
//! The session cookie is `SameSite=Strict`, so it is not sent on the navigation that arrives
//! from the issuer (another site in production). The callback therefore answers with a small
//! page that moves on by `<meta http-equiv="refresh">`, a same-site navigation that carries
//! the new cookie. The sign-in cookie itself is `SameSite=Lax` for the same reason: it must come
//! back with the issuer's redirect.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::guard::{Signed, renewed};
use super::{Console, cookie, pages};
use crate::error::ConsoleError;
use crate::i18n::Lang;
use crate::oidc::{OidcError, pkce_pair};
use crate::session::{
    LOGIN_COOKIE, LOGIN_TTL, PendingLogin, SESSION_COOKIE, Session, random_token, same_secret,
};

#[derive(Deserialize)]
pub struct LoginParams {
    #[serde(default)]
    return_to: Option<String>,
}

/// A path of this console to come back to; anything else (another site, `//host`, a scheme)
/// is home.
pub fn safe_return(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.starts_with("/auth/")
                && p.len() <= 512
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn cookie_value(console: &Console, value: String) -> Option<HeaderValue> {
    let secure = if console.parts().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!("{value}{secure}")).ok()
}

fn with_cookie(mut response: Response, value: Option<HeaderValue>) -> Response {
    if let Some(v) = value {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /auth/login`: off to the issuer.
pub async fn login(
    State(console): State<Console>,
    Query(params): Query<LoginParams>,
) -> Result<Response, ConsoleError> {
    let state = random_token();
    let (verifier, challenge) = pkce_pair();
    let pending = PendingLogin {
        code_verifier: verifier,
        return_to: safe_return(params.return_to.as_deref()),
    };
    let url = console
        .parts()
        .oidc
        .authorization_url(&state, &challenge)
        .await
        .map_err(unavailable)?;
    console
        .sessions()
        .begin_login(&state, &pending)
        .await
        .map_err(ConsoleError::Unavailable)?;
    let login_cookie = cookie_value(
        &console,
        format!(
            "{LOGIN_COOKIE}={state}; Path=/auth; Max-Age={}; HttpOnly; SameSite=Lax",
            LOGIN_TTL.as_secs()
        ),
    );
    Ok(with_cookie(pages::see_other(&url), login_cookie))
}

fn unavailable(e: OidcError) -> ConsoleError {
    match e {
        OidcError::Unavailable(e) => ConsoleError::Unavailable(e),
        OidcError::Refused(_) => ConsoleError::SignIn("the issuer refused the code"),
        OidcError::Token(_) => ConsoleError::SignIn("the access token does not verify"),
    }
}

#[derive(Deserialize)]
pub struct CallbackParams {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /auth/callback`: the issuer's answer.
pub async fn callback(
    State(console): State<Console>,
    lang: Lang,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, ConsoleError> {
    let state = params.state.as_deref().unwrap_or("");
    let ours = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if state.is_empty() || !same_secret(state, ours) {
        return Err(ConsoleError::SignIn(
            "the state is not the one this browser started",
        ));
    }
    // Taken once whatever follows: a code or state seen twice is not honoured twice.
    let Some(pending) = console
        .sessions()
        .finish_login(state)
        .await
        .map_err(ConsoleError::Unavailable)?
    else {
        return Err(ConsoleError::SignIn("no such sign-in is pending"));
    };
    if params.error.is_some() {
        return Err(ConsoleError::SignIn("the issuer answered with an error"));
    }
    // RFC 9207: an answer naming another issuer is a mix-up.
    if params
        .iss
        .as_deref()
        .is_some_and(|iss| iss != console.parts().oidc_issuer())
    {
        return Err(ConsoleError::SignIn("the answer names another issuer"));
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(ConsoleError::SignIn("no code"))?;
    let tokens = console
        .parts()
        .oidc
        .exchange_code(code, &pending.code_verifier)
        .await
        .map_err(unavailable)?;
    let now = console.sessions().now_ms();
    let blank = Session {
        subject: String::new(),
        name: None,
        roles: Vec::new(),
        department: None,
        access_token: String::new(),
        refresh_token: String::new(),
        access_expires_at: now,
        created_at: now,
        last_seen: now,
        csrf: random_token(),
    };
    let session = renewed(&console, blank, tokens).await?;
    if session.refresh_token.is_empty() {
        return Err(ConsoleError::SignIn("the issuer gave no refresh token"));
    }
    // A session the browser still held is over: a sign-in always starts a new one.
    if let Some(old) = cookie(&headers, SESSION_COOKIE).and_then(crate::session::SessionId::parse) {
        let _ = console.sessions().delete(&old).await;
    }
    let id = console
        .sessions()
        .create(&session)
        .await
        .map_err(ConsoleError::Unavailable)?;
    tracing::info!("console: signed in");
    let response = pages::html(StatusCode::OK, pages::moving_on(lang, &pending.return_to));
    let response = with_cookie(
        response,
        cookie_value(
            &console,
            format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                id.as_str()
            ),
        ),
    );
    Ok(with_cookie(
        response,
        cookie_value(
            &console,
            format!("{LOGIN_COOKIE}=; Path=/auth; Max-Age=0; HttpOnly; SameSite=Lax"),
        ),
    ))
}

/// `POST /auth/logout`: the session ends everywhere; the cookie is cleared.
pub async fn logout(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ConsoleError> {
    let _: serde::de::IgnoredAny = signed.form(&console, &headers, &body)?;
    console
        .sessions()
        .delete(&signed.id)
        .await
        .map_err(ConsoleError::Unavailable)?;
    tracing::info!("console: signed out");
    Ok(with_cookie(
        pages::see_other("/auth/signed-out"),
        cookie_value(
            &console,
            format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
        ),
    ))
}

/// `GET /auth/signed-out`.
pub async fn signed_out(lang: Lang) -> Response {
    pages::html(
        StatusCode::OK,
        pages::sign_in(lang, Some(lang.t().signed_out)),
    )
}

impl super::Parts {
    fn oidc_issuer(&self) -> &str {
        self.oidc.issuer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_console_are_returned_to() {
        assert_eq!(
            safe_return(Some("/dept/tickets/1?x=1")),
            "/dept/tickets/1?x=1"
        );
        for bad in [
            None,
            Some("https://evil.example/"),
            Some("//evil.example/"),
            Some("/\\evil.example"),
            Some("dept"),
            Some("/auth/callback?code=x"),
            Some("/a\nb"),
        ] {
            assert_eq!(safe_return(bad), "/", "{bad:?}");
        }
    }
}
