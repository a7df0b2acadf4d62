//! The rollout decision: which waiting targets get their update command now.
//!
//! Kept apart so the rollout-policy issue (waves, in-flight caps, pauses) replaces only this
//! function. The engine asks it after create, after retry and after every call that changed
//! a status, so a policy that holds targets back now is asked again when things move.

use super::status::StatusCounts;

/// What the decision may look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReleaseContext {
    /// Queued targets that have no command yet, in deployment order.
    pub waiting: usize,
    /// Every target's status (waiting targets count as queued).
    pub counts: StatusCounts,
}

/// How many of the waiting targets, from the front, to release now. For now: all of them.
pub(crate) fn release_count(context: &ReleaseContext) -> usize {
    context.waiting
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_everything_waiting_for_now() {
        let context = ReleaseContext {
            waiting: 5,
            counts: StatusCounts::default(),
        };
        assert_eq!(release_count(&context), 5);
    }
}
