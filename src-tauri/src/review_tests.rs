//! The wizard's review with maintenance windows: a store without a window is refused unless
//! the user chose to send to it at once, and the review says, per store, when it goes. With
//! "skip controllers already on this version" it counts those left out, and refuses when
//! none is left.

use storefleet::engine::{Engine, Millis, TargetStatus};
use storefleet::firmware::Library;
use storefleet::history::{Batch, ControllerSeen, History, TargetWrite};
use storefleet::maintenance::StoreZone;

use crate::ErrorCode;
use crate::deployments::{NewDeployment, Plan, ScheduleChoice, ServingChoice, TargetRef, plan};
use crate::serving::Serving;

fn target(store: &str) -> TargetRef {
    TargetRef {
        store_id: store.into(),
        controller_id: "c1".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_refuses_stores_without_a_window_or_plans_each_store() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("h.sqlite");
    let file = dir.path().join("fw.bin");
    std::fs::write(&file, b"firmware").unwrap();
    let artifact = Library::open(&history)
        .unwrap()
        .add(&file, "1.0.0", None, &mut |_| {})
        .unwrap();
    let h = History::open(&history).unwrap();
    h.set_store_timezone("north", &StoreZone::parse("Europe/Berlin").unwrap())
        .unwrap();
    h.set_store_windows("north", &"Daily 22:00-05:00".parse().unwrap())
        .unwrap();
    let serving = Serving::start(&history, Some("127.0.0.1:0".parse().unwrap()), None).await;
    let mut request = NewDeployment {
        artifact_id: artifact.id,
        serving: ServingChoice::BuiltIn,
        targets: vec![target("north"), target("south")],
        ack_timeout_secs: 30,
        completion_timeout_secs: 600,
        policy: None,
        schedule: Some(ScheduleChoice {
            in_windows: true,
            ..ScheduleChoice::default()
        }),
        skip_current: false,
    };
    let refused = plan(&history, &serving, &request).err().unwrap();
    assert_eq!(refused.code, ErrorCode::InvalidInput);
    assert!(
        refused.message.contains("no maintenance window for south"),
        "{}",
        refused.message
    );
    if let Some(s) = request.schedule.as_mut() {
        s.send_unwindowed = true;
    }
    let review = plan(&history, &serving, &request).unwrap().review;
    assert_eq!(review.stores.len(), 2);
    assert!(
        review.stores[0].text.starts_with("north: "),
        "{:?}",
        review.stores
    );
    assert_eq!(
        review.stores[0].windows.as_deref(),
        Some("Daily 22:00-05:00")
    );
    assert_eq!(
        review.stores[1].text,
        "south: now (no window set: sent at once)"
    );
}

/// The history after `plan`'s deployment completed on `done`, written as the service writes
/// it (the targets, and the controllers heard): the inventory then says those controllers
/// run its version.
fn completed_deployment(history: &std::path::Path, spec_of: &Plan, done: &[&str]) {
    let mut engine = Engine::new();
    let id = spec_of.spec.deployment_id.clone();
    engine.create(spec_of.spec.clone(), Millis(1_000)).unwrap();
    let mut snapshot = engine.snapshot(&id).unwrap();
    let mut batch = Batch::default();
    for (position, t) in snapshot.targets.iter_mut().enumerate() {
        if done.contains(&t.controller_id.as_str()) {
            t.current.status = TargetStatus::Completed;
            t.current.updated_at = Millis(2_000);
            batch.targets.push(TargetWrite::of(&id, position, t));
            batch.seen.push(ControllerSeen {
                store_id: t.store_id.to_string(),
                controller_id: t.controller_id.to_string(),
                at: Some(Millis(2_000)),
            });
        }
    }
    batch.new_deployments.push(snapshot);
    History::open(history).unwrap().write_batch(&batch).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_current_leaves_out_controllers_on_the_version_and_refuses_when_all_are() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("h.sqlite");
    let file = dir.path().join("fw.bin");
    std::fs::write(&file, b"firmware").unwrap();
    let artifact = Library::open(&history)
        .unwrap()
        .add(&file, "2.0.0", None, &mut |_| {})
        .unwrap();
    let serving = Serving::start(&history, Some("127.0.0.1:0".parse().unwrap()), None).await;
    let to = |controllers: &[&str]| {
        controllers
            .iter()
            .map(|c| TargetRef {
                store_id: "north".into(),
                controller_id: (*c).into(),
            })
            .collect::<Vec<_>>()
    };
    let mut request = NewDeployment {
        artifact_id: artifact.id,
        serving: ServingChoice::BuiltIn,
        targets: to(&["c1", "c2", "c3"]),
        ack_timeout_secs: 30,
        completion_timeout_secs: 600,
        policy: None,
        schedule: None,
        skip_current: true,
    };
    // Nothing known yet: nothing skipped.
    let first = plan(&history, &serving, &request).unwrap();
    assert_eq!(
        (first.review.target_count, first.review.skipped_current),
        (3, 0)
    );
    completed_deployment(&history, &first, &["c1", "c3"]);
    let inventory = History::open(&history).unwrap().controllers().unwrap();
    assert_eq!(
        inventory
            .iter()
            .filter(|c| c.firmware_version.as_deref() == Some("2.0.0"))
            .count(),
        2
    );

    request.targets = to(&["c1", "c2", "c3", "c4"]);
    let skipping = plan(&history, &serving, &request).unwrap();
    assert_eq!(skipping.review.skipped_current, 2);
    assert_eq!(skipping.review.target_count, 2);
    let sent: Vec<&str> = skipping
        .spec
        .targets
        .iter()
        .map(|t| t.controller_id.as_str())
        .collect();
    assert_eq!(sent, ["c2", "c4"]);

    // Without the choice every chosen controller is sent to.
    request.skip_current = false;
    let all = plan(&history, &serving, &request).unwrap();
    assert_eq!(
        (all.review.target_count, all.review.skipped_current),
        (4, 0)
    );

    // Only current ones: refused in one line, nothing made.
    request.skip_current = true;
    request.targets = to(&["c3", "c1"]);
    let refused = plan(&history, &serving, &request).err().unwrap();
    assert_eq!(refused.code, ErrorCode::InvalidInput);
    assert_eq!(
        refused.message,
        "every chosen controller already runs 2.0.0: nothing to send"
    );
}
