//! The simulated fleet: every controller behind ONE MQTT connection.
//!
//! One task polls the connection and dispatches each command to its controller (never
//! awaiting a publish: that would deadlock once the request channel fills); replies go
//! through an unbounded queue to a second task that feeds them to the client, in order.
//! Updates run as tokio tasks, one per update in progress, not per controller.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::protocol::{
    Encoded, Envelope, Id, TopicAddress, TopicKind, decode, encode, subscription_filter,
};

use super::behaviour::{Behaviour, SimConfig};
use super::controller::{self, Controller, ControllerStatus};
use super::download::Downloader;
use super::mqtt::{BrokerUrl, BrokerUrlError, REQUEST_CAPACITY, fleet_options};
use super::names::ControllerInfo;
use super::rng::SimRng;
use super::stats::{Counters, FleetStats};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    BrokerUrl(#[from] BrokerUrlError),
    #[error("the fleet lists controller {store_id}/{controller_id} twice")]
    Duplicate { store_id: Id, controller_id: Id },
    #[error("cannot set up firmware downloads: {0}")]
    Http(String),
    #[error("cannot reach the broker at {url} within {secs}s: {reason}")]
    Unreachable {
        url: String,
        secs: u64,
        reason: String,
    },
    #[error("no simulated controller {store_id}/{controller_id}")]
    UnknownController { store_id: Id, controller_id: Id },
}

/// What the controllers share: settings, the inventory, the outbound queue, counters.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub controllers: Vec<Controller>,
    index: HashMap<(Id, Id), usize>,
    pub downloader: Downloader,
    outbound: mpsc::UnboundedSender<Encoded>,
    pub stats: Counters,
}

