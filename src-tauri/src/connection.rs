//! The broker connection: one task owns the broker profiles and the running [`Service`].
//! Connect and disconnect swap the service (disconnected, the app runs it offline, so a
//! deployment made now waits in the outbox); the status goes out on a watch channel, and the
//! service's notices on one broadcast channel that outlives the swaps.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use storefleet::history::{BrokerIdentity, History};
use storefleet::link::{DEFAULT_INFLIGHT, LinkState, Password};
use storefleet::protocol::TopicPrefix;
use storefleet::service::{BrokerSettings, Service, ServiceConfig, ServiceEvent, now_millis};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use ts_rs::TS;

use crate::demo::DemoWatch;
use crate::error::{BoundaryError, ErrorCode};
use storefleet::profiles::{BrokerProfile, DEMO_PROFILE_ID, ProfileInput, ProfileStore};

/// How often the status is refreshed (outbox size, reconnect countdown).
const REFRESH: Duration = Duration::from_millis(500);
/// Room for notices per window feed before a slow one skips ahead.
const EVENT_ROOM: usize = 8_192;

/// Which history the window shows: the demo's sandbox or the real one. Switching to or from
/// the demo profile switches history, so nothing of the demo appears in real work and
/// nothing real is ever sent to the demo broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    Demo,
    Real,
}

/// The two history files.
#[derive(Debug, Clone)]
pub struct Histories {
    pub real: PathBuf,
    /// Beside the demo's files (`STOREFLEET_DEMO_DIR`).
    pub demo: PathBuf,
}

