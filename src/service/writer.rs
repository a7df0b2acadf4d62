//! The history writer: a thread that commits the service's batches, then (and only then)
//! acknowledges the inbound messages they record, releases the commands they store for
//! publishing, and tells subscribers. SQLite is blocking; keeping it off the owner task
//! lets the engine go on with the next batch while this one commits. While flushes queue
//! up it holds the inventory's last-seen times back (`held_seen.rs`).

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::events::ServiceEvent;
use super::held_seen::HeldSeen;
use crate::history::{Batch, History};
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
        let (tx, rx) = std::sync::mpsc::channel::<Flush>();
        let thread = std::thread::Builder::new()
            .name("storefleet-history".into())
            .spawn(move || run(history, rx, events, committed))?;
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

fn run(
    mut history: History,
    rx: std::sync::mpsc::Receiver<Flush>,
    events: broadcast::Sender<ServiceEvent>,
    committed: mpsc::UnboundedSender<Committed>,
) {
    let mut failing: Option<Instant> = None;
    let mut retry_in = RETRY_FIRST;
    let mut held: Option<Flush> = None;
    let mut closed = false;
    let mut seen = HeldSeen::default();
    loop {
        // Busy: a flush was already waiting (or failing). Only then are last-seen times held.
        let (mut flush, busy) = match held.take() {
            Some(flush) => (flush, true),
            None => match next(&rx, seen.due()) {
                Next::Waiting(flush) => (flush, true),
                Next::Came(flush) => (flush, false),
                // Nothing came before the held times were due, or nothing will come again:
                // a batch of just those.
                Next::Due => (Flush::default(), false),
                Next::Closed if seen.is_empty() => return,
                Next::Closed => {
                    closed = true;
                    (Flush::default(), false)
                }
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
        let now = Instant::now();
        let heard = std::mem::take(&mut flush.batch.seen);
        if !busy || closed || seen.due().is_some_and(|due| due <= now) {
            seen.hold(heard, now);
            flush.batch.seen = seen.take();
        } else {
            seen.hold(heard.clone(), now);
            flush.batch.discovered.extend(heard);
        }
        match history.write_batch(&flush.batch) {
            Ok(written) => {
                seen.written(&written.added);
                if let Some(since) = failing.take() {
                    tracing::info!(after = ?since.elapsed(), "history writes recovered");
                    let _ = events.send(ServiceEvent::HistoryRecovered);
                }
                retry_in = RETRY_FIRST;
                deliver(flush, &events, &committed);
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

/// What the writer's channel gave.
enum Next {
    /// A flush that was already waiting: the writer is busy.
    Waiting(Flush),
    /// A flush the writer waited for.
    Came(Flush),
    /// The held last-seen times are due and nothing came.
    Due,
    Closed,
}

/// The next flush, waiting for one at most until `due`.
fn next(rx: &std::sync::mpsc::Receiver<Flush>, due: Option<Instant>) -> Next {
    use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
    match rx.try_recv() {
        Ok(flush) => return Next::Waiting(flush),
        Err(TryRecvError::Disconnected) => return Next::Closed,
        Err(TryRecvError::Empty) => {}
    }
    let Some(due) = due else {
        return rx.recv().map_or(Next::Closed, Next::Came);
    };
    match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
        Ok(flush) => Next::Came(flush),
        Err(RecvTimeoutError::Timeout) => Next::Due,
        Err(RecvTimeoutError::Disconnected) => Next::Closed,
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
    });
    for event in flush.events {
        let _ = events.send(event);
    }
    for done in flush.done {
        let _ = done.send(Ok(()));
    }
}

fn merge(into: &mut Flush, more: Flush) {
    let b = &mut into.batch;
    let m = more.batch;
    b.new_deployments.extend(m.new_deployments);
    b.targets.extend(m.targets);
    b.transitions.extend(m.transitions);
    b.messages.extend(m.messages);
    b.sent.extend(m.sent);
    b.withdrawn.extend(m.withdrawn);
    b.finished.extend(m.finished);
    b.rollout_events.extend(m.rollout_events);
    b.controls.extend(m.controls);
    b.seen.extend(m.seen);
    b.discovered.extend(m.discovered);
    b.bind.extend(m.bind);
    b.run_by.extend(m.run_by);
    b.requests.extend(m.requests);
    b.requests_taken.extend(m.requests_taken);
    b.outcomes.extend(m.outcomes);
    b.observed.extend(m.observed);
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

    fn heard(controller: usize, at: u64) -> crate::history::ControllerSeen {
        crate::history::ControllerSeen {
            store_id: "s1".into(),
            controller_id: format!("c{controller}"),
            at: Some(Millis(at)),
        }
    }

    /// Flushes sent faster than they commit find the writer busy, so their last-seen times
    /// are held; whichever way each went, every controller ends in the inventory with the
    /// latest time heard of it, also when the writer is closed before they fall due.
    #[test]
    fn held_last_seen_times_all_reach_the_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let (events, _keep) = broadcast::channel(16);
        let (committed, _committed) = mpsc::unbounded_channel();
        let writer = Writer::start(History::open(&path).unwrap(), events, committed).unwrap();
        for round in 0..200_u64 {
            let mut flush = Flush::default();
            flush.batch.seen = (0..50).map(|c| heard(c, 1_000 + round)).collect();
            // An older time for a controller already heard must not move it back.
            flush.batch.seen.push(heard(0, 1));
            writer.send(flush);
        }
        // Long enough for the queue to drain, not for the held times to fall due: closing
        // the writer must write them.
        std::thread::sleep(super::super::held_seen::HOLD / 3);
        drop(writer);
        let controllers = History::open(&path).unwrap().controllers().unwrap();
        assert_eq!(controllers.len(), 50);
        for c in &controllers {
            assert_eq!(c.last_seen, Some(Millis(1_199)), "{}", c.controller_id);
        }
    }

    /// A controller only discovered (its time held back) is added with the time it was first
    /// heard; one the inventory has is left as it is.
    #[test]
    fn discovered_controllers_are_added_and_known_ones_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(&dir.path().join("history.sqlite")).unwrap();
        let mut first = crate::history::Batch::default();
        first.seen.push(heard(1, 10));
        history.write_batch(&first).unwrap();
        let later = crate::history::Batch {
            discovered: vec![heard(1, 20), heard(2, 30), heard(2, 25)],
            ..Default::default()
        };
        let written = history.write_batch(&later).unwrap();
        assert_eq!(
            written.added,
            vec![heard(2, 30)],
            "only the new one, at its latest"
        );
        let times: Vec<_> = history
            .controllers()
            .unwrap()
            .into_iter()
            .map(|c| (c.controller_id, c.last_seen))
            .collect();
        assert_eq!(
            times,
            vec![
                ("c1".to_owned(), Some(Millis(10))),
                ("c2".to_owned(), Some(Millis(30)))
            ]
        );
    }
}
