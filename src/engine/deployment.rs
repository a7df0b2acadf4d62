//! One deployment: its state (serialisable, for history and restore) and the indexes and
//! counts the engine keeps beside it.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::rollout::{DeploymentState, RolloutControl, RolloutPolicy, WaveProgress, plan_waves};
use super::schedule::Gates;
use super::spec::{Firmware, Timeouts};
use super::status::{StatusCounts, TargetStatus};
use super::target::Target;
use super::target_index::TargetIndex;
use super::time::Millis;
use super::wave_tally::WaveTallies;
use crate::protocol::Id;

/// Everything needed to resume a deployment in another process: what
/// [`super::Engine::snapshot`] gives and [`super::Engine::restore`] takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSnapshot {
    pub deployment_id: Id,
    pub firmware: Firmware,
    pub timeouts: Timeouts,
    pub created_at: Millis,
    /// In the order the deployment was created with.
    pub targets: Vec<Target>,
    #[serde(default)]
    pub policy: RolloutPolicy,
    #[serde(default)]
    pub control: RolloutControl,
}

/// A deployment as the engine holds it. Read-only outside the engine.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub(crate) state: DeploymentSnapshot,
    /// (store id, controller id) -> target index.
    index: TargetIndex,
    pub(crate) counts: StatusCounts,
    /// The same, per wave (`wave_tally.rs`): changed only together with `counts`.
    pub(crate) wave_tallies: WaveTallies,
    /// Queued targets without a command, in order, for the rollout policy to release.
    /// Target indexes as `u32` (half the bytes while a large deployment waits).
    pub(crate) waiting: VecDeque<u32>,
    /// Wave sizes, canary first (from the policy and the target count).
    pub(crate) plan: Vec<u32>,
    /// Where each wave ends (exclusive target index): wave lookups are binary searches.
    wave_ends: Vec<usize>,
    /// Targets in flight (an update command made, status not terminal), for the caps.
    pub(crate) in_flight: u32,
    pub(crate) in_flight_by_store: HashMap<Id, u32>,
    /// The stores' maintenance windows, zones looked up once.
    pub(crate) gates: Gates,
    /// When waiting targets may next be released by time alone (a window opening,
    /// not-before) or must be skipped (not-after); the engine ticks then.
    pub(crate) wake_at: Option<Millis>,
}

impl Deployment {
    /// Builds the indexes of a state whose targets are known to be distinct.
    pub(crate) fn new(mut state: DeploymentSnapshot) -> Self {
        let mut stores: HashSet<Id> = HashSet::new();
        let mut counts = StatusCounts::default();
        let mut waiting = VecDeque::new();
        for (i, target) in state.targets.iter_mut().enumerate() {
            // One allocation per store, shared by its targets (ids arrive parsed one by one,
            // from a CSV or the history): about 50 B less per target.
            match stores.get(&target.store_id) {
                Some(shared) => target.store_id = shared.clone(),
                None => {
                    stores.insert(target.store_id.clone());
                }
            }
            counts.add(target.status());
            if target.status() == TargetStatus::Queued && target.current.update.is_none() {
                waiting.push_back(target_number(i));
            }
        }
        drop(stores);
        let index = TargetIndex::build(&state.targets);
        let mut in_flight = 0;
        let mut in_flight_by_store: HashMap<Id, u32> = HashMap::new();
        for target in state.targets.iter().filter(|t| is_in_flight(t)) {
            in_flight += 1;
            *in_flight_by_store
                .entry(target.store_id.clone())
                .or_default() += 1;
        }
        let plan = plan_waves(state.targets.len(), &state.policy);
        let gates = Gates::new(state.policy.schedule.as_deref());
        let wave_ends = plan
            .iter()
            .scan(0usize, |end, &size| {
                *end += size as usize;
                Some(*end)
            })
            .collect();
        let mut deployment = Self {
            state,
            index,
            counts,
            wave_tallies: WaveTallies::new(plan.len()),
            waiting,
            plan,
            wave_ends,
            in_flight,
            in_flight_by_store,
            gates,
            wake_at: None,
        };
        for i in 0..deployment.state.targets.len() {
            let wave = deployment.wave_of(i);
            let status = deployment.state.targets[i].status();
            deployment.wave_tallies.add(wave, status);
        }
        deployment
    }

