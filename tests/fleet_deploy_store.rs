//! `storefleet deploy --store STORE_ID` against mosquitto and simulated controllers: every
//! known controller of the store is a target, combined with --target without duplicates; a
//! store the inventory does not know is refused before anything is published.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::BTreeSet;
use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use storefleet::sim::IdStyle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_to_a_store_targets_its_known_controllers() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 5);
    let inventory = ws.targets_csv("inventory.csv", &fleet_list);
    let out = ws
        .run(
            None,
            &["fleet", "import", inventory.to_str().unwrap()],
            WAIT,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let spy = Spy::start(broker.port()).await;
    let fleet = start_fleet(&broker.url(), &fleet_list, sim_config((50, 150), 0.0, 5)).await;
    let fw = ws.firmware("fw-3.0.0.bin", 10_000, 3);
    let common = [
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "3.0.0",
        "--serve",
        "127.0.0.1:0",
        "--ack-timeout",
        "5s",
        "--timeout",
        "20s",
    ];

    // Refused: a store nobody knows, and a store id that breaks the rules. Nothing goes out.
    for (store, says) in [("store-0009", "store-0009"), ("a/b", "--store")] {
        let mut args = common.to_vec();
        args.extend(["--target", "store-0001/ctrl-0001-01", "--store", store]);
        let out = ws.run(Some(&broker.url()), &args, WAIT).await;
        assert_eq!(out.code, Some(2), "{}", out.describe());
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
        assert!(lines[0].contains(says), "{}", lines[0]);
    }
    assert_eq!(ws.history().deployment_count(), 0);

    let mut args = common.to_vec();
    args.extend([
        "--target",
        "store-0001/ctrl-0001-02",
        "--store",
        "store-0001",
        "--target",
        "store-0002/ctrl-0002-01",
        "--wait",
        "--json",
    ]);
    let out = ws
        .run(Some(&broker.url()), &args, Duration::from_secs(60))
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines = out.json_lines();
    let id = lines[0]["deployment_id"].as_str().unwrap().to_owned();
    assert_eq!(lines[0]["targets"], 4, "{}", lines[0]);

    // Given targets first, then the store's others, each once.
    let status = ws.status(&id).await;
    let order: Vec<String> = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["store_id"].as_str().unwrap(),
                t["controller_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "store-0001/ctrl-0001-02",
            "store-0002/ctrl-0002-01",
            "store-0001/ctrl-0001-01",
            "store-0001/ctrl-0001-03",
        ]
    );
    assert_eq!(status["counts"]["completed"], 4, "{}", status["counts"]);

    // On the wire: commands to exactly those four controllers, none before this deployment.
    let commanded: BTreeSet<(String, String)> = spy
        .of_type("update_firmware")
        .iter()
        .filter_map(|m| m.target())
        .collect();
    let expected: BTreeSet<(String, String)> = order
        .iter()
        .map(|t| {
            let (s, c) = t.split_once('/').unwrap();
            (s.to_owned(), c.to_owned())
        })
        .collect();
    assert_eq!(commanded, expected);
    assert_eq!(spy.count("update_firmware"), 4, "one command each");
    assert!(
        spy.of_type("update_firmware")
            .iter()
            .all(|m| m.deployment_id().as_deref() == Some(id.as_str()))
    );
    fleet.shutdown(Duration::from_secs(5)).await;
}