impl Histories {
    pub fn path(&self, kind: HistoryKind) -> &std::path::Path {
        match kind {
            HistoryKind::Demo => &self.demo,
            HistoryKind::Real => &self.real,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
    /// The broker refused the login or the TLS handshake failed; no retry until the user
    /// connects again (after changing the profile, or to try once more).
    Refused,
}

/// What the status bar shows, always.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ConnectionStatus {
    pub profile_id: Option<String>,
    pub profile_name: Option<String>,
    pub broker_url: Option<String>,
    pub state: ConnectionState,
    /// Reconnecting: when the next attempt starts (unix ms).
    #[ts(type = "number | null")]
    pub next_attempt_at: Option<u64>,
    pub attempt: Option<u32>,
    pub last_error: Option<String>,
    /// Commands recorded but not yet confirmed by the broker.
    pub outbox_waiting: u64,
    /// The history in use, and its file.
    pub history: HistoryKind,
    pub history_path: String,
    /// Set while the history cannot be written (the service retries; nothing is acknowledged
    /// to the broker or sent meanwhile).
    pub history_error: Option<String>,
}

impl ConnectionStatus {
    fn offline(outbox_waiting: u64) -> Self {
        Self {
            history: HistoryKind::Real,
            history_path: String::new(),
            history_error: None,
            profile_id: None,
            profile_name: None,
            broker_url: None,
            state: ConnectionState::Disconnected,
            next_attempt_at: None,
            attempt: None,
            last_error: None,
            outbox_waiting,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, BoundaryError>>;

enum Request {
    Profiles(Reply<Vec<BrokerProfile>>),
    Save(Box<ProfileInput>, Reply<BrokerProfile>),
    Remove(String, Reply<()>),
    Connect(String, Reply<ConnectionStatus>),
    Disconnect(Reply<ConnectionStatus>),
}

/// The handle commands use: cheap to clone; the task ends when the last handle is dropped.
#[derive(Clone)]
pub struct Connection {
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<ConnectionStatus>,
    service: watch::Receiver<Option<Arc<Service>>>,
    events: broadcast::Sender<ServiceEvent>,
    histories: Histories,
    kind: watch::Receiver<HistoryKind>,
}

impl Connection {
    /// Starts the task with the service offline on the real history; `connect` goes online.
    pub fn start(histories: Histories, profiles: ProfileStore, demo: DemoWatch) -> Self {
        let (requests_tx, requests) = mpsc::channel(32);
        let (status_tx, status) = watch::channel(ConnectionStatus::offline(0));
        let (service_tx, service) = watch::channel(None);
        let (kind_tx, kind) = watch::channel(HistoryKind::Real);
        let (events, _) = broadcast::channel(EVENT_ROOM);
        let owner = Owner {
            histories: histories.clone(),
            kind: kind_tx,
            identity: None,
            profiles,
            demo,
            status: status_tx,
            service: service_tx,
            events: events.clone(),
            current: None,
            profile: None,
            reader: None,
            history_error: None,
        };
        tauri::async_runtime::spawn(owner.run(requests));
        Self {
            requests: requests_tx,
            status,
            service,
            events,
            histories,
            kind,
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, BoundaryError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || BoundaryError::unavailable("the connection task has stopped");
        self.requests.send(make(tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    pub async fn profiles(&self) -> Result<Vec<BrokerProfile>, BoundaryError> {
        self.ask(Request::Profiles).await
    }

    pub async fn save_profile(&self, input: ProfileInput) -> Result<BrokerProfile, BoundaryError> {
        self.ask(|tx| Request::Save(Box::new(input), tx)).await
    }

    pub async fn remove_profile(&self, id: String) -> Result<(), BoundaryError> {
        self.ask(|tx| Request::Remove(id, tx)).await
    }

    pub async fn connect(&self, profile_id: String) -> Result<ConnectionStatus, BoundaryError> {
        self.ask(|tx| Request::Connect(profile_id, tx)).await
    }

    pub async fn disconnect(&self) -> Result<ConnectionStatus, BoundaryError> {
        self.ask(Request::Disconnect).await
    }

    pub fn status(&self) -> watch::Receiver<ConnectionStatus> {
        self.status.clone()
    }

    /// Every service notice from now on, across reconnects.
    pub fn events(&self) -> broadcast::Receiver<ServiceEvent> {
        self.events.subscribe()
    }

    /// The history in use now: the demo's while the demo profile is chosen, else the real one.
    pub fn history_path(&self) -> PathBuf {
        self.histories.path(*self.kind.borrow()).to_path_buf()
    }

    /// Which history is in use, as it changes.
    pub fn history_kind(&self) -> watch::Receiver<HistoryKind> {
        self.kind.clone()
    }

    /// The running service (online or offline); waits briefly while it is being swapped.
    pub async fn service(&self) -> Result<Arc<Service>, BoundaryError> {
        let mut watch = self.service.clone();
        let wait = watch.wait_for(Option::is_some);
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(Ok(service)) => Ok(service.clone().expect("waited for Some")),
            _ => Err(BoundaryError::unavailable(
                "the Storefleet service is not running; try again in a moment",
            )),
        }
    }
}

/// The task's state.
struct Owner {
    histories: Histories,
    /// The history in use; the service runs on it.
    kind: watch::Sender<HistoryKind>,
    /// The broker deployments made now are for: the profile chosen last (also while
    /// offline, so that a deployment made offline waits for that broker).
    identity: Option<BrokerIdentity>,
    profiles: ProfileStore,
    demo: DemoWatch,
    status: watch::Sender<ConnectionStatus>,
    service: watch::Sender<Option<Arc<Service>>>,
    events: broadcast::Sender<ServiceEvent>,
    current: Option<Arc<Service>>,
    /// The profile the current service connects with; `None` offline.
    profile: Option<BrokerProfile>,
    /// For counting the outbox.
    reader: Option<History>,
    /// The last history write failure, until a write succeeds.
    history_error: Option<String>,
}

impl Owner {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        if let Err(e) = self.swap(None, None, HistoryKind::Real).await {
            tracing::error!(error = %e, "the offline service could not start");
        }
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut notices = self.events.subscribe();
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(r) => self.handle(r).await,
                    None => break,
                },
                notice = notices.recv() => match notice {
                    Ok(ServiceEvent::HistoryFailed { error, .. }) => {
                        self.history_error = Some(error);
                        self.refresh();
                    }
                    Ok(ServiceEvent::HistoryRecovered) => {
                        self.history_error = None;
                        self.refresh();
                    }
                    _ => {}
                },
                _ = tick.tick() => self.refresh(),
            }
        }
        self.retire().await;
    }

    async fn handle(&mut self, request: Request) {
        match request {
            Request::Profiles(reply) => {
                let _ = reply.send(self.list().await);
            }
            Request::Save(input, reply) => {
                let saved = self.profiles.save(*input);
                // A refused login is not retried until its profile changes: now it has.
                if let Ok(p) = &saved
                    && self.refused(&p.id)
                    && let Err(e) = self.connect(&p.id).await
                {
                    tracing::warn!(error = %e, "cannot reconnect with the changed profile");
                }
                let _ = reply.send(saved.map_err(BoundaryError::from));
            }
            Request::Remove(id, reply) => {
                let result = if self.profile.as_ref().is_some_and(|p| p.id == id) {
                    Err(BoundaryError::new(
                        ErrorCode::Conflict,
                        "disconnect before removing the profile in use",
                    ))
                } else {
                    self.profiles.remove(&id).map_err(BoundaryError::from)
                };
                let _ = reply.send(result);
            }
            Request::Connect(id, reply) => {
                let result = self.connect(&id).await;
                let _ = reply.send(result);
            }
            Request::Disconnect(reply) => {
                // Offline on the same history, for the same broker.
                let kind = *self.kind.borrow();
                let result = self.swap(None, None, kind).await;
                let _ = reply.send(result);
            }
        }
    }

    /// Whether the current service is for profile `id` and its login was refused.
    fn refused(&self, id: &str) -> bool {
        self.profile.as_ref().is_some_and(|p| p.id == id)
            && matches!(
                self.current.as_ref().and_then(|s| s.link_state()),
                Some(LinkState::Refused { .. })
            )
    }

    async fn demo_profile(mut demo: DemoWatch) -> Option<BrokerProfile> {
        let wait = demo.wait_for(Option::is_some);
        let info = tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .ok()?
            .ok()?;
        match info.as_ref()? {
            Ok(info) => BrokerProfile::demo(&info.broker_url).ok(),
            Err(_) => None,
        }
    }

    async fn list(&mut self) -> Result<Vec<BrokerProfile>, BoundaryError> {
        let mut all: Vec<BrokerProfile> = Self::demo_profile(self.demo.clone())
            .await
            .into_iter()
            .collect();
        all.extend(self.profiles.list()?);
        Ok(all)
    }

    async fn connect(&mut self, id: &str) -> Result<ConnectionStatus, BoundaryError> {
        let (profile, password, kind) = if id == DEMO_PROFILE_ID {
            let demo = Self::demo_profile(self.demo.clone())
                .await
                .ok_or_else(|| BoundaryError::unavailable("demo mode is not running"))?;
            (demo, None, HistoryKind::Demo)
        } else {
            let profile = self.profiles.get(id)?;
            let password = self.profiles.password(&profile)?;
            (profile, password, HistoryKind::Real)
        };
        let link = profile.link_profile()?;
        let prefix = profile.prefix()?;
        self.identity = Some(
            match kind {
                // The demo broker moves to a new port each run; its deployments go on all the same.
                HistoryKind::Demo => BrokerIdentity::demo(),
                HistoryKind::Real => BrokerIdentity::new(&link.broker, &prefix),
            }
            .with_profile(profile.name.clone()),
        );
        self.swap(Some(profile), password, kind).await
    }

    /// Stops the current service and starts one for `profile` (offline for `None`) on the
    /// history of `kind`.
    async fn swap(
        &mut self,
        profile: Option<BrokerProfile>,
        password: Option<Password>,
        kind: HistoryKind,
    ) -> Result<ConnectionStatus, BoundaryError> {
        self.retire().await;
        if *self.kind.borrow() != kind {
            self.kind.send_replace(kind);
            self.reader = None;
        }
        let broker = match &profile {
            Some(p) => Some(BrokerSettings {
                profile: p.link_profile()?,
                password,
                inflight: DEFAULT_INFLIGHT,
            }),
            None => None,
        };
        let topic_prefix = match &profile {
            Some(p) => p.prefix()?,
            None => TopicPrefix::default(),
        };
        let config = ServiceConfig {
            history: self.histories.path(kind).to_path_buf(),
            broker,
            topic_prefix,
            identity: self.identity.clone(),
        };
        let started = Service::start(config).await;
        let mut service = match started {
            Ok(s) => s,
            Err(e) if profile.is_some() => {
                // Keep working offline; tell the window why the connection failed.
                let error = BoundaryError::from(e);
                tracing::warn!(error = %error, "cannot connect; staying offline");
                let _ = Box::pin(self.swap(None, None, kind)).await;
                return Err(error);
            }
            Err(e) => return Err(e.into()),
        };
        let mut notices = service.subscribe();
        let events = self.events.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(event) => {
                        let _ = events.send(event);
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "window feed fell behind the service");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        match &profile {
            Some(p) => tracing::info!(profile = %p.id, broker = %p.url(), "connecting"),
            None => tracing::info!("offline"),
        }
        let service = Arc::new(service);
        self.current = Some(Arc::clone(&service));
        self.profile = profile;
        self.service.send_replace(Some(service));
        self.refresh();
        Ok(self.status.borrow().clone())
    }

    /// Takes the service away from commands, lets their calls finish, and shuts it down
    /// (committing what is staged).
    async fn retire(&mut self) {
        self.service.send_replace(None);
        self.profile = None;
        let Some(mut service) = self.current.take() else {
            return;
        };
        for _ in 0..250 {
            match Arc::try_unwrap(service) {
                Ok(s) => {
                    s.shutdown().await;
                    return;
                }
                Err(shared) => {
                    service = shared;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        tracing::warn!("a command still held the service after 5 s; stopping it anyway");
    }

    fn outbox_waiting(&mut self) -> u64 {
        if self.reader.is_none() {
            self.reader = History::open(self.histories.path(*self.kind.borrow())).ok();
        }
        match self.reader.as_ref().map(History::outbox_waiting) {
            Some(Ok(n)) => n as u64,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot count the outbox");
                self.reader = None;
                self.status.borrow().outbox_waiting
            }
            None => 0,
        }
    }

    fn refresh(&mut self) {
        let outbox_waiting = self.outbox_waiting();
        let link = self.current.as_ref().and_then(|s| s.link_state());
        let mut next = status_of(
            self.profile.as_ref(),
            link,
            outbox_waiting,
            &self.status.borrow(),
        );
        let kind = *self.kind.borrow();
        next.history = kind;
        next.history_path = self.histories.path(kind).display().to_string();
        next.history_error.clone_from(&self.history_error);
        self.status.send_if_modified(|s| {
            if *s == next {
                false
            } else {
                *s = next;
                true
            }
        });
    }
}

/// The status for a profile (if any) and the link's state; `previous` keeps the countdown's
/// target fixed while the same attempt is pending.
fn status_of(
    profile: Option<&BrokerProfile>,
    link: Option<LinkState>,
    outbox_waiting: u64,
    previous: &ConnectionStatus,
) -> ConnectionStatus {
    let mut status = ConnectionStatus::offline(outbox_waiting);
    let Some(profile) = profile else {
        return status;
    };
    status.profile_id = Some(profile.id.clone());
    status.profile_name = Some(profile.name.clone());
    status.broker_url = Some(profile.url());
    match link {
        None | Some(LinkState::Disconnected) => {}
        Some(LinkState::Connecting) => status.state = ConnectionState::Connecting,
        Some(LinkState::Connected { .. }) => status.state = ConnectionState::Connected,
        Some(LinkState::Refused { reason }) => {
            status.state = ConnectionState::Refused;
            status.last_error = Some(reason);
        }
        Some(LinkState::Reconnecting {
            attempt,
            retry_in,
            error,
        }) => {
            status.state = ConnectionState::Reconnecting;
            let same_attempt = previous.state == ConnectionState::Reconnecting
                && previous.attempt == Some(attempt)
                && previous.profile_id == status.profile_id;
            status.next_attempt_at = match previous.next_attempt_at {
                Some(at) if same_attempt => Some(at),
                _ => Some(now_millis().after(retry_in).as_u64()),
            };
            status.attempt = Some(attempt);
            status.last_error = Some(error);
        }
    }
    status
}

/// Demo mode is the default: connect to the built-in broker once it runs.
pub fn auto_connect_demo(connection: Connection, demo: DemoWatch) {
    tauri::async_runtime::spawn(async move {
        let mut demo = demo;
        let running = match demo.wait_for(Option::is_some).await {
            Ok(info) => matches!(info.as_ref(), Some(Ok(_))),
            Err(_) => false,
        };
        if !running {
            return;
        }
        if let Err(e) = connection.connect(DEMO_PROFILE_ID.to_owned()).await {
            tracing::error!(error = %e, "cannot connect to the demo broker");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> BrokerProfile {
        BrokerProfile::demo("mqtt://127.0.0.1:1883").unwrap()
    }

    #[test]
    fn offline_without_a_profile_and_countdown_fixed_per_attempt() {
        let none = status_of(None, None, 3, &ConnectionStatus::offline(0));
        assert_eq!(none.state, ConnectionState::Disconnected);
        assert_eq!(none.outbox_waiting, 3);

        let reconnecting = |attempt| LinkState::Reconnecting {
            attempt,
            retry_in: Duration::from_secs(2),
            error: "connection refused".into(),
        };
        let p = profile();
        let first = status_of(Some(&p), Some(reconnecting(1)), 0, &none);
        assert_eq!(first.state, ConnectionState::Reconnecting);
        assert_eq!(first.attempt, Some(1));
        assert_eq!(first.last_error.as_deref(), Some("connection refused"));
        let at = first.next_attempt_at.unwrap();
        let now = now_millis().as_u64();
        assert!(at > now && at <= now + 2_000, "{at} vs {now}");

        std::thread::sleep(Duration::from_millis(5));
        let again = status_of(Some(&p), Some(reconnecting(1)), 0, &first);
        assert_eq!(
            again.next_attempt_at,
            Some(at),
            "same attempt, same countdown"
        );
        let next = status_of(Some(&p), Some(reconnecting(2)), 0, &again);
        assert_ne!(next.next_attempt_at, Some(at));

        let up = status_of(
            Some(&p),
            Some(LinkState::Connected {
                session_present: false,
            }),
            0,
            &next,
        );
        assert_eq!(up.state, ConnectionState::Connected);
        assert_eq!(up.broker_url.as_deref(), Some("mqtt://127.0.0.1:1883"));
        assert_eq!(up.next_attempt_at, None);
    }

    #[test]
    fn a_refused_login_is_terminal_with_its_reason() {
        let p = profile();
        let refused = LinkState::Refused {
            reason: "the broker refused the connection: bad user name or password".into(),
        };
        let status = status_of(Some(&p), Some(refused), 2, &ConnectionStatus::offline(0));
        assert_eq!(status.state, ConnectionState::Refused);
        assert_eq!(
            status.next_attempt_at, None,
            "no countdown: nothing is retried"
        );
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains("bad user name"),
            "{status:?}"
        );
        assert_eq!(status.outbox_waiting, 2);
    }
}
