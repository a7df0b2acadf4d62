
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
