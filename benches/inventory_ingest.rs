//! What the inventory costs the ingest path: `History::write_batch` of reply traffic with and
//! without the discovery upserts (`Batch::seen`), and the new deployment's target rows with
//! and without the `targets_by_controller` index the inventory's queries use.
//!
//!     cargo bench --bench inventory_ingest
//!     STOREFLEET_BENCH_CONTROLLERS=2000 cargo bench --bench inventory_ingest   # a quick run
//!
//! Each variant runs on a fresh history file; variants are interleaved over several rounds
//! and the median is printed, so neither gets a warmer machine.

use std::time::{Duration, Instant};

use storefleet::engine::{
    DeploymentSpec, Engine, Firmware, Millis, Target, TargetKey, TargetStatus, Timeouts, Transition,
};
use storefleet::history::{
    Batch, ControllerSeen, History, MessageDirection, MessageRecord, TargetWrite,
};
use storefleet::protocol::{Id, Md5Hex};

const ROUNDS: usize = 5;
/// Rows per transaction, as the service's writer commits them (FLUSH_AT in service/owner.rs).
const BATCH: usize = 1_000;

fn main() {
    let n: usize = std::env::var("STOREFLEET_BENCH_CONTROLLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (deployment, targets) = deployment(n);
    println!(
        "Storefleet inventory ingest benchmark: {n} controllers, {BATCH} replies a transaction"
    );

    let mut create = [Vec::new(), Vec::new()];
    let mut replies = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, with_index) in [false, true].into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("h.sqlite");
            let mut history = History::open(&path).unwrap();
            if !with_index {
                rusqlite::Connection::open(&path)
                    .unwrap()
                    .execute_batch("DROP INDEX targets_by_controller")
                    .unwrap();
            }
            let started = Instant::now();
            history
                .write_batch(&Batch {
                    new_deployments: vec![deployment.clone()],
                    ..Batch::default()
                })
                .unwrap();
            create[i].push(started.elapsed());
        }
        // Reply traffic: each controller acks, then completes (two messages, two target
        // writes, two transitions). Without `seen`; with `seen` on a fresh inventory (each
        // controller inserted once, then updated); with `seen` on a known inventory (updates).
        for (i, variant) in ["none", "fresh", "known"].into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
            history
                .write_batch(&Batch {
                    new_deployments: vec![deployment.clone()],
                    ..Batch::default()
                })
                .unwrap();
            if variant == "known" {
                history.write_batch(&seen_batch(&targets, 1)).unwrap();
            }
            let batches = reply_batches(&deployment.deployment_id, &targets, variant != "none");
            let started = Instant::now();
            for b in &batches {
                history.write_batch(b).unwrap();
            }
            replies[i].push(started.elapsed());
        }
    }
    let rate = |d: Duration, rows: usize| rows as f64 / d.as_secs_f64();
    let c = create.map(median);
    println!();
    println!("new deployment of {n} targets (one transaction):");
    println!("  without targets_by_controller  {:>8.1} ms", ms(c[0]));
    println!(
        "  with targets_by_controller     {:>8.1} ms  ({:.2}x)",
        ms(c[1]),
        ratio(c[1], c[0])
    );
    let r = replies.map(median);
    let messages = 2 * n;
    println!();
    println!(
        "{messages} replies (ack + completed per controller), {} transactions:",
        messages / BATCH
    );
    println!(
        "  no inventory upserts           {:>8.1} ms  {:>9.0} replies/s",
        ms(r[0]),
        rate(r[0], messages)
    );
    println!(
        "  seen, controllers new          {:>8.1} ms  {:>9.0} replies/s  ({:.2}x)",
        ms(r[1]),
        rate(r[1], messages),
        ratio(r[1], r[0])
    );
    println!(
        "  seen, controllers known        {:>8.1} ms  {:>9.0} replies/s  ({:.2}x)",
        ms(r[2]),
        rate(r[2], messages),
        ratio(r[2], r[0])
    );
    list_query(n);
    list_large_stores(n);
}

/// `History::controllers()` over `n` controllers heard on the broker (no store names) in
/// stores of 1,000: each shows the name of its store's first named controller, a lookup
/// that once walked the whole store per controller (migration 12).
fn list_large_stores(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
    let seen = Batch {
        seen: (0..n)
            .map(|i| ControllerSeen {
                store_id: format!("store-{:04}", i / 1_000),
                controller_id: format!("c{i:06}"),
                at: Some(Millis(1)),
            })
            .collect(),
        ..Batch::default()
    };
    history.write_batch(&seen).unwrap();
    let took = time_list(&history, n, |_| true);
    println!(
        "fleet list of {n} controllers heard, unnamed, stores of 1,000: {:.1} ms",
        ms(took)
    );
}

/// The median time of `History::controllers()` over `ROUNDS` runs, each checked to list all
/// `n` controllers, every one passing `check`.
fn time_list(
    history: &History,
    n: usize,
    check: impl Fn(&storefleet::fleet::Controller) -> bool,
) -> Duration {
    let mut runs = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let listed = history.controllers().unwrap();
        runs.push(started.elapsed());
        assert_eq!(listed.len(), n);
        assert!(listed.iter().all(&check));
    }
    median(runs)
}

