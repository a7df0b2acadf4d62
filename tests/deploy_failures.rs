//! Failures: the error lists controllers send are what `status`, the JSON stream, the history
//! and `export` show, byte for byte; a silent controller times out; exit 3. Then `retry`.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use serde_json::{Value, json};
use storefleet::sim::{Behaviour, IdStyle, Outcome};

fn deploy_args<'a>(fw: &'a FirmwareFile, csv: &'a str, ack: &'a str) -> Vec<&'a str> {
    vec![
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "3.1.0",
        "--targets-csv",
        csv,
        "--serve",
        "127.0.0.1:0",
        "--wait",
        "--json",
        "--ack-timeout",
        ack,
        "--timeout",
        "15s",
    ]
}

/// Error strings a real controller might send that are easy to mangle.
fn tricky_errors() -> Vec<String> {
    vec![
        "flash write failed at block 0x1f3: ECC error".into(),
        "quote \" backslash \\ slash / tab\tnewline\nend".into(),
        "ünïcödé ✓ — 中文 — emoji 🔥".into(),
        String::new(),
        "x".repeat(2000),
        "a; b; c".into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_lists_are_recorded_exactly_and_a_silent_controller_times_out() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Readable, 11);
    let fw = ws.firmware("fw-3.1.0.bin", 64 * 1024, 9);
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((100, 300), 0.0, 11)).await;
    let failing: Vec<_> = [1, 4, 8, 13, 19].iter().map(|&i| &fleet_list[i]).collect();
    for c in &failing {
        let b = Behaviour {
            outcome: Outcome::Fail,
            ..Behaviour::default()
        };
        fleet
            .set_behaviour(&c.store_id, &c.controller_id, b)
            .unwrap();
    }
    let silent = &fleet_list[10];
    fleet
        .set_behaviour(
            &silent.store_id,
            &silent.controller_id,
            Behaviour {
                silent: true,
                ..Behaviour::default()
            },
        )
        .unwrap();

    // Hand-written controllers: exact bytes, as the spec's examples write them.
    let tricky = tricky_errors();
    let scripts = vec![
        Script {
            store_id: "store-9001".into(),
            controller_id: "ctrl-tricky".into(),
            replies: vec![
                (
                    "ack",
                    reply_body("update_firmware_ack", "store-9001", "ctrl-tricky", ""),
                ),
                (
                    "action",
                    reply_body(
                        "update_firmware_failed",
                        "store-9001",
                        "ctrl-tricky",
                        &format!(",\"errors\":{}", serde_json::to_string(&tricky).unwrap()),
                    ),
                ),
            ],
        },
        Script {
            store_id: "store-9001".into(),
            controller_id: "ctrl-empty-errors".into(),
            replies: vec![
                (
                    "ack",
                    reply_body("update_firmware_ack", "store-9001", "ctrl-empty-errors", ""),
                ),
                (
                    "action",
                    reply_body(
                        "update_firmware_failed",
                        "store-9001",
                        "ctrl-empty-errors",
                        ",\"errors\":[]",
                    ),
                ),
            ],
        },
        Script {
            // The spec's examples end objects with a trailing comma: accepted.
            store_id: "store-9001".into(),
            controller_id: "ctrl-trailing-commas".into(),
            replies: vec![
                (
                    "ack",
                    trailing_commas(
                        "update_firmware_ack",
                        "store-9001",
                        "ctrl-trailing-commas",
                        "",
                    ),
                ),
                (
                    "action",
                    trailing_commas(
                        "update_firmware_failed",
                        "store-9001",
                        "ctrl-trailing-commas",
                        "\"errors\": [\n        \"error message 1\",\n        \"error message 2\",\n    ],\n",
                    ),
                ),
            ],
        },
    ];
    let _scripted = Scripted::start(broker.port(), scripts.clone()).await;
    let mut all = fleet_list.clone();
    for s in &scripts {
        all.push(storefleet::sim::ControllerInfo {
            store_id: storefleet::protocol::Id::new(s.store_id.clone()).unwrap(),
            controller_id: storefleet::protocol::Id::new(s.controller_id.clone()).unwrap(),
            store_name: "Scripted".into(),
            controller_name: s.controller_id.clone(),
        });
    }
    let csv = ws.targets_csv("targets.csv", &all);

    let out = ws
        .run(
            Some(&broker.url()),
            &deploy_args(&fw, csv.to_str().unwrap(), "2s"),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        out.code,
        Some(3),
        "exit 3: not every target completed; {}",
        out.describe()
    );
    let lines = out.json_lines();
    let id = lines[0]["deployment_id"].as_str().unwrap().to_owned();
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");

    // What each failing controller said, from the wire.
    let mut said: HashMap<(String, String), Vec<String>> = HashMap::new();
    for m in spy.of_type("update_firmware_failed") {
        let errors: Vec<String> = serde_json::from_value(
            storefleet::protocol::decode(&m.topic, &m.payload, &Default::default())
                .map(|i| match i.envelope.event {
                    storefleet::protocol::Event::UpdateFirmwareFailed { errors, .. } => {
                        json!(errors)
                    }
                    other => panic!("{other:?}"),
                })
                .expect("failure reports decode"),
        )
        .unwrap();
        assert!(
            said.insert(m.target().unwrap(), errors).is_none(),
            "one failure report per target"
        );
    }
    assert_eq!(
        said.len(),
        5 + 3,
        "5 simulated and 3 scripted failures: {:?}",
        said.keys().collect::<Vec<_>>()
    );
    assert_eq!(said[&("store-9001".into(), "ctrl-tricky".into())], tricky);
    assert_eq!(
        said[&("store-9001".into(), "ctrl-empty-errors".into())],
        Vec::<String>::new()
    );
    assert_eq!(
        said[&("store-9001".into(), "ctrl-trailing-commas".into())],
        ["error message 1", "error message 2"]
    );

    let status = ws.status(&id).await;
    assert_eq!(summary["targets"], status["targets"]);
    let counts = &status["counts"];
    assert_eq!(counts["failed"], 8, "{counts}");
    assert_eq!(counts["timed_out"], 1, "{counts}");
    assert_eq!(counts["completed"], 20 - 5 - 1, "{counts}");
    let by_key = targets_by_key(&status);
    for (target, errors) in &said {
        let t = &by_key[target];
        assert_eq!(t["status"], "failed", "{t}");
        assert_eq!(
            t["errors"],
            json!(errors),
            "status errors equal what {target:?} sent"
        );
        assert!(!errors.is_empty() || target.1 == "ctrl-empty-errors");
    }
    let t = &by_key[&key(silent)];
    assert_eq!(t["status"], "timed_out", "{t}");
    assert_eq!(t["errors"], json!([]));
    for c in &fleet_list {
        if !said.contains_key(&key(c)) && key(c) != key(silent) {
            assert_eq!(by_key[&key(c)]["status"], "completed");
        }
    }

    // The JSON stream's transition to failed carries the same list.
    for line in &lines[1..lines.len() - 1] {
        if line["status"] == "failed" {
            let target = (
                line["store_id"].as_str().unwrap().to_owned(),
                line["controller_id"].as_str().unwrap().to_owned(),
            );
            assert_eq!(line["errors"], json!(said[&target]), "{line}");
        }
    }

    // The history: transitions carry the errors; the silent one went sent -> timed_out.
    let history = ws.history();
    let transitions = history.transitions_by_target(&id);
    for (target, errors) in &said {
        let rows = &transitions[target];
        assert_chained(target, rows);
        let last = rows.last().unwrap();
        assert_eq!(last.to, "failed");
        assert_eq!(&last.errors, errors);
    }
    assert_eq!(
        path(&transitions[&key(silent)]),
        ["queued", "sent", "timed_out"]
    );
    assert_replies_recorded_once(&spy.messages(), &history, &id);
    let inbound = history.inbound();
    let trailing = inbound
        .iter()
        .filter(|m| m.topic.contains("ctrl-trailing-commas"))
        .collect::<Vec<_>>();
    assert_eq!(trailing.len(), 2);
    assert!(
        trailing.iter().all(|m| m.outcome == "applied"),
        "{trailing:?}"
    );

    // `export --format csv`: errors joined; parse it as CSV.
    let exported = ws
        .run(None, &["export", &id, "--format", "csv"], WAIT)
        .await;
    assert_eq!(exported.code, Some(0), "{}", exported.describe());
    let mut reader = csv::Reader::from_reader(exported.stdout.as_bytes());
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        rows += 1;
        let target = (record[0].to_owned(), record[1].to_owned());
        if let Some(errors) = said.get(&target) {
            assert_eq!(&record[2], "failed");
            assert_eq!(&record[5], errors.join("; "));
        }
    }
    assert_eq!(rows, all.len());
}

