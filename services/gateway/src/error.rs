//! What a department is told when a request fails.
//!
//! The error type and the one mapping from error kinds to gRPC and HTTP codes are the runtime's,
//! shared by every service: [`ApiError::to_status`] (gRPC), [`ApiError::http_status`] (REST).
//! `ErrorKind::Unauthenticated` is the gateway's own verdict on credentials, before anything
//! else is looked at; an internal error tells the department nothing but "internal error".

pub use hotline_domain::contract::ErrorKind;
pub use hotline_runtime::ApiError;

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_bus::rpc::{CallError, RemoteError};

    #[test]
    fn a_ledger_refusal_reaches_the_department_with_its_code() {
        let e = ApiError::from(CallError::Remote(RemoteError::new(
            ErrorKind::Forbidden,
            "not the lead",
        )));
        assert_eq!(e.to_status().code(), tonic::Code::PermissionDenied);
        assert_eq!(e.http_status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(e.message, "not the lead");
        let e = ApiError::unauthenticated();
        assert_eq!(e.to_status().code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn refusals_are_the_callers_doing() {
        assert!(ErrorKind::Forbidden.is_refusal());
        assert!(ErrorKind::Unauthenticated.is_refusal());
        assert!(!ErrorKind::Unavailable.is_refusal());
        assert!(!ErrorKind::Internal.is_refusal());
    }
}
