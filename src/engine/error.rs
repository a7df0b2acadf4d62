//! The engine's refusals. Each is one line, with a stable [`EngineError::code`].

use crate::protocol::Id;

use super::rollout::DeploymentState;
use super::status::TargetStatus;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("a deployment needs at least one target")]
    NoTargets,
    #[error("target {store_id}/{controller_id} is listed twice (again at index {index})")]
    DuplicateTarget {
        store_id: Id,
        controller_id: Id,
        index: usize,
    },
    #[error("the {0} timeout must be longer than zero")]
    ZeroTimeout(&'static str),
    #[error("deployment {0} already exists")]
    DeploymentExists(Id),
    #[error("unknown deployment {0}")]
    UnknownDeployment(Id),
    #[error("no command with correlation id {0}")]
    UnknownCommand(Id),
    #[error("target {store_id}/{controller_id} cannot get another attempt")]
    AttemptLimit { store_id: Id, controller_id: Id },
    #[error("rollout policy: {0}")]
    BadPolicy(&'static str),
    #[error("deployment {deployment_id} is {state}: it cannot be {action}")]
    NotRunning {
        deployment_id: Id,
        state: DeploymentState,
        action: &'static str,
    },
    #[error("cannot restore deployment {deployment_id}, target index {index}: {problem}")]
    Restore {
        deployment_id: Id,
        index: usize,
        problem: RestoreProblem,
    },
}

impl EngineError {
    /// Stable machine name, for the CLI's JSON and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoTargets => "no_targets",
            Self::DuplicateTarget { .. } => "duplicate_target",
            Self::ZeroTimeout(_) => "zero_timeout",
            Self::DeploymentExists(_) => "deployment_exists",
            Self::UnknownDeployment(_) => "unknown_deployment",
            Self::UnknownCommand(_) => "unknown_command",
            Self::AttemptLimit { .. } => "attempt_limit",
            Self::Restore { .. } => "restore_inconsistent",
            Self::BadPolicy(_) => "bad_policy",
            Self::NotRunning { .. } => "not_running",
        }
    }
}

/// What makes a restored target record impossible for the engine to continue from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreProblem {
    #[error("it has no attempts")]
    NoAttempts,
    #[error("attempt number {found} where {expected} was expected")]
    AttemptNumber { expected: u32, found: u32 },
    #[error("earlier attempt {attempt} is {status}; only failed or timed_out attempts are retried")]
    EarlierAttempt { attempt: u32, status: TargetStatus },
    #[error("status {0} needs a sent update command")]
    NotSent(TargetStatus),
    #[error("status queued but its update command was already sent or withdrawn")]
    QueuedButSent,
    #[error("status cancel_requested without a cancel command")]
    NoCancelCommand,
    #[error("status cancelled without a cancel command or a withdrawn update")]
    CancelledWithoutCause,
    #[error("correlation id {0} is used twice")]
    DuplicateCorrelationId(Id),
}
