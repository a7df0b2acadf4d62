//! How simulated controllers behave: fleet-wide rates and per-controller overrides, and
//! the failure reports a real controller would send.

use std::time::Duration;

use crate::protocol::TopicPrefix;

use super::duration::DurationRange;
use super::rng::SimRng;

/// Fleet-wide settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Share of updates that end in `update_firmware_failed` after flashing (0..=1).
    pub fail_rate: f64,
    /// Share of controllers that never answer anything (0..=1), drawn once per controller.
    pub silent_rate: f64,
    /// Share of updates during which the controller reboots mid-flash (0..=1).
    pub reboot_rate: f64,
    /// How long a reboot keeps a controller quiet.
    pub reboot_time: DurationRange,
    /// How long flashing takes, drawn per update.
    pub flash_time: DurationRange,
    /// Every controller's firmware version before its first update.
    pub initial_version: String,
    /// Firmware downloads in flight at once across the fleet.
    pub download_concurrency: usize,
    /// Drives every random draw; same seed and same commands, same behaviour.
    pub seed: u64,
    pub prefix: TopicPrefix,
    /// How long [`super::Fleet::start`] waits for the broker before giving up.
    pub connect_timeout: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            fail_rate: 0.0,
            silent_rate: 0.0,
            reboot_rate: 0.0,
            reboot_time: DurationRange {
                min: Duration::from_secs(5),
                max: Duration::from_secs(20),
            },
            flash_time: DurationRange {
                min: Duration::from_secs(2),
                max: Duration::from_secs(10),
            },
            initial_version: "1.0.0".to_owned(),
            download_concurrency: 64,
            seed: 0,
            prefix: TopicPrefix::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What an update's flashing ends in, for one controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Drawn at the fleet's fail rate.
    #[default]
    Random,
    Complete,
    Fail,
}

/// Per-controller overrides of the fleet-wide rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Behaviour {
    /// Never answers anything (a dead or misconfigured controller).
    pub silent: bool,
    pub outcome: Outcome,
    /// Reboots during every update's flashing and is quiet for this long, then reports.
    /// `None`: reboots at the fleet's reboot rate.
    pub reboot: Option<Duration>,
}

/// What a failed flash reports: one primary cause, sometimes a consequence after it.
pub fn flash_errors(rng: &mut SimRng, current_version: &str) -> Vec<String> {
    let primary = match rng.below(8) {
        0 => format!(
            "flash write failed at block 0x{:03x}: ECC error",
            rng.below(0x400)
        ),
        1 => "post-install self-test failed: watchdog reset".to_owned(),
        2 => "image signature verification failed: signed by an unknown key".to_owned(),
        3 => format!(
            "insufficient space on /firmware: {} KiB free, {} KiB needed",
            100 + rng.below(900),
            1200 + rng.below(4000)
        ),
        4 => "bootloader refused image: hardware revision C not supported".to_owned(),
        5 => format!(
            "peripheral {} did not respond after update",
            rng.pick(&[
                "receipt printer",
                "barcode scanner",
                "scale load cell",
                "PIN pad"
            ])
        ),
        6 => format!(
            "power dip during flash (supply at {:.1} V), image discarded",
            10.0 + rng.unit()
        ),
        _ => format!(
            "filesystem check failed after install: {} corrupt inodes",
            1 + rng.below(12)
        ),
    };
    let mut errors = vec![primary];
    if rng.chance(0.6) {
        errors.push(format!("rolled back to firmware {current_version}"));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_errors_are_never_empty_and_vary() {
        let mut rng = SimRng::new(4);
        let all: Vec<Vec<String>> = (0..200).map(|_| flash_errors(&mut rng, "1.2.3")).collect();
        assert!(all.iter().all(|e| !e.is_empty() && !e[0].is_empty()));
        let distinct: std::collections::HashSet<_> = all.iter().map(|e| &e[0]).collect();
        assert!(distinct.len() > 8);
        assert!(all.iter().any(|e| e.len() == 2 && e[1].contains("1.2.3")));
    }
}
