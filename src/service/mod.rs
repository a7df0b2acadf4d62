//! The service wires the core together: one task owns the deployment engine; the broker link,
//! the history writer and the callers (window, CLI) talk to it through channels.
//!
//! Data flow: a request makes the engine emit commands; the writer commits them to the
//! outbox (with the deployment and its targets); only then does the link publish them. Inbound
//! messages are decoded, applied by the engine, recorded in batches, and acknowledged to the
//! broker after the commit. Subscribers hear of transitions once they are durable.

mod backlog;
mod driver_locks;
mod events;
pub mod new_deployment;
mod owner;
mod session_lock;
pub mod store_plan;
pub mod store_waits;
mod writer;

use std::path::PathBuf;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use backlog::Backlog;
pub use driver_locks::DriverLocks;
pub use events::ServiceEvent;
pub use session_lock::SessionLock;

use crate::engine::{DeploymentSpec, DeploymentSummary, Engine, EngineError, Millis};
use crate::history::{BrokerIdentity, DeploymentDetail, History, HistoryError};
use crate::link::{BrokerProfile, Link, LinkConfig, LinkError, LinkState, Password, StateWatch};
use crate::protocol::{Id, TopicPrefix};
use owner::{Owner, Parts, Request};
use writer::Writer;

/// Subscribers that fall further behind than this many notices skip ahead (and can re-read
/// the summary); the live view never holds the service back.
const EVENT_ROOM: usize = 4_096;

/// Now as the engine counts time: unix milliseconds of the wall clock.
pub fn now_millis() -> Millis {
    Millis::from_datetime(&chrono::Utc::now())
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("no deployment {0} in the history")]
    UnknownDeployment(Id),
    #[error("the history could not be written: {0}")]
    HistoryWrite(String),
    #[error("cannot take the session lock beside the history: {0}")]
    Lock(std::io::Error),
    #[error("cannot start the history writer: {0}")]
    Writer(std::io::Error),
    #[error("the Storefleet service has stopped")]
    Stopped,
    #[error(
        "no broker: a deployment is made for the broker its commands go to; connect to one first"
    )]
    NoBroker,
    #[error("deployment {0} is another operator's, observed on the broker: it is read only here")]
    ReadOnly(Id),
    #[error(
        "the Storefleet process driving deployment {id} did not take the {action} in time; the request stays in the history for it"
    )]
    NotTaken { id: Id, action: &'static str },
}

/// How to reach the broker.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    pub profile: BrokerProfile,
    pub password: Option<Password>,
    pub inflight: u16,
}

/// What the service needs to start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub history: PathBuf,
    /// `None`: offline. Deployments are prepared and their commands wait in the outbox.
    pub broker: Option<BrokerSettings>,
    pub topic_prefix: TopicPrefix,
    /// The broker deployments made here are for, and the one whose deployments this service
    /// drives when `broker` is set. `None`: the broker's own address and the topic prefix
    /// (the CLI); the desktop names the demo, or the profile of an offline service.
    pub identity: Option<BrokerIdentity>,
}

impl ServiceConfig {
    /// The identity this service acts for: the configured one, else the broker's.
    pub fn identity(&self) -> Option<BrokerIdentity> {
        self.identity.clone().or_else(|| {
            self.broker
                .as_ref()
                .map(|b| BrokerIdentity::new(&b.profile.broker, &self.topic_prefix))
        })
    }
}

/// The persistent session's client id: one per installation and topic prefix. The broker keeps
/// a session's subscriptions, and they are made only for a new session, so a prefix of its own
/// means a session of its own: switching profiles never listens on another prefix's topics.
/// The empty prefix keeps the id sessions have always had.
pub fn session_client_id(installation: &str, prefix: &TopicPrefix) -> String {
    if prefix.as_str().is_empty() {
        return format!("storefleet-{installation}");
    }
    use md5::{Digest, Md5};
    let digest = Md5::digest(prefix.as_str().as_bytes());
    format!("storefleet-{installation}-{}", hex::encode(&digest[..4]))
}

