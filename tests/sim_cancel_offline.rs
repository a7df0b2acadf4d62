//! Cancels, reboots, offline spells and overlapping commands end in the right messages,
//! through mosquitto and through the embedded broker.

#[macro_use]
mod sim_support;

use std::time::{Duration, Instant};

use sim_support::rig::{SLOW_DOWNLOAD, rig};
use sim_support::{TestBroker, count, errors, of};
use storefleet::protocol::{Id, TopicKind};
use storefleet::sim::{Behaviour, DurationRange, Phase};

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
    rig.wait_for_phase(&target, Phase::Flashing).await;
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
    rig.wait_for_phase(&target, Phase::Rebooting).await;
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
    let went = Instant::now();
    rig.fleet
        .go_offline(&target.store_id, &target.controller_id, away)
        .unwrap();
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
    let went = Instant::now();
    rig.fleet
        .go_offline(&target.store_id, &target.controller_id, away)
        .unwrap();
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
    rig.wait_for_phase(&target, Phase::Flashing).await;
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

on_both_brokers!(
    cancel_during_download_is_acked_and_nothing_follows,
    cancel_past_the_point_of_no_return_completes_anyway,
    reboot_mid_update_reports_after_the_reboot,
    offline_controller_answers_nothing_until_back,
    replies_made_while_offline_are_sent_when_back,
    duplicates_are_ignored_and_a_busy_controller_says_so,
);
