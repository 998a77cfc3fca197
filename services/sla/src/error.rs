//! The SLA service's typed errors and the one place they become error kinds (and so NATS
//! replies and HTTP statuses: `hotline_runtime::http_status`).

use hotline_bus::rpc::{CallError, RemoteError};
use hotline_domain::contract::ErrorKind;

use crate::ladder::ExtensionRefusal;

#[derive(Debug, thiserror::Error)]
pub enum SlaError {
    /// Bad input: a malformed field, a period the wrong way round, a clock that makes no sense.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// An extension request the rules refuse.
    #[error(transparent)]
    Refused(#[from] ExtensionRefusal),
    /// The ledger refused or could not be reached; the message is safe to show.
    #[error("{message}")]
    Ledger { kind: ErrorKind, message: String },
    #[error("storage: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl SlaError {
    pub fn invalid(message: impl Into<String>) -> SlaError {
        SlaError::Invalid(message.into())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            SlaError::Invalid(_) => ErrorKind::Invalid,
            SlaError::NotFound(_) => ErrorKind::NotFound,
            SlaError::Refused(r) => r.kind(),
            SlaError::Ledger { kind, .. } => *kind,
            SlaError::Store(_) | SlaError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The reply a caller gets: internals are logged here and never leave the service.
    pub fn to_remote(&self) -> RemoteError {
        match self {
            SlaError::Store(e) => {
                // Borrowed: logged with its whole chain here rather than moved into anyhow.
                tracing::error!(error = %hotline_runtime::error::chain(e), "internal error");
                RemoteError::new(ErrorKind::Internal, "internal error")
            }
            SlaError::Internal(e) => RemoteError::internal(e),
            other => RemoteError::new(other.kind(), other.to_string()),
        }
    }
}

impl From<CallError> for SlaError {
    fn from(e: CallError) -> SlaError {
        if e.kind() == ErrorKind::Internal {
            tracing::error!(error = %e, "the ledger failed a request");
        }
        SlaError::Ledger {
            kind: e.kind(),
            message: e.public_message(),
        }
    }
}

impl From<SlaError> for RemoteError {
    fn from(e: SlaError) -> RemoteError {
        e.to_remote()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_kinds_the_gateway_expects() {
        let e = SlaError::from(ExtensionRefusal::OtherDepartment);
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        let e = SlaError::from(ExtensionRefusal::DeadlinePassed {
            due: chrono::Utc::now(),
        });
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(
            hotline_runtime::http_status(e.to_remote().kind).as_u16(),
            409
        );
        let e = SlaError::from(ExtensionRefusal::NotLater {
            due: chrono::Utc::now(),
        });
        assert_eq!(e.kind(), ErrorKind::Invalid);
        let e = SlaError::Internal(anyhow::anyhow!("connection to 10.0.0.5 refused"));
        assert_eq!(e.to_remote().message, "internal error");
    }
}
