//! Rollout policies through the engine: waves, advance, caps, failure thresholds, pause and
//! resume, and a restore in the middle of it all.

use std::collections::HashMap;

use super::support::{at, completed, failed, id, key, keys, spec};
use crate::engine::{
    Advance, DeploymentState, Effects, Engine, EngineError, FailureThreshold, OutboundCommand,
    RolloutEventKind, RolloutPolicy, TargetKey, TargetStatus, plan_waves,
};
use crate::protocol::Id;

/// One deployment with a policy, remembering each target's latest update command.
struct Rollout {
    engine: Engine,
    deployment_id: Id,
    keys: Vec<TargetKey>,
    updates: HashMap<usize, OutboundCommand>,
    /// Every rollout event so far, in order.
    events: Vec<RolloutEventKind>,
}

impl Rollout {
    fn new(targets: Vec<TargetKey>, policy: RolloutPolicy) -> Self {
        let mut engine = Engine::new();
        let mut s = spec("dep-r", targets.clone());
        s.policy = policy;
        let fx = engine.create(s, at(0)).expect("create");
        let mut run = Self {
            engine,
            deployment_id: id("dep-r"),
            keys: targets,
            updates: HashMap::new(),
            events: Vec::new(),
        };
        run.note(&fx);
        run
    }

    fn note(&mut self, fx: &Effects) {
        for cmd in &fx.commands {
            let i = self
                .keys
                .iter()
                .position(|k| k.store_id == cmd.store_id && k.controller_id == cmd.controller_id)
                .expect("target");
            self.updates.insert(i, cmd.clone());
        }
        self.events
            .extend(fx.rollout.iter().map(|e| e.kind.clone()));
    }

    /// Target indexes that have an update command, sorted.
    fn released(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.updates.keys().copied().collect();
        v.sort_unstable();
        v
    }

    fn publish(&mut self, i: usize, now: u64) -> Effects {
        let cid = self.updates[&i].correlation_id.clone();
        let fx = self.engine.on_published(&cid, at(now)).expect("publish");
        self.note(&fx);
        fx
    }

    fn finish(&mut self, i: usize, ok: bool, now: u64) -> Effects {
        self.publish(i, now);
        let cmd = self.updates[&i].clone();
        let msg = if ok {
            completed(&cmd)
        } else {
            failed(&cmd, &["flash error"])
        };
        let handled = self.engine.on_inbound(&msg, at(now + 1));
        self.note(&handled.effects);
        handled.effects
    }

    fn state(&self) -> DeploymentState {
        self.summary().state
    }

    fn summary(&self) -> crate::engine::DeploymentSummary {
        self.engine.summary(&self.deployment_id).expect("summary")
    }

    fn pause(&mut self, now: u64) -> Result<Effects, EngineError> {
        let fx = self.engine.pause(&self.deployment_id, at(now))?;
        self.note(&fx);
        Ok(fx)
    }

    fn resume(&mut self, now: u64) -> Result<Effects, EngineError> {
        let fx = self.engine.resume(&self.deployment_id, at(now))?;
        self.note(&fx);
        Ok(fx)
    }
}

fn canary(canary: u32, wave_size: u32) -> RolloutPolicy {
    RolloutPolicy {
        canary: Some(canary),
        wave_size: Some(wave_size),
        ..RolloutPolicy::default()
    }
}

#[test]
fn plans_canary_then_waves_of_the_given_size() {
    let d = RolloutPolicy::default();
    assert_eq!(plan_waves(7, &d), vec![7]);
    assert_eq!(plan_waves(0, &d), Vec::<u32>::new());
    assert_eq!(plan_waves(10, &canary(2, 3)), vec![2, 3, 3, 2]);
    assert_eq!(plan_waves(3, &canary(5, 3)), vec![3]);
    let only_canary = RolloutPolicy {
        canary: Some(1),
        ..RolloutPolicy::default()
    };
    assert_eq!(plan_waves(4, &only_canary), vec![1, 3]);
    let only_waves = RolloutPolicy {
        wave_size: Some(4),
        ..RolloutPolicy::default()
    };
    assert_eq!(plan_waves(9, &only_waves), vec![4, 4, 1]);
}

