//! Each way a simulated controller can behave ends in the right message, through mosquitto
//! and through the embedded broker.

mod sim_support;

use std::time::{Duration, Instant};

use sim_support::{
    Driver, Firmware, FirmwareServer, TestBroker, count, errors, firmware_bytes, md5, of,
    unique_prefix,
};
use storefleet::protocol::{Id, TopicAddress, TopicKind};
use storefleet::sim::{
    Behaviour, ControllerInfo, DurationRange, Fleet, FleetShape, IdStyle, Outcome, Phase,
    SimConfig, generate_fleet,
};

const SLOW_DOWNLOAD: Duration = Duration::from_millis(1500);

struct Rig {
    fleet: Fleet,
    driver: Driver,
    server: FirmwareServer,
    targets: Vec<ControllerInfo>,
    fw: Firmware,
    // Last: the broker outlives the clients.
    _broker: TestBroker,
}

async fn rig(broker: TestBroker, name: &str, tweak: impl FnOnce(&mut SimConfig)) -> Rig {
    let prefix = unique_prefix(name);
    let server = FirmwareServer::start(vec![
        ("good.bin", firmware_bytes(32 * 1024, 1), Duration::ZERO),
        ("slow.bin", firmware_bytes(32 * 1024, 2), SLOW_DOWNLOAD),
    ])
    .await;
    let fw = server.firmware("good.bin", "2.0.0");
    let targets = generate_fleet(&FleetShape {
        stores: 1,
        controllers_per_store: 3,
        id_style: IdStyle::Readable,
        seed: 3,
    });
    let mut config = SimConfig {
        flash_time: DurationRange {
            min: Duration::from_millis(50),
            max: Duration::from_millis(150),
        },
        prefix: prefix.clone(),
        seed: 3,
        ..SimConfig::default()
    };
    tweak(&mut config);
    let fleet = Fleet::start(&broker.url(), targets.clone(), config)
        .await
        .expect("fleet connects");
    let driver = Driver::connect(&broker.url(), &prefix).await;
    Rig {
        fleet,
        driver,
        server,
        targets,
        fw,
        _broker: broker,
    }
}

impl Rig {
    fn version(&self, target: &ControllerInfo) -> String {
        self.fleet
            .firmware_version(&target.store_id, &target.controller_id)
            .unwrap()
    }

    fn phase(&self, target: &ControllerInfo) -> Phase {
        self.fleet
            .status(&target.store_id, &target.controller_id)
            .unwrap()
            .phase
    }

    /// Waits until `target` has sent a reply of this kind; returns when it arrived.
    async fn reply(
        &mut self,
        target: &ControllerInfo,
        event_type: &str,
        within: Duration,
    ) -> Instant {
        let t = target.clone();
        let got = self
            .driver
            .collect(within, |seen| !of(seen, &t, event_type).is_empty())
            .await;
        assert!(
            got,
            "no {event_type} from {} within {within:?}",
            t.controller_id
        );
        Instant::now()
    }
}

async fn checksum_mismatch_fails_with_a_checksum_reason(broker: TestBroker) {
    let mut rig = rig(broker, "checksum", |_| {}).await;
    let target = rig.targets[0].clone();
    let wrong = Firmware {
        md5: md5(b"another file"),
        ..rig.fw.clone()
    };
    let deployment = Id::new_v4();
    let correlation = rig.driver.update(&target, &deployment, &wrong).await;
    rig.reply(&target, "update_firmware_failed", Duration::from_secs(10))
        .await;
    let seen = &rig.driver.seen;
    assert_eq!(of(seen, &target, "update_firmware_ack").len(), 1);
    let failed = of(seen, &target, "update_firmware_failed")[0];
    assert_eq!(failed.envelope.correlation_id, correlation);
    assert_eq!(failed.envelope.event.deployment_id(), &deployment);
    let errors = errors(failed);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("checksum"), "{errors:?}");
    assert!(errors[0].contains(wrong.md5.as_str()), "{errors:?}");
    assert_eq!(rig.version(&target), "1.0.0");
    assert_eq!(rig.fleet.stats().download_failures, 1);
}

