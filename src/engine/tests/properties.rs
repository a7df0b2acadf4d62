//! Arbitrary sequences of events: no panic, consistent counts and deadlines, and a
//! completed attempt stays completed.

use std::collections::HashSet;

use proptest::prelude::*;

use super::support::*;
use crate::engine::{
    DeploymentSnapshot, Effects, Engine, Millis, OutboundCommand, StatusCounts, TargetStatus,
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
}

impl Model {
    fn new(n: usize) -> Self {
        let mut engine = Engine::new();
        let fx = engine
            .create(spec("dep-p", keys(n)), at(0))
            .expect("create");
        Self {
            engine,
            deployment_id: id("dep-p"),
            n,
            issued: fx.commands,
            now: at(0),
            completed: HashSet::new(),
        }
    }

    fn absorb(&mut self, fx: Effects) {
        for t in &fx.transitions {
            assert_ne!(t.from, t.to, "a transition changes the status");
            assert!(t.to == TargetStatus::Failed || t.errors.is_empty());
        }
        self.issued.extend(fx.commands);
    }

    fn state(&self) -> DeploymentSnapshot {
        self.engine.snapshot(&self.deployment_id).expect("snapshot")
    }

    fn apply(&mut self, op: Op) {
        match op {
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
                    Corr::CurrentUpdate => current.and_then(|a| a.update).map(|c| c.correlation_id),
                    Corr::CurrentCancel => current.and_then(|a| a.cancel).map(|c| c.correlation_id),
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
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_event_sequences_keep_the_invariants(
        n in 1usize..5,
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut model = Model::new(n);
        model.check();
        for op in ops {
            model.apply(op);
            model.check();
        }
    }
}
