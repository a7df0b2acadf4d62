//! The one task that owns the engine. Requests, link events and timers come in through
//! channels; effects go to the history writer in batches, and commands go to the link only
//! after their outbox rows are committed.
//!
//! Its jobs, one file each:
//! - `requests.rs`: the callers' requests (deploy, cancel, retry, pause, resume, reads),
//!   applied here or left in the history for the process that drives the deployment;
//! - `driving.rs`: which deployments this process drives (their lock, taking them over when
//!   their driver is gone, the requests other processes leave) and following the others
//!   through the history;
//! - `inbound.rs`: recording every message from the broker and applying the replies;
//! - `staging.rs`: turning the engine's effects into history rows and commands;
//! - `flush.rs`: handing staged work to the writer with the notices it announces;
//! - `flow.rs`: publishing committed commands as the link has room, and taking inbound
//!   messages only as fast as the history commits them.

mod driving;
mod flow;
mod flush;
mod inbound;
mod requests;
mod staging;
#[cfg(test)]
mod takeover_tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::backlog::Backlog;
use super::driver_locks::DriverLocks;
use super::events::ServiceEvent;
use super::writer::{Committed, Flush, PublishItem, Writer};
use super::{ServiceError, now_millis};
use crate::engine::{DeploymentSpec, DeploymentSummary, Engine, Millis, Transition};
use crate::history::{BrokerIdentity, DeploymentDetail, History, RunBy};
use crate::link::{LinkEvent, Publisher};
use crate::protocol::{Id, TopicPrefix};
use driving::Following;

/// How often staged work is committed when it does not fill a batch first.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Staged rows that trigger a commit at once.
const FLUSH_AT: usize = 2_000;
/// How often the history is read for requests from other processes, deployments to take
/// over, and what the deployments other processes drive did.
pub(super) const LOOK_EVERY: Duration = Duration::from_millis(500);

pub(super) type Reply<T> = oneshot::Sender<Result<T, ServiceError>>;

pub(super) enum Request {
    Deploy(DeploymentSpec, Reply<DeploymentSummary>),
    Cancel(Id, Reply<DeploymentSummary>),
    Retry(Id, Reply<DeploymentSummary>),
    Pause(Id, Reply<DeploymentSummary>),
    Resume(Id, Reply<DeploymentSummary>),
    Summary(Id, Reply<Option<DeploymentSummary>>),
    Detail(Id, Reply<Option<DeploymentDetail>>),
    /// Whether this process drives the deployment now.
    Drives(Id, Reply<bool>),
    /// Answers once everything staged so far is committed.
    Sync(Reply<()>),
    /// Lets go of the finished deployments created before the cut-off (a prune is about to
    /// remove them from the history); answers with how many, once committed.
    ForgetFinished(crate::engine::Millis, Reply<usize>),
}

type TargetKey = (Id, Id, Id);

/// What the owner starts with.
pub(super) struct Parts {
    pub engine: Engine,
    pub prefix: TopicPrefix,
    pub reader: History,
    pub writer: Writer,
    pub publisher: Option<Publisher>,
    pub events: broadcast::Sender<ServiceEvent>,
    /// The broker new deployments are made for; `None` refuses new deployments.
    pub identity: Option<BrokerIdentity>,
    /// A link is configured: this process may drive deployments of `identity`.
    pub drives: bool,
    pub backlog: watch::Sender<Backlog>,
    /// [`LOOK_EVERY`]; a test holds the looks back with a longer one.
    pub look_every: Duration,
}

