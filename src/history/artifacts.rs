//! Firmware artifacts as stored: what was hashed, when, and where it is.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{History, HistoryError, now_timestamp};

/// A registered firmware file, as last hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Artifact {
    pub id: i64,
    /// Display name (defaults to the file name).
    pub name: String,
    /// The firmware version the controllers are told about.
    pub version: String,
    /// Absolute path of the file on this machine.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub path: PathBuf,
    /// Size in bytes at the last hash.
    pub size: u64,
    /// Lowercase hex MD5 at the last hash.
    pub md5: String,
    /// The file's modification time at the last hash, in ns since the epoch.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub file_mtime_ns: Option<i64>,
    /// The secret URL segment of the built-in server; kept out of JSON and logs.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub token: String,
    pub added_at: String,
    pub hashed_at: String,
    /// When a watcher saw the file change after it was hashed.
    pub stale_since: Option<String>,
}

impl Artifact {
    /// The last path component, as offered in download URLs.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("firmware-{}.bin", self.id))
    }
}

/// What [`History::insert_artifact`] stores.
#[derive(Debug, Clone)]
pub struct NewArtifact<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub path: &'a str,
    pub size: u64,
    pub md5: &'a str,
    pub file_mtime_ns: Option<i64>,
    pub token: &'a str,
}

const COLUMNS: &str = "id, name, version, path, size, md5, file_mtime_ns, token, added_at, \
                       hashed_at, stale_since";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Artifact> {
    Ok(Artifact {
        id: r.get(0)?,
        name: r.get(1)?,
        version: r.get(2)?,
        path: PathBuf::from(r.get::<_, String>(3)?),
        size: r.get::<_, i64>(4)? as u64,
        md5: r.get(5)?,
        file_mtime_ns: r.get(6)?,
        token: r.get(7)?,
        added_at: r.get(8)?,
        hashed_at: r.get(9)?,
        stale_since: r.get(10)?,
    })
}

impl History {
    /// Stores a newly hashed artifact; returns it with its id.
    pub fn insert_artifact(&self, new: &NewArtifact<'_>) -> Result<Artifact, HistoryError> {
        let now = now_timestamp();
        self.conn().execute(
            "INSERT INTO artifacts (name, version, path, size, md5, file_mtime_ns, token, \
             added_at, hashed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![
                new.name,
                new.version,
                new.path,
                new.size as i64,
                new.md5,
                new.file_mtime_ns,
                new.token,
                now
            ],
        )?;
        let id = self.conn().last_insert_rowid();
        self.artifact(id)?
            .ok_or(HistoryError::Sql(rusqlite::Error::QueryReturnedNoRows))
    }

    /// A registered (not removed) artifact by id.
    pub fn artifact(&self, id: i64) -> Result<Option<Artifact>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1 AND removed_at IS NULL"),
                [id],
                from_row,
            )
            .optional()?)
    }

    /// The registered artifact for a file, if any.
    pub fn artifact_by_path(&self, path: &Path) -> Result<Option<Artifact>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM artifacts WHERE path = ?1 AND removed_at IS NULL"),
                [path.to_string_lossy()],
                from_row,
            )
            .optional()?)
    }

    /// The registered artifact served under `token` by the built-in server, if any.
    pub fn artifact_by_token(&self, token: &str) -> Result<Option<Artifact>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM artifacts WHERE token = ?1 AND removed_at IS NULL"),
                [token],
                from_row,
            )
            .optional()?)
    }

    /// Every registered artifact, oldest first.
    pub fn artifacts(&self) -> Result<Vec<Artifact>, HistoryError> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM artifacts WHERE removed_at IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a new hash of an artifact's file and clears its stale mark.
    pub fn update_artifact_hash(
        &self,
        id: i64,
        size: u64,
        md5: &str,
        file_mtime_ns: Option<i64>,
        token: &str,
    ) -> Result<bool, HistoryError> {
        let n = self.conn().execute(
            "UPDATE artifacts SET size = ?2, md5 = ?3, file_mtime_ns = ?4, token = ?5, \
             hashed_at = ?6, stale_since = NULL WHERE id = ?1 AND removed_at IS NULL",
            params![id, size as i64, md5, file_mtime_ns, token, now_timestamp()],
        )?;
        Ok(n == 1)
    }

    /// Marks every registered artifact of `path` stale (keeping an earlier mark); returns
    /// the ids that were not stale before.
    pub fn mark_artifacts_stale(&self, path: &Path) -> Result<Vec<i64>, HistoryError> {
        let mut stmt = self.conn().prepare(
            "UPDATE artifacts SET stale_since = ?2 \
             WHERE path = ?1 AND removed_at IS NULL AND stale_since IS NULL RETURNING id",
        )?;
        let ids = stmt
            .query_map(params![path.to_string_lossy(), now_timestamp()], |r| {
                r.get(0)
            })?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Removes an artifact from the library. The row stays (downloads refer to it) but
    /// it is no longer listed or served, and its path may be registered again.
    pub fn remove_artifact(&self, id: i64) -> Result<bool, HistoryError> {
        let n = self.conn().execute(
            "UPDATE artifacts SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
            params![id, now_timestamp()],
        )?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(path: &'a str, token: &'a str) -> NewArtifact<'a> {
        NewArtifact {
            name: "fw",
            version: "1.0.0",
            path,
            size: 10,
            md5: "00112233445566778899aabbccddeeff",
            file_mtime_ns: Some(5),
            token,
        }
    }

    #[test]
    fn insert_list_stale_rehash_remove() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(&dir.path().join("h.sqlite")).unwrap();
        let a = h.insert_artifact(&sample("/x/a.bin", "t1")).unwrap();
        let b = h.insert_artifact(&sample("/x/b.bin", "t2")).unwrap();
        assert_eq!(h.artifacts().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(a.file_name(), "a.bin");

        assert_eq!(
            h.mark_artifacts_stale(Path::new("/x/a.bin")).unwrap(),
            vec![a.id]
        );
        // Already stale: not reported again.
        assert!(
            h.mark_artifacts_stale(Path::new("/x/a.bin"))
                .unwrap()
                .is_empty()
        );
        assert!(h.artifact(a.id).unwrap().unwrap().stale_since.is_some());

        assert!(
            h.update_artifact_hash(a.id, 11, "ff", Some(6), "t3")
                .unwrap()
        );
        let a2 = h.artifact(a.id).unwrap().unwrap();
        assert_eq!(
            (a2.size, a2.md5.as_str(), a2.token.as_str()),
            (11, "ff", "t3")
        );
        assert!(a2.stale_since.is_none());

        assert!(h.remove_artifact(a.id).unwrap());
        assert!(!h.remove_artifact(a.id).unwrap());
        assert!(h.artifact(a.id).unwrap().is_none());
        assert_eq!(h.artifacts().unwrap(), vec![b]);
        // The path is free again once removed.
        h.insert_artifact(&sample("/x/a.bin", "t4")).unwrap();
    }

    #[test]
    fn a_path_is_registered_once() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(&dir.path().join("h.sqlite")).unwrap();
        h.insert_artifact(&sample("/x/a.bin", "t1")).unwrap();
        assert!(h.insert_artifact(&sample("/x/a.bin", "t2")).is_err());
    }
}
