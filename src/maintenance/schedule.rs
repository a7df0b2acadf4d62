//! Whether a store's windows are open at an instant, and when they next open or close.
//!
//! Each day a window opens on gives one occurrence: [start, end) resolved from the store's
//! wall clock to instants. Occurrences are gathered from the day before `now` (a window
//! crossing midnight) to eight days after (a weekly window), sorted and merged where they
//! overlap or touch; `now` is inside one of them or before the next.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use super::window::{DAY_SECS, Window, Windows};
use super::zone::StoreZone;
use crate::engine::Millis;

/// A store's windows at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// Inside a window, which closes at `closes_at` (the end of the look-ahead for one that
    /// never closes).
    Open { closes_at: Millis },
    /// Outside every window; `None` when there is no window at all.
    Closed { opens_at: Option<Millis> },
}

impl WindowState {
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open { .. })
    }
}

const LOOK_BACK_DAYS: i64 = 1;
const LOOK_AHEAD_DAYS: i64 = 8;

fn to_ms(ts: Timestamp) -> Millis {
    Millis(u64::try_from(ts.as_millisecond()).unwrap_or(0))
}

/// The instant the store's clock shows `secs` seconds after midnight of `date` (`secs`
/// may run into the next days).
fn instant(tz: &TimeZone, date: Date, secs: u32) -> Option<Millis> {
    let days = i64::from(secs / DAY_SECS);
    let rest = secs % DAY_SECS;
    let date = date.checked_add(jiff::Span::new().days(days)).ok()?;
    let h = i8::try_from(rest / 3600).ok()?;
    let m = i8::try_from(rest / 60 % 60).ok()?;
    let s = i8::try_from(rest % 60).ok()?;
    let time = Time::new(h, m, s, 0).ok()?;
    tz.to_ambiguous_timestamp(date.to_datetime(time))
        .compatible()
        .ok()
        .map(to_ms)
}

fn occurrence(tz: &TimeZone, date: Date, w: &Window) -> Option<(Millis, Millis)> {
    let day = u8::try_from(date.weekday().to_monday_zero_offset()).ok()?;
    if !w.opens_on(day) {
        return None;
    }
    let start = instant(tz, date, w.start_secs())?;
    let end = instant(tz, date, w.end_secs_from_opening_day())?;
    (end > start).then_some((start, end))
}

