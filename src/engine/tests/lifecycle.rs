//! Creating a deployment and every forward transition of DESIGN.md section 2.

use std::collections::HashSet;
use std::time::Duration;

use super::support::*;
use crate::engine::{
    CommandKind, CommandRole, Engine, EngineError, InboundOutcome, Millis, TargetStatus, Transition,
};
use crate::protocol::{EventType, TopicPrefix, encode_command};
use TargetStatus::*;

#[test]
fn create_queues_every_target_and_makes_one_update_each_in_order() {
    let run = Run::new(5);
    assert_eq!(run.statuses(), vec![Queued; 5]);
    assert_eq!(run.updates.len(), 5);
    for (cmd, key) in run.updates.iter().zip(&run.keys) {
        assert_eq!(cmd.deployment_id, run.deployment_id);
        assert_eq!(
            (&cmd.store_id, &cmd.controller_id),
            (&key.store_id, &key.controller_id)
        );
        assert_eq!(cmd.attempt, 1);
        assert_eq!(cmd.role(), CommandRole::Update);
        let CommandKind::Update(update) = &cmd.kind else {
            panic!("not an update: {cmd:?}");
        };
        assert_eq!(update, &firmware().update_for(&run.deployment_id));
    }
    let ids: HashSet<_> = run.updates.iter().map(|c| &c.correlation_id).collect();
    assert_eq!(ids.len(), 5, "correlation ids are fresh");
    for target in run
        .engine
        .deployment(&run.deployment_id)
        .expect("dep")
        .targets()
    {
        assert_eq!(target.current.updated_at, at(0));
        assert_eq!(target.earlier.len(), 0);
    }
}

#[test]
fn create_emits_no_transitions() {
    let mut engine = Engine::new();
    let fx = engine.create(spec("d", keys(2)), at(0)).expect("create");
    assert!(fx.transitions.is_empty());
    assert!(fx.withdrawn.is_empty());
}

#[test]
fn correlation_ids_are_uuid_v4() {
    let run = Run::new(1);
    let parsed = uuid::Uuid::parse_str(run.updates[0].correlation_id.as_str()).expect("uuid");
    assert_eq!(parsed.get_version_num(), 4);
}

#[test]
fn empty_target_list_is_refused() {
    let mut engine = Engine::new();
    let err = engine.create(spec("d", vec![]), at(0)).expect_err("empty");
    assert_eq!(err, EngineError::NoTargets);
    assert_eq!(err.code(), "no_targets");
    assert!(engine.deployment(&id("d")).is_none());
}

