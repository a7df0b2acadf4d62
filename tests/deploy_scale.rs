//! Issue 4's "done when": `storefleet deploy --wait` to 1,000 controllers completes with
//! everything recorded.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use storefleet::sim::IdStyle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_controllers_complete_with_everything_recorded() {
    let started = Instant::now();
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(50, 20, IdStyle::Uuid, 1000);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let fw = ws.firmware("fw-9.0.0.bin", 64 * 1024, 99);
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((100, 500), 0.0, 1000),
    )
    .await;
    let out = ws
        .run(
            Some(&broker.url()),
            &[
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "9.0.0",
                "--targets-csv",
                csv.to_str().unwrap(),
                "--serve",
                "127.0.0.1:0",
                "--wait",
                "--json",
                "--ack-timeout",
                "20s",
                "--timeout",
                "60s",
            ],
            Duration::from_secs(120),
        )
        .await;
    eprintln!("deploy --wait to 1,000 controllers took {:?}", out.elapsed);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines = out.json_lines();
    let id = lines[0]["deployment_id"].as_str().unwrap().to_owned();
    let summary = lines.last().unwrap();
    assert_eq!(
        summary["counts"]["completed"], 1000,
        "{}",
        summary["counts"]
    );
    // One line per transition: 3 per target, none lost, none repeated.
    let target_lines = lines.iter().filter(|l| l["event"] == "target").count();
    assert_eq!(target_lines, 3000);
    assert_eq!(lines.len(), 3002);

    let history = ws.history();
    let transitions = history.transitions_by_target(&id);
    assert_eq!(transitions.len(), 1000);
    for (target, rows) in &transitions {
        assert_eq!(
            path(rows),
            ["queued", "sent", "acknowledged", "completed"],
            "{target:?}"
        );
    }
    assert_eq!(history.outbound().len(), 1000);
    assert_eq!(history.inbound().len(), 2000);
    assert!(
        history
            .outbox(&id)
            .iter()
            .all(|(_, sent, _)| sent.is_some())
    );
    spy.wait_until("2,000 replies", WAIT, |seen| seen.len() >= 3000)
        .await;
    assert_replies_recorded_once(&spy.messages(), &history, &id);
    let ids: HashSet<String> = spy
        .of_type("update_firmware")
        .iter()
        .map(|m| {
            m.json().unwrap()["correlation_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1000, "a fresh correlation id per command");
    assert_eq!(fleet.stats().completed, 1000);
    eprintln!("1,000-controller test took {:.1}s", secs(started));
}
