//! Matching inbound messages to targets: unknown deployments and targets, spoofed or
//! misplaced correlation ids, our own echoes and other operators' commands.

use super::support::*;
use crate::engine::{
    CommandRole, InboundOutcome, ObservedCommand, RejectReason, TargetRef, TargetStatus,
};
use crate::protocol::{Event, EventType};
use TargetStatus::*;

#[test]
fn reply_for_unknown_deployment_is_rejected() {
    let mut run = Run::sent(1);
    let mut cmd = run.updates[0].clone();
    cmd.deployment_id = id("someone-elses");
    let h = run.inbound(&ack(&cmd), at(2_000));
    assert_eq!(h.outcome, rejected(RejectReason::UnknownDeployment));
    assert_eq!(h.outcome.code(), "unknown_deployment");
    assert!(h.effects.is_empty());
    assert_eq!(run.status(0), Sent);
}

#[test]
fn reply_from_unknown_target_is_rejected() {
    let mut run = Run::sent(1);
    for (store, controller) in [("s0", "c99"), ("s9", "c0")] {
        let mut cmd = run.updates[0].clone();
        cmd.store_id = id(store);
        cmd.controller_id = id(controller);
        let h = run.inbound(&completed(&cmd), at(2_000));
        assert_eq!(h.outcome, rejected(RejectReason::UnknownTarget));
    }
    assert_eq!(run.status(0), Sent);
}

#[test]
fn ack_with_unknown_correlation_id_is_rejected() {
    let mut run = Run::sent(1);
    let msg = reply_with(
        &run.updates[0].clone(),
        EventType::UpdateFirmwareAck,
        &id("made-up"),
    );
    let h = run.inbound(&msg, at(2_000));
    assert_eq!(h.outcome, rejected(RejectReason::UnknownCorrelationId));
    assert_eq!(run.status(0), Sent);
}

#[test]
fn cancel_ack_with_unknown_correlation_id_is_rejected() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let msg = reply_with(
        &run.cancel_cmd(0).clone(),
        EventType::CancelUpdateFirmwareAck,
        &id("made-up"),
    );
    let h = run.inbound(&msg, at(2_000));
    assert_eq!(h.outcome, rejected(RejectReason::UnknownCorrelationId));
    assert_eq!(run.status(0), CancelRequested);
}

#[test]
fn ack_with_correlation_id_of_another_target_is_rejected() {
    let mut run = Run::sent(2);
    let other = run.updates[1].correlation_id.clone();
    let msg = reply_with(
        &run.updates[0].clone(),
        EventType::UpdateFirmwareAck,
        &other,
    );
    let h = run.inbound(&msg, at(2_000));
    assert_eq!(
        h.outcome,
        rejected(RejectReason::CorrelationIdOfOtherTarget)
    );
    assert_eq!(run.statuses(), vec![Sent, Sent]);
}

#[test]
fn report_with_correlation_id_of_another_target_is_rejected() {
    let mut run = Run::sent(2);
    let other = run.updates[1].correlation_id.clone();
    for event in [
        EventType::UpdateFirmwareCompleted,
        EventType::UpdateFirmwareFailed,
    ] {
        let msg = reply_with(&run.updates[0].clone(), event, &other);
        let h = run.inbound(&msg, at(2_000));
        assert_eq!(
            h.outcome,
            rejected(RejectReason::CorrelationIdOfOtherTarget)
        );
    }
    assert_eq!(run.statuses(), vec![Sent, Sent]);
}

#[test]
fn correlation_id_of_another_deployment_is_rejected() {
    let mut run = Run::sent(1);
    let fx = run
        .engine
        .create(spec("dep-2", keys(1)), at(0))
        .expect("second deployment");
    // Same target, other deployment's correlation id, this deployment's id.
    let foreign = fx.commands[0].correlation_id.clone();
    let msg = reply_with(
        &run.updates[0].clone(),
        EventType::UpdateFirmwareAck,
        &foreign,
    );
    let h = run.inbound(&msg, at(2_000));
    assert_eq!(
        h.outcome,
        rejected(RejectReason::CorrelationIdOfOtherTarget)
    );
}

