//! Per wave, how many of its targets completed, failed and ended, kept as statuses change.
//! A wave's progress is asked on every release (the wave verdict) and in every summary, which
//! a following CLI or window asks for after each commit: walking the wave's targets each time
//! made both O(targets), and a 100,000-target deployment paid it hundreds of times.

use super::status::TargetStatus;

/// One wave's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WaveTally {
    /// Targets of the wave.
    pub members: u32,
    pub completed: u32,
    /// Failed or timed out.
    pub failed: u32,
    /// In a terminal status (completed, failed, timed out, cancelled or skipped).
    pub terminal: u32,
}

impl WaveTally {
    fn count(&mut self, status: TargetStatus, up: bool) {
        let step = |n: &mut u32| {
            *n = if up {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        match status {
            TargetStatus::Completed => step(&mut self.completed),
            TargetStatus::Failed | TargetStatus::TimedOut => step(&mut self.failed),
            _ => {}
        }
        if status.is_terminal() {
            step(&mut self.terminal);
        }
    }

    /// Every target of the wave is terminal (an empty wave is).
    pub fn finished(&self) -> bool {
        self.terminal >= self.members
    }
}

/// The tallies of a deployment's waves, by wave index.
#[derive(Debug, Clone, Default)]
pub(crate) struct WaveTallies(Vec<WaveTally>);

impl WaveTallies {
    pub fn new(waves: usize) -> Self {
        Self(vec![WaveTally::default(); waves.max(1)])
    }

    /// One more target of `wave`, in `status`.
    pub fn add(&mut self, wave: u32, status: TargetStatus) {
        if let Some(t) = self.0.get_mut(wave as usize) {
            t.members = t.members.saturating_add(1);
            t.count(status, true);
        }
    }

    /// A target of `wave` moved from `from` to `to`.
    pub fn shift(&mut self, wave: u32, from: TargetStatus, to: TargetStatus) {
        if let Some(t) = self.0.get_mut(wave as usize) {
            t.count(from, false);
            t.count(to, true);
        }
    }

    pub fn get(&self, wave: u32) -> WaveTally {
        self.0.get(wave as usize).copied().unwrap_or_default()
    }
}
