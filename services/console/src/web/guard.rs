//! Who is asking, and whether a state-changing request is theirs.
//!
//! [`Signed`] is the signed-in person: their session (loaded, alive, its access token fresh:
//! refreshed here when it has under a minute left, one refresh at a time across replicas) and
//! what their token says they are. [`Signed::form`] is the CSRF check every POST passes before
//! anything else: the session's token in the form's `_csrf` field or the `X-CSRF-Token` header
//! (htmx sends it from `hx-headers`), compared in constant time, and no `Origin` but ours.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts as RequestParts;
use axum::http::{HeaderMap, header};
use hotline_auth::{Principal, Role};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Console, cookie};
use crate::error::ConsoleError;
use crate::oidc::{OidcError, TokenSet};
use crate::session::{Loaded, SESSION_COOKIE, Session, SessionId, same_secret};

/// Refresh the access token when it has less than this left.
const REFRESH_MARGIN_MS: i64 = 60_000;
/// How long a request waits for another's refresh of the same session.
const REFRESH_WAIT: Duration = Duration::from_secs(5);

/// The signed-in person.
pub struct Signed {
    pub id: SessionId,
    pub session: Session,
    pub principal: Principal,
    /// Whether the person reviews the departments' knowledge (the centre's knowledge editors
    /// and administrators, [`super::review::reviews_knowledge`]): decided here, where the
    /// centre's code is at hand, so the header's screens need no more than the person.
    pub reviews_knowledge: bool,
}

impl Signed {
    /// The access token to call the services with.
    pub fn token(&self) -> &str {
        &self.session.access_token
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// The person's department, when they are its staff (the department portal's condition).
    pub fn department(&self) -> Option<&hotline_domain::DeptCode> {
        self.principal.limited_to_department()
    }

    /// Refuses unless the person holds one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ConsoleError> {
        if self.principal.has_any(roles) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }

    /// The CSRF check, then the form's fields as `F`.
    pub fn form<F: DeserializeOwned>(
        &self,
        console: &Console,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<F, ConsoleError> {
        #[derive(Deserialize)]
        struct Token {
            #[serde(rename = "_csrf", default)]
            csrf: Option<String>,
        }
        let from_form = serde_urlencoded::from_bytes::<Token>(body)
            .ok()
            .and_then(|t| t.csrf);
        check_csrf(
            &self.session.csrf,
            &console.parts().origin,
            headers,
            from_form.as_deref(),
        )?;
        serde_urlencoded::from_bytes(body)
            .map_err(|e| ConsoleError::Invalid(format!("the form could not be read: {e}")))
    }
}

/// Whether a state-changing request carries `expected` and comes from `origin` (no `Origin`,
/// as from scripts and older browsers, is left to the token alone).
pub fn check_csrf(
    expected: &str,
    origin: &str,
    headers: &HeaderMap,
    from_form: Option<&str>,
) -> Result<(), ConsoleError> {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return Err(ConsoleError::Csrf);
    }
    if let Some(sent) = headers.get(header::ORIGIN)
        && sent.as_bytes() != origin.as_bytes()
    {
        return Err(ConsoleError::Csrf);
    }
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or(from_form)
        .unwrap_or("");
    if presented.is_empty() || !same_secret(presented, expected) {
        return Err(ConsoleError::Csrf);
    }
    Ok(())
}

impl FromRequestParts<Console> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut RequestParts,
        console: &Console,
    ) -> Result<Signed, ConsoleError> {
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE).and_then(SessionId::parse) else {
            return Err(ConsoleError::NotSignedIn { expired: false });
        };
        let sessions = console.sessions();
        let session = match sessions
            .load(&id)
            .await
            .map_err(ConsoleError::Unavailable)?
        {
            Loaded::Live(session) => *session,
            Loaded::Expired => return Err(ConsoleError::NotSignedIn { expired: true }),
            Loaded::Missing => return Err(ConsoleError::NotSignedIn { expired: false }),
        };
        let session = fresh(console, &id, session).await?;
        let principal = session.principal();
        let reviews_knowledge =
            super::review::reviews_knowledge(&principal, &console.parts().centre);
        Ok(Signed {
            id,
            session,
            principal,
            reviews_knowledge,
        })
    }
}

