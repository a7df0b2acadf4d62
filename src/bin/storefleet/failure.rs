//! How a command fails: an exit code and a one-line reason for stderr.

use storefleet::firmware::{LibraryError, PreflightRefusal, ServerError, WatchError};
use storefleet::history::HistoryError;

/// Refused input (DESIGN.md section 6).
pub const REFUSED: u8 = 2;
/// Anything else that went wrong.
pub const ERROR: u8 = 1;
/// The deployment finished (or the wait ended) with a target not completed.
pub const INCOMPLETE: u8 = 3;
/// The wait ended because the deployment paused (its rollout policy, or the operator).
pub const PAUSED: u8 = 4;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            code: REFUSED,
            message: message.into(),
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            code: ERROR,
            message: message.into(),
        }
    }
}

impl From<LibraryError> for Failure {
    fn from(e: LibraryError) -> Self {
        if e.is_refusal() {
            Self::refused(e.to_string())
        } else {
            Self::error(e.to_string())
        }
    }
}

impl From<HistoryError> for Failure {
    fn from(e: HistoryError) -> Self {
        Self::error(e.to_string())
    }
}

impl From<PreflightRefusal> for Failure {
    fn from(e: PreflightRefusal) -> Self {
        match e {
            PreflightRefusal::Client(_) => Self::error(e.to_string()),
            _ => Self::refused(e.to_string()),
        }
    }
}

impl From<storefleet::service::new_deployment::NewDeploymentError> for Failure {
    fn from(e: storefleet::service::new_deployment::NewDeploymentError) -> Self {
        if e.is_refusal() {
            Self::refused(e.to_string())
        } else {
            Self::error(e.to_string())
        }
    }
}

impl From<ServerError> for Failure {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::InvalidAdvertise(_) => Self::refused(e.to_string()),
            ServerError::Bind { .. } => Self::error(e.to_string()),
        }
    }
}

impl From<WatchError> for Failure {
    fn from(e: WatchError) -> Self {
        match e {
            WatchError::Library(e) => e.into(),
            other => Self::error(other.to_string()),
        }
    }
}

impl From<storefleet::service::ServiceError> for Failure {
    fn from(e: storefleet::service::ServiceError) -> Self {
        use storefleet::service::ServiceError as E;
        match &e {
            E::UnknownDeployment(_) | E::Engine(_) | E::ReadOnly(_) | E::NoBroker => {
                Self::refused(e.to_string())
            }
            E::Link(storefleet::link::LinkError::Config(_)) => Self::refused(e.to_string()),
            _ => Self::error(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // stdout's reader went away (`| head`): it has what it wanted; end quietly.
            return Self {
                code: 0,
                message: String::new(),
            };
        }
        Self::error(e.to_string())
    }
}
