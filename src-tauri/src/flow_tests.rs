//! The desktop's own wiring end to end without a window: the connection task on the demo
//! broker (rumqttd) with the simulated fleet, the built-in firmware server, a deployment and
//! its feed, reading it back, and the outbox while offline. Real broker, real SQLite.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use storefleet::engine::TargetStatus;
use storefleet::firmware::Library;
use storefleet::service::ServiceEvent;
use storefleet::sim::{Demo, DemoOptions, DurationRange};
use tauri::ipc::{Channel, InvokeResponseBody};
use tokio::sync::watch;

use crate::DemoInfo;
use crate::connection::Histories;
use crate::connection::{Connection, ConnectionState};
use crate::deployments::{NewDeployment, ServingChoice, TargetRef, load_detail, plan};
use crate::feeds::Feeds;
use crate::serving::Serving;
use storefleet::profiles::Keychain;
use storefleet::profiles::{DEMO_PROFILE_ID, ProfileStore};

async fn demo(dir: &std::path::Path) -> (Demo, DemoInfo) {
    let mut options = DemoOptions::new(dir.join("demo"));
    options.stores = 2;
    options.controllers_per_store = 4;
    options.fail_rate = 0.5;
    options.reboot_rate = 0.0;
    options.flash_time =
        DurationRange::new(Duration::from_millis(100), Duration::from_millis(300)).unwrap();
    let demo = Demo::start(&options).await.unwrap();
    let info = DemoInfo {
        broker_url: demo.broker.url(),
        stores: 2,
        controllers: 8,
        firmware_version: demo.firmware.version.clone(),
        firmware_path: demo.firmware.path.display().to_string(),
        fleet_csv: demo.fleet_csv.display().to_string(),
        history_path: dir
            .join("demo")
            .join("history.sqlite")
            .display()
            .to_string(),
    };
    (demo, info)
}

fn histories(dir: &std::path::Path) -> Histories {
    Histories {
        real: dir.join("history.sqlite"),
        demo: dir.join("demo").join("history.sqlite"),
    }
}

async fn wait_state(connection: &Connection, state: ConnectionState) {
    let mut status = connection.status();
    tokio::time::timeout(
        Duration::from_secs(20),
        status.wait_for(|s| s.state == state),
    )
    .await
    .unwrap_or_else(|_| panic!("never {state:?}: {:?}", connection.status().borrow()))
    .unwrap();
}

