//! Cancel: what it reaches, what it sends, and the late reports that override it.

use super::support::*;
use crate::engine::{CommandKind, CommandRole, EngineError, InboundOutcome, TargetStatus};
use TargetStatus::*;

#[test]
fn queued_unpublished_target_is_cancelled_at_once_with_nothing_sent() {
    let mut run = Run::new(2);
    let fx = run.cancel(at(500));
    assert!(fx.commands.is_empty());
    assert_eq!(moves(&fx), vec![(Queued, Cancelled), (Queued, Cancelled)]);
    let expected: Vec<_> = run
        .updates
        .iter()
        .map(|c| c.correlation_id.clone())
        .collect();
    assert_eq!(fx.withdrawn, expected);
    assert!(
        run.target(0)
            .current
            .update
            .as_ref()
            .is_some_and(|u| u.withdrawn)
    );
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(true));
    assert_eq!(
        run.engine.pending_commands(&run.deployment_id),
        Some(vec![])
    );
}

#[test]
fn sent_target_becomes_cancel_requested_with_a_cancel_command() {
    let mut run = Run::sent(1);
    let fx = run.cancel(at(1_500));
    assert_eq!(moves(&fx), vec![(Sent, CancelRequested)]);
    assert_eq!(fx.commands.len(), 1);
    let cancel = &fx.commands[0];
    assert_eq!(cancel.kind, CommandKind::Cancel);
    assert_eq!(cancel.role(), CommandRole::Cancel);
    assert_eq!(cancel.deployment_id, run.deployment_id);
    assert_eq!(
        (cancel.store_id.as_str(), cancel.controller_id.as_str()),
        ("s0", "c0")
    );
    assert_eq!(cancel.attempt, 1);
    assert_ne!(cancel.correlation_id, run.updates[0].correlation_id);
    assert!(fx.withdrawn.is_empty());
}

#[test]
fn acknowledged_target_becomes_cancel_requested() {
    let mut run = Run::acknowledged(1);
    let fx = run.cancel(at(2_500));
    assert_eq!(moves(&fx), vec![(Acknowledged, CancelRequested)]);
    assert_eq!(fx.commands.len(), 1);
}

#[test]
fn cancel_reaches_only_non_terminal_targets() {
    // 0 completed, 1 failed, 2 timed_out, 3 acknowledged, 4 sent, 5 queued.
    let mut run = Run::new(6);
    let u = run.updates.clone();
    run.publish(&u[2].correlation_id, at(1));
    for i in [0, 1, 3, 4] {
        run.publish(&u[i].correlation_id, at(ACK_MS));
    }
    run.inbound(&completed(&u[0]), at(ACK_MS + 1));
    run.inbound(&failed(&u[1], &["x"]), at(ACK_MS + 1));
    run.inbound(&ack(&u[3]), at(ACK_MS + 1));
    run.tick(at(ACK_MS + 1));
    assert_eq!(
        run.statuses(),
        vec![Completed, Failed, TimedOut, Acknowledged, Sent, Queued]
    );
    let fx = run.cancel(at(ACK_MS + 2));
    let touched: Vec<_> = fx
        .transitions
        .iter()
        .map(|t| (t.controller_id.as_str().to_owned(), t.from, t.to))
        .collect();
    assert_eq!(
        touched,
        [
            ("c3".to_owned(), Acknowledged, CancelRequested),
            ("c4".to_owned(), Sent, CancelRequested),
            ("c5".to_owned(), Queued, Cancelled),
        ]
    );
    let cancelled: Vec<_> = fx
        .commands
        .iter()
        .map(|c| c.controller_id.as_str())
        .collect();
    assert_eq!(cancelled, ["c3", "c4"]);
    assert_eq!(fx.withdrawn, vec![u[5].correlation_id.clone()]);
    assert_eq!(
        run.statuses(),
        vec![
            Completed,
            Failed,
            TimedOut,
            CancelRequested,
            CancelRequested,
            Cancelled
        ]
    );
}