impl Shared {
    /// Queues a reply for publishing (QoS 1, not retained); never blocks.
    pub fn publish(&self, envelope: Envelope) {
        match encode(&envelope, &self.config.prefix) {
            Ok(encoded) => {
                if self.outbound.send(encoded).is_ok() {
                    self.stats.queued.inc();
                }
            }
            Err(e) => tracing::warn!(error = %e, "simulated reply not encodable"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Connecting(String),
    Subscribed,
}

/// A running simulated fleet. Dropping it stops the connection and every update in
/// progress at once; [`Fleet::shutdown`] disconnects politely first.
pub struct Fleet {
    shared: Arc<Shared>,
    client: AsyncClient,
    client_id: String,
    stores: u64,
    poll: JoinHandle<()>,
    publisher: JoinHandle<()>,
}

impl Fleet {
    /// Connects to `broker` (`mqtt://host:port`), subscribes, and returns once the
    /// controllers are listening.
    pub async fn start(
        broker: &str,
        controllers: Vec<ControllerInfo>,
        config: SimConfig,
    ) -> Result<Self, FleetError> {
        let url: BrokerUrl = broker.parse()?;
        let mut index = HashMap::with_capacity(controllers.len());
        let mut stores = HashSet::new();
        let mut sims = Vec::with_capacity(controllers.len());
        for (i, info) in controllers.into_iter().enumerate() {
            let key = (info.store_id.clone(), info.controller_id.clone());
            if index.insert(key, i).is_some() {
                return Err(FleetError::Duplicate {
                    store_id: info.store_id,
                    controller_id: info.controller_id,
                });
            }
            stores.insert(info.store_id.clone());
            // Each controller draws from its own stream: reproducible whatever the timing.
            let mut rng = SimRng::derive(config.seed, (1 << 32) + i as u64);
            let behaviour = Behaviour {
                silent: rng.chance(config.silent_rate),
                ..Behaviour::default()
            };
            sims.push(Controller::new(
                info,
                config.initial_version.clone(),
                behaviour,
                rng,
            ));
        }
        let downloader = Downloader::new(config.download_concurrency).map_err(FleetError::Http)?;
        let client_id = format!("storefleet-sim-{}", &Id::new_v4().as_str()[..8]);
        let (client, eventloop) =
            AsyncClient::new(fleet_options(&url, &client_id), REQUEST_CAPACITY);
        let (outbound, outbound_rx) = mpsc::unbounded_channel();
        let connect_timeout = config.connect_timeout;
        let shared = Arc::new(Shared {
            config,
            controllers: sims,
            index,
            downloader,
            outbound,
            stats: Counters::default(),
        });
        let (link_tx, mut link_rx) = watch::channel(Link::Connecting("not yet tried".into()));
        let poll = tokio::spawn(poll(eventloop, client.clone(), shared.clone(), link_tx));
        let publisher = tokio::spawn(publish(outbound_rx, client.clone(), shared.clone()));
        let fleet = Self {
            shared,
            client,
            client_id,
            stores: stores.len() as u64,
            poll,
            publisher,
        };
        let subscribed = link_rx.wait_for(|l| *l == Link::Subscribed);
        if tokio::time::timeout(connect_timeout, subscribed)
            .await
            .is_err()
        {
            let reason = match &*link_rx.borrow() {
                Link::Connecting(reason) => reason.clone(),
                Link::Subscribed => String::new(),
            };
            return Err(FleetError::Unreachable {
                url: url.to_string(),
                secs: connect_timeout.as_secs(),
                reason,
            });
        }
        Ok(fleet)
    }

    /// The simulated controllers, in inventory order.
    pub fn controllers(&self) -> impl ExactSizeIterator<Item = &ControllerInfo> {
        self.shared.controllers.iter().map(|c| &c.info)
    }

    /// The MQTT client id the fleet connected with.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn seed(&self) -> u64 {
        self.shared.config.seed
    }

    fn controller(&self, store_id: &Id, controller_id: &Id) -> Result<&Controller, FleetError> {
        self.shared
            .index
            .get(&(store_id.clone(), controller_id.clone()))
            .map(|&i| &self.shared.controllers[i])
            .ok_or_else(|| FleetError::UnknownController {
                store_id: store_id.clone(),
                controller_id: controller_id.clone(),
            })
    }

    pub fn status(
        &self,
        store_id: &Id,
        controller_id: &Id,
    ) -> Result<ControllerStatus, FleetError> {
        Ok(self.controller(store_id, controller_id)?.status())
    }

    /// The firmware version the controller runs now.
    pub fn firmware_version(
        &self,
        store_id: &Id,
        controller_id: &Id,
    ) -> Result<String, FleetError> {
        Ok(self.status(store_id, controller_id)?.firmware_version)
    }

    /// Replaces the controller's overrides (silent, forced outcome, reboot).
    pub fn set_behaviour(
        &self,
        store_id: &Id,
        controller_id: &Id,
        behaviour: Behaviour,
    ) -> Result<(), FleetError> {
        self.controller(store_id, controller_id)?
            .set_behaviour(behaviour);
        Ok(())
    }

    /// Takes the controller off the network for `duration`: commands sent meanwhile are
    /// lost; an update in progress goes on and reports once the controller is back.
    pub fn go_offline(
        &self,
        store_id: &Id,
        controller_id: &Id,
        duration: Duration,
    ) -> Result<(), FleetError> {
        self.controller(store_id, controller_id)?
            .go_offline(duration);
        Ok(())
    }

    pub fn stats(&self) -> FleetStats {
        self.shared
            .stats
            .snapshot(self.stores, self.shared.controllers.len() as u64)
    }

    /// Stops every update, lets queued replies go out (up to `grace`), and disconnects.
    pub async fn shutdown(self, grace: Duration) -> FleetStats {
        for c in &self.shared.controllers {
            c.abort_job();
        }
        let stats = &self.shared.stats;
        let flushed = async {
            while stats.queued.get() > stats.published.get() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The event loop ends itself once it has sent the DISCONNECT.
            let _ = self.client.disconnect().await;
            while !self.poll.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = tokio::time::timeout(grace, flushed).await;
        self.stats()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.poll.abort();
        self.publisher.abort();
        for c in &self.shared.controllers {
            c.abort_job();
        }
    }
}

/// Polls the connection forever: reconnects with backoff, resubscribes when the broker
/// forgot the session, and dispatches every inbound publish.
async fn poll(
    mut eventloop: EventLoop,
    client: AsyncClient,
    shared: Arc<Shared>,
    link: watch::Sender<Link>,
) {
    let filter = subscription_filter(&shared.config.prefix, TopicKind::Action);
    let mut backoff = Duration::from_millis(100);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => dispatch(&shared, &p.topic, &p.payload),
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(100);
                if !ack.session_present {
                    let (client, filter) = (client.clone(), filter.clone());
                    // Not awaited here: the request channel may be full of replies.
                    tokio::spawn(async move { client.subscribe(filter, QoS::AtLeastOnce).await });
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                link.send_replace(Link::Subscribed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                if *link.borrow() == Link::Subscribed {
                    tracing::warn!(error = %e, "simulated fleet lost the broker; reconnecting");
                }
                link.send_replace(Link::Connecting(e.to_string()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Routes one inbound publish to its controller; ignores anything else, whatever it holds.
fn dispatch(shared: &Arc<Shared>, topic: &str, body: &[u8]) {
    // The topic is checked before the body is parsed: most traffic on a shared broker is
    // for other controllers.
    let Ok(address) = TopicAddress::parse(topic, &shared.config.prefix) else {
        shared.stats.not_ours.inc();
        return;
    };
    let key = (address.store_id, address.controller_id);
    let Some(&idx) = shared.index.get(&key) else {
        shared.stats.not_ours.inc();
        return;
    };
    if address.kind != TopicKind::Action {
        shared.stats.not_ours.inc();
        return;
    }
    match decode(topic, body, &shared.config.prefix) {
        Ok(inbound) if inbound.envelope.event_type().is_command() => {
            controller::handle_command(shared, idx, inbound.envelope);
        }
        Ok(_) => {} // a reply: our own echo, or another simulator's
        Err(rejection) => {
            shared.stats.malformed.inc();
            tracing::debug!(%topic, reason = %rejection, "simulated controller ignored a message");
        }
    }
}

/// Feeds queued replies to the client, in order; ends when the client is gone.
async fn publish(
    mut outbound: mpsc::UnboundedReceiver<Encoded>,
    client: AsyncClient,
    shared: Arc<Shared>,
) {
    while let Some(message) = outbound.recv().await {
        let sent = client
            .publish(message.topic, QoS::AtLeastOnce, false, message.body)
            .await;
        if sent.is_err() {
            return;
        }
        shared.stats.published.inc();
    }
}
