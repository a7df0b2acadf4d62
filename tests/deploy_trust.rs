//! A history to trust with a real fleet, against real mosquitto brokers and the CLI binary:
//! a deployment belongs to the broker it was made for (a second broker never sees it), the
//! writer waits out a history locked by another process without losing or acknowledging
//! anything, oversized messages are kept as excerpts, and a flood of messages beside a
//! deployment leaves the process's memory flat.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use storefleet::sim::IdStyle;

const LIMIT: Duration = Duration::from_secs(120);

fn deploy_args<'a>(fw: &'a FirmwareFile, csv: &'a str, timeout: &'a str) -> Vec<&'a str> {
    vec![
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "7.0.0",
        "--targets-csv",
        csv,
        "--serve",
        "127.0.0.1:0",
        "--wait",
        "--json",
        "--ack-timeout",
        timeout,
        "--timeout",
        timeout,
    ]
}

/// A deployment made while its broker is down is never sent to another broker, however long
/// a process connected there runs on the same history; once its own broker is back, it goes
/// out there and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_goes_only_to_the_broker_it_was_made_for() {
    let mut home = Mosquitto::start();
    let other = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 61);
    let fw = ws.firmware("fw.bin", 12_000, 61);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    // The same controllers answer on both brokers: a command sent to the wrong one would
    // be acted on there.
    let _home_fleet = start_fleet(&home.url(), &fleet_list, sim_config((50, 100), 0.0, 61)).await;
    let _other_fleet = start_fleet(&other.url(), &fleet_list, sim_config((50, 100), 0.0, 62)).await;
    let other_spy = Spy::start(other.port()).await;

    home.stop();
    let args = deploy_args(&fw, csv.to_str().unwrap(), "30s");
    let mut deploy = ws.spawn(Some(&home.url()), &args);
    let id = deploy.deployment_id().await;
    deploy.kill();

    // A process on the other broker, same history: it follows, it never drives.
    let mut watch = ws.spawn(Some(&other.url()), &["watch", "--json"]);
    watch
        .wait_for_lines("watch connects", WAIT, |lines| {
            lines.iter().any(|l| l["event"] == "connection")
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        other_spy.count("update_firmware"),
        0,
        "sent to the wrong broker"
    );
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["queued"], 6, "{}", status["counts"]);
    assert_eq!(status["broker"], home.url(), "{status}");
    // A resume from there does not send it there either: it is applied to the history
    // alone, and its commands wait for their broker.
    let resumed = ws.run(Some(&other.url()), &["resume", &id], LIMIT).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.describe());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        other_spy.count("update_firmware"),
        0,
        "sent to the wrong broker"
    );
    watch.interrupt();
    let _ = watch.wait(LIMIT).await;

    // Its own broker is back (and the simulated fleet with it: probe until one answers); a
    // process connected there drives the deployment to the end.
    home.start_again();
    let home_spy = Spy::start(home.port()).await;
    wait_for_fleet(home.port(), &home_spy, &fleet_list[0]).await;
    let out = ws
        .run(Some(&home.url()), &["resume", &id, "--wait"], LIMIT)
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 6, "{}", status["counts"]);
    assert_eq!(home_spy.count("update_firmware"), 6);
    assert_eq!(other_spy.count("update_firmware"), 0);
}

/// The history is locked by another connection for 20 s in the middle of a deployment: the
/// writer keeps its batch and retries, acknowledges nothing meanwhile, and once the lock goes
/// every ack and completion is recorded and `deploy --wait` exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_locked_for_20_s_loses_nothing() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(3, 4, IdStyle::Readable, 71);
    let fw = ws.firmware("fw.bin", 10_000, 71);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((2_000, 6_000), 0.0, 71),
    )
    .await;
    let args = deploy_args(&fw, csv.to_str().unwrap(), "120s");
    let mut deploy = ws.spawn(Some(&broker.url()), &args);
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("the first acks", WAIT, |lines| {
            lines.iter().any(|l| l["status"] == "acknowledged")
        })
        .await;

    // Another process takes the write lock and holds it.
    let db = ws.db.clone();
    let held = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(20));
        conn.execute_batch("COMMIT").unwrap();
        started.elapsed()
    });
    let held_for = held.await.unwrap();
    assert!(held_for >= Duration::from_secs(20));
    // Meanwhile the controllers finished; the broker kept what was not acknowledged.
    let out = deploy.wait(LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 12, "{}", status["counts"]);
    assert_replies_recorded_once(&spy.messages(), &ws.history(), &id);
}

