//! What can go wrong in a request, and its HTTP status: the one place. A handler returns a
//! [`ConsoleError`]; its response carries a [`Failure`] that `web`'s error layer turns into a
//! page in the person's language (or a redirect to sign in). Our own failures (5xx) are logged
//! here, by kind and cause, never with personal data: causes name services and stores, not
//! what was sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session, or it ended: sign in (again).
    #[error("not signed in")]
    NotSignedIn { expired: bool },
    /// The person's roles do not allow the page or the step (the console's own check or the
    /// service's 403).
    #[error("forbidden")]
    Forbidden,
    /// A state-changing request without this session's CSRF token, or from another site.
    #[error("the CSRF check failed")]
    Csrf,
    #[error("not found")]
    NotFound,
    /// The request was not right; the message is shown.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The ticket's state does not allow it; the service's message is shown.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The way back from the identity service did not check out.
    #[error("sign-in failed: {0}")]
    SignIn(&'static str),
    /// A service or Redis did not answer.
    #[error("unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// What kind of page to show for a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    SignIn { expired: bool },
    Forbidden,
    Csrf,
    NotFound,
    Invalid,
    Conflict,
    SignInFailed,
    Unavailable,
    Internal,
}

/// Put on the response of a failed request for the error layer to render.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    /// Words from the service to show after ours (refusals of the person's input or step).
    pub detail: Option<String>,
}

impl ConsoleError {
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::NotSignedIn { .. } => StatusCode::UNAUTHORIZED,
            ConsoleError::Forbidden | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Invalid(_) | ConsoleError::SignIn(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
            ConsoleError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn failure(&self) -> Failure {
        let (kind, detail) = match self {
            ConsoleError::NotSignedIn { expired } => {
                (FailureKind::SignIn { expired: *expired }, None)
            }
            ConsoleError::Forbidden => (FailureKind::Forbidden, None),
            ConsoleError::Csrf => (FailureKind::Csrf, None),
            ConsoleError::NotFound => (FailureKind::NotFound, None),
            ConsoleError::Invalid(m) => (FailureKind::Invalid, Some(m.clone())),
            ConsoleError::Conflict(m) => (FailureKind::Conflict, Some(m.clone())),
            ConsoleError::SignIn(_) => (FailureKind::SignInFailed, None),
            ConsoleError::Unavailable(_) => (FailureKind::Unavailable, None),
            ConsoleError::Internal(_) => (FailureKind::Internal, None),
        };
        Failure { kind, detail }
    }
}

impl From<UpstreamError> for ConsoleError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Unauthorized => ConsoleError::NotSignedIn { expired: true },
            UpstreamError::Forbidden(_) => ConsoleError::Forbidden,
            UpstreamError::NotFound(_) => ConsoleError::NotFound,
            UpstreamError::Invalid(m) => ConsoleError::Invalid(m),
            // A write against a state read earlier: the thing changed since, a conflict to
            // the person (the pages that keep their text show it themselves).
            UpstreamError::Conflict(m) | UpstreamError::PreconditionFailed(m) => {
                ConsoleError::Conflict(m)
            }
            e @ UpstreamError::Unavailable { .. } => ConsoleError::Unavailable(e.into()),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ConsoleError::Unavailable(cause) | ConsoleError::Internal(cause) => {
                tracing::warn!(status = status.as_u16(), error = %format!("{cause:#}"), "console request failed");
            }
            ConsoleError::SignIn(why) => {
                tracing::info!(why, "console sign-in refused");
            }
            _ => {}
        }
        let mut response = status.into_response();
        response.extensions_mut().insert(self.failure());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_status() {
        let cases = [
            (ConsoleError::NotSignedIn { expired: false }, 401),
            (ConsoleError::Forbidden, 403),
            (ConsoleError::Csrf, 403),
            (ConsoleError::NotFound, 404),
            (ConsoleError::Invalid("x".into()), 400),
            (ConsoleError::SignIn("state"), 400),
            (ConsoleError::Conflict("x".into()), 409),
            (ConsoleError::Unavailable(anyhow::anyhow!("x")), 503),
            (ConsoleError::Internal(anyhow::anyhow!("x")), 500),
        ];
        for (e, status) in cases {
            let r = e.into_response();
            assert_eq!(r.status().as_u16(), status);
            assert!(r.extensions().get::<Failure>().is_some());
        }
    }

    #[test]
    fn a_service_refusal_keeps_its_meaning() {
        let e: ConsoleError = UpstreamError::Unauthorized.into();
        assert!(matches!(e, ConsoleError::NotSignedIn { expired: true }));
        let e: ConsoleError = UpstreamError::Conflict("cannot take `accept`".into()).into();
        assert_eq!(e.status(), StatusCode::CONFLICT);
        let e: ConsoleError = UpstreamError::Forbidden("other department".into()).into();
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
    }
}
