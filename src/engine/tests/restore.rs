//! Snapshot, restore in a fresh engine, and the same behaviour afterwards.

use super::support::*;
use crate::engine::{
    DeploymentSnapshot, Engine, EngineError, InboundOutcome, RejectReason, RestoreProblem,
    TargetStatus, UnchangedReason,
};
use TargetStatus::*;

/// Through JSON, as history might store it.
fn round_trip(state: &DeploymentSnapshot) -> DeploymentSnapshot {
    let text = serde_json::to_string(state).expect("serialize");
    serde_json::from_str(&text).expect("deserialize")
}

/// 0 queued (unpublished), 1 sent, 2 acknowledged, 3 completed, 4 sent, 5 failed.
fn mid_deployment() -> Run {
    let mut run = Run::new(6);
    let u = run.updates.clone();
    for cmd in &u[1..] {
        run.publish(&cmd.correlation_id, at(1_000));
    }
    run.inbound(&ack(&u[2]), at(1_500));
    run.inbound(&completed(&u[3]), at(1_600));
    run.inbound(&failed(&u[5], &["e1", "e2"]), at(1_600));
    run
}

fn restored(run: &Run) -> Run {
    let state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let mut engine = Engine::new();
    let restored = engine.restore(round_trip(&state)).expect("restore");
    assert!(restored.effects.is_empty());
    Run {
        engine,
        deployment_id: run.deployment_id.clone(),
        keys: run.keys.clone(),
        updates: run.updates.clone(),
        cancels: run.cancels.clone(),
    }
}

#[test]
fn snapshot_survives_json_and_restores_identically() {
    let run = mid_deployment();
    let state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let again = restored(&run);
    assert_eq!(again.engine.snapshot(&run.deployment_id), Some(state));
    assert_eq!(
        again.engine.counts(&run.deployment_id),
        run.engine.counts(&run.deployment_id)
    );
    assert_eq!(again.engine.next_deadline(), run.engine.next_deadline());
    assert_eq!(
        again.engine.summary(&run.deployment_id),
        run.engine.summary(&run.deployment_id)
    );
}

#[test]
fn unpublished_commands_come_back_with_their_correlation_ids() {
    let mut run = mid_deployment();
    run.cancel(at(2_000));
    // Cancels of 1, 2 and 4 are unpublished; 0 was withdrawn.
    let state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let mut engine = Engine::new();
    let restored = engine.restore(round_trip(&state)).expect("restore");
    let resend: Vec<_> = restored
        .resend
        .iter()
        .map(|c| c.correlation_id.clone())
        .collect();
    assert_eq!(
        resend,
        vec![
            run.cancel_cmd(1).correlation_id.clone(),
            run.cancel_cmd(2).correlation_id.clone(),
            run.cancel_cmd(4).correlation_id.clone(),
        ]
    );
    assert_eq!(restored.resend[0], run.cancel_cmd(1).clone());
}

#[test]
fn unpublished_update_is_resent_with_the_same_id_and_applies_once() {
    let run = mid_deployment();
    let state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let mut engine = Engine::new();
    let restored = engine.restore(round_trip(&state)).expect("restore");
    assert_eq!(restored.resend, vec![run.updates[0].clone()]);
    let mut again = restored_run(engine, &run);
    let cmd = run.updates[0].clone();
    assert_eq!(
        moves(&again.publish(&cmd.correlation_id, at(3_000))),
        vec![(Queued, Sent)]
    );
    let h = again.inbound(&ack(&cmd), at(3_100));
    assert_eq!(moves(&h.effects), vec![(Sent, Acknowledged)]);
    let h = again.inbound(&ack(&cmd), at(3_200));
    assert_eq!(h.outcome.code(), "duplicate");
}

fn restored_run(engine: Engine, run: &Run) -> Run {
    Run {
        engine,
        deployment_id: run.deployment_id.clone(),
        keys: run.keys.clone(),
        updates: run.updates.clone(),
        cancels: run.cancels.clone(),
    }
}

