//! `deploy --skip-current` (issue 14): controllers the inventory says already run the
//! version are left out, and the deployment says how many; when all are current, nothing is
//! made and the refusal says why.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use storefleet::sim::IdStyle;

fn deploy<'a>(fw: &'a FirmwareFile, csv: &'a str, skip: bool) -> Vec<&'a str> {
    let mut args = vec![
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
    ];
    if skip {
        args.push("--skip-current");
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_already_on_the_version_are_left_out() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let all = controllers(1, 4, IdStyle::Readable, 31);
    let _fleet = start_fleet(&broker.url(), &all, sim_config((50, 100), 0.0, 31)).await;
    let fw = ws.firmware("fw.bin", 2_000, 31);
    let first = ws.targets_csv("first.csv", &all[..3]);
    let every = ws.targets_csv("every.csv", &all);

    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(&fw, first.to_str().unwrap(), false),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());

    // Three of the four run 3.1.0 now: only the fourth gets a command.
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(&fw, every.to_str().unwrap(), true),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines = out.json_lines();
    assert_eq!(lines[0]["skipped_current"], 3, "{}", lines[0]);
    assert_eq!(lines[0]["targets"], 1, "{}", lines[0]);
    let id = lines[0]["deployment_id"].as_str().unwrap().to_owned();
    let sent = ws.history().transitions_by_target(&id);
    let sent: Vec<&str> = sent.keys().map(|(_, c)| c.as_str()).collect();
    assert_eq!(sent, [all[3].controller_id.as_str()]);

    // Without the flag the same list goes to all four; with it and only current ones,
    // nothing is made.
    let before = ws.history().deployment_count();
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy(&fw, first.to_str().unwrap(), true),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr
            .contains("every chosen controller already runs 3.1.0"),
        "{}",
        out.describe()
    );
    assert_eq!(ws.history().deployment_count(), before);
}