#[test]
fn bad_policies_are_refused_at_create() {
    let bad = [
        RolloutPolicy {
            canary: Some(0),
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            wave_size: Some(0),
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            max_in_flight_per_store: Some(0),
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            min_success_pct: 101,
            ..RolloutPolicy::default()
        },
        RolloutPolicy {
            pause_on_failures: Some(FailureThreshold::Percent {
                percent: 0,
                min_finished: 3,
            }),
            ..RolloutPolicy::default()
        },
    ];
    for policy in bad {
        let mut s = spec("dep-x", keys(3));
        s.policy = policy.clone();
        let err = Engine::new().create(s, at(0)).unwrap_err();
        assert_eq!(err.code(), "bad_policy", "{policy:?}");
    }
}

#[test]
fn the_default_policy_sends_everything_at_once() {
    let run = Rollout::new(keys(25), RolloutPolicy::default());
    assert_eq!(run.released().len(), 25);
    assert_eq!(run.state(), DeploymentState::Running);
    assert_eq!(
        run.events,
        vec![
            RolloutEventKind::Planned { waves: vec![25] },
            RolloutEventKind::WaveStarted { wave: 0 }
        ]
    );
}

#[test]
fn only_the_canary_is_sent_first_and_rows_carry_waves() {
    let run = Rollout::new(keys(10), canary(2, 3));
    assert_eq!(run.released(), vec![0, 1]);
    let summary = run.summary();
    assert_eq!(summary.current_wave, Some(0));
    let sizes: Vec<u32> = summary.waves.iter().map(|w| w.size).collect();
    assert_eq!(sizes, vec![2, 3, 3, 2]);
    assert!(summary.waves[0].started && !summary.waves[1].started);
    let rows = run.engine.target_rows(&run.deployment_id).expect("rows");
    let waves: Vec<u32> = rows.iter().map(|r| r.wave).collect();
    assert_eq!(waves, vec![0, 0, 1, 1, 1, 2, 2, 2, 3, 3]);
    // Held-back targets are queued and never time out.
    assert!(rows.iter().all(|r| r.status == TargetStatus::Queued));
    assert_eq!(run.engine.next_deadline(), None);
}

#[test]
fn a_successful_wave_starts_the_next_automatically() {
    let mut run = Rollout::new(keys(10), canary(2, 3));
    run.finish(0, true, 100);
    assert_eq!(run.released(), vec![0, 1]);
    let fx = run.finish(1, true, 200);
    assert_eq!(fx.commands.len(), 3);
    assert_eq!(run.released(), vec![0, 1, 2, 3, 4]);
    assert_eq!(
        run.events.last(),
        Some(&RolloutEventKind::WaveStarted { wave: 1 })
    );
    assert_eq!(run.summary().current_wave, Some(1));
    assert!(run.summary().waves[0].finished);
    // The transitions of the new wave's targets say which wave they are in.
    let sent = run.publish(2, 300);
    assert_eq!(sent.transitions[0].wave, 1);
}

#[test]
fn a_wave_below_the_minimum_success_pauses() {
    let mut run = Rollout::new(keys(6), canary(2, 2));
    run.finish(0, true, 100);
    let fx = run.finish(1, false, 200);
    assert!(fx.commands.is_empty());
    assert_eq!(run.state(), DeploymentState::Paused);
    let reason = run.summary().paused_reason.expect("reason");
    assert!(
        reason.contains("50%") && reason.contains("100%"),
        "{reason}"
    );
    assert_eq!(run.released(), vec![0, 1]);
    // The operator decides to go on anyway: the next wave starts.
    let fx = run.resume(300).expect("resume");
    assert_eq!(fx.commands.len(), 2);
    assert_eq!(run.state(), DeploymentState::Running);
    assert_eq!(
        &run.events[run.events.len() - 2..],
        &[
            RolloutEventKind::Resumed,
            RolloutEventKind::WaveStarted { wave: 1 }
        ]
    );
}

#[test]
fn a_lower_minimum_lets_a_partly_failed_wave_advance() {
    let policy = RolloutPolicy {
        min_success_pct: 50,
        ..canary(2, 2)
    };
    let mut run = Rollout::new(keys(6), policy);
    run.finish(0, false, 100);
    run.finish(1, true, 200);
    assert_eq!(run.state(), DeploymentState::Running);
    assert_eq!(run.released(), vec![0, 1, 2, 3]);
}

