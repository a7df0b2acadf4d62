//! Durations as the command line writes them (`500ms`, `30s`, `10m`, `1h`, `1.5s`), and
//! ranges `MIN..MAX` that the simulator draws from.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::rng::SimRng;

pub use crate::durations::{DurationError, format_duration, parse_duration};

/// A closed range of durations, written `MIN..MAX` (or one duration for a constant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
}

impl DurationRange {
    pub fn new(min: Duration, max: Duration) -> Result<Self, DurationError> {
        if min > max {
            return Err(DurationError::Reversed(format!(
                "{}..{}",
                format_duration(min),
                format_duration(max)
            )));
        }
        Ok(Self { min, max })
    }

    pub fn constant(d: Duration) -> Self {
        Self { min: d, max: d }
    }

    /// Draws from a log-normal centred on the geometric middle of the range, clamped to it:
    /// most draws near the middle, some near either end, like real flash times.
    pub fn sample(&self, rng: &mut SimRng) -> Duration {
        if self.min >= self.max {
            return self.min;
        }
        let hi = self.max.as_secs_f64();
        // A zero minimum has no logarithm: start the log scale at a thousandth of the top.
        let lo = self.min.as_secs_f64().max(hi / 1000.0);
        let (ln_lo, ln_hi) = (lo.ln(), hi.ln());
        let mu = (ln_lo + ln_hi) / 2.0;
        let sigma = (ln_hi - ln_lo) / 4.0; // ±2σ spans the range
        let secs = (mu + sigma * rng.normal()).exp();
        Duration::from_secs_f64(secs).clamp(self.min, self.max)
    }
}

impl FromStr for DurationRange {
    type Err = DurationError;
    fn from_str(text: &str) -> Result<Self, DurationError> {
        match text.split_once("..") {
            Some((min, max)) => Self::new(parse_duration(min)?, parse_duration(max)?)
                .map_err(|_| DurationError::Reversed(text.to_owned())),
            None => parse_duration(text).map(Self::constant),
        }
    }
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            f.write_str(&format_duration(self.min))
        } else {
            write!(
                f,
                "{}..{}",
                format_duration(self.min),
                format_duration(self.max)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_forms() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in [
            "", "s", "10", "-1s", "1.s", ".5s", "5 s", "5sec", "1e3s", "5.5.5s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_parse_print_and_refuse_reversal() {
        let r: DurationRange = "2s..10s".parse().unwrap();
        assert_eq!(r.min, Duration::from_secs(2));
        assert_eq!(r.max, Duration::from_secs(10));
        assert_eq!(r.to_string(), "2s..10s");
        assert_eq!(
            "500ms".parse::<DurationRange>().unwrap().to_string(),
            "500ms"
        );
        assert!("10s..2s".parse::<DurationRange>().is_err());
        assert!("2s..".parse::<DurationRange>().is_err());
    }

    #[test]
    fn samples_stay_in_range_and_vary() {
        let r: DurationRange = "100ms..5s".parse().unwrap();
        let mut rng = SimRng::new(9);
        let draws: Vec<Duration> = (0..2000).map(|_| r.sample(&mut rng)).collect();
        assert!(draws.iter().all(|d| (r.min..=r.max).contains(d)));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 1000);
        let zero_min: DurationRange = "0..1s".parse().unwrap();
        assert!(zero_min.sample(&mut rng) <= Duration::from_secs(1));
        assert_eq!(
            DurationRange::constant(Duration::from_secs(1)).sample(&mut rng),
            Duration::from_secs(1)
        );
    }
}
