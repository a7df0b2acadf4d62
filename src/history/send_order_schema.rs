//! Migration 10: a deployment's targets kept in send order.
//!
//! `targets` was keyed by (deployment, store, controller), so consecutive replies, which come
//! back roughly in the order their commands went out, updated rows on different pages: a
//! commit of 1,000 replies dirtied about 1,000 pages of the table, each written to the WAL
//! and synced. Keyed by (deployment, position) they share pages. SQLite alone, a reply's rows
//! at FULL sync: 28,951 replies/s before, 80,222/s after (`benches/reply_rows.rs`,
//! `docs/bench/issue13-reply-rows.txt`).
//!
//! (deployment, store, controller) stays unique through an index, which a reply's update
//! reads but does not change; `targets_in_order` is the key now and goes. Positions are
//! renumbered in their order within each deployment, so a file that somehow holds one twice
//! still migrates (ties broken by store and controller) instead of failing the upgrade.

pub(super) const SQL: &str = r#"
    CREATE TABLE targets_v10 (
        deployment_id    TEXT NOT NULL REFERENCES deployments(id),
        position         INTEGER NOT NULL,
        store_id         TEXT NOT NULL,
        controller_id    TEXT NOT NULL,
        status           TEXT NOT NULL,
        attempt          INTEGER NOT NULL,
        errors           TEXT NOT NULL DEFAULT '[]',
        updated_at       INTEGER NOT NULL,
        update_cid       TEXT,
        update_sent_at   INTEGER,
        update_acked_at  INTEGER,
        update_withdrawn INTEGER NOT NULL DEFAULT 0,
        cancel_cid       TEXT,
        cancel_sent_at   INTEGER,
        cancel_acked_at  INTEGER,
        cancel_withdrawn INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (deployment_id, position)
    ) WITHOUT ROWID;
    INSERT INTO targets_v10 (deployment_id, position, store_id, controller_id, status, attempt,
        errors, updated_at, update_cid, update_sent_at, update_acked_at, update_withdrawn,
        cancel_cid, cancel_sent_at, cancel_acked_at, cancel_withdrawn)
    SELECT deployment_id,
        ROW_NUMBER() OVER (PARTITION BY deployment_id ORDER BY position, store_id, controller_id) - 1,
        store_id, controller_id, status, attempt, errors, updated_at, update_cid, update_sent_at,
        update_acked_at, update_withdrawn, cancel_cid, cancel_sent_at, cancel_acked_at,
        cancel_withdrawn
    FROM targets;
    DROP TABLE targets;
    ALTER TABLE targets_v10 RENAME TO targets;
    CREATE UNIQUE INDEX targets_by_id ON targets(deployment_id, store_id, controller_id);
    CREATE INDEX targets_by_controller ON targets(store_id, controller_id);
"#;

#[cfg(test)]
mod tests {
    use crate::history::History;
    use crate::history::migrations::MIGRATIONS;

    /// position, store, controller, status, attempt, errors, updated_at, update_cid,
    /// update_acked_at
    type Row = (i64, String, String, String, i64, String, i64, String, i64);

    /// A schema-9 file: its targets (one position written twice, as no code of ours does but
    /// a hand-edited file might) come through in order, renumbered, with every column, and
    /// the identity of a target is still unique.
    #[test]
    fn targets_move_to_send_order_and_keep_their_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        {
            let history = History::open_with(&path, &MIGRATIONS[..9]).unwrap();
            let conn = history.conn();
            conn.execute(
                "INSERT INTO deployments (id, firmware_version, file_url, file_size, checksum,
                    ack_timeout_ms, completion_timeout_ms, created_at, target_count)
                 VALUES ('d', '1.0.0', 'http://h/fw.bin', 10,
                    '8a3be389a446bba670da3a33e5506d2e', 5000, 50000, 1000, 3)",
                [],
            )
            .unwrap();
            for (position, store, controller, status) in [
                (0, "s2", "c9", "completed"),
                (1, "s1", "c1", "acknowledged"),
                (1, "s1", "c0", "failed"),
            ] {
                conn.execute(
                    "INSERT INTO targets (deployment_id, position, store_id, controller_id,
                        status, attempt, errors, updated_at, update_cid, update_acked_at)
                     VALUES ('d', ?1, ?2, ?3, ?4, 2, '[\"e\"]', 7, 'cid', 6)",
                    rusqlite::params![position, store, controller, status],
                )
                .unwrap();
            }
        }
        let history = History::open(&path).unwrap();
        assert!(history.schema_version().unwrap() >= 10);
        let rows: Vec<Row> = history
            .conn()
            .prepare(
                "SELECT position, store_id, controller_id, status, attempt, errors, updated_at,
                    update_cid, update_acked_at FROM targets WHERE deployment_id = 'd'
                 ORDER BY position",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let order: Vec<(i64, &str, &str)> = rows
            .iter()
            .map(|r| (r.0, r.1.as_str(), r.2.as_str()))
            .collect();
        assert_eq!(order, [(0, "s2", "c9"), (1, "s1", "c0"), (2, "s1", "c1")]);
        assert!(rows.iter().all(|r| r.4 == 2
            && r.5 == "[\"e\"]"
            && r.6 == 7
            && r.7 == "cid"
            && r.8 == 6));
        let again = history.conn().execute(
            "INSERT INTO targets (deployment_id, position, store_id, controller_id, status,
                attempt, updated_at) VALUES ('d', 9, 's1', 'c1', 'queued', 1, 0)",
            [],
        );
        assert!(again.is_err(), "a target's identity stays unique");
    }
}
