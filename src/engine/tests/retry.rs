//! Retry: new attempts for failed and timed-out targets; earlier attempts kept and stale.

use super::support::*;
use crate::engine::{
    CommandKind, EngineError, InboundOutcome, RejectReason, TargetStatus, UnchangedReason,
};
use crate::protocol::EventType;
use TargetStatus::*;

/// Target 0 failed, 1 timed out, 2 completed, 3 cancelled.
fn mixed() -> Run {
    let mut run = Run::new(4);
    let u = run.updates.clone();
    run.publish(&u[1].correlation_id, at(1_000));
    for i in [0, 2, 3] {
        run.publish(&u[i].correlation_id, at(5_000));
    }
    run.inbound(&failed(&u[0], &["bad image"]), at(5_500));
    run.inbound(&completed(&u[2]), at(5_500));
    run.tick(at(1_000 + ACK_MS));
    run.cancel(at(11_500));
    let cancel = run.cancel_cmd(3).clone();
    run.inbound(&cancel_ack(&cancel), at(11_600));
    assert_eq!(run.statuses(), vec![Failed, TimedOut, Completed, Cancelled]);
    run
}

#[test]
fn retry_requeues_failed_and_timed_out_as_a_new_attempt() {
    let mut run = mixed();
    let old: Vec<_> = run
        .updates
        .iter()
        .map(|c| c.correlation_id.clone())
        .collect();
    let fx = run.retry(at(20_000));
    assert_eq!(moves(&fx), vec![(Failed, Queued), (TimedOut, Queued)]);
    assert!(
        fx.transitions
            .iter()
            .all(|t| t.attempt == 2 && t.at == at(20_000))
    );
    assert_eq!(fx.commands.len(), 2);
    for (cmd, i) in fx.commands.iter().zip([0, 1]) {
        assert_eq!(cmd.attempt, 2);
        assert_eq!(cmd.deployment_id, run.deployment_id);
        assert_ne!(cmd.correlation_id, old[i]);
        assert!(matches!(cmd.kind, CommandKind::Update(_)));
    }
    assert_eq!(run.statuses(), vec![Queued, Queued, Completed, Cancelled]);
}

#[test]
fn retry_keeps_every_attempt() {
    let mut run = mixed();
    let first = run.updates[0].correlation_id.clone();
    run.retry(at(20_000));
    let target = run.target(0);
    let attempts: Vec<_> = target.attempts().map(|a| (a.number, a.status)).collect();
    assert_eq!(attempts, vec![(1, Failed), (2, Queued)]);
    let a1 = target.attempt(1).expect("attempt 1");
    assert_eq!(a1.errors, ["bad image"]);
    assert_eq!(
        a1.update.as_ref().map(|u| u.correlation_id.to_id()),
        Some(first)
    );
    assert!(target.attempt(3).is_none());
    assert!(target.attempt(0).is_none());
    let rows = run.engine.target_rows(&run.deployment_id).expect("rows");
    assert_eq!((rows[0].attempt, rows[0].status), (2, Queued));
    assert!(
        rows[0].errors.is_empty(),
        "the new attempt has no errors yet"
    );
}

#[test]
fn new_attempt_runs_the_whole_lifecycle() {
    let mut run = mixed();
    run.retry(at(20_000));
    let cmd = run.updates[0].clone();
    assert_eq!(
        moves(&run.publish(&cmd.correlation_id, at(20_100))),
        vec![(Queued, Sent)]
    );
    assert_eq!(run.engine.next_deadline(), Some(at(20_100 + ACK_MS)));
    let h = run.inbound(&ack(&cmd), at(20_200));
    assert_eq!(moves(&h.effects), vec![(Sent, Acknowledged)]);
    let h = run.inbound(&completed(&cmd), at(20_300));
    assert_eq!(moves(&h.effects), vec![(Acknowledged, Completed)]);
    assert_eq!(h.effects.transitions[0].attempt, 2);
}

