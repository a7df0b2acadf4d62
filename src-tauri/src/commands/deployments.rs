//! New deployment (review, start) and one deployment's view (detail, feed, actions).

use storefleet::engine::DeploymentSummary;
use storefleet::firmware::Preflight;
use storefleet::history::History;
use storefleet::report::{ExportError, ExportFormat, write_export};
use storefleet::service::store_waits::{StoreWait, store_waits};
use tauri::State;
use tauri::ipc::Channel;

use super::blocking;
use crate::connection::{Connection, ConnectionState, ConnectionStatus};
use crate::deployments::{
    DeploymentDetail, DeploymentReview, NewDeployment, load_detail, parse_id, plan,
};
use crate::error::BoundaryError;
use crate::feeds::{DeploymentFeed, Feeds};
use crate::picked::{PickedFiles, Purpose};
use crate::serving::Serving;

/// Checks the request; nothing is sent.
#[tauri::command]
pub async fn deployment_review(
    connection: State<'_, Connection>,
    serving: State<'_, Serving>,
    request: NewDeployment,
) -> Result<DeploymentReview, BoundaryError> {
    Ok(plan(&connection.history_path(), &serving, &request)?.review)
}

/// Checks, serves (or preflights) the file, and starts the deployment.
#[tauri::command]
pub async fn deployment_start(
    connection: State<'_, Connection>,
    serving: State<'_, Serving>,
    request: NewDeployment,
) -> Result<DeploymentSummary, BoundaryError> {
    refuse_when_login_refused(&connection.status().borrow())?;
    let plan = plan(&connection.history_path(), &serving, &request)?;
    if plan.external {
        Preflight::new()?
            .check(&plan.spec.firmware.file_url, &plan.deployable)
            .await?;
    } else {
        let url = serving.publish(&plan.deployable)?;
        debug_assert_eq!(url, plan.spec.firmware.file_url);
    }
    let summary = connection.service().await?.deploy(plan.spec).await?;
    tracing::info!(deployment = %summary.deployment_id, targets = summary.total, "deployment started");
    Ok(summary)
}

#[tauri::command]
pub async fn deployment_detail(
    connection: State<'_, Connection>,
    deployment_id: String,
) -> Result<DeploymentDetail, BoundaryError> {
    load_detail(&connection, &parse_id(&deployment_id)?).await
}

/// The deployment's stores waiting for their maintenance window, and when each opens.
#[tauri::command]
pub async fn deployment_waits(
    connection: State<'_, Connection>,
    deployment_id: String,
) -> Result<Vec<StoreWait>, BoundaryError> {
    let detail = load_detail(&connection, &parse_id(&deployment_id)?).await?;
    Ok(store_waits(
        &detail.summary.policy,
        &detail.targets,
        storefleet::service::now_millis(),
    ))
}

#[tauri::command]
pub async fn deployment_watch(
    connection: State<'_, Connection>,
    feeds: State<'_, Feeds>,
    deployment_id: String,
    on_event: Channel<DeploymentFeed>,
) -> Result<(), BoundaryError> {
    feeds.deployment(&connection, parse_id(&deployment_id)?, on_event);
    Ok(())
}

#[tauri::command]
pub async fn deployment_cancel(
    connection: State<'_, Connection>,
    deployment_id: String,
) -> Result<DeploymentSummary, BoundaryError> {
    let id = parse_id(&deployment_id)?;
    Ok(connection.service().await?.cancel(id).await?)
}

#[tauri::command]
pub async fn deployment_retry(
    connection: State<'_, Connection>,
    deployment_id: String,
) -> Result<DeploymentSummary, BoundaryError> {
    let id = parse_id(&deployment_id)?;
    Ok(connection.service().await?.retry(id).await?)
}

/// Stops sending to targets not yet sent (those sent go on).
#[tauri::command]
pub async fn deployment_pause(
    connection: State<'_, Connection>,
    deployment_id: String,
) -> Result<DeploymentSummary, BoundaryError> {
    let id = parse_id(&deployment_id)?;
    Ok(connection.service().await?.pause(id).await?)
}

#[tauri::command]
pub async fn deployment_resume(
    connection: State<'_, Connection>,
    deployment_id: String,
) -> Result<DeploymentSummary, BoundaryError> {
    let id = parse_id(&deployment_id)?;
    Ok(connection.service().await?.resume(id).await?)
}

/// The deployment as `storefleet export --format FORMAT` writes it (CSV, the raw message
/// log as JSON Lines, or the HTML report), to the file the user chose in the save dialog
/// (`file`: its handle).
#[tauri::command]
pub async fn deployment_export(
    connection: State<'_, Connection>,
    picked: State<'_, PickedFiles>,
    deployment_id: String,
    format: ExportFormat,
    file: String,
) -> Result<(), BoundaryError> {
    let id = parse_id(&deployment_id)?;
    let path = picked.path(&file, Purpose::Save)?;
    let db = connection.history_path().to_owned();
    blocking(move || {
        let history = History::open(&db)?;
        // Refused before the file is created: an unknown id leaves no empty file behind.
        if history.deployment(id.as_str())?.is_none() {
            return Err(BoundaryError::not_found(format!(
                "no deployment {id} in the history"
            )));
        }
        let shown = path.display();
        let file = std::fs::File::create(&path)
            .map_err(|e| BoundaryError::invalid(format!("cannot write {shown}: {e}")))?;
        let now = storefleet::service::now_millis();
        write_export(&history, id.as_str(), format, now, file).map_err(|e| match e {
            ExportError::UnknownDeployment(_) => BoundaryError::not_found(e.to_string()),
            ExportError::History(e) => e.into(),
            ExportError::Io(e) => BoundaryError::internal(format!("cannot write {shown}: {e}")),
        })
    })
    .await
}

/// With the login refused, a new deployment would wait in the outbox and go out by surprise
/// once someone fixes the profile: refuse it instead.
fn refuse_when_login_refused(status: &ConnectionStatus) -> Result<(), BoundaryError> {
    if status.state == ConnectionState::Refused {
        return Err(BoundaryError::unavailable(format!(
            "not starting: {}; fix the broker profile and connect again",
            status
                .last_error
                .as_deref()
                .unwrap_or("the broker refused the login")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn status(state: ConnectionState) -> ConnectionStatus {
        ConnectionStatus {
            profile_id: Some("p1".into()),
            profile_name: Some("Store broker".into()),
            broker_url: Some("mqtt://10.0.0.2:1883".into()),
            state,
            next_attempt_at: None,
            attempt: None,
            last_error: Some("the broker refused the connection: not authorized".into()),
            outbox_waiting: 0,
            history: crate::connection::HistoryKind::Real,
            history_path: "/home/store/.local/share/storefleet/history.sqlite".into(),
            history_error: None,
        }
    }

    #[test]
    fn no_deployment_starts_while_the_login_is_refused() {
        let e = refuse_when_login_refused(&status(ConnectionState::Refused)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert!(e.message.contains("not authorized"), "{}", e.message);
        // Offline or reconnecting, deployments wait in the outbox as designed.
        for state in [
            ConnectionState::Disconnected,
            ConnectionState::Reconnecting,
            ConnectionState::Connected,
        ] {
            assert!(refuse_when_login_refused(&status(state)).is_ok());
        }
    }
}
