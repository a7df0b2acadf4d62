//! The whole machine's busy CPU time, all cores together (`/proc/stat`). A round trip runs
//! the broker, the fleet's responder and the client at once on two cores; the client's own
//! CPU alone cannot say whether the machine, not the client, was the limit.

/// Busy core-seconds since boot: every state of the first `cpu` line but idle and iowait.
pub fn busy_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return f64::NAN;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    // SAFETY: sysconf reads a constant of the running kernel.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    busy as f64 / hz.max(1) as f64
}