/// A running service. Dropping it stops the engine task and the link; [`Service::shutdown`]
/// also waits until everything staged is committed.
pub struct Service {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<ServiceEvent>,
    /// Subscribed before the owner started, so nothing it announces at start-up is missed.
    first_events: Option<broadcast::Receiver<ServiceEvent>>,
    link_state: Option<StateWatch>,
    backlog: watch::Receiver<Backlog>,
    task: Option<tokio::task::JoinHandle<owner::Stopped>>,
    link: Option<Link>,
    _lock: Option<SessionLock>,
}

impl Service {
    /// Opens the history and connects when a broker is configured. Deployments are driven
    /// from the first look on: every unfinished one of this broker that no other process
    /// drives is resumed (re-sending what was never confirmed, with the same correlation ids).
    pub async fn start(config: ServiceConfig) -> Result<Self, ServiceError> {
        let history = History::open(&config.history)?;
        let reader = History::open(&config.history)?;
        let identity = config.identity();

        let (events_tx, first_events) = broadcast::channel(EVENT_ROOM);
        let mut lock = None;
        let (link, link_events, link_state) = match &config.broker {
            Some(broker) => {
                lock = SessionLock::try_acquire(&config.history).map_err(ServiceError::Lock)?;
                let (client_id, clean_session) = match &lock {
                    Some(_) => (
                        session_client_id(&history.installation_id()?, &config.topic_prefix),
                        false,
                    ),
                    // Another process holds the persistent session: a throwaway one here.
                    None => (
                        format!("storefleet-{}", uuid::Uuid::new_v4().simple()),
                        true,
                    ),
                };
                let mut link_config = LinkConfig::new(broker.profile.clone(), client_id);
                link_config.password = broker.password.clone();
                link_config.clean_session = clean_session;
                link_config.topic_prefix = config.topic_prefix.clone();
                link_config.inflight = broker.inflight;
                let (link, events) = Link::start(link_config)?;
                let state = link.state();
                (Some(link), Some(events), Some(state))
            }
            None => (None, None, None),
        };

        let (committed_tx, committed_rx) = mpsc::unbounded_channel();
        let (backlog_tx, backlog) = watch::channel(Backlog::Arriving);
        let writer = Writer::start(history, events_tx.clone(), committed_tx)
            .map_err(ServiceError::Writer)?;
        let owner = Owner::new(Parts {
            engine: Engine::new(),
            prefix: config.topic_prefix.clone(),
            reader,
            writer,
            publisher: link.as_ref().map(Link::publisher),
            events: events_tx.clone(),
            identity,
            drives: link.is_some(),
            backlog: backlog_tx,
            look_every: owner::LOOK_EVERY,
        });
        let (requests_tx, requests_rx) = mpsc::channel(256);
        let task = tokio::spawn(owner.run(requests_rx, link_events, committed_rx));
        Ok(Self {
            requests: requests_tx,
            events: events_tx,
            first_events: Some(first_events),
            link_state,
            backlog,
            task: Some(task),
            link,
            _lock: lock,
        })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, ServiceError>>) -> Request,
    ) -> Result<T, ServiceError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(make(tx))
            .await
            .map_err(|_| ServiceError::Stopped)?;
        rx.await.map_err(|_| ServiceError::Stopped)?
    }

    /// Creates a deployment; returns once it and its commands are in the history.
    pub async fn deploy(&self, spec: DeploymentSpec) -> Result<DeploymentSummary, ServiceError> {
        self.ask(|tx| Request::Deploy(spec, tx)).await
    }

    /// Cancels every target that is not terminal.
    pub async fn cancel(&self, id: Id) -> Result<DeploymentSummary, ServiceError> {
        self.ask(|tx| Request::Cancel(id, tx)).await
    }

    /// Sends failed and timed-out targets a new attempt.
    pub async fn retry(&self, id: Id) -> Result<DeploymentSummary, ServiceError> {
        self.ask(|tx| Request::Retry(id, tx)).await
    }

    /// Stops sending new commands for the deployment; targets already sent go on.
    pub async fn pause(&self, id: Id) -> Result<DeploymentSummary, ServiceError> {
        self.ask(|tx| Request::Pause(id, tx)).await
    }

    /// Lifts a pause (starting the next wave if the last one has finished).
    pub async fn resume(&self, id: Id) -> Result<DeploymentSummary, ServiceError> {
        self.ask(|tx| Request::Resume(id, tx)).await
    }

    /// Stops holding the finished deployments created before `before`, so that a prune of the
    /// history can remove them without this process writing to them later.
    pub async fn forget_finished_before(
        &self,
        before: crate::engine::Millis,
    ) -> Result<usize, ServiceError> {
        self.ask(|tx| Request::ForgetFinished(before, tx)).await
    }

    pub async fn summary(&self, id: Id) -> Result<Option<DeploymentSummary>, ServiceError> {
        self.ask(|tx| Request::Summary(id, tx)).await
    }

    /// Summary and targets: live for a deployment driven here, else from the history.
    pub async fn detail(&self, id: Id) -> Result<Option<DeploymentDetail>, ServiceError> {
        self.ask(|tx| Request::Detail(id, tx)).await
    }

    /// Whether this process drives the deployment now.
    pub async fn drives(&self, id: Id) -> Result<bool, ServiceError> {
        self.ask(|tx| Request::Drives(id, tx)).await
    }

    /// Waits until everything that happened so far is committed to the history, and what
    /// other processes recorded for the deployments followed here has been announced.
    pub async fn sync(&self) -> Result<(), ServiceError> {
        self.ask(Request::Sync).await
    }

    /// Notices: the first call gets every notice since the service started (replies the
    /// broker kept for us included); later calls get those from now on.
    pub fn subscribe(&mut self) -> broadcast::Receiver<ServiceEvent> {
        self.first_events
            .take()
            .unwrap_or_else(|| self.events.subscribe())
    }

    /// Where the messages the broker kept for this session stand: wait for
    /// [`Backlog::TakenIn`] before acting on what the history says of the fleet.
    pub fn backlog(&self) -> watch::Receiver<Backlog> {
        self.backlog.clone()
    }

    /// The broker connection's state, when a broker is configured.
    pub fn link_state(&self) -> Option<LinkState> {
        self.link_state.as_ref().map(StateWatch::current)
    }

    /// Commits everything staged, stops the engine task and the history writer, and
    /// disconnects from the broker (after sending the acks already given).
    pub async fn shutdown(mut self) {
        let (tx, _) = mpsc::channel(1);
        // Closing the request channel ends the owner loop after a last flush.
        self.requests = tx;
        if let Some(task) = self.task.take()
            && let Ok(stopped) = task.await
        {
            // Joining the writer waits for its last commit: off the async threads. Only then
            // are the driver locks given back.
            let _ = tokio::task::spawn_blocking(move || {
                let owner::Stopped { writer, locks } = stopped;
                drop(writer);
                drop(locks);
            })
            .await;
        }
        if let Some(link) = self.link.take() {
            link.shutdown().await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_topic_prefix_has_its_own_persistent_session() {
        let none = session_client_id("abc", &TopicPrefix::default());
        assert_eq!(none, "storefleet-abc", "the id sessions have always had");
        let a = session_client_id("abc", &TopicPrefix::new("chain-7").unwrap());
        let b = session_client_id("abc", &TopicPrefix::new("chain-8").unwrap());
        assert!(
            a.starts_with("storefleet-abc-") && a != b && a != none,
            "{a} {b}"
        );
        assert_eq!(
            a,
            session_client_id("abc", &TopicPrefix::new("chain-7").unwrap())
        );
    }
}
