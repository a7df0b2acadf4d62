//! Search on a real history file: every filter of both searches against the same rows
//! filtered in Rust, paged to the end, by each of the message search's three paths.

use std::time::Duration;

use super::batch_tests::id;
use super::deployment_writes::Batch;
use super::search::*;
use super::{History, MessageDirection, MessageRecord, MessageRow, migrations};
use crate::engine::{
    DeploymentSpec, DeploymentState, Engine, Firmware, Millis, RolloutControl, RolloutPolicy,
    TargetKey, Timeouts,
};
use crate::protocol::Md5Hex;

const EVENTS: [&str; 4] = [
    "update_firmware_ack",
    "update_firmware_completed",
    "update_firmware_failed",
    "cancel_update_firmware_ack",
];
const OUTCOMES: [&str; 3] = ["applied", "duplicate", "unknown_target"];

/// Deployment `dep-i` (i in 0..8): version `1.<i % 3>.0`, created at i × 1,000 ms, two
/// stores of three controllers; 2 and 6 observed, 3 paused, 4 cancelled, 5 and 6 finished.
fn spec(i: usize) -> DeploymentSpec {
    DeploymentSpec {
        deployment_id: id(&format!("dep-{i}")),
        firmware: Firmware {
            firmware_version: format!("1.{}.0", i % 3),
            file_url: format!("http://h/fw-{i}.BIN"),
            file_size: 10,
            checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").unwrap(),
        },
        targets: (0..6)
            .map(|t| {
                TargetKey::new(
                    id(&format!("store-{}", (i + t / 3) % 4)),
                    id(&format!("c{}", t % 3)),
                )
            })
            .collect(),
        timeouts: Timeouts {
            ack: Duration::from_secs(5),
            completion: Duration::from_secs(50),
        },
        policy: RolloutPolicy::default(),
    }
}

/// The fixture: 8 deployments, 3,000 messages (every 7th without a deployment, as a
/// rejected message has none), recorded at id × 10 ms.
fn fixture() -> (tempfile::TempDir, History) {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
    let mut engine = Engine::new();
    let mut batch = Batch::default();
    for i in 0..8 {
        engine.create(spec(i), Millis(i as u64 * 1_000)).unwrap();
        batch
            .new_deployments
            .push(engine.snapshot(&id(&format!("dep-{i}"))).unwrap());
    }
    let paused = RolloutControl {
        paused_reason: Some("operator".into()),
        ..RolloutControl::default()
    };
    let cancelled = RolloutControl {
        cancelled: true,
        ..RolloutControl::default()
    };
    batch.controls.push(("dep-3".into(), paused));
    batch.controls.push(("dep-4".into(), cancelled));
    batch.finished.push(("dep-5".into(), Some(Millis(9_000))));
    batch.finished.push(("dep-6".into(), Some(Millis(9_000))));
    history.write_batch(&batch).unwrap();
    history
        .conn()
        .execute_batch("UPDATE deployments SET origin = 'observed' WHERE id IN ('dep-2', 'dep-6')")
        .unwrap();

    let mut batch = Batch::default();
    for n in 1..=3_000usize {
        let deployment = (n % 7 != 0).then(|| format!("dep-{}", n % 8));
        let store = format!("store-{}", (n / 5) % 4);
        let controller = format!("c{}", (n / 11) % 3);
        batch.messages.push(MessageRecord {
            direction: MessageDirection::In,
            topic: format!("/stores/{store}/controllers/{controller}/ack"),
            body: format!("{{\"n\":{n}}}").into_bytes().into(),
            at: Millis(n as u64 * 10),
            event_type: Some(EVENTS[(n / 3) % 4].into()),
            deployment_id: deployment,
            store_id: Some(store),
            controller_id: Some(controller),
            correlation_id: Some(format!("cid-{n}")),
            outcome: OUTCOMES[n % 3].into(),
            reason: (n % 3 == 2).then(|| format!("Reason number {n}")),
            oversize: None,
        });
    }
    history.write_batch(&batch).unwrap();
    (dir, history)
}

