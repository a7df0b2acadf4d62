//! Live data for the window: service notices batched into `Channel` messages.
//!
//! A feed runs until the window starts a newer feed of the same kind (a view re-opened or
//! reloaded): a JavaScript channel gives no sign when its page is gone, so superseding is
//! how old feeds end.

use std::time::Duration;

use serde::Serialize;
use storefleet::engine::{DeploymentSummary, Transition};
use storefleet::history::{History, MessageRow};
use storefleet::protocol::Id;
use storefleet::service::ServiceEvent;
use tauri::ipc::Channel;
use tokio::sync::{broadcast, watch};
use ts_rs::TS;

use crate::connection::{Connection, ConnectionStatus};
use crate::deployments::load_summary;
use crate::watching::Watching;

/// Transitions are sent at most this often.
pub const DEPLOYMENT_BATCH: Duration = Duration::from_millis(100);
/// The activity log is read at most this often.
pub const ACTIVITY_BATCH: Duration = Duration::from_millis(200);
/// Stale firmware notices are gathered this long.
const FIRMWARE_BATCH: Duration = Duration::from_millis(150);
/// Most messages in one activity batch.
const ACTIVITY_ROWS: usize = 2_000;

#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeploymentFeed {
    Transitions {
        transitions: Vec<Transition>,
    },
    /// After each batch and when the deployment finishes.
    Summary {
        summary: Box<DeploymentSummary>,
    },
}

/// Firmware files that changed after hashing: the view reloads the library.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FirmwareFeed {
    pub stale: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct ActivityFeed {
    pub messages: Vec<MessageRow>,
}

/// One generation counter per kind of feed; starting a feed ends the older ones.
pub struct Feeds {
    connection: watch::Sender<u64>,
    deployment: watch::Sender<u64>,
    activity: watch::Sender<u64>,
    firmware: watch::Sender<u64>,
}

impl Default for Feeds {
    fn default() -> Self {
        Self {
            connection: watch::channel(0).0,
            deployment: watch::channel(0).0,
            activity: watch::channel(0).0,
            firmware: watch::channel(0).0,
        }
    }
}

/// Bumps the generation and returns a receiver that fires when the next feed starts.
fn supersede(generation: &watch::Sender<u64>) -> watch::Receiver<u64> {
    generation.send_modify(|g| *g += 1);
    let mut rx = generation.subscribe();
    rx.mark_unchanged();
    rx
}

impl Feeds {
    /// Sends the status now and on every change.
    pub fn connection(&self, connection: &Connection, channel: Channel<ConnectionStatus>) {
        let mut ended = supersede(&self.connection);
        let mut status = connection.status();
        tauri::async_runtime::spawn(async move {
            loop {
                let now = status.borrow_and_update().clone();
                if channel.send(now).is_err() {
                    break;
                }
                tokio::select! {
                    changed = status.changed() => if changed.is_err() { break },
                    _ = ended.changed() => break,
                }
            }
        });
    }

