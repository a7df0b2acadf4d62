//! A deployment's rollout policy (waves, in-flight caps, failure threshold) and where a
//! running deployment stands with it.
//!
//! The plan is fixed at create: target `i` (in the order given) belongs to wave
//! `wave_of(i)`, the canary being wave 0. It is recomputed from the policy and the target
//! count, never stored per target, so a restored deployment has the same plan.

use serde::{Deserialize, Serialize};

use super::error::EngineError;

/// How the next wave starts once the previous one has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Advance {
    /// When the finished wave's success rate reaches `min_success_pct`.
    #[default]
    Auto,
    /// Only when the operator resumes the deployment.
    Manual,
}

/// When failures pause the deployment. Counted from the start, or from the last resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureThreshold {
    /// This many failed or timed-out targets.
    Count { count: u32 },
    /// This share (0..=100) of finished targets failed or timed out, once at least
    /// `min_finished` have finished.
    Percent { percent: u8, min_finished: u32 },
}

fn default_min_success() -> u8 {
    100
}

/// How a deployment releases its targets. The default sends everything at once, uncapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RolloutPolicy {
    /// The first N targets, in the order given, form wave 0.
    #[serde(default)]
    pub canary: Option<u32>,
    /// The targets after the canary, in waves of this size; `None`: one wave.
    #[serde(default)]
    pub wave_size: Option<u32>,
    #[serde(default)]
    pub advance: Advance,
    /// With auto advance: the share of a finished wave that must have completed (0..=100)
    /// for the next wave to start; below it the deployment pauses.
    #[serde(default = "default_min_success")]
    pub min_success_pct: u8,
    /// Targets sent but not terminal, at most, over the whole deployment.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    /// Targets sent but not terminal, at most, per store.
    #[serde(default)]
    pub max_in_flight_per_store: Option<u32>,
    #[serde(default)]
    pub pause_on_failures: Option<FailureThreshold>,
    /// Not-before, not-after and maintenance windows; `None` sends at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub schedule: Option<Box<super::schedule::Schedule>>,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        Self {
            canary: None,
            wave_size: None,
            advance: Advance::Auto,
            min_success_pct: default_min_success(),
            max_in_flight: None,
            max_in_flight_per_store: None,
            pause_on_failures: None,
            schedule: None,
        }
    }
}

impl RolloutPolicy {
    /// Zero sizes and caps would hold every target back forever; percentages are 0..=100.
    pub fn check(&self) -> Result<(), EngineError> {
        let zero = |v: Option<u32>| v == Some(0);
        if zero(self.canary) {
            return Err(EngineError::BadPolicy(
                "the canary needs at least one target",
            ));
        }
        if zero(self.wave_size) {
            return Err(EngineError::BadPolicy("a wave needs at least one target"));
        }
        if zero(self.max_in_flight) || zero(self.max_in_flight_per_store) {
            return Err(EngineError::BadPolicy(
                "an in-flight cap must be at least one",
            ));
        }
        if self.min_success_pct > 100 {
            return Err(EngineError::BadPolicy(
                "the minimum success rate is a percentage (0 to 100)",
            ));
        }
        if let Some(schedule) = &self.schedule {
            schedule.check()?;
        }
        match self.pause_on_failures {
            Some(FailureThreshold::Count { count: 0 }) => Err(EngineError::BadPolicy(
                "a failure count threshold must be at least one",
            )),
            Some(FailureThreshold::Percent { percent, .. }) if percent == 0 || percent > 100 => {
                Err(EngineError::BadPolicy(
                    "a failure percentage must be 1 to 100",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Wave sizes for `targets` targets under `policy`, canary first; empty for no targets.
pub fn plan_waves(targets: usize, policy: &RolloutPolicy) -> Vec<u32> {
    let total = u32::try_from(targets).unwrap_or(u32::MAX);
    let mut waves = Vec::new();
    let mut rest = total;
    if let Some(canary) = policy.canary.filter(|&c| c > 0) {
        let size = canary.min(rest);
        if size > 0 {
            waves.push(size);
        }
        rest -= size;
    }
    match policy.wave_size.filter(|&w| w > 0) {
        Some(w) => {
            while rest > 0 {
                let size = w.min(rest);
                waves.push(size);
                rest -= size;
            }
        }
        None if rest > 0 => waves.push(rest),
        None => {}
    }
    waves
}

/// Where a deployment stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    Running,
    /// Nothing new is sent until the operator resumes (targets already sent go on).
    Paused,
    /// Every target is terminal.
    Finished,
    /// The operator cancelled it.
    Cancelled,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Finished => "finished",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for DeploymentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One wave of the plan and how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WaveProgress {
    /// From 0 (the canary, or the only wave).
    pub index: u32,
    pub size: u32,
    /// Its targets may be sent.
    pub started: bool,
    pub completed: u32,
    /// Failed or timed out.
    pub failed: u32,
    /// Every target of the wave is terminal.
    pub finished: bool,
}

/// The rollout's moving parts, saved with the deployment so a new process resumes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RolloutControl {
    /// Waves 0..waves_started may be sent.
    #[serde(default)]
    pub waves_started: u32,
    /// Set while paused: why.
    #[serde(default)]
    pub paused_reason: Option<String>,
    /// The operator cancelled the deployment (cleared by a retry).
    #[serde(default)]
    pub cancelled: bool,
    /// Failed or timed-out targets when the failure threshold was last re-armed (a resume
    /// or a retry); the threshold counts failures since.
    #[serde(default)]
    pub failures_base: u32,
    /// Finished (completed, failed, timed out) targets at that moment.
    #[serde(default)]
    pub finished_base: u32,
    /// Counts every change, so a process holding the deployment can tell that another one
    /// (a `storefleet pause` beside the desktop app) changed it in the history since.
    #[serde(default)]
    pub revision: u64,
}

/// What happened to a deployment's rollout, for the history (alongside its transitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RolloutEventKind {
    /// At create: the wave sizes, canary first.
    Planned {
        waves: Vec<u32>,
    },
    WaveStarted {
        wave: u32,
    },
    Paused {
        reason: String,
    },
    Resumed,
}

impl RolloutEventKind {
    /// The serde tag: `planned`, `wave_started`, `paused`, `resumed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Planned { .. } => "planned",
            Self::WaveStarted { .. } => "wave_started",
            Self::Paused { .. } => "paused",
            Self::Resumed => "resumed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RolloutEvent {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub deployment_id: crate::protocol::Id,
    pub at: super::time::Millis,
    #[serde(flatten)]
    pub kind: RolloutEventKind,
}
