//! The one error that crosses IPC: a stable code the UI can branch on, and a message a
//! person can read. The UI never parses messages.

use serde::Serialize;
use ts_rs::TS;

/// What kind of failure this is; the UI picks its wording and remedy from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself was wrong (bad id, missing file, bad option).
    InvalidInput,
    /// Something the request names does not exist.
    NotFound,
    /// Anything else: a bug or an environment failure.
    Internal,
}

/// `{code, message}`: the only error shape the UI ever receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct BoundaryError {
    pub code: ErrorCode,
    pub message: String,
}

impl BoundaryError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_and_message() {
        let err = BoundaryError::new(ErrorCode::InvalidInput, "store id contains '/'");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "invalid_input", "message": "store id contains '/'"})
        );
    }
}
