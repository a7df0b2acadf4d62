//! `deploy`'s time options: maintenance windows, not-before and not-after.

use storefleet::durations::parse_duration;
use storefleet::engine::{Millis, Unwindowed};
use storefleet::service::new_deployment::ScheduleRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnwindowedArg {
    /// Refuse the deployment while a target's store has no window.
    Refuse,
    /// Send to such stores at once.
    Send,
}

/// An instant: RFC 3339 (`2026-12-02T22:00:00+01:00`) or `+DUR` from now (`+2h`).
pub fn parse_instant(text: &str) -> Result<Millis, String> {
    if let Some(span) = text.strip_prefix('+') {
        let span = parse_duration(span).map_err(|e| e.to_string())?;
        return Ok(storefleet::service::now_millis().after(span));
    }
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Millis::from_datetime(&t))
        .map_err(|e| {
            format!("{text:?}: write RFC 3339 like 2026-12-02T22:00:00+01:00, or +DUR ({e})")
        })
}

#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleArgs {
    /// Send a target only inside its store's maintenance window (storefleet fleet
    /// set-window); targets already sent go on when a window closes.
    #[arg(long)]
    in_windows: bool,
    /// With --in-windows: a store with no window set refuses the deployment, or is sent to
    /// at once.
    #[arg(long, value_enum, default_value = "refuse", requires = "in_windows")]
    no_window: UnwindowedArg,
    /// Send nothing before this time (RFC 3339, or +DUR from now).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    not_before: Option<Millis>,
    /// Targets not sent by this time end as skipped (RFC 3339, or +DUR from now).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    not_after: Option<Millis>,
}

impl ScheduleArgs {
    pub fn request(&self) -> ScheduleRequest {
        ScheduleRequest {
            in_windows: self.in_windows,
            unwindowed: match self.no_window {
                UnwindowedArg::Refuse => Unwindowed::Refuse,
                UnwindowedArg::Send => Unwindowed::SendAtOnce,
            },
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_or_relative() {
        assert_eq!(
            parse_instant("2024-01-15T15:30:25+07:00"),
            Ok(Millis(1_705_307_425_000))
        );
        assert!(parse_instant("+2h").is_ok());
        assert!(parse_instant("tomorrow").is_err());
    }
}
