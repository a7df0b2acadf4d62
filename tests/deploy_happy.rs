//! `storefleet deploy --wait` to 200 simulated controllers in 20 stores that all complete:
//! the CLI contract (JSON Lines, exit 0, `status`, `deployments`, `export`), every message on
//! the wire checked against the spec and DESIGN.md section 1, and the history complete.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use serde_json::Value;
use storefleet::protocol::{TopicPrefix, decode};
use storefleet::sim::IdStyle;

/// The CLI runs in this zone, so the offset check means something on a UTC machine.
const TZ: &str = "ICT-7";
const OFFSET: &str = "+07:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_controllers_complete_and_every_message_follows_the_spec() {
    let started = Instant::now();
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(20, 10, IdStyle::Uuid, 7);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let fw = ws.firmware("fw-2.0.0.bin", 300_000, 3);
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((100, 500), 0.0, 7)).await;

    let mut cmd = ws.command(
        Some(&broker.url()),
        &[
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "2.0.0",
            "--targets-csv",
            csv.to_str().unwrap(),
            "--serve",
            "127.0.0.1:0",
            "--wait",
            "--json",
            "--ack-timeout",
            "5s",
            "--timeout",
            "20s",
        ],
    );
    cmd.env("TZ", TZ);
    let out = Running::spawn(cmd).wait(Duration::from_secs(90)).await;
    eprintln!("deploy to 200 took {:?}", out.elapsed);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr in --json mode: {}",
        out.stderr
    );

    // ---- stdout: JSON Lines, deployment first, summary last, target lines between.
    let lines = out.json_lines();
    let first = &lines[0];
    assert_eq!(first["event"], "deployment", "{first}");
    let id = first["deployment_id"]
        .as_str()
        .expect("deployment_id")
        .to_owned();
    assert_eq!(first["firmware_version"], "2.0.0");
    assert_eq!(first["checksum"], fw.md5.as_str());
    assert_eq!(first["file_size"].as_u64(), Some(fw.size));
    assert_eq!(first["targets"].as_u64(), Some(200));
    let file_url = first["file_url"].as_str().expect("file_url").to_owned();
    assert!(file_url.starts_with("http://127.0.0.1:"), "{file_url}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary", "{summary}");
    let middle = &lines[1..lines.len() - 1];
    let mut streamed: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for line in middle {
        assert_eq!(line["event"], "target", "{line}");
        assert_eq!(line["deployment_id"], id.as_str(), "{line}");
        assert_eq!(line["attempt"], 1, "{line}");
        assert_eq!(line["errors"], serde_json::json!([]), "{line}");
        streamed
            .entry((
                line["store_id"].as_str().unwrap().to_owned(),
                line["controller_id"].as_str().unwrap().to_owned(),
            ))
            .or_default()
            .push((
                line["from"].as_str().unwrap().to_owned(),
                line["status"].as_str().unwrap().to_owned(),
            ));
    }
    assert_eq!(streamed.len(), 200, "a line for every target");

    // ---- the summary line and `status` agree, and everything completed.
    let status = ws.status(&id).await;
    for (k, v) in status.as_object().unwrap() {
        assert_eq!(&summary[k], v, "summary and status differ on {k}");
    }
    check_status_object(&status, &id, &fw, &file_url);
    assert_eq!(status["counts"]["completed"], 200, "{}", status["counts"]);
    let by_key = targets_by_key(&status);
    assert_eq!(by_key.len(), 200);
    for c in &fleet_list {
        let t = &by_key[&key(c)];
        assert_eq!(t["status"], "completed", "{t}");
        assert_eq!(t["errors"], serde_json::json!([]), "{t}");
        assert_eq!(t["attempt"], 1, "{t}");
    }

    // ---- the wire, as the spy saw it.
    spy.wait_until("200 completions on the wire", WAIT, |seen| {
        seen.iter()
            .filter(|m| m.event_type().as_deref() == Some("update_firmware_completed"))
            .count()
            >= 200
    })
    .await;
    let seen = spy.messages();
    let expect = Expect {
        deployment_id: &id,
        firmware_version: "2.0.0",
        checksum: &fw.md5,
        file_size: fw.size,
        file_url: &file_url,
        offset: OFFSET,
    };
    let mut command_of: HashMap<(String, String), String> = HashMap::new();
    let mut correlation_ids = HashSet::new();
    for m in &seen {
        // Every message decodes, on a well-formed topic.
        let decoded = decode(&m.topic, &m.payload, &TopicPrefix::default())
            .unwrap_or_else(|e| panic!("{e}: {} {}", m.topic, String::from_utf8_lossy(&m.payload)));
        assert_eq!(m.deployment_id().as_deref(), Some(id.as_str()));
        if decoded.envelope.event_type().is_command() {
            let correlation_id = check_command(m, &expect);
            assert_eq!(
                m.event_type().as_deref(),
                Some("update_firmware"),
                "no cancel"
            );
            assert!(
                correlation_ids.insert(correlation_id.clone()),
                "correlation id reused: {correlation_id}"
            );
            assert!(
                command_of
                    .insert(m.target().unwrap(), correlation_id)
                    .is_none(),
                "two update_firmware to {:?}",
                m.target()
            );
        }
    }
    assert_eq!(command_of.len(), 200, "one command per target");
    let targets: HashSet<(String, String)> = fleet_list.iter().map(key).collect();
    assert_eq!(command_of.keys().cloned().collect::<HashSet<_>>(), targets);
    let counts = |t: &str| {
        seen.iter()
            .filter(|m| m.event_type().as_deref() == Some(t))
            .count()
    };
    assert_eq!(counts("update_firmware_ack"), 200);
    assert_eq!(counts("update_firmware_completed"), 200);
    assert_eq!(seen.len(), 600, "nothing else on the wire");
    for m in &seen {
        let body = m.json().unwrap();
        // Replies answer the command to their own target.
        assert_eq!(
            body["correlation_id"].as_str(),
            Some(command_of[&m.target().unwrap()].as_str()),
            "{}",
            m.topic
        );
    }

    // Never retained: a subscriber that arrives now gets nothing.
    let late = Spy::start(broker.port()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(late.len(), 0, "retained messages: {:?}", late.messages());

    // ---- the history.
    let history = ws.history();
    let transitions = history.transitions_by_target(&id);
    assert_eq!(transitions.len(), 200);
    for (target, rows) in &transitions {
        assert_eq!(
            path(rows),
            ["queued", "sent", "acknowledged", "completed"],
            "{target:?}"
        );
        // The stream printed exactly what the history recorded.
        let recorded: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.from.clone(), r.to.clone()))
            .collect();
        assert_eq!(streamed[target], recorded, "{target:?}");
    }
    let outbound = history.outbound();
    assert_eq!(outbound.len(), 200);
    let sent_bodies: HashSet<Vec<u8>> = seen
        .iter()
        .filter(|m| m.event_type().as_deref() == Some("update_firmware"))
        .map(|m| m.payload.clone())
        .collect();
    for m in &outbound {
        assert!(
            sent_bodies.contains(&m.body),
            "the history's command is byte for byte what went out"
        );
        assert_eq!(m.event_type.as_deref(), Some("update_firmware"));
    }
    let inbound = history.inbound();
    assert_eq!(
        inbound.len(),
        400,
        "every reply, once; no echo of our own commands"
    );
    for m in &inbound {
        assert_eq!(m.outcome, "applied", "{m:?}");
        assert_eq!(m.reason, None, "{m:?}");
    }
    assert_replies_recorded_once(&seen, &history, &id);
    let outbox = history.outbox(&id);
    assert_eq!(outbox.len(), 200);
    assert!(
        outbox
            .iter()
            .all(|(_, sent, withdrawn)| sent.is_some() && !withdrawn)
    );

    // ---- the controllers really got the firmware.
    for c in &fleet_list {
        assert_eq!(
            fleet
                .firmware_version(&c.store_id, &c.controller_id)
                .unwrap(),
            "2.0.0"
        );
    }
    let stats = fleet.stats();
    assert_eq!(stats.updates, 200, "{stats}");
    assert_eq!(stats.download_failures, 0, "{stats}");

    // ---- `deployments --json` and `export`.
    let list = ws.run(None, &["deployments", "--json"], WAIT).await;
    assert_eq!(list.code, Some(0), "{}", list.describe());
    let rows = list.json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["deployment_id"], id.as_str());
    assert_eq!(rows[0]["finished"], true);
    assert_eq!(rows[0]["targets"], 200);
    assert_eq!(rows[0]["counts"]["completed"], 200);

    let csv_out = ws
        .run(None, &["export", &id, "--format", "csv"], WAIT)
        .await;
    assert_eq!(csv_out.code, Some(0), "{}", csv_out.describe());
    let csv_lines: Vec<&str> = csv_out.stdout.lines().collect();
    assert_eq!(
        csv_lines[0],
        "store_id,controller_id,status,attempt,updated_at,errors"
    );
    assert_eq!(csv_lines.len(), 201);
    assert!(csv_lines[1..].iter().all(|l| l.contains(",completed,1,")));

    let jsonl = ws
        .run(None, &["export", &id, "--format", "jsonl"], WAIT)
        .await;
    assert_eq!(jsonl.code, Some(0), "{}", jsonl.describe());
    let log = jsonl.json_lines();
    assert_eq!(log.len(), 600, "200 out, 400 in");
    assert_eq!(log.iter().filter(|l| l["direction"] == "out").count(), 200);

    drop(fleet);
    eprintln!("test took {:.1}s", secs(started));
}

