//! The Storefleet side of the round trip: the real CLI, `storefleet deploy --wait`, in its
//! own process (built by cargo for this bench, with the bench profile), timed from spawn
//! to exit, with its peak resident memory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct CliRun {
    pub elapsed: Duration,
    /// Peak RSS (VmHWM) in KiB, read while the process runs.
    pub peak_rss_kib: u64,
    /// CPU time (user + system), read while the process runs: less disturbed by a busy
    /// machine than the wall time.
    pub cpu: Duration,
}

/// Deploys `firmware` to every target of `csv` through `broker`, into a fresh history `db`,
/// serving the file itself; panics unless every target completed (exit 0).
pub fn deploy_wait(port: u16, db: &Path, firmware: &Path, csv: &Path) -> CliRun {
    let stderr_path = db.with_extension("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
    let started = Instant::now();
    // STOREFLEET_BENCH_WRAP runs the CLI under a profiler, e.g.
    // "valgrind --tool=massif --massif-out-file=/tmp/massif.out".
    let wrap = std::env::var("STOREFLEET_BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(env!("CARGO_BIN_EXE_storefleet"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_storefleet")),
    };
    let mut child = command
        .env("STOREFLEET_BROKER", format!("mqtt://127.0.0.1:{port}"))
        .env("STOREFLEET_DB", db)
        .env_remove("STOREFLEET_LOG")
        .args(["deploy", "--firmware"])
        .arg(firmware)
        .args(["--version", "9.0.0", "--targets-csv"])
        .arg(csv)
        .args([
            "--serve",
            "127.0.0.1:0",
            "--wait",
            "--ack-timeout",
            "1h",
            "--timeout",
            "1h",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("run storefleet");
    let status_file = format!("/proc/{}/status", child.id());
    let stat_file = format!("/proc/{}/stat", child.id());
    let mut peak = 0;
    let mut cpu = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for storefleet") {
            break status;
        }
        // VmHWM is the process's own high-water mark: a late read still sees the peak.
        if let Some(kib) = vm_hwm(&status_file) {
            peak = peak.max(kib);
        }
        if let Some(t) = cpu_time(&stat_file) {
            cpu = cpu.max(t);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    assert!(
        status.success(),
        "storefleet deploy --wait ended with {status}: {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    CliRun {
        elapsed,
        peak_rss_kib: peak,
        cpu,
    }
}

fn vm_hwm(status_file: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_file).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of /proc/PID/stat, in clock ticks of 1/100 s (Linux's USER_HZ).
fn cpu_time(stat_file: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(stat_file).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