#[test]
fn a_timed_out_target_counts_against_its_wave() {
    let mut run = Rollout::new(keys(4), canary(2, 2));
    run.finish(0, true, 100);
    run.publish(1, 100);
    // Ack timeout 10 s from the send.
    let fx = run.engine.tick(at(100 + 10_000));
    run.note(&fx);
    assert_eq!(run.state(), DeploymentState::Paused);
    assert_eq!(run.released(), vec![0, 1]);
}

#[test]
fn manual_advance_waits_for_the_operator_after_each_wave() {
    let policy = RolloutPolicy {
        advance: Advance::Manual,
        ..canary(1, 2)
    };
    let mut run = Rollout::new(keys(5), policy);
    run.finish(0, true, 100);
    assert_eq!(run.state(), DeploymentState::Paused);
    assert_eq!(run.released(), vec![0]);
    let fx = run.resume(200).expect("resume");
    assert_eq!(fx.commands.len(), 2);
    run.finish(1, true, 300);
    assert_eq!(run.state(), DeploymentState::Running);
    run.finish(2, true, 400);
    assert_eq!(run.state(), DeploymentState::Paused);
    run.resume(500).expect("resume");
    run.finish(3, true, 600);
    run.finish(4, true, 700);
    // After the last wave there is nothing to wait for: finished, not paused.
    assert_eq!(run.state(), DeploymentState::Finished);
}

