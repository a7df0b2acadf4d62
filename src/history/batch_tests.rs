//! A batch carrying one target several times (the writer coalesces queued flushes) stores
//! the target's last state, also when its deployment is created in the same batch.

use std::time::Duration;

use super::History;
use super::deployment_writes::{Batch, TargetWrite};
use crate::engine::{
    DeploymentSpec, Engine, Firmware, Millis, RolloutPolicy, TargetKey, TargetStatus, Timeouts,
};
use crate::protocol::{Id, Md5Hex};

pub(super) fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

/// A 3-target deployment `dep` (also the migration tests' fixture).
pub(super) fn spec() -> DeploymentSpec {
    DeploymentSpec {
        deployment_id: id("dep"),
        firmware: Firmware {
            firmware_version: "1.0.0".into(),
            file_url: "http://h/fw.bin".into(),
            file_size: 10,
            checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").unwrap(),
        },
        targets: (0..3)
            .map(|i| TargetKey::new(id("s"), id(&format!("c{i}"))))
            .collect(),
        timeouts: Timeouts {
            ack: Duration::from_secs(5),
            completion: Duration::from_secs(50),
        },
        policy: RolloutPolicy::default(),
    }
}

#[test]
fn a_target_written_twice_in_one_batch_keeps_its_last_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
    let mut engine = Engine::new();
    let created = engine.create(spec(), Millis(1_000)).unwrap();
    let at_create = engine.snapshot(&id("dep")).unwrap();
    let first = &created.commands[0];
    engine
        .on_published(&first.correlation_id, Millis(2_000))
        .unwrap();
    let after = engine.snapshot(&id("dep")).unwrap();
    let position = after
        .targets
        .iter()
        .position(|t| t.controller_id == first.controller_id)
        .unwrap();
    let write = |target: &crate::engine::Target| TargetWrite::of(&id("dep"), position, target);

    let mut batch = Batch::default();
    batch.new_deployments.push(at_create.clone());
    batch.targets.push(write(&after.targets[position]));
    // An older state of the same target later in the batch would be a bug in the owner;
    // the newest write is the last one, and it is the one stored.
    batch.targets.push(write(&at_create.targets[position]));
    batch.targets.push(write(&after.targets[position]));
    history.write_batch(&batch).unwrap();

    let rows = history.target_statuses("dep").unwrap();
    assert_eq!(rows.len(), 3);
    let row = rows
        .iter()
        .find(|r| r.controller_id == first.controller_id.as_str())
        .unwrap();
    assert_eq!(row.status, TargetStatus::Sent);
    assert_eq!(row.updated_at, Millis(2_000));
    assert!(
        rows.iter()
            .filter(|r| r.controller_id != first.controller_id.as_str())
            .all(|r| r.status == TargetStatus::Queued)
    );
    let restored = history.deployment_state("dep").unwrap().unwrap();
    assert_eq!(
        restored.targets[position].current.status,
        TargetStatus::Sent
    );
}
