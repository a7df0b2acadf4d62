//! Upkeep of the history: pruning old finished deployments (the core decides what goes).

use storefleet::engine::Millis;
use storefleet::history::{History, HistoryError, PrunePlan, PruneReport};
use tauri::State;

use super::blocking;
use crate::connection::Connection;
use crate::error::BoundaryError;
use crate::picked::{PickedFiles, Purpose};

/// What a prune with this cut-off would remove; nothing changes.
#[tauri::command]
pub async fn history_prune_plan(
    connection: State<'_, Connection>,
    before: Millis,
) -> Result<PrunePlan, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || Ok(History::open(&db)?.prune_plan(before)?)).await
}

/// Removes it (first into `archive`, a file chosen in the save dialog, when given) and
/// vacuums. The running service lets go of those deployments first, so it never writes to
/// one that is gone.
#[tauri::command]
pub async fn history_prune(
    connection: State<'_, Connection>,
    picked: State<'_, PickedFiles>,
    before: Millis,
    archive: Option<String>,
) -> Result<PruneReport, BoundaryError> {
    let archive = archive
        .map(|handle| picked.path(&handle, Purpose::Save))
        .transpose()?;
    if let Ok(service) = connection.service().await {
        service.forget_finished_before(before).await?;
    }
    let db = connection.history_path().to_owned();
    let report = blocking(move || {
        History::open(&db)?
            .prune(before, archive.as_deref())
            .map_err(|e| match e {
                HistoryError::ArchiveExists(_) => BoundaryError::invalid(e.to_string()),
                e => e.into(),
            })
    })
    .await?;
    tracing::info!(removed = ?report.removed, "history pruned");
    Ok(report)
}
