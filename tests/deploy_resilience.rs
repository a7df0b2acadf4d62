//! The broker restarts mid-deployment; the CLI is killed with SIGKILL mid-deployment (replies
//! keep coming with nobody listening; or commands still sit in the outbox). A new process
//! resumes: nothing lost, nothing counted twice.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use serde_json::Value;
use storefleet::sim::{ControllerInfo, IdStyle};

fn deploy_args<'a>(fw: &'a FirmwareFile, csv: &'a str, timeout: &'a str) -> Vec<&'a str> {
    vec![
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "6.0.0",
        "--targets-csv",
        csv,
        "--serve",
        "127.0.0.1:0",
        "--wait",
        "--json",
        "--ack-timeout",
        ack_within(timeout),
        "--timeout",
        timeout,
    ]
}

fn count_status(lines: &[Value], status: &str) -> usize {
    lines.iter().filter(|l| l["status"] == status).count()
}

/// (store, controller, from, to) of every `target` line.
fn printed(lines: &[Value]) -> Vec<(String, String, String, String)> {
    lines
        .iter()
        .filter(|l| l["event"] == "target")
        .map(|l| {
            (
                l["store_id"].as_str().unwrap().to_owned(),
                l["controller_id"].as_str().unwrap().to_owned(),
                l["from"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn rows_of(history: &HistoryDb, id: &str) -> Vec<(String, String, String, String)> {
    history
        .transitions(id)
        .into_iter()
        .map(|t| (t.store_id, t.controller_id, t.from, t.to))
        .collect()
}

fn multiset<T: std::hash::Hash + Eq + Clone>(items: &[T]) -> HashMap<T, usize> {
    let mut m = HashMap::new();
    for i in items {
        *m.entry(i.clone()).or_default() += 1;
    }
    m
}

/// Every target went queued -> sent -> acknowledged -> completed exactly once.
fn assert_clean_paths(history: &HistoryDb, id: &str, fleet: &[ControllerInfo]) {
    let transitions = history.transitions_by_target(id);
    assert_eq!(transitions.len(), fleet.len());
    for (target, rows) in &transitions {
        assert_eq!(
            path(rows),
            ["queued", "sent", "acknowledged", "completed"],
            "{target:?}: {rows:?}"
        );
    }
    let outbox = history.outbox(id);
    assert_eq!(outbox.len(), fleet.len());
    assert!(outbox.iter().all(|(_, sent, w)| sent.is_some() && !w));
    // One ack and one completion per target in the history, no more.
    let inbound = history.inbound();
    let mut per: HashMap<(String, Option<String>), usize> = HashMap::new();
    for m in &inbound {
        assert_eq!(m.outcome, "applied", "{m:?}");
        *per.entry((m.topic.clone(), m.event_type.clone()))
            .or_default() += 1;
    }
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    assert_eq!(inbound.len(), 2 * fleet.len());
}

/// Runs `watch --json` until every target of `id` is terminal, then Ctrl-C; returns its lines.
async fn watch_until_finished(ws: &Workspace, broker: &Mosquitto, id: &str, n: usize) -> Outcome {
    let before = cli_connections(&broker.log());
    let watch = ws.spawn(Some(&broker.url()), &["watch", "--json"]);
    wait_for_cli_connection(|| broker.log(), before).await;
    wait_for_status(ws, id, "every target completed", WAIT, |s| {
        s["counts"]["completed"] == n
    })
    .await;
    // Let the last batch's notice reach the stream.
    tokio::time::sleep(Duration::from_millis(200)).await;
    watch.interrupt();
    let out = watch.wait(Duration::from_secs(10)).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarts_while_controllers_flash_and_the_deployment_still_finishes() {
    let started = Instant::now();
    let mut broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(20, 10, IdStyle::Uuid, 21);
    let fw = ws.firmware("fw.bin", 50_000, 21);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((2000, 3000), 0.0, 21),
    )
    .await;
    let mut deploy = ws.spawn(
        Some(&broker.url()),
        &deploy_args(&fw, csv.to_str().unwrap(), "30s"),
    );
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("200 acknowledged", WAIT, |l| {
            count_status(l, "acknowledged") == 200
        })
        .await;
    assert_eq!(count_status(&deploy.json_lines(), "completed"), 0);

    // Every session is lost (no persistence): both sides reconnect and subscribe again.
    broker.restart();
    let out = deploy.wait(Duration::from_secs(60)).await;
    eprintln!("restart test: deploy took {:?}", out.elapsed);
    assert_eq!(
        out.code,
        Some(0),
        "{}\n--- broker ---\n{}",
        out.describe(),
        broker.log()
    );
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 200, "{}", status["counts"]);
    assert_eq!(
        cli_connections(&broker.log()),
        2,
        "the CLI connected, and once more after the restart"
    );
    assert_clean_paths(&ws.history(), &id, &fleet_list);
    eprintln!("restart test took {:.1}s", secs(started));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_deployment_then_a_new_process_records_the_rest_once() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(10, 10, IdStyle::Uuid, 31);
    let fw = ws.firmware("fw.bin", 20_000, 31);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((500, 3000), 0.0, 31)).await;
    // The file must outlive the killed process: the controllers still download it after.
    let server = GatedServer::start("fw.bin", fw.bytes.clone(), usize::MAX).await;
    let mut args = deploy_args(&fw, csv.to_str().unwrap(), "30s");
    let serve = args.iter().position(|a| *a == "--serve").unwrap();
    args[serve] = "--base-url";
    args[serve + 1] = &server.url;
    let mut deploy = ws.spawn(Some(&broker.url()), &args);
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("20 completed", WAIT, |l| count_status(l, "completed") >= 20)
        .await;
    let killed = deploy.kill();
    assert_eq!(killed.code, None, "killed by a signal");
    let lines = parse_json_lines(&killed.stdout[..=killed.stdout.rfind('\n').unwrap()]);
    let printed_before = printed(&lines);
    let completed_before = count_status(&lines, "completed");
    assert!(completed_before < 100, "killed mid-deployment");

    // `status` needs no broker and shows what happened before the kill.
    let snapshot = ws.status(&id).await;
    let counts = &snapshot["counts"];
    assert!(
        counts["completed"].as_u64().unwrap() as usize >= completed_before,
        "{counts}"
    );
    assert_eq!(snapshot["finished"], false);
    let rows_before = rows_of(&ws.history(), &id);
    let recorded = multiset(&rows_before);
    for (line, n) in multiset(&printed_before) {
        assert!(
            recorded.get(&line).copied().unwrap_or(0) >= n,
            "printed but not in the history: {line:?}"
        );
    }
    let by_key = targets_by_key(&snapshot);
    for (s, c, _, to) in &printed_before {
        let now = by_key[&(s.clone(), c.clone())]["status"].as_str().unwrap();
        let order = ["queued", "sent", "acknowledged", "completed"];
        let rank = |x: &str| order.iter().position(|o| *o == x).unwrap();
        assert!(rank(now) >= rank(to), "{s}/{c}: printed {to}, status {now}");
    }

    // The rest of the fleet finishes with nobody listening; the replies wait in the broker
    // for the installation's persistent session.
    spy.wait_until("100 completions on the wire", WAIT, |seen| {
        seen.iter()
            .filter(|m| m.event_type().as_deref() == Some("update_firmware_completed"))
            .count()
            >= 100
    })
    .await;
    let out = watch_until_finished(&ws, &broker, &id, 100).await;
    let watch_lines = printed(&out.json_lines());

    let history = ws.history();
    assert_clean_paths(&history, &id, &fleet_list);
    assert_replies_recorded_once(&spy.messages(), &history, &id);
    let status = ws.status(&id).await;
    assert_eq!(status["finished"], true);
    assert_eq!(fleet.stats().completed, 100);
    // The new process printed only what happened after the kill, never a transition twice.
    let rows_after = rows_of(&history, &id);
    let mut later = multiset(&rows_after);
    for (row, n) in multiset(&rows_before) {
        *later.get_mut(&row).unwrap() -= n;
    }
    for (line, n) in multiset(&watch_lines) {
        assert!(
            later.get(&line).copied().unwrap_or(0) >= n,
            "watch printed a transition recorded before the kill: {line:?}"
        );
    }
}

/// `watch` is the live stream: every transition the resuming process records is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_every_transition_it_records_while_resuming() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Readable, 41);
    let fw = ws.firmware("fw.bin", 5_000, 41);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((300, 600), 0.0, 41)).await;
    let server = GatedServer::start("fw.bin", fw.bytes.clone(), usize::MAX).await;
    let mut args = deploy_args(&fw, csv.to_str().unwrap(), "30s");
    let serve = args.iter().position(|a| *a == "--serve").unwrap();
    args[serve] = "--base-url";
    args[serve + 1] = &server.url;
    let mut deploy = ws.spawn(Some(&broker.url()), &args);
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("20 acknowledged", WAIT, |l| {
            count_status(l, "acknowledged") == 20
        })
        .await;
    deploy.kill();
    let rows_before = rows_of(&ws.history(), &id);
    spy.wait_until("20 completions", WAIT, |seen| {
        seen.iter()
            .filter(|m| m.event_type().as_deref() == Some("update_firmware_completed"))
            .count()
            == 20
    })
    .await;
    // All 20 completions wait in the broker: they arrive the moment `watch` connects.
    let out = watch_until_finished(&ws, &broker, &id, 20).await;
    let watch_lines = printed(&out.json_lines());
    let connection_lines: Vec<_> = out
        .json_lines()
        .into_iter()
        .filter(|l| l["event"] == "connection")
        .collect();
    let rows_after = rows_of(&ws.history(), &id);
    let new_rows: Vec<_> = rows_after[rows_before.len()..].to_vec();
    assert_eq!(
        multiset(&watch_lines),
        multiset(&new_rows),
        "watch printed {} of the {} transitions it recorded (its connection lines: {:?})",
        watch_lines.len(),
        new_rows.len(),
        connection_lines
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_commands_in_the_outbox_then_a_new_process_sends_them() {
    let mut broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(5, 10, IdStyle::Readable, 51);
    let fw = ws.firmware("fw.bin", 8_000, 51);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((100, 300), 0.0, 51)).await;
    let server = GatedServer::start("fw.bin", fw.bytes.clone(), usize::MAX).await;

    // The broker is down: the deployment is made, its commands wait in the outbox.
    broker.stop();
    let mut args = deploy_args(&fw, csv.to_str().unwrap(), "30s");
    let serve = args.iter().position(|a| *a == "--serve").unwrap();
    args[serve] = "--base-url";
    args[serve + 1] = &server.url;
    let mut deploy = ws.spawn(Some(&broker.url()), &args);
    let id = deploy.deployment_id().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    deploy.kill();

    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["queued"], 50, "{}", status["counts"]);
    let history = ws.history();
    let outbox = history.outbox(&id);
    assert_eq!(outbox.len(), 50);
    assert!(outbox.iter().all(|(_, sent, _)| sent.is_none()));
    let recorded: HashMap<String, Vec<u8>> = history
        .outbound()
        .into_iter()
        .map(|m| (m.correlation_id.clone().unwrap(), m.body))
        .collect();
    drop(history);

    // The broker is back; the simulated fleet reconnects (probe it until a controller answers).
    broker.start_again();
    let spy = Spy::start(broker.port()).await;
    wait_for_fleet(broker.port(), &spy, &fleet_list[0]).await;

    let _ = watch_until_finished(&ws, &broker, &id, 50).await;
    // The outbox went out as recorded: the same correlation ids, byte for byte.
    let updates = spy.of_type("update_firmware");
    assert_eq!(updates.len(), 50, "each command once");
    let mut seen_ids = HashSet::new();
    for m in &updates {
        let correlation_id = m.json().unwrap()["correlation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            recorded.get(&correlation_id),
            Some(&m.payload),
            "sent as recorded before the crash"
        );
        assert!(seen_ids.insert(correlation_id));
    }
    let history = ws.history();
    assert_clean_paths(&history, &id, &fleet_list);
    assert_replies_recorded_once(&spy.messages(), &history, &id);
    assert_eq!(fleet.stats().updates, 50);
    let by_key: BTreeMap<_, _> = targets_by_key(&ws.status(&id).await);
    assert!(by_key.values().all(|t| t["attempt"] == 1));
}

/// DESIGN.md section 2: the controller's report is the truth, even after a timeout, and even
/// when it arrives after the deployment finished and its process left. The completions wait
/// in the broker for the installation's persistent session; the next process loads the
/// finished deployment from the history and applies them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_after_the_deploy_process_left_replaces_its_timeout() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 61);
    let fw = ws.firmware("fw.bin", 4_000, 61);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    // Flashing outlasts the completion timeout: every target times out first.
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((2500, 3000), 0.0, 61),
    )
    .await;
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy_args(&fw, csv.to_str().unwrap(), "1s"),
            WAIT,
        )
        .await;
    assert_eq!(out.code, Some(3), "{}", out.describe());
    let id = out.json_lines()[0]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["timed_out"], 6, "{}", status["counts"]);

    watch_until_finished(&ws, &broker, &id, 6).await;
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 6, "{}", status["counts"]);
    assert_eq!(status["counts"]["timed_out"], 0, "{}", status["counts"]);
}
