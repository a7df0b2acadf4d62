//! Arbitrary sequences of events under arbitrary rollout policies: no panic, consistent
//! counts and deadlines, a completed attempt stays completed, and the policy holds (no
//! command while paused, none beyond the caps, none for a wave not started).

use std::collections::HashSet;

use proptest::prelude::*;

use super::support::*;
use crate::engine::{
    Advance, CommandRole, DeploymentSnapshot, DeploymentState, Effects, Engine, FailureThreshold,
    Millis, OutboundCommand, RolloutPolicy, StatusCounts, TargetStatus,
};
use crate::protocol::{Event, Id};

#[derive(Debug, Clone)]
enum Corr {
    CurrentUpdate,
    CurrentCancel,
    Issued(usize),
    Fresh(u8),
}

#[derive(Debug, Clone)]
enum Op {
    Publish(usize),
    Reply {
        target: usize,
        event: u8,
        corr: Corr,
        errors: Vec<String>,
        foreign_deployment: bool,
    },
    Echo(usize),
    Advance(u64),
    Tick,
    Cancel,
    Retry,
    Restore,
    Pause,
    Resume,
}

fn policy() -> impl Strategy<Value = RolloutPolicy> {
    (
        prop::option::of(1u32..4),
        prop::option::of(1u32..4),
        any::<bool>(),
        prop_oneof![Just(100u8), Just(0u8), 1u8..100],
        prop::option::of(1u32..4),
        prop::option::of(1u32..3),
        prop::option::of(prop_oneof![
            (1u32..3).prop_map(|count| FailureThreshold::Count { count }),
            (1u8..=100, 0u32..3).prop_map(|(percent, min_finished)| {
                FailureThreshold::Percent {
                    percent,
                    min_finished,
                }
            }),
        ]),
    )
        .prop_map(
            |(canary, wave_size, manual, min_success_pct, max_in_flight, per_store, pause)| {
                RolloutPolicy {
                    canary,
                    wave_size,
                    advance: if manual {
                        Advance::Manual
                    } else {
                        Advance::Auto
                    },
                    min_success_pct,
                    max_in_flight,
                    max_in_flight_per_store: per_store,
                    pause_on_failures: pause,
                    schedule: None,
                }
            },
        )
}

fn corr() -> impl Strategy<Value = Corr> {
    prop_oneof![
        4 => Just(Corr::CurrentUpdate),
        2 => Just(Corr::CurrentCancel),
        2 => any::<usize>().prop_map(Corr::Issued),
        1 => any::<u8>().prop_map(Corr::Fresh),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => any::<usize>().prop_map(Op::Publish),
        8 => (0usize..5, 0u8..4, corr(), prop::collection::vec("[a-z ]{0,6}", 0..3), prop::bool::weighted(0.05))
            .prop_map(|(target, event, corr, errors, foreign_deployment)| Op::Reply {
                target, event, corr, errors, foreign_deployment,
            }),
        1 => any::<usize>().prop_map(Op::Echo),
        3 => (0u64..40_000).prop_map(Op::Advance),
        2 => Just(Op::Tick),
        1 => Just(Op::Cancel),
        1 => Just(Op::Retry),
        1 => Just(Op::Restore),
        1 => Just(Op::Pause),
        2 => Just(Op::Resume),
    ]
}

struct Model {
    engine: Engine,
    deployment_id: Id,
    n: usize,
    issued: Vec<OutboundCommand>,
    now: Millis,
    /// (target index, attempt) pairs seen completed.
    completed: HashSet<(usize, u32)>,
    policy: RolloutPolicy,
    /// Update commands made by the last operation.
    new_updates: usize,
}

impl Model {
    fn new(n: usize, policy: RolloutPolicy) -> Self {
        let mut engine = Engine::new();
        let mut spec = spec("dep-p", keys(n));
        spec.policy = policy.clone();
        let fx = engine.create(spec, at(0)).expect("create");
        let new_updates = fx.commands.len();
        Self {
            engine,
            deployment_id: id("dep-p"),
            n,
            issued: fx.commands,
            now: at(0),
            completed: HashSet::new(),
            policy,
            new_updates,
        }
    }