/// 60 messages of 2 MB beside a deployment: each is kept as an excerpt with its size and
/// MD5, the history stays small, and the deployment finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_kept_as_excerpts_and_the_history_stays_small() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 81);
    let fw = ws.firmware("fw.bin", 10_000, 81);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((1_000, 2_000), 0.0, 81),
    )
    .await;
    let args = deploy_args(&fw, csv.to_str().unwrap(), "60s");
    let mut deploy = ws.spawn(Some(&broker.url()), &args);
    let _id = deploy.deployment_id().await;

    let flood = Publisher::connect(broker.port()).await;
    for i in 0..60u32 {
        let c = &fleet_list[i as usize % fleet_list.len()];
        let topic = format!("/stores/{}/controllers/{}/ack", c.store_id, c.controller_id);
        let mut body = vec![b' '; 2 * 1024 * 1024];
        body[..4].copy_from_slice(&i.to_le_bytes());
        flood.publish(&topic, body).await;
    }
    let out = deploy.wait(LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());

    let history = ws.history();
    let big: Vec<_> = history
        .inbound()
        .into_iter()
        .filter(|m| m.outcome == "too_large")
        .collect();
    assert_eq!(big.len(), 60);
    for m in &big {
        assert_eq!(m.body_size, Some(2 * 1024 * 1024));
        assert!(m.body.len() <= 4096, "{} bytes kept", m.body.len());
        assert_eq!(m.body_md5.as_ref().map(String::len), Some(32));
    }
    drop(history);
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut p = ws.db.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum();
    assert!(size < 20 * 1024 * 1024, "history and WAL are {size} bytes");
}

