//! `deploy`'s rollout options, turned into the engine's [`RolloutPolicy`].

use storefleet::engine::{Advance, FailureThreshold, RolloutPolicy};

use crate::failure::Failure;

/// With `--pause-on-failures PCT%` and no `--pause-min-finished`: so that one early
/// failure among the first few does not read as a high failure rate.
pub const DEFAULT_PAUSE_MIN_FINISHED: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdvanceArg {
    /// The next wave starts when the previous one reached --min-success.
    Auto,
    /// The next wave starts only with `storefleet resume`.
    Manual,
}

/// `N` (a count) or `PCT%` (a share of finished targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureLimit {
    Count(u32),
    Percent(u8),
}

fn parse_failure_limit(text: &str) -> Result<FailureLimit, String> {
    match text.strip_suffix('%') {
        Some(pct) => match pct.trim().parse::<u8>() {
            Ok(p) if (1..=100).contains(&p) => Ok(FailureLimit::Percent(p)),
            _ => Err(format!("{text:?}: a percentage is 1% to 100%")),
        },
        None => match text.trim().parse::<u32>() {
            Ok(n) if n > 0 => Ok(FailureLimit::Count(n)),
            _ => Err(format!(
                "{text:?}: write a count (at least 1) or a percentage like 20%"
            )),
        },
    }
}

fn parse_pct(text: &str) -> Result<u8, String> {
    match text.trim().trim_end_matches('%').parse::<u8>() {
        Ok(p) if p <= 100 => Ok(p),
        _ => Err(format!("{text:?}: a percentage is 0 to 100")),
    }
}

fn parse_positive(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?}: must be a whole number, at least 1")),
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Send to the first N targets (in the order given) first, as wave 0.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    canary: Option<u32>,
    /// After the canary, send in waves of N targets (default: all the rest in one wave).
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    wave_size: Option<u32>,
    /// How the next wave starts: auto (success rate reached) or manual (`storefleet resume`).
    #[arg(long, value_enum, default_value = "auto")]
    advance: AdvanceArg,
    /// With auto advance: the share of a finished wave that must have completed for the next
    /// to start; below it the deployment pauses.
    #[arg(long, value_name = "PCT", default_value = "100", value_parser = parse_pct)]
    min_success: u8,
    /// At most N targets sent and not finished at once.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    max_in_flight: Option<u32>,
    /// At most N targets of one store sent and not finished at once.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    max_in_flight_per_store: Option<u32>,
    /// Pause when N targets failed or timed out, or PCT% of the finished ones (counted again
    /// from each resume).
    #[arg(long, value_name = "N|PCT%", value_parser = parse_failure_limit)]
    pause_on_failures: Option<FailureLimit>,
    /// With --pause-on-failures PCT%: only once this many targets have finished [default: 10].
    #[arg(long, value_name = "N", requires = "pause_on_failures")]
    pause_min_finished: Option<u32>,
}

impl PolicyArgs {
    pub fn policy(&self) -> Result<RolloutPolicy, Failure> {
        let pause_on_failures = match (self.pause_on_failures, self.pause_min_finished) {
            (None, _) => None,
            (Some(FailureLimit::Count(_)), Some(_)) => {
                return Err(Failure::refused(
                    "--pause-min-finished goes with a percentage: --pause-on-failures PCT%",
                ));
            }
            (Some(FailureLimit::Count(count)), None) => Some(FailureThreshold::Count { count }),
            (Some(FailureLimit::Percent(percent)), min) => Some(FailureThreshold::Percent {
                percent,
                min_finished: min.unwrap_or(DEFAULT_PAUSE_MIN_FINISHED),
            }),
        };
        let policy = RolloutPolicy {
            canary: self.canary,
            wave_size: self.wave_size,
            advance: match self.advance {
                AdvanceArg::Auto => Advance::Auto,
                AdvanceArg::Manual => Advance::Manual,
            },
            min_success_pct: self.min_success,
            max_in_flight: self.max_in_flight,
            max_in_flight_per_store: self.max_in_flight_per_store,
            pause_on_failures,
            // Resolved from the inventory by `prepare` (deploy's window options).
            schedule: None,
        };
        policy
            .check()
            .map_err(|e| Failure::refused(e.to_string()))?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_limits_are_counts_or_percentages() {
        assert_eq!(parse_failure_limit("3"), Ok(FailureLimit::Count(3)));
        assert_eq!(parse_failure_limit("20%"), Ok(FailureLimit::Percent(20)));
        for bad in ["0", "0%", "101%", "x", "-1", ""] {
            assert!(parse_failure_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_pct("90"), Ok(90));
        assert!(parse_pct("101").is_err());
        assert!(parse_positive("0").is_err());
    }
}
