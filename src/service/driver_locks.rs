//! One driver per deployment (DESIGN.md section 3): a lock file per deployment beside the
//! history decides which process sends its commands, advances its waves and runs its
//! timeouts. The others follow it through the history and take over when the lock comes
//! free, which the OS does when the driver exits or dies.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::protocol::Id;

/// The locks this process holds, released on drop.
#[derive(Debug)]
pub struct DriverLocks {
    dir: PathBuf,
    held: HashMap<Id, File>,
}

impl DriverLocks {
    /// Locks live in `<history>.drivers/`.
    pub fn beside(history: &Path) -> Self {
        let mut name = history.as_os_str().to_owned();
        name.push(".drivers");
        Self {
            dir: PathBuf::from(name),
            held: HashMap::new(),
        }
    }

    fn path_of(&self, id: &Id) -> PathBuf {
        // Ids may hold any printable character but '/': a hash makes a safe file name.
        let digest = Md5::digest(id.as_str().as_bytes());
        self.dir.join(format!("{}.lock", hex::encode(digest)))
    }

    /// Takes the lock of `id`: true when this process holds it now (or already did), false
    /// when another process does.
    pub fn try_take(&mut self, id: &Id) -> io::Result<bool> {
        if self.held.contains_key(id) {
            return Ok(true);
        }
        std::fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path_of(id))?;
        match file.try_lock() {
            Ok(()) => {
                self.held.insert(id.clone(), file);
                Ok(true)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn holds(&self, id: &Id) -> bool {
        self.held.contains_key(id)
    }

    /// Whether some other process drives `id` right now (takes and gives back the lock when
    /// nobody does).
    pub fn driven_elsewhere(&self, id: &Id) -> io::Result<bool> {
        if self.holds(id) {
            return Ok(false);
        }
        let path = self.path_of(id);
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn release(&mut self, id: &Id) {
        self.held.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_driver_per_deployment_and_free_again_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history.sqlite");
        let a = Id::new("deployment-a").unwrap();
        let b = Id::new("..").unwrap();
        let mut first = DriverLocks::beside(&history);
        let mut second = DriverLocks::beside(&history);
        assert!(
            !second.driven_elsewhere(&a).unwrap(),
            "nobody drives it yet"
        );
        assert!(first.try_take(&a).unwrap());
        assert!(first.try_take(&a).unwrap(), "taking again is a no-op");
        assert!(!second.try_take(&a).unwrap());
        assert!(second.driven_elsewhere(&a).unwrap());
        assert!(second.try_take(&b).unwrap(), "locks are per deployment");
        first.release(&a);
        assert!(!second.driven_elsewhere(&a).unwrap());
        assert!(second.try_take(&a).unwrap());
        assert!(second.holds(&a) && !first.holds(&a));
    }
}
