//! Watching registered firmware files, so that a file changed after hashing is marked stale.
//!
//! Each file's folder is watched rather than the file itself: editors and build tools often
//! save by writing a new file and renaming it over the old one, which a watch on the old
//! file's inode would miss.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::library::{ArtifactState, Library, LibraryError, check_state};

/// What happened to a watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Its content was (or may have been) written or replaced.
    Written,
    /// It was deleted or moved away.
    Removed,
    /// Only its metadata changed (or events were lost): compare size and time to know more.
    Metadata,
}

/// A change to a watched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    pub kind: ChangeKind,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot start the file watcher: {0}")]
    Start(notify::Error),
    #[error("cannot watch {path}: {source}")]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
    #[error("cannot start the file watcher thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Library(#[from] LibraryError),
}

/// What an event kind means for a watched file; `None` for reads, which change nothing.
pub fn classify(kind: &EventKind) -> Option<ChangeKind> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(ChangeKind::Written),
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Metadata(_)) => Some(ChangeKind::Metadata),
        EventKind::Remove(_) => Some(ChangeKind::Removed),
        // Renames, writes, creations over the path, and anything unknown: assume the worst.
        EventKind::Modify(_) | EventKind::Create(_) | EventKind::Any | EventKind::Other => {
            Some(ChangeKind::Written)
        }
    }
}

/// Watches a set of files; calls back (on the watcher's thread) for each change. Dropping
/// it stops watching.
pub struct FileWatcher {
    watcher: RecommendedWatcher,
    files: Arc<Mutex<HashSet<PathBuf>>>,
    /// Watched folders, with how many watched files each holds.
    dirs: HashMap<PathBuf, usize>,
}

