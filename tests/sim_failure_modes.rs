//! Each way a simulated controller can end an update (download problems, flash failures,
//! silence, hostile input) ends in the right message, through mosquitto and through the
//! embedded broker.

#[macro_use]
mod sim_support;

use std::time::Duration;

use sim_support::rig::rig;
use sim_support::{Firmware, TestBroker, count, errors, md5, of};
use storefleet::protocol::{Id, TopicAddress, TopicKind};
use storefleet::sim::{Behaviour, Outcome};

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

on_both_brokers!(
    checksum_mismatch_fails_with_a_checksum_reason,
    wrong_size_and_missing_file_fail_with_reasons,
    fail_rate_one_fails_with_an_error_list,
    silent_controller_never_answers,
    silent_rate_one_makes_every_controller_silent,
    controllers_remember_their_firmware_version,
    malformed_messages_do_not_crash_the_fleet,
);