#[test]
fn replies_applied_before_the_restart_are_duplicates_after_it() {
    let run = mid_deployment();
    let mut again = restored(&run);
    let u = run.updates.clone();
    for (msg, reason) in [
        (ack(&u[2]), UnchangedReason::Duplicate),
        (completed(&u[3]), UnchangedReason::Duplicate),
        (failed(&u[5], &["e1", "e2"]), UnchangedReason::Duplicate),
        (ack(&u[3]), UnchangedReason::AlreadyReported),
    ] {
        let h = again.inbound(&msg, at(2_000));
        assert!(
            matches!(h.outcome, InboundOutcome::Unchanged { reason: r, .. } if r == reason),
            "{:?}",
            h.outcome
        );
    }
}

#[test]
fn replies_after_the_restart_apply_exactly_once() {
    let run = mid_deployment();
    let mut again = restored(&run);
    let u = run.updates.clone();
    let h = again.inbound(&ack(&u[1]), at(2_000));
    assert_eq!(moves(&h.effects), vec![(Sent, Acknowledged)]);
    let h = again.inbound(&completed(&u[2]), at(2_000));
    assert_eq!(moves(&h.effects), vec![(Acknowledged, Completed)]);
    assert!(
        again
            .inbound(&completed(&u[2]), at(2_001))
            .effects
            .is_empty()
    );
}

#[test]
fn clocks_resume_from_the_recorded_send_time() {
    let run = mid_deployment();
    let mut again = restored(&run);
    assert_eq!(again.engine.next_deadline(), Some(at(1_000 + ACK_MS)));
    // Restarted long after: everything overdue times out on the first tick.
    let fx = again.tick(at(1_000_000));
    assert_eq!(
        moves(&fx),
        vec![(Sent, TimedOut), (Sent, TimedOut), (Acknowledged, TimedOut)]
    );
}

#[test]
fn restore_after_cancel_and_retry_keeps_attempts_and_stale_detection() {
    let mut run = mid_deployment();
    let old = run.updates[5].clone();
    run.retry(at(2_000));
    let mut again = restored(&run);
    assert_eq!(again.target(5).attempts().count(), 2);
    let h = again.inbound(&completed(&old), at(2_100));
    assert_eq!(h.outcome.code(), "stale_attempt");
    let fx = again.cancel(at(2_200));
    assert!(fx.withdrawn.contains(&run.updates[5].correlation_id));
}

#[test]
fn restored_engine_recognises_its_own_echoes() {
    let run = mid_deployment();
    let mut again = restored(&run);
    let h = again.inbound(&echo(&run.updates[0]), at(2_000));
    assert_eq!(h.outcome.code(), "own_echo");
}

#[test]
fn restore_refuses_an_existing_deployment() {
    let run = mid_deployment();
    let mut engine = run.engine.clone();
    let state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    assert_eq!(
        engine.restore(state),
        Err(EngineError::DeploymentExists(id("dep-1")))
    );
}

#[test]
fn restore_refuses_a_correlation_id_used_twice() {
    let run = mid_deployment();
    let mut state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let reused = state.targets[0].current.update.clone().expect("update");
    if let Some(update) = state.targets[1].current.update.as_mut() {
        update.correlation_id = reused.correlation_id;
    }
    let err = Engine::new().restore(state).expect_err("duplicate id");
    assert!(matches!(
        err,
        EngineError::Restore {
            index: 1,
            problem: RestoreProblem::DuplicateCorrelationId(_),
            ..
        }
    ));
    assert_eq!(err.code(), "restore_inconsistent");
}

#[test]
fn restore_refuses_a_correlation_id_held_by_another_deployment() {
    let run = mid_deployment();
    let mut state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    state.deployment_id = id("copy");
    let mut engine = run.engine.clone();
    assert!(matches!(
        engine.restore(state),
        Err(EngineError::Restore {
            problem: RestoreProblem::DuplicateCorrelationId(_),
            ..
        })
    ));
}

