//! Maintenance windows: when a store may be disturbed.
//!
//! Each store has an IANA time zone and windows such as `Mon-Fri 22:00-05:00, Sat-Sun
//! 23:00-06:00`, in the store's wall-clock time. Everything here is a pure function of
//! (zone, windows, now): no clock, no file reads (the zone database is bundled into the
//! binary by `jiff`), so the engine can ask it while choosing targets.
//!
//! Rules:
//! - a window opens on each of its days at its start and closes at its end; an end before
//!   the start falls on the next day (it crosses midnight); `24:00` ends at midnight;
//! - times are wall-clock: across a DST change a window keeps its hours (22:00 is 22:00 in
//!   winter and summer). A start or end inside a skipped hour falls where the clock would
//!   show it had it not jumped (02:30 on a spring-forward night is 03:30); inside a
//!   repeated hour it is the first of the two;
//! - windows that overlap or touch make one opening.

mod plan;
mod schedule;
mod window;
mod zone;

pub use plan::{StoreStart, when_text};
pub use schedule::{WindowState, first_opening, window_state};
pub use window::{Window, WindowError, Windows};
pub use zone::{StoreZone, ZoneError};