#[test]
fn update_ack_carrying_the_cancel_correlation_id_is_rejected() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let cancel_id = run.cancel_cmd(0).correlation_id.clone();
    let msg = reply_with(
        &run.updates[0].clone(),
        EventType::UpdateFirmwareAck,
        &cancel_id,
    );
    let h = run.inbound(&msg, at(2_000));
    assert_eq!(
        h.outcome,
        rejected(RejectReason::CorrelationIdOfOtherCommand)
    );
}

#[test]
fn cancel_ack_carrying_the_update_correlation_id_is_rejected() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let h = run.inbound(&cancel_ack(&run.updates[0].clone()), at(2_000));
    assert_eq!(
        h.outcome,
        rejected(RejectReason::CorrelationIdOfOtherCommand)
    );
    assert_eq!(run.status(0), CancelRequested);
}

#[test]
fn own_update_echo_is_recognised() {
    let mut run = Run::new(1);
    let cmd = run.updates[0].clone();
    let h = run.inbound(&echo(&cmd), at(900));
    assert_eq!(
        h.outcome,
        InboundOutcome::OwnEcho {
            target: TargetRef {
                deployment_id: id("dep-1"),
                store_id: id("s0"),
                controller_id: id("c0"),
                attempt: 1
            },
            role: CommandRole::Update
        }
    );
    assert!(h.effects.is_empty());
    assert_eq!(run.status(0), Queued, "an echo is not a PUBACK");
}

#[test]
fn own_cancel_echo_is_recognised() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let h = run.inbound(&echo(&run.cancel_cmd(0).clone()), at(1_600));
    assert!(matches!(
        h.outcome,
        InboundOutcome::OwnEcho {
            role: CommandRole::Cancel,
            ..
        }
    ));
    assert_eq!(run.status(0), CancelRequested);
}

#[test]
fn command_reusing_our_correlation_id_elsewhere_is_rejected() {
    let mut run = Run::sent(2);
    let mut forged = run.updates[0].clone();
    forged.controller_id = run.updates[1].controller_id.clone();
    forged.store_id = run.updates[1].store_id.clone();
    let h = run.inbound(&echo(&forged), at(1_500));
    assert_eq!(h.outcome, rejected(RejectReason::CorrelationIdReused));
    // Same target but the other kind of command.
    let as_cancel = reply(&run.updates[0].clone(), EventType::CancelUpdateFirmware);
    let h = run.inbound(&as_cancel, at(1_500));
    assert_eq!(h.outcome, rejected(RejectReason::CorrelationIdReused));
    assert_eq!(run.statuses(), vec![Sent, Sent]);
}

#[test]
fn another_operators_update_is_observed() {
    let mut run = Run::sent(1);
    let msg = message(
        &id("s7"),
        &id("c7"),
        &id("their-correlation"),
        Event::UpdateFirmware(firmware().update_for(&id("their-deployment"))),
    );
    let h = run.inbound(&wire(&msg.envelope), at(1_500));
    assert_eq!(
        h.outcome,
        InboundOutcome::Observed(ObservedCommand {
            deployment_id: id("their-deployment"),
            store_id: id("s7"),
            controller_id: id("c7"),
            correlation_id: id("their-correlation"),
            role: CommandRole::Update,
            firmware: Some(firmware().update_for(&id("their-deployment"))),
            known_deployment: false,
        })
    );
    assert_eq!(h.outcome.code(), "observed");
    assert!(h.effects.is_empty());
}

#[test]
fn foreign_cancel_of_our_deployment_is_observed_and_not_adopted() {
    let mut run = Run::sent(1);
    let msg = message(
        &id("s0"),
        &id("c0"),
        &id("other-process"),
        Event::CancelUpdateFirmware {
            deployment_id: id("dep-1"),
        },
    );
    let h = run.inbound(&msg, at(1_500));
    let InboundOutcome::Observed(observed) = h.outcome else {
        panic!("not observed: {:?}", h.outcome);
    };
    assert!(observed.known_deployment);
    assert_eq!(observed.role, CommandRole::Cancel);
    assert_eq!(observed.firmware, None);
    assert_eq!(run.status(0), Sent);
    // Its ack answers a command we did not send.
    let h = run.inbound(
        &reply_with(
            &run.updates[0].clone(),
            EventType::CancelUpdateFirmwareAck,
            &id("other-process"),
        ),
        at(1_600),
    );
    assert_eq!(h.outcome, rejected(RejectReason::UnknownCorrelationId));
}
