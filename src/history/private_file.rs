//! The history holds every command and reply, and who sent them: it is created readable by its
//! owner only (0600). SQLite gives the `-wal` and `-shm` files the main file's mode, so they
//! follow; a history made earlier with a looser mode is tightened, with its companions.

use std::path::Path;

/// Creates `path` 0600 if it does not exist yet, and takes group and other access away from
/// it and its `-wal` / `-shm` files if it does. Errors are left for SQLite's open to report.
#[cfg(unix)]
pub(crate) fn make_private(path: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    if created.is_ok() {
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        if let Ok(meta) = std::fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
            && let Err(e) = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(path = %file.display(), error = %e, "cannot make the history private");
        }
    }
}

#[cfg(not(unix))]
pub(crate) fn make_private(_path: &Path) {}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::History;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_history_and_its_wal_and_shm_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let history = History::open(&path).unwrap();
        assert_eq!(history.deployments().unwrap().len(), 0);
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join(format!("history.sqlite{suffix}"));
            assert!(file.exists(), "{}", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn a_history_made_world_readable_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        drop(History::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(History::open(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
    }
}
