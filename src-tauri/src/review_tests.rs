//! The wizard's review with maintenance windows: a store without a window is refused unless
//! the user chose to send to it at once, and the review says, per store, when it goes.

use storefleet::firmware::Library;
use storefleet::history::History;
use storefleet::maintenance::StoreZone;

use crate::ErrorCode;
use crate::deployments::{NewDeployment, ScheduleChoice, ServingChoice, TargetRef, plan};
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