/// `History::controllers()` over `n` controllers that each took part in three deployments
/// (firmware and last result are read from `targets` through `targets_by_controller`).
fn list_query(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
    let (_, targets) = deployment(n);
    let keys: Vec<TargetKey> = targets
        .iter()
        .map(|t| TargetKey::new(t.store_id.clone(), t.controller_id.clone()))
        .collect();
    history.write_batch(&seen_batch(&targets, 1)).unwrap();
    for _ in 0..3 {
        let (d, ts) = deployment_of(keys.clone());
        history
            .write_batch(&Batch {
                new_deployments: vec![d.clone()],
                ..Batch::default()
            })
            .unwrap();
        for b in reply_batches(&d.deployment_id, &ts, false) {
            history.write_batch(&b).unwrap();
        }
    }
    let took = time_list(&history, n, |c| c.firmware_version.is_some());
    println!();
    println!(
        "fleet list of {n} controllers, each in 3 deployments: {:.1} ms",
        ms(took)
    );
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn deployment(n: usize) -> (storefleet::engine::DeploymentSnapshot, Vec<Target>) {
    deployment_of(
        (0..n)
            .map(|i| {
                TargetKey::new(
                    Id::new(format!("store-{:04}", i / 10)).unwrap(),
                    Id::new_v4(),
                )
            })
            .collect(),
    )
}

fn deployment_of(keys: Vec<TargetKey>) -> (storefleet::engine::DeploymentSnapshot, Vec<Target>) {
    let spec = DeploymentSpec {
        deployment_id: Id::new_v4(),
        firmware: Firmware {
            firmware_version: "2.0.0".into(),
            file_url: "http://127.0.0.1:7380/f/token/fw.bin".into(),
            file_size: 1_000_000,
            checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").unwrap(),
        },
        targets: keys,
        timeouts: Timeouts {
            ack: Duration::from_secs(30),
            completion: Duration::from_secs(600),
        },
        policy: Default::default(),
    };
    let id = spec.deployment_id.clone();
    let mut engine = Engine::new();
    engine.create(spec, Millis(1_700_000_000_000)).unwrap();
    let d = engine.deployment(&id).unwrap();
    (d.state().clone(), d.targets().to_vec())
}

fn seen_batch(targets: &[Target], at: u64) -> Batch {
    Batch {
        seen: targets
            .iter()
            .map(|t| ControllerSeen {
                store_id: t.store_id.to_string(),
                controller_id: t.controller_id.to_string(),
                at: Some(Millis(at)),
            })
            .collect(),
        ..Batch::default()
    }
}

/// Acks for every controller, then completions, `BATCH` replies a batch, as the service
/// stages them: the message, the target's record, its transition, and (if `seen`) the
/// controller heard.
fn reply_batches(deployment_id: &Id, targets: &[Target], seen: bool) -> Vec<Batch> {
    let mut all = Vec::new();
    for (event, from, to) in [
        (
            "update_firmware_ack",
            TargetStatus::Sent,
            TargetStatus::Acknowledged,
        ),
        (
            "update_firmware_completed",
            TargetStatus::Acknowledged,
            TargetStatus::Completed,
        ),
    ] {
        for (position, t) in targets.iter().enumerate() {
            all.push((event, from, to, position, t));
        }
    }
    all.chunks(BATCH)
        .enumerate()
        .map(|(chunk, replies)| {
            let mut batch = Batch::default();
            for (k, &(event, from, to, position, t)) in replies.iter().enumerate() {
                let at = Millis(1_700_000_001_000 + (chunk * BATCH + k) as u64);
                let topic = format!(
                    "/stores/{}/controllers/{}/{}",
                    t.store_id,
                    t.controller_id,
                    if event.ends_with("_ack") { "ack" } else { "action" }
                );
                let body = format!(
                    r#"{{"version":"1.0.0","event_type":"{event}","timestamp":"2024-01-15T15:30:25+07:00","correlation_id":"{}","controller_id":"{}","store_id":"{}","payload":{{"deployment_id":"{deployment_id}"}}}}"#,
                    Id::new_v4(),
                    t.controller_id,
                    t.store_id
                );
                batch.messages.push(MessageRecord {
                    direction: MessageDirection::In,
                    topic,
                    body: body.into_bytes().into(),
                    at,
                    event_type: Some(event.to_owned()),
                    deployment_id: Some(deployment_id.to_string()),
                    store_id: Some(t.store_id.to_string()),
                    controller_id: Some(t.controller_id.to_string()),
                    correlation_id: None,
                    outcome: "applied".into(),
                    reason: None,
                    oversize: None,
                });
                let mut target = t.clone();
                target.current.status = to;
                target.current.updated_at = at;
                batch
                    .targets
                    .push(TargetWrite::of(deployment_id, position, &target));
                batch.transitions.push(Transition {
                    deployment_id: deployment_id.clone(),
                    store_id: t.store_id.clone(),
                    controller_id: t.controller_id.clone(),
                    attempt: 1,
                    wave: 0,
                    from,
                    to,
                    at,
                    errors: Vec::new(),
                });
                if seen {
                    batch.seen.push(ControllerSeen {
                        store_id: t.store_id.to_string(),
                        controller_id: t.controller_id.to_string(),
                        at: Some(at),
                    });
                }
            }
            batch
        })
        .collect()
}