    fn absorb(&mut self, fx: Effects) {
        for t in &fx.transitions {
            assert_ne!(t.from, t.to, "a transition changes the status");
            assert!(t.to == TargetStatus::Failed || t.errors.is_empty());
        }
        self.new_updates += fx
            .commands
            .iter()
            .filter(|c| c.role() == CommandRole::Update)
            .count();
        self.issued.extend(fx.commands);
    }

    fn state(&self) -> DeploymentSnapshot {
        self.engine.snapshot(&self.deployment_id).expect("snapshot")
    }

    fn apply(&mut self, op: Op) {
        self.new_updates = 0;
        match op {
            Op::Pause => {
                if let Ok(fx) = self.engine.pause(&self.deployment_id, self.now) {
                    assert!(fx.commands.is_empty());
                    self.absorb(fx);
                }
            }
            Op::Resume => {
                if let Ok(fx) = self.engine.resume(&self.deployment_id, self.now) {
                    self.absorb(fx);
                }
            }
            Op::Publish(i) => {
                if self.issued.is_empty() {
                    return;
                }
                let cid = self.issued[i % self.issued.len()].correlation_id.clone();
                let fx = self.engine.on_published(&cid, self.now).expect("issued id");
                self.absorb(fx);
            }
            Op::Reply {
                target,
                event,
                corr,
                errors,
                foreign_deployment,
            } => {
                let keys = keys(self.n + 1);
                let key = &keys[target.min(self.n)];
                let state = self.state();
                let current = state.targets.get(target).map(|t| t.current.clone());
                let correlation_id = match corr {
                    Corr::CurrentUpdate => current
                        .and_then(|a| a.update)
                        .map(|c| c.correlation_id.to_id()),
                    Corr::CurrentCancel => current
                        .and_then(|a| a.cancel)
                        .map(|c| c.correlation_id.to_id()),
                    Corr::Issued(i) if !self.issued.is_empty() => {
                        Some(self.issued[i % self.issued.len()].correlation_id.clone())
                    }
                    Corr::Issued(_) => None,
                    Corr::Fresh(k) => Some(id(&format!("fresh-{k}"))),
                }
                .unwrap_or_else(|| id("fallback"));
                let deployment_id = if foreign_deployment {
                    id("elsewhere")
                } else {
                    self.deployment_id.clone()
                };
                let event = match event {
                    0 => Event::UpdateFirmwareAck { deployment_id },
                    1 => Event::UpdateFirmwareCompleted { deployment_id },
                    2 => Event::UpdateFirmwareFailed {
                        deployment_id,
                        errors,
                    },
                    _ => Event::CancelUpdateFirmwareAck { deployment_id },
                };
                let msg = message(&key.store_id, &key.controller_id, &correlation_id, event);
                let handled = self.engine.on_inbound(&msg, self.now);
                if handled.outcome.is_rejected() {
                    assert!(handled.effects.is_empty());
                }
                self.absorb(handled.effects);
            }
            Op::Echo(i) => {
                if self.issued.is_empty() {
                    return;
                }
                let cmd = self.issued[i % self.issued.len()].clone();
                let handled = self.engine.on_inbound(&echo(&cmd), self.now);
                assert_eq!(handled.outcome.code(), "own_echo");
                assert!(handled.effects.is_empty());
            }
            Op::Advance(ms) => self.now = Millis(self.now.0 + ms),
            Op::Tick => {
                let fx = self.engine.tick(self.now);
                self.absorb(fx);
            }
            Op::Cancel => {
                let fx = self
                    .engine
                    .cancel(&self.deployment_id, self.now)
                    .expect("cancel");
                self.absorb(fx);
            }
            Op::Retry => {
                let fx = self
                    .engine
                    .retry(&self.deployment_id, self.now)
                    .expect("retry");
                self.absorb(fx);
            }
            Op::Restore => {
                let text = serde_json::to_string(&self.state()).expect("serialize");
                let state: DeploymentSnapshot = serde_json::from_str(&text).expect("parse");
                let mut engine = Engine::new();
                let restored = engine.restore(state).expect("own snapshot restores");
                assert!(restored.effects.is_empty());
                let before = self.engine.next_deadline();
                self.engine = engine;
                assert_eq!(self.engine.next_deadline(), before);
            }
        }
    }

