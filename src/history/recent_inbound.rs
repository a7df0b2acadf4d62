//! The inbound messages recorded lately, by their 8-byte key (`dedupe`): how the writer
//! recognises a redelivered message without a unique index over every message ever recorded
//! (migration 11 says why).
//!
//! - The window is the last [`WINDOW`] inbound rows of the file, whichever process wrote
//!   them. It is read when the first inbound message is written (a process that only reads,
//!   or only creates deployments, never pays for it), then kept up to date: at the start of
//!   each write transaction, which holds the write lock, the rows other processes added
//!   since the last look are read in (a range of row ids, no index).
//! - A batch's own changes join the window only once its transaction has committed: a
//!   rolled-back batch, retried later, must not find its own messages already "recorded".
//! - QoS 1 redelivers what was not acknowledged, and this process acknowledges a message
//!   only once its batch is committed: what comes again after a crash is at most the
//!   inbound room of the service (8,192) plus the broker's in-flight window, and it comes
//!   before anything newer. The window holds eight times that.
//! - A duplicate older than the window is recorded again; the engine changes nothing for
//!   it (it is a repeat of a reply already applied). A `deferred` row is the exception: it
//!   is found through its own small index whatever its age (`deferred_row`, called
//!   from `History::write_batch`).

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};

use rusqlite::{Connection, params};

/// Inbound messages the window holds, at most.
pub(super) const WINDOW: usize = 65_536;

pub(super) type Key = [u8; 8];

/// A recorded inbound message: its row, and whether it was left `deferred` for the process
/// that drives its deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    pub id: i64,
    pub deferred: bool,
}

#[derive(Debug, Default)]
pub(super) struct RecentInbound {
    by_key: HashMap<Key, Seen>,
    /// Keys in the order their rows were written, oldest first, for eviction.
    order: VecDeque<(Key, i64)>,
    /// Every message row up to this id has been looked at.
    seen_up_to: i64,
}

const COLUMNS: &str = "SELECT id, dedupe, outcome = 'deferred' FROM messages";

