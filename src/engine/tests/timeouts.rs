//! Ack and completion timeouts, counted from sending, and `next_deadline`.

use super::support::*;
use crate::engine::{Engine, InboundOutcome, TargetStatus, UnchangedReason};
use TargetStatus::*;

#[test]
fn queued_target_never_times_out() {
    let mut run = Run::new(2);
    assert_eq!(run.engine.next_deadline(), None);
    let fx = run.tick(at(100 * DONE_MS));
    assert!(fx.is_empty());
    assert_eq!(run.statuses(), vec![Queued, Queued]);
}

#[test]
fn sent_to_timed_out_without_ack() {
    let mut run = Run::sent(1);
    let fx = run.tick(at(1_000 + ACK_MS));
    assert_eq!(moves(&fx), vec![(Sent, TimedOut)]);
    assert_eq!(fx.transitions[0].at, at(1_000 + ACK_MS));
    assert_eq!(run.engine.next_deadline(), None, "both clocks stop");
}

#[test]
fn ack_timeout_counts_from_sending_not_from_create() {
    let mut run = Run::new(1);
    let cid = run.updates[0].correlation_id.clone();
    run.publish(&cid, at(50_000));
    // Long after create + ack timeout, but not after send + ack timeout.
    assert!(run.tick(at(50_000 + ACK_MS - 1)).is_empty());
    assert_eq!(run.status(0), Sent);
    assert_eq!(
        moves(&run.tick(at(50_000 + ACK_MS))),
        vec![(Sent, TimedOut)]
    );
}

#[test]
fn acknowledged_to_timed_out_without_result() {
    let mut run = Run::acknowledged(1);
    assert!(run.tick(at(1_000 + DONE_MS - 1)).is_empty());
    let fx = run.tick(at(1_000 + DONE_MS));
    assert_eq!(moves(&fx), vec![(Acknowledged, TimedOut)]);
}

#[test]
fn completion_timeout_counts_from_sending_not_from_ack() {
    let mut run = Run::sent(1);
    let cmd = run.updates[0].clone();
    // Ack arrives late in the ack window: the completion clock still started at the send.
    run.inbound(&ack(&cmd), at(1_000 + ACK_MS - 1));
    assert_eq!(run.engine.next_deadline(), Some(at(1_000 + DONE_MS)));
    let fx = run.tick(at(1_000 + DONE_MS));
    assert_eq!(moves(&fx), vec![(Acknowledged, TimedOut)]);
}

#[test]
fn sent_to_timed_out_by_completion_timeout_when_it_is_the_shorter() {
    let mut engine = Engine::new();
    let mut s = spec("d", keys(1));
    s.timeouts.ack = std::time::Duration::from_millis(DONE_MS * 2);
    let fx = engine.create(s, at(0)).expect("create");
    engine
        .on_published(&fx.commands[0].correlation_id, at(0))
        .expect("published");
    assert_eq!(engine.next_deadline(), Some(at(DONE_MS)));
    let fx = engine.tick(at(DONE_MS));
    assert_eq!(moves(&fx), vec![(Sent, TimedOut)]);
    assert_eq!(engine.next_deadline(), None);
}

#[test]
fn completed_after_timed_out_replaces_it() {
    let mut run = Run::sent(1);
    run.tick(at(1_000 + ACK_MS));
    let h = run.inbound(&completed(&run.updates[0].clone()), at(1_000 + ACK_MS + 5));
    assert_eq!(moves(&h.effects), vec![(TimedOut, Completed)]);
}

#[test]
fn failed_after_completion_timeout_replaces_it() {
    let mut run = Run::acknowledged(1);
    run.tick(at(1_000 + DONE_MS));
    let h = run.inbound(
        &failed(&run.updates[0].clone(), &["slow"]),
        at(1_000 + DONE_MS + 5),
    );
    assert_eq!(moves(&h.effects), vec![(TimedOut, Failed)]);
    assert_eq!(h.effects.transitions[0].errors, ["slow"]);
}

#[test]
fn ack_after_ack_timeout_revives_and_completion_clock_keeps_the_send_time() {
    let mut run = Run::sent(1);
    run.tick(at(1_000 + ACK_MS));
    let h = run.inbound(&ack(&run.updates[0].clone()), at(1_000 + ACK_MS + 500));
    assert_eq!(moves(&h.effects), vec![(TimedOut, Acknowledged)]);
    assert_eq!(run.engine.next_deadline(), Some(at(1_000 + DONE_MS)));
    assert!(run.tick(at(1_000 + DONE_MS - 1)).is_empty());
    assert_eq!(
        moves(&run.tick(at(1_000 + DONE_MS))),
        vec![(Acknowledged, TimedOut)]
    );
}

#[test]
fn ack_after_the_completion_timeout_leaves_it_timed_out() {
    let mut run = Run::sent(1);
    run.tick(at(1_000 + ACK_MS));
    let h = run.inbound(&ack(&run.updates[0].clone()), at(1_000 + DONE_MS));
    assert!(matches!(
        h.outcome,
        InboundOutcome::Unchanged {
            reason: UnchangedReason::TimedOut,
            ..
        }
    ));
    assert_eq!(run.status(0), TimedOut);
    assert_eq!(run.engine.next_deadline(), None);
}

#[test]
fn duplicate_ack_after_completion_timeout_is_a_duplicate() {
    let mut run = Run::acknowledged(1);
    run.tick(at(1_000 + DONE_MS));
    let h = run.inbound(&ack(&run.updates[0].clone()), at(1_000 + DONE_MS + 1));
    assert!(matches!(
        h.outcome,
        InboundOutcome::Unchanged {
            reason: UnchangedReason::Duplicate,
            ..
        }
    ));
}