/// The `status --json` object of DESIGN.md section 6.
fn check_status_object(status: &Value, id: &str, fw: &FirmwareFile, file_url: &str) {
    assert_eq!(status["deployment_id"], id);
    assert_eq!(status["firmware_version"], "2.0.0");
    assert_eq!(status["checksum"], fw.md5.as_str());
    assert_eq!(status["file_size"].as_u64(), Some(fw.size));
    assert_eq!(status["file_url"], file_url);
    let created = status["created_at"].as_str().expect("created_at");
    chrono::DateTime::parse_from_rfc3339(created).expect("created_at is RFC 3339");
    let counts = status["counts"].as_object().expect("counts object");
    for name in [
        "queued",
        "sent",
        "acknowledged",
        "completed",
        "failed",
        "timed_out",
        "cancel_requested",
        "cancelled",
    ] {
        assert!(counts.contains_key(name), "counts has {name}: {counts:?}");
    }
    for t in status["targets"].as_array().expect("targets") {
        for field in [
            "store_id",
            "controller_id",
            "status",
            "errors",
            "updated_at",
        ] {
            assert!(t.get(field).is_some(), "target has {field}: {t}");
        }
        chrono::DateTime::parse_from_rfc3339(t["updated_at"].as_str().unwrap())
            .expect("updated_at is RFC 3339");
    }
}

/// `--target` flags, repeated, and the readable ids `storefleet sim --ids readable` uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_given_on_the_command_line_complete() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 2, IdStyle::Readable, 1);
    let fw = ws.firmware("fw.bin", 4096, 1);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((100, 200), 0.0, 1)).await;
    let mut args = vec![
        "deploy".to_owned(),
        "--firmware".into(),
        fw.arg().into(),
        "--version".into(),
        "2.0.1".into(),
        "--serve".into(),
        "127.0.0.1:0".into(),
        "--wait".into(),
        "--json".into(),
        "--ack-timeout".into(),
        "5s".into(),
    ];
    for c in &fleet_list {
        args.push("--target".into());
        args.push(format!("{}/{}", c.store_id, c.controller_id));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ws
        .run(Some(&broker.url()), &args, Duration::from_secs(60))
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines = out.json_lines();
    let summary = lines.last().unwrap();
    assert_eq!(summary["counts"]["completed"], 4, "{summary}");
    // In the order given.
    let order: Vec<(String, String)> = summary["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["store_id"].as_str().unwrap().into(),
                t["controller_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(order, fleet_list.iter().map(key).collect::<Vec<_>>());
    assert_eq!(spy.count("update_firmware"), 4);
}
