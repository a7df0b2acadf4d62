//! The rollout's history: policy, control and events written and read back, a newer control
//! from another process kept, and deployments from before migration 3.

use std::time::Duration;

use super::History;
use super::deployment_writes::Batch;
use super::migrations::MIGRATIONS;
use crate::engine::{
    DeploymentState, Engine, Firmware, Millis, RolloutPolicy, TargetKey, Timeouts,
};
use crate::protocol::{Id, Md5Hex};

fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

fn spec(deployment: &str, policy: RolloutPolicy) -> crate::engine::DeploymentSpec {
    crate::engine::DeploymentSpec {
        deployment_id: id(deployment),
        firmware: Firmware {
            firmware_version: "1.0.0".into(),
            file_url: "http://h/fw.bin".into(),
            file_size: 10,
            checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").unwrap(),
        },
        targets: (0..5)
            .map(|i| TargetKey::new(id(&format!("s{}", i % 2)), id(&format!("c{i}"))))
            .collect(),
        timeouts: Timeouts {
            ack: Duration::from_secs(5),
            completion: Duration::from_secs(50),
        },
        policy,
    }
}

#[test]
fn policy_control_and_events_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
    let policy = RolloutPolicy {
        canary: Some(2),
        wave_size: Some(2),
        ..RolloutPolicy::default()
    };
    let mut engine = Engine::new();
    let created = engine
        .create(spec("dep", policy.clone()), Millis(1_000))
        .unwrap();
    let paused = engine.pause(&id("dep"), Millis(2_000)).unwrap();
    let snapshot = engine.snapshot(&id("dep")).unwrap();
    let mut batch = Batch::default();
    let mut at_create = snapshot.clone();
    at_create.control.paused_reason = None;
    batch.new_deployments.push(at_create);
    batch.rollout_events.extend(created.rollout);
    batch.rollout_events.extend(paused.rollout);
    batch
        .controls
        .push(("dep".into(), snapshot.control.clone()));
    history.write_batch(&batch).unwrap();

    let row = history.deployment("dep").unwrap().unwrap();
    assert_eq!(row.state, DeploymentState::Paused);
    assert_eq!(row.policy, policy);
    let waves: Vec<u32> = history
        .target_statuses("dep")
        .unwrap()
        .iter()
        .map(|t| t.wave)
        .collect();
    assert_eq!(waves, vec![0, 0, 1, 1, 2]);
    let kinds: Vec<&str> = history
        .rollout_events("dep")
        .unwrap()
        .iter()
        .map(|e| e.kind.code())
        .collect();
    assert_eq!(kinds, vec!["planned", "wave_started", "paused"]);
    let restored = history.deployment_state("dep").unwrap().unwrap();
    assert_eq!(restored.policy, policy);
    assert_eq!(restored.control, snapshot.control);

    // An older control (a process that has not seen the pause yet) does not overwrite it.
    let mut stale = snapshot.control.clone();
    stale.revision -= 1;
    stale.paused_reason = None;
    let mut batch = Batch::default();
    batch.controls.push(("dep".into(), stale));
    history.write_batch(&batch).unwrap();
    assert_eq!(
        history.rollout_control("dep").unwrap(),
        Some(snapshot.control)
    );
}

#[test]
fn deployments_from_before_migration_3_read_as_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let mut engine = Engine::new();
    engine
        .create(spec("old", RolloutPolicy::default()), Millis(1_000))
        .unwrap();
    let snapshot = engine.snapshot(&id("old")).unwrap();
    {
        let history = History::open_with(&path, &MIGRATIONS[..2]).unwrap();
        history
            .conn()
            .execute(
                "INSERT INTO deployments (id, firmware_version, file_url, file_size, checksum,
                    ack_timeout_ms, completion_timeout_ms, created_at, target_count)
                 VALUES ('old', '1.0.0', 'http://h/fw.bin', 10,
                    '8a3be389a446bba670da3a33e5506d2e', 5000, 50000, 1000, 5)",
                [],
            )
            .unwrap();
        for (position, t) in snapshot.targets.iter().enumerate() {
            history
                .conn()
                .execute(
                    "INSERT INTO targets (deployment_id, position, store_id, controller_id,
                        status, attempt, updated_at, record)
                     VALUES ('old', ?1, ?2, ?3, 'queued', 1, 1000, ?4)",
                    rusqlite::params![
                        position as i64,
                        t.store_id.as_str(),
                        t.controller_id.as_str(),
                        serde_json::to_string(t).unwrap()
                    ],
                )
                .unwrap();
        }
    }
    let history = History::open(&path).unwrap();
    let row = history.deployment("old").unwrap().unwrap();
    assert_eq!(row.policy, RolloutPolicy::default());
    assert_eq!(row.state, DeploymentState::Running);
    let state = history.deployment_state("old").unwrap().unwrap();
    let mut engine = Engine::new();
    engine.restore(state).unwrap();
    assert_eq!(
        engine.summary(&id("old")).unwrap().state,
        DeploymentState::Running
    );
}
