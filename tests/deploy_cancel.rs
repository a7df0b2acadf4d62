//! `storefleet cancel`: cancel reaches only the targets that are not terminal; completed ones
//! stay completed; controllers that are past their point of no return report their real
//! outcome, which replaces `cancel_requested`.
//!
//! The firmware is hosted by a [`GatedServer`] (`--base-url`): it answers the first few
//! simulated downloads and holds the rest, so those controllers stay in their cancellable
//! download phase for as long as the test needs.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::HashSet;
use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use serde_json::Value;
use storefleet::sim::{ControllerInfo, Fleet, IdStyle};

struct Setup {
    broker: Mosquitto,
    ws: Workspace,
    fleet_list: Vec<ControllerInfo>,
    fleet: Fleet,
    spy: Spy,
    server: GatedServer,
    fw: FirmwareFile,
    csv: std::path::PathBuf,
}

/// 20 controllers; the first `free` downloads are served, the rest held.
async fn setup(free: usize, flash: (u64, u64)) -> Setup {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Readable, 3);
    let fw = ws.firmware("fw-4.0.0.bin", 20_000, 4);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config(flash, 0.0, 3)).await;
    let server = GatedServer::start("fw-4.0.0.bin", fw.bytes.clone(), free).await;
    Setup {
        broker,
        ws,
        fleet_list,
        fleet,
        spy,
        server,
        fw,
        csv,
    }
}