/// A reply laid out like the spec's examples: pretty-printed, trailing commas everywhere.
fn trailing_commas(event_type: &str, store: &str, controller: &str, extra: &str) -> String {
    format!(
        "{{\n  \"version\": \"1.0.0\",\n  \"event_type\": \"{event_type}\",\n  \"timestamp\": \"{}\",\n  \
         \"correlation_id\": \"{{correlation_id}}\",\n  \"controller_id\": \"{controller}\",\n  \
         \"store_id\": \"{store}\",\n  \"payload\": {{\n    \"deployment_id\": \"{{deployment_id}}\",\n    {extra}  }}\n}}",
        chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z")
    )
}

/// A fleet of 10 where three fail and one is silent on the first attempt.
struct RetrySetup {
    broker: Mosquitto,
    ws: Workspace,
    fleet_list: Vec<storefleet::sim::ControllerInfo>,
    fleet: storefleet::sim::Fleet,
    spy: Spy,
    fw: FirmwareFile,
    csv: std::path::PathBuf,
    fixed: Vec<(String, String)>,
}

async fn retry_setup() -> RetrySetup {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 5, IdStyle::Readable, 5);
    let fw = ws.firmware("fw.bin", 10_000, 2);
    let csv = ws.targets_csv("t.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((100, 200), 0.0, 5)).await;
    let mut fixed = Vec::new();
    for i in [0, 6, 7] {
        let c = &fleet_list[i];
        let b = Behaviour {
            outcome: Outcome::Fail,
            ..Behaviour::default()
        };
        fleet
            .set_behaviour(&c.store_id, &c.controller_id, b)
            .unwrap();
        fixed.push(key(c));
    }
    let silent = &fleet_list[3];
    let b = Behaviour {
        silent: true,
        ..Behaviour::default()
    };
    fleet
        .set_behaviour(&silent.store_id, &silent.controller_id, b)
        .unwrap();
    fixed.push(key(silent));
    RetrySetup {
        broker,
        ws,
        fleet_list,
        fleet,
        spy,
        fw,
        csv,
        fixed,
    }
}