#[test]
fn max_in_flight_caps_targets_sent_but_not_terminal() {
    let policy = RolloutPolicy {
        max_in_flight: Some(2),
        ..RolloutPolicy::default()
    };
    let mut run = Rollout::new(keys(5), policy);
    assert_eq!(run.released(), vec![0, 1]);
    // A PUBACK does not free a place: the target is still in flight.
    run.publish(0, 50);
    assert_eq!(run.released(), vec![0, 1]);
    run.finish(0, false, 100);
    assert_eq!(run.released(), vec![0, 1, 2]);
    run.finish(2, true, 200);
    run.finish(1, true, 300);
    assert_eq!(run.released(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn max_in_flight_per_store_skips_full_stores_without_blocking_others() {
    // Stores a, a, a, b, b, c: one per store at a time.
    let targets = vec![
        key("a", "c1"),
        key("a", "c2"),
        key("a", "c3"),
        key("b", "c1"),
        key("b", "c2"),
        key("c", "c1"),
    ];
    let policy = RolloutPolicy {
        max_in_flight_per_store: Some(1),
        ..RolloutPolicy::default()
    };
    let mut run = Rollout::new(targets, policy);
    assert_eq!(run.released(), vec![0, 3, 5]);
    run.finish(3, true, 100);
    assert_eq!(run.released(), vec![0, 3, 4, 5]);
    run.finish(0, true, 200);
    assert_eq!(run.released(), vec![0, 1, 3, 4, 5]);
    // Deployment order is kept within a store.
    assert_eq!(run.updates[&1].controller_id, id("c2"));
}

#[test]
fn a_failure_count_pauses_and_nothing_more_is_sent() {
    let policy = RolloutPolicy {
        max_in_flight: Some(3),
        pause_on_failures: Some(FailureThreshold::Count { count: 2 }),
        ..RolloutPolicy::default()
    };
    let mut run = Rollout::new(keys(10), policy);
    assert_eq!(run.released(), vec![0, 1, 2]);
    run.finish(0, false, 100);
    assert_eq!(run.released(), vec![0, 1, 2, 3]);
    let fx = run.finish(1, false, 200);
    assert!(fx.commands.is_empty());
    assert_eq!(run.state(), DeploymentState::Paused);
    let reason = run.summary().paused_reason.expect("reason");
    assert!(reason.contains("threshold 2"), "{reason}");
    // Targets already sent go on; their results free places, but nothing is sent.
    run.finish(2, true, 300);
    run.finish(3, true, 400);
    assert_eq!(run.released(), vec![0, 1, 2, 3]);
    // Resume re-arms the threshold: it counts failures from now.
    let fx = run.resume(500).expect("resume");
    assert_eq!(fx.commands.len(), 3);
    run.finish(4, false, 600);
    assert_eq!(run.state(), DeploymentState::Running);
    run.finish(5, false, 700);
    assert_eq!(run.state(), DeploymentState::Paused);
    assert_eq!(run.released(), vec![0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn failures_after_everything_was_sent_do_not_pause() {
    let policy = RolloutPolicy {
        pause_on_failures: Some(FailureThreshold::Count { count: 1 }),
        ..RolloutPolicy::default()
    };
    let mut run = Rollout::new(keys(3), policy);
    run.finish(0, false, 100);
    // Nothing is held back, so there is nothing to pause: the deployment runs to its end.
    assert_eq!(run.state(), DeploymentState::Running);
    run.finish(1, true, 200);
    run.finish(2, true, 300);
    assert_eq!(run.state(), DeploymentState::Finished);
}

#[test]
fn a_failure_percentage_waits_for_enough_finished_targets() {
    let policy = RolloutPolicy {
        max_in_flight: Some(2),
        pause_on_failures: Some(FailureThreshold::Percent {
            percent: 50,
            min_finished: 3,
        }),
        ..RolloutPolicy::default()
    };
    let mut run = Rollout::new(keys(10), policy);
    run.finish(0, false, 100);
    // 1 of 1 failed, but fewer than 3 have finished.
    assert_eq!(run.state(), DeploymentState::Running);
    run.finish(1, true, 200);
    assert_eq!(run.state(), DeploymentState::Running);
    // 2 of 3 failed: 66% >= 50%.
    run.finish(2, false, 300);
    assert_eq!(run.state(), DeploymentState::Paused);
}

#[test]
fn the_canary_failing_pauses_before_any_other_wave() {
    let policy = RolloutPolicy {
        pause_on_failures: Some(FailureThreshold::Count { count: 1 }),
        min_success_pct: 0,
        ..canary(3, 10)
    };
    let mut run = Rollout::new(keys(30), policy);
    let fx = run.finish(0, false, 100);
    assert!(fx.commands.is_empty());
    assert_eq!(run.state(), DeploymentState::Paused);
    run.finish(1, true, 200);
    run.finish(2, true, 300);
    // The canary finished, but the deployment stays paused with wave 1 unsent.
    assert_eq!(run.released(), vec![0, 1, 2]);
    assert_eq!(run.summary().current_wave, Some(0));
}

#[test]
fn pause_by_hand_holds_new_commands_until_resume() {
    let policy = RolloutPolicy {
        max_in_flight: Some(1),
        ..RolloutPolicy::default()
    };
    let mut run = Rollout::new(keys(3), policy);
    let fx = run.pause(10).expect("pause");
    assert_eq!(
        fx.rollout[0].kind,
        RolloutEventKind::Paused {
            reason: crate::engine::PAUSED_BY_OPERATOR.into()
        }
    );
    // Again: no change, no event.
    assert!(run.pause(20).expect("pause again").is_empty());
    run.finish(0, true, 100);
    assert_eq!(run.released(), vec![0]);
    assert_eq!(run.state(), DeploymentState::Paused);
    let fx = run.resume(200).expect("resume");
    assert_eq!(fx.commands.len(), 1);
    assert_eq!(run.state(), DeploymentState::Running);
    // Resuming a running deployment changes nothing.
    assert!(run.resume(300).expect("resume").is_empty());
}

#[test]
fn finished_and_cancelled_deployments_cannot_be_paused_or_resumed() {
    let mut run = Rollout::new(keys(1), RolloutPolicy::default());
    run.finish(0, true, 100);
    assert_eq!(run.state(), DeploymentState::Finished);
    assert_eq!(run.pause(200).unwrap_err().code(), "not_running");

    let mut run = Rollout::new(keys(4), canary(1, 1));
    run.pause(10).expect("pause");
    let fx = run
        .engine
        .cancel(&run.deployment_id, at(20))
        .expect("cancel");
    run.note(&fx);
    assert_eq!(run.state(), DeploymentState::Cancelled);
    assert!(run.summary().paused_reason.is_none());
    let err = run.resume(30).unwrap_err();
    assert_eq!(err.code(), "not_running");
    assert!(err.to_string().contains("cancelled"), "{err}");
}

#[test]
fn a_retry_while_paused_sends_nothing_until_resume() {
    let policy = RolloutPolicy {
        pause_on_failures: Some(FailureThreshold::Count { count: 1 }),
        ..canary(1, 1)
    };
    let mut run = Rollout::new(keys(3), policy);
    run.finish(0, false, 100);
    assert_eq!(run.state(), DeploymentState::Paused);
    let fx = run
        .engine
        .retry(&run.deployment_id, at(200))
        .expect("retry");
    assert_eq!(fx.transitions.len(), 1);
    assert!(fx.commands.is_empty());
    let fx = run.resume(300).expect("resume");
    // The retried canary goes out again; wave 1 waits for the canary to finish.
    assert_eq!(fx.commands.len(), 1);
    assert_eq!(fx.commands[0].attempt, 2);
    run.note(&fx);
    run.finish(0, true, 400);
    assert_eq!(run.released(), vec![0, 1]);
}

#[test]
fn a_restored_deployment_keeps_its_pause_and_waves() {
    let mut run = Rollout::new(keys(6), canary(2, 2));
    run.finish(0, true, 100);
    run.finish(1, false, 200);
    assert_eq!(run.state(), DeploymentState::Paused);
    let saved = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let text = serde_json::to_string(&saved).expect("json");
    let mut engine = Engine::new();
    let restored = engine
        .restore(serde_json::from_str(&text).expect("parse"))
        .expect("restore");
    assert!(restored.effects.commands.is_empty());
    let summary = engine.summary(&run.deployment_id).expect("summary");
    assert_eq!(summary.state, DeploymentState::Paused);
    assert_eq!(summary.current_wave, Some(0));
    let fx = engine.resume(&run.deployment_id, at(300)).expect("resume");
    assert_eq!(fx.commands.len(), 2);
}

#[test]
fn a_snapshot_from_before_policies_restores_as_all_at_once() {
    let run = Rollout::new(keys(3), RolloutPolicy::default());
    let mut json =
        serde_json::to_value(run.engine.snapshot(&run.deployment_id).expect("snap")).expect("json");
    let obj = json.as_object_mut().expect("object");
    obj.remove("policy");
    obj.remove("control");
    let mut engine = Engine::new();
    engine
        .restore(serde_json::from_value(json).expect("parse"))
        .expect("restore");
    let summary = engine.summary(&run.deployment_id).expect("summary");
    assert_eq!(summary.policy, RolloutPolicy::default());
    assert_eq!(summary.state, DeploymentState::Running);
    assert_eq!(summary.current_wave, Some(0));
}

#[test]
fn policy_json_has_the_documented_shape() {
    let policy = RolloutPolicy {
        canary: Some(2),
        advance: Advance::Manual,
        pause_on_failures: Some(FailureThreshold::Percent {
            percent: 10,
            min_finished: 20,
        }),
        ..RolloutPolicy::default()
    };
    let v = serde_json::to_value(policy).expect("json");
    assert_eq!(v["advance"], "manual");
    assert_eq!(v["min_success_pct"], 100);
    assert_eq!(v["wave_size"], serde_json::Value::Null);
    assert_eq!(v["pause_on_failures"]["kind"], "percent");
    assert_eq!(v["pause_on_failures"]["min_finished"], 20);
    let count: FailureThreshold =
        serde_json::from_str(r#"{"kind":"count","count":3}"#).expect("parse");
    assert_eq!(count, FailureThreshold::Count { count: 3 });
    assert_eq!(
        serde_json::to_value(DeploymentState::Paused).expect("json"),
        "paused"
    );
}

#[test]
fn a_newer_control_from_another_process_is_taken_over() {
    let policy = RolloutPolicy {
        max_in_flight: Some(1),
        ..RolloutPolicy::default()
    };
    let mut here = Rollout::new(keys(3), policy);
    // Another process loads the same deployment and pauses it.
    let mut there = Engine::new();
    let saved = here.engine.snapshot(&here.deployment_id).expect("snapshot");
    there.restore(saved).expect("restore");
    there.pause(&here.deployment_id, at(10)).expect("pause");
    let theirs = there.snapshot(&here.deployment_id).expect("snap").control;

    let fx = here
        .engine
        .adopt_control(&here.deployment_id, &theirs, at(20))
        .expect("adopt");
    assert!(fx.commands.is_empty());
    assert_eq!(here.state(), DeploymentState::Paused);
    // Taking the same revision again changes nothing; an older one neither.
    let mine = here
        .engine
        .snapshot(&here.deployment_id)
        .expect("snap")
        .control;
    assert_eq!(mine.revision, theirs.revision);
    let fx = here
        .engine
        .adopt_control(&here.deployment_id, &theirs, at(30))
        .expect("adopt");
    assert!(fx.is_empty());
    run_completes_first_and_stays_paused(&mut here);

    // The other process resumes: this one sends again.
    there.resume(&here.deployment_id, at(200)).expect("resume");
    let theirs = there.snapshot(&here.deployment_id).expect("snap").control;
    let fx = here
        .engine
        .adopt_control(&here.deployment_id, &theirs, at(210))
        .expect("adopt");
    assert_eq!(fx.commands.len(), 1);
    assert_eq!(here.state(), DeploymentState::Running);
}

fn run_completes_first_and_stays_paused(run: &mut Rollout) {
    let fx = run.finish(0, true, 100);
    assert!(fx.commands.is_empty());
    assert_eq!(run.released(), vec![0]);
}

#[test]
fn every_control_change_counts_a_revision() {
    let mut run = Rollout::new(keys(4), canary(1, 1));
    let revision = |run: &Rollout| {
        run.engine
            .snapshot(&run.deployment_id)
            .expect("snap")
            .control
            .revision
    };
    let start = revision(&run);
    run.finish(0, true, 100); // wave 1 starts
    let after_wave = revision(&run);
    assert!(after_wave > start);
    run.pause(200).expect("pause");
    let after_pause = revision(&run);
    assert!(after_pause > after_wave);
    run.resume(300).expect("resume");
    assert!(revision(&run) > after_pause);
    let before_cancel = revision(&run);
    run.engine
        .cancel(&run.deployment_id, at(400))
        .expect("cancel");
    assert!(revision(&run) > before_cancel);
}

#[test]
fn a_cancelled_deployment_with_held_back_targets_restores() {
    let mut run = Rollout::new(keys(4), canary(1, 1));
    let fx = run
        .engine
        .cancel(&run.deployment_id, at(10))
        .expect("cancel");
    // The canary's command had not left: withdrawn; the others never had one.
    assert_eq!(fx.withdrawn.len(), 1);
    let saved = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    assert!(saved.targets[1].current.update.is_none());
    let mut engine = Engine::new();
    engine.restore(saved).expect("restore");
    assert_eq!(
        engine.summary(&run.deployment_id).expect("summary").state,
        DeploymentState::Cancelled
    );
}

/// Each wave's progress as a walk over its targets: what the tallies kept as statuses change
/// must always agree with.
fn walked_waves(engine: &Engine, deployment_id: &Id) -> Vec<crate::engine::WaveProgress> {
    let d = engine.deployment(deployment_id).expect("deployment");
    let mut waves: Vec<crate::engine::WaveProgress> = d
        .plan()
        .iter()
        .enumerate()
        .map(|(i, &size)| crate::engine::WaveProgress {
            index: i as u32,
            size,
            started: (i as u32) < d.state().control.waves_started,
            completed: 0,
            failed: 0,
            finished: true,
        })
        .collect();
    for (i, target) in d.targets().iter().enumerate() {
        let w = &mut waves[d.wave_of(i) as usize];
        match target.status() {
            TargetStatus::Completed => w.completed += 1,
            TargetStatus::Failed | TargetStatus::TimedOut => w.failed += 1,
            _ => {}
        }
        w.finished &= target.status().is_terminal();
    }
    waves
}

#[test]
fn wave_tallies_agree_with_the_targets_through_failures_retries_and_a_restore() {
    let policy = RolloutPolicy {
        min_success_pct: 50,
        ..canary(2, 3)
    };
    let mut run = Rollout::new(keys(8), policy);
    let check = |run: &Rollout, when: &str| {
        assert_eq!(
            run.summary().waves,
            walked_waves(&run.engine, &run.deployment_id),
            "{when}"
        );
    };
    check(&run, "after create");
    run.finish(0, true, 100);
    check(&run, "one canary completed");
    run.finish(1, false, 200);
    check(&run, "the other failed");
    let fx = run
        .engine
        .retry(&run.deployment_id, at(300))
        .expect("retry");
    run.note(&fx);
    check(&run, "after the retry");
    run.finish(1, true, 400);
    check(&run, "the retried canary completed");
    for i in run.released() {
        if i >= 2 {
            run.finish(i, i % 2 == 0, 500 + i as u64);
            check(&run, &format!("target {i} finished"));
        }
    }
    let saved = run.engine.snapshot(&run.deployment_id).expect("snapshot");
    let mut engine = Engine::new();
    engine.restore(saved).expect("restore");
    assert_eq!(
        engine.summary(&run.deployment_id).expect("summary").waves,
        walked_waves(&engine, &run.deployment_id),
        "after a restore"
    );
}
