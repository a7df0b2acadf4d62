//! Discovery through a real mosquitto: a deployment to simulated controllers puts every one
//! of them in the inventory with its last-seen time, firmware version and last result; a
//! foreign or undecodable message marks its controller seen too.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use serde_json::Value;
use storefleet::sim::IdStyle;

fn now_ms() -> u64 {
    chrono::Utc::now().timestamp_millis() as u64
}

async fn list(ws: &Workspace) -> Vec<Value> {
    let out = ws.run(None, &["fleet", "list", "--json"], WAIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out.json_lines()
}

fn find<'a>(rows: &'a [Value], store: &str, controller: &str) -> Option<&'a Value> {
    rows.iter()
        .find(|r| r["store_id"] == store && r["controller_id"] == controller)
}

async fn deploy(
    ws: &Workspace,
    broker: &Mosquitto,
    fw: &FirmwareFile,
    version: &str,
    targets: &[&str],
) -> (Option<i32>, String) {
    let mut args = vec![
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        version,
        "--serve",
        "127.0.0.1:0",
        "--wait",
        "--json",
        "--ack-timeout",
        "5s",
        "--timeout",
        "20s",
    ];
    args.extend_from_slice(targets);
    let out = ws
        .run(Some(&broker.url()), &args, Duration::from_secs(60))
        .await;
    let lines = out.json_lines();
    let id = lines
        .first()
        .and_then(|l| l["deployment_id"].as_str())
        .unwrap_or_else(|| panic!("no deployment line: {}", out.describe()))
        .to_owned();
    (out.code, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_discover_the_fleet_and_record_firmware_and_results() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(3, 2, IdStyle::Readable, 11);
    // The first store is imported with its names; the others are only ever heard.
    let first_store = ws.targets_csv("first-store.csv", &fleet_list[..2]);
    let out = ws
        .run(
            None,
            &["fleet", "import", first_store.to_str().unwrap()],
            WAIT,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let all = ws.targets_csv("all.csv", &fleet_list);
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((50, 200), 0.0, 11)).await;

    let before = now_ms();
    let fw1 = ws.firmware("fw-2.0.0.bin", 20_000, 1);
    let (code, first) = deploy(
        &ws,
        &broker,
        &fw1,
        "2.0.0",
        &["--targets-csv", all.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, Some(0));
    let after = now_ms();

    let rows = list(&ws).await;
    assert_eq!(rows.len(), 6, "{rows:?}");
    for (i, c) in fleet_list.iter().enumerate() {
        let (store, controller) = key(c);
        let row = find(&rows, &store, &controller)
            .unwrap_or_else(|| panic!("{store}/{controller} missing"));
        let seen = row["last_seen"].as_u64().expect("last_seen");
        assert!((before..=after).contains(&seen), "{row}");
        assert_eq!(row["firmware_version"], "2.0.0", "{row}");
        assert_eq!(row["last_result"], "completed", "{row}");
        assert_eq!(row["last_deployment_id"], first.as_str(), "{row}");
        if i < 2 {
            assert_eq!(row["source"], "imported", "{row}");
            assert_eq!(row["store_name"], c.store_name.as_str());
            assert_eq!(row["controller_name"], c.controller_name.as_str());
        } else {
            assert_eq!(row["source"], "discovered", "{row}");
            assert!(row["controller_name"].is_null(), "{row}");
        }
    }

    // The second store fails its next update: the firmware stays at the last completed
    // version, the last result and deployment follow the failure.
    fleet.shutdown(Duration::from_secs(5)).await;
    let second_store = &fleet_list[2..4];
    let store_id = second_store[0].store_id.to_string();
    let failing = start_fleet(&broker.url(), second_store, sim_config((50, 100), 1.0, 12)).await;
    let fw2 = ws.firmware("fw-2.1.0.bin", 20_000, 2);
    let (code, second) = deploy(&ws, &broker, &fw2, "2.1.0", &["--store", &store_id]).await;
    assert_eq!(
        code,
        Some(3),
        "a failed target ends the deployment incomplete"
    );
    let rows = list(&ws).await;
    assert_eq!(rows.len(), 6);
    for c in &fleet_list {
        let (store, controller) = key(c);
        let row = find(&rows, &store, &controller).unwrap();
        assert_eq!(row["firmware_version"], "2.0.0", "{row}");
        if store == store_id {
            assert_eq!(row["last_result"], "failed", "{row}");
            assert_eq!(row["last_deployment_id"], second.as_str(), "{row}");
            assert!(row["last_seen"].as_u64().unwrap() > after, "{row}");
        } else {
            assert_eq!(row["last_result"], "completed", "{row}");
            assert_eq!(row["last_deployment_id"], first.as_str(), "{row}");
        }
    }
    failing.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_undecodable_messages_mark_their_controllers_seen() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let out = ws
        .run(
            None,
            &["fleet", "add", "x1", "y1", "--controller-name", "Known"],
            WAIT,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());

    let before_connect = cli_connections(&broker.log());
    let watch = ws.spawn(Some(&broker.url()), &["watch", "--json"]);
    wait_for_cli_connection(|| broker.log(), before_connect).await;

    let before = now_ms();
    let other = Publisher::connect(broker.port()).await;
    let body = |event: &str, store: &str, controller: &str| {
        format!(
            r#"{{"version":"1.0.0","event_type":"{event}","timestamp":"2024-01-15T15:30:25+07:00","correlation_id":"550e8400-e29b-41d4-a716-446655440003","controller_id":"{controller}","store_id":"{store}","payload":{{"deployment_id":"7f56308b-3e98-4faf-8a61-ead5d139a5b1","firmware_version":"9.9.9","file_url":"http://example.invalid/f.bin","file_size":779,"checksum":"8a3be389a446bba670da3a33e5506d2e"}}}}"#
        )
    };
    // Not JSON at all, on a known controller's topic.
    other
        .publish("/stores/x1/controllers/y1/ack", "\u{1}garbage{{{")
        .await;
    // Another operator's controller completing another operator's deployment.
    let completed = body("update_firmware_completed", "x2", "y2").replace(
        r#","firmware_version":"9.9.9","file_url":"http://example.invalid/f.bin","file_size":779,"checksum":"8a3be389a446bba670da3a33e5506d2e""#,
        "",
    );
    other
        .publish("/stores/x2/controllers/y2/action", completed)
        .await;
    // Another operator's command: the controller exists, but it said nothing itself.
    other
        .publish(
            "/stores/x3/controllers/y3/action",
            body("update_firmware", "x3", "y3"),
        )
        .await;
    // A topic whose store id breaks the id rules: nobody to discover.
    let long = "s".repeat(200);
    other
        .publish(&format!("/stores/{long}/controllers/y4/ack"), "{}")
        .await;

    let deadline = Instant::now() + WAIT;
    let rows = loop {
        let rows = list(&ws).await;
        let heard = |s: &str, c: &str| find(&rows, s, c).is_some_and(|r| !r["last_seen"].is_null());
        // The bad topic was published last: once it is recorded, everything before is.
        let all_recorded = ws
            .history()
            .inbound()
            .iter()
            .any(|m| m.topic.contains(&long));
        if all_recorded
            && heard("x1", "y1")
            && heard("x2", "y2")
            && find(&rows, "x3", "y3").is_some()
        {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "not discovered in time: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let after = now_ms();
    watch.interrupt();
    let out = watch.wait(Duration::from_secs(10)).await;
    assert_eq!(out.code, Some(0), "watch ends cleanly: {}", out.describe());

    let x1 = find(&rows, "x1", "y1").unwrap();
    assert_eq!(
        x1["source"], "manual",
        "traffic never downgrades a source: {x1}"
    );
    assert_eq!(x1["controller_name"], "Known");
    for row in [x1, find(&rows, "x2", "y2").unwrap()] {
        let seen = row["last_seen"].as_u64().unwrap();
        assert!((before..=after).contains(&seen), "{row}");
    }
    let x2 = find(&rows, "x2", "y2").unwrap();
    assert_eq!(x2["source"], "discovered");
    let x3 = find(&rows, "x3", "y3").unwrap();
    assert_eq!(x3["source"], "discovered");
    assert!(
        x3["last_seen"].is_null(),
        "a command to it is not a message from it: {x3}"
    );
    assert_eq!(rows.len(), 3, "the bad topic discovered nobody: {rows:?}");
    // The undecodable message is in the history, with its rejection.
    let inbound = ws.history().inbound();
    assert!(
        inbound
            .iter()
            .any(|m| m.topic == "/stores/x1/controllers/y1/ack"),
        "{} inbound messages",
        inbound.len()
    );
}
