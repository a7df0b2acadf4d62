//! Demo mode: files where they belong, and a deployment runs through the embedded broker.

mod sim_support;

use std::time::Duration;

use sim_support::{Driver, FirmwareServer, count};
use storefleet::protocol::{Id, TopicPrefix};
use storefleet::sim::{
    ControllerInfo, DEMO_FIRMWARE_VERSION, DEMO_FLEET_VERSION, Demo, DemoOptions, DurationRange,
    FLEET_CSV_HEADER, Fleet, sample_firmware,
};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn handles_can_live_in_shared_app_state() {
    assert_send_sync::<Fleet>();
    assert_send_sync::<Demo>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_writes_its_files_and_runs_a_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let options = DemoOptions {
        fail_rate: 0.0,
        reboot_rate: 0.0,
        flash_time: DurationRange {
            min: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        ..DemoOptions::new(dir.path().join("demo"))
    };
    let demo = Demo::start(&options).await.expect("demo starts");
    assert!(demo.broker.url().starts_with("mqtt://127.0.0.1:"));

    let csv = std::fs::read_to_string(&demo.fleet_csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(FLEET_CSV_HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r.len() == 4 && r[2].contains(" #")));
    let targets: Vec<ControllerInfo> = demo.fleet.controllers().cloned().collect();
    assert_eq!(rows[0][1], targets[0].controller_id.as_str());

    let bytes = std::fs::read(&demo.firmware.path).unwrap();
    assert_eq!(bytes, sample_firmware());
    assert_eq!(demo.firmware.size, bytes.len() as u64);
    assert_eq!(demo.firmware.md5, sim_support::md5(&bytes));
    assert_eq!(demo.firmware.version, DEMO_FIRMWARE_VERSION);

    let server = FirmwareServer::start(vec![("demo.bin", bytes, Duration::ZERO)]).await;
    let fw = server.firmware("demo.bin", DEMO_FIRMWARE_VERSION);
    let mut driver = Driver::connect(&demo.broker.url(), &TopicPrefix::default()).await;
    let deployment = Id::new_v4();
    for t in &targets {
        assert_eq!(
            demo.fleet
                .firmware_version(&t.store_id, &t.controller_id)
                .unwrap(),
            DEMO_FLEET_VERSION
        );
        driver.update(t, &deployment, &fw).await;
    }
    let done = driver
        .collect(Duration::from_secs(20), |s| {
            count(s, "update_firmware_completed") == targets.len()
        })
        .await;
    assert!(done, "{}", demo.fleet.stats());
    for t in &targets {
        let v = demo.fleet.firmware_version(&t.store_id, &t.controller_id);
        assert_eq!(v.unwrap(), DEMO_FIRMWARE_VERSION);
    }

    // A restart leaves identical files untouched (a registered artifact stays valid).
    let modified = std::fs::metadata(&demo.firmware.path)
        .unwrap()
        .modified()
        .unwrap();
    drop(demo);
    let again = Demo::start(&options).await.expect("demo restarts");
    let after = std::fs::metadata(&again.firmware.path)
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(after, modified);
    assert_ne!(
        again.broker.url(),
        "",
        "a second broker on another free port"
    );
}