async fn wrong_size_and_missing_file_fail_with_reasons(broker: TestBroker) {
    let mut rig = rig(broker, "size", |_| {}).await;
    let (a, b) = (rig.targets[0].clone(), rig.targets[1].clone());
    let too_big = Firmware {
        size: rig.fw.size + 1,
        ..rig.fw.clone()
    };
    let missing = Firmware {
        url: format!("{}/nothing-here.bin", rig.server.base),
        ..rig.fw.clone()
    };
    let deployment = Id::new_v4();
    rig.driver.update(&a, &deployment, &too_big).await;
    rig.driver.update(&b, &deployment, &missing).await;
    rig.reply(&a, "update_firmware_failed", Duration::from_secs(10))
        .await;
    rig.reply(&b, "update_firmware_failed", Duration::from_secs(10))
        .await;
    let seen = &rig.driver.seen;
    let size_error = &errors(of(seen, &a, "update_firmware_failed")[0])[0];
    assert!(size_error.contains("size mismatch"), "{size_error}");
    let http_error = &errors(of(seen, &b, "update_firmware_failed")[0])[0];
    assert!(http_error.contains("HTTP 404"), "{http_error}");
}

async fn fail_rate_one_fails_with_an_error_list(broker: TestBroker) {
    let mut rig = rig(broker, "fail", |c| c.fail_rate = 1.0).await;
    let deployment = Id::new_v4();
    for t in &rig.targets {
        rig.driver.update(t, &deployment, &rig.fw).await;
    }
    let n = rig.targets.len();
    let done = rig
        .driver
        .collect(Duration::from_secs(10), |s| {
            count(s, "update_firmware_failed") == n
        })
        .await;
    assert!(done, "{:?}", rig.driver.seen);
    for t in &rig.targets {
        let failed = of(&rig.driver.seen, t, "update_firmware_failed");
        let errors = errors(failed[0]);
        assert!(
            !errors.is_empty() && errors.iter().all(|e| !e.is_empty()),
            "{errors:?}"
        );
        assert_eq!(
            rig.version(t),
            "1.0.0",
            "a failed update keeps the old firmware"
        );
    }
    assert_eq!(count(&rig.driver.seen, "update_firmware_completed"), 0);
    assert_eq!(count(&rig.driver.seen, "update_firmware_ack"), n);
}

async fn silent_controller_never_answers(broker: TestBroker) {
    let mut rig = rig(broker, "silent", |_| {}).await;
    let (quiet, chatty) = (rig.targets[0].clone(), rig.targets[1].clone());
    let silent = Behaviour {
        silent: true,
        ..Behaviour::default()
    };
    rig.fleet
        .set_behaviour(&quiet.store_id, &quiet.controller_id, silent)
        .unwrap();
    let deployment = Id::new_v4();
    rig.driver.update(&quiet, &deployment, &rig.fw).await;
    rig.driver.update(&chatty, &deployment, &rig.fw).await;
    rig.driver.cancel(&quiet, &deployment).await;
    rig.reply(
        &chatty,
        "update_firmware_completed",
        Duration::from_secs(10),
    )
    .await;
    // Well past the time the other controller took for all of it.
    rig.driver
        .collect(Duration::from_millis(700), |_| false)
        .await;
    assert!(
        rig.driver.from(&quiet).is_empty(),
        "{:?}",
        rig.driver.from(&quiet)
    );
    assert_eq!(rig.version(&quiet), "1.0.0");
    assert_eq!(rig.server.downloads("good.bin"), 1);
    assert_eq!(rig.fleet.stats().dropped_silent, 2);
}

async fn silent_rate_one_makes_every_controller_silent(broker: TestBroker) {
    let mut rig = rig(broker, "silentrate", |c| c.silent_rate = 1.0).await;
    let deployment = Id::new_v4();
    for t in &rig.targets {
        rig.driver.update(t, &deployment, &rig.fw).await;
    }
    rig.driver
        .collect(Duration::from_millis(1000), |_| false)
        .await;
    assert!(rig.driver.seen.is_empty(), "{:?}", rig.driver.seen);
    assert_eq!(rig.fleet.stats().dropped_silent, rig.targets.len() as u64);
}

async fn cancel_during_download_is_acked_and_nothing_follows(broker: TestBroker) {
    let mut rig = rig(broker, "cancel", |_| {}).await;
    let target = rig.targets[0].clone();
    let slow = rig.server.firmware("slow.bin", "2.0.0");
    let deployment = Id::new_v4();
    rig.driver.update(&target, &deployment, &slow).await;
    rig.reply(&target, "update_firmware_ack", Duration::from_secs(10))
        .await;
    assert_eq!(rig.phase(&target), Phase::Downloading);
    let cancel = rig.driver.cancel(&target, &deployment).await;
    rig.reply(
        &target,
        "cancel_update_firmware_ack",
        Duration::from_secs(10),
    )
    .await;
    let ack = of(&rig.driver.seen, &target, "cancel_update_firmware_ack")[0].clone();
    assert_eq!(ack.envelope.correlation_id, cancel);
    assert_eq!(ack.envelope.event.deployment_id(), &deployment);
    assert_eq!(ack.envelope.address().kind, TopicKind::Ack);
    // Past the slow download plus the longest flash: no outcome ever comes.
    rig.driver
        .collect(SLOW_DOWNLOAD + Duration::from_millis(500), |_| false)
        .await;
    assert_eq!(count(&rig.driver.seen, "update_firmware_completed"), 0);
    assert_eq!(count(&rig.driver.seen, "update_firmware_failed"), 0);
    assert_eq!(rig.version(&target), "1.0.0");
    assert_eq!(rig.phase(&target), Phase::Idle);
}

