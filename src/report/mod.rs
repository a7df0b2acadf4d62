//! A deployment for people who were not there: one self-contained HTML file (summary,
//! timeline chart, waves, failures with their errors, firmware identity, who ran it and
//! where), and the one export use case the CLI and the window share (CSV, JSON Lines, HTML).
//!
//! [`render_html`] is a pure function of [`ReportInput`]; [`load`] gathers that input from
//! the history. The file loads nothing and runs nothing: inline CSS, an inline SVG chart, no
//! scripts, a Content-Security-Policy that forbids both, and every value HTML-escaped
//! (controller ids and errors come from the field).

mod chart;
mod export;
mod html;
#[cfg(test)]
mod tests;

pub use export::{ExportError, ExportFormat, write_export};
pub use html::render_html;

use crate::engine::{Millis, RolloutEvent, Transition};
use crate::history::{DeploymentRow, History, HistoryError, RunBy, TargetStatusRow};

/// Every transition of a deployment, however many.
const ALL: usize = usize::MAX >> 1;

/// What the history knows of one deployment, as the report shows it.
#[derive(Debug, Clone)]
pub struct ReportInput {
    /// Summary, counts, firmware identity, policy, broker.
    pub deployment: DeploymentRow,
    /// In the order they were given, each with its wave.
    pub targets: Vec<TargetStatusRow>,
    /// Oldest first.
    pub transitions: Vec<Transition>,
    /// The plan, wave starts, pauses and resumes, oldest first.
    pub rollout: Vec<RolloutEvent>,
    pub run_by: RunBy,
    /// When the report was made, and by what (`Storefleet 0.1.0`).
    pub generated_at: Millis,
    pub generator: String,
}

/// The report's input for `deployment_id`; `None` when the history has no such deployment.
pub fn load(
    history: &History,
    deployment_id: &str,
    now: Millis,
) -> Result<Option<ReportInput>, HistoryError> {
    let Some(deployment) = history.deployment(deployment_id)? else {
        return Ok(None);
    };
    Ok(Some(ReportInput {
        targets: history.target_statuses(deployment_id)?,
        transitions: history
            .transitions_after(deployment_id, 0, ALL)?
            .into_iter()
            .map(|(_, t)| t)
            .collect(),
        rollout: history.rollout_events(deployment_id)?,
        run_by: history.run_by(deployment_id)?.unwrap_or_default(),
        deployment,
        generated_at: now,
        generator: format!("{} {}", crate::PRODUCT_NAME, crate::VERSION),
    }))
}
