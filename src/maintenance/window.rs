//! One maintenance window (`Mon-Fri 22:00-05:00`) and a store's list of them, as text and
//! back. Days are `Mon`..`Sun` (or full names, any case), a single day, a range that may
//! wrap (`Fri-Mon`) or `Daily`; times are `HH:MM` or `HH:MM:SS`, the end may be `24:00`.
//! A list separates windows with `,` or `;`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const DAY_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
pub(crate) const DAY_SECS: u32 = 86_400;

/// A bad window, with the text it was given: one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid window {text:?}: {reason}")]
pub struct WindowError {
    pub text: String,
    pub reason: String,
}

/// Open from `start` on each day of `first..=last` (Monday 0, wrapping) until `end`, on
/// the next day when `end <= start`. Seconds since local midnight; `end` may be 86,400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    first: u8,
    last: u8,
    start: u32,
    end: u32,
}

impl Window {
    /// Whether the window opens on `day` (Monday 0 .. Sunday 6).
    pub fn opens_on(&self, day: u8) -> bool {
        if self.first <= self.last {
            (self.first..=self.last).contains(&day)
        } else {
            day >= self.first || day <= self.last
        }
    }

    /// Seconds after local midnight when it opens.
    pub fn start_secs(&self) -> u32 {
        self.start
    }

    /// Seconds after the opening day's midnight when it closes (above 86,400 when it
    /// crosses midnight).
    pub fn end_secs_from_opening_day(&self) -> u32 {
        if self.end <= self.start {
            self.end + DAY_SECS
        } else {
            self.end
        }
    }
}

fn parse_day(text: &str) -> Option<u8> {
    let lower = text.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|name| *name == lower || (lower.len() == 3 && name.starts_with(&lower)))
        .and_then(|i| u8::try_from(i).ok())
}

fn parse_time(text: &str) -> Result<u32, String> {
    let bad = || format!("bad time {text:?} (write HH:MM or HH:MM:SS)");
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let mut values = [0u32; 3];
    for (slot, part) in values.iter_mut().zip(&parts) {
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        *slot = part.parse().map_err(|_| bad())?;
    }
    let [h, m, s] = values;
    if (h, m, s) == (24, 0, 0) {
        return Ok(DAY_SECS);
    }
    if h > 23 || m > 59 || s > 59 {
        return Err(format!("time {text:?} out of range"));
    }
    Ok(h * 3600 + m * 60 + s)
}

fn time_text(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let fail = |reason: String| WindowError {
            text: trimmed.to_owned(),
            reason,
        };
        let mut words = trimmed.split_whitespace();
        let (Some(days), Some(times), None) = (words.next(), words.next(), words.next()) else {
            return Err(fail(
                "write DAYS HH:MM-HH:MM, like Mon-Fri 22:00-05:00".into(),
            ));
        };
        let day = |name: &str| parse_day(name).ok_or_else(|| fail(format!("unknown day {name:?}")));
        let (first, last) = if days.eq_ignore_ascii_case("daily") {
            (0, 6)
        } else {
            match days.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None => {
                    let d = day(days)?;
                    (d, d)
                }
            }
        };
        let Some((from, to)) = times.split_once('-') else {
            return Err(fail(format!("bad hours {times:?} (write HH:MM-HH:MM)")));
        };
        let start = parse_time(from).map_err(&fail)?;
        let end = parse_time(to).map_err(&fail)?;
        if start == DAY_SECS {
            return Err(fail("a window cannot start at 24:00".into()));
        }
        if start == end {
            return Err(fail(
                "a window must not start and end at the same time".into(),
            ));
        }
        Ok(Self {
            first,
            last,
            start,
            end,
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = if (self.first, self.last) == (0, 6) {
            "Daily".to_owned()
        } else if self.first == self.last {
            DAY_SHORT[usize::from(self.first)].to_owned()
        } else {
            format!(
                "{}-{}",
                DAY_SHORT[usize::from(self.first)],
                DAY_SHORT[usize::from(self.last)]
            )
        };
        write!(
            f,
            "{days} {}-{}",
            time_text(self.start),
            time_text(self.end)
        )
    }
}

/// A store's windows, in the order given. Empty: no window set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Windows(pub Vec<Window>);

impl Windows {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Window> {
        self.0.iter()
    }
}

impl FromStr for Windows {
    type Err = WindowError;

    /// Windows separated by `,` or `;`; blank text is no window.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split([',', ';'])
            .filter(|part| !part.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl fmt::Display for Windows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{w}")?;
        }
        Ok(())
    }
}

impl Serialize for Windows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Windows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Window {
        text.parse().unwrap()
    }

    #[test]
    fn parses_ranges_single_days_daily_and_seconds() {
        let win = w("Mon-Fri 22:00-05:00");
        assert!((0..5).all(|d| win.opens_on(d)));
        assert!(!win.opens_on(5) && !win.opens_on(6));
        assert_eq!(win.start_secs(), 22 * 3600);
        assert_eq!(win.end_secs_from_opening_day(), 29 * 3600);
        let wrap = w("fri-MON 01:00-02:00");
        assert!([4, 5, 6, 0].iter().all(|&d| wrap.opens_on(d)));
        assert!(!wrap.opens_on(1));
        assert!(w("Daily 00:00-24:00").opens_on(3));
        assert_eq!(w("Daily 00:00-24:00").end_secs_from_opening_day(), DAY_SECS);
        assert_eq!(w("Saturday 23:00:30-06:00").start_secs(), 23 * 3600 + 30);
    }

    #[test]
    fn text_round_trips_in_canonical_form() {
        let list: Windows = "mon-fri 22:00-05:00, Sat-Sun 23:00-06:00;Wed 12:00:05-13:00"
            .parse()
            .unwrap();
        assert_eq!(
            list.to_string(),
            "Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00, Wed 12:00:05-13:00"
        );
        assert_eq!(list.to_string().parse::<Windows>().unwrap(), list);
        assert_eq!(w("Mon-Sun 01:00-24:00").to_string(), "Daily 01:00-24:00");
        assert!("  ".parse::<Windows>().unwrap().is_empty());
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(serde_json::from_str::<Windows>(&json).unwrap(), list);
    }

    #[test]
    fn bad_windows_say_what_is_wrong_in_one_line() {
        let err = "Mon-Fro 22:00-05:00".parse::<Window>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid window "Mon-Fro 22:00-05:00": unknown day "Fro""#
        );
        for (text, part) in [
            ("Mon 25:00-05:00", "out of range"),
            ("Mon 22:00", "HH:MM-HH:MM"),
            ("Mon 22-05", "bad time"),
            ("Mon 22:00-22:00", "same time"),
            ("Mon 24:00-02:00", "24:00"),
            ("22:00-05:00", "DAYS"),
            ("Mo 22:00-05:00", "unknown day"),
        ] {
            let e = text.parse::<Window>().unwrap_err().to_string();
            assert!(e.contains(part) && !e.contains('\n'), "{text}: {e}");
        }
        let e = "Mon 01:00-02:00, Tue x".parse::<Windows>().unwrap_err();
        assert_eq!(e.text, "Tue x");
    }
}
