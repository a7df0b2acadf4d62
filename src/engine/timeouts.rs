//! Deadlines of all targets of all deployments, ordered by time.
//!
//! A target has two clocks: an ack clock while it is `sent`, a completion clock while it is
//! `sent` or `acknowledged`. Either running out times the target out, so the set holds one
//! entry per target: the earliest of its running clocks (one entry instead of two halves
//! what a target in flight costs here). Every status change replaces that entry (O(log n)),
//! so [`Deadlines::next`] is exact and a tick touches only the targets that are due, never
//! scans.

use std::collections::BTreeSet;

use super::spec::Timeouts;
use super::status::TargetStatus;
use super::time::Millis;

/// The two clocks of a sent target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Clock {
    Ack,
    Completion,
}

impl Clock {
    const BOTH: [Clock; 2] = [Clock::Ack, Clock::Completion];

    /// Whether this clock runs for a target in `status`.
    pub(crate) fn runs_in(self, status: TargetStatus) -> bool {
        match self {
            Self::Ack => status == TargetStatus::Sent,
            Self::Completion => {
                matches!(status, TargetStatus::Sent | TargetStatus::Acknowledged)
            }
        }
    }

    /// When this clock runs out for a command sent at `sent_at`.
    pub(crate) fn deadline(self, sent_at: Millis, timeouts: &Timeouts) -> Millis {
        match self {
            Self::Ack => sent_at.after(timeouts.ack),
            Self::Completion => sent_at.after(timeouts.completion),
        }
    }
}

/// (deadline, deployment slot, target index and clock); ties break deterministically. The
/// clock is the low bit of the third: 16 bytes an entry, where a separate field made 24 with
/// padding (13 B less per target in flight at 100,000, `benches/engine_memory.rs`).
type Entry = (Millis, u32, u32);

fn entry(at: Millis, slot: usize, target: usize, clock: Clock) -> Entry {
    let target = u32::try_from(target)
        .ok()
        .filter(|&t| t < 1 << 31)
        .expect("fewer than 2^31 targets in a deployment");
    let bit = match clock {
        Clock::Ack => 0,
        Clock::Completion => 1,
    };
    (at, compact(slot), target << 1 | bit)
}

fn target_and_clock(packed: u32) -> (usize, Clock) {
    let clock = if packed & 1 == 0 {
        Clock::Ack
    } else {
        Clock::Completion
    };
    ((packed >> 1) as usize, clock)
}

/// The clock of a target in `status` that runs out first, and when.
fn first_clock(
    sent_at: Millis,
    timeouts: &Timeouts,
    status: TargetStatus,
) -> Option<(Millis, Clock)> {
    Clock::BOTH
        .into_iter()
        .filter(|clock| clock.runs_in(status))
        .map(|clock| (clock.deadline(sent_at, timeouts), clock))
        .min()
}

fn compact(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 deployments and targets")
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Deadlines {
    set: BTreeSet<Entry>,
}

impl Deadlines {
    /// Starts and stops clocks for a target going from `from` to `to`. A target that was
    /// never sent has no clocks.
    pub(crate) fn on_status_change(
        &mut self,
        slot: usize,
        target: usize,
        sent_at: Option<Millis>,
        timeouts: &Timeouts,
        from: TargetStatus,
        to: TargetStatus,
    ) {
        let Some(sent_at) = sent_at else { return };
        let (before, after) = (
            first_clock(sent_at, timeouts, from),
            first_clock(sent_at, timeouts, to),
        );
        if before == after {
            return;
        }
        if let Some((at, clock)) = before {
            self.set.remove(&entry(at, slot, target, clock));
        }
        if let Some((at, clock)) = after {
            self.set.insert(entry(at, slot, target, clock));
        }
    }

    /// Starts the clocks a restored target in `status` has.
    pub(crate) fn start(
        &mut self,
        slot: usize,
        target: usize,
        sent_at: Option<Millis>,
        timeouts: &Timeouts,
        status: TargetStatus,
    ) {
        self.on_status_change(
            slot,
            target,
            sent_at,
            timeouts,
            TargetStatus::Queued,
            status,
        );
    }

    /// Stops every clock of a target in `status` (its deployment is being dropped).
    pub(crate) fn stop(
        &mut self,
        slot: usize,
        target: usize,
        sent_at: Option<Millis>,
        timeouts: &Timeouts,
        status: TargetStatus,
    ) {
        self.on_status_change(
            slot,
            target,
            sent_at,
            timeouts,
            status,
            TargetStatus::Queued,
        );
    }

    /// The earliest running deadline.
    pub(crate) fn next(&self) -> Option<Millis> {
        self.set.first().map(|entry| entry.0)
    }

    /// Removes and returns one entry due at or before `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Millis) -> Option<(usize, usize, Clock)> {
        if self.next()? > now {
            return None;
        }
        self.set.pop_first().map(|(_, slot, packed)| {
            let (target, clock) = target_and_clock(packed);
            (slot as usize, target, clock)
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use TargetStatus::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            ack: Duration::from_millis(10),
            completion: Duration::from_millis(100),
        }
    }

    #[test]
    fn sending_starts_the_first_clock_and_ack_moves_to_completion() {
        let mut d = Deadlines::default();
        let t = timeouts();
        d.on_status_change(0, 7, Some(Millis(1_000)), &t, Queued, Sent);
        assert_eq!((d.len(), d.next()), (1, Some(Millis(1_010))));
        d.on_status_change(0, 7, Some(Millis(1_000)), &t, Sent, Acknowledged);
        assert_eq!((d.len(), d.next()), (1, Some(Millis(1_100))));
        d.on_status_change(0, 7, Some(Millis(1_000)), &t, Acknowledged, Completed);
        assert_eq!((d.len(), d.next()), (0, None));
    }

    #[test]
    fn unsent_targets_have_no_clocks() {
        let mut d = Deadlines::default();
        d.on_status_change(0, 0, None, &timeouts(), Queued, Sent);
        assert_eq!(d.next(), None);
    }

    #[test]
    fn pop_due_returns_only_due_entries_in_order() {
        let mut d = Deadlines::default();
        let t = timeouts();
        d.start(0, 1, Some(Millis(50)), &t, Sent);
        d.start(0, 2, Some(Millis(0)), &t, Acknowledged);
        assert_eq!(d.pop_due(Millis(59)), None);
        assert_eq!(d.pop_due(Millis(60)), Some((0, 1, Clock::Ack)));
        assert_eq!(d.pop_due(Millis(99)), None);
        assert_eq!(d.pop_due(Millis(1_000)), Some((0, 2, Clock::Completion)));
        // Target 1's ack clock ran out first: that times it out, its completion clock is moot.
        assert_eq!(d.pop_due(Millis(u64::MAX)), None);
    }

    #[test]
    fn stop_removes_whatever_runs() {
        let mut d = Deadlines::default();
        let t = timeouts();
        d.start(3, 4, Some(Millis(0)), &t, Sent);
        d.stop(3, 4, Some(Millis(0)), &t, Sent);
        assert_eq!(d.len(), 0);
    }
}