#[test]
fn cancel_skips_completed_failed_and_timed_out() {
    let mut run = Run::sent(3);
    let u = run.updates.clone();
    run.inbound(&completed(&u[0]), at(1_500));
    run.inbound(&failed(&u[1], &["x"]), at(1_500));
    run.tick(at(1_000 + ACK_MS));
    let fx = run.cancel(at(20_000));
    assert!(fx.is_empty());
    assert_eq!(run.statuses(), vec![Completed, Failed, TimedOut]);
}

#[test]
fn cancelling_twice_sends_no_second_cancel() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let fx = run.cancel(at(1_600));
    assert!(fx.is_empty());
    assert_eq!(run.status(0), CancelRequested);
}

#[test]
fn cancel_of_unknown_deployment_is_an_error() {
    let mut run = Run::new(1);
    assert_eq!(
        run.engine.cancel(&id("nope"), at(1)),
        Err(EngineError::UnknownDeployment(id("nope")))
    );
}

#[test]
fn cancel_command_publish_is_noted_without_status_change() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    let cid = run.cancel_cmd(0).correlation_id.clone();
    let fx = run.publish(&cid, at(1_600));
    assert!(fx.is_empty());
    assert_eq!(run.status(0), CancelRequested);
    assert_eq!(
        run.target(0)
            .current
            .cancel
            .as_ref()
            .and_then(|c| c.sent_at),
        Some(at(1_600))
    );
}

#[test]
fn failed_after_cancel_requested_replaces_it() {
    let mut run = Run::acknowledged(1);
    run.cancel(at(2_500));
    let h = run.inbound(&failed(&run.updates[0].clone(), &["aborted"]), at(3_000));
    assert_eq!(moves(&h.effects), vec![(CancelRequested, Failed)]);
}

#[test]
fn completed_after_cancel_requested_replaces_it() {
    let mut run = Run::acknowledged(1);
    run.cancel(at(2_500));
    let h = run.inbound(&completed(&run.updates[0].clone()), at(3_000));
    assert_eq!(moves(&h.effects), vec![(CancelRequested, Completed)]);
}

#[test]
fn completed_after_cancelled_replaces_it() {
    let mut run = Run::acknowledged(1);
    run.cancel(at(2_500));
    run.inbound(&cancel_ack(&run.cancel_cmd(0).clone()), at(2_600));
    let h = run.inbound(&completed(&run.updates[0].clone()), at(3_000));
    assert_eq!(moves(&h.effects), vec![(Cancelled, Completed)]);
}

#[test]
fn queued_to_cancel_requested_when_the_command_left_before_its_puback() {
    // The ack proves the command left; cancelling then needs a cancel command.
    let mut run = Run::new(1);
    let update = run.updates[0].clone();
    run.inbound(&ack(&update), at(500));
    let fx = run.cancel(at(600));
    assert_eq!(moves(&fx), vec![(Acknowledged, CancelRequested)]);
    assert_eq!(fx.commands.len(), 1);
}

#[test]
fn withdrawn_command_published_anyway_is_followed_by_a_cancel() {
    let mut run = Run::new(1);
    let update = run.updates[0].clone();
    let fx = run.cancel(at(500));
    assert_eq!(fx.withdrawn, vec![update.correlation_id.clone()]);
    // The withdrawal lost the race with the link: the PUBACK arrives.
    let fx = run.publish(&update.correlation_id, at(510));
    assert_eq!(moves(&fx), vec![(Cancelled, CancelRequested)]);
    assert_eq!(fx.commands.len(), 1);
    assert_eq!(fx.commands[0].kind, CommandKind::Cancel);
    assert_eq!(run.engine.next_deadline(), None);
    let h = run.inbound(&cancel_ack(&run.cancel_cmd(0).clone()), at(600));
    assert_eq!(moves(&h.effects), vec![(CancelRequested, Cancelled)]);
}

