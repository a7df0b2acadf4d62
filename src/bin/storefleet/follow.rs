//! Following a deployment from the CLI: streaming its transitions and deciding when the
//! command is done.

use std::path::Path;
use std::time::Duration;

use storefleet::engine::{DeploymentState, StatusCounts};
use storefleet::history::History;
use storefleet::link::LinkState;
use storefleet::protocol::Id;
use storefleet::service::{Backlog, Service, ServiceEvent};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::failure::Failure;
use crate::report::Reporter;

/// When a following command may stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Every target terminal, or the deployment paused.
    Finished,
    /// No cancel left unanswered.
    CancelsAnswered,
    /// Every command of the deployment confirmed by the broker (no `--wait`).
    Published,
}

/// How following ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Done,
    /// Waiting for the end, the deployment paused instead.
    Paused,
    TimedOut,
    Interrupted,
}

fn satisfied(until: Until, counts: &StatusCounts, total: usize, pending: usize) -> bool {
    match until {
        Until::Finished => counts.terminal() == total,
        Until::CancelsAnswered => counts.cancel_requested == 0 && pending == 0,
        Until::Published => pending == 0,
    }
}

/// Streams the deployment's transitions until `until` holds, `limit` passes, or Ctrl-C.
pub async fn follow(
    service: &Service,
    events: &mut tokio::sync::broadcast::Receiver<ServiceEvent>,
    db: &Path,
    id: &Id,
    until: Until,
    limit: Option<Duration>,
    reporter: &Reporter,
) -> Result<Ended, Failure> {
    let reader = History::open(db)?;
    let deadline = limit.map(|l| tokio::time::Instant::now() + l);
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    let ended = loop {
        if let Some(LinkState::Refused { reason }) = service.link_state() {
            // A refused login or certificate does not heal by waiting: say so, do not hang.
            return Err(refusal(&reason));
        }
        let summary = service
            .summary(id.clone())
            .await
            .map_err(|e| Failure::error(e.to_string()))?
            .ok_or_else(|| Failure::error(format!("deployment {id} is not loaded")))?;
        reporter.progress(&summary.counts, summary.total);
        // Counting the outbox scans every command of the deployment: only when it matters.
        let pending = match until {
            Until::Finished => 0,
            Until::CancelsAnswered | Until::Published => reader.pending_count(id.as_str())?,
        };
        if satisfied(until, &summary.counts, summary.total, pending) {
            break Ended::Done;
        }
        if until == Until::Finished && summary.state == DeploymentState::Paused {
            // Commands made just before the pause still leave: wait for the broker to
            // take them, so a later process does not find them pending.
            if pending == 0 {
                break Ended::Paused;
            }
        }
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => match event {
                Ok(ServiceEvent::Transitions(batch)) => {
                    let ours: Vec<_> = batch.iter().filter(|t| &t.deployment_id == id).cloned().collect();
                    reporter.transitions(&ours);
                }
                Ok(ServiceEvent::Rollout(batch)) => {
                    let ours: Vec<_> = batch.iter().filter(|e| &e.deployment_id == id).cloned().collect();
                    reporter.rollout(&ours);
                }
                Ok(ServiceEvent::HistoryFailed { error, since_ms }) => history_failing(&error, since_ms)?,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Err(Failure::error("the Storefleet service stopped")),
            },
            _ = poll.tick() => {}
            () = timeout => break Ended::TimedOut,
            _ = tokio::signal::ctrl_c() => break Ended::Interrupted,
        }
    };
    // The engine runs ahead of the history: commit, then print what the commit announced.
    service.sync().await?;
    loop {
        match events.try_recv() {
            Ok(ServiceEvent::Transitions(batch)) => {
                let ours: Vec<_> = batch
                    .iter()
                    .filter(|t| &t.deployment_id == id)
                    .cloned()
                    .collect();
                reporter.transitions(&ours);
            }
            Ok(ServiceEvent::Rollout(batch)) => {
                let ours: Vec<_> = batch
                    .iter()
                    .filter(|e| &e.deployment_id == id)
                    .cloned()
                    .collect();
                reporter.rollout(&ours);
            }
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    reporter.end_progress();
    Ok(ended)
}

/// How long the history may refuse writes before a following command gives up (exit 1).
/// Meanwhile nothing is acknowledged or sent, so waiting loses nothing.
const HISTORY_PATIENCE: Duration = Duration::from_secs(60);

/// A failed commit is retried by the service; the command waits, within a bound.
pub fn history_failing(error: &str, since_ms: u64) -> Result<(), Failure> {
    if Duration::from_millis(since_ms) >= HISTORY_PATIENCE {
        return Err(Failure::error(format!(
            "the history cannot be written for {} s: {error}",
            since_ms / 1000
        )));
    }
    tracing::warn!(%error, since_ms, "the history cannot be written; retrying");
    Ok(())
}

/// The one line a refused connection ends a command with (exit 1).
pub fn refusal(reason: &str) -> Failure {
    Failure::error(format!("not connecting again: {reason}"))
}

/// Waits for the outcome of the first connection attempt (within the connect timeout), so
/// that a refused login or a failed TLS handshake ends the command before it makes anything:
/// nothing is left in the outbox to go out later. An unreachable broker is not an error: the
/// command goes on offline, its commands waiting in the outbox, as DESIGN.md section 3 asks.
pub async fn first_contact(service: &Service) -> Result<(), Failure> {
    const LIMIT: Duration = Duration::from_secs(12);
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match service.link_state() {
            Some(LinkState::Refused { reason }) => return Err(refusal(&reason)),
            Some(LinkState::Connecting) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => return Ok(()),
        }
    }
}

/// Lets the replies the broker kept for this installation arrive before acting on the
/// history (a cancel must not go to controllers that finished while nobody listened): waits
/// for the connection, then until every message before the link's mark of the backlog's end
/// is applied ([`Backlog::TakenIn`]), within a bound. Without a mark (a broker that refuses
/// its subscription, or loses it), a quiet moment with no inbound message has to do.
pub async fn catch_up(
    service: &Service,
    events: &mut tokio::sync::broadcast::Receiver<ServiceEvent>,
) {
    /// Quiet enough to take the backlog as delivered when the broker refused the mark.
    const QUIET_UNMARKED: Duration = Duration::from_millis(500);
    /// Quiet long enough to stop waiting for a mark that may never come.
    const QUIET_MARKED: Duration = Duration::from_secs(2);
    const LIMIT: Duration = Duration::from_secs(5);
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !service.link_state().is_some_and(|s| s.is_connected()) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) | Ok(Err(RecvError::Closed)) => return,
            Ok(_) => {}
        }
    }
    let mut backlog = service.backlog();
    loop {
        let quiet = match *backlog.borrow_and_update() {
            Backlog::TakenIn => return,
            Backlog::Unmarked => QUIET_UNMARKED,
            Backlog::Arriving => QUIET_MARKED,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            changed = backlog.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            event = tokio::time::timeout(quiet, events.recv()) => match event {
                Err(_) | Ok(Err(RecvError::Closed)) => return,
                Ok(_) => {}
            },
        }
    }
}
