//! What the CLI prints, when the terminal or the reader is not what it expects: a closed pipe
//! ends it quietly with exit 0, and controller text with control characters is escaped on the
//! terminal.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::process::Command;
use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use storefleet::sim::IdStyle;

/// `BIN --db DB ARGS | head -c1` in bash with pipefail: the CLI's own exit status.
fn piped_into_head(ws: &Workspace, args: &[&str]) -> std::process::Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "set -o pipefail; '{BIN}' --db '{}' {} | head -c1 >/dev/null",
        ws.db.display(),
        quoted.join(" ")
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .env_remove("STOREFLEET_BROKER")
        .output()
        .expect("bash runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_cli_quietly_with_exit_0() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    // Enough targets that each output is larger than a pipe's buffer (64 KiB).
    let targets = controllers(40, 50, IdStyle::Uuid, 5);
    let csv = ws.targets_csv("targets.csv", &targets);
    let fw = ws.firmware("fw.bin", 1_000, 5);
    let out = ws
        .run(
            Some(&broker.url()),
            &[
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "1.0.0",
                "--targets-csv",
                csv.to_str().unwrap(),
                "--serve",
                "127.0.0.1:0",
                "--json",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let id = out.json_lines()[0]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for args in [
        vec!["status", id.as_str()],
        vec!["export", id.as_str(), "--format", "csv"],
        vec!["export", id.as_str(), "--format", "jsonl"],
    ] {
        let out = piped_into_head(&ws, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_controllers_are_escaped_on_the_terminal() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let errors = r#","errors":["\u001b[2J\u001b]0;owned\u0007wiped","\u009b31mred"]"#;
    let scripts = vec![Script {
        store_id: "s1".into(),
        controller_id: "c1".into(),
        replies: vec![
            ("ack", reply_body("update_firmware_ack", "s1", "c1", "")),
            (
                "action",
                reply_body("update_firmware_failed", "s1", "c1", errors),
            ),
        ],
    }];
    let _scripted = Scripted::start(broker.port(), scripts).await;
    // `watch` for people (no --json) prints each transition with its errors.
    let watch = ws.spawn(Some(&broker.url()), &["watch"]);
    // Watch tells only what happens after it starts: the deployment waits for its link (on
    // stderr), not for a guessed delay, which a loaded machine outlasts.
    let deadline = std::time::Instant::now() + WAIT;
    while !watch.stderr().contains("broker: Connected") {
        assert!(
            std::time::Instant::now() < deadline,
            "watch never connected: {}",
            watch.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fw = ws.firmware("fw.bin", 1_000, 6);
    let out = ws
        .run(
            Some(&broker.url()),
            &[
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "1.0.0",
                "--target",
                "s1/c1",
                "--serve",
                "127.0.0.1:0",
                "--wait",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(3), "{}", out.describe());
    let deadline = std::time::Instant::now() + WAIT;
    while !watch.stdout().contains("-> failed") {
        assert!(
            std::time::Instant::now() < deadline,
            "watch printed: {}\nand on stderr: {}",
            watch.stdout(),
            watch.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watch.interrupt();
    let watched = watch.wait(WAIT).await;
    let text = &watched.stdout;
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters reached the terminal: {text:?}"
    );
    assert!(
        text.contains(r"\u{1b}[2J\u{1b}]0;owned\u{7}wiped; \u{9b}31mred"),
        "{text}"
    );
}
