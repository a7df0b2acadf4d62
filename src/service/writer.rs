//! The history writer: a thread that commits the service's batches, then (and only then)
//! acknowledges the inbound messages they record, releases the commands they store for
//! publishing, and tells subscribers. SQLite is blocking; keeping it off the owner task
//! lets the engine go on with the next batch while this one commits.

use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::events::ServiceEvent;
use crate::history::{Batch, History};
use crate::link::AckToken;
use crate::protocol::Id;

/// A command ready to publish once its outbox row is committed.
#[derive(Debug, Clone)]
pub(super) struct PublishItem {
    // Already valid ids: the owner uses them on PUBACK without checking them again.
    pub correlation_id: Id,
    pub deployment_id: Id,
    pub store_id: Id,
    pub controller_id: Id,
    pub topic: String,
    /// Shared with the outbox entry and the message log (one copy per command).
    pub body: Bytes,
}

/// One unit of work for the writer.
#[derive(Default)]
pub(super) struct Flush {
    pub batch: Batch,
    pub acks: Vec<AckToken>,
    pub publish: Vec<PublishItem>,
    pub events: Vec<ServiceEvent>,
    /// Answered once this flush is committed (or failed): used by shutdown and by requests
    /// that must not return before their deployment is durable.
    pub done: Vec<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

/// What the writer hands back to the owner after a commit.
pub(super) enum Committed {
    Publish(Vec<PublishItem>),
}

pub(super) struct Writer {
    tx: Option<std::sync::mpsc::Sender<Flush>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub fn start(
        mut history: History,
        events: broadcast::Sender<ServiceEvent>,
        committed: mpsc::UnboundedSender<Committed>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Flush>();
        let thread = std::thread::Builder::new()
            .name("storefleet-history".into())
            .spawn(move || {
                while let Ok(mut flush) = rx.recv() {
                    // Coalesce whatever queued up meanwhile: fewer, larger transactions.
                    while let Ok(more) = rx.try_recv() {
                        merge(&mut flush, more);
                    }
                    let result = history.write_batch(&flush.batch);
                    match result {
                        Ok(_) => {
                            for ack in flush.acks {
                                ack.ack();
                            }
                            if !flush.publish.is_empty() {
                                let _ = committed.send(Committed::Publish(flush.publish));
                            }
                            for event in flush.events {
                                let _ = events.send(event);
                            }
                            for done in flush.done {
                                let _ = done.send(Ok(()));
                            }
                        }
                        Err(e) => {
                            // Nothing acked, nothing published: the broker redelivers, and
                            // the commands stay unsent rather than unrecorded.
                            tracing::error!(error = %e, "history write failed");
                            let message = e.to_string();
                            let _ = events.send(ServiceEvent::HistoryFailed(message.clone()));
                            for done in flush.done {
                                let _ = done.send(Err(message.clone()));
                            }
                        }
                    }
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn send(&self, flush: Flush) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(flush);
        }
    }
}

fn merge(into: &mut Flush, more: Flush) {
    let b = &mut into.batch;
    let m = more.batch;
    b.new_deployments.extend(m.new_deployments);
    b.targets.extend(m.targets);
    b.transitions.extend(m.transitions);
    b.messages.extend(m.messages);
    b.outbox.extend(m.outbox);
    b.sent.extend(m.sent);
    b.withdrawn.extend(m.withdrawn);
    b.finished.extend(m.finished);
    b.rollout_events.extend(m.rollout_events);
    b.controls.extend(m.controls);
    b.seen.extend(m.seen);
    into.acks.extend(more.acks);
    into.publish.extend(more.publish);
    into.events.extend(more.events);
    into.done.extend(more.done);
}

impl Drop for Writer {
    /// Commits what is queued, then joins the thread: nothing handed to the writer is lost.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Millis, RolloutControl, RolloutEvent, RolloutEventKind};
    use crate::protocol::Id;

    fn flush_with_resume(deployment: &str, at: u64) -> Flush {
        let mut flush = Flush::default();
        flush.batch.rollout_events.push(RolloutEvent {
            deployment_id: Id::new(deployment).unwrap(),
            at: Millis(at),
            kind: RolloutEventKind::Resumed,
        });
        flush
            .batch
            .controls
            .push((deployment.to_owned(), RolloutControl::default()));
        flush
    }

    /// Coalescing queued flushes keeps every flush's rollout events and controls.
    #[test]
    fn merge_keeps_rollout_events_and_controls() {
        let mut into = flush_with_resume("a", 1);
        merge(&mut into, flush_with_resume("b", 2));
        let events: Vec<&str> = into
            .batch
            .rollout_events
            .iter()
            .map(|e| e.deployment_id.as_str())
            .collect();
        assert_eq!(events, vec!["a", "b"]);
        let controls: Vec<&str> = into
            .batch
            .controls
            .iter()
            .map(|(d, _)| d.as_str())
            .collect();
        assert_eq!(controls, vec!["a", "b"]);
    }
}
