//! When a store's targets will go, as the review says it: `tonight 22:00 (in 7 h)`.

use jiff::Timestamp;
use serde::Serialize;

use super::zone::StoreZone;
use crate::engine::Millis;

/// When a store's first target may be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoreStart {
    /// As soon as the deployment starts (its window is open, or windows are not used).
    Now,
    /// At this instant.
    At { at: Millis },
    /// Never before the deployment's not-after (or it has no window that ever opens).
    Never,
}

fn span_text(ms: u64) -> String {
    let minutes = ms.div_ceil(60_000);
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (d, h, m) {
        (0, 0, 0) => "in under a minute".to_owned(),
        (0, 0, m) => format!("in {m} min"),
        (0, h, 0) => format!("in {h} h"),
        (0, h, m) => format!("in {h} h {m} min"),
        (d, 0, _) => format!("in {d} d"),
        (d, h, _) => format!("in {d} d {h} h"),
    }
}

/// `at` in the store's wall clock, relative to `now`: `now`, `today 14:00 (in 2 h)`,
/// `tonight 22:00 (in 7 h)`, `tomorrow 05:30 (in 15 h 30 min)`, `Sat 23:00 (in 3 d 8 h)`,
/// or a date further out.
pub fn when_text(zone: &StoreZone, at: Millis, now: Millis) -> String {
    if at <= now {
        return "now".to_owned();
    }
    let local = |ms: Millis| {
        i64::try_from(ms.0)
            .ok()
            .and_then(|v| Timestamp::from_millisecond(v).ok())
            .map(|ts| zone.tz().to_datetime(ts))
    };
    let (Some(then), Some(today)) = (local(at), local(now)) else {
        return "later".to_owned();
    };
    let days = (then.date() - today.date()).get_days();
    let clock = if then.second() == 0 {
        format!("{:02}:{:02}", then.hour(), then.minute())
    } else {
        format!(
            "{:02}:{:02}:{:02}",
            then.hour(),
            then.minute(),
            then.second()
        )
    };
    let day = match days {
        0 if then.hour() >= 18 => "tonight".to_owned(),
        0 => "today".to_owned(),
        1 => "tomorrow".to_owned(),
        2..=6 => then.strftime("%a").to_string(),
        _ => then.strftime("%Y-%m-%d").to_string(),
    };
    format!("{day} {clock} ({})", span_text(at.0 - now.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Millis {
        Millis(u64::try_from(text.parse::<Timestamp>().unwrap().as_millisecond()).unwrap())
    }

    #[test]
    fn says_when_in_the_store_clock() {
        let berlin = StoreZone::parse("Europe/Berlin").unwrap();
        // 15:00 in Berlin (winter, +01:00).
        let now = utc("2024-01-17T14:00:00Z");
        assert_eq!(
            when_text(&berlin, utc("2024-01-17T21:00:00Z"), now),
            "tonight 22:00 (in 7 h)"
        );
        assert_eq!(
            when_text(&berlin, utc("2024-01-17T15:30:00Z"), now),
            "today 16:30 (in 1 h 30 min)"
        );
        assert_eq!(
            when_text(&berlin, utc("2024-01-18T04:00:00Z"), now),
            "tomorrow 05:00 (in 14 h)"
        );
        assert_eq!(
            when_text(&berlin, utc("2024-01-20T22:00:00Z"), now),
            "Sat 23:00 (in 3 d 8 h)"
        );
        assert_eq!(
            when_text(&berlin, utc("2024-02-01T22:00:00Z"), now),
            "2024-02-01 23:00 (in 15 d 8 h)"
        );
        assert_eq!(when_text(&berlin, now, now), "now");
        assert_eq!(
            when_text(&berlin, Millis(now.0 + 5_000), now),
            "today 15:00:05 (in 1 min)"
        );
    }
}
