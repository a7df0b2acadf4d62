//! The deployment engine: the target lifecycle of DESIGN.md section 2 as a pure state
//! machine.
//!
//! No I/O, no clock, no threads: time comes in as [`Millis`], and every call returns plain
//! values ([`Effects`], [`Handled`]) that the owning service records in history, publishes
//! through the link and streams to the window. One task owns the [`Engine`].
//!
//! Lifecycle per target and attempt:
//!
//! ```text
//! queued → sent → acknowledged → completed | failed
//! sent → timed_out                 (no ack within the ack timeout, from sending)
//! sent | acknowledged → timed_out  (no result within the completion timeout, from sending)
//! queued | sent | acknowledged → cancel_requested → cancelled
//! failed | timed_out → queued      (retry: a new attempt)
//! queued → skipped                 (still waiting at the schedule's not-after; terminal)
//! ```
//!
//! Decisions where DESIGN.md is silent:
//! - A completed or failed report replaces timed_out, cancel_requested and also cancelled:
//!   a controller past the point of no return may finish anyway, and its word wins. The
//!   first report of an attempt is final; later ones are `duplicate` (identical) or
//!   `already_reported`.
//! - An update ack after an ack timeout revives the target to acknowledged (the controller
//!   is alive and will report), unless the completion timeout, still counted from the
//!   original send, has passed too (`timed_out`).
//! - A reply that proves a command left before its PUBACK was processed (an ack or report
//!   with its correlation id) first moves the target queued → sent, clocks from `now`; the
//!   late PUBACK then changes nothing. Our own echo is not taken as a PUBACK.
//! - Acks must carry the correlation id of our command of the same kind to that target.
//!   Reports may carry one we never issued (DESIGN.md matches them by deployment and
//!   target): they count for the current attempt once its command has left (`not_sent`
//!   before). A correlation id of ours used for another target is refused as spoofed.
//! - Cancel: a queued target whose command has not been confirmed sent is cancelled at
//!   once and its command withdrawn. If the command was published anyway (the withdrawal
//!   lost the race with the link), its PUBACK or ack turns the target cancelled →
//!   cancel_requested with a cancel command. A target already cancel_requested gets no
//!   second cancel. cancel_requested has no timeout: only the controller's cancel ack or
//!   report ends it. An update ack while cancel_requested is noted, not applied.
//! - A command with an unknown correlation id is observed (with `known_deployment` when it
//!   names one of ours) but not adopted: replies to it are rejected.
//! - Timeouts are inclusive: a target times out at a tick with `now >= sent + timeout`.
//!   Zero timeouts are refused. Timed-out transitions carry the tick's `now`.
//! - Create emits no transitions (every target starts queued at the creation time).
//!   Retry is all or nothing; with nothing to retry it returns no effects. A retry's
//!   transition (`failed → queued`) carries the new attempt number.
//! - Schedules (`schedule.rs`, in the policy so restore keeps them): nothing is sent before
//!   not-before; with windows, a target's command is made only while its store's window is
//!   open at `now` (the windows, resolved from the inventory at create, are pure functions of
//!   zone, windows and `now`: `crate::maintenance`). A closed store does not hold back the
//!   others, and a window closing never touches targets already sent. The engine wakes at the
//!   earliest opening, not-before or not-after: [`Engine::next_deadline`] includes it and
//!   [`Engine::tick`] releases (or skips) then.
//! - `skipped`: at not-after, targets still waiting with no command made become skipped, with
//!   the reason in their errors, whether the deployment runs or is paused; targets with a
//!   command (even one not yet published) go on. Skipped is terminal and not retried. It
//!   counts as finished, neither completed nor failed.
//! - A restored deployment with a schedule releases nothing at restore (its `now` is only the
//!   last recorded change): it asks for a tick at once, which brings the real time.

mod adopt;
mod command_id;
mod command_index;
mod deployment;
mod effects;
mod error;
mod inbound;
mod machine;
mod outcome;
mod pacing;
mod policy;
mod queries;
mod restore;
mod rollout;
mod schedule;
mod spec;
mod status;
mod steps;
mod target;
mod target_index;
mod time;
mod timeouts;
mod wave_tally;

#[cfg(test)]
mod tests;

pub use command_id::CommandId;
pub use deployment::{Deployment, DeploymentSnapshot, DeploymentSummary, TargetRow};
pub use effects::{CommandKind, CommandRole, Effects, OutboundCommand, Transition};
pub use error::{EngineError, RestoreProblem};
pub use machine::Engine;
pub use outcome::{
    Handled, InboundOutcome, ObservedCommand, RejectReason, TargetRef, UnchangedReason,
};
pub use pacing::PAUSED_BY_OPERATOR;
pub use restore::Restored;
pub use rollout::{
    Advance, DeploymentState, FailureThreshold, RolloutControl, RolloutEvent, RolloutEventKind,
    RolloutPolicy, WaveProgress, plan_waves,
};
pub use schedule::{InWindows, Schedule, StoreWindow, Unwindowed};
pub use spec::{DeploymentSpec, Firmware, TargetKey, Timeouts};
pub use status::{StatusCounts, TargetStatus};
pub use target::{Attempt, CommandRecord, Target};
pub use time::Millis;
