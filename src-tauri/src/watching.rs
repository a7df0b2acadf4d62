//! The firmware watcher of the app: every registered file of both libraries (real and demo) is
//! watched while the app runs, so a file changed after hashing is marked stale in the history at
//! once (and so refused at start), and the open Firmware view is told (`firmware_watch`).

use std::sync::Mutex;

use storefleet::firmware::{ArtifactMonitor, Library};
use tokio::sync::broadcast;

use crate::connection::Histories;

/// Stale notices kept for a slow window before the oldest are dropped (it then reloads).
const ROOM: usize = 256;

/// Owns the monitors (a watcher and a thread each); dropping it stops them.
pub struct Watching {
    /// The monitor of each library, `None` where it could not start (logged). Locked only to
    /// re-read the registered files after an add or remove.
    monitors: Mutex<Vec<(std::path::PathBuf, Option<ArtifactMonitor>)>>,
    stale: broadcast::Sender<i64>,
}

impl Watching {
    pub fn start(histories: &Histories) -> Self {
        let (stale, _) = broadcast::channel(ROOM);
        let monitors = [&histories.real, &histories.demo]
            .into_iter()
            .map(|db| {
                let tx = stale.clone();
                let monitor = ArtifactMonitor::start(db, move |id| {
                    tracing::warn!(artifact = id, "firmware file changed after hashing");
                    let _ = tx.send(id);
                })
                .map_err(|e| tracing::error!(error = %e, history = %db.display(), "the firmware watcher is not running"))
                .ok();
                (db.clone(), monitor)
            })
            .collect();
        Self {
            monitors: Mutex::new(monitors),
            stale,
        }
    }

    /// Watches what is registered now (after a file is added or removed).
    pub fn sync(&self) {
        let mut monitors = self.monitors.lock().unwrap_or_else(|p| p.into_inner());
        for (db, monitor) in monitors.iter_mut() {
            let Some(monitor) = monitor else { continue };
            let synced = Library::open(db)
                .map_err(storefleet::firmware::WatchError::from)
                .and_then(|library| monitor.sync(&library));
            if let Err(e) = synced {
                tracing::warn!(error = %e, "cannot watch the firmware files");
            }
        }
    }

    /// Ids of artifacts that become stale from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.stale.subscribe()
    }
}
