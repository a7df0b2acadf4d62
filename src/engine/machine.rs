//! The engine: every deployment this process drives, and the calls that move them.
//!
//! One owner holds it and calls it with `&mut self`; every call returns plain values
//! ([`Effects`]) for the owner to record, publish and stream. Lookups are hash maps and the
//! deadline set is ordered, so every event costs O(log n) whatever the fleet size; only
//! `create`, `cancel`, `retry`, `restore` and `remove` walk a deployment's targets.

use std::collections::HashMap;

use super::command_id::CommandId;
use super::command_index::CommandIndex;
use super::deployment::{Deployment, DeploymentSnapshot, target_number};
use super::effects::{CommandRole, Effects, Transition};
use super::error::EngineError;
use super::pacing::rearm_failures;
use super::rollout::{RolloutControl, RolloutEvent, RolloutEventKind};
use super::spec::DeploymentSpec;
use super::status::TargetStatus;
use super::target::Target;
use super::time::Millis;
use super::timeouts::Deadlines;
use crate::protocol::Id;

/// Where a command of ours lives: 16 bytes (`u32` slot and index), one per command held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommandRef {
    slot: u32,
    target: u32,
    pub attempt: u32,
    pub role: CommandRole,
}

impl CommandRef {
    pub(crate) fn new(slot: usize, target: usize, attempt: u32, role: CommandRole) -> Self {
        let compact = |n: usize| u32::try_from(n).expect("fewer than 2^32 deployments and targets");
        Self {
            slot: compact(slot),
            target: compact(target),
            attempt,
            role,
        }
    }

    pub(crate) fn slot(&self) -> usize {
        self.slot as usize
    }

    pub(crate) fn target(&self) -> usize {
        self.target as usize
    }
}

#[derive(Debug, Default, Clone)]
pub struct Engine {
    /// Deployments by slot; a removed one leaves `None` so other slots keep their numbers.
    pub(crate) slots: Vec<Option<Deployment>>,
    pub(crate) by_id: HashMap<Id, usize>,
    /// Every command of every held deployment, by correlation id.
    pub(crate) commands: CommandIndex,
    pub(crate) deadlines: Deadlines,
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a deployment: every target queued at attempt 1, its plan and first wave, and
    /// the update commands the rollout policy releases now.
    pub fn create(&mut self, spec: DeploymentSpec, now: Millis) -> Result<Effects, EngineError> {
        if self.by_id.contains_key(&spec.deployment_id) {
            return Err(EngineError::DeploymentExists(spec.deployment_id));
        }
        spec.check()?;
        let targets = spec
            .targets
            .into_iter()
            .map(|k| Target::new(k.store_id, k.controller_id, now))
            .collect();
        let slot = self.install(Deployment::new(DeploymentSnapshot {
            deployment_id: spec.deployment_id,
            firmware: spec.firmware,
            timeouts: spec.timeouts,
            created_at: now,
            targets,
            policy: spec.policy,
            control: RolloutControl {
                waves_started: 1,
                ..RolloutControl::default()
            },
        }));
        let mut fx = Effects::default();
        if let Some(d) = self.deployment_at(slot) {
            for kind in [
                RolloutEventKind::Planned {
                    waves: d.plan().to_vec(),
                },
                RolloutEventKind::WaveStarted { wave: 0 },
            ] {
                fx.rollout.push(RolloutEvent {
                    deployment_id: d.state.deployment_id.clone(),
                    at: now,
                    kind,
                });
            }
        }
        self.release(slot, now, &mut fx);
        Ok(fx)
    }

    /// The broker confirmed the publish of a command (PUBACK). An update's target goes from
    /// queued to sent and its clocks start now; a cancel is only noted. A repeated
    /// confirmation changes nothing.
    pub fn on_published(
        &mut self,
        correlation_id: &Id,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        let Some(r) = self
            .commands
            .get(&self.slots, &CommandId::of(correlation_id))
        else {
            return Err(EngineError::UnknownCommand(correlation_id.clone()));
        };
        let mut fx = Effects::default();
        let current = self
            .target(r.slot(), r.target())
            .map(|t| t.current.number == r.attempt);
        match (r.role, current) {
            (CommandRole::Update, Some(true)) => {
                self.update_left(r.slot(), r.target(), now, true, &mut fx);
            }
            _ => {
                let record = self
                    .target_mut(r.slot(), r.target())
                    .and_then(|t| t.attempt_mut(r.attempt))
                    .and_then(|a| a.command_mut(r.role));
                if let Some(record) = record {
                    record.sent_at.get_or_insert(now);
                }
            }
        }
        self.release_after(r.slot(), now, &mut fx);
        Ok(fx)
    }

