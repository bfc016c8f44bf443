//! The one error type of the model and the core's operations. Protocol adapters translate it
//! into their own error formats.

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
    /// The event stream cannot be reached, or did not acknowledge the write in time: the
    /// outcome is unknown (the write may be stored; a retry carries the same event id, so it
    /// is never stored twice).
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