impl RetrySetup {
    /// Every controller behaves from now on.
    fn fix(&self) {
        for c in &self.fleet_list {
            self.fleet
                .set_behaviour(&c.store_id, &c.controller_id, Behaviour::default())
                .unwrap();
        }
    }

    fn correlation_ids(&self) -> HashSet<String> {
        self.spy
            .of_type("update_firmware")
            .iter()
            .map(|m| {
                m.json().unwrap()["correlation_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_gives_failed_and_timed_out_targets_a_new_attempt() {
    let s = retry_setup().await;
    // Hosted elsewhere (it outlives the deploy process), checked by the preflight.
    let server = GatedServer::start("fw.bin", s.fw.bytes.clone(), usize::MAX).await;
    let out =
        s.ws.run(
            Some(&s.broker.url()),
            &[
                "deploy",
                "--firmware",
                s.fw.arg(),
                "--version",
                "3.1.0",
                "--targets-csv",
                s.csv.to_str().unwrap(),
                "--base-url",
                &server.url,
                "--wait",
                "--json",
                "--ack-timeout",
                "2s",
                "--timeout",
                "15s",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(3), "{}", out.describe());
    assert!(
        server.other_requests() >= 1,
        "the preflight downloaded the file"
    );
    let id = out.json_lines()[0]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_commands = s.correlation_ids();
    assert_eq!(first_commands.len(), 10);

    // The controllers are fixed; a new process retries.
    s.fix();
    let retried =
        s.ws.run(
            Some(&s.broker.url()),
            &["retry", &id, "--wait", "--json"],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(retried.code, Some(0), "{}", retried.describe());
    let lines = retried.json_lines();
    assert_eq!(lines[0]["event"], "retry", "{}", lines[0]);
    assert_eq!(lines.last().unwrap()["event"], "summary");

    let status = s.ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 10, "{}", status["counts"]);
    let by_key = targets_by_key(&status);
    let retried_keys: HashSet<_> = s.fixed.iter().cloned().collect();
    for c in &s.fleet_list {
        let expected = if retried_keys.contains(&key(c)) { 2 } else { 1 };
        assert_eq!(by_key[&key(c)]["attempt"], expected, "{}", by_key[&key(c)]);
    }
    // Four new commands: new correlation ids, the same deployment id.
    let updates = s.spy.of_type("update_firmware");
    assert_eq!(updates.len(), 14);
    let new: Vec<_> = updates
        .iter()
        .filter(|m| !first_commands.contains(m.json().unwrap()["correlation_id"].as_str().unwrap()))
        .collect();
    assert_eq!(new.len(), 4);
    for m in new {
        assert!(retried_keys.contains(&m.target().unwrap()));
        assert_eq!(m.deployment_id().as_deref(), Some(id.as_str()));
    }
    // The history keeps both attempts.
    let transitions = s.ws.history().transitions_by_target(&id);
    for target in &retried_keys {
        let rows = &transitions[target];
        assert_chained(target, rows);
        let attempts: Vec<u32> = rows.iter().map(|r| r.attempt).collect();
        assert!(attempts.contains(&1) && attempts.contains(&2), "{rows:?}");
        assert_eq!(rows.last().unwrap().to, "completed");
        assert_eq!(rows.last().unwrap().attempt, 2);
    }
    let from_failed: Vec<&Value> = lines.iter().filter(|l| l["from"] == "failed").collect();
    assert_eq!(
        from_failed.len(),
        3,
        "failed -> queued for each failed target"
    );
}

/// `deploy --serve` serves the file only while that process lives. A later `retry` in a new
/// process must not send controllers a URL nobody serves any more: it should serve the file
/// again, or refuse (exit 2, nothing published).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_deploy_served_the_file_itself_does_not_send_a_dead_url() {
    let s = retry_setup().await;
    let out =
        s.ws.run(
            Some(&s.broker.url()),
            &deploy_args(&s.fw, s.csv.to_str().unwrap(), "2s"),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(3), "{}", out.describe());
    let id = out.json_lines()[0]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.fix();
    let before = s.spy.count("update_firmware");
    let retried =
        s.ws.run(
            Some(&s.broker.url()),
            &["retry", &id, "--wait", "--json"],
            Duration::from_secs(60),
        )
        .await;
    let status = s.ws.status(&id).await;
    let refused = retried.code == Some(2)
        && retried.stderr_lines().len() == 1
        && s.spy.count("update_firmware") == before;
    let completed = retried.code == Some(0) && status["counts"]["completed"] == 10;
    assert!(
        refused || completed,
        "retry sent the dead URL {}: exit {:?}, errors {:?}",
        status["file_url"],
        retried.code,
        status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["status"] != "completed")
            .map(|t| t["errors"].clone())
            .collect::<Vec<_>>()
    );
}
