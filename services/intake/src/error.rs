//! Errors at the Open311 edge, and the one place they become HTTP statuses.
//!
//! [`Rejection`] is what a client did wrong (typed, matched on by tests, safe to show: it never
//! repeats personal data). [`Open311Error`] is everything a handler can fail with; its
//! [`Open311Error::status`] is the only mapping to HTTP, built on [`http_status`] for the
//! shared [`ErrorKind`].

use axum::http::StatusCode;
use hotline_bus::rpc::CallError;
use hotline_domain::contract::ErrorKind;

/// A request the client must fix. Messages are shown to the client as the Open311 error
/// `description`, so they name fields, never echo personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("api_key is missing or not valid")]
    ApiKey,
    #[error("too many requests for this api_key, please retry in a minute")]
    RateLimited,
    #[error("jurisdiction_id was not found")]
    UnknownJurisdiction,
    #[error("the request body is not valid UTF-8")]
    NotUtf8,
    #[error("the request is malformed: {0}")]
    Malformed(String),
    /// NUL and other control characters (tab, LF and CR are kept); see `hotline_domain::text`.
    #[error("{field} contains a control character (U+{code:04X}), which is not allowed")]
    ControlCharacter { field: String, code: u32 },
    #[error("{0} was given more than once")]
    Repeated(String),
    #[error("service_code is required")]
    MissingServiceCode,
    #[error("service_code was not found")]
    UnknownService,
    #[error("a location is required: lat and long, address_string or address_id")]
    MissingLocation,
    #[error("lat and long must be given together")]
    HalfCoordinates,
    #[error("{0} is not a valid coordinate")]
    BadCoordinate(&'static str),
    #[error("phone is not a valid phone number")]
    Phone,
    #[error("email is not a valid email address")]
    Email,
    #[error("media_url must be an http or https URL")]
    MediaUrl,
    #[error("description is longer than {max} characters")]
    DescriptionTooLong { max: usize },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error(
        "request_type is not one of consultation, help_request, complaint, report, suggestion, praise (or 咨询, 求助, 投诉, 举报, 建议, 表扬)"
    )]
    RequestType,
    #[error("confidential must be true or false")]
    Confidential,
    #[error("attribute[{0}] is required")]
    MissingAttribute(String),
    #[error("attribute[{0}] has a value that is not in the service definition")]
    AttributeNotListed(String),
    #[error("attribute[{0}] takes one value")]
    AttributeSingle(String),
    #[error("attribute[{0}] must be a number")]
    AttributeNumber(String),
    #[error("attribute[{0}] must be a date-time with a zone (ISO 8601)")]
    AttributeDatetime(String),
    #[error("attribute[{code}] is longer than {max} characters")]
    AttributeTooLong { code: String, max: usize },
    #[error("Idempotency-Key must be 1-255 visible ASCII characters")]
    IdempotencyKey,
    #[error("service_request_id is not a valid ticket number")]
    TicketNo,
    #[error("service_code {0:?} is not a valid service code")]
    ServiceCodeFormat(String),
    #[error("{0} must be an ISO 8601 date-time with a zone, e.g. 2026-11-29T08:30:00+08:00")]
    Date(&'static str),
    #[error("start_date must not be after end_date")]
    DatesReversed,
    #[error("start_date and end_date may not span more than 90 days")]
    SpanTooLong,
    #[error("status must be open, closed or both")]
    Status,
    #[error("the format must be .json or .xml")]
    Format,
}

impl Rejection {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Rejection::ApiKey => ErrorKind::Forbidden,
            Rejection::RateLimited => ErrorKind::RateLimited,
            // Open311 answers 404 for a service_code or jurisdiction that does not exist.
            Rejection::UnknownService | Rejection::UnknownJurisdiction | Rejection::Format => {
                ErrorKind::NotFound
            }
            _ => ErrorKind::Invalid,
        }
    }
}

/// Everything an Open311 handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Open311Error {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("{0}")]
    NotFound(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A service we depend on did not answer; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The ledger (or dispatch) answered with an error of its own.
    #[error("{}", .0.public_message())]
    Upstream(#[from] CallError),
    /// Our fault. The cause is logged; the client sees only "internal error".
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Open311Error {
    pub fn not_found(what: impl Into<String>) -> Open311Error {
        Open311Error::NotFound(what.into())
    }

    /// The one mapping from an error to an HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Open311Error::Rejected(r) => http_status(r.kind()),
            Open311Error::NotFound(_) => http_status(ErrorKind::NotFound),
            Open311Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Open311Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Open311Error::Unavailable(_) => http_status(ErrorKind::Unavailable),
            Open311Error::Upstream(e) => http_status(e.kind()),
            Open311Error::Internal(_) => http_status(ErrorKind::Internal),
        }
    }

    /// The Open311 error `description`: never internals.
    pub fn description(&self) -> String {
        match self {
            Open311Error::Upstream(e) if e.kind() == ErrorKind::Internal => {
                "internal error".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// The shared error kinds as HTTP statuses: the runtime's table, which every HTTP edge uses.
pub use hotline_runtime::http_status;

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_bus::rpc::RemoteError;

    #[test]
    fn every_kind_has_its_status() {
        let table = [
            (ErrorKind::Invalid, 400),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::Conflict, 409),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Internal, 500),
        ];
        for (kind, code) in table {
            assert_eq!(http_status(kind).as_u16(), code, "{kind:?}");
        }
    }

    #[test]
    fn rejections_follow_the_open311_error_codes() {
        assert_eq!(Open311Error::from(Rejection::ApiKey).status(), 403);
        assert_eq!(Open311Error::from(Rejection::UnknownService).status(), 404);
        assert_eq!(
            Open311Error::from(Rejection::MissingServiceCode).status(),
            400
        );
        assert_eq!(Open311Error::from(Rejection::MissingLocation).status(), 400);
        assert_eq!(
            Open311Error::PayloadTooLarge { limit: 10 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn internals_never_reach_the_client() {
        let e = Open311Error::Internal(anyhow::anyhow!("db password is hunter2"));
        assert_eq!(e.status(), 500);
        assert_eq!(e.description(), "internal error");
        let e = Open311Error::Upstream(CallError::Decode("expected `ticket_no` at 1:7".into()));
        assert_eq!(e.status(), 500);
        assert_eq!(e.description(), "internal error");
        let e = Open311Error::Upstream(CallError::Unavailable("tickets.cmd: no responders".into()));
        assert_eq!(e.status(), 503);
        assert!(!e.description().contains("tickets.cmd"));
        let e =
            Open311Error::Upstream(CallError::Remote(RemoteError::conflict("ticket is closed")));
        assert_eq!(e.status(), 409);
        assert_eq!(e.description(), "ticket is closed");
    }
}
