//! The rollout rules, each a pure function of a few numbers, so each is tested on its own.
//! The engine (`pacing.rs`) gathers the numbers and applies the verdicts.

use super::rollout::{Advance, FailureThreshold, RolloutPolicy, WaveProgress};

/// What to do about the last started wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaveVerdict {
    /// Still running, or no wave after it.
    Wait,
    /// Start the next wave.
    Advance,
    /// Pause the deployment, for this reason.
    Pause(String),
}

/// Success rate in whole percent, rounded down; an empty wave counts as fully successful.
pub(crate) fn success_pct(completed: u32, size: u32) -> u32 {
    if size == 0 {
        return 100;
    }
    u32::try_from(u64::from(completed) * 100 / u64::from(size)).unwrap_or(100)
}

/// Once `wave` (the last started) has finished and another wave follows: auto advance
/// starts it when the success rate reaches the minimum and pauses otherwise; manual
/// advance always pauses, for the operator to resume.
pub(crate) fn wave_verdict(
    policy: &RolloutPolicy,
    wave: &WaveProgress,
    waves_in_plan: usize,
) -> WaveVerdict {
    let is_last = wave.index as usize + 1 >= waves_in_plan;
    if !wave.finished || is_last {
        return WaveVerdict::Wait;
    }
    let rate = success_pct(wave.completed, wave.size);
    let next = wave.index + 1;
    let name = wave_name(wave.index);
    match policy.advance {
        Advance::Manual => WaveVerdict::Pause(format!(
            "{name} finished ({rate}% completed); resume to start wave {next}"
        )),
        Advance::Auto if rate >= u32::from(policy.min_success_pct) => WaveVerdict::Advance,
        Advance::Auto => WaveVerdict::Pause(format!(
            "{name} finished with {rate}% completed, below the {}% required",
            policy.min_success_pct
        )),
    }
}

fn wave_name(index: u32) -> String {
    format!("wave {index}")
}

/// Whether the failures since the threshold was last armed cross it; the reason if so.
/// `failures` counts failed and timed-out targets, `finished` also completed ones.
pub(crate) fn failure_pause(
    threshold: Option<FailureThreshold>,
    failures: u32,
    finished: u32,
) -> Option<String> {
    match threshold? {
        FailureThreshold::Count { count } if failures >= count => Some(format!(
            "{failures} targets failed or timed out (threshold {count})"
        )),
        FailureThreshold::Percent {
            percent,
            min_finished,
        } if finished >= min_finished.max(1)
            && u64::from(failures) * 100 >= u64::from(percent) * u64::from(finished) =>
        {
            Some(format!(
                "{failures} of {finished} finished targets failed or timed out (threshold {percent}%)"
            ))
        }
        _ => None,
    }
}

/// Whether one more target may be sent given what is in flight overall and in its store.
pub(crate) fn may_send(policy: &RolloutPolicy, in_flight: u32, in_flight_in_store: u32) -> bool {
    policy.max_in_flight.is_none_or(|cap| in_flight < cap)
        && policy
            .max_in_flight_per_store
            .is_none_or(|cap| in_flight_in_store < cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(index: u32, size: u32, completed: u32, failed: u32, finished: bool) -> WaveProgress {
        WaveProgress {
            index,
            size,
            started: true,
            completed,
            failed,
            finished,
        }
    }

    #[test]
    fn a_running_wave_or_the_last_one_waits() {
        let policy = RolloutPolicy::default();
        assert_eq!(
            wave_verdict(&policy, &wave(0, 2, 1, 0, false), 3),
            WaveVerdict::Wait
        );
        assert_eq!(
            wave_verdict(&policy, &wave(2, 2, 0, 2, true), 3),
            WaveVerdict::Wait
        );
    }

    #[test]
    fn auto_advances_at_the_minimum_success_and_pauses_below() {
        let policy = RolloutPolicy {
            min_success_pct: 75,
            ..RolloutPolicy::default()
        };
        assert_eq!(
            wave_verdict(&policy, &wave(0, 4, 3, 1, true), 2),
            WaveVerdict::Advance
        );
        let WaveVerdict::Pause(reason) = wave_verdict(&policy, &wave(0, 4, 2, 2, true), 2) else {
            panic!("expected a pause");
        };
        assert!(reason.contains("50%") && reason.contains("75%"), "{reason}");
        // The default asks for every target of the wave.
        let strict = RolloutPolicy::default();
        assert!(matches!(
            wave_verdict(&strict, &wave(0, 10, 9, 1, true), 2),
            WaveVerdict::Pause(_)
        ));
        assert_eq!(
            wave_verdict(&strict, &wave(0, 10, 10, 0, true), 2),
            WaveVerdict::Advance
        );
    }

    #[test]
    fn manual_pauses_after_every_wave_but_the_last() {
        let policy = RolloutPolicy {
            advance: Advance::Manual,
            ..RolloutPolicy::default()
        };
        let WaveVerdict::Pause(reason) = wave_verdict(&policy, &wave(1, 3, 3, 0, true), 3) else {
            panic!("expected a pause");
        };
        assert!(reason.contains("resume to start wave 2"), "{reason}");
        assert_eq!(
            wave_verdict(&policy, &wave(2, 3, 3, 0, true), 3),
            WaveVerdict::Wait
        );
    }

    #[test]
    fn success_rate_rounds_down() {
        assert_eq!(success_pct(2, 3), 66);
        assert_eq!(success_pct(3, 3), 100);
        assert_eq!(success_pct(0, 0), 100);
    }

    #[test]
    fn a_failure_count_pauses_when_reached() {
        let t = Some(FailureThreshold::Count { count: 2 });
        assert_eq!(failure_pause(t, 1, 10), None);
        assert!(failure_pause(t, 2, 2).is_some());
        assert_eq!(failure_pause(None, 100, 100), None);
    }

    #[test]
    fn a_failure_percentage_waits_for_the_minimum_finished() {
        let t = Some(FailureThreshold::Percent {
            percent: 20,
            min_finished: 5,
        });
        // 2 of 4 is 50%, but fewer than 5 have finished.
        assert_eq!(failure_pause(t, 2, 4), None);
        assert!(failure_pause(t, 1, 5).is_some());
        assert_eq!(failure_pause(t, 1, 6), None);
        // A zero minimum still needs one finished target (no division by nothing).
        let any = Some(FailureThreshold::Percent {
            percent: 50,
            min_finished: 0,
        });
        assert_eq!(failure_pause(any, 0, 0), None);
        assert!(failure_pause(any, 1, 2).is_some());
    }

    #[test]
    fn caps_limit_in_flight_overall_and_per_store() {
        let free = RolloutPolicy::default();
        assert!(may_send(&free, 1_000_000, 1_000_000));
        let capped = RolloutPolicy {
            max_in_flight: Some(3),
            max_in_flight_per_store: Some(1),
            ..RolloutPolicy::default()
        };
        assert!(may_send(&capped, 2, 0));
        assert!(!may_send(&capped, 3, 0));
        assert!(!may_send(&capped, 0, 1));
    }
}
