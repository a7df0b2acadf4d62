//! The read model of one deployment as the history holds it: its summary and its targets'
//! rows, the same the engine gives for a deployment it drives. Used for every deployment
//! this process does not drive (finished before it started, driven by another process,
//! waiting for its broker, or another operator's).

use serde::Serialize;

use super::{History, HistoryError};
use crate::engine::{DeploymentSummary, Engine, TargetRow};
use crate::protocol::Id;

/// Summary and targets of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeploymentDetail {
    pub summary: DeploymentSummary,
    pub targets: Vec<TargetRow>,
}

impl History {
    /// The full read model. For a local deployment the engine rebuilds summary and rows
    /// from the saved state, exactly as it shows live ones (waves included).
    pub fn deployment_detail(&self, id: &Id) -> Result<Option<DeploymentDetail>, HistoryError> {
        if let Some(state) = self.deployment_state(id.as_str())? {
            let mut engine = Engine::new();
            engine
                .restore(state)
                .map_err(|e| HistoryError::Corrupt(e.to_string()))?;
            if let (Some(summary), Some(targets)) = (engine.summary(id), engine.target_rows(id)) {
                return Ok(Some(DeploymentDetail { summary, targets }));
            }
        }
        let Some(summary) = self.deployment_summary(id)? else {
            return Ok(None);
        };
        let targets = self
            .target_statuses(id.as_str())?
            .into_iter()
            .filter_map(|t| {
                Some(TargetRow {
                    store_id: Id::new(t.store_id).ok()?,
                    controller_id: Id::new(t.controller_id).ok()?,
                    status: t.status,
                    attempt: t.attempt,
                    errors: t.errors,
                    updated_at: t.updated_at,
                    wave: t.wave,
                })
            })
            .collect();
        Ok(Some(DeploymentDetail { summary, targets }))
    }

    /// The summary from the deployment's row and per-status counts alone: cheap enough to
    /// read on every step of a follower. Waves are left empty (the detail has them).
    pub fn deployment_summary(&self, id: &Id) -> Result<Option<DeploymentSummary>, HistoryError> {
        let Some(row) = self.deployment(id.as_str())? else {
            return Ok(None);
        };
        let total = row.target_count as usize;
        Ok(Some(DeploymentSummary {
            deployment_id: id.clone(),
            firmware_version: row.firmware_version,
            file_url: row.file_url,
            file_size: row.file_size,
            checksum: row.checksum,
            created_at: row.created_at,
            ack_timeout_ms: row.ack_timeout_ms,
            completion_timeout_ms: row.completion_timeout_ms,
            total,
            finished: row.finished_at.is_some(),
            counts: row.counts,
            state: row.state,
            paused_reason: row.paused_reason,
            policy: row.policy,
            waves: Vec::new(),
            current_wave: None,
        }))
    }
}
