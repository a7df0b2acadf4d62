//! Firmware benchmarks: MD5 throughput against `md5sum` on the same file, and the built-in
//! server's throughput to 20 concurrent clients on loopback.
//!
//!     cargo bench --bench firmware
//!     STOREFLEET_BENCH_MIB=64 cargo bench --bench firmware     # a quick run
//!
//! The file (512 MiB by default) is generated in the temp folder and deleted afterwards.
//! Both hashers read it from the page cache (it is read once before timing starts), and
//! their runs are interleaved so that neither gets a warmer machine.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use storefleet::firmware::preflight::http_client;
use storefleet::firmware::{FirmwareServer, HashProgress, Library, ServerConfig, hash_file};

const RUNS: usize = 3;
const CLIENTS: usize = 20;

fn main() {
    let mib: u64 = std::env::var("STOREFLEET_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let dir = tempfile::tempdir().expect("temp folder");
    let path = dir.path().join("bench-firmware.bin");
    generate(&path, mib);
    warm(&path);

    println!(
        "Storefleet firmware benchmark: {mib} MiB file, {} cores",
        cores()
    );
    println!();
    md5_vs_md5sum(&path, mib);
    println!();
    server_throughput(&path, &dir.path().join("history.sqlite"), mib);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Writes `mib` MiB of xorshift output (incompressible, so no layer can cheat).
fn generate(path: &Path, mib: u64) {
    let mut out = BufWriter::new(File::create(path).expect("create bench file"));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        out.write_all(&block).expect("write bench file");
    }
    out.flush().expect("flush bench file");
}

/// Reads the file once so that every timed run starts from the page cache.
fn warm(path: &Path) {
    let mut f = File::open(path).expect("open bench file");
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).expect("read bench file") > 0 {}
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mib_per_s(mib: u64, d: Duration) -> f64 {
    mib as f64 / d.as_secs_f64()
}

/// CPU seconds (user, system) of this process and of its waited-for children, from
/// /proc/self/stat (Linux, where USER_HZ is 100). `None` elsewhere.
fn cpu_times() -> Option<[f64; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Counting from the state (field 3), utime (field 14) is at index 11.
    let secs = |i: usize| fields.get(i)?.parse::<f64>().ok().map(|t| t / 100.0);
    Some([secs(11)?, secs(12)?, secs(13)?, secs(14)?])
}

fn md5_vs_md5sum(path: &Path, mib: u64) {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut sums = (String::new(), String::new());
    // (user, system) CPU seconds over all runs.
    let (mut our_cpu, mut their_cpu) = ((0.0, 0.0), (0.0, 0.0));
    for _ in 0..RUNS {
        let before = cpu_times();
        let t = Instant::now();
        let digest = hash_file(path, &mut |_: HashProgress| {}).expect("hash");
        ours.push(t.elapsed());
        sums.0 = digest.md5_hex();
        let middle = cpu_times();

        let t = Instant::now();
        let out = Command::new("md5sum")
            .arg(path)
            .output()
            .expect("run md5sum");
        theirs.push(t.elapsed());
        assert!(out.status.success(), "md5sum failed");
        sums.1 = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        if let (Some(b), Some(m), Some(a)) = (before, middle, cpu_times()) {
            our_cpu.0 += m[0] - b[0];
            our_cpu.1 += m[1] - b[1];
            their_cpu.0 += a[2] - m[2];
            their_cpu.1 += a[3] - m[3];
        }
    }
    assert_eq!(sums.0, sums.1, "storefleet and md5sum disagree");
    let (o, m) = (median(ours.clone()), median(theirs.clone()));
    println!("MD5 of the file (median of {RUNS} interleaved runs; page cache warm)");
    println!(
        "| hasher            | median s | MiB/s  | runs (s)               | user s/run | sys s/run |"
    );
    println!(
        "|-------------------|----------|--------|------------------------|------------|-----------|"
    );
    for (name, d, all, cpu) in [
        ("storefleet (md-5)", o, &ours, our_cpu),
        ("md5sum", m, &theirs, their_cpu),
    ] {
        let runs: Vec<String> = all
            .iter()
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .collect();
        println!(
            "| {name:<17} | {:>8.3} | {:>6.0} | {:<22} | {:>10.2} | {:>9.2} |",
            d.as_secs_f64(),
            mib_per_s(mib, d),
            runs.join(" "),
            cpu.0 / RUNS as f64,
            cpu.1 / RUNS as f64,
        );
    }
    let ratio = m.as_secs_f64() / o.as_secs_f64();
    println!(
        "speed ratio storefleet / md5sum: {ratio:.3}x ({})",
        if ratio >= 1.0 {
            "target met: at least as fast"
        } else {
            "TARGET MISSED: slower than md5sum"
        }
    );
}

fn server_throughput(path: &Path, db: &Path, mib: u64) {
    let lib = Library::open(db).expect("history");
    let id = lib
        .add(path, "bench", None, &mut |_: HashProgress| {})
        .expect("register")
        .id;
    let deployable = lib.ensure_deployable(id).expect("deployable");
    let expected = deployable.artifact().size;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            advertise: None,
        };
        let server = FirmwareServer::start(config, Arc::new(|_| {}))
            .await
            .expect("server");
        let url = server.publish(&deployable);
        let client = http_client().expect("client");
        let started = Instant::now();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let t = Instant::now();
                    let mut resp = client.get(&url).send().await.expect("GET");
                    let mut n = 0u64;
                    while let Some(chunk) = resp.chunk().await.expect("body") {
                        n += chunk.len() as u64;
                    }
                    (n, t.elapsed())
                })
            })
            .collect();
        let mut per_client = Vec::new();
        for t in tasks {
            let (n, d) = t.await.expect("client task");
            assert_eq!(n, expected, "a client got the wrong number of bytes");
            per_client.push(d);
        }
        let wall = started.elapsed();
        let total_mib = mib * CLIENTS as u64;
        let slowest = per_client.iter().max().copied().unwrap_or_default();
        let fastest = per_client.iter().min().copied().unwrap_or_default();
        println!("Built-in server, {CLIENTS} concurrent clients on loopback, whole file each");
        println!("| measure                         | value        |");
        println!("|---------------------------------|--------------|");
        println!("| bytes served                    | {total_mib:>8} MiB |");
        println!(
            "| wall time                       | {:>10.3} s |",
            wall.as_secs_f64()
        );
        println!(
            "| total throughput                | {:>6.0} MiB/s |",
            mib_per_s(total_mib, wall)
        );
        println!(
            "| per client (mean of total / 20) | {:>6.0} MiB/s |",
            mib_per_s(total_mib, wall) / CLIENTS as f64
        );
        println!(
            "| per client, fastest             | {:>6.0} MiB/s |",
            mib_per_s(mib, fastest)
        );
        println!(
            "| per client, slowest             | {:>6.0} MiB/s |",
            mib_per_s(mib, slowest)
        );
        server.shutdown().await;
    });
}