#[test]
fn restore_refuses_inconsistent_records() {
    let run = mid_deployment();
    let base = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    type Breakage = Box<dyn Fn(&mut DeploymentSnapshot)>;
    let cases: Vec<(Breakage, RestoreProblem)> = vec![
        (
            Box::new(|s| s.targets[1].current.number = 2),
            RestoreProblem::AttemptNumber {
                expected: 1,
                found: 2,
            },
        ),
        (
            Box::new(|s| s.targets[1].current.status = Queued),
            RestoreProblem::QueuedButSent,
        ),
        (
            Box::new(|s| s.targets[0].current.status = Acknowledged),
            RestoreProblem::NotSent(Acknowledged),
        ),
        (
            Box::new(|s| s.targets[1].current.status = CancelRequested),
            RestoreProblem::NoCancelCommand,
        ),
        (
            Box::new(|s| s.targets[1].current.status = Cancelled),
            RestoreProblem::CancelledWithoutCause,
        ),
        (
            Box::new(|s| {
                let mut earlier = s.targets[3].current.clone();
                earlier.update = None;
                s.targets[3].earlier.push(earlier);
                s.targets[3].current.number = 2;
                s.targets[3].current.update = None;
                s.targets[3].current.status = Queued;
            }),
            RestoreProblem::EarlierAttempt {
                attempt: 1,
                status: Completed,
            },
        ),
    ];
    for (break_it, problem) in cases {
        let mut state = base.clone();
        break_it(&mut state);
        let err = Engine::new().restore(state).expect_err("inconsistent");
        let EngineError::Restore { problem: found, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(found, &problem);
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn restore_refuses_duplicate_and_missing_targets() {
    let run = mid_deployment();
    let mut state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let copy = state.targets[0].clone();
    state.targets.push(copy);
    assert!(matches!(
        Engine::new().restore(state.clone()),
        Err(EngineError::DuplicateTarget { index: 6, .. })
    ));
    state.targets.clear();
    assert_eq!(Engine::new().restore(state), Err(EngineError::NoTargets));
}

#[test]
fn remove_forgets_the_deployment_and_its_commands() {
    let mut run = mid_deployment();
    let state = run.engine.remove(&run.deployment_id).expect("removed");
    assert_eq!(state.targets.len(), 6);
    assert_eq!(run.engine.next_deadline(), None);
    assert!(run.engine.deployment(&run.deployment_id).is_none());
    let h = run.inbound(&ack(&run.updates[1].clone()), at(2_000));
    assert_eq!(
        h.outcome,
        InboundOutcome::Rejected(RejectReason::UnknownDeployment)
    );
    // Its echo is now another operator's command.
    let h = run.inbound(&echo(&run.updates[1].clone()), at(2_000));
    assert_eq!(h.outcome.code(), "observed");
    assert!(
        run.engine
            .on_published(&run.updates[0].correlation_id, at(2_000))
            .is_err()
    );
    // And it can come back.
    let restored = run.engine.restore(state).expect("restore");
    assert_eq!(restored.resend.len(), 1);
    assert_eq!(run.engine.next_deadline(), Some(at(1_000 + ACK_MS)));
}

#[test]
fn restored_target_without_a_command_is_released_by_the_policy() {
    let run = mid_deployment();
    let mut state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    // As if the rollout policy had held target 0 back before the restart.
    state.targets[0].current.update = None;
    let mut engine = Engine::new();
    let restored = engine.restore(state).expect("restore");
    assert!(restored.resend.is_empty());
    assert_eq!(restored.effects.commands.len(), 1);
    let cmd = &restored.effects.commands[0];
    assert_eq!((cmd.controller_id.as_str(), cmd.attempt), ("c0", 1));
    assert_ne!(cmd.correlation_id, run.updates[0].correlation_id);
    assert!(restored.effects.transitions.is_empty());
}

#[test]
fn state_json_uses_stable_field_names() {
    let run = mid_deployment();
    let state = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let json = serde_json::to_value(&state).expect("json");
    assert_eq!(json["timeouts"]["ack_timeout_ms"], ACK_MS);
    assert_eq!(json["timeouts"]["completion_timeout_ms"], DONE_MS);
    assert_eq!(
        json["firmware"]["checksum"],
        "8a3be389a446bba670da3a33e5506d2e"
    );
    assert_eq!(json["created_at"], T0);
    let failed = &json["targets"][5]["current"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["errors"], serde_json::json!(["e1", "e2"]));
    assert_eq!(failed["update"]["sent_at"], T0 + 1_000);
    let bad_checksum = json.to_string().replace("8a3be389", "zzzzzzzz");
    assert!(serde_json::from_str::<DeploymentSnapshot>(&bad_checksum).is_err());
}
