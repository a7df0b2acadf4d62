//! Upkeep: old deployments out of the history, optionally into an archive first, then a vacuum.
//!
//! What goes is decided once, here, for the CLI (`storefleet prune`) and the window alike:
//! - deployments created before the cut-off that are finished (every target terminal, or
//!   cancelled), ours or observed, with their targets, attempts, transitions, rollout events,
//!   requests and messages;
//! - messages tied to no deployment (rejected or unknown ones) older than the cut-off;
//! - firmware download records older than the cut-off.
//!
//! Unfinished deployments are never removed, however old: their commands may still be in the
//! outbox and their replies still to come. The inventory, the firmware library and the
//! settings stay; the store search's table follows the messages. An archive is a copy of the history holding exactly what goes (plus the
//! inventory and library), so `storefleet --db ARCHIVE deployments` reads it like any other.

use std::path::Path;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{History, HistoryError};
use crate::engine::Millis;

/// What a prune removes (or removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PrunePlan {
    /// The cut-off: what was created before it goes.
    pub before: Millis,
    pub deployments: usize,
    pub targets: usize,
    pub messages: usize,
    pub downloads: usize,
    /// Unfinished deployments older than the cut-off, kept.
    pub unfinished_kept: usize,
}

impl PrunePlan {
    pub fn is_empty(&self) -> bool {
        self.deployments == 0 && self.messages == 0 && self.downloads == 0
    }

    /// One line for a person: what goes and what stays.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} finished deployments ({} targets), {} messages and {} download records from before {}",
            self.deployments,
            self.targets,
            self.messages,
            self.downloads,
            self.before
                .to_datetime()
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        );
        if self.unfinished_kept > 0 {
            text.push_str(&format!(
                "; {} unfinished deployments that old are kept",
                self.unfinished_kept
            ));
        }
        text
    }
}

/// A cut-off as a person gives it: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 instant.
pub fn parse_cutoff(text: &str) -> Result<Millis, String> {
    let text = text.trim();
    let at = if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        day.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
    } else {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.to_utc())
    };
    at.and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .map(Millis)
        .ok_or_else(|| {
            format!(
                "{text:?} is not a date: give YYYY-MM-DD or an RFC 3339 time (2026-06-01T00:00:00Z)"
            )
        })
}

/// How the vacuum after a prune went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PruneReport {
    pub removed: PrunePlan,
    /// Bytes of the history file before and after the vacuum.
    pub size_before: u64,
    pub size_after: u64,
    /// Why the vacuum did not run (another process kept the history busy); the rows are gone
    /// all the same and the space is reused by later writes.
    pub vacuum_skipped: Option<String>,
}

/// The deployments that go, as a `WHERE` on `deployments` (parameter 1: the cut-off).
const GOING: &str = "created_at < ?1 AND finished_at IS NOT NULL";

/// Rows of every table that hangs off a deployment.
const BY_DEPLOYMENT: &[&str] = &[
    "targets",
    "attempts",
    "transitions",
    "rollout_events",
    "requests",
    "messages",
];

#[cfg(test)]
#[test]
fn cut_offs_are_days_or_instants() {
    assert_eq!(parse_cutoff("1970-01-02"), Ok(Millis(86_400_000)));
    assert_eq!(parse_cutoff("1970-01-01T00:00:01+00:00"), Ok(Millis(1_000)));
    assert!(
        parse_cutoff("last tuesday")
            .unwrap_err()
            .contains("YYYY-MM-DD")
    );
}

