//! Who holds the installation's persistent MQTT session.
//!
//! Two clients with one client id knock each other off the broker, so only the process that
//! holds a lock beside the history uses the installation's stable id with a persistent
//! session; the others connect with a fresh id and a clean session (DESIGN.md section 3).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Held for the life of the process that owns the persistent session; released on drop.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
    path: PathBuf,
}

impl SessionLock {
    /// Takes the lock beside `history`, or `None` when another process has it.
    pub fn try_acquire(history: &Path) -> std::io::Result<Option<Self>> {
        let mut name = history.as_os_str().to_owned();
        name.push(".session-lock");
        let path = PathBuf::from(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file, path })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history.sqlite");
        let first = SessionLock::try_acquire(&history).unwrap();
        assert!(first.is_some());
        assert!(SessionLock::try_acquire(&history).unwrap().is_none());
        drop(first);
        assert!(SessionLock::try_acquire(&history).unwrap().is_some());
    }
}
