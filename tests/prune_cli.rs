//! `storefleet prune` (issue 14): without --yes it only says what would go; with it, the
//! finished deployment goes into the archive (a history `--db` reads) and out of the history.
//! A bad date and an archive that exists are refused in one line, and remove nothing.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use storefleet::sim::IdStyle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_deployment_is_archived_then_pruned() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let all = controllers(1, 3, IdStyle::Readable, 51);
    let _fleet = start_fleet(&broker.url(), &all, sim_config((50, 100), 0.0, 51)).await;
    let fw = ws.firmware("fw.bin", 2_000, 51);
    let csv = ws.targets_csv("fleet.csv", &all);
    let out = ws
        .run(
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
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();

    // A dry run by default: nothing goes.
    let plan = ws.run(None, &["prune", "--before", &tomorrow], WAIT).await;
    assert_eq!(plan.code, Some(0), "{}", plan.describe());
    assert!(
        plan.stdout
            .contains("would remove 1 finished deployments (3 targets)"),
        "{}",
        plan.stdout
    );
    assert_eq!(ws.history().deployment_count(), 1);

    // Refused in one line, nothing removed.
    let bad = ws
        .run(None, &["prune", "--before", "soon", "--yes"], WAIT)
        .await;
    assert_eq!(bad.code, Some(2), "{}", bad.describe());
    assert_eq!(bad.stderr_lines().len(), 1, "{}", bad.stderr);
    let taken = ws.path("taken.sqlite");
    std::fs::write(&taken, b"something").unwrap();
    let exists = ws
        .run(
            None,
            &[
                "prune",
                "--before",
                &tomorrow,
                "--archive",
                taken.to_str().unwrap(),
                "--yes",
            ],
            WAIT,
        )
        .await;
    assert_eq!(exists.code, Some(2), "{}", exists.describe());
    assert!(
        exists.stderr.contains("exists already"),
        "{}",
        exists.stderr
    );
    assert_eq!(ws.history().deployment_count(), 1);

    let archive = ws.path("archive.sqlite");
    let done = ws
        .run(
            None,
            &[
                "prune",
                "--before",
                &tomorrow,
                "--archive",
                archive.to_str().unwrap(),
                "--yes",
                "--json",
            ],
            WAIT,
        )
        .await;
    assert_eq!(done.code, Some(0), "{}", done.describe());
    let report = &done.json_lines()[0];
    assert_eq!(report["event"], "pruned", "{report}");
    assert_eq!(report["report"]["removed"]["deployments"], 1, "{report}");
    assert_eq!(report["report"]["removed"]["targets"], 3, "{report}");
    assert_eq!(ws.history().deployment_count(), 0);

    let mut on_archive = std::process::Command::new(BIN);
    on_archive
        .env_remove("STOREFLEET_DB")
        .arg("--db")
        .arg(&archive)
        .args(["deployments", "--json"]);
    let listed = Running::spawn(on_archive).wait(WAIT).await;
    assert_eq!(listed.code, Some(0), "{}", listed.describe());
    let rows = listed.json_lines();
    assert_eq!(rows.len(), 1, "{}", listed.stdout);
    assert_eq!(rows[0]["targets"], 3);
    assert_eq!(rows[0]["counts"]["completed"], 3);
}
