//! The inventory's last-seen times, held back by the history writer while it is busy.
//!
//! A reply moves its controller's `last_seen` on. The inventory is keyed by store and
//! controller, so under a flood each commit rewrote one random page per controller into the
//! WAL, beside the messages it had to keep. While flushes queue up, the writer only adds the
//! controllers the inventory lacks (a look in the page cache for the others) and keeps their
//! latest times here, coalesced, writing them with the first batch that comes to an idle
//! writer or at most [`HOLD`] after the first was held. A controller added meanwhile was
//! added with its time, which is then not written again.
//!
//! Decided: a crash loses at most [`HOLD`] of last-seen times, never a controller and never
//! a message (the message log keeps when each reply came).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::engine::Millis;
use crate::history::ControllerSeen;

/// How long a last-seen time may wait for a busy writer.
pub(super) const HOLD: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct HeldSeen {
    /// (store, controller) → the latest time heard (`None`: only addressed to it).
    latest: HashMap<(String, String), Option<Millis>>,
    since: Option<Instant>,
}

impl HeldSeen {
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Keeps `heard`, each controller once with its latest time.
    pub fn hold(&mut self, heard: Vec<ControllerSeen>, now: Instant) {
        if heard.is_empty() {
            return;
        }
        self.since.get_or_insert(now);
        for s in heard {
            let at = self
                .latest
                .entry((s.store_id, s.controller_id))
                .or_default();
            *at = (*at).max(s.at);
        }
    }

    /// Forgets the times a batch has written already (controllers it added to the inventory),
    /// unless a later time was held meanwhile: a new controller costs one row, not two.
    pub fn written(&mut self, added: &[ControllerSeen]) {
        for s in added {
            let key = (s.store_id.clone(), s.controller_id.clone());
            if self.latest.get(&key).is_some_and(|held| *held <= s.at) {
                self.latest.remove(&key);
            }
        }
        if self.latest.is_empty() {
            self.since = None;
        }
    }

    /// When what is held must be written, if anything is.
    pub fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + HOLD)
    }

    /// Everything held, to be written now.
    pub fn take(&mut self) -> Vec<ControllerSeen> {
        self.since = None;
        self.latest
            .drain()
            .map(|((store_id, controller_id), at)| ControllerSeen {
                store_id,
                controller_id,
                at,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(controller: &str, at: Option<u64>) -> ControllerSeen {
        ControllerSeen {
            store_id: "s1".into(),
            controller_id: controller.into(),
            at: at.map(Millis),
        }
    }

    #[test]
    fn keeps_each_controller_once_with_its_latest_time_and_its_first_hold() {
        let start = Instant::now();
        let mut held = HeldSeen::default();
        assert_eq!(held.due(), None);
        held.hold(vec![heard("c1", Some(5)), heard("c2", None)], start);
        held.hold(
            vec![heard("c1", Some(3)), heard("c2", Some(7))],
            start + HOLD / 2,
        );
        assert_eq!(held.due(), Some(start + HOLD), "due from the first hold");
        let mut taken = held.take();
        taken.sort_by(|a, b| a.controller_id.cmp(&b.controller_id));
        assert_eq!(taken, vec![heard("c1", Some(5)), heard("c2", Some(7))]);
        assert!(held.is_empty());
        assert_eq!(held.due(), None);
    }

    #[test]
    fn a_time_written_already_is_forgotten_unless_a_later_one_is_held() {
        let start = Instant::now();
        let mut held = HeldSeen::default();
        held.hold(vec![heard("c1", Some(5)), heard("c2", Some(9))], start);
        held.written(&[heard("c1", Some(5)), heard("c2", Some(7))]);
        assert_eq!(held.take(), vec![heard("c2", Some(9))]);
        held.hold(vec![heard("c3", Some(1))], start);
        held.written(&[heard("c3", Some(1))]);
        assert!(held.is_empty());
        assert_eq!(held.due(), None, "nothing left to fall due");
    }
}