/// The merged openings around `now`, in order.
fn openings(zone: &StoreZone, windows: &Windows, now: Millis) -> Vec<(Millis, Millis)> {
    let tz = zone.tz();
    let Some(ts) = i64::try_from(now.0)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
    else {
        return Vec::new();
    };
    let today = tz.to_datetime(ts).date();
    let mut all: Vec<(Millis, Millis)> = (-LOOK_BACK_DAYS..=LOOK_AHEAD_DAYS)
        .filter_map(|offset| today.checked_add(jiff::Span::new().days(offset)).ok())
        .flat_map(|date| windows.iter().filter_map(move |w| occurrence(tz, date, w)))
        .collect();
    all.sort_unstable();
    let mut merged: Vec<(Millis, Millis)> = Vec::with_capacity(all.len());
    for (start, end) in all {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Whether the store may be disturbed at `now`, and until or from when.
pub fn window_state(zone: &StoreZone, windows: &Windows, now: Millis) -> WindowState {
    let merged = openings(zone, windows, now);
    for (start, end) in merged {
        if now < start {
            return WindowState::Closed {
                opens_at: Some(start),
            };
        }
        if now < end {
            return WindowState::Open { closes_at: end };
        }
    }
    WindowState::Closed { opens_at: None }
}

/// The first instant at or after `from` inside a window.
pub fn first_opening(zone: &StoreZone, windows: &Windows, from: Millis) -> Option<Millis> {
    match window_state(zone, windows, from) {
        WindowState::Open { .. } => Some(from),
        WindowState::Closed { opens_at } => opens_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: &str, local: &str) -> Millis {
        let tz = TimeZone::get(zone).unwrap();
        let dt: jiff::civil::DateTime = local.parse().unwrap();
        to_ms(tz.to_ambiguous_timestamp(dt).compatible().unwrap())
    }

    fn utc(text: &str) -> Millis {
        to_ms(text.parse::<Timestamp>().unwrap())
    }

    fn setup(zone: &str, windows: &str) -> (StoreZone, Windows) {
        (StoreZone::parse(zone).unwrap(), windows.parse().unwrap())
    }

    #[test]
    fn a_window_crossing_midnight_is_open_until_the_next_morning() {
        let (z, w) = setup("Europe/Berlin", "Mon-Fri 22:00-05:00");
        // Friday 2024-01-19 21:59 local: closed, opens at 22:00.
        assert_eq!(
            window_state(&z, &w, at("Europe/Berlin", "2024-01-19T21:59")),
            WindowState::Closed {
                opens_at: Some(at("Europe/Berlin", "2024-01-19T22:00"))
            }
        );
        // Saturday 03:00: still Friday's window, closing at 05:00.
        assert_eq!(
            window_state(&z, &w, at("Europe/Berlin", "2024-01-20T03:00")),
            WindowState::Open {
                closes_at: at("Europe/Berlin", "2024-01-20T05:00")
            }
        );
        // Saturday 05:00 (end exclusive): closed until Monday 22:00.
        assert_eq!(
            window_state(&z, &w, at("Europe/Berlin", "2024-01-20T05:00")),
            WindowState::Closed {
                opens_at: Some(at("Europe/Berlin", "2024-01-22T22:00"))
            }
        );
        // Monday 01:00: Sunday opens no window, so closed.
        assert!(!window_state(&z, &w, at("Europe/Berlin", "2024-01-22T01:00")).is_open());
    }

    #[test]
    fn touching_windows_make_one_opening() {
        let (z, w) = setup("UTC", "Fri 22:00-05:00, Sat 05:00-09:00");
        assert_eq!(
            window_state(&z, &w, utc("2024-01-19T23:00:00Z")),
            WindowState::Open {
                closes_at: utc("2024-01-20T09:00:00Z")
            }
        );
    }

    #[test]
    fn new_york_keeps_wall_clock_hours_across_both_dst_changes() {
        let z = "America/New_York";
        let (zone, w) = setup(z, "Daily 22:00-05:00");
        // Before spring forward (EST, -05:00) and after it (EDT, -04:00): 22:00 local both.
        assert_eq!(
            first_opening(&zone, &w, utc("2024-03-09T12:00:00Z")),
            Some(utc("2024-03-10T03:00:00Z"))
        );
        // The night of the change (2024-03-10 02:00 jumps to 03:00): the window opened at
        // 22:00 EST and closes at 05:00 EDT, six hours later.
        assert_eq!(
            window_state(&zone, &w, utc("2024-03-10T06:00:00Z")),
            WindowState::Open {
                closes_at: utc("2024-03-10T09:00:00Z")
            }
        );
        assert_eq!(
            first_opening(&zone, &w, utc("2024-03-10T12:00:00Z")),
            Some(utc("2024-03-11T02:00:00Z"))
        );
        // Fall back (2024-11-03 02:00 back to 01:00): opens 22:00 EDT, closes 05:00 EST,
        // eight hours.
        assert_eq!(
            window_state(&zone, &w, at(z, "2024-11-02T23:00")),
            WindowState::Open {
                closes_at: utc("2024-11-03T10:00:00Z")
            }
        );
        assert_eq!(at(z, "2024-11-02T22:00"), utc("2024-11-03T02:00:00Z"));
    }

    #[test]
    fn berlin_windows_in_skipped_and_repeated_hours() {
        let z = "Europe/Berlin";
        // Spring forward 2024-03-31: 02:00 CET jumps to 03:00 CEST. A window from 02:30
        // opens where 02:30 would have been: 03:30 CEST (01:30 UTC).
        let (zone, w) = setup(z, "Sun 02:30-04:00");
        assert_eq!(
            first_opening(&zone, &w, utc("2024-03-30T12:00:00Z")),
            Some(utc("2024-03-31T01:30:00Z"))
        );
        assert_eq!(
            window_state(&zone, &w, utc("2024-03-31T01:45:00Z")),
            WindowState::Open {
                closes_at: utc("2024-03-31T02:00:00Z")
            }
        );
        // Fall back 2024-10-27: 03:00 CEST goes back to 02:00 CET. A window ending at
        // 02:30 ends at the first 02:30 (00:30 UTC) and does not reopen in the repeat.
        let (zone, w) = setup(z, "Sat 23:00-02:30");
        assert_eq!(
            window_state(&zone, &w, utc("2024-10-26T22:00:00Z")),
            WindowState::Open {
                closes_at: utc("2024-10-27T00:30:00Z")
            }
        );
        assert!(!window_state(&zone, &w, utc("2024-10-27T01:15:00Z")).is_open());
        // Summer and winter: 23:00 local is 21:00 UTC in summer, 22:00 UTC in winter.
        assert_eq!(
            first_opening(&zone, &w, utc("2024-07-01T00:00:00Z")),
            Some(utc("2024-07-06T21:00:00Z"))
        );
        assert_eq!(
            first_opening(&zone, &w, utc("2024-12-02T00:00:00Z")),
            Some(utc("2024-12-07T22:00:00Z"))
        );
    }

    #[test]
    fn seconds_count_and_no_window_never_opens() {
        let (z, w) = setup("UTC", "Daily 10:00:05-10:00:10");
        assert!(!window_state(&z, &w, utc("2024-05-01T10:00:04Z")).is_open());
        assert!(window_state(&z, &w, utc("2024-05-01T10:00:05Z")).is_open());
        assert!(!window_state(&z, &w, utc("2024-05-01T10:00:10Z")).is_open());
        let none = Windows::default();
        assert_eq!(
            window_state(&z, &none, utc("2024-05-01T10:00:00Z")),
            WindowState::Closed { opens_at: None }
        );
    }
}
