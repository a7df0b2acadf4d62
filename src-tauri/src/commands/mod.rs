//! Tauri commands: each one a few lines that call the core (through the connection task,
//! the firmware server or the history) and map its errors. One file per view.

pub mod activity;
pub mod app;
pub mod connection;
pub mod deployments;
pub mod dialogs;
pub mod firmware;
pub mod fleet;
pub mod upkeep;

/// Runs blocking work (SQLite, hashing, files) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::BoundaryError> + Send + 'static,
) -> Result<T, crate::BoundaryError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| crate::BoundaryError::internal(format!("background work failed: {e}")))?
}
