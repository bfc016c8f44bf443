//! The core's one error type. Protocol adapters translate it into their own error formats.

use super::log::AppendError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A request parameter is missing or malformed; nothing was written.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("namespace {0} does not exist")]
    NamespaceNotFound(String),
    #[error("{0}")]
    NotFound(String),
    /// A compare-and-set lost, or the entity exists when it must not.
    #[error("{0}")]
    Conflict(String),
    /// The event stream did not acknowledge the write; nothing was written.
    #[error("{0}")]
    Unavailable(String),
}

impl CoreError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<AppendError> for CoreError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Conflict => CoreError::Conflict(
                "the config was changed by someone else (casMd5 mismatch)".into(),
            ),
            AppendError::TooLarge => CoreError::invalid(
                "content",
                "the change is larger than the NATS server accepts",
            ),
            AppendError::SubjectTooLong(bytes) => CoreError::invalid(
                "name",
                format!(
                    "the names of this change make a {bytes}-byte subject; at most {} are accepted",
                    super::limits::MAX_SUBJECT_BYTES
                ),
            ),
            other => CoreError::Unavailable(other.to_string()),
        }
    }
}
