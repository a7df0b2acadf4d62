//! App-wide notices: a `notice` event for the window and, when a deployment finishes, a
//! desktop notification. Without a notification daemon the notification is skipped quietly.

use serde::Serialize;
use storefleet::engine::DeploymentSummary;
use storefleet::service::ServiceEvent;
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast;
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

/// What the window shows in its notice area (event `notice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

/// One line about a finished deployment.
pub fn finished_message(s: &DeploymentSummary) -> String {
    let c = &s.counts;
    let short = s.deployment_id.as_str().chars().take(8).collect::<String>();
    format!(
        "Deployment {short} of firmware {} finished: {} of {} completed, {} failed, {} timed out, {} cancelled",
        s.firmware_version, c.completed, s.total, c.failed, c.timed_out, c.cancelled
    )
}

fn level_of(s: &DeploymentSummary) -> NoticeLevel {
    if s.counts.completed == s.total {
        NoticeLevel::Info
    } else {
        NoticeLevel::Warning
    }
}

/// Runs for the life of the app.
pub fn start(app: AppHandle, mut events: broadcast::Receiver<ServiceEvent>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let notice = match events.recv().await {
                Ok(ServiceEvent::Finished(summary)) => {
                    let message = finished_message(&summary);
                    desktop_notification(message.clone());
                    Notice {
                        level: level_of(&summary),
                        message,
                    }
                }
                // Once per failure (the service retries, and the status bar shows it until
                // it heals), and once when it heals.
                Ok(ServiceEvent::HistoryFailed { error, since_ms: 0 }) => Notice {
                    level: NoticeLevel::Error,
                    message: format!(
                        "The history cannot be written ({error}); retrying. Nothing is acknowledged or sent until it can."
                    ),
                },
                Ok(ServiceEvent::HistoryRecovered) => Notice {
                    level: NoticeLevel::Info,
                    message: "The history is written again; nothing was lost.".to_owned(),
                },
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if let Err(e) = app.emit("notice", &notice) {
                tracing::warn!(error = %e, "cannot send a notice to the window");
            }
        }
    });
}

fn desktop_notification(body: String) {
    // D-Bus calls block: off the async workers.
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(e) = notify_rust::Notification::new()
            .summary("Storefleet")
            .body(&body)
            .show()
        {
            tracing::debug!(error = %e, "no desktop notification (no notification service?)");
        }
    });
}
