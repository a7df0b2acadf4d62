//! The history writer: a thread that commits the service's batches, then (and only then)
//! acknowledges the inbound messages they record, releases the commands they store for
//! publishing, and tells subscribers. SQLite is blocking; keeping it off the owner task
//! lets the engine go on with the next batch while this one commits.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::events::ServiceEvent;
use crate::history::{Batch, Checkpointer, History};
use crate::link::AckToken;
use crate::protocol::Id;

/// A command read back from the outbox (its committed row), on its way to the broker.
#[derive(Debug, Clone)]
pub(super) struct PublishItem {
    // Already valid ids: the owner uses them on PUBACK without checking them again.
    pub correlation_id: Id,
    pub deployment_id: Id,
    pub store_id: Id,
    pub controller_id: Id,
    pub topic: String,
    pub body: Bytes,
}

/// One unit of work for the writer.
#[derive(Default)]
pub(super) struct Flush {
    pub batch: Batch,
    pub acks: Vec<AckToken>,
    /// Deployments this flush writes new commands for.
    pub commands: Vec<Id>,
    /// How many commands it writes.
    pub command_rows: usize,
    pub events: Vec<ServiceEvent>,
    /// Driver locks to give back once this flush is committed.
    pub release: Vec<Id>,
    /// Answered once this flush is committed (or given up at exit): used by shutdown and by
    /// requests that must not return before their deployment is durable.
    pub done: Vec<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

/// What the writer hands back to the owner after each commit.
pub(super) struct Committed {
    /// Deployments with new commands in the outbox, now durable: they may be published.
    pub commands: Vec<Id>,
    pub command_rows: usize,
    /// Inbound messages of the commit: the owner takes as many new ones from the link.
    pub inbound: usize,
    /// Driver locks the owner held only until this commit (a pause written for a
    /// deployment nobody drives).
    pub release: Vec<Id>,
    /// The batch just written, freed by the owner: its thousands of strings cost the writer's
    /// one thread, which bounds ingest, about a tenth of its time (perf, known-fleet drain).
    pub spent: Batch,
}

/// The first retry of a failed commit, and the longest wait between two.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// At exit, how long a failing commit is still retried before the process gives up on it
/// (nothing of it was acknowledged or published, so the broker and the outbox keep it).
const EXIT_PATIENCE: Duration = Duration::from_secs(30);

pub(super) struct Writer {
    tx: Option<std::sync::mpsc::Sender<Flush>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread. A commit that fails (busy, disk full, I/O error) is kept
    /// and retried with backoff, never dropped: until it succeeds nothing of it is acked,
    /// published or announced, and later flushes join it.
    pub fn start(
        history: History,
        events: broadcast::Sender<ServiceEvent>,
        committed: mpsc::UnboundedSender<Committed>,
    ) -> std::io::Result<Self> {
        if let Err(e) = history.make_durable() {
            tracing::warn!(error = %e, "the history cannot commit with synchronous=FULL");
        }
        if let Err(e) = history.cache_for_writing() {
            tracing::warn!(error = %e, "the history writer keeps SQLite's default cache");
        }
        // Without it the writer checkpoints in its commits, as SQLite does by default.
        let checkpointer = Checkpointer::start(&history)
            .inspect_err(
                |e| tracing::warn!(error = %e, "the history writer checkpoints on its own"),
            )
            .ok();
        let (tx, rx) = std::sync::mpsc::channel::<Flush>();
        let thread = std::thread::Builder::new()
            .name("storefleet-history".into())
            .spawn(move || run(history, checkpointer, rx, events, committed))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `flush`, its messages keyed here, on the caller's thread (the owner's, which
    /// has time to spare while the writer's one thread bounds ingest).
    pub fn send(&self, mut flush: Flush) {
        flush.batch.key_messages();
        if let Some(tx) = &self.tx {
            let _ = tx.send(flush);
        }
    }
}

fn run(
    mut history: History,
    checkpointer: Option<Checkpointer>,
    rx: std::sync::mpsc::Receiver<Flush>,
    events: broadcast::Sender<ServiceEvent>,
    committed: mpsc::UnboundedSender<Committed>,
) {
    let mut failing: Option<Instant> = None;
    let mut retry_in = RETRY_FIRST;
    let mut held: Option<Flush> = None;
    let mut closed = false;
    loop {
        let mut flush = match held.take() {
            Some(flush) => flush,
            None => match rx.recv() {
                Ok(flush) => flush,
                Err(_) => return,
            },
        };
        // Coalesce whatever queued up meanwhile: fewer, larger transactions.
        loop {
            match rx.try_recv() {
                Ok(more) => merge(&mut flush, more),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        match history.write_batch(&flush.batch) {
            Ok(_) => {
                if let Some(since) = failing.take() {
                    tracing::info!(after = ?since.elapsed(), "history writes recovered");
                    let _ = events.send(ServiceEvent::HistoryRecovered);
                }
                retry_in = RETRY_FIRST;
                deliver(flush, &events, &committed);
                if let Some(checkpointer) = &checkpointer {
                    checkpointer.nudge();
                }
            }
            Err(e) => {
                let since = *failing.get_or_insert_with(Instant::now);
                tracing::warn!(error = %e, failing_for = ?since.elapsed(), "history write failed; retrying");
                let _ = events.send(ServiceEvent::HistoryFailed {
                    error: e.to_string(),
                    since_ms: u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
                if closed && since.elapsed() > EXIT_PATIENCE {
                    tracing::error!(error = %e, "giving up on the history at exit; nothing of the last batch was acknowledged or sent");
                    for done in flush.done {
                        let _ = done.send(Err(e.to_string()));
                    }
                    return;
                }
                std::thread::sleep(retry_in);
                retry_in = (retry_in * 2).min(RETRY_MAX);
                held = Some(flush);
            }
        }
    }
}

/// After a commit: acks to the broker, commands to the link, notices to subscribers.
fn deliver(
    flush: Flush,
    events: &broadcast::Sender<ServiceEvent>,
    committed: &mpsc::UnboundedSender<Committed>,
) {
    let inbound = flush.acks.len();
    for ack in flush.acks {
        ack.ack();
    }
    let _ = committed.send(Committed {
        commands: flush.commands,
        command_rows: flush.command_rows,
        inbound,
        release: flush.release,
        spent: flush.batch,
    });
    for event in flush.events {
        let _ = events.send(event);
    }
    for done in flush.done {
        let _ = done.send(Ok(()));
    }
}

fn merge(into: &mut Flush, more: Flush) {
    into.batch.append(more.batch);
    into.acks.extend(more.acks);
    into.commands.extend(more.commands);
    into.command_rows += more.command_rows;
    into.events.extend(more.events);
    into.done.extend(more.done);
    into.release.extend(more.release);
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
