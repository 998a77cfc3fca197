//! What the app API refuses, and the one place each refusal becomes an HTTP status.
//!
//! The body is `{"error": <code>, "message": <words>}`; the words never carry what was sent
//! (phone numbers, codes, tokens), and server faults say only "internal error" to the client,
//! their cause going to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Rejection;
use crate::web::photo::PhotoError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request's own fields, under Open311's rules (the text rule included).
    #[error("{0}")]
    Request(#[from] Rejection),
    #[error("{0}")]
    Photo(#[from] PhotoError),
    #[error("{0}")]
    Malformed(String),
    #[error("phone is not a valid phone number")]
    Phone,
    #[error("the code is wrong or has expired")]
    WrongCode,
    #[error("too many wrong codes: ask for a new code later")]
    Locked { retry_after_secs: u64 },
    #[error("too many codes asked for: try again later")]
    TooManyCodes { retry_after_secs: u64 },
    #[error("the access token is missing, expired or revoked")]
    Unauthenticated,
    #[error("the refresh token is not valid")]
    BadRefreshToken,
    #[error("not found")]
    NotFound,
    /// The ledger refused the step in the ticket's state (a survey when none is due).
    #[error("{0}")]
    Conflict(String),
    #[error("the SMS could not be sent to this number")]
    SmsRefused,
    #[error("a service is unavailable, please retry")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// The one mapping to HTTP statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Request(_)
            | AppError::Photo(_)
            | AppError::Malformed(_)
            | AppError::Phone => StatusCode::BAD_REQUEST,
            AppError::WrongCode | AppError::Unauthenticated | AppError::BadRefreshToken => {
                StatusCode::UNAUTHORIZED
            }
            AppError::Locked { .. } | AppError::TooManyCodes { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::SmsRefused => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable code for clients to branch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Request(_) | AppError::Malformed(_) => "invalid_request",
            AppError::Photo(_) => "invalid_photo",
            AppError::Phone => "invalid_phone",
            AppError::WrongCode => "wrong_code",
            AppError::Locked { .. } => "locked",
            AppError::TooManyCodes { .. } => "too_many_codes",
            AppError::Unauthenticated => "unauthenticated",
            AppError::BadRefreshToken => "invalid_grant",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::SmsRefused => "sms_refused",
            AppError::Unavailable => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::Locked { retry_after_secs } | AppError::TooManyCodes { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            AppError::Unavailable => Some(1),
            _ => None,
        }
    }
}

impl From<hotline_bus::rpc::CallError> for AppError {
    fn from(e: hotline_bus::rpc::CallError) -> AppError {
        use hotline_domain::contract::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => AppError::NotFound,
            ErrorKind::Conflict | ErrorKind::Forbidden => AppError::Conflict(e.to_string()),
            ErrorKind::Invalid => AppError::Malformed(e.to_string()),
            _ => {
                tracing::warn!(error = %e, "app: the ledger did not answer");
                AppError::Unavailable
            }
        }
    }
}

impl From<crate::error::Open311Error> for AppError {
    fn from(e: crate::error::Open311Error) -> AppError {
        let status = e.status();
        if status == StatusCode::NOT_FOUND {
            AppError::NotFound
        } else if status.is_client_error() {
            AppError::Malformed(e.to_string())
        } else {
            tracing::warn!(error = %e, "app: upstream failed");
            AppError::Unavailable
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if let AppError::Internal(cause) = &self {
            tracing::error!(error = %format!("{cause:#}"), "app: internal error");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (
            status,
            Json(json!({ "error": self.code(), "message": message })),
        )
            .into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hotline-app\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_mapped_in_one_place_and_internal_causes_stay_hidden() {
        assert_eq!(AppError::Phone.status(), StatusCode::BAD_REQUEST);
        assert_eq!(AppError::WrongCode.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            AppError::Locked {
                retry_after_secs: 3
            }
            .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(AppError::NotFound.status(), StatusCode::NOT_FOUND);
        let response = AppError::Internal(anyhow::anyhow!("password=hunter2")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let locked = AppError::Locked {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(
            locked.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(42u64))
        );
    }
}