fn count(conn: &Connection, sql: &str, before: i64) -> Result<usize, rusqlite::Error> {
    conn.query_row(sql, params![before], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}

/// Downloads keep their start as RFC 3339 text; compared as text in the same format.
fn download_cutoff(before: Millis) -> String {
    before
        .to_datetime()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn plan_on(conn: &Connection, before: Millis) -> Result<PrunePlan, rusqlite::Error> {
    let cut = before.0 as i64;
    let going = format!("SELECT id FROM deployments WHERE {GOING}");
    Ok(PrunePlan {
        before,
        deployments: count(
            conn,
            &format!("SELECT count(*) FROM deployments WHERE {GOING}"),
            cut,
        )?,
        targets: count(
            conn,
            &format!("SELECT count(*) FROM targets WHERE deployment_id IN ({going})"),
            cut,
        )?,
        messages: count(
            conn,
            &format!(
                "SELECT count(*) FROM messages WHERE deployment_id IN ({going})
                 OR (deployment_id IS NULL AND at < ?1)"
            ),
            cut,
        )?,
        downloads: conn.query_row(
            "SELECT count(*) FROM downloads WHERE started_at < ?1",
            params![download_cutoff(before)],
            |r| r.get::<_, i64>(0).map(|n| n as usize),
        )?,
        unfinished_kept: count(
            conn,
            "SELECT count(*) FROM deployments WHERE created_at < ?1 AND finished_at IS NULL",
            cut,
        )?,
    })
}

/// Deletes what goes, in one transaction on `conn`.
fn delete_on(conn: &Connection, before: Millis) -> Result<(), rusqlite::Error> {
    let cut = before.0 as i64;
    let going = format!("SELECT id FROM deployments WHERE {GOING}");
    for table in BY_DEPLOYMENT {
        conn.execute(
            &format!("DELETE FROM {table} WHERE deployment_id IN ({going})"),
            params![cut],
        )?;
    }
    conn.execute(
        "DELETE FROM messages WHERE deployment_id IS NULL AND at < ?1",
        params![cut],
    )?;
    conn.execute(
        "DELETE FROM downloads WHERE started_at < ?1",
        params![download_cutoff(before)],
    )?;
    conn.execute(
        &format!("DELETE FROM deployments WHERE {GOING}"),
        params![cut],
    )?;
    forget_search_rows(conn)
}

/// The store search's own table (migration 9) follows the messages it indexes: rows of
/// deleted messages go, and its high-water mark comes down to the newest message left, so a
/// message that reuses a deleted id is taken in by the next search.
fn forget_search_rows(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute(
        "DELETE FROM message_stores
         WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = message_stores.id)",
        [],
    )?;
    conn.execute(
        "UPDATE settings SET value = (SELECT COALESCE(MAX(id), 0) FROM messages)
         WHERE key = 'search_stores_upto'
           AND CAST(value AS INTEGER) > (SELECT COALESCE(MAX(id), 0) FROM messages)",
        [],
    )?;
    Ok(())
}

/// Keeps in an archive copy only what the prune takes out of the history: the complement of
/// [`delete_on`].
fn keep_only_going(conn: &Connection, before: Millis) -> Result<(), rusqlite::Error> {
    let cut = before.0 as i64;
    let staying = format!("SELECT id FROM deployments WHERE NOT ({GOING})");
    for table in BY_DEPLOYMENT {
        conn.execute(
            &format!("DELETE FROM {table} WHERE deployment_id IN ({staying})"),
            params![cut],
        )?;
    }
    conn.execute(
        "DELETE FROM messages WHERE deployment_id IS NULL AND at >= ?1",
        params![cut],
    )?;
    conn.execute(
        "DELETE FROM downloads WHERE started_at >= ?1",
        params![download_cutoff(before)],
    )?;
    conn.execute(
        &format!("DELETE FROM deployments WHERE NOT ({GOING})"),
        params![cut],
    )?;
    forget_search_rows(conn)
}

fn file_size(path: &Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        total += std::fs::metadata(&name).map(|m| m.len()).unwrap_or(0);
    }
    total
}

impl History {
    /// What [`History::prune`] would remove with this cut-off; nothing is changed.
    pub fn prune_plan(&self, before: Millis) -> Result<PrunePlan, HistoryError> {
        Ok(plan_on(self.conn(), before)?)
    }

    /// Removes what [`History::prune_plan`] lists, in one transaction, after writing it to
    /// `archive` when one is given (a new file: an existing one is refused, never overwritten).
    /// Then vacuums, so the file shrinks.
    pub fn prune(
        &mut self,
        before: Millis,
        archive: Option<&Path>,
    ) -> Result<PruneReport, HistoryError> {
        let path = self.path().to_path_buf();
        let size_before = file_size(&path);
        if let Some(archive) = archive {
            if archive.exists() && std::fs::metadata(archive).map_or(true, |m| m.len() > 0) {
                return Err(HistoryError::ArchiveExists(archive.to_path_buf()));
            }
            // Private like the history (an empty file is what VACUUM INTO may write into), then
            // a consistent copy of the whole history, trimmed to what goes.
            super::private_file::make_private(archive);
            self.conn()
                .execute("VACUUM INTO ?1", params![archive.to_string_lossy()])?;
            let copy = Connection::open(archive)?;
            copy.execute_batch("BEGIN IMMEDIATE")?;
            keep_only_going(&copy, before)?;
            copy.execute_batch("COMMIT; VACUUM")?;
        }
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Counted inside the write transaction: exactly what is deleted.
        let removed = plan_on(&tx, before)?;
        delete_on(&tx, before)?;
        tx.commit()?;
        let vacuum_skipped = match self.conn().execute_batch("VACUUM") {
            Ok(()) => None,
            Err(e) => Some(format!(
                "the history is busy ({e}); its free space is reused"
            )),
        };
        let _ = self.conn().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        Ok(PruneReport {
            removed,
            size_before,
            size_after: file_size(&path),
            vacuum_skipped,
        })
    }
}
