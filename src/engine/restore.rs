//! Resuming a deployment in a new process from its saved state.
//!
//! History may persist [`DeploymentSnapshot`] as it is (serde), or rebuild it from what the
//! engine handed out: per target and attempt, `status`, `updated_at` and `errors` are those
//! of the attempt's last [`super::Transition`]; a command's `correlation_id` comes from its
//! [`super::OutboundCommand`], `sent_at` from the transition to `sent` (update) or the
//! PUBACK time (cancel), `acked_at` from the transition to `acknowledged` or `cancelled`,
//! and `withdrawn` from [`super::Effects::withdrawn`]. An ack that changed no status may be
//! left out: a repeat of it still changes nothing.
//!
//! After a restore:
//! - commands that had not left come back in [`Restored::resend`] with their recorded
//!   correlation ids, so a controller that did get one before the crash sees the same id;
//! - sent targets get their clocks back, counted from the recorded send time (a deadline
//!   that passed while the process was down fires on the next tick);
//! - replies are checked against the recorded acks and reports, so one applied before the
//!   restart is a duplicate and one that was not applies once.

use std::collections::HashSet;

use super::command_id::CommandId;
use super::deployment::{Deployment, DeploymentSnapshot};
use super::effects::{CommandRole, Effects, OutboundCommand};
use super::error::{EngineError, RestoreProblem};
use super::machine::{CommandRef, Engine};
use super::spec::check_targets;
use super::status::TargetStatus;
use super::target::{Attempt, Target};
use super::time::Millis;

/// What a restore gives back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Recorded commands that never left: publish them again, same correlation ids. They
    /// are already in the outbox if history wrote it before the crash.
    pub resend: Vec<OutboundCommand>,
    /// New commands for targets the rollout policy releases now (record, then publish).
    pub effects: Effects,
}

impl Engine {
    /// Takes back a deployment saved by [`Engine::snapshot`] (or rebuilt from history),
    /// after checking that the engine can continue from it.
    pub fn restore(&mut self, state: DeploymentSnapshot) -> Result<Restored, EngineError> {
        if self.by_id.contains_key(&state.deployment_id) {
            return Err(EngineError::DeploymentExists(state.deployment_id));
        }
        state.timeouts.check()?;
        check_targets(
            state
                .targets
                .iter()
                .map(|t| (&t.store_id, &t.controller_id)),
        )?;
        let mut ids: HashSet<&CommandId> = HashSet::new();
        for (index, target) in state.targets.iter().enumerate() {
            let fail = |problem| EngineError::Restore {
                deployment_id: state.deployment_id.clone(),
                index,
                problem,
            };
            check_target(target).map_err(fail)?;
            for id in correlation_ids(target) {
                if !ids.insert(id) || self.commands.contains(&self.slots, id) {
                    return Err(fail(RestoreProblem::DuplicateCorrelationId(id.to_id())));
                }
            }
        }

        let deployment_id = state.deployment_id.clone();
        let mut deployment = Deployment::new(state);
        if deployment.state.control.waves_started == 0 {
            // Saved before rollout policies: everything was released at once.
            deployment.state.control.waves_started =
                u32::try_from(deployment.plan().len()).unwrap_or(u32::MAX);
        }
        // Only timestamps the rollout events a restore might cause.
        let now = deployment
            .state
            .targets
            .iter()
            .map(|t| t.current.updated_at)
            .max()
            .unwrap_or(deployment.state.created_at);
        let slot = self.install(deployment);
        // Field access, not `deployment_at`, so the borrow stays off `commands` and `deadlines`.
        if let Some(d) = self.slots.get(slot).and_then(Option::as_ref) {
            let timeouts = d.state.timeouts;
            for (index, target) in d.state.targets.iter().enumerate() {
                for attempt in target.attempts() {
                    for (role, record) in [
                        (CommandRole::Update, attempt.update.as_ref()),
                        (CommandRole::Cancel, attempt.cancel.as_deref()),
                    ] {
                        if record.is_some() {
                            let at = CommandRef::new(slot, index, attempt.number, role);
                            self.commands.insert(&self.slots, at);
                        }
                    }
                }
                let current = &target.current;
                self.deadlines
                    .start(slot, index, current.sent_at(), &timeouts, current.status);
            }
        }
        let resend = self.pending_commands(&deployment_id).unwrap_or_default();
        let mut effects = Effects::default();
        let scheduled = self
            .deployment_at(slot)
            .is_some_and(|d| d.state.policy.schedule.is_some());
        if scheduled {
            // `now` here is only the last recorded change: windows and not-after need the
            // real time, which the next tick (due at once) brings.
            if let Some(d) = self.deployment_at_mut(slot) {
                d.wake_at = Some(Millis(0));
            }
        } else {
            self.release(slot, now, &mut effects);
        }
        Ok(Restored { resend, effects })
    }
}

fn correlation_ids(target: &Target) -> impl Iterator<Item = &CommandId> {
    target
        .attempts()
        .flat_map(|a| [a.update.as_ref(), a.cancel.as_deref()])
        .flatten()
        .map(|record| &record.correlation_id)
}

/// The invariants the engine relies on: numbered attempts, earlier ones retryable, and a
/// current status that agrees with its commands.
fn check_target(target: &Target) -> Result<(), RestoreProblem> {
    for (expected, attempt) in (1u32..).zip(target.attempts()) {
        if attempt.number != expected {
            return Err(RestoreProblem::AttemptNumber {
                expected,
                found: attempt.number,
            });
        }
    }
    if let Some(a) = target
        .earlier
        .iter()
        .find(|a| !matches!(a.status, TargetStatus::Failed | TargetStatus::TimedOut))
    {
        return Err(RestoreProblem::EarlierAttempt {
            attempt: a.number,
            status: a.status,
        });
    }
    check_current(&target.current)
}

fn check_current(attempt: &Attempt) -> Result<(), RestoreProblem> {
    let status = attempt.status;
    let sent = attempt.sent_at().is_some();
    let withdrawn = attempt.update.as_ref().is_some_and(|u| u.withdrawn);
    match status {
        TargetStatus::Queued if sent || withdrawn => Err(RestoreProblem::QueuedButSent),
        TargetStatus::Sent | TargetStatus::Acknowledged | TargetStatus::TimedOut if !sent => {
            Err(RestoreProblem::NotSent(status))
        }
        TargetStatus::CancelRequested if attempt.cancel.is_none() => {
            Err(RestoreProblem::NoCancelCommand)
        }
        TargetStatus::CancelRequested if !sent => Err(RestoreProblem::NotSent(status)),
        // A target the rollout policy held back has no command at all when cancelled.
        TargetStatus::Cancelled
            if attempt.cancel.is_none() && !withdrawn && attempt.update.is_some() =>
        {
            Err(RestoreProblem::CancelledWithoutCause)
        }
        _ => Ok(()),
    }
}
