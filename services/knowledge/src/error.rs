//! The one place the knowledge base's errors become what a caller sees: a kind (HTTP status /
//! NATS error kind) and a message that never carries internals.

use hotline_bus::rpc::RemoteError;
use hotline_domain::contract::ErrorKind;
use hotline_runtime::ApiError;

use crate::formats::ImportError;
use crate::governance::GovernanceError;
use crate::search::SearchError;
use crate::store::{StoreError, TaskError};

impl From<GovernanceError> for RemoteError {
    fn from(e: GovernanceError) -> Self {
        let kind = match &e {
            GovernanceError::NotFound => ErrorKind::NotFound,
            GovernanceError::NotOwner
            | GovernanceError::CentreOnly(_)
            | GovernanceError::OwnerChange => ErrorKind::Forbidden,
            GovernanceError::InReview
            | GovernanceError::NotInReview
            | GovernanceError::NoDraft
            | GovernanceError::NotPublished => ErrorKind::Conflict,
            GovernanceError::UnknownMatter(_) | GovernanceError::Model(_) => ErrorKind::Invalid,
        };
        RemoteError::new(kind, e.to_string())
    }
}

impl From<TaskError> for RemoteError {
    fn from(e: TaskError) -> Self {
        let kind = match &e {
            TaskError::NotFound | TaskError::UnknownLeaf | TaskError::UnknownItem => {
                ErrorKind::NotFound
            }
            TaskError::AlreadyDone => ErrorKind::Conflict,
            TaskError::NotOwner => ErrorKind::Forbidden,
            TaskError::EmptyReason => ErrorKind::Invalid,
        };
        RemoteError::new(kind, e.to_string())
    }
}

impl From<StoreError> for RemoteError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(rule) => rule.into(),
            StoreError::Task(task) => task.into(),
            StoreError::Stale => RemoteError::new(ErrorKind::PreconditionFailed, e.to_string()),
            StoreError::Internal(cause) => RemoteError::internal(&cause),
        }
    }
}

impl From<SearchError> for RemoteError {
    fn from(e: SearchError) -> Self {
        if e.is_caller_error() {
            RemoteError::invalid(e.to_string())
        } else {
            RemoteError::internal(&anyhow::anyhow!(e))
        }
    }
}

impl From<ImportError> for RemoteError {
    fn from(e: ImportError) -> Self {
        RemoteError::invalid(format!("import refused, nothing was stored: {e}"))
    }
}

/// The HTTP edge answers each of these with the kind chosen above (and the runtime maps kinds
/// to statuses).
macro_rules! api_error_via_remote {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for ApiError {
            fn from(e: $error) -> ApiError {
                ApiError::from(RemoteError::from(e))
            }
        })*
    };
}

api_error_via_remote!(
    GovernanceError,
    TaskError,
    StoreError,
    SearchError,
    ImportError
);
