//! What became of one inbound message, with a machine reason for everything not applied.

use serde::{Deserialize, Serialize};

use super::effects::{CommandRole, Effects};
use crate::protocol::{FirmwareUpdate, Id};

/// The result of [`super::Engine::on_inbound`]: the verdict and what it caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub outcome: InboundOutcome,
    /// Empty unless the message was applied (and, rarely, for a command that escaped
    /// withdrawal: then a cancel command follows).
    pub effects: Effects,
}

/// The target (and attempt) a message was matched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub deployment_id: Id,
    pub store_id: Id,
    pub controller_id: Id,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    /// The reply changed the target's status; the transitions are in [`Handled::effects`].
    Applied(TargetRef),
    /// A genuine reply for a known target that changes no status.
    Unchanged {
        target: TargetRef,
        reason: UnchangedReason,
    },
    /// One of this engine's own commands, heard back on the wildcard subscription.
    OwnEcho {
        target: TargetRef,
        role: CommandRole,
    },
    /// A command this engine did not send: another operator's (or process's) deployment.
    Observed(ObservedCommand),
    /// Not a reply to anything this engine can match.
    Rejected(RejectReason),
}

impl InboundOutcome {
    /// Stable machine name: `applied`, `own_echo`, `observed`, or the reason's code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Applied(_) => "applied",
            Self::Unchanged { reason, .. } => reason.code(),
            Self::OwnEcho { .. } => "own_echo",
            Self::Observed(_) => "observed",
            Self::Rejected(reason) => reason.code(),
        }
    }

    pub fn is_rejected(&self) -> bool {
        matches!(self, Self::Rejected(_))
    }
}

/// Why a genuine reply changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum UnchangedReason {
    /// The same reply again (QoS 1 redelivery).
    #[error("duplicate of a reply already applied")]
    Duplicate,
    /// It answers an earlier attempt of a target that has since been retried.
    #[error("reply to an earlier attempt")]
    StaleAttempt,
    /// The controller already reported completed or failed for this attempt: first wins.
    #[error("the controller already reported this attempt's result")]
    AlreadyReported,
    /// An update ack after a cancel was requested: noted; the cancel ack is awaited.
    #[error("update acknowledged while a cancel is pending")]
    CancelRequested,
    /// An update ack after the target was cancelled.
    #[error("update acknowledged after the target was cancelled")]
    Cancelled,
    /// An ack after the completion timeout had passed: the target stays timed out.
    #[error("ack after the completion timeout")]
    TimedOut,
}

impl UnchangedReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::StaleAttempt => "stale_attempt",
            Self::AlreadyReported => "already_reported",
            Self::CancelRequested => "cancel_requested",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
        }
    }
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    #[error("reply for an unknown deployment")]
    UnknownDeployment,
    #[error("reply from a controller that is not a target of this deployment")]
    UnknownTarget,
    /// An ack must answer a command; this correlation id matches none of ours.
    #[error("ack whose correlation id matches no command sent to this target")]
    UnknownCorrelationId,
    /// The correlation id is one of ours, but of a command to another target or deployment.
    #[error("correlation id belongs to a command for another target")]
    CorrelationIdOfOtherTarget,
    /// An update ack answering our cancel command, or a cancel ack answering our update.
    #[error("ack answers a command of the other kind")]
    CorrelationIdOfOtherCommand,
    /// A report with a correlation id of no command of ours, for a target whose current
    /// command has not left yet: it cannot be about this attempt.
    #[error("report for a target whose command has not been sent")]
    NotSent,
    /// A command that carries one of our correlation ids but differs from what we sent.
    #[error("command reuses one of our correlation ids")]
    CorrelationIdReused,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownDeployment => "unknown_deployment",
            Self::UnknownTarget => "unknown_target",
            Self::UnknownCorrelationId => "unknown_correlation_id",
            Self::CorrelationIdOfOtherTarget => "correlation_id_of_other_target",
            Self::CorrelationIdOfOtherCommand => "correlation_id_of_other_command",
            Self::NotSent => "not_sent",
            Self::CorrelationIdReused => "correlation_id_reused",
        }
    }
}

/// A command heard on the wire that this engine did not send, with what history needs to
/// record it as another operator's deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCommand {
    pub deployment_id: Id,
    pub store_id: Id,
    pub controller_id: Id,
    pub correlation_id: Id,
    pub role: CommandRole,
    /// The firmware of an `update_firmware`; `None` for a cancel.
    pub firmware: Option<FirmwareUpdate>,
    /// The deployment id is one this engine holds: another process or operator is acting on
    /// it. The engine does not adopt such commands; their replies will be rejected.
    pub known_deployment: bool,
}
