//! Counts, summary, rows and finished-ness.

use super::support::*;
use crate::engine::{Engine, StatusCounts, TargetStatus};

#[test]
fn counts_follow_every_transition() {
    let mut run = Run::sent(4);
    let u = run.updates.clone();
    run.inbound(&ack(&u[0]), at(1_100));
    run.inbound(&completed(&u[1]), at(1_100));
    run.inbound(&failed(&u[2], &["x"]), at(1_100));
    let counts = run.engine.counts(&run.deployment_id).expect("counts");
    assert_eq!(
        counts,
        StatusCounts {
            sent: 1,
            acknowledged: 1,
            completed: 1,
            failed: 1,
            ..StatusCounts::default()
        }
    );
    assert_eq!((counts.total(), counts.terminal()), (4, 2));
}

#[test]
fn is_finished_only_when_every_target_is_terminal() {
    let mut run = Run::sent(2);
    let u = run.updates.clone();
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(false));
    run.inbound(&completed(&u[0]), at(1_100));
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(false));
    run.tick(at(1_000 + ACK_MS));
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(true));
    run.retry(at(20_000));
    assert_eq!(run.engine.is_finished(&run.deployment_id), Some(false));
    assert_eq!(run.engine.is_finished(&id("nope")), None);
}

#[test]
fn summary_carries_what_status_json_needs() {
    let run = Run::sent(3);
    let summary = run.engine.summary(&run.deployment_id).expect("summary");
    assert_eq!(summary.firmware_version, "1.0.1");
    assert_eq!(summary.checksum, "8a3be389a446bba670da3a33e5506d2e");
    assert_eq!(summary.file_size, 779);
    assert_eq!(summary.file_url, "https://example.com/firmware-1-0-1.bin");
    assert_eq!(summary.created_at, at(0));
    assert_eq!(
        (summary.ack_timeout_ms, summary.completion_timeout_ms),
        (ACK_MS, DONE_MS)
    );
    assert_eq!(
        (summary.total, summary.counts.sent, summary.finished),
        (3, 3, false)
    );
    let json = serde_json::to_value(&summary).expect("json");
    assert_eq!(json["deployment_id"], "dep-1");
    assert_eq!(json["counts"]["sent"], 3);
    assert_eq!(json["counts"]["timed_out"], 0);
}

#[test]
fn target_rows_keep_the_given_order_with_status_errors_and_time() {
    let mut engine = Engine::new();
    let targets = vec![key("z", "9"), key("a", "1"), key("m", "5")];
    let fx = engine.create(spec("d", targets), at(0)).expect("create");
    let failing = fx.commands[1].clone();
    engine
        .on_published(&failing.correlation_id, at(10))
        .expect("pub");
    engine.on_inbound(&failed(&failing, &["e1", "e2"]), at(20));
    let rows = engine.target_rows(&id("d")).expect("rows");
    let order: Vec<_> = rows.iter().map(|r| r.store_id.as_str()).collect();
    assert_eq!(order, ["z", "a", "m"]);
    assert_eq!(rows[1].status, TargetStatus::Failed);
    assert_eq!(rows[1].errors, ["e1", "e2"]);
    assert_eq!(rows[1].updated_at, at(20));
    assert_eq!(rows[1].attempt, 1);
    assert_eq!(rows[0].updated_at, at(0));
    let json = serde_json::to_value(&rows[1]).expect("json");
    assert_eq!(json["status"], "failed");
    assert_eq!(json["controller_id"], "1");
}

#[test]
fn target_lookup_by_ids() {
    let run = Run::new(12);
    let d = run.engine.deployment(&run.deployment_id).expect("dep");
    let t = d.target(&id("s1"), &id("c11")).expect("target");
    assert_eq!(t.status(), TargetStatus::Queued);
    assert!(d.target(&id("s0"), &id("c11")).is_none());
    assert_eq!(run.engine.deployments().count(), 1);
}

#[test]
fn unknown_deployment_queries_are_none() {
    let engine = Engine::new();
    let nope = id("nope");
    assert!(engine.counts(&nope).is_none());
    assert!(engine.summary(&nope).is_none());
    assert!(engine.target_rows(&nope).is_none());
    assert!(engine.snapshot(&nope).is_none());
    assert!(engine.pending_commands(&nope).is_none());
}
