//! Native file dialogs (rfd on GTK, macOS and Windows), run on the main thread as the
//! toolkits require; the command waits for the user's choice. The chosen path stays here:
//! the window gets a handle for it ([`PickedFile`]), which the file commands take.

use serde::Deserialize;
use tauri::{AppHandle, Manager, State};
use tokio::sync::oneshot;
use ts_rs::TS;

use crate::error::BoundaryError;
use crate::picked::{PickedFile, PickedFiles, Purpose};

#[derive(Debug, Clone, Deserialize, TS)]
pub struct DialogFilter {
    pub name: String,
    pub extensions: Vec<String>,
}

async fn on_main_thread(
    app: &AppHandle,
    show: impl FnOnce(rfd::FileDialog) -> Option<std::path::PathBuf> + Send + 'static,
) -> Result<Option<std::path::PathBuf>, BoundaryError> {
    let (tx, rx) = oneshot::channel();
    let window = app.get_webview_window("main");
    app.run_on_main_thread(move || {
        let mut dialog = rfd::FileDialog::new();
        if let Some(window) = &window {
            dialog = dialog.set_parent(window);
        }
        let _ = tx.send(show(dialog));
    })
    .map_err(|e| BoundaryError::internal(format!("cannot open the file dialog: {e}")))?;
    rx.await
        .map_err(|_| BoundaryError::internal("the file dialog closed unexpectedly"))
}

#[tauri::command]
pub async fn pick_file(
    app: AppHandle,
    picked: State<'_, PickedFiles>,
    title: String,
    filters: Vec<DialogFilter>,
) -> Result<Option<PickedFile>, BoundaryError> {
    let chosen = on_main_thread(&app, move |mut dialog| {
        dialog = dialog.set_title(&title);
        for f in &filters {
            dialog = dialog.add_filter(&f.name, &f.extensions);
        }
        dialog.pick_file()
    })
    .await?;
    Ok(chosen.map(|path| picked.hold(path, Purpose::Open)))
}

/// Test hook for the real-window end-to-end test, which cannot drive a native dialog: with
/// this set to a folder, "saving" chooses the suggested file name in it without asking.
const E2E_SAVE_DIR: &str = "STOREFLEET_E2E_SAVE_DIR";

#[tauri::command]
pub async fn save_file(
    app: AppHandle,
    picked: State<'_, PickedFiles>,
    title: String,
    default_name: String,
) -> Result<Option<PickedFile>, BoundaryError> {
    if let Some(dir) = std::env::var_os(E2E_SAVE_DIR) {
        // The name only: a suggested name cannot leave the folder.
        let name = std::path::Path::new(&default_name)
            .file_name()
            .ok_or_else(|| BoundaryError::invalid(format!("no file name in {default_name:?}")))?;
        let path = std::path::Path::new(&dir).join(name);
        tracing::warn!(path = %path.display(), "{E2E_SAVE_DIR} is set: saving without the dialog");
        return Ok(Some(picked.hold(path, Purpose::Save)));
    }
    let chosen = on_main_thread(&app, move |dialog| {
        dialog
            .set_title(&title)
            .set_file_name(&default_name)
            .save_file()
    })
    .await?;
    Ok(chosen.map(|path| picked.hold(path, Purpose::Save)))
}