    /// Sends a deployment's transitions in batches, each followed by its summary.
    pub fn deployment(&self, connection: &Connection, id: Id, channel: Channel<DeploymentFeed>) {
        let mut ended = supersede(&self.deployment);
        let mut events = connection.events();
        let connection = connection.clone();
        tauri::async_runtime::spawn(async move {
            let mut batch: Vec<Transition> = Vec::new();
            let mut tick = tokio::time::interval(DEPLOYMENT_BATCH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let mut summary_now = false;
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(ServiceEvent::Transitions(ts)) => {
                            batch.extend(ts.iter().filter(|t| t.deployment_id == id).cloned());
                        }
                        Ok(ServiceEvent::Finished(s)) if s.deployment_id == id => summary_now = true,
                        Ok(_) => {}
                        // Skipped notices: the summary tells the window to reload the table.
                        Err(broadcast::error::RecvError::Lagged(_)) => summary_now = true,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = tick.tick() => summary_now = !batch.is_empty(),
                    _ = ended.changed() => break,
                }
                if !summary_now {
                    continue;
                }
                if !batch.is_empty() {
                    let transitions = std::mem::take(&mut batch);
                    if channel
                        .send(DeploymentFeed::Transitions { transitions })
                        .is_err()
                    {
                        break;
                    }
                }
                if let Ok(summary) = load_summary(&connection, &id).await
                    && channel
                        .send(DeploymentFeed::Summary {
                            summary: Box::new(summary),
                        })
                        .is_err()
                {
                    break;
                }
            }
        });
    }

    /// Sends the ids of firmware files that become stale, batched.
    pub fn firmware(&self, watching: &Watching, channel: Channel<FirmwareFeed>) {
        let mut ended = supersede(&self.firmware);
        let mut stale = watching.subscribe();
        tauri::async_runtime::spawn(async move {
            loop {
                let first = tokio::select! {
                    got = stale.recv() => match got {
                        Ok(id) => Some(id),
                        // Missed some: an empty batch tells the view to reload all the same.
                        Err(broadcast::error::RecvError::Lagged(_)) => None,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = ended.changed() => break,
                };
                // An editor's save is several events: gather them into one message.
                tokio::time::sleep(FIRMWARE_BATCH).await;
                let mut ids: Vec<i64> = first.into_iter().collect();
                while let Ok(id) = stale.try_recv() {
                    ids.push(id);
                }
                ids.sort_unstable();
                ids.dedup();
                if channel.send(FirmwareFeed { stale: ids }).is_err() {
                    break;
                }
            }
        });
    }

    /// Sends messages recorded from now on (by any process sharing the history).
    pub fn activity(&self, connection: &Connection, channel: Channel<ActivityFeed>) {
        let mut ended = supersede(&self.activity);
        // Where the feed starts is fixed now, so that nothing recorded after this call is
        // missed.
        let history = match History::open(&connection.history_path()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "the activity feed cannot open the history");
                return;
            }
        };
        // The newest rows the view loads first: where the feed starts, and the commands among
        // them still waiting in the outbox, told again once they leave it.
        let recent = history.recent_messages(500).unwrap_or_default();
        let mut last = recent.first().map_or(0, |m| m.id);
        let mut waiting = WaitingCommands::default();
        waiting.note(&recent);
        tauri::async_runtime::spawn(async move {
            let mut tick = tokio::time::interval(ACTIVITY_BATCH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = ended.changed() => break,
                }
                let mut messages = match history.settled_commands(&waiting.ids()) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "activity feed read failed");
                        continue;
                    }
                };
                waiting.settled(&messages);
                let new = match history.messages_after(last, ACTIVITY_ROWS) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "activity feed read failed");
                        continue;
                    }
                };
                if let Some(newest) = new.last() {
                    last = newest.id;
                }
                waiting.note(&new);
                messages.extend(new);
                if messages.is_empty() {
                    continue;
                }
                if channel.send(ActivityFeed { messages }).is_err() {
                    break;
                }
            }
        });
    }
}

/// Commands the activity view shows as waiting in the outbox (the newest few thousand):
/// each is sent again, with its new outcome, once it is published or withdrawn.
#[derive(Default)]
struct WaitingCommands(std::collections::BTreeSet<i64>);

impl WaitingCommands {
    const MAX: usize = 5_000;

    fn note(&mut self, rows: &[storefleet::history::MessageRow]) {
        for m in rows {
            if m.direction == "out" && m.outcome == "outbox" {
                self.0.insert(m.id);
            }
        }
        while self.0.len() > Self::MAX {
            self.0.pop_first();
        }
    }

    fn settled(&mut self, rows: &[storefleet::history::MessageRow]) {
        for m in rows {
            self.0.remove(&m.id);
        }
    }

    fn ids(&self) -> Vec<i64> {
        self.0.iter().copied().collect()
    }
}
