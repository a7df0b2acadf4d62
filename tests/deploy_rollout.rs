//! Rollout policies end to end, against mosquitto with simulated controllers: a failing
//! canary pauses the deployment (exit 4) and nothing more is sent; `resume` from a new
//! process serves the file again and carries on; manual advance; pause by hand; the
//! per-store in-flight cap as the wire shows it.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use serde_json::Value;
use storefleet::engine::RolloutEventKind;
use storefleet::sim::{Behaviour, IdStyle, Outcome as SimOutcome};

const LIMIT: Duration = Duration::from_secs(90);

fn deploy<'a>(fw: &'a FirmwareFile, csv: &'a str, policy: &[&'a str], wait: bool) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "4.0.0",
        "--targets-csv",
        csv,
        "--serve",
        "127.0.0.1:0",
        "--json",
        "--ack-timeout",
        "5s",
        "--timeout",
        "20s",
    ];
    if wait {
        args.push("--wait");
    }
    args.extend_from_slice(policy);
    args
}

fn deployment_id(out: &Outcome) -> String {
    out.json_lines()[0]["deployment_id"]
        .as_str()
        .expect("the first line carries the deployment id")
        .to_owned()
}

fn waves_of(status: &Value) -> Vec<u64> {
    status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["wave"].as_u64().unwrap())
        .collect()
}

