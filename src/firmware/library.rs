//! The artifact library: firmware files registered with their MD5 and size.
//!
//! An artifact can be deployed only while its file is exactly what was hashed. The file's
//! size and modification time are compared on every check (so any process notices a change),
//! and a watcher's report of a change is stored as a stale mark that only a rehash clears.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use super::hash::{self, FileDigest, HashProgress};
use crate::history::{Artifact, History, HistoryError, NewArtifact};

/// The longest accepted version or display name, in characters.
pub const MAX_LABEL_CHARS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("invalid firmware version {0:?}: {1}")]
    InvalidVersion(String, &'static str),
    #[error("invalid firmware name {0:?}: {1}")]
    InvalidName(String, &'static str),
    #[error("firmware file {0} does not exist")]
    FileNotFound(PathBuf),
    #[error("{0} is not a regular file")]
    NotAFile(PathBuf),
    #[error("the path {0} is not valid Unicode; rename the file")]
    NonUnicodePath(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} changed while it was being hashed; try again once it is no longer being written")]
    ChangedWhileHashing(PathBuf),
    #[error("{path} is already registered as firmware {id}; rehash or remove that one instead")]
    AlreadyRegistered { id: i64, path: PathBuf },
    #[error("no firmware with id {0}; `storefleet firmware list` shows the ids")]
    UnknownArtifact(i64),
    #[error(
        "firmware {id} ({path}) changed after it was hashed; rehash it (`storefleet firmware rehash {id}`) before deploying"
    )]
    Stale { id: i64, path: PathBuf },
    #[error(
        "firmware {id}: the file {path} is missing; put it back and rehash, or remove the artifact"
    )]
    Missing { id: i64, path: PathBuf },
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl LibraryError {
    /// True when the user's input or files are at fault (exit code 2), not the system.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Self::Io { .. } | Self::ChangedWhileHashing(_) | Self::History(_)
        )
    }
}

/// Whether an artifact's file is still what was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ArtifactState {
    /// Unchanged since it was hashed: deployable.
    Ready,
    /// Changed since it was hashed: rehash before deploying.
    Stale,
    /// The file is gone.
    Missing,
}

/// An artifact and the current state of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ArtifactStatus {
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub artifact: Artifact,
    pub state: ArtifactState,
}

/// An artifact whose file was checked to be exactly what was hashed. Only
/// [`Library::ensure_deployable`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployable(Artifact);

impl Deployable {
    pub fn artifact(&self) -> &Artifact {
        &self.0
    }

    pub fn into_artifact(self) -> Artifact {
        self.0
    }
}

/// Checks a version string: non-empty, printable, no surrounding spaces, at most
/// [`MAX_LABEL_CHARS`] characters.
pub fn validate_version(version: &str) -> Result<(), LibraryError> {
    check_label(version).map_err(|why| LibraryError::InvalidVersion(version.to_owned(), why))
}

fn check_label(s: &str) -> Result<(), &'static str> {
    if s.trim().is_empty() {
        Err("it must not be empty")
    } else if s.chars().any(char::is_control) {
        Err("it must contain only printable characters")
    } else if s.trim() != s {
        Err("it must not start or end with spaces")
    } else if s.chars().count() > MAX_LABEL_CHARS {
        Err("it must be at most 128 characters")
    } else {
        Ok(())
    }
}

/// The file's size and modification time, or `None` when it is gone or not a file.
fn file_stamp(path: &Path) -> Option<(u64, Option<i64>)> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    Some((meta.len(), mtime))
}

/// The state of an artifact's file right now.
pub fn check_state(artifact: &Artifact) -> ArtifactState {
    match file_stamp(&artifact.path) {
        None => ArtifactState::Missing,
        Some(_) if artifact.stale_since.is_some() => ArtifactState::Stale,
        Some(stamp) if stamp != (artifact.size, artifact.file_mtime_ns) => ArtifactState::Stale,
        Some(_) => ArtifactState::Ready,
    }
}

/// A fresh server token: 128 random bits as 32 lowercase hex characters (URL-safe).
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    hex::encode(bytes)
}

/// Hashes `path`, making sure it did not change meanwhile; returns the digest and mtime.
fn hash_stable(
    path: &Path,
    progress: &mut dyn FnMut(HashProgress),
) -> Result<(FileDigest, Option<i64>), LibraryError> {
    let before = file_stamp(path).ok_or_else(|| LibraryError::FileNotFound(path.into()))?;
    let digest = hash::hash_file(path, progress).map_err(|source| LibraryError::Io {
        path: path.into(),
        source,
    })?;
    match file_stamp(path) {
        Some(after) if after == before && after.0 == digest.size => Ok((digest, before.1)),
        _ => Err(LibraryError::ChangedWhileHashing(path.into())),
    }
}

/// Registered firmware, stored in the history.
pub struct Library {
    history: History,
}

impl Library {
    pub fn new(history: History) -> Self {
        Self { history }
    }

