//! The fleet: stores and their controllers, from the inventory in the history.

use storefleet::fleet::{Controller, ControllerEntry, ImportReport, StoreSettings};
use storefleet::history::History;
use storefleet::maintenance::{StoreZone, Windows};
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

/// Takes a controller out of the inventory (the core's `remove_controller`): its deployment
/// history stays, and heard again on the broker it comes back as discovered. `not_found`
/// when it is not there.
#[tauri::command]
pub async fn fleet_remove(
    connection: State<'_, Connection>,
    store_id: String,
    controller_id: String,
) -> Result<(), BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || {
        crate::fleet::remove(&History::open(&db)?, &store_id, &controller_id)?;
        tracing::info!(%store_id, %controller_id, "controller removed from the inventory");
        Ok(())
    })
    .await
}

/// Every store with a time zone or maintenance windows.
#[tauri::command]
pub async fn fleet_stores(
    connection: State<'_, Connection>,
) -> Result<Vec<StoreSettings>, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || Ok(History::open(&db)?.all_store_settings()?)).await
}

/// Sets a store's IANA time zone (`Europe/Berlin`).
#[tauri::command]
pub async fn fleet_set_timezone(
    connection: State<'_, Connection>,
    store_id: String,
    zone: String,
) -> Result<StoreSettings, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || {
        let store = store_id_of(&store_id)?;
        let zone = StoreZone::parse(&zone).map_err(|e| BoundaryError::invalid(e.to_string()))?;
        Ok(History::open(&db)?.set_store_timezone(&store, &zone)?)
    })
    .await
}

/// Replaces a store's windows (`Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00`; blank: none).
#[tauri::command]
pub async fn fleet_set_windows(
    connection: State<'_, Connection>,
    store_id: String,
    windows: String,
) -> Result<StoreSettings, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || {
        let store = store_id_of(&store_id)?;
        let windows: Windows =
            windows
                .parse()
                .map_err(|e: storefleet::maintenance::WindowError| {
                    BoundaryError::invalid(e.to_string())
                })?;
        Ok(History::open(&db)?.set_store_windows(&store, &windows)?)
    })
    .await
}

fn store_id_of(text: &str) -> Result<String, BoundaryError> {
    storefleet::protocol::Id::new(text)
        .map(|id| id.as_str().to_owned())
        .map_err(|e| BoundaryError::invalid(format!("store id {text:?}: {e}")))
}