#[test]
fn ack_of_a_withdrawn_command_is_followed_by_a_cancel() {
    let mut run = Run::new(1);
    let update = run.updates[0].clone();
    run.cancel(at(500));
    let h = run.inbound(&ack(&update), at(520));
    assert!(matches!(h.outcome, InboundOutcome::Applied(_)));
    assert_eq!(moves(&h.effects), vec![(Cancelled, CancelRequested)]);
    assert_eq!(h.effects.commands.len(), 1);
}

#[test]
fn completion_of_a_withdrawn_command_wins_without_a_cancel() {
    let mut run = Run::new(1);
    let update = run.updates[0].clone();
    run.cancel(at(500));
    let h = run.inbound(&completed(&update), at(520));
    assert_eq!(moves(&h.effects), vec![(Cancelled, Completed)]);
    assert!(h.effects.commands.is_empty());
}

#[test]
fn cancel_then_all_cancel_acks_finish_the_deployment() {
    let mut run = Run::acknowledged(3);
    run.cancel(at(3_000));
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(false));
    for i in 0..3 {
        let msg = cancel_ack(&run.cancel_cmd(i).clone());
        run.inbound(&msg, at(3_100));
    }
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(true));
    assert_eq!(
        run.engine.counts(&run.deployment_id).map(|c| c.cancelled),
        Some(3)
    );
}

/// A cancel command from another Storefleet process running the same deployment.
fn foreign_cancel(run: &Run, i: usize, correlation: &str) -> crate::protocol::Inbound {
    let update = &run.updates[i];
    message(
        &update.store_id,
        &update.controller_id,
        &id(correlation),
        crate::protocol::Event::CancelUpdateFirmware {
            deployment_id: run.deployment_id.clone(),
        },
    )
}

#[test]
fn another_process_cancel_is_adopted_and_its_ack_cancels_here_too() {
    let mut run = Run::acknowledged(2);
    let handled = run.inbound(&foreign_cancel(&run, 0, "foreign-1"), at(3_000));
    let InboundOutcome::Observed(observed) = handled.outcome else {
        panic!("expected observed, got {:?}", handled.outcome);
    };
    assert!(observed.known_deployment);
    let fx = run.engine.adopt_cancel(&observed, at(3_000));
    assert_eq!(moves(&fx), vec![(Acknowledged, CancelRequested)]);
    assert!(fx.commands.is_empty(), "adopting sends nothing");
    assert_eq!(run.status(1), Acknowledged, "only the named target");

    // The controller's cancel ack, answering the other process's command, now applies here.
    let ack = message(
        &run.updates[0].store_id,
        &run.updates[0].controller_id,
        &id("foreign-1"),
        crate::protocol::Event::CancelUpdateFirmwareAck {
            deployment_id: run.deployment_id.clone(),
        },
    );
    let handled = run.inbound(&ack, at(3_100));
    assert!(
        matches!(handled.outcome, InboundOutcome::Applied(_)),
        "{:?}",
        handled.outcome
    );
    assert_eq!(run.status(0), Cancelled);
    // Cancel requested and cancelled targets never time out.
    run.tick(at(10_000_000));
    assert_eq!(run.status(0), Cancelled);
}

#[test]
fn a_foreign_cancel_changes_nothing_for_finished_or_already_cancelling_targets() {
    let mut run = Run::acknowledged(2);
    let done = completed(&run.updates[0].clone());
    run.inbound(&done, at(2_000));
    run.cancel(at(2_100));
    for i in 0..2 {
        let handled = run.inbound(&foreign_cancel(&run, i, &format!("foreign-{i}")), at(3_000));
        let InboundOutcome::Observed(observed) = handled.outcome else {
            panic!("expected observed");
        };
        assert!(run.engine.adopt_cancel(&observed, at(3_000)).is_empty());
    }
    assert_eq!(run.statuses(), vec![Completed, CancelRequested]);
}