#[test]
fn terminal_targets_do_not_time_out() {
    let mut run = Run::sent(3);
    let (a, b) = (run.updates[0].clone(), run.updates[1].clone());
    run.inbound(&completed(&a), at(1_500));
    run.inbound(&failed(&b, &["x"]), at(1_500));
    let fx = run.tick(at(1_000 + 10 * DONE_MS));
    assert_eq!(fx.transitions.len(), 1);
    assert_eq!(run.statuses(), vec![Completed, Failed, TimedOut]);
}

#[test]
fn cancel_requested_does_not_time_out() {
    let mut run = Run::sent(1);
    run.cancel(at(1_500));
    assert_eq!(run.engine.next_deadline(), None);
    assert!(run.tick(at(1_000 + 10 * DONE_MS)).is_empty());
    assert_eq!(run.status(0), CancelRequested);
}

#[test]
fn a_second_tick_changes_nothing() {
    let mut run = Run::sent(2);
    assert_eq!(run.tick(at(1_000 + ACK_MS)).transitions.len(), 2);
    assert!(run.tick(at(1_000 + ACK_MS)).is_empty());
    assert!(run.tick(at(1_000 + 10 * DONE_MS)).is_empty());
}

#[test]
fn tick_before_any_deadline_does_nothing() {
    let mut run = Run::sent(3);
    assert!(run.tick(at(1_000)).is_empty());
    assert!(run.tick(at(1_000 + ACK_MS - 1)).is_empty());
    assert_eq!(run.statuses(), vec![Sent; 3]);
}

#[test]
fn next_deadline_follows_the_earliest_running_clock() {
    let mut run = Run::new(3);
    assert_eq!(run.engine.next_deadline(), None);
    let ids: Vec<_> = run
        .updates
        .iter()
        .map(|c| c.correlation_id.clone())
        .collect();
    run.publish(&ids[0], at(3_000));
    assert_eq!(run.engine.next_deadline(), Some(at(3_000 + ACK_MS)));
    run.publish(&ids[1], at(1_000));
    assert_eq!(run.engine.next_deadline(), Some(at(1_000 + ACK_MS)));
    // Acking target 1 stops its ack clock: target 0's ack clock is next.
    run.inbound(&ack(&run.updates[1].clone()), at(1_500));
    assert_eq!(run.engine.next_deadline(), Some(at(3_000 + ACK_MS)));
    run.inbound(&ack(&run.updates[0].clone()), at(3_500));
    assert_eq!(run.engine.next_deadline(), Some(at(1_000 + DONE_MS)));
    run.inbound(&completed(&run.updates[1].clone()), at(4_000));
    assert_eq!(run.engine.next_deadline(), Some(at(3_000 + DONE_MS)));
    run.inbound(&completed(&run.updates[0].clone()), at(4_000));
    assert_eq!(run.engine.next_deadline(), None, "target 2 is still queued");
}

#[test]
fn next_deadline_spans_deployments() {
    let mut engine = Engine::new();
    let a = engine.create(spec("a", keys(1)), at(0)).expect("a");
    let b = engine.create(spec("b", keys(1)), at(0)).expect("b");
    engine
        .on_published(&a.commands[0].correlation_id, at(5_000))
        .expect("pub a");
    engine
        .on_published(&b.commands[0].correlation_id, at(2_000))
        .expect("pub b");
    assert_eq!(engine.next_deadline(), Some(at(2_000 + ACK_MS)));
    let fx = engine.tick(at(2_000 + ACK_MS));
    assert_eq!(fx.transitions.len(), 1);
    assert_eq!(fx.transitions[0].deployment_id, id("b"));
    assert_eq!(engine.next_deadline(), Some(at(5_000 + ACK_MS)));
}

#[test]
fn sleeping_until_next_deadline_always_makes_progress() {
    let mut run = Run::new(20);
    let ids: Vec<_> = run
        .updates
        .iter()
        .map(|c| c.correlation_id.clone())
        .collect();
    for (i, cid) in ids.iter().enumerate() {
        run.publish(cid, at(1_000 + 37 * i as u64));
        if i % 3 == 0 {
            run.inbound(&ack(&run.updates[i].clone()), at(1_000 + 37 * i as u64 + 5));
        }
    }
    let mut wakeups = 0;
    while let Some(deadline) = run.engine.next_deadline() {
        let fx = run.tick(deadline);
        assert!(
            !fx.transitions.is_empty(),
            "woke at {deadline:?} for nothing"
        );
        wakeups += 1;
    }
    assert_eq!(wakeups, 20);
    assert_eq!(run.statuses(), vec![TimedOut; 20]);
}

#[test]
fn a_hundred_thousand_targets_tick_without_scanning() {
    let n = 100_000;
    let mut run = Run::new(n);
    let ids: Vec<_> = run
        .updates
        .iter()
        .map(|c| c.correlation_id.clone())
        .collect();
    for (i, cid) in ids.iter().enumerate() {
        run.engine
            .on_published(cid, at(i as u64))
            .expect("published");
    }
    // Only the first 10 are due.
    let fx = run.tick(at(9 + ACK_MS));
    assert_eq!(fx.transitions.len(), 10);
    let counts = run.engine.counts(&run.deployment_id).expect("counts");
    assert_eq!(
        (counts.timed_out, counts.sent, counts.total()),
        (10, n - 10, n)
    );
    assert_eq!(run.engine.next_deadline(), Some(at(10 + ACK_MS)));
    let fx = run.tick(at(n as u64 + DONE_MS));
    assert_eq!(fx.transitions.len(), n - 10);
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(true));
}
