//! Downloads served by the built-in firmware server: who fetched what, how much, how fast.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Row, params};
use serde::Serialize;

use super::{History, HistoryError};

/// One response body the firmware server sent (or started to send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DownloadRecord {
    pub artifact_id: i64,
    /// The client's `ip:port`, as the server saw it.
    pub client_addr: String,
    pub started_at: String,
    pub duration_ms: u64,
    /// Body bytes handed to the connection.
    pub bytes_sent: u64,
    /// 200, or 206 for a range request.
    pub status: u16,
    /// The request's `Range` header, if any.
    pub range: Option<String>,
    /// Whether the whole response body was sent (false: the client went away).
    pub completed: bool,
}

/// A stored download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Download {
    pub id: i64,
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub record: DownloadRecord,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Download> {
    Ok(Download {
        id: r.get(0)?,
        record: DownloadRecord {
            artifact_id: r.get(1)?,
            client_addr: r.get(2)?,
            started_at: r.get(3)?,
            duration_ms: r.get::<_, i64>(4)? as u64,
            bytes_sent: r.get::<_, i64>(5)? as u64,
            status: r.get(6)?,
            range: r.get(7)?,
            completed: r.get(8)?,
        },
    })
}

impl History {
    /// Stores download records, all in one transaction.
    pub fn record_downloads(&mut self, records: &[DownloadRecord]) -> Result<(), HistoryError> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO downloads (artifact_id, client_addr, started_at, duration_ms, \
                 bytes_sent, status, range, completed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in records {
                stmt.execute(params![
                    r.artifact_id,
                    r.client_addr,
                    r.started_at,
                    r.duration_ms as i64,
                    r.bytes_sent as i64,
                    r.status,
                    r.range,
                    r.completed
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Downloads, oldest first; of one artifact when `artifact_id` is given.
    pub fn downloads(&self, artifact_id: Option<i64>) -> Result<Vec<Download>, HistoryError> {
        let mut stmt = self.conn().prepare(
            "SELECT id, artifact_id, client_addr, started_at, duration_ms, bytes_sent, status, \
             range, completed FROM downloads WHERE ?1 IS NULL OR artifact_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([artifact_id], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Writes download records from any thread, through a background thread that owns its own
/// connection. Dropping the writer stores what was queued and stops the thread.
pub struct DownloadWriter {
    tx: Option<mpsc::Sender<DownloadRecord>>,
    thread: Option<JoinHandle<()>>,
}

impl DownloadWriter {
    /// Opens the history at `path` for the writer thread.
    pub fn start(path: &Path) -> Result<Self, HistoryError> {
        let mut history = History::open(path)?;
        let (tx, rx) = mpsc::channel::<DownloadRecord>();
        let thread = std::thread::Builder::new()
            .name("download-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Whatever queued up meanwhile goes into the same transaction.
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    if let Err(e) = history.record_downloads(&batch) {
                        tracing::warn!(error = %e, lost = batch.len(), "cannot record downloads");
                    }
                }
            })
            .map_err(HistoryError::Thread)?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a record; it is stored shortly after.
    pub fn record(&self, record: DownloadRecord) {
        if let Some(tx) = &self.tx {
            // The thread only ends once `tx` is dropped, so this cannot fail.
            let _ = tx.send(record);
        }
    }
}

impl Drop for DownloadWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::NewArtifact;

    fn record(artifact_id: i64, bytes: u64) -> DownloadRecord {
        DownloadRecord {
            artifact_id,
            client_addr: "127.0.0.1:5000".into(),
            started_at: "2024-01-15T08:30:25.000+00:00".into(),
            duration_ms: 12,
            bytes_sent: bytes,
            status: 200,
            range: None,
            completed: true,
        }
    }

    #[test]
    fn the_writer_stores_every_record_before_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let h = History::open(&path).unwrap();
        let a = h
            .insert_artifact(&NewArtifact {
                name: "fw",
                version: "1",
                path: "/fw.bin",
                size: 3,
                md5: "x",
                file_mtime_ns: None,
                token: "t",
            })
            .unwrap();
        let writer = DownloadWriter::start(&path).unwrap();
        for i in 0..100 {
            writer.record(record(a.id, i));
        }
        drop(writer);
        let stored = h.downloads(Some(a.id)).unwrap();
        assert_eq!(stored.len(), 100);
        assert_eq!(stored[42].record, record(a.id, 42));
        assert!(h.downloads(Some(a.id + 1)).unwrap().is_empty());
        assert_eq!(h.downloads(None).unwrap().len(), 100);
    }
}
