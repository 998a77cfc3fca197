//! The axum side: [`Principal`] and [`Authorized`] are request-parts extractors (they run before
//! any body is read: put them before body extractors in a handler), and [`AuthError`] is the one
//! refusal they give: 401 with `WWW-Authenticate: Bearer` (no or a bad token), 403 (a valid
//! token whose roles do not allow the route), 503 (the issuer's keys cannot be fetched).
//!
//! The service's router state must give the verifier: `impl FromRef<MyState> for Verifier`.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::jwt::{Verifier, VerifyError};
use crate::principal::{Principal, Role};

/// A refusal by the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("sign in: an Authorization: Bearer token is required")]
    Missing,
    #[error("{0}")]
    Invalid(VerifyError),
    #[error("{0}")]
    Forbidden(String),
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        AuthError::Invalid(e)
    }
}

impl AuthError {
    pub fn forbidden(message: impl Into<String>) -> AuthError {
        AuthError::Forbidden(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Missing => StatusCode::UNAUTHORIZED,
            AuthError::Invalid(VerifyError::KeysUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Invalid(_) => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let kind = match status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            _ => "unavailable",
        };
        // The same body shape as every other refusal: {"error": {"kind", "message"}}.
        let body = serde_json::json!({ "error": { "kind": kind, "message": self.to_string() } });
        let mut response = (status, axum::Json(body)).into_response();
        // RFC 6750 section 3: the challenge, with error="invalid_token" when one was presented.
        let challenge = match &self {
            AuthError::Missing => Some(r#"Bearer realm="hotline""#),
            AuthError::Invalid(VerifyError::KeysUnavailable) => None,
            AuthError::Invalid(_) => Some(r#"Bearer realm="hotline", error="invalid_token""#),
            AuthError::Forbidden(_) => {
                Some(r#"Bearer realm="hotline", error="insufficient_scope""#)
            }
        };
        if let Some(c) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The bearer token of a request, if it carries one.
pub fn bearer_of(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    crate::bearer_token(value)
}

impl Verifier {
    /// Verifies the request's bearer token.
    pub async fn principal_of(&self, parts: &Parts) -> Result<Principal, AuthError> {
        let token = bearer_of(parts).ok_or(AuthError::Missing)?;
        Ok(self.verify(token).await?)
    }
}

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Verifier::from_ref(state).principal_of(parts).await
    }
}

/// `Option<Principal>`: `None` without an Authorization header; a header that is there but
/// does not verify is still refused (never silently anonymous).
impl<S> OptionalFromRequestParts<S> for Principal
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        Verifier::from_ref(state)
            .principal_of(parts)
            .await
            .map(Some)
    }
}

/// Which roles may call a route (docs/roles.md).
pub trait Policy: Send + Sync + 'static {
    /// Any one of these roles is enough.
    const ROLES: &'static [Role];
    /// What the route does, for the 403 message ("change the catalogue").
    const WHAT: &'static str;
}

/// A principal holding one of `P::ROLES`; 403 otherwise (401 without a valid token).
pub struct Authorized<P: Policy> {
    pub principal: Principal,
    _policy: PhantomData<P>,
}

impl<P: Policy> std::ops::Deref for Authorized<P> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<P: Policy> Authorized<P> {
    /// Checks `principal` against `P` (for callers that verified some other way).
    pub fn check(principal: Principal) -> Result<Authorized<P>, AuthError> {
        if principal.has_any(P::ROLES) {
            Ok(Authorized {
                principal,
                _policy: PhantomData,
            })
        } else {
            let roles: Vec<&str> = P::ROLES.iter().map(|r| r.as_str()).collect();
            Err(AuthError::Forbidden(format!(
                "to {} you need one of the roles {}",
                P::WHAT,
                roles.join(", ")
            )))
        }
    }
}

impl<S, P> FromRequestParts<S> for Authorized<P>
where
    S: Send + Sync,
    P: Policy,
    Verifier: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Verifier::from_ref(state).principal_of(parts).await?;
        Authorized::check(principal)
    }
}