#[test]
fn report_for_an_earlier_attempt_is_stale() {
    let mut run = mixed();
    let old = run.updates[1].clone();
    run.retry(at(20_000));
    let h = run.inbound(&completed(&old), at(20_050));
    assert!(matches!(
        h.outcome,
        InboundOutcome::Unchanged {
            reason: UnchangedReason::StaleAttempt,
            ref target,
        } if target.attempt == 1
    ));
    assert!(h.effects.is_empty());
    assert_eq!(run.status(1), Queued);
    assert_eq!(run.target(1).attempt(1).map(|a| a.status), Some(TimedOut));
}

#[test]
fn ack_for_an_earlier_attempt_is_stale() {
    let mut run = mixed();
    let old = run.updates[1].clone();
    run.retry(at(20_000));
    let cmd = run.updates[1].clone();
    run.publish(&cmd.correlation_id, at(20_010));
    let h = run.inbound(&ack(&old), at(20_050));
    assert_eq!(h.outcome.code(), "stale_attempt");
    assert_eq!(run.status(1), Sent);
}

#[test]
fn failed_report_for_an_earlier_attempt_does_not_fail_the_new_one() {
    let mut run = mixed();
    let old = run.updates[0].clone();
    run.retry(at(20_000));
    let cmd = run.updates[0].clone();
    run.publish(&cmd.correlation_id, at(20_010));
    run.inbound(&ack(&cmd), at(20_020));
    let h = run.inbound(&failed(&old, &["old news"]), at(20_050));
    assert_eq!(h.outcome.code(), "stale_attempt");
    assert_eq!(run.status(0), Acknowledged);
}

#[test]
fn uncorrelated_report_right_after_retry_is_not_applied_to_the_unsent_attempt() {
    let mut run = mixed();
    run.retry(at(20_000));
    let msg = reply_with(
        &run.updates[0].clone(),
        EventType::UpdateFirmwareCompleted,
        &id("no-idea"),
    );
    let h = run.inbound(&msg, at(20_050));
    assert_eq!(h.outcome, InboundOutcome::Rejected(RejectReason::NotSent));
}

#[test]
fn third_attempt_after_second_failure() {
    let mut run = mixed();
    run.retry(at(20_000));
    let cmd = run.updates[0].clone();
    run.publish(&cmd.correlation_id, at(20_010));
    run.inbound(&failed(&cmd, &["again"]), at(20_020));
    let fx = run.retry(at(30_000));
    assert_eq!(fx.transitions.len(), 1, "target 1 is queued, not retryable");
    assert_eq!(fx.commands[0].attempt, 3);
    let numbers: Vec<_> = run.target(0).attempts().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[test]
fn retry_with_nothing_to_retry_does_nothing() {
    let mut run = Run::sent(2);
    assert!(run.retry(at(5_000)).is_empty());
    assert_eq!(run.statuses(), vec![Sent, Sent]);
}

#[test]
fn retry_of_unknown_deployment_is_an_error() {
    let mut run = Run::new(1);
    assert_eq!(
        run.engine.retry(&id("nope"), at(1)),
        Err(EngineError::UnknownDeployment(id("nope")))
    );
}

#[test]
fn cancel_after_retry_withdraws_the_new_unsent_commands() {
    let mut run = mixed();
    let fx = run.retry(at(20_000));
    let new_ids: Vec<_> = fx
        .commands
        .iter()
        .map(|c| c.correlation_id.clone())
        .collect();
    let fx = run.cancel(at(20_100));
    assert_eq!(fx.withdrawn, new_ids);
    assert_eq!(
        run.statuses(),
        vec![Cancelled, Cancelled, Completed, Cancelled]
    );
}

#[test]
fn retry_past_the_attempt_limit_is_refused_and_changes_nothing() {
    let mut run = mixed();
    if let Some(Some(d)) = run.engine.slots.get_mut(0) {
        d.state.targets[1].current.number = u32::MAX;
    }
    let before = run.engine.snapshot(&run.deployment_id);
    let err = run
        .engine
        .retry(&run.deployment_id, at(20_000))
        .expect_err("limit");
    assert_eq!(
        err,
        EngineError::AttemptLimit {
            store_id: id("s0"),
            controller_id: id("c1")
        }
    );
    assert_eq!(run.engine.snapshot(&run.deployment_id), before);
}