/// The session with an access token good for at least a minute more.
async fn fresh(
    console: &Console,
    id: &SessionId,
    session: Session,
) -> Result<Session, ConsoleError> {
    let sessions = console.sessions();
    let now = sessions.now_ms();
    if session.access_expires_at - now > REFRESH_MARGIN_MS {
        return Ok(session);
    }
    let still_valid = |s: &Session| s.access_expires_at > sessions.now_ms();
    if !sessions
        .lock_refresh(id)
        .await
        .map_err(ConsoleError::Unavailable)?
    {
        // Another request (perhaps on another replica) is refreshing: wait for its tokens.
        let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            match sessions.load(id).await.map_err(ConsoleError::Unavailable)? {
                Loaded::Live(s) if s.access_expires_at != session.access_expires_at => {
                    return Ok(*s);
                }
                Loaded::Live(_) => {}
                _ => return Err(ConsoleError::NotSignedIn { expired: true }),
            }
        }
        return if still_valid(&session) {
            Ok(session)
        } else {
            Err(ConsoleError::Unavailable(anyhow::anyhow!(
                "a refresh of the session's tokens did not finish"
            )))
        };
    }
    let result = console.parts().oidc.refresh(&session.refresh_token).await;
    let outcome = match result {
        Ok(tokens) => match renewed(console, session.clone(), tokens).await {
            Ok(renewed) => sessions
                .save(id, &renewed)
                .await
                .map(|()| renewed)
                .map_err(ConsoleError::Unavailable),
            Err(e) => Err(e),
        },
        Err(OidcError::Refused(_)) | Err(OidcError::Token(_)) => {
            // The sign-in is over at the issuer (the refresh token expired or was revoked):
            // over here too.
            let _ = sessions.delete(id).await;
            Err(ConsoleError::NotSignedIn { expired: true })
        }
        Err(OidcError::Unavailable(e)) if still_valid(&session) => {
            tracing::warn!(error = %format!("{e:#}"), "console: refreshing tokens failed; the current ones still work");
            Ok(session)
        }
        Err(OidcError::Unavailable(e)) => Err(ConsoleError::Unavailable(e)),
    };
    if let Err(e) = sessions.unlock_refresh(id).await {
        tracing::warn!(error = %format!("{e:#}"), "console: releasing a refresh lock failed");
    }
    outcome
}

/// `session` with the new tokens and what the new access token says (roles may have changed).
pub async fn renewed(
    console: &Console,
    mut session: Session,
    tokens: TokenSet,
) -> Result<Session, ConsoleError> {
    let principal = console
        .parts()
        .oidc
        .principal(&tokens.access_token)
        .await
        .map_err(|e| match e {
            OidcError::Unavailable(e) => ConsoleError::Unavailable(e),
            _ => ConsoleError::SignIn("the new access token does not verify"),
        })?;
    let now = console.sessions().now_ms();
    session.roles = principal
        .roles
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    session.department = principal.department.map(|d| d.as_str().to_owned());
    session.name = principal.name;
    session.subject = principal.subject;
    session.access_token = tokens.access_token;
    if let Some(refresh) = tokens.refresh_token {
        session.refresh_token = refresh;
    }
    session.access_expires_at =
        now + i64::try_from(tokens.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("ascii"));
        }
        map
    }

    const ORIGIN: &str = "http://127.0.0.1:8089";

    #[test]
    fn the_csrf_token_is_required_from_the_form_or_the_header() {
        let token = crate::session::random_token();
        assert!(check_csrf(&token, ORIGIN, &headers(&[]), Some(&token)).is_ok());
        assert!(check_csrf(&token, ORIGIN, &headers(&[("x-csrf-token", &token)]), None).is_ok());
        for wrong in [None, Some(""), Some("x"), Some(&token[..42])] {
            assert!(
                matches!(
                    check_csrf(&token, ORIGIN, &headers(&[]), wrong),
                    Err(ConsoleError::Csrf)
                ),
                "{wrong:?}"
            );
        }
        let other = crate::session::random_token();
        assert!(check_csrf(&token, ORIGIN, &headers(&[]), Some(&other)).is_err());
    }

    #[test]
    fn another_sites_form_is_refused_even_with_the_token() {
        let token = crate::session::random_token();
        assert!(
            check_csrf(
                &token,
                ORIGIN,
                &headers(&[("origin", "https://evil.example")]),
                Some(&token)
            )
            .is_err()
        );
        assert!(
            check_csrf(
                &token,
                ORIGIN,
                &headers(&[("sec-fetch-site", "cross-site")]),
                Some(&token)
            )
            .is_err()
        );
        assert!(
            check_csrf(
                &token,
                ORIGIN,
                &headers(&[("origin", ORIGIN)]),
                Some(&token)
            )
            .is_ok()
        );
    }
}
