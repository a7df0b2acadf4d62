//! Applying the rollout policy: which waiting targets get their update command now, when
//! the next wave starts, when the deployment pauses, and the operator's pause and resume.
//!
//! The engine asks after create, retry, resume and every call that changed a status, so a
//! target held back now is reconsidered when things move. Rules (each in `policy.rs`):
//! - only targets of started waves are sent, in deployment order;
//! - targets in flight (command made, not terminal) stay under the overall and per-store
//!   caps; a target whose store is full is skipped, not blocking the ones after it;
//! - when the last started wave finishes, the next starts (auto, success rate reached) or
//!   the deployment pauses (rate below the minimum, or manual advance);
//! - failures since the start or the last resume or retry crossing the threshold pause it;
//! - while paused or cancelled nothing new is sent; targets already sent go on.
//!
//! Rules are applied only while some target is still held back: a deployment whose
//! targets have all been sent is not paused by its last failures.

use std::collections::HashMap;

use super::effects::{CommandRole, Effects};
use super::error::EngineError;
use super::machine::Engine;
use super::policy::{WaveVerdict, failure_pause, may_send, wave_verdict};
use super::rollout::{DeploymentState, RolloutEvent, RolloutEventKind};
use super::status::TargetStatus;
use super::time::Millis;
use crate::protocol::Id;

/// The reason recorded for a pause by hand.
pub const PAUSED_BY_OPERATOR: &str = "paused by the operator";

impl Engine {
    /// Stops sending new commands for the deployment (targets already sent go on). Pausing a
    /// paused deployment changes nothing; a finished or cancelled one is refused.
    pub fn pause(&mut self, deployment_id: &Id, now: Millis) -> Result<Effects, EngineError> {
        let slot = self.slot_of(deployment_id)?;
        let mut fx = Effects::default();
        let Some(d) = self.deployment_at(slot) else {
            return Ok(fx);
        };
        match d.deployment_state() {
            DeploymentState::Running => {
                self.set_paused(slot, PAUSED_BY_OPERATOR.to_owned(), now, &mut fx);
                Ok(fx)
            }
            DeploymentState::Paused => Ok(fx),
            state => Err(EngineError::NotRunning {
                deployment_id: deployment_id.clone(),
                state,
                action: "paused",
            }),
        }
    }

    /// Lifts a pause: the failure threshold counts again from now, the next wave starts if
    /// the last one has finished (whatever its success rate: the operator decided), and
    /// waiting targets are sent as the caps allow. Resuming a running deployment only
    /// re-checks; a finished or cancelled one is refused.
    pub fn resume(&mut self, deployment_id: &Id, now: Millis) -> Result<Effects, EngineError> {
        let slot = self.slot_of(deployment_id)?;
        let mut fx = Effects::default();
        let Some(d) = self.deployment_at_mut(slot) else {
            return Ok(fx);
        };
        match d.deployment_state() {
            DeploymentState::Running => {}
            DeploymentState::Paused => {
                d.state.control.paused_reason = None;
                rearm_failures(d);
                fx.rollout.push(RolloutEvent {
                    deployment_id: d.state.deployment_id.clone(),
                    at: now,
                    kind: RolloutEventKind::Resumed,
                });
                let last = d.current_wave().unwrap_or(0);
                let finished = d.waves().get(last as usize).is_some_and(|w| w.finished);
                let more = (d.state.control.waves_started as usize) < d.plan().len();
                if finished && more {
                    self.start_wave(slot, now, &mut fx);
                }
            }
            state => {
                return Err(EngineError::NotRunning {
                    deployment_id: deployment_id.clone(),
                    state,
                    action: "resumed",
                });
            }
        }
        self.release(slot, now, &mut fx);
        Ok(fx)
    }

