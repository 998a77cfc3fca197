//! The survey service's errors, mapped to the platform's kinds in one place ([`SurveyError::kind`]).

use hotline_domain::contract::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// Answered already, closed as unreachable, or not in a state for this step.
    #[error("{0}")]
    Conflict(String),
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl SurveyError {
    pub fn invalid(message: impl Into<String>) -> SurveyError {
        SurveyError::Invalid(message.into())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            SurveyError::Invalid(_) => ErrorKind::Invalid,
            SurveyError::NotFound(_) => ErrorKind::NotFound,
            SurveyError::Forbidden(_) => ErrorKind::Forbidden,
            SurveyError::Conflict(_) => ErrorKind::Conflict,
            SurveyError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ErrorKind::Unavailable
            }
            SurveyError::Database(_) | SurveyError::Other(_) => ErrorKind::Internal,
        }
    }

    /// The answer an API caller gets: the message for their own mistakes, nothing of ours.
    pub fn to_api(&self) -> hotline_runtime::ApiError {
        match self.kind() {
            ErrorKind::Internal => {
                hotline_runtime::ApiError::internal(&anyhow::anyhow!("{self:#}"))
            }
            kind => hotline_runtime::ApiError::new(kind, self.to_string()),
        }
    }
}

impl From<crate::answer::AnswerError> for SurveyError {
    fn from(e: crate::answer::AnswerError) -> SurveyError {
        match e {
            crate::answer::AnswerError::Invalid(m) => SurveyError::Invalid(m),
        }
    }
}
