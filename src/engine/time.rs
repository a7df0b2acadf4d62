//! Time as the engine sees it: plain numbers handed in by the owner.
//!
//! The engine never reads a clock, so every method takes `now`. Instants are unix
//! milliseconds ([`Millis`]); spans are [`std::time::Duration`]. All arithmetic saturates:
//! a silly timeout or a clock far in the future never panics, it just never fires.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// An instant in unix milliseconds (UTC), as passed in by the engine's owner.
///
/// Only the order and differences of these values matter to the engine; the owner may feed
/// wall-clock time (what history stores and the UI shows) or a test's fake clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Millis(pub u64);

impl Millis {
    /// Unix milliseconds of a date-time; instants before 1970 clamp to zero.
    pub fn from_datetime<Tz: TimeZone>(at: &DateTime<Tz>) -> Self {
        Self(u64::try_from(at.timestamp_millis()).unwrap_or(0))
    }

    /// The same instant as a UTC date-time, for display and for timestamps on the wire.
    /// `None` only beyond chrono's range (year 262,143).
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        i64::try_from(self.0)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
    }

    /// `self + span`, saturating at the end of time.
    pub fn after(self, span: Duration) -> Self {
        let span = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(span))
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for Millis {
    fn from(ms: u64) -> Self {
        Self(ms)
    }
}

/// Serde for a [`Duration`] as whole milliseconds (what history and JSON carry).
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(span: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(span.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_adds_milliseconds_and_saturates() {
        assert_eq!(Millis(1_000).after(Duration::from_secs(2)), Millis(3_000));
        assert_eq!(
            Millis(u64::MAX - 1).after(Duration::from_secs(1)),
            Millis(u64::MAX)
        );
        assert_eq!(Millis(5).after(Duration::MAX), Millis(u64::MAX));
    }

    #[test]
    fn datetime_round_trip_and_pre_epoch_clamps() {
        let at = DateTime::parse_from_rfc3339("2024-01-15T15:30:25.250+07:00").expect("ts");
        let ms = Millis::from_datetime(&at);
        assert_eq!(ms, Millis(1_705_307_425_250));
        assert_eq!(
            ms.to_datetime().map(|d| d.timestamp_millis()),
            Some(1_705_307_425_250)
        );
        let before = DateTime::parse_from_rfc3339("1960-01-01T00:00:00+00:00").expect("ts");
        assert_eq!(Millis::from_datetime(&before), Millis(0));
        assert_eq!(Millis(u64::MAX).to_datetime(), None);
    }

    #[test]
    fn serializes_as_a_plain_number() {
        assert_eq!(
            serde_json::to_string(&Millis(42)).ok(),
            Some("42".to_owned())
        );
    }
}