/// Every page of a message search, following `next_before` to the end.
fn all_messages(history: &History, filter: &MessageFilter, limit: u32) -> Vec<MessageRow> {
    let mut out: Vec<MessageRow> = Vec::new();
    let mut before = None;
    loop {
        let page = history
            .search_messages(filter, MessagePageRequest { before, limit })
            .unwrap();
        assert!(page.rows.len() <= limit as usize);
        assert!(
            page.rows.windows(2).all(|w| w[0].id > w[1].id),
            "newest first"
        );
        if let (Some(last), Some(prev)) = (out.last(), page.rows.first()) {
            assert!(last.id > prev.id, "pages do not overlap");
        }
        out.extend(page.rows);
        match page.next_before {
            Some(b) => before = Some(b),
            None => return out,
        }
    }
}

/// The message ids a filter should find, from the fixture's own rule.
fn expected(history: &History, keep: impl Fn(&MessageRow) -> bool) -> Vec<i64> {
    let mut rows = history.messages(None, 10_000).unwrap();
    rows.retain(|m| keep(m));
    rows.iter().rev().map(|m| m.id).collect()
}

fn ids(rows: &[MessageRow]) -> Vec<i64> {
    rows.iter().map(|m| m.id).collect()
}

fn deployment_of(history: &History, m: &MessageRow) -> Option<super::DeploymentRow> {
    m.deployment_id
        .as_deref()
        .and_then(|d| history.deployment(d).unwrap())
}

