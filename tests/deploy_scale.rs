//! Issue 4's "done when", grown past issue 13's outbox chunk: `storefleet deploy --wait` to
//! 2,500 controllers completes with everything recorded, each command published once.

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
async fn controllers_beyond_two_outbox_chunks_complete_with_everything_recorded() {
    // 2,500 targets: the driver reads its outbox 1,024 commands at a time (owner/flow.rs),
    // so this crosses two chunk boundaries; each command must leave exactly once.
    const N: usize = 2_500;
    let started = Instant::now();
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(50, N / 50, IdStyle::Uuid, 1000);
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
    eprintln!("deploy --wait to {N} controllers took {:?}", out.elapsed);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines = out.json_lines();
    let id = lines[0]["deployment_id"].as_str().unwrap().to_owned();
    let summary = lines.last().unwrap();
    assert_eq!(summary["counts"]["completed"], N, "{}", summary["counts"]);
    // One line per transition: 3 per target, none lost, none repeated.
    let target_lines = lines.iter().filter(|l| l["event"] == "target").count();
    assert_eq!(target_lines, 3 * N);
    assert_eq!(lines.len(), 3 * N + 2);

    let history = ws.history();
    let transitions = history.transitions_by_target(&id);
    assert_eq!(transitions.len(), N);
    for (target, rows) in &transitions {
        assert_eq!(
            path(rows),
            ["queued", "sent", "acknowledged", "completed"],
            "{target:?}"
        );
    }
    assert_eq!(history.outbound().len(), N);
    assert_eq!(history.inbound().len(), 2 * N);
    assert!(
        history
            .outbox(&id)
            .iter()
            .all(|(_, sent, _)| sent.is_some())
    );
    spy.wait_until("every reply", WAIT, |seen| seen.len() >= 3 * N)
        .await;
    assert_replies_recorded_once(&spy.messages(), &history, &id);
    let updates = spy.of_type("update_firmware");
    assert_eq!(updates.len(), N, "each command published once");
    let ids: HashSet<String> = updates
        .iter()
        .map(|m| {
            m.json().unwrap()["correlation_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), N, "a fresh correlation id per command");
    assert_eq!(fleet.stats().completed, N as u64);
    eprintln!("{N}-controller test took {:.1}s", secs(started));
}
