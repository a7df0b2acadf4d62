//! The one error that crosses IPC: a stable code the UI can branch on, and a message a
//! person can read. The UI never parses messages.

use serde::Serialize;
use storefleet::firmware::{LibraryError, PreflightRefusal, ServerError};
use storefleet::history::HistoryError;
use storefleet::profiles::ProfileError;
use storefleet::service::ServiceError;
use ts_rs::TS;

/// What kind of failure this is; the UI picks its wording and remedy from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself was wrong (bad id, missing file, bad option).
    InvalidInput,
    /// Something the request names does not exist.
    NotFound,
    /// The request clashes with the current state (e.g. removing the connected profile).
    Conflict,
    /// Something needed is not there right now (keychain, firmware server, service).
    Unavailable,
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

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<ProfileError> for BoundaryError {
    fn from(e: ProfileError) -> Self {
        let code = match &e {
            ProfileError::Invalid(_) => ErrorCode::InvalidInput,
            ProfileError::NotFound(_) => ErrorCode::NotFound,
            ProfileError::DemoReadOnly => ErrorCode::Conflict,
            ProfileError::Keychain(_) | ProfileError::PasswordGone(_) => ErrorCode::Unavailable,
            ProfileError::Storage(_) => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<HistoryError> for BoundaryError {
    fn from(e: HistoryError) -> Self {
        Self::internal(e.to_string())
    }
}

impl From<storefleet::history::SearchError> for BoundaryError {
    fn from(e: storefleet::history::SearchError) -> Self {
        let code = if e.is_refusal() {
            ErrorCode::InvalidInput
        } else {
            ErrorCode::Internal
        };
        Self::new(code, e.to_string())
    }
}

impl From<LibraryError> for BoundaryError {
    fn from(e: LibraryError) -> Self {
        let code = match &e {
            LibraryError::UnknownArtifact(_) => ErrorCode::NotFound,
            LibraryError::AlreadyRegistered { .. } => ErrorCode::Conflict,
            e if e.is_refusal() => ErrorCode::InvalidInput,
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<ServiceError> for BoundaryError {
    fn from(e: ServiceError) -> Self {
        let code = match &e {
            ServiceError::UnknownDeployment(_) => ErrorCode::NotFound,
            ServiceError::Engine(_) => ErrorCode::InvalidInput,
            ServiceError::Link(_) => ErrorCode::InvalidInput,
            ServiceError::ReadOnly(_) | ServiceError::NoBroker => ErrorCode::Conflict,
            ServiceError::Stopped | ServiceError::NotTaken { .. } => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<storefleet::service::new_deployment::NewDeploymentError> for BoundaryError {
    fn from(e: storefleet::service::new_deployment::NewDeploymentError) -> Self {
        use storefleet::service::new_deployment::NewDeploymentError as E;
        let code = match &e {
            E::NoServer => ErrorCode::Unavailable,
            E::Library(LibraryError::UnknownArtifact(_)) => ErrorCode::NotFound,
            e if e.is_refusal() => ErrorCode::InvalidInput,
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl From<PreflightRefusal> for BoundaryError {
    fn from(e: PreflightRefusal) -> Self {
        let code = match &e {
            PreflightRefusal::Client(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidInput,
        };
        Self::new(code, e.to_string())
    }
}

impl From<ServerError> for BoundaryError {
    fn from(e: ServerError) -> Self {
        Self::unavailable(e.to_string())
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

    #[test]
    fn unknown_artifacts_are_not_found_and_stale_ones_are_refused() {
        let e: BoundaryError = LibraryError::UnknownArtifact(7).into();
        assert_eq!(e.code, ErrorCode::NotFound);
        let e: BoundaryError = LibraryError::Stale {
            id: 7,
            path: "/fw.bin".into(),
        }
        .into();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("rehash"), "{}", e.message);
    }

    /// A bad search is the caller's to fix (the mock refuses it with the same code); a failed
    /// query is not.
    #[test]
    fn refused_searches_are_invalid_input() {
        use storefleet::history::{HistoryError, SearchError};
        let e: BoundaryError = SearchError::BadRange.into();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert_eq!(e.message, "the time range ends before it starts");
        let e: BoundaryError = SearchError::BadPageSize(0).into();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        let e: BoundaryError = SearchError::History(HistoryError::Corrupt("x".into())).into();
        assert_eq!(e.code, ErrorCode::Internal);
    }
}