#[test]
fn deployments_by_every_filter_match_the_rows_the_history_lists() {
    let (_dir, history) = fixture();
    let all = history.deployments().unwrap();
    assert_eq!(all.len(), 8);
    let page = |f: DeploymentFilter| {
        let p = history
            .search_deployments(
                &f,
                DeploymentPageRequest {
                    offset: 0,
                    limit: 100,
                },
            )
            .unwrap();
        assert_eq!(p.total as usize, p.rows.len());
        p.rows
            .into_iter()
            .map(|r| r.deployment_id)
            .collect::<Vec<_>>()
    };
    let listed = |keep: &dyn Fn(&super::DeploymentRow) -> bool| {
        all.iter()
            .filter(|r| keep(r))
            .map(|r| r.deployment_id.clone())
            .collect::<Vec<_>>()
    };

    assert_eq!(page(DeploymentFilter::default()), listed(&|_| true));
    // The SQL state rule is the one the rows are read with.
    for state in [
        DeploymentState::Running,
        DeploymentState::Paused,
        DeploymentState::Finished,
        DeploymentState::Cancelled,
    ] {
        let found = page(DeploymentFilter {
            state: Some(state),
            ..Default::default()
        });
        assert!(!found.is_empty(), "{state}");
        assert_eq!(found, listed(&|r| r.state == state), "{state}");
    }
    assert_eq!(
        page(DeploymentFilter {
            origin: Some(Origin::Observed),
            ..Default::default()
        }),
        ["dep-6", "dep-2"]
    );
    assert_eq!(
        page(DeploymentFilter {
            firmware_version: Some("1.1.0".into()),
            origin: Some(Origin::Local),
            ..Default::default()
        }),
        ["dep-7", "dep-4", "dep-1"]
    );
    // Text: part of the id, version or URL, ignoring case; blank is no filter.
    assert_eq!(
        page(DeploymentFilter {
            text: Some("FW-3.bin".into()),
            ..Default::default()
        }),
        ["dep-3"]
    );
    assert_eq!(
        page(DeploymentFilter {
            text: Some("  ".into()),
            ..Default::default()
        })
        .len(),
        8
    );
    // Store 0 is targeted by dep-0 (stores 0 and 1), dep-3 (3, 0), dep-4 (0, 1), dep-7 (3, 0).
    assert_eq!(
        page(DeploymentFilter {
            store_id: Some("store-0".into()),
            ..Default::default()
        }),
        ["dep-7", "dep-4", "dep-3", "dep-0"]
    );
    assert_eq!(
        page(DeploymentFilter {
            store_id: Some("store-0".into()),
            controller_id: Some("c2".into()),
            to: Some(Millis(3_000)),
            ..Default::default()
        }),
        ["dep-3", "dep-0"]
    );
    assert_eq!(
        page(DeploymentFilter {
            controller_id: Some("c9".into()),
            ..Default::default()
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        page(DeploymentFilter {
            from: Some(Millis(2_000)),
            to: Some(Millis(4_000)),
            ..Default::default()
        }),
        ["dep-4", "dep-3", "dep-2"]
    );

    // Offset pages: the total stays, the rows go on where the last page ended.
    let p = history
        .search_deployments(
            &DeploymentFilter::default(),
            DeploymentPageRequest {
                offset: 6,
                limit: 5,
            },
        )
        .unwrap();
    assert_eq!(p.total, 8);
    assert_eq!(
        p.rows
            .iter()
            .map(|r| r.deployment_id.as_str())
            .collect::<Vec<_>>(),
        ["dep-1", "dep-0"]
    );
    assert_eq!(
        p.rows[0].counts.queued, 6,
        "a page's rows carry their counts"
    );
}

#[test]
fn messages_by_every_filter_and_path_match_the_log_filtered_in_rust() {
    let (_dir, history) = fixture();
    let check = |filter: MessageFilter, keep: &dyn Fn(&MessageRow) -> bool| {
        let want = expected(&history, keep);
        assert!(!want.is_empty(), "{filter:?} finds something");
        for limit in [7, 500] {
            assert_eq!(
                ids(&all_messages(&history, &filter, limit)),
                want,
                "{filter:?} by pages of {limit}"
            );
        }
    };
    // The scan path.
    check(MessageFilter::default(), &|_| true);
    check(
        MessageFilter {
            event_type: Some("update_firmware_failed".into()),
            outcomes: vec!["duplicate".into()],
            ..Default::default()
        },
        &|m| m.event_type.as_deref() == Some("update_firmware_failed") && m.outcome == "duplicate",
    );
    check(
        MessageFilter {
            from: Some(Millis(5_000)),
            to: Some(Millis(12_345)),
            controller_id: Some("c1".into()),
            ..Default::default()
        },
        &|m| (5_000..=12_345).contains(&m.at.0) && m.controller_id.as_deref() == Some("c1"),
    );
    // Text: the topic, the reason, or the message's deployment's id, version or URL.
    check(
        MessageFilter {
            text: Some("REASON NUMBER 2".into()),
            ..Default::default()
        },
        &|m| m.reason.as_deref().is_some_and(|r| r.contains("number 2")),
    );
    check(
        MessageFilter {
            text: Some("fw-5".into()),
            ..Default::default()
        },
        &|m| m.deployment_id.as_deref() == Some("dep-5"),
    );
    check(
        MessageFilter {
            outcomes: vec!["duplicate".into(), " unknown_target ".into(), "".into()],
            event_type: Some("update_firmware_ack".into()),
            ..Default::default()
        },
        &|m| {
            ["duplicate", "unknown_target"].contains(&m.outcome.as_str())
                && m.event_type.as_deref() == Some("update_firmware_ack")
        },
    );
    // The store table path.
    check(
        MessageFilter {
            store_id: Some("store-2".into()),
            ..Default::default()
        },
        &|m| m.store_id.as_deref() == Some("store-2"),
    );
    check(
        MessageFilter {
            store_id: Some("store-1".into()),
            controller_id: Some("c0".into()),
            outcomes: vec!["applied".into()],
            ..Default::default()
        },
        &|m| {
            m.store_id.as_deref() == Some("store-1")
                && m.controller_id.as_deref() == Some("c0")
                && m.outcome == "applied"
        },
    );
    // The deployment path, alone and with the store.
    check(
        MessageFilter {
            firmware_version: Some("1.2.0".into()),
            ..Default::default()
        },
        &|m| deployment_of(&history, m).is_some_and(|d| d.firmware_version == "1.2.0"),
    );
    for state in [
        DeploymentState::Running,
        DeploymentState::Paused,
        DeploymentState::Finished,
        DeploymentState::Cancelled,
    ] {
        check(
            MessageFilter {
                state: Some(state),
                ..Default::default()
            },
            &|m| deployment_of(&history, m).is_some_and(|d| d.state == state),
        );
    }
    check(
        MessageFilter {
            origin: Some(Origin::Observed),
            store_id: Some("store-3".into()),
            event_type: Some("update_firmware_ack".into()),
            ..Default::default()
        },
        &|m| {
            deployment_of(&history, m).is_some_and(|d| d.origin == "observed")
                && m.store_id.as_deref() == Some("store-3")
                && m.event_type.as_deref() == Some("update_firmware_ack")
        },
    );
    // Nothing matches: an empty page, and no next one.
    let none = history
        .search_messages(
            &MessageFilter {
                firmware_version: Some("9.9.9".into()),
                ..Default::default()
            },
            MessagePageRequest {
                before: None,
                limit: 10,
            },
        )
        .unwrap();
    assert!(none.rows.is_empty() && none.next_before.is_none());
}

#[test]
fn a_scan_stops_at_its_bound_and_says_how_far_it_searched() {
    let (_dir, history) = fixture();
    // Row ids spread out so the fixture spans several scan bounds: the newest row far above.
    history
        .conn()
        .execute(
            "UPDATE messages SET id = id + ?1 WHERE id = (SELECT MAX(id) FROM messages)",
            [SCAN_ROWS + 500],
        )
        .unwrap();
    let filter = MessageFilter {
        outcomes: vec!["unknown_target".into()],
        ..Default::default()
    };
    let first = history
        .search_messages(
            &filter,
            MessagePageRequest {
                before: None,
                limit: 50,
            },
        )
        .unwrap();
    // The newest row (3,000: outcome 'applied') alone is within the first bound.
    assert!(first.rows.is_empty());
    let next = first.next_before.expect("older rows are still to search");
    assert_eq!(
        first.searched_to,
        Some(Millis(30_000)),
        "the oldest row examined is the newest one"
    );
    let second = history
        .search_messages(
            &filter,
            MessagePageRequest {
                before: Some(next),
                limit: 50,
            },
        )
        .unwrap();
    assert_eq!(second.rows.len(), 50);
    // Followed to the end, the bounded pages find what one unbounded pass would.
    assert_eq!(
        ids(&all_messages(&history, &filter, 50)),
        expected(&history, |m| m.outcome == "unknown_target")
    );
}

#[test]
fn bad_input_is_refused_in_one_line() {
    let (_dir, history) = fixture();
    let err = history
        .search_messages(
            &MessageFilter {
                from: Some(Millis(10)),
                to: Some(Millis(5)),
                ..Default::default()
            },
            MessagePageRequest {
                before: None,
                limit: 10,
            },
        )
        .unwrap_err();
    assert!(err.is_refusal());
    assert_eq!(err.to_string(), "the time range ends before it starts");
    for limit in [0, MAX_PAGE + 1] {
        let err = history
            .search_deployments(
                &DeploymentFilter::default(),
                DeploymentPageRequest { offset: 0, limit },
            )
            .unwrap_err();
        assert!(err.is_refusal(), "{err}");
        assert!(err.to_string().contains(&limit.to_string()));
    }
}

#[test]
fn migration_9_and_the_store_table_catch_up_on_what_came_before_and_since() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let upto8: Vec<_> = migrations::MIGRATIONS
        .iter()
        .copied()
        .filter(|m| m.version <= 8)
        .collect();
    let record = |controller: &str| MessageRecord {
        direction: MessageDirection::In,
        topic: format!("/stores/s/controllers/{controller}/ack"),
        body: format!("{{\"c\":\"{controller}\"}}").into_bytes().into(),
        at: Millis(1),
        event_type: Some("update_firmware_ack".into()),
        deployment_id: None,
        store_id: Some("s".into()),
        controller_id: Some(controller.into()),
        correlation_id: None,
        outcome: "unknown_deployment".into(),
        reason: None,
        oversize: None,
    };
    let mut old = History::open_with(&path, &upto8).unwrap();
    let mut batch = Batch::default();
    batch.messages.push(record("a"));
    old.write_batch(&batch).unwrap();
    assert_eq!(old.schema_version().unwrap(), 8);
    drop(old);

    let mut history = History::open(&path).unwrap();
    assert!(history.schema_version().unwrap() >= 9);
    // Ingest does not touch the table; a search fills it.
    let in_table = |h: &History| -> i64 {
        h.conn()
            .query_row("SELECT COUNT(*) FROM message_stores", [], |r| r.get(0))
            .unwrap()
    };
    let by_store = |h: &History, controller: Option<&str>| {
        ids(&all_messages(
            h,
            &MessageFilter {
                store_id: Some("s".into()),
                controller_id: controller.map(Into::into),
                ..Default::default()
            },
            1,
        ))
    };
    assert_eq!(in_table(&history), 0);
    assert_eq!(
        by_store(&history, None),
        [1],
        "the row from before the migration"
    );
    assert_eq!(in_table(&history), 1);

    let mut batch = Batch::default();
    batch.messages.push(record("b"));
    batch.messages.push(record("c"));
    history.write_batch(&batch).unwrap();
    assert_eq!(in_table(&history), 1, "not on the ingest path");
    assert_eq!(by_store(&history, None), [3, 2, 1]);
    assert_eq!(by_store(&history, Some("b")), [2]);

    // The newest messages deleted and their ids given again: the table starts over rather
    // than miss them, and a stale row is never shown.
    history
        .conn()
        .execute_batch("DELETE FROM messages WHERE id >= 2")
        .unwrap();
    let mut batch = Batch::default();
    batch.messages.push(MessageRecord {
        store_id: Some("t".into()),
        ..record("d")
    });
    history.write_batch(&batch).unwrap();
    assert_eq!(by_store(&history, None), [1]);
    history
        .conn()
        .execute_batch("DELETE FROM messages WHERE id >= 1")
        .unwrap();
    let mut batch = Batch::default();
    batch.messages.push(record("e"));
    history.write_batch(&batch).unwrap();
    assert_eq!(by_store(&history, Some("e")), [1]);
    assert_eq!(by_store(&history, Some("a")), Vec::<i64>::new());
}

/// A filter matching more deployments than are merged one index at a time scans instead,
/// and finds the same rows.
#[test]
fn many_matching_deployments_are_scanned_for_instead_of_merged() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
    let mut engine = Engine::new();
    let mut batch = Batch::default();
    for i in 0..70 {
        engine.create(spec(i), Millis(i as u64)).unwrap();
        batch
            .new_deployments
            .push(engine.snapshot(&id(&format!("dep-{i}"))).unwrap());
    }
    for n in 1..=700usize {
        batch.messages.push(MessageRecord {
            direction: MessageDirection::In,
            topic: format!("/stores/s/controllers/c/ack/{n}"),
            body: format!("{{\"n\":{n}}}").into_bytes().into(),
            at: Millis(n as u64),
            event_type: Some("update_firmware_ack".into()),
            deployment_id: Some(format!("dep-{}", n % 71)),
            store_id: Some("s".into()),
            controller_id: Some("c".into()),
            correlation_id: None,
            outcome: "applied".into(),
            reason: None,
            oversize: None,
        });
    }
    history.write_batch(&batch).unwrap();
    // Every deployment is running; dep-70 is not one (its messages are unknown_deployment's).
    let filter = MessageFilter {
        state: Some(DeploymentState::Running),
        ..Default::default()
    };
    let want = expected(&history, |m| m.deployment_id.as_deref() != Some("dep-70"));
    assert_eq!(want.len(), 700 - 700 / 71);
    assert_eq!(ids(&all_messages(&history, &filter, 64)), want);
}
