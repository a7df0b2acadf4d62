//! Maintenance windows and not-before/not-after in the engine: targets wait for their
//! store's window, the engine wakes when it opens, a closing window stops new sends only,
//! and not-after skips what is still waiting.

use std::collections::BTreeMap;

use super::support::*;
use crate::engine::{
    DeploymentState, Engine, InWindows, RolloutPolicy, Schedule, StoreWindow, TargetStatus,
    Unwindowed,
};

/// T0 is 2023-11-14 22:13:20 UTC; the window opens at 22:30, 1,000 s later.
const OPENS: u64 = 1_000_000;

fn windowed(windows: &str, extra: RolloutPolicy) -> RolloutPolicy {
    let mut stores = BTreeMap::new();
    stores.insert(
        "north".to_owned(),
        StoreWindow {
            timezone: "UTC".into(),
            windows: windows.parse().unwrap(),
        },
    );
    RolloutPolicy {
        schedule: Some(Box::new(Schedule {
            in_windows: Some(InWindows {
                unwindowed: Unwindowed::SendAtOnce,
                stores,
            }),
            ..Schedule::default()
        })),
        ..extra
    }
}

fn targets() -> Vec<crate::engine::TargetKey> {
    vec![key("north", "n1"), key("south", "s1"), key("north", "n2")]
}

#[test]
fn a_store_waits_for_its_window_and_the_engine_wakes_when_it_opens() {
    let mut engine = Engine::new();
    let mut s = spec("dep", targets());
    s.policy = windowed("Daily 22:30-23:00", RolloutPolicy::default());
    let fx = engine.create(s, at(0)).unwrap();
    // Only the store without a window goes at once.
    let stores: Vec<&str> = fx.commands.iter().map(|c| c.store_id.as_str()).collect();
    assert_eq!(stores, ["south"]);
    assert_eq!(engine.next_deadline(), Some(at(OPENS)));
    assert!(engine.tick(at(OPENS - 1)).commands.is_empty());
    let fx = engine.tick(at(OPENS));
    let sent: Vec<&str> = fx
        .commands
        .iter()
        .map(|c| c.controller_id.as_str())
        .collect();
    assert_eq!(sent, ["n1", "n2"]);
    assert_eq!(engine.next_deadline(), None);
}

#[test]
fn a_closing_window_stops_new_sends_but_not_the_sent_ones() {
    let mut engine = Engine::new();
    let mut s = spec("dep", vec![key("north", "n1"), key("north", "n2")]);
    s.policy = windowed(
        "Daily 22:30-22:31",
        RolloutPolicy {
            max_in_flight_per_store: Some(1),
            ..RolloutPolicy::default()
        },
    );
    assert!(engine.create(s, at(0)).unwrap().commands.is_empty());
    let fx = engine.tick(at(OPENS));
    assert_eq!(fx.commands.len(), 1);
    let first = fx.commands[0].clone();
    engine
        .on_published(&first.correlation_id, at(OPENS + 1))
        .unwrap();
    // The window closed at 22:31; the first target goes on and completes, and the second
    // waits for tomorrow's window.
    engine.on_inbound(&ack(&first), at(OPENS + 70_000));
    let handled = engine.on_inbound(&completed(&first), at(OPENS + 80_000));
    assert!(handled.effects.commands.is_empty());
    let d = engine.deployment(&id("dep")).unwrap();
    assert_eq!(d.targets()[0].status(), TargetStatus::Completed);
    let tomorrow = at(OPENS + 86_400_000);
    assert_eq!(engine.next_deadline(), Some(tomorrow));
    assert_eq!(engine.tick(tomorrow).commands.len(), 1);
}

#[test]
fn not_before_holds_everything_and_not_after_skips_what_still_waits() {
    let mut engine = Engine::new();
    let mut s = spec("dep", targets());
    let mut policy = windowed("Daily 22:30-23:00", RolloutPolicy::default());
    if let Some(schedule) = policy.schedule.as_mut() {
        schedule.not_before = Some(at(5_000));
        schedule.not_after = Some(at(60_000));
    }
    s.policy = policy;
    assert!(engine.create(s, at(0)).unwrap().commands.is_empty());
    assert_eq!(engine.next_deadline(), Some(at(5_000)));
    let fx = engine.tick(at(5_000));
    assert_eq!(fx.commands.len(), 1, "south, which has no window");
    // The north window opens after not-after: its targets are skipped at not-after.
    let fx = engine.tick(at(60_000));
    assert_eq!(fx.transitions.len(), 2);
    assert!(fx.transitions.iter().all(|t| t.to == TargetStatus::Skipped));
    let reason = &fx.transitions[0].errors;
    assert!(reason[0].contains("not-after"), "{reason:?}");
    let d = engine.deployment(&id("dep")).unwrap();
    assert_eq!(d.counts().skipped, 2);
    assert_eq!(d.targets()[0].current.errors, *reason);
    assert_eq!(
        d.targets()[1].status(),
        TargetStatus::Queued,
        "its command was made"
    );
    assert_eq!(d.deployment_state(), DeploymentState::Running);
}

#[test]
fn bounds_are_checked() {
    let mut s = spec("dep", targets());
    s.policy.schedule = Some(Box::new(Schedule {
        not_before: Some(at(10)),
        not_after: Some(at(10)),
        in_windows: None,
    }));
    assert_eq!(
        Engine::new().create(s, at(0)).unwrap_err().code(),
        "bad_policy"
    );
}

#[test]
fn a_restored_windowed_deployment_waits_for_a_real_tick() {
    let mut engine = Engine::new();
    let mut s = spec("dep", targets());
    s.policy = windowed("Daily 22:30-23:00", RolloutPolicy::default());
    engine.create(s, at(0)).unwrap();
    let snapshot = engine.snapshot(&id("dep")).unwrap();
    let json = serde_json::to_string(&snapshot).unwrap();
    let mut again = Engine::new();
    let restored = again.restore(serde_json::from_str(&json).unwrap()).unwrap();
    assert!(restored.effects.commands.is_empty());
    assert_eq!(again.next_deadline(), Some(crate::engine::Millis(0)));
    // A tick with the real time, inside the window, releases the north targets.
    assert_eq!(again.tick(at(OPENS + 5)).commands.len(), 2);
}