    /// Counts one more (`up`) or one fewer target of `store_id` in flight.
    pub(crate) fn shift_in_flight(&mut self, store_id: &Id, up: bool) {
        if up {
            self.in_flight += 1;
            match self.in_flight_by_store.get_mut(store_id) {
                Some(n) => *n += 1,
                None => {
                    self.in_flight_by_store.insert(store_id.clone(), 1);
                }
            }
        } else {
            self.in_flight = self.in_flight.saturating_sub(1);
            if let Some(n) = self.in_flight_by_store.get_mut(store_id) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Targets of `store_id` in flight.
    pub fn in_flight_in_store(&self, store_id: &Id) -> u32 {
        self.in_flight_by_store.get(store_id).copied().unwrap_or(0)
    }

    pub fn id(&self) -> &Id {
        &self.state.deployment_id
    }

    pub fn state(&self) -> &DeploymentSnapshot {
        &self.state
    }

    pub fn targets(&self) -> &[Target] {
        &self.state.targets
    }

    pub fn target(&self, store_id: &Id, controller_id: &Id) -> Option<&Target> {
        self.find(store_id, controller_id)
            .and_then(|i| self.state.targets.get(i))
    }

    pub(crate) fn find(&self, store_id: &Id, controller_id: &Id) -> Option<usize> {
        self.index
            .find(&self.state.targets, store_id, controller_id)
    }

    pub fn counts(&self) -> StatusCounts {
        self.counts
    }

    /// Every target is in a terminal status.
    pub fn is_finished(&self) -> bool {
        self.counts.terminal() == self.state.targets.len()
    }

    /// Cancelled by the operator, finished, paused or running, in that order of precedence.
    pub fn deployment_state(&self) -> DeploymentState {
        let control = &self.state.control;
        if control.cancelled {
            DeploymentState::Cancelled
        } else if self.is_finished() {
            DeploymentState::Finished
        } else if control.paused_reason.is_some() {
            DeploymentState::Paused
        } else {
            DeploymentState::Running
        }
    }

    pub fn policy(&self) -> &RolloutPolicy {
        &self.state.policy
    }

    /// Wave sizes, canary first.
    pub fn plan(&self) -> &[u32] {
        &self.plan
    }

    /// The wave of target `index` (in deployment order).
    pub fn wave_of(&self, index: usize) -> u32 {
        let wave = self
            .wave_ends
            .partition_point(|&end| end <= index)
            .min(self.wave_ends.len().saturating_sub(1));
        u32::try_from(wave).unwrap_or(u32::MAX)
    }

    /// Every wave and how it went.
    pub fn waves(&self) -> Vec<WaveProgress> {
        (0..self.plan.len())
            .filter_map(|w| self.wave_progress(u32::try_from(w).ok()?))
            .collect()
    }

    /// How wave `wave` went so far (from its tally: no walk over its targets).
    pub fn wave_progress(&self, wave: u32) -> Option<WaveProgress> {
        let size = *self.plan.get(wave as usize)?;
        let tally = self.wave_tallies.get(wave);
        Some(WaveProgress {
            index: wave,
            size,
            started: wave < self.state.control.waves_started,
            completed: tally.completed,
            failed: tally.failed,
            finished: tally.finished(),
        })
    }

    /// The last wave started, if any.
    pub fn current_wave(&self) -> Option<u32> {
        self.state.control.waves_started.checked_sub(1)
    }

    pub fn summary(&self) -> DeploymentSummary {
        let firmware = &self.state.firmware;
        DeploymentSummary {
            deployment_id: self.state.deployment_id.clone(),
            firmware_version: firmware.firmware_version.clone(),
            file_url: firmware.file_url.clone(),
            file_size: firmware.file_size,
            checksum: firmware.checksum.as_str().to_owned(),
            created_at: self.state.created_at,
            ack_timeout_ms: millis(self.state.timeouts.ack),
            completion_timeout_ms: millis(self.state.timeouts.completion),
            total: self.state.targets.len(),
            counts: self.counts,
            finished: self.is_finished(),
            state: self.deployment_state(),
            paused_reason: self.state.control.paused_reason.clone(),
            policy: self.state.policy.clone(),
            waves: self.waves(),
            current_wave: self.current_wave(),
        }
    }

    /// One row per target, in deployment order.
    pub fn rows(&self) -> impl Iterator<Item = TargetRow> + '_ {
        self.state
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| TargetRow::of(t, self.wave_of(i)))
    }
}

/// In flight: its update command was made (whether or not it has left) and it has not
/// ended. What the in-flight caps count.
pub(crate) fn is_in_flight(target: &Target) -> bool {
    target.current.update.is_some() && !target.status().is_terminal()
}

fn millis(span: std::time::Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}

/// A deployment at a glance: the header of `storefleet status` and of the window's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeploymentSummary {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub deployment_id: Id,
    pub firmware_version: String,
    pub file_url: String,
    pub file_size: u64,
    pub checksum: String,
    pub created_at: Millis,
    pub ack_timeout_ms: u64,
    pub completion_timeout_ms: u64,
    pub total: usize,
    pub counts: StatusCounts,
    pub finished: bool,
    pub state: DeploymentState,
    /// Why it is paused, while it is.
    pub paused_reason: Option<String>,
    pub policy: RolloutPolicy,
    /// Every wave of the plan, canary first.
    pub waves: Vec<WaveProgress>,
    /// The last wave started.
    pub current_wave: Option<u32>,
}

/// One target's current state, as `storefleet status --json` and the window list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TargetRow {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub store_id: Id,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub controller_id: Id,
    pub status: TargetStatus,
    /// The current attempt, from 1.
    pub attempt: u32,
    /// The controller's errors if the current attempt failed.
    pub errors: Vec<String>,
    pub updated_at: Millis,
    /// Its wave (0: the canary, or the only wave).
    pub wave: u32,
}

impl TargetRow {
    pub fn of(target: &Target, wave: u32) -> Self {
        Self {
            store_id: target.store_id.clone(),
            controller_id: target.controller_id.clone(),
            status: target.current.status,
            attempt: target.current.number,
            errors: target.current.errors.to_vec(),
            updated_at: target.current.updated_at,
            wave,
        }
    }
}

/// A target index as the engine's queues hold it.
pub(crate) fn target_number(index: usize) -> u32 {
    u32::try_from(index).expect("fewer than 2^32 targets")
}
