//! Demo mode, the app's embedded default: an in-process broker, a simulated fleet with
//! retail-looking names, and a sample firmware file in the library, so the app demonstrates
//! on a laptop with nothing else installed.

use std::path::Path;

use serde::Serialize;
use storefleet::firmware::{Library, LibraryError};
use storefleet::sim::{Demo, DemoOptions};
use tokio::sync::watch;
use ts_rs::TS;

use crate::error::{BoundaryError, ErrorCode};

/// What the window shows about the running demo.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct DemoInfo {
    pub broker_url: String,
    pub stores: u32,
    pub controllers: u32,
    pub firmware_version: String,
    pub firmware_path: String,
    pub fleet_csv: String,
    /// The demo's own history (`--db` for the CLI).
    pub history_path: String,
}

/// The demo's state as the window sees it: starting, running, or failed.
pub type DemoWatch = watch::Receiver<Option<Result<DemoInfo, BoundaryError>>>;

/// Where the demo's files go: `STOREFLEET_DEMO_DIR`, or the platform's demo folder.
pub fn demo_dir() -> std::path::PathBuf {
    std::env::var_os("STOREFLEET_DEMO_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(DemoOptions::default_dir)
}

/// The demo's own history (with its own inventory and library), beside its files: nothing
/// of the demo is written to the real history.
pub fn demo_history() -> std::path::PathBuf {
    demo_dir().join(storefleet::sim::DEMO_HISTORY_FILE)
}

/// Starts the demo in the background. The task owns broker and fleet for the life of the
/// app: rumqttd cannot be stopped, and the fleet answers until the process exits.
pub fn start(history: Option<std::path::PathBuf>) -> DemoWatch {
    let (tx, rx) = watch::channel(None);
    tauri::async_runtime::spawn(async move {
        let options = match options_from_env() {
            Ok(o) => o,
            Err(e) => {
                let _ = tx.send(Some(Err(BoundaryError::new(ErrorCode::InvalidInput, e))));
                return;
            }
        };
        let demo = match Demo::start(&options).await {
            Ok(demo) => demo,
            Err(e) => {
                tracing::error!(error = %e, "demo mode could not start");
                let _ = tx.send(Some(Err(BoundaryError::new(
                    ErrorCode::Internal,
                    e.to_string(),
                ))));
                return;
            }
        };
        if let Some(history) = &history {
            if let Err(e) = register_firmware(history, &demo) {
                tracing::warn!(error = %e, "the demo firmware is not in the library");
            }
            // The demo fleet in the inventory, so that it can be chosen before it says a word.
            match storefleet::history::History::open(history) {
                Ok(h) => {
                    if let Err(e) = crate::fleet::import_csv(&h, &demo.fleet_csv) {
                        tracing::warn!(error = %e, "the demo fleet is not in the inventory");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the demo fleet is not in the inventory"),
            }
        }
        let info = DemoInfo {
            broker_url: demo.broker.url(),
            stores: options.stores as u32,
            controllers: demo.fleet.controllers().len() as u32,
            firmware_version: demo.firmware.version.clone(),
            firmware_path: demo.firmware.path.display().to_string(),
            fleet_csv: demo.fleet_csv.display().to_string(),
            history_path: history
                .as_ref()
                .map(|h| h.display().to_string())
                .unwrap_or_default(),
        };
        tracing::info!(broker = %info.broker_url, controllers = info.controllers, "demo mode running");
        let _ = tx.send(Some(Ok(info)));
        // Keep broker and fleet alive as long as the app runs.
        std::future::pending::<()>().await;
        drop(demo);
    });
    rx
}

/// The demo's defaults, changed by environment variables (the end-to-end tests use them to
/// make failures certain and flashing slow enough to cancel): `STOREFLEET_DEMO_DIR`,
/// `STOREFLEET_DEMO_FAIL_RATE` (0 to 1), `STOREFLEET_DEMO_FLASH` (`5s..10s`).
fn options_from_env() -> Result<DemoOptions, String> {
    let mut options = DemoOptions::new(demo_dir());
    if let Ok(rate) = std::env::var("STOREFLEET_DEMO_FAIL_RATE") {
        options.fail_rate = rate
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| {
                format!("STOREFLEET_DEMO_FAIL_RATE={rate:?}: give a number from 0 to 1")
            })?;
    }
    if let Ok(flash) = std::env::var("STOREFLEET_DEMO_FLASH") {
        options.flash_time = flash
            .parse()
            .map_err(|e| format!("STOREFLEET_DEMO_FLASH={flash:?}: {e}"))?;
    }
    Ok(options)
}

/// Puts the sample firmware in the library once (a restart finds it there, unchanged).
fn register_firmware(history: &Path, demo: &Demo) -> Result<(), LibraryError> {
    let library = Library::open(history)?;
    if library
        .history()
        .artifact_by_path(&demo.firmware.path)?
        .is_some()
    {
        return Ok(());
    }
    library.add(
        &demo.firmware.path,
        &demo.firmware.version,
        Some("Demo controller firmware"),
        &mut |_| {},
    )?;
    Ok(())
}