pub(super) struct Owner {
    engine: Engine,
    prefix: TopicPrefix,
    reader: History,
    writer: Writer,
    publisher: Option<Publisher>,
    events: broadcast::Sender<ServiceEvent>,
    identity: Option<BrokerIdentity>,
    drives: bool,
    /// Who runs this process and where: recorded with each deployment it creates.
    run_by: RunBy,
    locks: DriverLocks,
    following: Following,
    /// Commands read from the outbox, in order, a chunk at a time (see `flow.rs`).
    outq: VecDeque<PublishItem>,
    /// New commands not yet encoded into a batch, and how many encoded ones wait for their
    /// commit (see `staging.rs`).
    unstaged: VecDeque<crate::engine::OutboundCommand>,
    commands_uncommitted: usize,
    /// Per deployment driven here: the last outbox row read into `outq`, and whether newer
    /// ones may wait.
    unsent: HashMap<Id, flow::Unsent>,
    inflight: HashMap<u64, PublishItem>,
    next_seq: u64,
    withdrawn: HashSet<String>,
    staged: Flush,
    staged_rows: usize,
    touched: HashSet<TargetKey>,
    transitions: Vec<Transition>,
    rollout: Vec<crate::engine::RolloutEvent>,
    inbound: usize,
    rejected: usize,
    /// Messages taken from the link whose batch is not committed yet (flow control).
    uncommitted_inbound: usize,
    reported_finished: HashSet<Id>,
    /// Requests left for another process's driver, waiting to be taken.
    awaiting: Vec<requests::Awaiting>,
    /// Other operators' deployments heard of, committed or not: their replies are followed.
    observed: HashSet<Id>,
    backlog: watch::Sender<Backlog>,
    look_every: Duration,
}

impl Owner {
    pub fn new(parts: Parts) -> Self {
        // Beside the history this service runs on.
        let locks = DriverLocks::beside(parts.reader.path());
        Self {
            engine: parts.engine,
            prefix: parts.prefix,
            following: Following::start(&parts.reader),
            reader: parts.reader,
            writer: parts.writer,
            publisher: parts.publisher,
            events: parts.events,
            identity: parts.identity,
            drives: parts.drives,
            backlog: parts.backlog,
            look_every: parts.look_every,
            run_by: RunBy::this_process(),
            locks,
            outq: VecDeque::new(),
            unstaged: VecDeque::new(),
            commands_uncommitted: 0,
            unsent: HashMap::new(),
            inflight: HashMap::new(),
            next_seq: 1,
            withdrawn: HashSet::new(),
            staged: Flush::default(),
            staged_rows: 0,
            touched: HashSet::new(),
            transitions: Vec::new(),
            rollout: Vec::new(),
            inbound: 0,
            rejected: 0,
            uncommitted_inbound: 0,
            reported_finished: HashSet::new(),
            awaiting: Vec::new(),
            observed: HashSet::new(),
        }
    }

    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut link: Option<mpsc::Receiver<LinkEvent>>,
        mut committed: mpsc::UnboundedReceiver<Committed>,
    ) -> Stopped {
        let mut flush_timer = tokio::time::interval(FLUSH_EVERY);
        flush_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut look_timer = tokio::time::interval(self.look_every);
        look_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first look (at once) takes over what this process may drive.
        loop {
            let deadline = self.engine.next_deadline();
            let sleep = sleep_until(deadline);
            let room = self.has_inbound_room();
            tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.on_request(request),
                    None => break,
                },
                Some(done) = committed.recv() => self.on_committed(done),
                event = recv_link(&mut link), if room => match event {
                    Some(event) => self.on_link(event),
                    None => link = None,
                },
                () = sleep, if deadline.is_some() => {
                    let fx = self.engine.tick(now_millis());
                    self.stage(fx);
                }
                _ = flush_timer.tick() => self.flush(),
                _ = look_timer.tick() => self.look(),
            }
            if self.staged_rows >= FLUSH_AT {
                self.flush();
            }
        }
        // Every command made reaches the outbox before the process goes.
        let all = std::mem::take(&mut self.unstaged);
        self.encode_commands(all.into());
        self.flush();
        let Owner { writer, locks, .. } = self;
        Stopped { writer, locks }
    }
}

/// What the owner leaves when it ends. Dropped in this order: the writer first (joining it
/// waits for its last commit), then the driver locks. A lock let go before the last commit
/// would let another process take over a deployment from a history that does not yet say it
/// finished, and drive it on from a stale state.
pub(super) struct Stopped {
    pub writer: Writer,
    pub locks: DriverLocks,
}

async fn recv_link(link: &mut Option<mpsc::Receiver<LinkEvent>>) -> Option<LinkEvent> {
    match link {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Millis>) {
    let Some(deadline) = deadline else {
        return std::future::pending().await;
    };
    let wait = deadline.0.saturating_sub(now_millis().0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}
