//! The fleet: stores and their controllers.

use tauri::State;

use crate::connection::Connection;
use crate::error::BoundaryError;

#[tauri::command]
pub async fn fleet_list(connection: State<'_, Connection>) -> Result<Vec<()>, BoundaryError> {
    let _ = connection;
    Err(BoundaryError::unavailable(
        "the fleet inventory is not in this build yet",
    ))
}