fn request(artifact_id: i64, demo: &Demo, store: usize) -> NewDeployment {
    let stores: Vec<_> = {
        let mut s: Vec<_> = demo
            .fleet
            .controllers()
            .map(|c| c.store_id.clone())
            .collect();
        s.dedup();
        s
    };
    NewDeployment {
        artifact_id,
        serving: ServingChoice::BuiltIn,
        targets: demo
            .fleet
            .controllers()
            .filter(|c| c.store_id == stores[store])
            .map(|c| TargetRef {
                store_id: c.store_id.to_string(),
                controller_id: c.controller_id.to_string(),
            })
            .collect(),
        ack_timeout_secs: 10,
        completion_timeout_secs: 30,
        policy: None,
        schedule: None,
        skip_current: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_runs_on_the_demo_fleet_then_one_waits_in_the_outbox_offline() {
    let dir = tempfile::tempdir().unwrap();
    let histories = histories(dir.path());
    // Demo mode works on the demo's own history.
    let history = histories.demo.clone();
    let (demo, info) = demo(dir.path()).await;
    let (_demo_tx, demo_rx) = watch::channel(Some(Ok(info)));
    let connection = Connection::start(
        histories.clone(),
        ProfileStore::new(dir.path(), Keychain::new()),
        demo_rx,
    );
    let profiles = connection.profiles().await.unwrap();
    assert_eq!(profiles[0].id, DEMO_PROFILE_ID);
    assert!(profiles[0].demo);
    connection.connect(DEMO_PROFILE_ID.into()).await.unwrap();
    wait_state(&connection, ConnectionState::Connected).await;

    let artifact = Library::open(&history)
        .unwrap()
        .add(
            &demo.firmware.path,
            &demo.firmware.version,
            None,
            &mut |_| {},
        )
        .unwrap();
    let serving = Serving::start(&history, Some("127.0.0.1:0".parse().unwrap()), None).await;
    let inventory = storefleet::history::History::open(&history).unwrap();
    let imported = crate::fleet::import_csv(&inventory, &demo.fleet_csv).unwrap();
    assert_eq!((imported.added, imported.updated), (8, 0));
    let first = request(artifact.id, &demo, 0);
    let started = plan(&history, &serving, &first).unwrap();
    assert_eq!(
        (started.review.target_count, started.review.store_count),
        (4, 1)
    );
    assert_eq!(started.review.waves, vec![4]);
    assert_eq!(
        started.review.warnings,
        vec!["4 targets were never seen on the broker".to_owned()]
    );
    assert_eq!(started.review.checksum, demo.firmware.md5.as_str());
    assert!(
        started.review.file_url.starts_with("http://127.0.0.1:"),
        "{}",
        started.review.file_url
    );
    serving.publish(&started.deployable).unwrap();

    // The window's feed for this deployment, collected as the JSON it would receive.
    let received = Arc::new(StdMutex::new(Vec::<serde_json::Value>::new()));
    let sink = Arc::clone(&received);
    let channel = Channel::new(move |body| {
        if let InvokeResponseBody::Json(text) = body {
            sink.lock()
                .unwrap()
                .push(serde_json::from_str(&text).unwrap());
        }
        Ok(())
    });
    let id = started.spec.deployment_id.clone();
    let feeds = Feeds::default();
    feeds.deployment(&connection, id.clone(), channel);
    let activity = Arc::new(StdMutex::new(Vec::<serde_json::Value>::new()));
    let sink = Arc::clone(&activity);
    feeds.activity(
        &connection,
        Channel::new(move |body| {
            if let InvokeResponseBody::Json(text) = body {
                let batch: serde_json::Value = serde_json::from_str(&text).unwrap();
                sink.lock()
                    .unwrap()
                    .extend(batch["messages"].as_array().unwrap().clone());
            }
            Ok(())
        }),
    );
    let mut events = connection.events();
    let summary = connection
        .service()
        .await
        .unwrap()
        .deploy(started.spec)
        .await
        .unwrap();
    assert_eq!(summary.total, 4);

    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(ServiceEvent::Finished(s)) = events.recv().await
                && s.deployment_id == id
            {
                break;
            }
        }
    })
    .await
    .expect("the deployment finishes");

    let detail = load_detail(&connection, &id).await.unwrap();
    assert!(detail.summary.finished);
    assert_eq!(
        detail.summary.counts.completed + detail.summary.counts.failed,
        4
    );
    for t in &detail.targets {
        match t.status {
            TargetStatus::Failed => assert!(!t.errors.is_empty(), "{t:?}"),
            TargetStatus::Completed => assert!(t.errors.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    }
    // The inventory learnt each controller's result (and version, where it completed).
    for t in &detail.targets {
        let c = inventory
            .controller(t.store_id.as_str(), t.controller_id.as_str())
            .unwrap()
            .unwrap();
        assert_eq!(c.last_result, Some(t.status));
        if t.status == TargetStatus::Completed {
            assert_eq!(
                c.firmware_version.as_deref(),
                Some(demo.firmware.version.as_str())
            );
        }
    }
    // The feed sent transitions in batches, and a summary that says finished.
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let got = received.lock().unwrap();
        let transitions: usize = got
            .iter()
            .filter(|m| m["kind"] == "transitions")
            .map(|m| m["transitions"].as_array().unwrap().len())
            .sum();
        assert!(
            transitions >= 4 * 3,
            "queued->sent->acknowledged->terminal: {transitions}"
        );
        let last = got.iter().rev().find(|m| m["kind"] == "summary").unwrap();
        assert_eq!(last["summary"]["finished"], true);
    }

    // The activity feed carried the raw messages both ways.
    {
        let got = activity.lock().unwrap();
        let of = |dir: &str| got.iter().filter(|m| m["direction"] == dir).count();
        assert!(of("out") >= 4, "4 commands out: {}", of("out"));
        assert!(of("in") >= 8, "acks and results in: {}", of("in"));
    }

    // The connected service holds the finished deployment, and lets go of it when asked (a
    // prune is coming); still in the history, it is read from there.
    let held = connection
        .service()
        .await
        .unwrap()
        .forget_finished_before(storefleet::engine::Millis(u64::MAX))
        .await
        .unwrap();
    assert_eq!(held, 1);
    assert!(
        load_detail(&connection, &id)
            .await
            .unwrap()
            .summary
            .finished
    );

    // Offline: a deployment is recorded and its commands wait in the outbox.
    let status = connection.disconnect().await.unwrap();
    assert_eq!(status.state, ConnectionState::Disconnected);
    let offline = plan(&history, &serving, &request(artifact.id, &demo, 1)).unwrap();
    let offline_id = offline.spec.deployment_id.clone();
    connection
        .service()
        .await
        .unwrap()
        .deploy(offline.spec)
        .await
        .unwrap();
    let mut status = connection.status();
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.outbox_waiting == 4),
    )
    .await
    .expect("4 commands wait in the outbox")
    .unwrap();
    // The built-in server cannot be moved or stopped under a deployment that downloads from it.
    let before = serving.status();
    let off = storefleet::firmware::ServerSettings {
        enabled: false,
        ..before.settings.clone()
    };
    let refused = serving.configure(off.clone()).await.unwrap_err();
    assert_eq!(refused.code, crate::error::ErrorCode::Conflict, "{refused}");
    assert!(refused.message.contains(offline_id.as_str()), "{refused}");
    assert_eq!(serving.status().base_url, before.base_url);
    // Read back from the history while offline: the finished one still shows.
    assert!(
        load_detail(&connection, &id)
            .await
            .unwrap()
            .summary
            .finished
    );
    // Cancelling withdraws what never left.
    let cancelled = connection
        .service()
        .await
        .unwrap()
        .cancel(offline_id)
        .await
        .unwrap();
    assert_eq!(cancelled.counts.cancelled, 4);
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.outbox_waiting == 0),
    )
    .await
    .expect("the outbox empties")
    .unwrap();

    // Nothing downloads now: the server can be turned off, and on again elsewhere.
    let stopped = serving.configure(off.clone()).await.unwrap();
    assert!(!stopped.running && stopped.base_url.is_none());
    assert_eq!(stopped.reach, storefleet::firmware::ServerReach::Off);
    let refused = plan(&history, &serving, &request(artifact.id, &demo, 1));
    assert!(refused.is_err(), "no built-in URL while the server is off");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let moved = serving
        .configure(storefleet::firmware::ServerSettings {
            enabled: true,
            bind_address: "127.0.0.1".into(),
            port,
            advertise: None,
        })
        .await
        .unwrap();
    assert!(moved.running, "{moved:?}");
    assert_eq!(moved.base_url, Some(format!("http://127.0.0.1:{port}")));
    assert_eq!(moved.reach, storefleet::firmware::ServerReach::ThisMachine);
    let bad = serving
        .configure(storefleet::firmware::ServerSettings {
            bind_address: "store laptop".into(),
            ..moved.settings.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code, crate::error::ErrorCode::InvalidInput, "{bad}");
    assert!(
        serving.status().running,
        "a refused change leaves the server as it was"
    );

    // Pruning: the service lets go of both finished deployments first, then they leave the
    // history; a retry of one afterwards finds nothing instead of writing to a ghost.
    let tomorrow = storefleet::engine::Millis(
        u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
            + 86_400_000,
    );
    let service = connection.service().await.unwrap();
    // This offline service holds none (it drives nothing); the connected one held the first.
    service.forget_finished_before(tomorrow).await.unwrap();
    let report = storefleet::history::History::open(&history)
        .unwrap()
        .prune(tomorrow, None)
        .unwrap();
    assert_eq!(report.removed.deployments, 2, "{report:?}");
    assert!(service.retry(id.clone()).await.is_err());
    assert!(
        storefleet::history::History::open(&history)
            .unwrap()
            .deployments()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_shows_reconnecting_with_a_countdown() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo_tx, demo_rx) = watch::channel(Some(Err(crate::BoundaryError::internal(
        "no demo in this test",
    ))));
    let connection = Connection::start(
        histories(dir.path()),
        ProfileStore::new(dir.path(), Keychain::new()),
        demo_rx,
    );
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let profile = connection
        .save_profile(storefleet::profiles::ProfileInput {
            id: None,
            name: "Nowhere".into(),
            host: "127.0.0.1".into(),
            port,
            tls: false,
            ca_file: None,
            client_cert: None,
            client_key: None,
            username: None,
            topic_prefix: String::new(),
            password: None,
            clear_password: false,
        })
        .await
        .unwrap();
    connection.connect(profile.id.clone()).await.unwrap();
    wait_state(&connection, ConnectionState::Reconnecting).await;
    let status = connection.status().borrow().clone();
    assert_eq!(status.profile_id.as_deref(), Some(profile.id.as_str()));
    assert_eq!(status.broker_url, Some(format!("mqtt://127.0.0.1:{port}")));
    assert!(status.attempt.is_some_and(|a| a >= 1));
    assert!(status.last_error.is_some());
    let at = status.next_attempt_at.unwrap();
    assert!(
        at + 1_000 >= storefleet::service::now_millis().as_u64(),
        "countdown in the future: {at}"
    );

    let busy = connection
        .remove_profile(profile.id.clone())
        .await
        .unwrap_err();
    assert_eq!(busy.code, crate::ErrorCode::Conflict);
    connection.disconnect().await.unwrap();
    connection.remove_profile(profile.id).await.unwrap();
    assert!(
        connection.profiles().await.unwrap().is_empty(),
        "no demo running, no profiles"
    );
}

