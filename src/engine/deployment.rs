//! One deployment: its state (serialisable, for history and restore) and the indexes and
//! counts the engine keeps beside it.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::spec::{Firmware, Timeouts};
use super::status::{StatusCounts, TargetStatus};
use super::target::Target;
use super::time::Millis;
use crate::protocol::Id;

/// Everything needed to resume a deployment in another process: what
/// [`super::Engine::snapshot`] gives and [`super::Engine::restore`] takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentState {
    pub deployment_id: Id,
    pub firmware: Firmware,
    pub timeouts: Timeouts,
    pub created_at: Millis,
    /// In the order the deployment was created with.
    pub targets: Vec<Target>,
}

/// A deployment as the engine holds it. Read-only outside the engine.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub(crate) state: DeploymentState,
    /// store id -> controller id -> target index; nested so lookups borrow the message's ids.
    index: HashMap<Id, HashMap<Id, usize>>,
    pub(crate) counts: StatusCounts,
    /// Queued targets without a command, in order, for the rollout policy to release.
    pub(crate) waiting: VecDeque<usize>,
}

impl Deployment {
    /// Builds the indexes of a state whose targets are known to be distinct.
    pub(crate) fn new(state: DeploymentState) -> Self {
        let mut index: HashMap<Id, HashMap<Id, usize>> = HashMap::new();
        let mut counts = StatusCounts::default();
        let mut waiting = VecDeque::new();
        for (i, target) in state.targets.iter().enumerate() {
            index
                .entry(target.store_id.clone())
                .or_default()
                .insert(target.controller_id.clone(), i);
            counts.add(target.status());
            if target.status() == TargetStatus::Queued && target.current.update.is_none() {
                waiting.push_back(i);
            }
        }
        Self {
            state,
            index,
            counts,
            waiting,
        }
    }

    pub fn id(&self) -> &Id {
        &self.state.deployment_id
    }

    pub fn state(&self) -> &DeploymentState {
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
        self.index.get(store_id)?.get(controller_id).copied()
    }

    pub fn counts(&self) -> StatusCounts {
        self.counts
    }

    /// Every target is in a terminal status.
    pub fn is_finished(&self) -> bool {
        self.counts.terminal() == self.state.targets.len()
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
        }
    }

    /// One row per target, in deployment order.
    pub fn rows(&self) -> impl Iterator<Item = TargetRow> + '_ {
        self.state.targets.iter().map(TargetRow::of)
    }
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
}

impl TargetRow {
    pub fn of(target: &Target) -> Self {
        Self {
            store_id: target.store_id.clone(),
            controller_id: target.controller_id.clone(),
            status: target.current.status,
            attempt: target.current.number,
            errors: target.current.errors.clone(),
            updated_at: target.current.updated_at,
        }
    }
}
