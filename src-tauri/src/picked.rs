//! Files the user chose in a native dialog, held here and known to the window only by an
//! opaque handle. Commands that read or write a file take a handle, never a path: a window
//! that names a path of its own (a bug, or injected script) cannot reach the file system.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use ts_rs::TS;

use crate::error::{BoundaryError, ErrorCode};

/// Handles kept at most; the oldest goes first (a window picks a handful per session).
const KEPT: usize = 256;

/// What the user chose the file for: a handle from an open dialog cannot be written to, and
/// one from a save dialog cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Open,
    Save,
}

/// A chosen file as the window sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PickedFile {
    /// Opaque and unguessable: what the file commands take.
    pub handle: String,
    /// The file name, for display.
    pub name: String,
    /// The full path, for display only (and the profile form's certificate fields, which are
    /// typed paths anyway); no command reads or writes a path the window sends.
    pub path: String,
}

#[derive(Default)]
pub struct PickedFiles {
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    next: u64,
    by_handle: HashMap<String, (u64, PathBuf, Purpose)>,
}

impl PickedFiles {
    /// Keeps a path the user chose and returns its handle.
    pub fn hold(&self, path: PathBuf, purpose: Purpose) -> PickedFile {
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let picked = PickedFile {
            handle: handle.clone(),
            name: file_name(&path),
            path: path.display().to_string(),
        };
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.by_handle.len() >= KEPT
            && let Some(oldest) = held
                .by_handle
                .iter()
                .min_by_key(|(_, (n, _, _))| *n)
                .map(|(h, _)| h.clone())
        {
            held.by_handle.remove(&oldest);
        }
        let n = held.next;
        held.next += 1;
        held.by_handle.insert(handle, (n, path, purpose));
        picked
    }

    /// The path behind `handle`, if it was chosen for `purpose`.
    pub fn path(&self, handle: &str, purpose: Purpose) -> Result<PathBuf, BoundaryError> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.by_handle.get(handle) {
            Some((_, path, p)) if *p == purpose => Ok(path.clone()),
            Some(_) => Err(BoundaryError::new(
                ErrorCode::InvalidInput,
                match purpose {
                    Purpose::Open => "that file was chosen to be written, not read",
                    Purpose::Save => "that file was chosen to be read, not written",
                },
            )),
            None => Err(BoundaryError::new(
                ErrorCode::InvalidInput,
                "unknown file handle: choose the file in the dialog again",
            )),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_handles_from_the_dialog_name_files() {
        let picked = PickedFiles::default();
        let chosen = picked.hold(PathBuf::from("/home/ops/fleet.csv"), Purpose::Open);
        assert_eq!(chosen.name, "fleet.csv");
        assert_eq!(chosen.handle.len(), 32);
        assert_eq!(
            picked.path(&chosen.handle, Purpose::Open).unwrap(),
            PathBuf::from("/home/ops/fleet.csv")
        );
        // A path the window made up, or a handle it guessed, names nothing.
        for made_up in [
            "/etc/passwd",
            "/home/ops/fleet.csv",
            "../../.ssh/id_rsa",
            "",
        ] {
            let e = picked.path(made_up, Purpose::Open).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{made_up}");
        }
        // A file chosen for reading cannot be written, nor the other way round.
        let e = picked.path(&chosen.handle, Purpose::Save).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        let target = picked.hold(PathBuf::from("/tmp/out.csv"), Purpose::Save);
        assert!(picked.path(&target.handle, Purpose::Open).is_err());
        assert_ne!(chosen.handle, target.handle);
    }

    #[test]
    fn the_oldest_handles_go_first() {
        let picked = PickedFiles::default();
        let first = picked.hold(PathBuf::from("/a"), Purpose::Open);
        for i in 0..KEPT {
            picked.hold(PathBuf::from(format!("/f{i}")), Purpose::Open);
        }
        assert!(picked.path(&first.handle, Purpose::Open).is_err());
        assert_eq!(picked.held.lock().unwrap().by_handle.len(), KEPT);
    }
}