    /// Opens the history at `path` as a library.
    pub fn open(path: &Path) -> Result<Self, LibraryError> {
        Ok(Self::new(History::open(path)?))
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Registers a firmware file: hashes it in one streaming read and stores the result.
    /// `name` defaults to the file name.
    pub fn add(
        &self,
        path: &Path,
        version: &str,
        name: Option<&str>,
        progress: &mut dyn FnMut(HashProgress),
    ) -> Result<Artifact, LibraryError> {
        validate_version(version)?;
        if let Some(name) = name {
            check_label(name).map_err(|why| LibraryError::InvalidName(name.to_owned(), why))?;
        }
        let path = canonical_file(path)?;
        let path_str = path
            .to_str()
            .ok_or_else(|| LibraryError::NonUnicodePath(path.clone()))?;
        if let Some(existing) = self.history.artifact_by_path(&path)? {
            return Err(LibraryError::AlreadyRegistered {
                id: existing.id,
                path,
            });
        }
        let (digest, mtime) = hash_stable(&path, progress)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let md5 = digest.md5_hex();
        let token = new_token();
        let inserted = self.history.insert_artifact(&NewArtifact {
            name: name.unwrap_or(&file_name),
            version,
            path: path_str,
            size: digest.size,
            md5: &md5,
            file_mtime_ns: mtime,
            token: &token,
        });
        // Another process may have registered the same file meanwhile.
        match (inserted, self.history.artifact_by_path(&path)?) {
            (Ok(a), _) => Ok(a),
            (Err(_), Some(existing)) => Err(LibraryError::AlreadyRegistered {
                id: existing.id,
                path,
            }),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Every registered artifact with the current state of its file.
    pub fn list(&self) -> Result<Vec<ArtifactStatus>, LibraryError> {
        Ok(self
            .history
            .artifacts()?
            .into_iter()
            .map(|artifact| ArtifactStatus {
                state: check_state(&artifact),
                artifact,
            })
            .collect())
    }

    /// One artifact with the current state of its file.
    pub fn get(&self, id: i64) -> Result<ArtifactStatus, LibraryError> {
        let artifact = self
            .history
            .artifact(id)?
            .ok_or(LibraryError::UnknownArtifact(id))?;
        Ok(ArtifactStatus {
            state: check_state(&artifact),
            artifact,
        })
    }

    /// Takes an artifact out of the library; returns it as it was.
    pub fn remove(&self, id: i64) -> Result<Artifact, LibraryError> {
        let artifact = self.get(id)?.artifact;
        if !self.history.remove_artifact(id)? {
            return Err(LibraryError::UnknownArtifact(id));
        }
        Ok(artifact)
    }

    /// Hashes an artifact's file again and clears its stale mark. When the content
    /// changed, the artifact gets a new server token, so URLs handed out for the old
    /// content stop working instead of serving bytes that no longer match their checksum.
    pub fn rehash(
        &self,
        id: i64,
        progress: &mut dyn FnMut(HashProgress),
    ) -> Result<Artifact, LibraryError> {
        let old = self.get(id)?.artifact;
        if file_stamp(&old.path).is_none() {
            return Err(LibraryError::Missing { id, path: old.path });
        }
        let (digest, mtime) = hash_stable(&old.path, progress)?;
        let md5 = digest.md5_hex();
        let token = if digest.size == old.size && md5 == old.md5 {
            old.token
        } else {
            new_token()
        };
        if !self
            .history
            .update_artifact_hash(id, digest.size, &md5, mtime, &token)?
        {
            return Err(LibraryError::UnknownArtifact(id));
        }
        Ok(self.get(id)?.artifact)
    }

    /// The artifact, if its file is exactly what was hashed; otherwise why it cannot be
    /// deployed.
    pub fn ensure_deployable(&self, id: i64) -> Result<Deployable, LibraryError> {
        let ArtifactStatus { artifact, state } = self.get(id)?;
        match state {
            ArtifactState::Ready => Ok(Deployable(artifact)),
            ArtifactState::Stale => Err(LibraryError::Stale {
                id,
                path: artifact.path,
            }),
            ArtifactState::Missing => Err(LibraryError::Missing {
                id,
                path: artifact.path,
            }),
        }
    }

    /// Records that a watched file changed: its artifacts become stale. Returns the ids
    /// that were not stale before.
    pub fn mark_changed(&self, path: &Path) -> Result<Vec<i64>, LibraryError> {
        Ok(self.history.mark_artifacts_stale(path)?)
    }
}

/// The absolute, symlink-free path of an existing regular file.
fn canonical_file(path: &Path) -> Result<PathBuf, LibraryError> {
    let canonical = std::fs::canonicalize(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LibraryError::FileNotFound(path.into())
        } else {
            LibraryError::Io {
                path: path.into(),
                source,
            }
        }
    })?;
    if !canonical.is_file() {
        return Err(LibraryError::NotAFile(path.into()));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["1.0.0", "v2", "2024-01 beta 3", "ü"] {
            validate_version(ok).unwrap();
        }
        let long = "x".repeat(MAX_LABEL_CHARS + 1);
        for bad in [
            "",
            "   ",
            "1.0\n",
            "a\tb",
            " 1.0",
            "1.0 ",
            "\u{7f}",
            long.as_str(),
        ] {
            let err = validate_version(bad).unwrap_err();
            assert!(matches!(err, LibraryError::InvalidVersion(..)), "{bad:?}");
            assert!(err.is_refusal());
        }
    }

    #[test]
    fn tokens_are_128_bit_url_safe_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, new_token());
    }
}