    /// Times out every target whose clock ran out at or before `now`, and applies the
    /// schedule of deployments that were waiting for this moment.
    pub fn tick(&mut self, now: Millis) -> Effects {
        let mut fx = Effects::default();
        let mut touched: Vec<usize> = Vec::new();
        while let Some((slot, index, clock)) = self.deadlines.pop_due(now) {
            let runs = self
                .target(slot, index)
                .is_some_and(|t| clock.runs_in(t.status()));
            if runs {
                self.set_status(
                    slot,
                    index,
                    TargetStatus::TimedOut,
                    now,
                    Vec::new(),
                    &mut fx,
                );
                touched.push(slot);
            }
        }
        // Deployments whose waiting targets time alone releases (a window opening,
        // not-before) or skips (not-after).
        for (slot, d) in self.slots.iter().enumerate() {
            if let Some(d) = d
                && d.wake_at.is_some_and(|at| at <= now)
            {
                touched.push(slot);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for slot in touched {
            self.release(slot, now, &mut fx);
        }
        fx
    }

    /// The earliest instant at which [`Engine::tick`] will time something out, release a
    /// target whose window opens (or whose not-before passes) or skip one at not-after.
    pub fn next_deadline(&self) -> Option<Millis> {
        let wake = self.slots.iter().flatten().filter_map(|d| d.wake_at).min();
        match (self.deadlines.next(), wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Cancels every target that is not terminal. A queued target whose command has not
    /// left is cancelled at once and its command withdrawn; a sent or acknowledged target
    /// gets a `cancel_update_firmware` and becomes cancel_requested. A target already
    /// cancel_requested is left as it is (no second cancel command).
    pub fn cancel(&mut self, deployment_id: &Id, now: Millis) -> Result<Effects, EngineError> {
        let slot = self.slot_of(deployment_id)?;
        let mut fx = Effects::default();
        let count = self
            .deployment_at(slot)
            .map_or(0, |d| d.state.targets.len());
        for index in 0..count {
            let Some(target) = self.target_mut(slot, index) else {
                continue;
            };
            let attempt = &mut target.current;
            let status = attempt.status;
            if status == TargetStatus::Queued && attempt.sent_at().is_none() {
                if let Some(update) = attempt.update.as_mut() {
                    update.withdrawn = true;
                    fx.withdrawn.push(update.correlation_id.to_id());
                }
                self.set_status(
                    slot,
                    index,
                    TargetStatus::Cancelled,
                    now,
                    Vec::new(),
                    &mut fx,
                );
            } else if matches!(
                status,
                // A queued target whose command did leave is treated as sent.
                TargetStatus::Queued | TargetStatus::Sent | TargetStatus::Acknowledged
            ) {
                self.request_cancel(slot, index, now, &mut fx);
            }
        }
        if let Some(d) = self.deployment_at_mut(slot) {
            d.waiting.clear();
            d.state.control.cancelled = true;
            d.state.control.paused_reason = None;
            d.state.control.revision += 1;
        }
        Ok(fx)
    }

    /// Gives every failed and timed_out target a new attempt: queued again, with a new
    /// update command (new correlation id, same deployment id) once the policy releases it.
    /// A retry lifts a cancel and re-arms the failure threshold, but not a pause.
    pub fn retry(&mut self, deployment_id: &Id, now: Millis) -> Result<Effects, EngineError> {
        let slot = self.slot_of(deployment_id)?;
        let retryable =
            |t: &Target| matches!(t.status(), TargetStatus::Failed | TargetStatus::TimedOut);
        // Refuse before changing anything, so a retry is all or nothing.
        if let Some(d) = self.deployment_at(slot)
            && let Some(t) = d
                .state
                .targets
                .iter()
                .find(|t| retryable(t) && t.current.number == u32::MAX)
        {
            return Err(EngineError::AttemptLimit {
                store_id: t.store_id.clone(),
                controller_id: t.controller_id.clone(),
            });
        }
        let mut fx = Effects::default();
        if let Some(d) = self.deployment_at_mut(slot) {
            let deployment_id = d.state.deployment_id.clone();
            let waves: Vec<u32> = (0..d.state.targets.len()).map(|i| d.wave_of(i)).collect();
            for (index, target) in d.state.targets.iter_mut().enumerate() {
                if !retryable(target) {
                    continue;
                }
                let wave = waves[index];
                let from = target.status();
                let number = target.current.number.saturating_add(1);
                target.begin_attempt(number, now);
                d.counts.shift(from, TargetStatus::Queued);
                d.wave_tallies.shift(wave, from, TargetStatus::Queued);
                d.waiting.push_back(target_number(index));
                fx.transitions.push(Transition {
                    deployment_id: deployment_id.clone(),
                    store_id: target.store_id.clone(),
                    controller_id: target.controller_id.clone(),
                    attempt: number,
                    from,
                    to: TargetStatus::Queued,
                    at: now,
                    errors: Vec::new(),
                    wave,
                });
            }
            if !fx.transitions.is_empty() {
                d.state.control.cancelled = false;
                rearm_failures(d);
            }
        }
        self.release(slot, now, &mut fx);
        Ok(fx)
    }

    // ---- lookups shared with the other `impl Engine` files ----

    pub(crate) fn install(&mut self, deployment: Deployment) -> usize {
        let slot = self.slots.len();
        self.by_id
            .insert(deployment.state.deployment_id.clone(), slot);
        self.slots.push(Some(deployment));
        slot
    }

    pub(crate) fn slot_of(&self, deployment_id: &Id) -> Result<usize, EngineError> {
        self.by_id
            .get(deployment_id)
            .copied()
            .ok_or_else(|| EngineError::UnknownDeployment(deployment_id.clone()))
    }

    pub(crate) fn deployment_at(&self, slot: usize) -> Option<&Deployment> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    pub(crate) fn deployment_at_mut(&mut self, slot: usize) -> Option<&mut Deployment> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    pub(crate) fn target(&self, slot: usize, index: usize) -> Option<&Target> {
        self.deployment_at(slot)?.state.targets.get(index)
    }

    pub(crate) fn target_mut(&mut self, slot: usize, index: usize) -> Option<&mut Target> {
        self.deployment_at_mut(slot)?.state.targets.get_mut(index)
    }
}
