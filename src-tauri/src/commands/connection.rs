//! Broker profiles and the connection.

use tauri::State;
use tauri::ipc::Channel;

use crate::connection::{Connection, ConnectionStatus};
use crate::error::BoundaryError;
use crate::feeds::Feeds;
use storefleet::profiles::{BrokerProfile, ProfileInput};

/// The demo profile first (when demo mode runs), then the saved ones.
#[tauri::command]
pub async fn profiles_list(
    connection: State<'_, Connection>,
) -> Result<Vec<BrokerProfile>, BoundaryError> {
    connection.profiles().await
}

#[tauri::command]
pub async fn profile_save(
    connection: State<'_, Connection>,
    profile: ProfileInput,
) -> Result<BrokerProfile, BoundaryError> {
    connection.save_profile(profile).await
}

#[tauri::command]
pub async fn profile_remove(
    connection: State<'_, Connection>,
    profile_id: String,
) -> Result<(), BoundaryError> {
    connection.remove_profile(profile_id).await
}

#[tauri::command]
pub async fn connect(
    connection: State<'_, Connection>,
    profile_id: String,
) -> Result<ConnectionStatus, BoundaryError> {
    connection.connect(profile_id).await
}

#[tauri::command]
pub async fn disconnect(
    connection: State<'_, Connection>,
) -> Result<ConnectionStatus, BoundaryError> {
    connection.disconnect().await
}

#[tauri::command]
pub async fn connection_watch(
    connection: State<'_, Connection>,
    feeds: State<'_, Feeds>,
    on_event: Channel<ConnectionStatus>,
) -> Result<(), BoundaryError> {
    feeds.connection(&connection, on_event);
    Ok(())
}