    fn check(&mut self) {
        let d = self
            .engine
            .deployment(&self.deployment_id)
            .expect("deployment");
        let counts = d.counts();
        assert_eq!(counts.total(), self.n);
        let mut recount = StatusCounts::default();
        for t in d.targets() {
            recount.add(t.status());
        }
        assert_eq!(counts, recount);
        assert_eq!(
            d.is_finished(),
            d.targets().iter().all(|t| t.status().is_terminal())
        );

        for &(i, number) in &self.completed {
            let status = d.targets()[i].attempt(number).map(|a| a.status);
            assert_eq!(
                status,
                Some(TargetStatus::Completed),
                "target {i} attempt {number}"
            );
        }
        let mut expected: Option<Millis> = None;
        for (i, t) in d.targets().iter().enumerate() {
            for (n, a) in (1u32..).zip(t.attempts()) {
                assert_eq!(a.number, n);
                if a.status == TargetStatus::Completed {
                    self.completed.insert((i, n));
                }
            }
            let a = &t.current;
            if let Some(sent) = a.sent_at() {
                if a.status == TargetStatus::Sent {
                    let acked = Millis(sent.0 + ACK_MS);
                    expected = Some(expected.map_or(acked, |e| e.min(acked)));
                }
                if matches!(a.status, TargetStatus::Sent | TargetStatus::Acknowledged) {
                    let done = Millis(sent.0 + DONE_MS);
                    expected = Some(expected.map_or(done, |e| e.min(done)));
                }
            }
        }
        assert_eq!(self.engine.next_deadline(), expected);
        self.check_policy();
    }

    fn check_policy(&self) {
        let d = self
            .engine
            .deployment(&self.deployment_id)
            .expect("deployment");
        let state = d.deployment_state();
        if matches!(state, DeploymentState::Paused | DeploymentState::Cancelled) {
            assert_eq!(self.new_updates, 0, "an update command while {state}");
        }
        let started = d.state().control.waves_started;
        let mut in_flight = 0u32;
        let mut per_store: std::collections::HashMap<&Id, u32> = Default::default();
        for (i, t) in d.targets().iter().enumerate() {
            let has_command = t.current.update.is_some();
            if t.current.update.as_ref().is_some_and(|u| !u.withdrawn) {
                assert!(d.wave_of(i) < started, "target {i} sent before its wave");
            }
            if has_command && !t.status().is_terminal() {
                in_flight += 1;
                *per_store.entry(&t.store_id).or_default() += 1;
            }
        }
        // The engine's running counts agree with a recount.
        assert_eq!(d.in_flight, in_flight, "in flight");
        for (store, &n) in &per_store {
            assert_eq!(d.in_flight_in_store(store), n, "in flight in {store}");
        }
        // A late reply may revive a timed-out target beyond a cap; no new command may.
        if self.new_updates > 0 {
            if let Some(cap) = self.policy.max_in_flight {
                assert!(in_flight <= cap, "{in_flight} in flight, cap {cap}");
            }
            if let Some(cap) = self.policy.max_in_flight_per_store {
                for (store, n) in per_store {
                    assert!(n <= cap, "{n} in flight in {store}, cap {cap}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_event_sequences_keep_the_invariants(
        n in 1usize..5,
        policy in policy(),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut model = Model::new(n, policy);
        model.check();
        for op in ops {
            model.apply(op);
            model.check();
        }
    }
}