impl FileWatcher {
    pub fn new(on_change: impl Fn(FileChange) + Send + 'static) -> Result<Self, WatchError> {
        let files = Arc::new(Mutex::new(HashSet::<PathBuf>::new()));
        let watched = Arc::clone(&files);
        let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            let event = match res {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "file watcher error");
                    return;
                }
            };
            let files = watched.lock().unwrap_or_else(|p| p.into_inner());
            if event.need_rescan() {
                // Events were dropped: every file needs a look.
                for path in files.iter() {
                    on_change(FileChange {
                        path: path.clone(),
                        kind: ChangeKind::Metadata,
                    });
                }
                return;
            }
            let Some(kind) = classify(&event.kind) else {
                return;
            };
            for path in event.paths.iter().filter(|p| files.contains(*p)) {
                let kind = match event.kind {
                    // A rename names both ends: the file was replaced, or moved away.
                    EventKind::Modify(ModifyKind::Name(_)) if !path.exists() => ChangeKind::Removed,
                    _ => kind,
                };
                on_change(FileChange {
                    path: path.clone(),
                    kind,
                });
            }
        })
        .map_err(WatchError::Start)?;
        Ok(Self {
            watcher,
            files,
            dirs: HashMap::new(),
        })
    }

    /// Starts watching an (absolute) file path.
    pub fn watch(&mut self, file: &Path) -> Result<(), WatchError> {
        if self.is_watching(file) {
            return Ok(());
        }
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        if !self.dirs.contains_key(&dir) {
            self.watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError::Watch {
                    path: file.to_path_buf(),
                    source,
                })?;
        }
        *self.dirs.entry(dir).or_default() += 1;
        self.lock_files().insert(file.to_path_buf());
        Ok(())
    }

    /// Stops watching a file.
    pub fn unwatch(&mut self, file: &Path) {
        if !self.lock_files().remove(file) {
            return;
        }
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        if let Some(count) = self.dirs.get_mut(&dir) {
            *count -= 1;
            if *count == 0 {
                self.dirs.remove(&dir);
                let _ = self.watcher.unwatch(&dir);
            }
        }
    }

    pub fn is_watching(&self, file: &Path) -> bool {
        self.lock_files().contains(file)
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Applies a file change to the library; returns the artifacts that just became stale.
pub fn apply_change(library: &Library, change: &FileChange) -> Result<Vec<i64>, LibraryError> {
    if change.kind == ChangeKind::Metadata {
        // A metadata event alone (chmod, touch) marks stale only if size or time moved.
        let Some(artifact) = library.history().artifact_by_path(&change.path)? else {
            return Ok(Vec::new());
        };
        if check_state(&artifact) == ArtifactState::Ready {
            return Ok(Vec::new());
        }
    }
    library.mark_changed(&change.path)
}

/// Watches every registered artifact and marks it stale in the history when its file
/// changes. Owns a watcher and a thread; dropping it stops both.
pub struct ArtifactMonitor {
    watcher: Option<FileWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl ArtifactMonitor {
    /// Watches the artifacts registered in the history at `db_path`; `on_stale` is called
    /// with each artifact id that becomes stale.
    pub fn start(
        db_path: &Path,
        on_stale: impl Fn(i64) + Send + 'static,
    ) -> Result<Self, WatchError> {
        let (tx, rx) = mpsc::channel::<FileChange>();
        let watcher = FileWatcher::new(move |change| {
            let _ = tx.send(change);
        })?;
        // The thread keeps its own connection: the caller's stays free for its own use.
        let library = Library::open(db_path)?;
        let mut monitor = Self {
            watcher: Some(watcher),
            thread: None,
        };
        monitor.sync(&library)?;
        let thread = std::thread::Builder::new()
            .name("firmware-watch".into())
            .spawn(move || {
                for change in rx {
                    match apply_change(&library, &change) {
                        Ok(ids) => ids.into_iter().for_each(&on_stale),
                        Err(e) => {
                            tracing::warn!(error = %e, path = %change.path.display(), "cannot mark firmware stale")
                        }
                    }
                }
            })
            .map_err(WatchError::Thread)?;
        monitor.thread = Some(thread);
        Ok(monitor)
    }

    /// Watches every artifact registered now and forgets removed ones.
    pub fn sync(&mut self, library: &Library) -> Result<(), WatchError> {
        let Some(watcher) = self.watcher.as_mut() else {
            return Ok(());
        };
        let registered: HashSet<PathBuf> = library
            .history()
            .artifacts()
            .map_err(LibraryError::from)?
            .into_iter()
            .map(|a| a.path)
            .collect();
        let gone: Vec<PathBuf> = watcher
            .lock_files()
            .difference(&registered)
            .cloned()
            .collect();
        for path in gone {
            watcher.unwatch(&path);
        }
        for path in &registered {
            watcher.watch(path)?;
        }
        Ok(())
    }

    /// Whether a file is being watched.
    pub fn is_watching(&self, file: &Path) -> bool {
        self.watcher.as_ref().is_some_and(|w| w.is_watching(file))
    }
}

impl Drop for ArtifactMonitor {
    fn drop(&mut self) {
        // Dropping the watcher drops the channel's sender, which ends the thread.
        drop(self.watcher.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind, RenameMode};

    #[test]
    fn reads_are_ignored_and_writes_are_not() {
        use EventKind::*;
        assert_eq!(classify(&Access(AccessKind::Open(AccessMode::Read))), None);
        assert_eq!(classify(&Access(AccessKind::Close(AccessMode::Read))), None);
        assert_eq!(
            classify(&Access(AccessKind::Close(AccessMode::Write))),
            Some(ChangeKind::Written)
        );
        assert_eq!(
            classify(&Modify(ModifyKind::Data(DataChange::Any))),
            Some(ChangeKind::Written)
        );
        assert_eq!(
            classify(&Modify(ModifyKind::Name(RenameMode::To))),
            Some(ChangeKind::Written)
        );
        assert_eq!(
            classify(&Create(CreateKind::File)),
            Some(ChangeKind::Written)
        );
        assert_eq!(
            classify(&Modify(ModifyKind::Metadata(MetadataKind::Any))),
            Some(ChangeKind::Metadata)
        );
        assert_eq!(
            classify(&Remove(RemoveKind::File)),
            Some(ChangeKind::Removed)
        );
        assert_eq!(classify(&Any), Some(ChangeKind::Written));
    }
}
