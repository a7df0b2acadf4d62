//! `deploy` serving its own firmware watches the file: rewritten while the deployment runs, it
//! is marked stale in the history at once (so retries and later deployments are refused), the
//! operator is warned on stderr, and the server stops serving it.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use storefleet::history::History;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_file_rewritten_during_a_deployment_is_marked_stale_at_once() {
    let mosquitto = Mosquitto::start();
    let broker = mosquitto.url();
    let ws = Workspace::new();
    let fw = ws.firmware("fw.bin", 4_000, 9);
    // Nobody answers for s1/c1: the deployment waits for its ack while the file changes.
    let mut running = ws.spawn(
        Some(&broker),
        &[
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "4.0.0",
            "--target",
            "s1/c1",
            "--serve",
            "127.0.0.1:0",
            "--ack-timeout",
            "60s",
            "--wait",
            "--json",
        ],
    );
    let _id = running.deployment_id().await;
    std::fs::write(&fw.path, b"a different build").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !running.stderr().contains("changed after it was hashed") {
        assert!(
            Instant::now() < deadline,
            "no warning within 10 s: {}",
            running.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let artifacts = History::open(&ws.db).unwrap().artifacts().unwrap();
    assert_eq!(artifacts.len(), 1);
    assert!(
        artifacts[0].stale_since.is_some(),
        "marked stale in the history: {:?}",
        artifacts[0]
    );
    running.interrupt();
    let out = running.wait(Duration::from_secs(20)).await;
    assert_ne!(out.code, Some(0), "{}", out.describe());
}
