//! Migration 7 on a history written the way schema 5 wrote it: JSON target records with
//! earlier attempts, an outbox beside the message log, hex MD5 keys. The engine must restore
//! the same state, the unsent commands must still wait, and a message recorded before must
//! still be recognised.

use std::collections::HashSet;

use rusqlite::params;

use super::History;
use super::batch_tests::{id, spec};
use super::deployment_writes::{Batch, MessageDirection, MessageRecord};
use super::migrations::MIGRATIONS;
use crate::engine::{Engine, Millis, OutboundCommand, TargetStatus};
use crate::protocol::Id;

/// Schema 5's key: MD5 over direction, topic and body, in hex.
fn old_key(direction: &str, topic: &str, body: &[u8]) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(direction.as_bytes());
    h.update([0]);
    h.update(topic.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

fn topic(c: &OutboundCommand) -> String {
    format!(
        "stores/{}/controllers/{}/commands",
        c.store_id, c.controller_id
    )
}

#[test]
fn a_schema_5_history_is_carried_over_whole() {
    // Every target times out, is retried (attempt 2, a new command), one retried command is
    // published, then the deployment is cancelled: earlier attempts, sent and unsent commands.
    let mut engine = Engine::new();
    let mut commands = engine.create(spec(), Millis(1_000)).unwrap().commands;
    let mut sent = HashSet::new();
    for c in commands.clone() {
        engine
            .on_published(&c.correlation_id, Millis(2_000))
            .unwrap();
        sent.insert(c.correlation_id);
    }
    engine.tick(Millis(10_000));
    let retried = engine.retry(&id("dep"), Millis(11_000)).unwrap().commands;
    engine
        .on_published(&retried[0].correlation_id, Millis(12_000))
        .unwrap();
    sent.insert(retried[0].correlation_id.clone());
    commands.extend(retried);
    let cancelled = engine.cancel(&id("dep"), Millis(13_000)).unwrap();
    let withdrawn: HashSet<Id> = cancelled.withdrawn.iter().cloned().collect();
    commands.extend(cancelled.commands);
    let expected = engine.snapshot(&id("dep")).unwrap();
    assert!(expected.targets.iter().all(|t| t.earlier.len() == 1));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let reply = br#"{"event_type":"update_firmware_ack"}"#;
    let reply_topic = "stores/s/controllers/c0/events";
    {
        let history = History::open_with(&path, &MIGRATIONS[..5]).unwrap();
        let conn = history.conn();
        conn.execute(
            "INSERT INTO deployments (id, firmware_version, file_url, file_size, checksum,
                ack_timeout_ms, completion_timeout_ms, created_at, target_count, policy,
                control, broker)
             VALUES ('dep', '1.0.0', 'http://h/fw.bin', 10, '8a3be389a446bba670da3a33e5506d2e',
                5000, 50000, 1000, 3, ?1, ?2, 'mqtt://127.0.0.1:1883')",
            params![
                serde_json::to_string(&expected.policy).unwrap(),
                serde_json::to_string(&expected.control).unwrap()
            ],
        )
        .unwrap();
        for (position, t) in expected.targets.iter().enumerate() {
            conn.execute(
                "INSERT INTO targets (deployment_id, position, store_id, controller_id, status,
                    attempt, errors, updated_at, record)
                 VALUES ('dep', ?1, ?2, ?3, ?4, ?5, '[]', ?6, ?7)",
                params![
                    position as i64,
                    t.store_id.as_str(),
                    t.controller_id.as_str(),
                    t.current.status.as_str(),
                    t.current.number,
                    t.current.updated_at.0 as i64,
                    serde_json::to_string(t).unwrap()
                ],
            )
            .unwrap();
        }
        for c in &commands {
            let body = format!("{{\"correlation_id\":\"{}\"}}", c.correlation_id);
            let sent_at = sent.contains(&c.correlation_id).then_some(2_000_i64);
            conn.execute(
                "INSERT INTO outbox (correlation_id, deployment_id, topic, body, created_at,
                    sent_at, withdrawn)
                 VALUES (?1, 'dep', ?2, ?3, 1000, ?4, ?5)",
                params![
                    c.correlation_id.as_str(),
                    topic(c),
                    body.as_bytes(),
                    sent_at,
                    withdrawn.contains(&c.correlation_id)
                ],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO messages (direction, topic, body, at, event_type, deployment_id,
                    store_id, controller_id, correlation_id, outcome, dedupe)
                 VALUES ('out', ?1, ?2, 1000, 'update_firmware', 'dep', ?3, ?4, ?5, 'outbox', ?6)",
                params![
                    topic(c),
                    body.as_bytes(),
                    c.store_id.as_str(),
                    c.controller_id.as_str(),
                    c.correlation_id.as_str(),
                    old_key("out", &topic(c), body.as_bytes())
                ],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO messages (direction, topic, body, at, outcome, dedupe)
             VALUES ('in', ?1, ?2, 3000, 'applied', ?3)",
            params![reply_topic, &reply[..], old_key("in", reply_topic, reply)],
        )
        .unwrap();
    }

    let mut history = History::open(&path).unwrap();
    assert_eq!(
        history.schema_version().unwrap(),
        super::migrations::MIGRATIONS.last().unwrap().version
    );
    let restored = history.deployment_state("dep").unwrap().unwrap();
    assert_eq!(
        restored.targets, expected.targets,
        "targets restored as they were"
    );
    Engine::new().restore(restored).unwrap();

    let pending: HashSet<String> = history
        .pending_commands_of("dep")
        .unwrap()
        .into_iter()
        .map(|p| p.correlation_id)
        .collect();
    let unsent: HashSet<String> = commands
        .iter()
        .filter(|c| !sent.contains(&c.correlation_id) && !withdrawn.contains(&c.correlation_id))
        .map(|c| c.correlation_id.to_string())
        .collect();
    assert!(!unsent.is_empty());
    assert_eq!(pending, unsent, "the unsent commands still wait, once each");
    let messages = history.messages(Some("dep"), 1_000).unwrap();
    assert_eq!(messages.len(), commands.len(), "each command is one row");
    let published = messages.iter().filter(|m| m.outcome == "published").count();
    assert_eq!(published, sent.len());
    let gone = messages.iter().filter(|m| m.outcome == "withdrawn").count();
    assert_eq!(gone, withdrawn.len());

    // The reply recorded under schema 5 is recognised, and a new one is not.
    let again = |body: &[u8]| MessageRecord {
        direction: MessageDirection::In,
        topic: reply_topic.into(),
        body: body.to_vec().into(),
        at: Millis(4_000),
        event_type: None,
        deployment_id: None,
        store_id: None,
        controller_id: None,
        correlation_id: None,
        outcome: "applied".into(),
        reason: None,
        oversize: None,
    };
    let mut batch = Batch::default();
    batch.messages.push(again(reply));
    assert_eq!(history.write_batch(&batch).unwrap().new_messages, 0);
    let mut batch = Batch::default();
    batch
        .messages
        .push(again(br#"{"event_type":"update_firmware_completed"}"#));
    assert_eq!(history.write_batch(&batch).unwrap().new_messages, 1);
    let statuses: Vec<TargetStatus> = history
        .target_statuses("dep")
        .unwrap()
        .iter()
        .map(|t| t.status)
        .collect();
    let was: Vec<TargetStatus> = expected.targets.iter().map(|t| t.status()).collect();
    assert_eq!(statuses, was, "the status columns are those of the records");
}
