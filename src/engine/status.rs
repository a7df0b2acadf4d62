//! A target's status (DESIGN.md section 2) and per-deployment counts of them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where one target of a deployment stands. The serde names are the exact strings of the
/// CLI's JSON and the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Waiting to be sent: broker offline, waiting for its wave, or publish not yet confirmed.
    Queued,
    /// The broker confirmed the publish (PUBACK); the timeout clocks run from here.
    Sent,
    /// The controller acknowledged the command.
    Acknowledged,
    Completed,
    Failed,
    /// No ack within the ack timeout, or no result within the completion timeout.
    TimedOut,
    /// A cancel command went out; waiting for the controller's cancel ack.
    CancelRequested,
    Cancelled,
    /// Never sent: still queued when the deployment's not-after passed (its errors say why).
    Skipped,
}

impl TargetStatus {
    pub const ALL: [TargetStatus; 9] = [
        Self::Queued,
        Self::Sent,
        Self::Acknowledged,
        Self::Completed,
        Self::Failed,
        Self::TimedOut,
        Self::CancelRequested,
        Self::Cancelled,
        Self::Skipped,
    ];

    /// Completed, failed, cancelled, timed out and skipped end an attempt (though a
    /// controller's late report may still replace timed_out or cancelled).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::TimedOut | Self::Skipped
        )
    }

    /// The controller itself reported the outcome: final for the attempt.
    pub fn is_reported(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The exact wire/CLI/UI string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Acknowledged => "acknowledged",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::CancelRequested => "cancel_requested",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }

    /// The status named by `text`, exactly as [`TargetStatus::as_str`] writes it.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for TargetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many targets of a deployment are in each status. Serialized with the status names
/// as keys, which is the `counts` object of `storefleet status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StatusCounts {
    pub queued: usize,
    pub sent: usize,
    pub acknowledged: usize,
    pub completed: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cancel_requested: usize,
    pub cancelled: usize,
    /// Absent from counts saved before the status existed.
    #[serde(default)]
    pub skipped: usize,
}

impl StatusCounts {
    pub fn get(&self, status: TargetStatus) -> usize {
        match status {
            TargetStatus::Queued => self.queued,
            TargetStatus::Sent => self.sent,
            TargetStatus::Acknowledged => self.acknowledged,
            TargetStatus::Completed => self.completed,
            TargetStatus::Failed => self.failed,
            TargetStatus::TimedOut => self.timed_out,
            TargetStatus::CancelRequested => self.cancel_requested,
            TargetStatus::Cancelled => self.cancelled,
            TargetStatus::Skipped => self.skipped,
        }
    }

    fn slot(&mut self, status: TargetStatus) -> &mut usize {
        match status {
            TargetStatus::Queued => &mut self.queued,
            TargetStatus::Sent => &mut self.sent,
            TargetStatus::Acknowledged => &mut self.acknowledged,
            TargetStatus::Completed => &mut self.completed,
            TargetStatus::Failed => &mut self.failed,
            TargetStatus::TimedOut => &mut self.timed_out,
            TargetStatus::CancelRequested => &mut self.cancel_requested,
            TargetStatus::Cancelled => &mut self.cancelled,
            TargetStatus::Skipped => &mut self.skipped,
        }
    }

    pub(crate) fn add(&mut self, status: TargetStatus) {
        *self.slot(status) += 1;
    }

    /// Counts `n` more targets in `status` (history's GROUP BY results).
    pub fn add_n(&mut self, status: TargetStatus, n: usize) {
        *self.slot(status) += n;
    }

    /// Moves one target between statuses; saturating so a bookkeeping slip cannot panic.
    pub(crate) fn shift(&mut self, from: TargetStatus, to: TargetStatus) {
        let from_slot = self.slot(from);
        *from_slot = from_slot.saturating_sub(1);
        self.add(to);
    }

    /// Every target counted.
    pub fn total(&self) -> usize {
        TargetStatus::ALL.into_iter().map(|s| self.get(s)).sum()
    }

    /// Targets in a terminal status.
    pub fn terminal(&self) -> usize {
        TargetStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .map(|s| self.get(s))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_exact() {
        let names: Vec<String> = TargetStatus::ALL
            .into_iter()
            .map(|s| serde_json::to_string(&s).unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "\"queued\"",
                "\"sent\"",
                "\"acknowledged\"",
                "\"completed\"",
                "\"failed\"",
                "\"timed_out\"",
                "\"cancel_requested\"",
                "\"cancelled\"",
                "\"skipped\"",
            ]
        );
        for s in TargetStatus::ALL {
            assert_eq!(
                format!("\"{s}\""),
                serde_json::to_string(&s).unwrap_or_default()
            );
            assert_eq!(TargetStatus::from_name(s.as_str()), Some(s));
        }
        assert_eq!(TargetStatus::from_name("Queued"), None);
    }

    #[test]
    fn terminal_statuses_are_exactly_the_five() {
        let terminal: Vec<_> = TargetStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                TargetStatus::Completed,
                TargetStatus::Failed,
                TargetStatus::TimedOut,
                TargetStatus::Cancelled,
                TargetStatus::Skipped
            ]
        );
    }

    #[test]
    fn counts_shift_and_total() {
        let mut c = StatusCounts::default();
        c.add(TargetStatus::Queued);
        c.add(TargetStatus::Queued);
        c.shift(TargetStatus::Queued, TargetStatus::Sent);
        assert_eq!((c.queued, c.sent, c.total(), c.terminal()), (1, 1, 2, 0));
        c.shift(TargetStatus::Sent, TargetStatus::TimedOut);
        assert_eq!((c.timed_out, c.terminal()), (1, 1));
        let json = serde_json::to_value(c).unwrap_or_default();
        assert_eq!(json["timed_out"], 1);
        assert_eq!(json["cancel_requested"], 0);
    }
}
