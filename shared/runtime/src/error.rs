//! The one mapping from error kinds to protocol codes, and the error every HTTP and gRPC edge
//! answers with.
//!
//! [`http_status`] and [`grpc_code`] are the only places an [`ErrorKind`] becomes a protocol
//! code. [`ApiError`] is a kind plus a message safe to show the caller: an internal error always
//! says only "internal error", its cause (with the whole chain) goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hotline_bus::rpc::{CallError, RemoteError};
use hotline_domain::contract::ErrorKind;

/// The HTTP status for an error kind.
pub fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
    }
}

/// The gRPC code for an error kind.
pub fn grpc_code(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::Invalid => tonic::Code::InvalidArgument,
        ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorKind::Forbidden => tonic::Code::PermissionDenied,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::Conflict => tonic::Code::FailedPrecondition,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Internal => tonic::Code::Internal,
        ErrorKind::RateLimited => tonic::Code::ResourceExhausted,
        ErrorKind::PreconditionFailed => tonic::Code::FailedPrecondition,
    }
}

const INTERNAL: &str = "internal error";

/// An error with its causes, `outer: inner: root`, as `{:#}` prints an `anyhow::Error`: for an
/// error held by reference, which cannot become an `anyhow::Error` without losing its sources.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// A failed request, with a message that is safe to show the caller. HTTP body:
/// `{"error": {"kind": "forbidden", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    /// An error of `kind`; for `Internal` the message is replaced (log the cause yourself, or
    /// use [`ApiError::internal`]).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        let message = match kind {
            ErrorKind::Internal => INTERNAL.to_owned(),
            _ => message.into(),
        };
        ApiError { kind, message }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Conflict, message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Unavailable, message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            ErrorKind::Unauthenticated,
            "missing or invalid credentials: send `authorization: Bearer <token>`",
        )
    }

    /// Logs the cause with its chain and returns an error that leaks nothing of it.
    pub fn internal(cause: &anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{cause:#}"), "internal error");
        ApiError::new(ErrorKind::Internal, INTERNAL)
    }

    pub fn http_status(&self) -> StatusCode {
        http_status(self.kind)
    }

    pub fn to_status(&self) -> tonic::Status {
        tonic::Status::new(grpc_code(self.kind), self.message.clone())
    }
}

/// A refusal from another service passes through; its internals were never in it.
impl From<RemoteError> for ApiError {
    fn from(e: RemoteError) -> ApiError {
        ApiError::new(e.kind, e.message)
    }
}

/// A failed call: the remote refusal passes through, an outage is `unavailable`, an unreadable
/// reply is `internal` (logged here, with the subject, which the caller never sees).
impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        if e.kind() == ErrorKind::Internal {
            tracing::error!(error = %e, "a call to another service failed");
        }
        ApiError::new(e.kind(), e.public_message())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(&e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::internal(&anyhow::Error::new(e).context("storage"))
    }
}

/// The same error on the wire of NATS request/reply.
impl From<ApiError> for RemoteError {
    fn from(e: ApiError) -> RemoteError {
        RemoteError::new(e.kind, e.message)
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> tonic::Status {
        e.to_status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.http_status();
        let body = Json(serde_json::json!({
            "error": { "kind": self.kind.as_str(), "message": self.message }
        }));
        if self.kind == ErrorKind::Unauthenticated {
            (status, [("www-authenticate", "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [(ErrorKind, u16, tonic::Code); 8] = [
        (ErrorKind::Invalid, 400, tonic::Code::InvalidArgument),
        (
            ErrorKind::Unauthenticated,
            401,
            tonic::Code::Unauthenticated,
        ),
        (ErrorKind::Forbidden, 403, tonic::Code::PermissionDenied),
        (ErrorKind::NotFound, 404, tonic::Code::NotFound),
        (ErrorKind::Conflict, 409, tonic::Code::FailedPrecondition),
        (ErrorKind::Unavailable, 503, tonic::Code::Unavailable),
        (ErrorKind::Internal, 500, tonic::Code::Internal),
        (
            ErrorKind::PreconditionFailed,
            412,
            tonic::Code::FailedPrecondition,
        ),
    ];

    #[test]
    fn the_chain_keeps_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = anyhow::Error::new(io).context("reading a row");
        let boxed: Box<dyn std::error::Error + Send + Sync> = e.into();
        assert_eq!(chain(boxed.as_ref()), "reading a row: reset by peer");
    }

    #[test]
    fn every_kind_maps_to_its_http_and_grpc_code() {
        for (kind, http, grpc) in KINDS {
            let e = ApiError::from(CallError::Remote(RemoteError::new(kind, "m")));
            assert_eq!(e.http_status().as_u16(), http, "{kind:?}");
            assert_eq!(e.to_status().code(), grpc, "{kind:?}");
            assert_eq!(e.kind, kind);
        }
    }

    #[tokio::test]
    async fn the_body_names_the_kind_and_401_asks_for_a_bearer_token() {
        let response = ApiError::forbidden("not your ticket").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["error"]["kind"], "forbidden");
        assert_eq!(json["error"]["message"], "not your ticket");

        let response = ApiError::unauthenticated().into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }

    #[tokio::test]
    async fn internal_errors_leak_nothing() {
        let secret = "relation tickets.ticket does not exist at 10.0.0.7";
        let cases = [
            ApiError::from(CallError::Remote(RemoteError::new(
                ErrorKind::Internal,
                secret,
            ))),
            ApiError::from(CallError::Decode(secret.into())),
            ApiError::from(anyhow::anyhow!("{secret}").context("loading")),
            ApiError::new(ErrorKind::Internal, secret),
        ];
        for e in cases {
            assert_eq!(e.kind, ErrorKind::Internal);
            assert_eq!(e.message, "internal error");
            assert_eq!(e.to_status().message(), "internal error");
            let body = axum::body::to_bytes(e.into_response().into_body(), 1 << 16)
                .await
                .expect("body");
            assert!(!String::from_utf8_lossy(&body).contains("10.0.0.7"));
        }
        let e = ApiError::from(CallError::Unavailable(
            "t.tickets.cmd: no responders".into(),
        ));
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(!e.message.contains("tickets.cmd"), "{}", e.message);
    }
}
