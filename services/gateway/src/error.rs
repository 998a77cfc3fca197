//! What a department is told when a request fails, and the one mapping per protocol.
//!
//! Every failure becomes an [`ApiError`] whose [`Fault`] is the ledger's `ErrorKind` plus
//! `Unauthenticated` (which only the gateway can say). [`ApiError::to_status`] (gRPC) and
//! [`ApiError::http_status`] (REST) are the only places that turn a fault into a protocol code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hotline_bus::rpc::CallError;
use hotline_domain::contract::ErrorKind;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// No valid credentials (the gateway's own verdict, before anything else is looked at).
    Unauthenticated,
    Invalid,
    NotFound,
    /// Not this department's ticket.
    Forbidden,
    /// The ticket's state does not allow this now.
    Conflict,
    Unavailable,
    Internal,
}

impl Fault {
    /// The name used in REST error bodies and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Unauthenticated => "unauthenticated",
            Fault::Invalid => "invalid",
            Fault::NotFound => "not_found",
            Fault::Forbidden => "forbidden",
            Fault::Conflict => "conflict",
            Fault::Unavailable => "unavailable",
            Fault::Internal => "internal",
        }
    }

    /// A refusal is the caller's doing (counted by reason); the rest are our failures.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Fault::Unauthenticated
                | Fault::Invalid
                | Fault::NotFound
                | Fault::Forbidden
                | Fault::Conflict
        )
    }
}

impl From<ErrorKind> for Fault {
    fn from(kind: ErrorKind) -> Fault {
        match kind {
            ErrorKind::Invalid => Fault::Invalid,
            ErrorKind::NotFound => Fault::NotFound,
            ErrorKind::Forbidden => Fault::Forbidden,
            ErrorKind::Conflict => Fault::Conflict,
            ErrorKind::Unavailable => Fault::Unavailable,
            ErrorKind::Internal => Fault::Internal,
        }
    }
}

/// A failed request, with a message that is safe to show the department.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", fault.as_str())]
pub struct ApiError {
    pub fault: Fault,
    pub message: String,
}

impl ApiError {
    pub fn new(fault: Fault, message: impl Into<String>) -> ApiError {
        let message = match fault {
            // Whatever the cause, internals stay in our logs.
            Fault::Internal => "internal error".to_owned(),
            _ => message.into(),
        };
        ApiError { fault, message }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(Fault::Invalid, message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            Fault::Unauthenticated,
            "missing or invalid credentials: send `authorization: Bearer <token>`",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(Fault::Unavailable, message)
    }

    /// Logs the cause (with its chain) and returns an error that leaks nothing of it.
    pub fn internal(cause: &anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{cause:#}"), "internal error");
        ApiError::new(Fault::Internal, "")
    }

    /// The gRPC status: the single ErrorKind -> gRPC mapping.
    pub fn to_status(&self) -> tonic::Status {
        let code = match self.fault {
            Fault::Unauthenticated => tonic::Code::Unauthenticated,
            Fault::Invalid => tonic::Code::InvalidArgument,
            Fault::NotFound => tonic::Code::NotFound,
            Fault::Forbidden => tonic::Code::PermissionDenied,
            Fault::Conflict => tonic::Code::FailedPrecondition,
            Fault::Unavailable => tonic::Code::Unavailable,
            Fault::Internal => tonic::Code::Internal,
        };
        tonic::Status::new(code, self.message.clone())
    }

    /// The HTTP status: the single ErrorKind -> HTTP mapping.
    pub fn http_status(&self) -> StatusCode {
        match self.fault {
            Fault::Unauthenticated => StatusCode::UNAUTHORIZED,
            Fault::Invalid => StatusCode::BAD_REQUEST,
            Fault::NotFound => StatusCode::NOT_FOUND,
            Fault::Forbidden => StatusCode::FORBIDDEN,
            Fault::Conflict => StatusCode::CONFLICT,
            Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        let fault = Fault::from(e.kind());
        if fault == Fault::Internal {
            tracing::error!(error = %e, "the ledger failed a request");
        }
        ApiError::new(fault, e.public_message())
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
            "error": { "kind": self.fault.as_str(), "message": self.message }
        }));
        if self.fault == Fault::Unauthenticated {
            (status, [("www-authenticate", "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_bus::rpc::RemoteError;

    #[test]
    fn every_kind_maps_to_its_grpc_and_http_code() {
        let cases = [
            (
                ErrorKind::Invalid,
                tonic::Code::InvalidArgument,
                StatusCode::BAD_REQUEST,
            ),
            (
                ErrorKind::NotFound,
                tonic::Code::NotFound,
                StatusCode::NOT_FOUND,
            ),
            (
                ErrorKind::Forbidden,
                tonic::Code::PermissionDenied,
                StatusCode::FORBIDDEN,
            ),
            (
                ErrorKind::Conflict,
                tonic::Code::FailedPrecondition,
                StatusCode::CONFLICT,
            ),
            (
                ErrorKind::Unavailable,
                tonic::Code::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                ErrorKind::Internal,
                tonic::Code::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (kind, grpc, http) in cases {
            let e = ApiError::from(CallError::Remote(RemoteError::new(kind, "m")));
            assert_eq!(e.to_status().code(), grpc, "{kind:?}");
            assert_eq!(e.http_status(), http, "{kind:?}");
        }
        let e = ApiError::unauthenticated();
        assert_eq!(e.to_status().code(), tonic::Code::Unauthenticated);
        assert_eq!(e.http_status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn internal_errors_leak_nothing() {
        let e = ApiError::from(CallError::Remote(RemoteError::new(
            ErrorKind::Internal,
            "relation tickets.ticket does not exist at 10.0.0.7",
        )));
        assert_eq!(e.message, "internal error");
        assert_eq!(e.to_status().message(), "internal error");
        let e = ApiError::from(CallError::Decode("expected `,` at line 1".into()));
        assert_eq!(e.fault, Fault::Internal);
        assert_eq!(e.message, "internal error");
        let e = ApiError::from(CallError::Unavailable(
            "t.tickets.cmd: no responders".into(),
        ));
        assert_eq!(e.fault, Fault::Unavailable);
        assert!(!e.message.contains("tickets.cmd"));
    }

    #[test]
    fn refusals_are_the_callers_doing() {
        assert!(Fault::Forbidden.is_refusal());
        assert!(Fault::Unauthenticated.is_refusal());
        assert!(!Fault::Unavailable.is_refusal());
        assert!(!Fault::Internal.is_refusal());
    }
}