    /// Applies the rules: pauses and wave starts first, then sends what they allow.
    pub(crate) fn release(&mut self, slot: usize, now: Millis, fx: &mut Effects) {
        let Some(d) = self.deployment_at(slot) else {
            return;
        };
        if d.waiting.is_empty() || d.deployment_state() != DeploymentState::Running {
            return;
        }
        let control = &d.state.control;
        let c = d.counts;
        let failures = u32::try_from(c.failed + c.timed_out).unwrap_or(u32::MAX);
        let finished = u32::try_from(c.completed + c.failed + c.timed_out).unwrap_or(u32::MAX);
        if let Some(reason) = failure_pause(
            d.state.policy.pause_on_failures,
            failures.saturating_sub(control.failures_base),
            finished.saturating_sub(control.finished_base),
        ) {
            self.set_paused(slot, reason, now, fx);
            return;
        }
        loop {
            let Some(d) = self.deployment_at(slot) else {
                return;
            };
            let Some(last) = d.current_wave() else {
                break;
            };
            let Some(progress) = d.waves().get(last as usize).copied() else {
                break;
            };
            match wave_verdict(&d.state.policy, &progress, d.plan().len()) {
                WaveVerdict::Wait => break,
                WaveVerdict::Advance => self.start_wave(slot, now, fx),
                WaveVerdict::Pause(reason) => {
                    self.set_paused(slot, reason, now, fx);
                    return;
                }
            }
        }
        self.send_waiting(slot, fx);
    }

    /// Asks again after a call that changed statuses (cheap when none wait).
    pub(crate) fn release_after(&mut self, slot: usize, now: Millis, fx: &mut Effects) {
        let waiting = self
            .deployment_at(slot)
            .is_some_and(|d| !d.waiting.is_empty());
        if waiting && !fx.transitions.is_empty() {
            self.release(slot, now, fx);
        }
    }

    /// Makes update commands for waiting targets of started waves, within the caps.
    fn send_waiting(&mut self, slot: usize, fx: &mut Effects) {
        let Some(d) = self.deployment_at_mut(slot) else {
            return;
        };
        let policy = d.state.policy;
        let capped = policy.max_in_flight.is_some() || policy.max_in_flight_per_store.is_some();
        let mut in_flight = 0u32;
        let mut per_store: HashMap<Id, u32> = HashMap::new();
        if capped {
            for t in &d.state.targets {
                let has_command = t.current.update.as_ref().is_some_and(|u| !u.withdrawn);
                if has_command && !t.status().is_terminal() {
                    in_flight += 1;
                    *per_store.entry(t.store_id.clone()).or_default() += 1;
                }
            }
        }
        let waves_started = d.state.control.waves_started;
        let candidates = std::mem::take(&mut d.waiting);
        let mut kept = std::collections::VecDeque::with_capacity(candidates.len());
        let mut release = Vec::new();
        for index in candidates {
            let Some(t) = d.state.targets.get(index) else {
                continue;
            };
            if t.status() != TargetStatus::Queued || t.current.update.is_some() {
                continue;
            }
            if d.wave_of(index) >= waves_started {
                kept.push_back(index);
                continue;
            }
            let in_store = per_store.get(&t.store_id).copied().unwrap_or(0);
            if !may_send(&policy, in_flight, in_store) {
                kept.push_back(index);
                continue;
            }
            in_flight += 1;
            if capped {
                *per_store.entry(t.store_id.clone()).or_default() += 1;
            }
            release.push(index);
        }
        d.waiting = kept;
        for index in release {
            self.new_command(slot, index, CommandRole::Update, fx);
        }
    }

    fn start_wave(&mut self, slot: usize, now: Millis, fx: &mut Effects) {
        let Some(d) = self.deployment_at_mut(slot) else {
            return;
        };
        let wave = d.state.control.waves_started;
        d.state.control.waves_started += 1;
        fx.rollout.push(RolloutEvent {
            deployment_id: d.state.deployment_id.clone(),
            at: now,
            kind: RolloutEventKind::WaveStarted { wave },
        });
    }

    fn set_paused(&mut self, slot: usize, reason: String, now: Millis, fx: &mut Effects) {
        let Some(d) = self.deployment_at_mut(slot) else {
            return;
        };
        d.state.control.paused_reason = Some(reason.clone());
        fx.rollout.push(RolloutEvent {
            deployment_id: d.state.deployment_id.clone(),
            at: now,
            kind: RolloutEventKind::Paused { reason },
        });
    }
}

/// The failure threshold counts from the deployment's present failures.
pub(crate) fn rearm_failures(d: &mut super::deployment::Deployment) {
    let c = d.counts;
    d.state.control.failures_base = u32::try_from(c.failed + c.timed_out).unwrap_or(u32::MAX);
    d.state.control.finished_base =
        u32::try_from(c.completed + c.failed + c.timed_out).unwrap_or(u32::MAX);
}