fn rollout_events(ws: &Workspace, id: &str) -> Vec<RolloutEventKind> {
    storefleet::history::History::open(&ws.db)
        .unwrap()
        .rollout_events(id)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Update commands on the wire (a QoS 1 redelivery of one counted once): their targets,
/// in the order they were first seen.
fn updated_targets(spy: &Spy) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    spy.of_type("update_firmware")
        .iter()
        .filter(|m| {
            let correlation_id = m.json().map(|v| v["correlation_id"].to_string());
            seen.insert(correlation_id)
        })
        .filter_map(Seen::target)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_pauses_and_resume_from_a_new_process_serves_the_file_again() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Readable, 21);
    let fw = ws.firmware("fw-4.0.0.bin", 48 * 1024, 4);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((50, 150), 0.0, 21)).await;
    // Two of the four canary controllers fail.
    for c in &fleet_list[1..3] {
        let b = Behaviour {
            outcome: SimOutcome::Fail,
            ..Behaviour::default()
        };
        fleet
            .set_behaviour(&c.store_id, &c.controller_id, b)
            .unwrap();
    }

    let policy = [
        "--canary",
        "4",
        "--wave-size",
        "8",
        "--pause-on-failures",
        "2",
    ];
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(&fw, csv.to_str().unwrap(), &policy, true),
            LIMIT,
        )
        .await;
    assert_eq!(out.code, Some(4), "exit 4: paused; {}", out.describe());
    let id = deployment_id(&out);
    let lines = out.json_lines();
    let first = &lines[0];
    assert_eq!(first["waves"], serde_json::json!([4, 8, 8]), "{first}");
    assert_eq!(first["policy"]["canary"], 4);
    // The stream says why it stopped (canary targets still in flight may report after it).
    let rollout: Vec<&Value> = lines.iter().filter(|l| l["event"] == "rollout").collect();
    assert_eq!(rollout.len(), 1, "{rollout:?}");
    assert_eq!(rollout[0]["kind"], "paused", "{}", rollout[0]);
    assert!(
        rollout[0]["reason"]
            .as_str()
            .unwrap()
            .contains("threshold 2")
    );

    // Nothing beyond the canary was sent, and nothing is sent later either.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = updated_targets(&spy);
    assert_eq!(sent.len(), 4, "only the canary: {sent:?}");
    let canary: Vec<_> = fleet_list[..4].iter().map(key).collect();
    for t in &sent {
        assert!(canary.contains(t), "{t:?} is not in the canary");
    }

    let status = ws.status(&id).await;
    assert_eq!(status["state"], "paused", "{status}");
    let reason = status["paused_reason"].as_str().unwrap();
    assert!(reason.contains("threshold 2"), "{reason}");
    let mut expected_waves = vec![0; 4];
    expected_waves.extend([1; 8]);
    expected_waves.extend([2; 8]);
    assert_eq!(waves_of(&status), expected_waves);
    assert_eq!(status["counts"]["queued"], 16);
    let listed = ws.run(None, &["deployments", "--json"], WAIT).await;
    assert_eq!(listed.json_lines()[0]["state"], "paused");

    // The history keeps the plan and the pause.
    let events = rollout_events(&ws, &id);
    assert_eq!(
        events[0],
        RolloutEventKind::Planned {
            waves: vec![4, 8, 8]
        }
    );
    assert_eq!(events[1], RolloutEventKind::WaveStarted { wave: 0 });
    assert!(
        matches!(events.last(), Some(RolloutEventKind::Paused { .. })),
        "{events:?}"
    );

    // The deploy process (and its file server) is gone. A new process resumes: the
    // controllers download from the recorded URL, so it must be served again.
    let resumed = ws
        .run(
            Some(&broker.url()),
            &["resume", &id, "--wait", "--json"],
            LIMIT,
        )
        .await;
    // The two canary failures stay failed: exit 3, everything else completed.
    assert_eq!(resumed.code, Some(3), "{}", resumed.describe());
    let lines = resumed.json_lines();
    assert_eq!(lines[0]["event"], "resume", "{}", lines[0]);
    let kinds: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "rollout")
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        vec!["resumed", "wave_started", "wave_started"],
        "{lines:?}"
    );
    let status = ws.status(&id).await;
    assert_eq!(status["state"], "finished", "{status}");
    assert_eq!(status["counts"]["completed"], 18, "{}", status["counts"]);
    assert_eq!(status["counts"]["failed"], 2);
    assert_eq!(updated_targets(&spy).len(), 20);
    let events = rollout_events(&ws, &id);
    let tail: Vec<_> = events
        .iter()
        .filter(|e| !matches!(e, RolloutEventKind::Planned { .. }))
        .collect();
    assert!(
        tail.contains(&&RolloutEventKind::Resumed)
            && tail.contains(&&RolloutEventKind::WaveStarted { wave: 1 })
            && tail.contains(&&RolloutEventKind::WaveStarted { wave: 2 }),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_per_store_never_has_two_controllers_of_a_store_in_flight() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(3, 4, IdStyle::Uuid, 33);
    let fw = ws.firmware("fw-4.0.0.bin", 16 * 1024, 5);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((150, 300), 0.0, 33)).await;

    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(
                &fw,
                csv.to_str().unwrap(),
                &["--max-in-flight-per-store", "1"],
                true,
            ),
            LIMIT,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());

    // From the wire: each target is in flight from its command until its report.
    let mut spans: HashMap<(String, String), (Instant, Option<Instant>)> = HashMap::new();
    for m in spy.messages() {
        let Some(target) = m.target() else { continue };
        match m.event_type().as_deref() {
            Some("update_firmware") => {
                spans.insert(target, (m.at, None));
            }
            Some("update_firmware_completed") | Some("update_firmware_failed") => {
                if let Some(span) = spans.get_mut(&target) {
                    span.1 = Some(m.at);
                }
            }
            _ => {}
        }
    }
    assert_eq!(spans.len(), 12);
    let mut by_store: HashMap<&str, Vec<(Instant, Instant)>> = HashMap::new();
    for ((store, _), (from, to)) in &spans {
        by_store
            .entry(store.as_str())
            .or_default()
            .push((*from, to.expect("every target reported")));
    }
    for (store, mut spans) in by_store {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1,
                "store {store}: a command went out before the previous controller finished"
            );
        }
    }
    // The cap is per store: the three stores ran side by side.
    let starts: Vec<Instant> = spans.values().map(|s| s.0).collect();
    let overlapping = spans
        .values()
        .filter(|(from, to)| starts.iter().any(|s| s > from && Some(*s) < *to))
        .count();
    assert!(
        overlapping > 0,
        "no two stores were ever in flight together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_advance_waits_for_resume_after_each_wave() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 4, IdStyle::Readable, 44);
    let fw = ws.firmware("fw-4.0.0.bin", 16 * 1024, 6);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((50, 100), 0.0, 44)).await;

    let policy = ["--canary", "2", "--wave-size", "3", "--advance", "manual"];
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(&fw, csv.to_str().unwrap(), &policy, true),
            LIMIT,
        )
        .await;
    assert_eq!(out.code, Some(4), "{}", out.describe());
    let id = deployment_id(&out);
    assert_eq!(updated_targets(&spy).len(), 2);
    let status = ws.status(&id).await;
    assert_eq!(status["state"], "paused");
    assert_eq!(status["counts"]["completed"], 2);
    assert!(
        status["paused_reason"]
            .as_str()
            .unwrap()
            .contains("resume to start wave 1"),
        "{status}"
    );

    // Each resume starts one wave and returns when it has finished.
    let out = ws
        .run(Some(&broker.url()), &["resume", &id, "--wait"], LIMIT)
        .await;
    assert_eq!(out.code, Some(4), "{}", out.describe());
    assert_eq!(updated_targets(&spy).len(), 5);
    let out = ws
        .run(Some(&broker.url()), &["resume", &id, "--wait"], LIMIT)
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(updated_targets(&spy).len(), 8);
    let status = ws.status(&id).await;
    assert_eq!(status["state"], "finished");
    assert_eq!(status["counts"]["completed"], 8);

    // A finished deployment cannot be resumed or paused: refused, exit 2.
    let again = ws.run(Some(&broker.url()), &["resume", &id], LIMIT).await;
    assert_eq!(again.code, Some(2), "{}", again.describe());
    let paused = ws.run(None, &["pause", &id], LIMIT).await;
    assert_eq!(paused.code, Some(2), "{}", paused.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_by_hand_holds_the_rest_until_resume() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 55);
    let fw = ws.firmware("fw-4.0.0.bin", 16 * 1024, 7);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    // Flashing outlasts `deploy` without --wait: a next command it sent just before it exited
    // would find its built-in server gone and fail (a retry would then send it again).
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((1_500, 2_000), 0.0, 55),
    )
    .await;

    // Without --wait, deploy returns once the first command (of at most one in flight) left.
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(&fw, csv.to_str().unwrap(), &["--max-in-flight", "1"], false),
            LIMIT,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let id = deployment_id(&out);
    let paused = ws.run(None, &["pause", &id, "--json"], LIMIT).await;
    assert_eq!(paused.code, Some(0), "{}", paused.describe());
    assert_eq!(paused.json()["state"], "paused");
    let status = ws.status(&id).await;
    assert_eq!(status["state"], "paused");
    assert_eq!(status["paused_reason"], "paused by the operator");

    // Commands made before the pause (deploy may have heard the first report and sent the
    // next before it exited) still leave; none is made after it.
    let made = ws.history().outbox(&id).len();
    assert!((1..=2).contains(&made), "{made} commands before the pause");

    // Another process that picks the deployment up (here `retry`, with nothing to retry)
    // sends nothing new while it is paused.
    let watched = ws
        .run(Some(&broker.url()), &["retry", &id, "--wait"], LIMIT)
        .await;
    assert_eq!(watched.code, Some(4), "{}", watched.describe());
    assert_eq!(ws.history().outbox(&id).len(), made);
    assert_eq!(updated_targets(&spy).len(), made);

    let resumed = ws
        .run(
            Some(&broker.url()),
            &["resume", &id, "--wait", "--json"],
            LIMIT,
        )
        .await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.describe());
    let updates: Vec<String> = spy
        .of_type("update_firmware")
        .iter()
        .map(|m| {
            let v = m.json().unwrap();
            format!("{} {:?} dup={}", v["correlation_id"], m.target(), m.dup)
        })
        .collect();
    assert_eq!(updated_targets(&spy).len(), 6, "{updates:#?}");
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 6);
    let events = rollout_events(&ws, &id);
    let paused_at = events
        .iter()
        .position(|e| matches!(e, RolloutEventKind::Paused { .. }))
        .expect("pause recorded");
    assert_eq!(events.get(paused_at + 1), Some(&RolloutEventKind::Resumed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_from_another_process_stops_a_running_deploy_with_exit_4() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 5, IdStyle::Readable, 66);
    let fw = ws.firmware("fw-4.0.0.bin", 16 * 1024, 8);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((300, 400), 0.0, 66)).await;

    let mut running = ws.spawn(
        Some(&broker.url()),
        &deploy(&fw, csv.to_str().unwrap(), &["--max-in-flight", "1"], true),
    );
    let id = running.deployment_id().await;
    spy.wait_until("the second command", WAIT, |seen| {
        seen.iter()
            .filter(|m| m.event_type().as_deref() == Some("update_firmware"))
            .count()
            >= 2
    })
    .await;
    let paused = ws.run(None, &["pause", &id], LIMIT).await;
    assert_eq!(paused.code, Some(0), "{}", paused.describe());
    let at_pause = updated_targets(&spy).len();
    let out = running.wait(LIMIT).await;
    assert_eq!(
        out.code,
        Some(4),
        "the running deploy saw the pause; {}",
        out.describe()
    );
    // The deploy process looks at the history every second: with one controller at a time
    // taking 300 to 400 ms, at most three more commands go out before it sees the pause,
    // and none after it exited.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let sent = updated_targets(&spy).len();
    assert!(sent <= at_pause + 3, "{sent} sent, {at_pause} at the pause");
    assert!(sent < 10);
    let status = ws.status(&id).await;
    assert_eq!(status["state"], "paused", "{status}");

    let resumed = ws
        .run(Some(&broker.url()), &["resume", &id, "--wait"], LIMIT)
        .await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.describe());
    assert_eq!(updated_targets(&spy).len(), 10);
}

