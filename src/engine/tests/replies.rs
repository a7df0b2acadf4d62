//! Applying replies: duplicates, out-of-order and late reports, first report wins.

use super::support::*;
use crate::engine::{RejectReason, TargetStatus, UnchangedReason};
use crate::protocol::EventType;
use TargetStatus::*;

#[test]
fn duplicate_ack_changes_nothing() {
    let mut run = Run::acknowledged(1);
    let h = run.inbound(&ack(&run.updates[0].clone()), at(2_500));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::Duplicate)
    );
    assert!(h.effects.is_empty());
    assert_eq!(
        run.target(0)
            .current
            .update
            .as_ref()
            .and_then(|u| u.acked_at),
        Some(at(2_000))
    );
}

#[test]
fn duplicate_completion_changes_nothing() {
    let mut run = Run::acknowledged(1);
    let cmd = run.updates[0].clone();
    run.inbound(&completed(&cmd), at(3_000));
    let h = run.inbound(&completed(&cmd), at(3_100));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::Duplicate)
    );
    assert_eq!(h.outcome.code(), "duplicate");
    assert_eq!(run.target(0).current.updated_at, at(3_000));
}

#[test]
fn duplicate_failure_changes_nothing() {
    let mut run = Run::sent(1);
    let cmd = run.updates[0].clone();
    run.inbound(&failed(&cmd, &["a"]), at(3_000));
    let h = run.inbound(&failed(&cmd, &["a"]), at(3_100));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::Duplicate)
    );
}

#[test]
fn duplicate_cancel_ack_changes_nothing() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let msg = cancel_ack(&run.cancel_cmd(0).clone());
    run.inbound(&msg, at(2_000));
    let h = run.inbound(&msg, at(2_100));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::Duplicate)
    );
    assert_eq!(run.status(0), Cancelled);
}

#[test]
fn first_report_wins_failed_then_completed() {
    let mut run = Run::acknowledged(1);
    let cmd = run.updates[0].clone();
    run.inbound(&failed(&cmd, &["boom"]), at(3_000));
    let h = run.inbound(&completed(&cmd), at(3_100));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::AlreadyReported)
    );
    assert_eq!(run.status(0), Failed);
    assert_eq!(run.target(0).current.errors, ["boom"]);
}

#[test]
fn first_report_wins_completed_then_failed() {
    let mut run = Run::acknowledged(1);
    let cmd = run.updates[0].clone();
    run.inbound(&completed(&cmd), at(3_000));
    let h = run.inbound(&failed(&cmd, &["late"]), at(3_100));
    assert_eq!(h.outcome.code(), "already_reported");
    assert_eq!(run.status(0), Completed);
    assert!(run.target(0).current.errors.is_empty());
}

#[test]
fn failure_with_different_errors_is_not_a_duplicate() {
    let mut run = Run::sent(1);
    let cmd = run.updates[0].clone();
    run.inbound(&failed(&cmd, &["a"]), at(3_000));
    let h = run.inbound(&failed(&cmd, &["b"]), at(3_100));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::AlreadyReported)
    );
    assert_eq!(run.target(0).current.errors, ["a"]);
}

#[test]
fn cancel_ack_after_completion_changes_nothing() {
    let mut run = Run::acknowledged(1);
    run.cancel(at(2_500));
    let update = run.updates[0].clone();
    run.inbound(&completed(&update), at(3_000));
    let h = run.inbound(&cancel_ack(&run.cancel_cmd(0).clone()), at(3_100));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::AlreadyReported)
    );
    assert_eq!(run.status(0), Completed);
}

#[test]
fn report_with_a_correlation_id_we_never_issued_applies_to_the_current_attempt() {
    let mut run = Run::acknowledged(1);
    let msg = reply_with(
        &run.updates[0].clone(),
        EventType::UpdateFirmwareCompleted,
        &id("controller-made-this"),
    );
    let h = run.inbound(&msg, at(3_000));
    assert_eq!(moves(&h.effects), vec![(Acknowledged, Completed)]);
}

#[test]
fn uncorrelated_report_before_the_command_left_is_rejected() {
    let mut run = Run::new(1);
    let msg = reply_with(
        &run.updates[0].clone(),
        EventType::UpdateFirmwareCompleted,
        &id("whatever"),
    );
    let h = run.inbound(&msg, at(3_000));
    assert_eq!(h.outcome, rejected(RejectReason::NotSent));
    assert_eq!(run.status(0), Queued);
}

#[test]
fn report_carrying_the_cancel_correlation_id_applies() {
    let mut run = Run::acknowledged(1);
    run.cancel(at(2_500));
    let cancel = run.cancel_cmd(0).clone();
    let msg = reply_with(
        &cancel,
        EventType::UpdateFirmwareFailed,
        &cancel.correlation_id,
    );
    let h = run.inbound(&msg, at(3_000));
    assert_eq!(moves(&h.effects), vec![(CancelRequested, Failed)]);
}

#[test]
fn update_ack_while_cancel_requested_is_noted_not_applied() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let update = run.updates[0].clone();
    let h = run.inbound(&ack(&update), at(2_000));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::CancelRequested)
    );
    assert_eq!(run.status(0), CancelRequested);
    // Noted: the same ack again is a duplicate.
    let h = run.inbound(&ack(&update), at(2_100));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::Duplicate)
    );
}

#[test]
fn update_ack_after_cancelled_changes_nothing() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    run.inbound(&cancel_ack(&run.cancel_cmd(0).clone()), at(1_600));
    let h = run.inbound(&ack(&run.updates[0].clone()), at(2_000));
    assert_eq!(
        unchanged_reason(&h.outcome),
        Some(UnchangedReason::Cancelled)
    );
    assert_eq!(run.status(0), Cancelled);
}

#[test]
fn replies_through_the_real_decoder_apply() {
    let mut run = Run::sent(1);
    let cmd = run.updates[0].clone();
    let h = run.inbound(&wire(&ack(&cmd).envelope), at(2_000));
    assert_eq!(moves(&h.effects), vec![(Sent, Acknowledged)]);
    let h = run.inbound(&wire(&failed(&cmd, &["e1", "e2"]).envelope), at(3_000));
    assert_eq!(h.effects.transitions[0].errors, ["e1", "e2"]);
}

#[test]
fn rejected_and_unchanged_messages_never_touch_state() {
    let mut run = Run::acknowledged(2);
    let before = run.engine.snapshot(&run.deployment_id);
    let cmd = run.updates[0].clone();
    let mut unknown = cmd.clone();
    unknown.deployment_id = id("x");
    for msg in [
        ack(&cmd),
        ack(&unknown),
        cancel_ack(&cmd),
        reply_with(&cmd, EventType::UpdateFirmwareAck, &id("zz")),
    ] {
        let h = run.inbound(&msg, at(2_500));
        assert!(h.effects.is_empty());
    }
    assert_eq!(run.engine.snapshot(&run.deployment_id), before);
}
