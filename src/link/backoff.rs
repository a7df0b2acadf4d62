//! Reconnect delays: the first retry comes quickly (a restarting broker is usually back within
//! a second), then the delay doubles up to a cap, so an unreachable broker costs little.

use std::time::Duration;

pub const FIRST_RETRY: Duration = Duration::from_millis(200);
pub const MAX_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Counts a failure; returns the attempt number that follows (from 1) and how long to wait.
    pub fn next_delay(&mut self) -> (u32, Duration) {
        let doublings = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let delay = FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY);
        (self.failures, delay)
    }

    /// A connection succeeded: the next failure starts from the short delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_a_short_first_retry_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..8).map(|_| backoff.next_delay()).collect();
        let ms = |d: Duration| d.as_millis() as u64;
        assert_eq!(
            delays.iter().map(|(_, d)| ms(*d)).collect::<Vec<_>>(),
            [200, 400, 800, 1600, 3200, 5000, 5000, 5000]
        );
        assert_eq!(
            delays.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        for _ in 0..100 {
            assert_eq!(backoff.next_delay().1, MAX_RETRY);
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(), (1, FIRST_RETRY));
    }
}