impl RecentInbound {
    /// The last [`WINDOW`] inbound messages of the file.
    pub fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut window = Self {
            seen_up_to: conn.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                r.get(0)
            })?,
            ..Self::default()
        };
        let mut rows: Vec<(i64, Key, bool)> = Vec::new();
        {
            let mut statement = conn.prepare(&format!(
                "{COLUMNS} WHERE direction = 'in' AND id <= ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let mut found = statement.query(params![window.seen_up_to, WINDOW as i64])?;
            while let Some(row) = found.next()? {
                if let Some(key) = key_of(row.get_ref(1)?.as_blob_or_null()?) {
                    rows.push((row.get(0)?, key, row.get(2)?));
                }
            }
        }
        for (id, key, deferred) in rows.into_iter().rev() {
            window.note(key, Seen { id, deferred });
        }
        Ok(window)
    }

    /// Reads in the inbound rows other processes wrote since the last look. Call it inside
    /// the write transaction, so that nothing is written between the look and the batch.
    pub fn catch_up(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut statement = conn.prepare_cached(&format!(
            "{COLUMNS} WHERE id > ?1 AND direction = 'in' ORDER BY id"
        ))?;
        let mut found = statement.query(params![self.seen_up_to])?;
        let mut newer = Vec::new();
        while let Some(row) = found.next()? {
            let id: i64 = row.get(0)?;
            if let Some(key) = key_of(row.get_ref(1)?.as_blob_or_null()?) {
                newer.push((
                    key,
                    Seen {
                        id,
                        deferred: row.get(2)?,
                    },
                ));
            }
        }
        drop(found);
        for (key, seen) in newer {
            self.note(key, seen);
        }
        // Outbound rows count as looked at too: only inbound ones are kept.
        let last: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
            r.get(0)
        })?;
        self.seen_up_to = self.seen_up_to.max(last);
        Ok(())
    }

    pub fn get(&self, key: &Key) -> Option<Seen> {
        self.by_key.get(key).copied()
    }

    /// A committed batch's inbound rows, and the last message row it wrote.
    pub fn commit(&mut self, changes: impl IntoIterator<Item = (Key, Seen)>, last_id: i64) {
        for (key, seen) in changes {
            self.note(key, seen);
        }
        self.seen_up_to = self.seen_up_to.max(last_id);
    }

    fn note(&mut self, key: Key, seen: Seen) {
        let fresh = self
            .by_key
            .insert(key, seen)
            .is_none_or(|old| old.id != seen.id);
        if fresh {
            self.order.push_back((key, seen.id));
        }
        while self.order.len() > WINDOW {
            let Some((old_key, old_id)) = self.order.pop_front() else {
                break;
            };
            // The key may have a newer row since: only its own entry goes.
            if self.by_key.get(&old_key).is_some_and(|s| s.id == old_id) {
                self.by_key.remove(&old_key);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

fn key_of(blob: Option<&[u8]>) -> Option<Key> {
    blob.and_then(|b| b.try_into().ok())
}

/// The window as one write transaction sees it: the batch's own rows on top, kept apart
/// until the commit.
pub(super) struct Pending<'a> {
    window: &'a RecentInbound,
    local: HashMap<Key, Seen>,
    changes: Vec<(Key, Seen)>,
}

impl<'a> Pending<'a> {
    pub fn over(window: &'a RecentInbound) -> Self {
        Self {
            window,
            local: HashMap::new(),
            changes: Vec::new(),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Seen> {
        self.local
            .get(key)
            .copied()
            .or_else(|| self.window.get(key))
    }

    pub fn note(&mut self, key: Key, seen: Seen) {
        self.local.insert(key, seen);
        self.changes.push((key, seen));
    }

    pub fn into_changes(self) -> Vec<(Key, Seen)> {
        self.changes
    }
}

/// Whether any row is left `deferred` (through migration 11's index: no scan).
pub(super) fn any_deferred(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached(ANY_DEFERRED)?
        .query_row([], |r| r.get(0))
}

// Both go through migration 11's partial index (its test checks the plans); no `INDEXED
// BY`, since tests also write files of older schemas.
pub(super) const ANY_DEFERRED: &str =
    "SELECT EXISTS (SELECT 1 FROM messages WHERE outcome = 'deferred')";
pub(super) const DEFERRED_ROW: &str =
    "SELECT id FROM messages WHERE dedupe = ?1 AND outcome = 'deferred' LIMIT 1";

/// A row left `deferred` with this key, however old (migration 11's small index).
pub(super) fn deferred_row(conn: &Connection, key: &Key) -> rusqlite::Result<Option<Seen>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(DEFERRED_ROW)?
        .query_row(params![&key[..]], |r| r.get(0))
        .optional()
        .map(|id| id.map(|id| Seen { id, deferred: true }))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Batch, History, MessageDirection, MessageRecord};
    use super::*;
    use crate::engine::Millis;

    /// An inbound message for deployment `dep`; `n` makes its body, so its key.
    pub(in crate::history) fn reply(n: usize, outcome: &str) -> MessageRecord {
        MessageRecord {
            direction: MessageDirection::In,
            topic: "stores/s/controllers/c/events".into(),
            body: format!(r#"{{"n":{n}}}"#).into_bytes().into(),
            at: Millis(1_000 + n as u64),
            event_type: None,
            deployment_id: Some("dep".into()),
            store_id: None,
            controller_id: None,
            correlation_id: None,
            outcome: outcome.into(),
            reason: None,
            oversize: None,
        }
    }

    fn write(history: &mut History, messages: Vec<MessageRecord>) -> usize {
        let batch = Batch {
            messages,
            ..Batch::default()
        };
        history.write_batch(&batch).unwrap().new_messages
    }

    fn outcomes(history: &History) -> Vec<String> {
        let mut rows = history.messages(Some("dep"), 1_000).unwrap();
        rows.sort_by_key(|r| r.id);
        rows.into_iter().map(|r| r.outcome).collect()
    }

    #[test]
    fn a_redelivery_is_recognised_in_the_batch_after_a_restart_and_from_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut history = History::open(&path).unwrap();
        assert_eq!(
            write(&mut history, vec![reply(1, "applied"), reply(1, "applied")]),
            1
        );
        assert_eq!(
            write(&mut history, vec![reply(1, "applied"), reply(2, "applied")]),
            1
        );
        drop(history);
        // A new process: the window is read from the file.
        let mut history = History::open(&path).unwrap();
        assert_eq!(write(&mut history, vec![reply(2, "applied")]), 0);
        // Another process records a message this one then hears too.
        let mut other = History::open(&path).unwrap();
        assert_eq!(write(&mut other, vec![reply(3, "applied")]), 1);
        assert_eq!(write(&mut history, vec![reply(3, "applied")]), 0);
        assert_eq!(write(&mut other, vec![reply(2, "applied")]), 0);
        assert_eq!(outcomes(&history), ["applied"; 3]);
    }

    #[test]
    fn a_deferred_row_takes_the_appliers_outcome_even_beyond_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut other = History::open(&path).unwrap();
        assert_eq!(write(&mut other, vec![reply(0, "deferred")]), 1);
        let mut history = History::open(&path).unwrap();
        // Within the window (read in from the other process's row).
        assert_eq!(write(&mut history, vec![reply(0, "applied")]), 1);
        assert_eq!(outcomes(&history), ["applied"]);
        // Beyond it: a window holding nothing finds the row through its index.
        assert_eq!(write(&mut other, vec![reply(1, "deferred")]), 1);
        let window = RecentInbound::default();
        let key = super::super::deployment_writes::dedupe_key(&reply(1, "x"));
        assert!(window.get(&key).is_none());
        let found = deferred_row(history.conn(), &key).unwrap();
        assert!(found.is_some_and(|s| s.deferred));
        // A second deferred copy is a duplicate, not a second row.
        assert_eq!(write(&mut history, vec![reply(1, "deferred")]), 0);
        assert_eq!(outcomes(&history), ["applied", "deferred"]);
    }

    #[test]
    fn a_batch_that_rolled_back_leaves_nothing_in_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
        assert_eq!(write(&mut history, vec![reply(1, "applied")]), 1);
        history
            .conn()
            .execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON messages
                 WHEN NEW.body LIKE '%2}' BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            )
            .unwrap();
        let batch = Batch {
            messages: vec![reply(3, "applied"), reply(2, "applied")],
            ..Batch::default()
        };
        assert!(history.write_batch(&batch).is_err());
        history
            .conn()
            .execute_batch("DROP TRIGGER refuse;")
            .unwrap();
        // The retry writes both: neither counts as recorded by the failed attempt.
        assert_eq!(history.write_batch(&batch).unwrap().new_messages, 2);
        assert_eq!(outcomes(&history), ["applied"; 3]);
    }

    #[test]
    fn the_window_keeps_the_newest_rows_and_forgets_the_oldest() {
        let mut window = RecentInbound::default();
        for id in 0..(WINDOW as i64 + 10) {
            window.note(
                id.to_le_bytes(),
                Seen {
                    id,
                    deferred: false,
                },
            );
        }
        assert_eq!(window.len(), WINDOW);
        assert!(window.get(&0_i64.to_le_bytes()).is_none());
        assert!(window.get(&(WINDOW as i64 + 9).to_le_bytes()).is_some());
        // A key written again keeps its newer row when its old entry leaves.
        let key = 20_i64.to_le_bytes();
        window.note(
            key,
            Seen {
                id: 1_000_000,
                deferred: false,
            },
        );
        for id in 2_000_000..(2_000_000 + WINDOW as i64 - 1) {
            window.note(
                id.to_le_bytes(),
                Seen {
                    id,
                    deferred: false,
                },
            );
        }
        assert_eq!(window.get(&key).map(|s| s.id), Some(1_000_000));
    }
}