/// One driver per deployment: `watch` takes the paused deployment over once `deploy` has
/// exited, and a `resume` from another process reaches it through the history. The next
/// waves are sent once, by the driver, while the `resume` process follows to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_another_process_reaches_the_driver() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(1, 3, IdStyle::Readable, 77);
    let fw = ws.firmware("fw-4.0.0.bin", 16 * 1024, 9);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((50, 100), 0.0, 77)).await;
    let policy = ["--canary", "1", "--advance", "manual"];
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(&fw, csv.to_str().unwrap(), &policy, true),
            LIMIT,
        )
        .await;
    assert_eq!(out.code, Some(4), "{}", out.describe());
    let id = deployment_id(&out);

    // `watch` takes the deployment over (it is paused: nothing is sent).
    let mut watch = ws.spawn(Some(&broker.url()), &["watch", "--json"]);
    watch
        .wait_for_lines("watch connects", WAIT, |lines| {
            lines.iter().any(|l| l["event"] == "connection")
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(updated_targets(&spy).len(), 1);

    let resumed = ws
        .run(
            Some(&broker.url()),
            &["resume", &id, "--wait", "--json"],
            LIMIT,
        )
        .await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.describe());
    // The resume process followed the driver's work through the history.
    let completed = resumed
        .json_lines()
        .iter()
        .filter(|l| l["status"] == "completed")
        .count();
    assert_eq!(completed, 2, "{}", resumed.describe());
    // Sent once each, by one process.
    assert_eq!(updated_targets(&spy).len(), 3);
    watch
        .wait_for_lines("the driver resumed and finished it", WAIT, |lines| {
            lines
                .iter()
                .any(|l| l["event"] == "rollout" && l["kind"] == "resumed")
                && lines.iter().filter(|l| l["status"] == "completed").count() == 2
        })
        .await;
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 3, "{status}");
    watch.interrupt();
    let _ = watch.wait(LIMIT).await;
}