#[test]
fn duplicate_target_is_refused_with_its_index() {
    let mut engine = Engine::new();
    let targets = vec![key("s1", "c1"), key("s1", "c2"), key("s1", "c1")];
    let err = engine
        .create(spec("d", targets), at(0))
        .expect_err("duplicate");
    assert_eq!(
        err,
        EngineError::DuplicateTarget {
            store_id: id("s1"),
            controller_id: id("c1"),
            index: 2
        }
    );
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn same_controller_id_in_two_stores_is_two_targets() {
    let mut engine = Engine::new();
    let fx = engine
        .create(spec("d", vec![key("s1", "c1"), key("s2", "c1")]), at(0))
        .expect("create");
    assert_eq!(fx.commands.len(), 2);
}

#[test]
fn zero_timeouts_are_refused() {
    let mut engine = Engine::new();
    let mut s = spec("d", keys(1));
    s.timeouts.ack = Duration::ZERO;
    assert_eq!(
        engine.create(s, at(0)),
        Err(EngineError::ZeroTimeout("ack"))
    );
    let mut s = spec("d", keys(1));
    s.timeouts.completion = Duration::from_micros(10);
    assert_eq!(
        engine.create(s, at(0)),
        Err(EngineError::ZeroTimeout("completion"))
    );
}

#[test]
fn existing_deployment_id_is_refused() {
    let mut run = Run::new(1);
    let err = run
        .engine
        .create(spec("dep-1", keys(3)), at(5))
        .expect_err("exists");
    assert_eq!(err, EngineError::DeploymentExists(id("dep-1")));
    assert_eq!(
        run.engine.counts(&run.deployment_id).map(|c| c.total()),
        Some(1)
    );
}

#[test]
fn published_moves_queued_to_sent() {
    let mut run = Run::new(2);
    let cid = run.updates[0].correlation_id.clone();
    let fx = run.publish(&cid, at(500));
    assert_eq!(
        fx.transitions,
        vec![Transition {
            deployment_id: id("dep-1"),
            store_id: id("s0"),
            controller_id: id("c0"),
            attempt: 1,
            from: Queued,
            to: Sent,
            at: at(500),
            errors: vec![],
            wave: 0,
        }]
    );
    assert_eq!(run.statuses(), vec![Sent, Queued]);
    assert_eq!(run.target(0).current.sent_at(), Some(at(500)));
    assert_eq!(run.target(0).current.updated_at, at(500));
}

#[test]
fn repeated_puback_changes_nothing() {
    let mut run = Run::sent(1);
    let cid = run.updates[0].correlation_id.clone();
    let fx = run.publish(&cid, at(9_000));
    assert!(fx.is_empty());
    assert_eq!(run.target(0).current.sent_at(), Some(at(1_000)));
}

#[test]
fn published_for_an_unknown_correlation_id_is_an_error() {
    let mut run = Run::new(1);
    let err = run
        .engine
        .on_published(&id("nope"), at(1))
        .expect_err("unknown");
    assert_eq!(err, EngineError::UnknownCommand(id("nope")));
}

#[test]
fn sent_to_acknowledged() {
    let mut run = Run::sent(1);
    let h = run.inbound(&ack(&run.updates[0].clone()), at(2_000));
    assert!(matches!(h.outcome, InboundOutcome::Applied(ref t) if t.attempt == 1));
    assert_eq!(moves(&h.effects), vec![(Sent, Acknowledged)]);
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
fn acknowledged_to_completed() {
    let mut run = Run::acknowledged(1);
    let h = run.inbound(&completed(&run.updates[0].clone()), at(3_000));
    assert_eq!(h.outcome.code(), "applied");
    assert_eq!(moves(&h.effects), vec![(Acknowledged, Completed)]);
    assert!(h.effects.transitions[0].errors.is_empty());
}

#[test]
fn acknowledged_to_failed_keeps_errors_exactly() {
    let mut run = Run::acknowledged(1);
    let errors = ["  checksum mismatch ", "", "ünïcode ✓", "error message 2"];
    let h = run.inbound(&failed(&run.updates[0].clone(), &errors), at(3_000));
    assert_eq!(moves(&h.effects), vec![(Acknowledged, Failed)]);
    assert_eq!(h.effects.transitions[0].errors, errors);
    assert_eq!(run.target(0).current.errors, errors);
}

#[test]
fn failed_with_an_empty_error_list() {
    let mut run = Run::sent(1);
    let h = run.inbound(&failed(&run.updates[0].clone(), &[]), at(3_000));
    assert_eq!(moves(&h.effects), vec![(Sent, Failed)]);
    assert!(h.effects.transitions[0].errors.is_empty());
}

#[test]
fn sent_to_completed_without_an_ack() {
    let mut run = Run::sent(1);
    let h = run.inbound(&completed(&run.updates[0].clone()), at(3_000));
    assert_eq!(moves(&h.effects), vec![(Sent, Completed)]);
}

#[test]
fn sent_to_failed_without_an_ack() {
    let mut run = Run::sent(1);
    let h = run.inbound(&failed(&run.updates[0].clone(), &["x"]), at(3_000));
    assert_eq!(moves(&h.effects), vec![(Sent, Failed)]);
}

#[test]
fn late_ack_after_completion_changes_nothing() {
    let mut run = Run::sent(1);
    let cmd = run.updates[0].clone();
    run.inbound(&completed(&cmd), at(3_000));
    let h = run.inbound(&ack(&cmd), at(3_500));
    assert_eq!(h.outcome.code(), "already_reported");
    assert!(h.effects.is_empty());
    assert_eq!(run.status(0), Completed);
    assert_eq!(run.target(0).current.updated_at, at(3_000));
}

#[test]
fn ack_before_puback_counts_as_sent_then_acknowledged() {
    let mut run = Run::new(1);
    let cmd = run.updates[0].clone();
    let h = run.inbound(&ack(&cmd), at(700));
    assert_eq!(
        moves(&h.effects),
        vec![(Queued, Sent), (Sent, Acknowledged)]
    );
    assert_eq!(run.target(0).current.sent_at(), Some(at(700)));
    // The PUBACK that follows changes nothing and does not restart the clocks.
    let fx = run.publish(&cmd.correlation_id, at(800));
    assert!(fx.is_empty());
    assert_eq!(run.engine.next_deadline(), Some(at(700 + DONE_MS)));
}

#[test]
fn completion_before_puback_counts_as_sent_then_completed() {
    let mut run = Run::new(1);
    let h = run.inbound(&completed(&run.updates[0].clone()), at(700));
    assert_eq!(moves(&h.effects), vec![(Queued, Sent), (Sent, Completed)]);
    assert_eq!(run.engine.next_deadline(), None);
}

#[test]
fn cancel_requested_to_cancelled() {
    let mut run = Run::acknowledged(1);
    run.cancel(at(3_000));
    let h = run.inbound(&cancel_ack(&run.cancel_cmd(0).clone()), at(3_500));
    assert_eq!(h.outcome.code(), "applied");
    assert_eq!(moves(&h.effects), vec![(CancelRequested, Cancelled)]);
    assert_eq!(
        run.target(0)
            .current
            .cancel
            .as_ref()
            .and_then(|c| c.acked_at),
        Some(at(3_500))
    );
}

#[test]
fn full_happy_path_finishes_the_deployment() {
    let mut run = Run::acknowledged(3);
    for i in 0..3 {
        let msg = completed(&run.updates[i].clone());
        run.inbound(&msg, at(4_000));
    }
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(true));
    assert_eq!(
        run.engine.counts(&run.deployment_id).map(|c| c.completed),
        Some(3)
    );
    assert_eq!(run.engine.next_deadline(), None);
}

#[test]
fn outbound_commands_encode_as_spec_commands() {
    let mut run = Run::sent(1);
    let ts = chrono::DateTime::parse_from_rfc3339("2024-01-15T15:30:25+07:00").expect("ts");
    let update = run.updates[0].to_envelope(ts);
    assert_eq!(update.event_type(), EventType::UpdateFirmware);
    let encoded = encode_command(&update, &TopicPrefix::default()).expect("encode");
    assert_eq!(encoded.topic, "/stores/s0/controllers/c0/action");
    run.cancel(at(2_000));
    let cancel = run.cancel_cmd(0).to_envelope(ts);
    assert_eq!(cancel.event_type(), EventType::CancelUpdateFirmware);
    assert_eq!(cancel.event.deployment_id(), &run.deployment_id);
    assert!(encode_command(&cancel, &TopicPrefix::default()).is_ok());
}

#[test]
fn transitions_serialize_with_exact_status_names() {
    let mut run = Run::new(1);
    let cid = run.updates[0].correlation_id.clone();
    let fx = run.publish(&cid, Millis(42));
    let json = serde_json::to_value(&fx.transitions[0]).expect("json");
    assert_eq!(json["from"], "queued");
    assert_eq!(json["to"], "sent");
    assert_eq!(json["at"], 42);
    assert_eq!(json["store_id"], "s0");
}