impl Setup {
    fn deploy_args(&self, wait: bool, timeout: &'static str) -> Vec<String> {
        let ack = ack_within(timeout);
        let mut args: Vec<String> = [
            "deploy",
            "--firmware",
            self.fw.arg(),
            "--version",
            "4.0.0",
            "--targets-csv",
            self.csv.to_str().unwrap(),
            "--base-url",
            &self.server.url,
            "--json",
            "--ack-timeout",
            ack,
            "--timeout",
            timeout,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if wait {
            args.push("--wait".into());
        }
        args
    }

    /// `deploy` without `--wait`: returns once every command is confirmed by the broker.
    async fn deploy_and_leave(&self) -> String {
        let args = self.deploy_args(false, "60s");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.ws.run(Some(&self.broker.url()), &args, WAIT).await;
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let lines = out.json_lines();
        assert_eq!(lines[0]["event"], "deployment");
        assert_eq!(lines.last().unwrap()["event"], "summary");
        lines[0]["deployment_id"].as_str().unwrap().to_owned()
    }

    /// Runs `watch --json` (which resumes the deployment and records its replies) until the
    /// history satisfies `done`, then stops it with Ctrl-C.
    async fn watch_until(&self, id: &str, what: &str, done: impl FnMut(&Value) -> bool) -> Value {
        let before = cli_connections(&self.broker.log());
        let watch = self
            .ws
            .spawn(Some(&self.broker.url()), &["watch", "--json"]);
        wait_for_cli_connection(|| self.broker.log(), before).await;
        let status = wait_for_status(&self.ws, id, what, WAIT, done).await;
        watch.interrupt();
        let out = watch.wait(Duration::from_secs(10)).await;
        assert_eq!(
            out.code,
            Some(0),
            "watch ends cleanly on Ctrl-C: {}",
            out.describe()
        );
        out.json_lines(); // JSON Lines only
        status
    }

    async fn cancel(&self, id: &str) -> Outcome {
        let out = self
            .ws
            .run(
                Some(&self.broker.url()),
                &["cancel", id, "--wait", "--json", "--timeout", "20s"],
                Duration::from_secs(40),
            )
            .await;
        let lines = out.json_lines();
        assert_eq!(lines[0]["event"], "cancel", "{}", out.describe());
        assert_eq!(
            lines.last().unwrap()["event"],
            "summary",
            "{}",
            out.describe()
        );
        out
    }

    /// (store, controller) of every cancel command the spy saw, checked against the spec.
    fn cancelled_on_the_wire(&self, id: &str) -> Vec<(String, String)> {
        let update_ids: HashSet<String> = self
            .spy
            .of_type("update_firmware")
            .iter()
            .map(|m| {
                m.json().unwrap()["correlation_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let expect = Expect {
            deployment_id: id,
            firmware_version: "",
            checksum: "",
            file_size: 0,
            file_url: "",
            offset: &local_offset(),
        };
        let mut ids = HashSet::new();
        self.spy
            .of_type("cancel_update_firmware")
            .iter()
            .map(|m| {
                let correlation_id = check_command(m, &expect);
                assert!(
                    !update_ids.contains(&correlation_id),
                    "a fresh correlation id"
                );
                assert!(ids.insert(correlation_id), "a fresh correlation id");
                m.target().unwrap()
            })
            .collect()
    }
}

fn local_offset() -> String {
    chrono::Local::now().format("%:z").to_string()
}

fn keys_with(status: &Value, wanted: &str) -> HashSet<(String, String)> {
    targets_by_key(status)
        .into_iter()
        .filter(|(_, t)| t["status"] == wanted)
        .map(|(k, _)| k)
        .collect()
}

fn sorted(v: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut v: Vec<_> = v.into_iter().collect();
    v.sort();
    v
}

/// 6 controllers complete; 14 are held in their download. The history knows it (a `watch`
/// recorded the replies) when `cancel` runs: cancel goes to the 14 only; they end cancelled,
/// the 6 stay completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_only_the_unfinished_targets() {
    let s = setup(6, (100, 200)).await;
    let id = s.deploy_and_leave().await;
    let before = s
        .watch_until(&id, "6 completed, 14 acknowledged", |st| {
            st["counts"]["completed"] == 6 && st["counts"]["acknowledged"] == 14
        })
        .await;
    let completed_before = keys_with(&before, "completed");
    let unfinished = keys_with(&before, "acknowledged");

    let out = s.cancel(&id).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines = out.json_lines();
    assert_eq!(lines[0]["counts"]["cancel_requested"], 14, "{}", lines[0]);

    let on_the_wire = s.cancelled_on_the_wire(&id);
    assert_eq!(
        sorted(on_the_wire.clone()),
        sorted(unfinished.clone()),
        "cancel_update_firmware only to the targets that were not terminal"
    );
    let status = s.ws.status(&id).await;
    assert_eq!(keys_with(&status, "completed"), completed_before);
    assert_eq!(keys_with(&status, "cancelled"), unfinished);
    assert_eq!(status["finished"], true);
    assert_eq!(s.spy.count("cancel_update_firmware_ack"), 14);

    let transitions = s.ws.history().transitions_by_target(&id);
    for target in &unfinished {
        let rows = &transitions[target];
        assert_chained(target, rows);
        assert_eq!(
            path(rows),
            [
                "queued",
                "sent",
                "acknowledged",
                "cancel_requested",
                "cancelled"
            ],
            "{target:?}"
        );
    }
    for target in &completed_before {
        assert_eq!(path(&transitions[target]).last().unwrap(), "completed");
    }
    assert_replies_recorded_once(&s.spy.messages(), &s.ws.history(), &id);

    // Nothing more happens once the held downloads are let go: the jobs were aborted.
    s.server.open();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.spy.count("update_firmware_completed"), 6);
    for c in &s.fleet_list {
        let version = s
            .fleet
            .firmware_version(&c.store_id, &c.controller_id)
            .unwrap();
        let expected = if completed_before.contains(&key(c)) {
            "4.0.0"
        } else {
            "1.0.0"
        };
        assert_eq!(version, expected, "{}/{}", c.store_id, c.controller_id);
    }
}

/// 10 controllers are flashing (past the point of no return) and 10 still downloading when
/// the cancel goes out: the flashing ones do not ack the cancel and report completed, which
/// replaces cancel_requested; the others are cancelled. `cancel --wait` ends with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_past_the_point_of_no_return_report_their_real_outcome() {
    let s = setup(10, (2500, 3500)).await;
    let id = s.deploy_and_leave().await;
    s.watch_until(&id, "20 acknowledged", |st| {
        st["counts"]["acknowledged"] == 20
    })
    .await;
    // Let the 10 served downloads finish: those controllers are flashing now.
    while s.server.sim_requests() < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let out = s.cancel(&id).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(s.cancelled_on_the_wire(&id).len(), 20, "none was terminal");
    let status = s.ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 10, "{}", status["counts"]);
    assert_eq!(status["counts"]["cancelled"], 10, "{}", status["counts"]);
    let stats = s.fleet.stats();
    assert_eq!(stats.cancels_too_late, 10, "{stats}");
    let transitions = s.ws.history().transitions_by_target(&id);
    for target in keys_with(&status, "completed") {
        assert_eq!(
            path(&transitions[&target]),
            [
                "queued",
                "sent",
                "acknowledged",
                "cancel_requested",
                "completed"
            ],
            "{target:?}"
        );
    }
    assert_replies_recorded_once(&s.spy.messages(), &s.ws.history(), &id);
}

/// The flow the brief describes with no process in between: `deploy` (no --wait) leaves; 6
/// controllers complete while nobody records it (their replies wait in the broker for the
/// installation's persistent session); then `cancel`. The completions are waiting for the
/// cancel process: it must not send cancel_update_firmware to controllers that finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_deploy_left_does_not_cancel_targets_that_already_completed() {
    // The completions arrive after the deploy process left: nobody records them until the
    // cancel process connects with the installation's persistent session. Whether it reads
    // them before deciding whom to cancel is a race inside `cancel` (it fails most runs).
    let s = setup(6, (100, 200)).await;
    let id = s.deploy_and_leave().await;
    s.spy
        .wait_until("6 completions and 20 acks on the wire", WAIT, |seen| {
            let n = |t: &str| {
                seen.iter()
                    .filter(|m| m.event_type().as_deref() == Some(t))
                    .count()
            };
            n("update_firmware_completed") == 6 && n("update_firmware_ack") == 20
        })
        .await;
    let completed: HashSet<_> = s
        .spy
        .of_type("update_firmware_completed")
        .iter()
        .map(|m| m.target().unwrap())
        .collect();

    let out = s.cancel(&id).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let status = s.ws.status(&id).await;
    assert_eq!(
        keys_with(&status, "completed"),
        completed,
        "completed stay completed"
    );
    assert_eq!(status["counts"]["cancelled"], 14, "{}", status["counts"]);
    let to_completed: Vec<_> = s
        .cancelled_on_the_wire(&id)
        .into_iter()
        .filter(|t| completed.contains(t))
        .collect();
    assert!(
        to_completed.is_empty(),
        "cancel_update_firmware went to {} controllers that had completed before `cancel` ran: {to_completed:?}",
        to_completed.len()
    );
}

