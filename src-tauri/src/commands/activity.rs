//! History and activity.

use storefleet::history::{
    DeploymentFilter, DeploymentPage, DeploymentPageRequest, DeploymentRow, History, MessageFilter,
    MessagePage, MessagePageRequest, MessageRow,
};
use tauri::State;
use tauri::ipc::Channel;

use super::blocking;
use crate::connection::Connection;
use crate::error::BoundaryError;
use crate::feeds::{ActivityFeed, Feeds};

/// Most rows `activity_recent` returns.
const MAX_RECENT: usize = 10_000;

/// Does a deployment match the search text (id, version or URL, ignoring case)?
pub fn matches(row: &DeploymentRow, query: &str) -> bool {
    let q = query.trim().to_lowercase();
    q.is_empty()
        || [&row.deployment_id, &row.firmware_version, &row.file_url]
            .iter()
            .any(|field| field.to_lowercase().contains(&q))
}

/// Every deployment in the history, newest first; `origin` tells ours ("local") from
/// other operators' ("observed").
#[tauri::command]
pub async fn history_list(
    connection: State<'_, Connection>,
    query: Option<String>,
) -> Result<Vec<DeploymentRow>, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || {
        let rows = History::open(&db)?.deployments()?;
        Ok(match query {
            Some(q) => rows.into_iter().filter(|r| matches(r, &q)).collect(),
            None => rows,
        })
    })
    .await
}

/// A page of the deployments matching `filter`, newest first, with how many match.
#[tauri::command]
pub async fn history_search(
    connection: State<'_, Connection>,
    filter: DeploymentFilter,
    page: DeploymentPageRequest,
) -> Result<DeploymentPage, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || Ok(History::open(&db)?.search_deployments(&filter, page)?)).await
}

/// A page of the messages matching `filter`, newest first, older than `page.before`.
#[tauri::command]
pub async fn activity_search(
    connection: State<'_, Connection>,
    filter: MessageFilter,
    page: MessagePageRequest,
) -> Result<MessagePage, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || Ok(History::open(&db)?.search_messages(&filter, page)?)).await
}

/// The newest messages in and out, newest first (rejected ones with their reason).
#[tauri::command]
pub async fn activity_recent(
    connection: State<'_, Connection>,
    limit: usize,
) -> Result<Vec<MessageRow>, BoundaryError> {
    let db = connection.history_path().to_owned();
    blocking(move || Ok(History::open(&db)?.recent_messages(limit.min(MAX_RECENT))?)).await
}

#[tauri::command]
pub async fn activity_watch(
    connection: State<'_, Connection>,
    feeds: State<'_, Feeds>,
    on_event: Channel<ActivityFeed>,
) -> Result<(), BoundaryError> {
    feeds.activity(&connection, on_event);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use storefleet::engine::{DeploymentState, Millis, RolloutPolicy, StatusCounts};

    #[test]
    fn search_matches_id_version_and_url_ignoring_case() {
        let row = DeploymentRow {
            deployment_id: "5f0c-AB".into(),
            firmware_version: "2.4.1".into(),
            file_url: "http://10.0.0.5:7380/fw/tok/Controller.bin".into(),
            file_size: 1,
            checksum: "0".repeat(32),
            ack_timeout_ms: 1,
            completion_timeout_ms: 1,
            created_at: Millis(0),
            target_count: 1,
            origin: "local".into(),
            finished_at: None,
            counts: StatusCounts::default(),
            state: DeploymentState::Running,
            paused_reason: None,
            policy: RolloutPolicy::default(),
            broker: Some("mqtt://10.0.0.5:1883".into()),
            topic_prefix: None,
        };
        for q in ["", "  ", "5f0c-ab", "2.4", "controller.BIN"] {
            assert!(matches(&row, q), "{q:?}");
        }
        for q in ["2.5", "observed", "zzz"] {
            assert!(!matches(&row, q), "{q:?}");
        }
    }
}
