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
//! - while paused or cancelled nothing new is sent; targets already sent go on;
//! - nothing is sent before the schedule's not-before; with windows, a target only while
//!   its store's window is open (a closed store does not block the others); a window that
//!   closes stops new sends in its store, never the targets already sent;
//! - at not-after, targets still waiting end `skipped` (running or paused alike).
//!
//! Rules are applied only while some target is still held back: a deployment whose
//! targets have all been sent is not paused by its last failures.

use std::collections::{HashMap, VecDeque};

use super::effects::{CommandRole, Effects};
use super::error::EngineError;
use super::machine::Engine;
use super::policy::{WaveVerdict, failure_pause, may_send, wave_verdict};
use super::rollout::{DeploymentState, RolloutControl, RolloutEvent, RolloutEventKind};
use super::schedule::skipped_reason;
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
                d.state.control.revision += 1;
                rearm_failures(d);
                fx.rollout.push(RolloutEvent {
                    deployment_id: d.state.deployment_id.clone(),
                    at: now,
                    kind: RolloutEventKind::Resumed,
                });
                let last = d.current_wave().unwrap_or(0);
                let finished = d.wave_progress(last).is_some_and(|w| w.finished);
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

    /// Takes over a newer control that another process saved for this deployment (a pause
    /// or resume made there): its pause, started waves and failure baseline. A cancel is not
    /// taken from here; the cancel commands on the broker carry it (`adopt_cancel`). Older or
    /// equal revisions change nothing. Returns what the policy releases afterwards.
    pub fn adopt_control(
        &mut self,
        deployment_id: &Id,
        control: &RolloutControl,
        now: Millis,
    ) -> Result<Effects, EngineError> {
        let slot = self.slot_of(deployment_id)?;
        let mut fx = Effects::default();
        let Some(d) = self.deployment_at_mut(slot) else {
            return Ok(fx);
        };
        let mine = &mut d.state.control;
        if control.revision <= mine.revision {
            return Ok(fx);
        }
        mine.revision = control.revision;
        mine.paused_reason.clone_from(&control.paused_reason);
        mine.waves_started = mine.waves_started.max(control.waves_started);
        mine.failures_base = control.failures_base;
        mine.finished_base = control.finished_base;
        self.release(slot, now, &mut fx);
        Ok(fx)
    }

    /// Applies the rules: pauses and wave starts first, then sends what they allow.
    pub(crate) fn release(&mut self, slot: usize, now: Millis, fx: &mut Effects) {
        let Some(d) = self.deployment_at_mut(slot) else {
            return;
        };
        d.wake_at = None;
        if d.waiting.is_empty() {
            return;
        }
        let state = d.deployment_state();
        let not_after = d.state.policy.schedule.as_ref().and_then(|s| s.not_after);
        if let Some(end) = not_after
            && matches!(state, DeploymentState::Running | DeploymentState::Paused)
        {
            if now >= end {
                self.skip_waiting(slot, end, now, fx);
                return;
            }
            d.wake_at = Some(end);
        }
        if state != DeploymentState::Running {
            return;
        }
        let Some(d) = self.deployment_at(slot) else {
            return;
        };
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
            let Some(progress) = d.wave_progress(last) else {
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
        self.send_waiting(slot, now, fx);
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

    /// Makes update commands for waiting targets of started waves, within the caps, after
    /// not-before and inside their stores' windows. A store whose window is closed keeps its
    /// targets waiting and sets the wake-up to its opening.
    fn send_waiting(&mut self, slot: usize, now: Millis, fx: &mut Effects) {
        let Some(d) = self.deployment_at_mut(slot) else {
            return;
        };
        let not_before = d.state.policy.schedule.as_ref().and_then(|s| s.not_before);
        if let Some(start) = not_before.filter(|&start| now < start) {
            d.wake_at = Some(d.wake_at.map_or(start, |w| w.min(start)));
            return;
        }
        let policy = d.state.policy.clone();
        // Per store, asked once per call: `None` open (or no window), `Some(opens)` closed.
        let mut gate_of: HashMap<Id, Option<Option<Millis>>> = HashMap::new();
        let mut wake: Option<Millis> = None;
        let candidates = std::mem::take(&mut d.waiting);
        // Grown as needed, not sized to the candidates: once everything is released the
        // queue holds nothing (8 B per target at 100,000 before, `benches/engine_memory.rs`).
        let mut kept = VecDeque::new();
        let mut candidates = candidates.into_iter();
        while let Some(number) = candidates.next() {
            let index = number as usize;
            let Some(d) = self.deployment_at(slot) else {
                return;
            };
            let Some(t) = d.state.targets.get(index) else {
                continue;
            };
            if t.status() != TargetStatus::Queued || t.current.update.is_some() {
                continue;
            }
            if d.wave_of(index) >= d.state.control.waves_started {
                kept.push_back(number);
                continue;
            }
            if !d.gates.is_empty() {
                let waits = match gate_of.get(&t.store_id) {
                    Some(&waits) => waits,
                    None => {
                        let waits = d.gates.wait(&t.store_id, now);
                        gate_of.insert(t.store_id.clone(), waits);
                        waits
                    }
                };
                if let Some(opens) = waits {
                    if let Some(opens) = opens {
                        wake = Some(wake.map_or(opens, |w| w.min(opens)));
                    }
                    kept.push_back(number);
                    continue;
                }
            }
            if !may_send(&policy, d.in_flight, d.in_flight_in_store(&t.store_id)) {
                kept.push_back(number);
                if policy.max_in_flight.is_some_and(|cap| d.in_flight >= cap) {
                    // Full overall: nothing after this one can go either.
                    kept.extend(candidates.by_ref());
                }
                continue;
            }
            // Counts itself in flight.
            self.new_command(slot, index, CommandRole::Update, fx);
        }
        if let Some(d) = self.deployment_at_mut(slot) {
            if !kept.is_empty()
                && let Some(opens) = wake
            {
                d.wake_at = Some(d.wake_at.map_or(opens, |w| w.min(opens)));
            }
            d.waiting = kept;
        }
    }

    /// Not-after has passed: every target still waiting (no command made) ends skipped.
    /// Targets whose command was made go on.
    fn skip_waiting(&mut self, slot: usize, not_after: Millis, now: Millis, fx: &mut Effects) {
        let Some(d) = self.deployment_at_mut(slot) else {
            return;
        };
        let waiting = std::mem::take(&mut d.waiting);
        let reason = skipped_reason(not_after);
        for index in waiting.into_iter().map(|n| n as usize) {
            let skippable = self
                .target(slot, index)
                .is_some_and(|t| t.status() == TargetStatus::Queued && t.current.update.is_none());
            if skippable {
                self.set_status(
                    slot,
                    index,
                    TargetStatus::Skipped,
                    now,
                    vec![reason.clone()],
                    fx,
                );
            }
        }
    }

    fn start_wave(&mut self, slot: usize, now: Millis, fx: &mut Effects) {
        let Some(d) = self.deployment_at_mut(slot) else {
            return;
        };
        let wave = d.state.control.waves_started;
        d.state.control.waves_started += 1;
        d.state.control.revision += 1;
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
        d.state.control.revision += 1;
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
    d.state.control.revision += 1;
    d.state.control.failures_base = u32::try_from(c.failed + c.timed_out).unwrap_or(u32::MAX);
    d.state.control.finished_base =
        u32::try_from(c.completed + c.failed + c.timed_out).unwrap_or(u32::MAX);
}