/// The peak resident memory of a process (kB), from /proc.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// 200,000 messages (valid-looking replies for unknown deployments, garbage, QoS 0 and QoS 1)
/// beside a deployment: the process's peak RSS stays flat, every one is recorded, and the
/// deployment finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_200000_messages_leaves_memory_flat() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 5, IdStyle::Readable, 91);
    let fw = ws.firmware("fw.bin", 10_000, 91);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    // Flashing outlasts the flood: the deployment runs while every message arrives. The
    // flood alone takes about 25 s on a quiet machine and more on a loaded one: a margin.
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((45_000, 50_000), 0.0, 91),
    )
    .await;
    let args = deploy_args(&fw, csv.to_str().unwrap(), "120s");
    let mut deploy = ws.spawn(Some(&broker.url()), &args);
    let _id = deploy.deployment_id().await;
    let pid = deploy.pid();
    let baseline = peak_rss_kb(pid).expect("the CLI's /proc status");

    const FLOOD: usize = 200_000;
    let flood = tokio::spawn(async move {
        let mut options = MqttOptions::new("flood", "127.0.0.1", broker.port());
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let poll = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
        for i in 0..FLOOD {
            let topic = format!("/stores/flood-{}/controllers/c-{}/ack", i % 50, i % 997);
            let qos = if i % 2 == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            };
            let body = if i % 3 == 0 {
                format!("garbage {i} {}", "x".repeat(i % 200)).into_bytes()
            } else {
                format!(
                    "{{\"version\":\"1.0.0\",\"event_type\":\"update_firmware_ack\",\"timestamp\":\"2024-01-15T15:30:25+07:00\",\"correlation_id\":\"c{i}\",\"controller_id\":\"c-{}\",\"store_id\":\"flood-{}\",\"payload\":{{\"deployment_id\":\"d{i}\"}}}}",
                    i % 997,
                    i % 50
                )
                .into_bytes()
            };
            client.publish(topic, qos, false, body).await.unwrap();
        }
        // Let the last ones leave before the client goes.
        tokio::time::sleep(Duration::from_secs(2)).await;
        poll.abort();
        (broker, Instant::now())
    });

    let mut peak = baseline;
    let deadline = Instant::now() + LIMIT;
    while !deploy.has_exited() && Instant::now() < deadline {
        if let Some(kb) = peak_rss_kb(pid) {
            peak = peak.max(kb);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exited = Instant::now();
    let (_broker, flooded) = flood.await.unwrap();
    assert!(flooded < exited, "the flood ended after the deployment");
    let out = deploy.wait(LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    eprintln!("peak RSS {peak} kB (at start {baseline} kB)");
    assert!(peak < 120 * 1024, "peak RSS {peak} kB under a flood");
    let recorded = ws
        .history()
        .inbound()
        .iter()
        .filter(|m| m.topic.contains("/flood-"))
        .count();
    eprintln!("{recorded} of {FLOOD} flood messages recorded");
    // QoS 0 messages may be dropped by the broker while the process holds it back (that
    // is what QoS 0 allows); every QoS 1 one is kept for it and recorded.
    assert!(recorded >= FLOOD / 2, "{recorded} of {FLOOD} recorded");
}

/// Another installation deploys to our controllers on the same broker: a Storefleet process
/// listening there makes it a deployment of its own in the history (`origin: observed`),
/// with the firmware, checksum, URL and targets of the commands, each target followed from
/// the controllers' replies; it is read only here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_operators_deployment_is_a_deployment() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(1, 3, IdStyle::Readable, 95);
    let bytes = firmware_bytes(9_000, 95);
    let md5 = md5_hex(&bytes);
    let server = GatedServer::start("other.bin", bytes.clone(), usize::MAX).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((100, 200), 0.0, 95)).await;
    let mut watch = ws.spawn(Some(&broker.url()), &["watch", "--json"]);
    watch
        .wait_for_lines("watch connects", WAIT, |lines| {
            lines.iter().any(|l| {
                l["event"] == "connection"
                    && l["state"].as_str().unwrap_or("").starts_with("Connected")
            })
        })
        .await;

    let other = Publisher::connect(broker.port()).await;
    let deployment_id = uuid::Uuid::new_v4().to_string();
    for c in &fleet_list {
        let body = serde_json::json!({
            "version": "1.0.0",
            "event_type": "update_firmware",
            "timestamp": "2024-01-15T15:30:25+07:00",
            "correlation_id": uuid::Uuid::new_v4().to_string(),
            "controller_id": c.controller_id.as_str(),
            "store_id": c.store_id.as_str(),
            "payload": {
                "deployment_id": deployment_id,
                "firmware_version": "8.1.0",
                "file_url": server.url,
                "file_size": bytes.len(),
                "checksum": md5,
            }
        });
        let topic = format!(
            "/stores/{}/controllers/{}/action",
            c.store_id, c.controller_id
        );
        other.publish(&topic, body.to_string()).await;
    }
    let deadline = Instant::now() + WAIT;
    let status = loop {
        let out = ws
            .run(None, &["status", &deployment_id, "--json"], WAIT)
            .await;
        if out.code == Some(0) && out.json()["counts"]["completed"] == 3 {
            break out.json();
        }
        assert!(
            Instant::now() < deadline,
            "never completed: {}",
            out.describe()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["origin"], "observed");
    assert_eq!(status["firmware_version"], "8.1.0");
    assert_eq!(status["checksum"], md5.as_str());
    assert_eq!(status["file_url"], server.url.as_str());
    assert_eq!(status["file_size"], bytes.len());
    assert_eq!(status["targets"].as_array().unwrap().len(), 3);
    let listed = ws.run(None, &["deployments", "--json"], WAIT).await;
    let row = listed
        .json_lines()
        .into_iter()
        .find(|l| l["deployment_id"] == deployment_id.as_str())
        .expect("listed");
    assert_eq!(row["origin"], "observed");
    assert_eq!(row["finished"], true);
    // The transitions were recorded as for ours: sent, acknowledged, completed.
    let path: Vec<String> = ws
        .history()
        .transitions(&deployment_id)
        .iter()
        .filter(|t| t.controller_id == fleet_list[0].controller_id.as_str())
        .map(|t| t.to.clone())
        .collect();
    assert_eq!(path, ["sent", "acknowledged", "completed"]);
    // Read only: nobody here may cancel or retry it.
    let refused = ws
        .run(Some(&broker.url()), &["retry", &deployment_id], WAIT)
        .await;
    assert_eq!(refused.code, Some(2), "{}", refused.describe());
    assert!(
        refused.stderr_lines()[0].contains("read only"),
        "{}",
        refused.describe()
    );
    watch.interrupt();
    let _ = watch.wait(LIMIT).await;
}
