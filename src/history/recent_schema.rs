//! Migration 11: a redelivered message is recognised against the messages recorded lately,
//! not against a unique index over every message ever recorded.
//!
//! `messages_once` was a unique index over each inbound message's 8-byte key, a hash of its
//! topic and body. Hash order is random, so each message of a commit landed on its own page
//! of that index: a commit of 1,000 replies rewrote about 1,000 of its pages into the WAL,
//! and more as the history grew. SQLite alone, a reply's rows at FULL sync: 30,031 replies/s
//! with the index, 43,768/s without (`benches/reply_rows.rs`, `docs/bench/issue13-reply-rows.txt`).
//!
//! The key stays in every row. The writer checks it against the last inbound messages,
//! held in memory (`recent_inbound.rs`); duplicates come from QoS 1 redelivery after a lost
//! acknowledgement, which the broker makes before anything newer. A message another process
//! recorded as `deferred` (it did not drive the deployment) must still take the outcome of
//! the process that applies it, however long ago it came: those few rows keep an index.

pub(super) const SQL: &str = r#"
    DROP INDEX messages_once;
    CREATE INDEX messages_deferred ON messages(dedupe) WHERE outcome = 'deferred';
"#;

#[cfg(test)]
mod tests {
    use super::super::migrations::MIGRATIONS;
    use super::super::recent_inbound::tests::reply;
    use super::super::{Batch, History};

    /// Messages recorded under schema 10 are still recognised, and a deferred one still
    /// takes the outcome of the process that applies it.
    #[test]
    fn messages_recorded_under_schema_10_keep_their_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let ten = MIGRATIONS.iter().position(|m| m.version == 10).unwrap();
        {
            let mut old = History::open_with(&path, &MIGRATIONS[..=ten]).unwrap();
            let batch = Batch {
                messages: vec![reply(1, "applied"), reply(2, "deferred")],
                ..Batch::default()
            };
            assert_eq!(old.write_batch(&batch).unwrap().new_messages, 2);
        }
        let mut history = History::open(&path).unwrap();
        let indexes: Vec<String> = history
            .conn()
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!indexes.iter().any(|i| i == "messages_once"), "{indexes:?}");
        assert!(
            indexes.iter().any(|i| i == "messages_deferred"),
            "{indexes:?}"
        );
        // The writer's two looks for deferred rows use that index, not a scan.
        for (sql, key) in [
            (super::super::recent_inbound::ANY_DEFERRED, None),
            (
                super::super::recent_inbound::DEFERRED_ROW,
                Some(vec![0_u8; 8]),
            ),
        ] {
            let plan: Vec<String> = history
                .conn()
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(rusqlite::params_from_iter(key), |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter().any(|p| p.contains("messages_deferred")),
                "{sql}: {plan:?}"
            );
        }
        let batch = Batch {
            messages: vec![
                reply(1, "applied"),
                reply(2, "applied"),
                reply(3, "applied"),
            ],
            ..Batch::default()
        };
        // The deferred one takes its outcome, the new one is written: two changes.
        assert_eq!(history.write_batch(&batch).unwrap().new_messages, 2);
        let outcomes: Vec<String> = history
            .conn()
            .prepare("SELECT outcome FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(outcomes, ["applied"; 3]);
    }
}