/// `deploy --wait` keeps running while another process cancels. Both processes share the
/// history; the deployment must end with what the controllers said (6 completed, 14
/// cancelled), and the waiting `deploy` must notice and end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_from_another_process_while_deploy_waits() {
    let s = setup(6, (100, 200)).await;
    let args = s.deploy_args(true, "8s");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut deploy = s.ws.spawn(Some(&s.broker.url()), &args);
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("6 completed and 14 acknowledged", WAIT, |lines| {
            let n = |st: &str| lines.iter().filter(|l| l["status"] == st).count();
            n("completed") == 6 && n("acknowledged") == 20
        })
        .await;

    let out = s.cancel(&id).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(s.cancelled_on_the_wire(&id).len(), 14);
    let after_cancel = s.ws.status(&id).await;
    assert_eq!(
        after_cancel["counts"]["cancelled"], 14,
        "{}",
        after_cancel["counts"]
    );

    // The waiting deploy should end now; allow it well under its 8 s completion timeout.
    let (ended, out) = deploy.wait_or_kill(Duration::from_secs(4)).await;
    let status = s.ws.status(&id).await;
    assert!(
        ended,
        "`deploy --wait` did not notice the cancel made by another process; its last lines: {}",
        out.stdout
            .lines()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(out.code, Some(3), "{}", out.describe());
    assert_eq!(status["counts"]["cancelled"], 14, "{}", status["counts"]);
    assert_eq!(status["counts"]["completed"], 6, "{}", status["counts"]);
}

/// What the waiting `deploy` of the test above does to the history once its own completion
/// timeout passes: the cancelled targets must stay cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_does_not_overwrite_cancelled_targets_with_its_stale_state() {
    let s = setup(6, (100, 200)).await;
    let args = s.deploy_args(true, "3s");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut deploy = s.ws.spawn(Some(&s.broker.url()), &args);
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("6 completed and 14 acknowledged", WAIT, |lines| {
            let n = |st: &str| lines.iter().filter(|l| l["status"] == st).count();
            n("completed") == 6 && n("acknowledged") == 20
        })
        .await;
    let out = s.cancel(&id).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let out = deploy.wait(Duration::from_secs(20)).await;
    let status = s.ws.status(&id).await;
    assert_eq!(
        status["counts"]["cancelled"], 14,
        "after `deploy --wait` ended ({:?}): {}",
        out.code, status["counts"]
    );
}

/// Targets whose commands never left (the broker was down, the CLI was killed) are cancelled
/// at once, and their commands are withdrawn from the outbox: nothing is ever sent to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_targets_are_cancelled_at_once_and_nothing_is_sent() {
    let mut broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 8);
    let fw = ws.firmware("fw.bin", 1000, 8);
    let csv = ws.targets_csv("t.csv", &fleet_list);
    broker.stop();
    let mut deploy = ws.spawn(
        Some(&broker.url()),
        &[
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "5.0.0",
            "--targets-csv",
            csv.to_str().unwrap(),
            "--serve",
            "127.0.0.1:0",
            "--wait",
            "--json",
        ],
    );
    let id = deploy.deployment_id().await;
    deploy.kill();
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["queued"], 6, "{}", status["counts"]);
    assert_eq!(ws.history().outbox(&id).len(), 6);

    // The broker is still down: the cancel needs none for queued targets.
    let out = ws
        .run(
            Some(&broker.url()),
            &["cancel", &id, "--json"],
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["cancelled"], 6, "{}", status["counts"]);
    assert_eq!(status["finished"], true);
    assert!(
        ws.history()
            .outbox(&id)
            .iter()
            .all(|(_, sent, withdrawn)| sent.is_none() && *withdrawn)
    );
    let transitions = ws.history().transitions_by_target(&id);
    for (target, rows) in &transitions {
        assert_eq!(path(rows), ["queued", "cancelled"], "{target:?}");
    }

    // The broker comes back and a process connects with the installation's session: still
    // nothing is published.
    broker.start_again();
    let spy = Spy::start(broker.port()).await;
    let before = cli_connections(&broker.log());
    let watch = ws.spawn(Some(&broker.url()), &["watch", "--json"]);
    wait_for_cli_connection(|| broker.log(), before).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    watch.interrupt();
    let out = watch.wait(Duration::from_secs(10)).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(spy.len(), 0, "published: {:?}", spy.messages());
}
