//! The whole machine's busy CPU time, all cores together (`/proc/stat`). A round trip runs
//! the broker, the fleet's responder and the client at once on two cores; the client's own
//! CPU alone cannot say whether the machine, not the client, was the limit.

/// Busy core-seconds since boot: every state of the `cpu` line but idle and iowait, in
/// clock ticks of 1/100 s (Linux's USER_HZ, as `cli.rs` reads the CLI's own CPU).
pub fn busy_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(states) = text.lines().find_map(|l| l.strip_prefix("cpu ")) else {
        return f64::NAN;
    };
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let busy: u64 = states
        .split_whitespace()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .filter_map(|(_, t)| t.parse::<u64>().ok())
        .sum();
    busy as f64 / 100.0
}
