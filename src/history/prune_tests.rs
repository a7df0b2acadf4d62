//! Pruning on a real SQLite file: finished old deployments go with everything hanging off them
//! (into an archive first, when asked), unfinished ones stay however old, and the archive reads
//! like any history.

use bytes::Bytes;
use rusqlite::params;

use super::batch_tests::{id, spec};
use super::deployment_writes::{Batch, MessageDirection, MessageRecord, TargetWrite};
use super::{History, HistoryError};
use crate::engine::{DeploymentSpec, Engine, Millis};

const DAY: u64 = 86_400_000;

fn deployment(engine: &mut Engine, name: &str, at: Millis) -> Batch {
    let spec = DeploymentSpec {
        deployment_id: id(name),
        ..spec()
    };
    engine.create(spec, at).unwrap();
    let mut batch = Batch::default();
    batch
        .new_deployments
        .push(engine.snapshot(&id(name)).unwrap());
    batch.messages.push(MessageRecord {
        direction: MessageDirection::In,
        topic: format!("stores/s/controllers/c0/events/{name}"),
        body: Bytes::from_static(b"{}"),
        at,
        event_type: Some("update_firmware_ack".into()),
        deployment_id: Some(name.into()),
        store_id: Some("s".into()),
        controller_id: Some("c0".into()),
        correlation_id: None,
        outcome: "applied".into(),
        reason: None,
        oversize: None,
    });
    batch
}

/// Four deployments 100, 90, 50 and 1 days old, all finished but `old-open`.
fn fill(path: &std::path::Path) -> Millis {
    let now = Millis(400 * DAY);
    let mut history = History::open(path).unwrap();
    let mut engine = Engine::new();
    for (name, age) in [
        ("old-done", 100),
        ("old-open", 90),
        ("mid-done", 50),
        ("new-done", 1),
    ] {
        let at = Millis(now.0 - age * DAY);
        history
            .write_batch(&deployment(&mut engine, name, at))
            .unwrap();
        if name.ends_with("done") {
            history
                .conn()
                .execute(
                    "UPDATE deployments SET finished_at = ?2 WHERE id = ?1",
                    params![name, (at.0 + 1_000) as i64],
                )
                .unwrap();
        }
    }
    // A rejected message tied to no deployment, 80 days old.
    let mut stray = deployment(&mut engine, "stray", Millis(now.0 - 80 * DAY));
    stray.new_deployments.clear();
    stray.messages[0].deployment_id = None;
    stray.messages[0].outcome = "rejected".into();
    history.write_batch(&stray).unwrap();
    now
}

#[test]
fn finished_old_deployments_go_unfinished_ones_stay_and_the_archive_holds_what_went() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let now = fill(&path);
    let mut history = History::open(&path).unwrap();
    let before = Millis(now.0 - 30 * DAY);

    let plan = history.prune_plan(before).unwrap();
    assert_eq!(
        (
            plan.deployments,
            plan.targets,
            plan.messages,
            plan.unfinished_kept
        ),
        (2, 6, 3, 1),
        "{plan:?}"
    );
    assert!(
        plan.describe()
            .contains("1 unfinished deployments that old are kept")
    );
    // Planning changes nothing.
    assert_eq!(history.deployments().unwrap().len(), 4);

    let archive = dir.path().join("archive.sqlite");
    let report = history.prune(before, Some(&archive)).unwrap();
    assert_eq!(report.removed, plan);
    assert_eq!(report.vacuum_skipped, None);
    let mut left: Vec<String> = history
        .deployments()
        .unwrap()
        .into_iter()
        .map(|d| d.deployment_id)
        .collect();
    left.sort();
    assert_eq!(left, ["new-done", "old-open"]);
    assert!(history.target_statuses("old-done").unwrap().is_empty());
    assert_eq!(history.target_statuses("old-open").unwrap().len(), 3);
    let messages: i64 = history
        .conn()
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(messages, 2, "the messages of old-open and new-done stay");

    // The archive is a history of its own with exactly what went.
    let archived = History::open(&archive).unwrap();
    let mut went: Vec<String> = archived
        .deployments()
        .unwrap()
        .into_iter()
        .map(|d| d.deployment_id)
        .collect();
    went.sort();
    assert_eq!(went, ["mid-done", "old-done"]);
    assert_eq!(archived.target_statuses("mid-done").unwrap().len(), 3);
    let archived_messages: i64 = archived
        .conn()
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(archived_messages, 3);

    // Again with the same cut-off: nothing left to remove; an archive that exists is refused.
    assert!(history.prune_plan(before).unwrap().is_empty());
    assert!(matches!(
        history.prune(before, Some(&archive)),
        Err(HistoryError::ArchiveExists(_))
    ));
    assert_eq!(
        history.deployments().unwrap().len(),
        2,
        "a refused prune removes nothing"
    );

    // A process that still held a pruned deployment writes its target: a no-op, not a failed
    // batch that would lose the other rows with it.
    let mut engine = Engine::new();
    deployment(&mut engine, "old-done", Millis(1));
    let held = engine.snapshot(&id("old-done")).unwrap();
    let mut late = Batch::default();
    late.targets
        .push(TargetWrite::of(&id("old-done"), 0, &held.targets[0]));
    late.messages = deployment(&mut engine, "late", Millis(2)).messages;
    history.write_batch(&late).unwrap();
    assert!(history.target_statuses("old-done").unwrap().is_empty());
    let kept: i64 = history
        .conn()
        .query_row(
            "SELECT count(*) FROM messages WHERE deployment_id = 'late'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1, "the rest of the batch is written");
}
