//! The fleet: stores and their controllers, from the inventory in the history.

use storefleet::fleet::{Controller, ControllerEntry, ImportReport};
use storefleet::history::History;
use tauri::State;

use super::blocking;
use crate::connection::Connection;
use crate::error::BoundaryError;
use crate::picked::{PickedFiles, Purpose};

/// Every known controller (discovered, imported or added by hand), by store.
#[tauri::command]
pub async fn fleet_list(
    connection: State<'_, Connection>,
) -> Result<Vec<Controller>, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || Ok(History::open(&db)?.controllers()?)).await
}

/// Imports the inventory CSV the user picked (`file`: its handle;
/// `store_id,controller_id[,store_name,controller_name]`); one bad row refuses the whole file.
#[tauri::command]
pub async fn fleet_import_csv(
    connection: State<'_, Connection>,
    picked: State<'_, PickedFiles>,
    file: String,
) -> Result<ImportReport, BoundaryError> {
    let path = picked.path(&file, Purpose::Open)?;
    let db = connection.history_path().to_owned();
    blocking(move || {
        let report = crate::fleet::import_csv(&History::open(&db)?, &path)?;
        tracing::info!(path = %path.display(), added = report.added, updated = report.updated, "inventory imported");
        Ok(report)
    })
    .await
}

#[tauri::command]
pub async fn fleet_add(
    connection: State<'_, Connection>,
    store_id: String,
    controller_id: String,
    store_name: Option<String>,
    controller_name: Option<String>,
) -> Result<Controller, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || {
        let entry = ControllerEntry::new(
            &store_id,
            &controller_id,
            store_name.as_deref(),
            controller_name.as_deref(),
        )
        .map_err(|e| BoundaryError::invalid(e.to_string()))?;
        let history = History::open(&db)?;
        Ok(history.add_controller(&entry)?)
    })
    .await
}