async fn cancel_past_the_point_of_no_return_completes_anyway(broker: TestBroker) {
    let mut rig = rig(broker, "toolate", |c| {
        c.flash_time = DurationRange::constant(Duration::from_millis(1200));
    })
    .await;
    let (target, idle) = (rig.targets[0].clone(), rig.targets[1].clone());
    let deployment = Id::new_v4();
    rig.driver.update(&target, &deployment, &rig.fw).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.phase(&target) != Phase::Flashing {
        assert!(Instant::now() < deadline, "never started flashing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rig.driver.cancel(&target, &deployment).await;
    // A controller with nothing running acks a cancel: nothing of that deployment runs.
    let idle_cancel = rig.driver.cancel(&idle, &deployment).await;
    rig.reply(
        &target,
        "update_firmware_completed",
        Duration::from_secs(10),
    )
    .await;
    rig.reply(&idle, "cancel_update_firmware_ack", Duration::from_secs(10))
        .await;
    assert!(of(&rig.driver.seen, &target, "cancel_update_firmware_ack").is_empty());
    assert_eq!(
        of(&rig.driver.seen, &idle, "cancel_update_firmware_ack")[0]
            .envelope
            .correlation_id,
        idle_cancel
    );
    assert_eq!(rig.version(&target), "2.0.0");
    assert_eq!(rig.fleet.stats().cancels_too_late, 1);
}

async fn reboot_mid_update_reports_after_the_reboot(broker: TestBroker) {
    let down_for = Duration::from_millis(1200);
    let mut rig = rig(broker, "reboot", |c| {
        c.flash_time = DurationRange::constant(Duration::from_millis(300));
    })
    .await;
    let target = rig.targets[0].clone();
    let rebooting = Behaviour {
        reboot: Some(down_for),
        ..Behaviour::default()
    };
    rig.fleet
        .set_behaviour(&target.store_id, &target.controller_id, rebooting)
        .unwrap();
    let deployment = Id::new_v4();
    rig.driver.update(&target, &deployment, &rig.fw).await;
    let acked = rig
        .reply(&target, "update_firmware_ack", Duration::from_secs(10))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while rig.phase(&target) != Phase::Rebooting {
        assert!(Instant::now() < deadline, "never rebooted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = rig
        .fleet
        .status(&target.store_id, &target.controller_id)
        .unwrap();
    assert!(status.offline, "quiet while rebooting");
    let done = rig
        .reply(
            &target,
            "update_firmware_completed",
            Duration::from_secs(10),
        )
        .await;
    assert!(done - acked >= down_for, "outcome after {:?}", done - acked);
    assert_eq!(rig.version(&target), "2.0.0");
    assert_eq!(rig.fleet.stats().reboots, 1);
}

async fn offline_controller_answers_nothing_until_back(broker: TestBroker) {
    let mut rig = rig(broker, "offline", |_| {}).await;
    let target = rig.targets[0].clone();
    let away = Duration::from_millis(1000);
    rig.fleet
        .go_offline(&target.store_id, &target.controller_id, away)
        .unwrap();
    let went = Instant::now();
    let lost = Id::new_v4();
    rig.driver.update(&target, &lost, &rig.fw).await;
    rig.driver
        .collect(Duration::from_millis(700), |_| false)
        .await;
    assert!(
        rig.driver.from(&target).is_empty(),
        "answered while offline"
    );
    tokio::time::sleep(
        (went + away + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert!(
        rig.driver.from(&target).is_empty(),
        "a lost command stays lost"
    );
    let deployment = Id::new_v4();
    rig.driver.update(&target, &deployment, &rig.fw).await;
    rig.reply(
        &target,
        "update_firmware_completed",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        of(&rig.driver.seen, &target, "update_firmware_ack").len(),
        1
    );
    assert!(
        rig.driver
            .seen
            .iter()
            .all(|i| i.envelope.event.deployment_id() == &deployment)
    );
    assert_eq!(rig.fleet.stats().dropped_offline, 1);
}

async fn replies_made_while_offline_are_sent_when_back(broker: TestBroker) {
    let mut rig = rig(broker, "held", |c| {
        c.flash_time = DurationRange::constant(Duration::from_millis(200));
    })
    .await;
    let target = rig.targets[0].clone();
    let deployment = Id::new_v4();
    rig.driver.update(&target, &deployment, &rig.fw).await;
    rig.reply(&target, "update_firmware_ack", Duration::from_secs(10))
        .await;
    let away = Duration::from_millis(1000);
    rig.fleet
        .go_offline(&target.store_id, &target.controller_id, away)
        .unwrap();
    let went = Instant::now();
    let done = rig
        .reply(
            &target,
            "update_firmware_completed",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        done - went >= away,
        "completion came {:?} after going offline",
        done - went
    );
}

async fn controllers_remember_their_firmware_version(broker: TestBroker) {
    let mut rig = rig(broker, "versions", |_| {}).await;
    let (a, b) = (rig.targets[0].clone(), rig.targets[1].clone());
    let failing = Behaviour {
        outcome: Outcome::Fail,
        ..Behaviour::default()
    };
    rig.fleet
        .set_behaviour(&b.store_id, &b.controller_id, failing)
        .unwrap();
    assert_eq!(rig.version(&a), "1.0.0");
    for version in ["2.0.0", "2.1.0"] {
        let fw = Firmware {
            version: version.to_owned(),
            ..rig.fw.clone()
        };
        let deployment = Id::new_v4();
        rig.driver.update(&a, &deployment, &fw).await;
        rig.driver.update(&b, &deployment, &fw).await;
        let done = rig
            .driver
            .collect(Duration::from_secs(10), |s| {
                s.iter()
                    .filter(|i| i.envelope.event.deployment_id() == &deployment)
                    .filter(|i| !i.event_type().as_str().ends_with("_ack"))
                    .count()
                    == 2
            })
            .await;
        assert!(done);
        assert_eq!(rig.version(&a), version);
        assert_eq!(rig.version(&b), "1.0.0");
    }
    // Errors name the version a failed controller rolled back to, when they mention one.
    for failed in of(&rig.driver.seen, &b, "update_firmware_failed") {
        for e in errors(failed) {
            if e.starts_with("rolled back") {
                assert!(e.ends_with("1.0.0"), "{e}");
            }
        }
    }
}

async fn malformed_messages_do_not_crash_the_fleet(broker: TestBroker) {
    let mut rig = rig(broker, "hostile", |_| {}).await;
    let target = rig.targets[0].clone();
    let action = TopicAddress::new(
        target.store_id.clone(),
        target.controller_id.clone(),
        TopicKind::Action,
    )
    .render(&rig.driver.prefix);
    let ack = TopicAddress::new(
        target.store_id.clone(),
        target.controller_id.clone(),
        TopicKind::Ack,
    )
    .render(&rig.driver.prefix);
    let p = rig.driver.prefix.as_str().to_owned();
    let body = |event: &str, store: &str, payload: &str| {
        format!(
            r#"{{"version":"1.0.0","event_type":"{event}","timestamp":"2024-01-15T15:30:25+07:00","correlation_id":"c1","controller_id":"{}","store_id":"{store}","payload":{payload}}}"#,
            target.controller_id
        )
        .into_bytes()
    };
    let hostile: Vec<(String, Vec<u8>)> = vec![
        (action.clone(), b"not json".to_vec()),
        (action.clone(), vec![0xff, 0xfe, 0x00, 0x80]),
        (action.clone(), Vec::new()),
        (action.clone(), b"[1,2,3]".to_vec()),
        (action.clone(), vec![b'{'; 2 * 1024 * 1024]),
        (action.clone(), b"{\"version\":\"1.0.0\"}".to_vec()),
        (
            action.clone(),
            body(
                "update_firmware",
                target.store_id.as_str(),
                r#"{"deployment_id":"d"}"#,
            ),
        ),
        (
            action.clone(),
            body(
                "update_firmware",
                "someone-else",
                r#"{"deployment_id":"d","firmware_version":"9","file_url":"http://127.0.0.1:1/x","file_size":1,"checksum":"00000000000000000000000000000000"}"#,
            ),
        ),
        (
            action.clone(),
            body(
                "reboot_now",
                target.store_id.as_str(),
                r#"{"deployment_id":"d"}"#,
            ),
        ),
        (
            action.clone(),
            body(
                "update_firmware_completed",
                target.store_id.as_str(),
                r#"{"deployment_id":"d"}"#,
            ),
        ),
        (
            ack.clone(),
            body(
                "update_firmware",
                target.store_id.as_str(),
                r#"{"deployment_id":"d"}"#,
            ),
        ),
        (ack, b"garbage on the ack topic".to_vec()),
        (
            format!("{p}/stores/{}/controllers/unknown/action", target.store_id),
            b"{}".to_vec(),
        ),
        (
            format!("{p}/stores/x/controllers/y/action/extra"),
            b"{}".to_vec(),
        ),
        (format!("{p}/stores"), b"{}".to_vec()),
    ];
    for (topic, body) in hostile {
        rig.driver.publish_raw(topic, body).await;
    }
    // The fleet still works, for this controller and the others.
    let deployment = Id::new_v4();
    for t in &rig.targets {
        rig.driver.update(t, &deployment, &rig.fw).await;
    }
    let n = rig.targets.len();
    let done = rig
        .driver
        .collect(Duration::from_secs(15), |s| {
            count(s, "update_firmware_completed") == n
        })
        .await;
    assert!(done, "fleet: {}", rig.fleet.stats());
    // The driver also hears the hostile (but valid) completion it published itself; the
    // fleet answered only the real deployment.
    let answered_hostile = rig.driver.seen.iter().filter(|i| {
        i.envelope.event.deployment_id() != &deployment
            && i.event_type().as_str() != "update_firmware_completed"
    });
    assert_eq!(answered_hostile.count(), 0, "{:?}", rig.driver.seen);
    assert_eq!(count(&rig.driver.seen, "update_firmware_ack"), n);
    let stats = rig.fleet.stats();
    assert!(stats.malformed >= 9, "{stats}");
    assert_eq!(
        stats.updates, n as u64,
        "no hostile message started an update"
    );
}

async fn duplicates_are_ignored_and_a_busy_controller_says_so(broker: TestBroker) {
    let mut rig = rig(broker, "busy", |c| {
        c.flash_time = DurationRange::constant(Duration::from_millis(800));
    })
    .await;
    let target = rig.targets[0].clone();
    let first = Id::new_v4();
    let first_correlation = rig.driver.update(&target, &first, &rig.fw).await;
    // A QoS 1 redelivery: the same command again.
    rig.driver
        .update_as(&target, &first, &rig.fw, &first_correlation)
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.phase(&target) != Phase::Flashing {
        assert!(Instant::now() < deadline, "never started flashing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = Id::new_v4();
    let busy_correlation = rig.driver.update(&target, &second, &rig.fw).await;
    rig.reply(
        &target,
        "update_firmware_completed",
        Duration::from_secs(10),
    )
    .await;
    let seen = &rig.driver.seen;
    let failed = of(seen, &target, "update_firmware_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].envelope.correlation_id, busy_correlation);
    assert_eq!(failed[0].envelope.event.deployment_id(), &second);
    assert!(
        errors(failed[0])[0].starts_with("busy"),
        "{:?}",
        errors(failed[0])
    );
    let completed = of(seen, &target, "update_firmware_completed");
    assert_eq!(completed[0].envelope.event.deployment_id(), &first);
    let acks = of(seen, &target, "update_firmware_ack");
    assert_eq!(acks.len(), 2, "one ack per distinct command");
    assert_eq!(acks[0].envelope.correlation_id, first_correlation);
    assert_eq!(acks[1].envelope.correlation_id, busy_correlation);
    assert_eq!(rig.fleet.stats().updates, 3);
    assert_eq!(rig.server.downloads("good.bin"), 1);
}

macro_rules! on_both_brokers {
    ($($scenario:ident),* $(,)?) => {
        mod mosquitto {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(TestBroker::mosquitto()).await;
                }
            )*
        }
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(TestBroker::embedded()).await;
                }
            )*
        }
    };
}

on_both_brokers!(
    checksum_mismatch_fails_with_a_checksum_reason,
    wrong_size_and_missing_file_fail_with_reasons,
    fail_rate_one_fails_with_an_error_list,
    silent_controller_never_answers,
    silent_rate_one_makes_every_controller_silent,
    cancel_during_download_is_acked_and_nothing_follows,
    cancel_past_the_point_of_no_return_completes_anyway,
    reboot_mid_update_reports_after_the_reboot,
    offline_controller_answers_nothing_until_back,
    replies_made_while_offline_are_sent_when_back,
    controllers_remember_their_firmware_version,
    malformed_messages_do_not_crash_the_fleet,
    duplicates_are_ignored_and_a_busy_controller_says_so,
);
