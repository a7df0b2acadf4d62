//! The firmware library.

use storefleet::firmware::{Deployable, Library, Preflight, ServerSettings};
use storefleet::history::Artifact;
use tauri::State;
use tauri::ipc::Channel;

use super::blocking;
use crate::connection::Connection;
use crate::error::BoundaryError;
use crate::feeds::{Feeds, FirmwareFeed};
use crate::firmware::{ArtifactView, HashProgress, PreflightReport, progress_sender};
use crate::picked::{PickedFiles, Purpose};
use crate::serving::{ServerStatus, Serving};
use crate::watching::Watching;

#[tauri::command]
pub async fn firmware_list(
    connection: State<'_, Connection>,
    serving: State<'_, Serving>,
) -> Result<Vec<ArtifactView>, BoundaryError> {
    let path = connection.history_path().to_owned();
    let artifacts = blocking(move || Ok(Library::open(&path)?.history().artifacts()?)).await?;
    Ok(artifacts
        .into_iter()
        .map(|a| ArtifactView::of(a, &serving))
        .collect())
}

/// Hashes the file the user picked (`file`: its handle; progress on `on_progress`), registers
/// it and serves it.
#[tauri::command]
pub async fn firmware_add(
    connection: State<'_, Connection>,
    serving: State<'_, Serving>,
    watching: State<'_, Watching>,
    picked: State<'_, PickedFiles>,
    file: String,
    version: String,
    on_progress: Channel<HashProgress>,
) -> Result<ArtifactView, BoundaryError> {
    let path = picked.path(&file, Purpose::Open)?;
    let db = connection.history_path().to_owned();
    let (artifact, deployable) = blocking(move || {
        let library = Library::open(&db)?;
        let mut progress = progress_sender(on_progress);
        let artifact = library.add(&path, version.trim(), None, &mut progress)?;
        let deployable = library.ensure_deployable(artifact.id).ok();
        Ok((artifact, deployable))
    })
    .await?;
    tracing::info!(artifact = artifact.id, version = %artifact.version, md5 = %artifact.md5, "firmware added");
    watching.sync();
    Ok(serve_hashed(artifact, deployable, &serving))
}

#[tauri::command]
pub async fn firmware_rehash(
    connection: State<'_, Connection>,
    serving: State<'_, Serving>,
    artifact_id: i64,
    on_progress: Channel<HashProgress>,
) -> Result<ArtifactView, BoundaryError> {
    let db = connection.history_path().to_owned();
    let (artifact, deployable) = blocking(move || {
        let library = Library::open(&db)?;
        let mut progress = progress_sender(on_progress);
        let artifact = library.rehash(artifact_id, &mut progress)?;
        let deployable = library.ensure_deployable(artifact.id).ok();
        Ok((artifact, deployable))
    })
    .await?;
    Ok(serve_hashed(artifact, deployable, &serving))
}

/// After a hash: a file that can be deployed is offered by the built-in server at once.
fn serve_hashed(
    artifact: Artifact,
    deployable: Option<Deployable>,
    serving: &Serving,
) -> ArtifactView {
    if let Some(d) = &deployable {
        let _ = serving.publish(d);
    }
    ArtifactView::of(artifact, serving)
}

#[tauri::command]
pub async fn firmware_remove(
    connection: State<'_, Connection>,
    serving: State<'_, Serving>,
    watching: State<'_, Watching>,
    artifact_id: i64,
) -> Result<(), BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || Ok(Library::open(&db)?.remove(artifact_id).map(drop)?)).await?;
    serving.unpublish(artifact_id);
    watching.sync();
    Ok(())
}

/// Firmware files that change after hashing, as the watcher sees them (the view reloads).
#[tauri::command]
pub async fn firmware_watch(
    feeds: State<'_, Feeds>,
    watching: State<'_, Watching>,
    on_event: Channel<FirmwareFeed>,
) -> Result<(), BoundaryError> {
    feeds.firmware(&watching, on_event);
    Ok(())
}

/// The built-in server of the real library: its settings and who can reach it.
#[tauri::command]
pub async fn server_status(serving: State<'_, Serving>) -> Result<ServerStatus, BoundaryError> {
    Ok(serving.status())
}

/// Saves the built-in server's settings and restarts it with them.
#[tauri::command]
pub async fn server_configure(
    serving: State<'_, Serving>,
    settings: ServerSettings,
) -> Result<ServerStatus, BoundaryError> {
    serving.configure(settings).await
}

/// Downloads `url` and compares it with the artifact's file.
#[tauri::command]
pub async fn firmware_preflight(
    connection: State<'_, Connection>,
    url: String,
    artifact_id: i64,
) -> Result<PreflightReport, BoundaryError> {
    let db = connection.history_path().to_owned();
    let deployable =
        blocking(move || Ok(Library::open(&db)?.ensure_deployable(artifact_id)?)).await?;
    let url = url.trim().to_owned();
    Ok(match Preflight::new()?.check(&url, &deployable).await {
        Ok(r) => PreflightReport {
            url: r.url,
            size: r.size,
            md5: r.md5,
            ok: true,
            problem: None,
        },
        Err(e) => PreflightReport {
            url,
            size: deployable.artifact().size,
            md5: deployable.artifact().md5.clone(),
            ok: false,
            problem: Some(e.to_string()),
        },
    })
}