/// A deployment made offline for a real broker stays in the real history's outbox while
/// the app runs demo mode: the demo runs on its own history, and nothing real is ever sent
/// to the demo broker, even to controllers that answer there under the same ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_deployment_made_offline_stays_queued_while_the_app_runs_the_demo() {
    use storefleet::engine::{DeploymentSpec, Firmware, TargetKey, Timeouts};
    use storefleet::history::{BrokerIdentity, History};
    use storefleet::link::BrokerAddress;
    use storefleet::protocol::{Id, Md5Hex, TopicPrefix};
    use storefleet::service::{Service, ServiceConfig};

    let dir = tempfile::tempdir().unwrap();
    let histories = histories(dir.path());
    let (demo, info) = demo(dir.path()).await;
    // The real store broker, down (a loopback port nobody listens on).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let real_broker: BrokerAddress = format!("mqtt://127.0.0.1:{port}").parse().unwrap();
    let offline = Service::start(ServiceConfig {
        history: histories.real.clone(),
        broker: None,
        topic_prefix: TopicPrefix::default(),
        identity: Some(BrokerIdentity::new(&real_broker, &TopicPrefix::default())),
    })
    .await
    .unwrap();
    let targets: Vec<TargetKey> = demo
        .fleet
        .controllers()
        .map(|c| TargetKey::new(c.store_id.clone(), c.controller_id.clone()))
        .collect();
    let id = Id::new_v4();
    offline
        .deploy(DeploymentSpec {
            deployment_id: id.clone(),
            firmware: Firmware {
                firmware_version: "9.9.9".into(),
                file_url: "http://127.0.0.1:9/fw.bin".into(),
                file_size: 1,
                checksum: Md5Hex::parse("0cc175b9c0f1b6a831c399e269772661").unwrap(),
            },
            targets,
            timeouts: Timeouts {
                ack: Duration::from_secs(5),
                completion: Duration::from_secs(10),
            },
            policy: Default::default(),
        })
        .await
        .unwrap();
    offline.shutdown().await;

    let (_demo_tx, demo_rx) = watch::channel(Some(Ok(info)));
    let connection = Connection::start(
        histories.clone(),
        ProfileStore::new(dir.path(), Keychain::new()),
        demo_rx,
    );
    let status = connection.connect(DEMO_PROFILE_ID.into()).await.unwrap();
    assert_eq!(status.history, crate::connection::HistoryKind::Demo);
    wait_state(&connection, ConnectionState::Connected).await;
    // Several looks at the history: a driver would have taken the deployment over by now.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let real = History::open(&histories.real).unwrap();
    assert_eq!(real.pending_commands_of(id.as_str()).unwrap().len(), 8);
    let summary = real.deployment_summary(&id).unwrap().unwrap();
    assert_eq!(summary.counts.queued, 8, "{:?}", summary.counts);
    let owner = real.ownership(id.as_str()).unwrap().unwrap();
    assert_eq!(
        owner.broker.unwrap().broker,
        format!("mqtt://127.0.0.1:{port}")
    );
    let sandbox = History::open(&histories.demo).unwrap();
    assert!(sandbox.deployment(id.as_str()).unwrap().is_none());
    // The window reads the demo's history while the demo profile is in use.
    assert_eq!(connection.history_path(), histories.demo);
    assert!(
        connection
            .status()
            .borrow()
            .history_path
            .ends_with("history.sqlite")
            && connection.status().borrow().history == crate::connection::HistoryKind::Demo
    );
    connection.disconnect().await.unwrap();
}
