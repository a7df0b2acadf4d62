//! Read-only views of the engine's deployments, and taking them out or back in.

use super::deployment::{Deployment, DeploymentSnapshot, DeploymentSummary, TargetRow};
use super::effects::{CommandRole, OutboundCommand};
use super::machine::{CommandRef, Engine};
use super::status::{StatusCounts, TargetStatus};
use super::steps::outbound;
use super::target::CommandRecord;
use crate::protocol::Id;

impl Engine {
    pub fn deployment(&self, deployment_id: &Id) -> Option<&Deployment> {
        self.by_id
            .get(deployment_id)
            .and_then(|&slot| self.deployment_at(slot))
    }

    /// Every deployment held, oldest first.
    pub fn deployments(&self) -> impl Iterator<Item = &Deployment> {
        self.slots.iter().flatten()
    }

    pub fn counts(&self, deployment_id: &Id) -> Option<StatusCounts> {
        self.deployment(deployment_id).map(Deployment::counts)
    }

    pub fn is_finished(&self, deployment_id: &Id) -> Option<bool> {
        self.deployment(deployment_id).map(Deployment::is_finished)
    }

    pub fn summary(&self, deployment_id: &Id) -> Option<DeploymentSummary> {
        self.deployment(deployment_id).map(Deployment::summary)
    }

    /// Every target's status, attempt, errors and updated_at, in deployment order.
    pub fn target_rows(&self, deployment_id: &Id) -> Option<Vec<TargetRow>> {
        self.deployment(deployment_id).map(|d| d.rows().collect())
    }

    /// The deployment's state, to persist or to restore elsewhere.
    pub fn snapshot(&self, deployment_id: &Id) -> Option<DeploymentSnapshot> {
        self.deployment(deployment_id).map(|d| d.state.clone())
    }

    /// Forgets a deployment (its replies become `unknown_deployment`), returning its state.
    pub fn remove(&mut self, deployment_id: &Id) -> Option<DeploymentSnapshot> {
        let slot = self.by_id.remove(deployment_id)?;
        let deployment = self.slots.get_mut(slot)?.take()?;
        let timeouts = deployment.state.timeouts;
        for (index, target) in deployment.state.targets.iter().enumerate() {
            let current = &target.current;
            self.deadlines
                .stop(slot, index, current.sent_at(), &timeouts, current.status);
            for attempt in target.attempts() {
                for (role, record) in [
                    (CommandRole::Update, attempt.update.as_ref()),
                    (CommandRole::Cancel, attempt.cancel.as_deref()),
                ] {
                    if let Some(record) = record {
                        let at = CommandRef::new(slot, index, attempt.number, role);
                        self.commands.remove(&record.correlation_id, at);
                    }
                }
            }
        }
        Some(deployment.state)
    }

    /// Commands of the deployment's current attempts that have not left yet, to (re)send
    /// with their recorded correlation ids.
    pub fn pending_commands(&self, deployment_id: &Id) -> Option<Vec<OutboundCommand>> {
        let d = self.deployment(deployment_id)?;
        let mut out = Vec::new();
        for target in &d.state.targets {
            let attempt = &target.current;
            // Only what the status still waits for: a queued update, a requested cancel.
            let pending = |c: &&CommandRecord| c.is_pending();
            if attempt.status == TargetStatus::Queued
                && let Some(update) = attempt.update.as_ref().filter(pending)
            {
                out.push(outbound(
                    d,
                    target,
                    update,
                    CommandRole::Update,
                    attempt.number,
                ));
            }
            if attempt.status == TargetStatus::CancelRequested
                && let Some(cancel) = attempt.cancel.as_deref().filter(pending)
            {
                out.push(outbound(
                    d,
                    target,
                    cancel,
                    CommandRole::Cancel,
                    attempt.number,
                ));
            }
        }
        Some(out)
    }
}
