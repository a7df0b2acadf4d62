//! What the service tells its subscribers (the window's channel, the CLI's progress).

use std::sync::Arc;

use crate::engine::{DeploymentSummary, RolloutEvent, Transition};
use crate::link::LinkState;

/// One notice from the service, sent after the history has recorded what it reports.
#[derive(Debug, Clone)]
pub enum ServiceEvent {
    /// Target status changes, in order, in batches.
    Transitions(Arc<Vec<Transition>>),
    /// Wave starts, pauses and resumes, in order, with each deployment's summary after them.
    Rollout(Arc<Vec<RolloutEvent>>),
    /// Every target of this deployment is terminal.
    Finished(Arc<DeploymentSummary>),
    /// The broker connection changed.
    Link(LinkState),
    /// Messages recorded since the last notice: (in, rejected).
    Messages { inbound: usize, rejected: usize },
    /// A commit failed and is being retried: nothing of it is acknowledged, sent or
    /// announced until it succeeds, and inbound messages wait at the broker meanwhile.
    /// `since_ms`: how long the history has been failing.
    HistoryFailed { error: String, since_ms: u64 },
    /// The history takes writes again after a failure.
    HistoryRecovered,
}
