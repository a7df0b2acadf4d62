//! Copying the WAL back into the database file on a thread of its own, so that the history
//! writer's one thread, the bound of ingest, only appends to the WAL and syncs it.
//!
//! - SQLite checkpoints inside the commit that takes the WAL past `wal_autocheckpoint`
//!   pages: on the writer's thread, while the owner waits on that commit (5 % of the
//!   writer's time in a backlog drain). The writer's connection now checkpoints only past
//!   [`WRITER_FALLBACK_PAGES`], and this thread runs a `PASSIVE` checkpoint after the
//!   writer's commits (at most one queued nudge: commits that come while it works share the
//!   next run).
//! - `PASSIVE` never blocks the writer or any reader; what it cannot copy yet it leaves for
//!   the next run. Nothing is less durable: a commit is on disk once its WAL frames are
//!   synced (`synchronous=FULL` on the writer), and a checkpoint syncs the database file
//!   before the WAL is reused.
//! - The fallback keeps the WAL bounded if this thread falls behind or its connection
//!   fails: the writer then checkpoints as before, only less often.
//! - Other processes' connections keep SQLite's default and checkpoint their own commits.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{BUSY_TIMEOUT, History, HistoryError};

/// WAL pages past which the writer's own connection still checkpoints (about 40 MiB at
/// 4 KiB pages; SQLite's default is 1,000).
pub(super) const WRITER_FALLBACK_PAGES: u32 = 10_000;

/// The checkpoint thread; stopped and joined on drop.
pub struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `history`'s file and starts the thread, then leaves the
    /// writer's connection to checkpoint only past the fallback.
    pub fn start(history: &History) -> Result<Self, HistoryError> {
        let conn = open(history.path())?;
        let (nudge, nudged) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("storefleet-checkpoint".into())
            .spawn(move || run(conn, nudged))
            .map_err(HistoryError::Thread)?;
        history.conn().pragma_update(
            None,
            "wal_autocheckpoint",
            i64::from(WRITER_FALLBACK_PAGES),
        )?;
        Ok(Self {
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// Asks for a checkpoint after a commit; never waits.
    pub fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            // Full: a run is queued already and will see this commit too.
            let _ = nudge.try_send(());
        }
    }
}

fn open(path: &Path) -> Result<Connection, HistoryError> {
    let open_err = |source| HistoryError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    // This connection writes nothing of its own; it must not checkpoint on a commit either.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(open_err)?;
    Ok(conn)
}

fn run(conn: Connection, nudged: Receiver<()>) {
    let mut failing = false;
    while nudged.recv().is_ok() {
        // (busy, WAL frames, frames checkpointed): a partial copy is fine, the next nudge
        // goes on from there.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        }) {
            Ok(_) => {
                if failing {
                    tracing::info!("history checkpoints recovered");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "history checkpoint failed; the writer checkpoints past its fallback");
                    failing = true;
                }
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.nudge.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database file's size: pages reach it only through a checkpoint.
    fn file_len(history: &History) -> u64 {
        std::fs::metadata(history.path()).expect("metadata").len()
    }

    fn fill(history: &History, rows: usize) {
        let conn = history.conn();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
            .expect("table");
        let tx = conn.unchecked_transaction().expect("tx");
        for _ in 0..rows {
            tx.execute("INSERT INTO filler VALUES (zeroblob(3000))", [])
                .expect("insert");
        }
        tx.commit().expect("commit");
    }

    /// The writer's connection leaves the WAL alone below its fallback; the thread copies
    /// it into the database file once nudged.
    #[test]
    fn the_thread_checkpoints_what_the_writer_leaves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let history = History::open(&dir.path().join("h.sqlite")).expect("open");
        let checkpointer = Checkpointer::start(&history).expect("start");
        // ~2,000 pages of 4 KiB: past SQLite's default of 1,000, under the fallback.
        fill(&history, 2_000);
        assert!(
            file_len(&history) < 4 << 20,
            "the writer checkpointed: the file is {} bytes",
            file_len(&history)
        );

        checkpointer.nudge();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while file_len(&history) < 6 << 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint after a nudge: the file is {} bytes",
                file_len(&history)
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(checkpointer);
    }

    /// Without the thread the writer's connection checkpoints past the fallback on its own.
    #[test]
    fn the_writer_still_checkpoints_past_the_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let history = History::open(&dir.path().join("h.sqlite")).expect("open");
        drop(Checkpointer::start(&history).expect("start"));
        let pages = usize::try_from(WRITER_FALLBACK_PAGES).expect("pages");
        fill(&history, pages + pages / 4);
        assert!(
            file_len(&history) > (pages as u64) * 4096,
            "no checkpoint past the fallback: the file is {} bytes",
            file_len(&history)
        );
    }
}
