//! The MQTT session with the broker (DESIGN.md sections 3, 5 and 7): connect over TCP or TLS,
//! subscribe to both topic families with QoS 1, reconnect with backoff, publish with QoS 1 and
//! report each PUBACK against the caller's id, deliver inbound messages for the caller to
//! acknowledge once recorded.
//!
//! Two tasks, both owned by [`Link`] and cancelled when it is dropped:
//! - the poller drives rumqttc's event loop and nothing else (`poller.rs`);
//! - the session decides what is sent and reports what happened (`session.rs`).
//!
//! Decisions the issue left open:
//! - Packet ids: rumqttc numbers publishes; the link binds each number to the caller's id from
//!   rumqttc's own events, on a fresh event loop per connection (`outbound.rs`). Resending
//!   after a reconnect is done by the link, so nothing is lost when the broker drops the
//!   session and nothing is reported twice.
//! - Inbound durability: manual acks. A QoS 1 message is PUBACKed only when the caller calls
//!   [`AckToken::ack`], after recording it; until then the broker keeps it. Note that a
//!   broker's in-flight window (mosquitto's `max_inflight_messages`, 20 by default) caps how
//!   many messages can await the caller's ack, so the recorder should ack promptly.
//! - Packet size: the incoming limit is MQTT's maximum, so no message can turn into a
//!   connection error (and then a redelivery loop); size limits are the protocol layer's.
//! - Backpressure: events reach the caller through a bounded channel. When the caller falls
//!   behind, the session stops taking packets from the poller, the poller stops polling, and
//!   the socket stops being read: the broker holds what it has not delivered (QoS 1 messages
//!   stay queued for the session) instead of this process's memory. Keep-alive pings pause
//!   with it; a stall longer than 1.5 keep-alives costs a reconnect, never a message.
//! - Bodies larger than `max_body` are passed on as an excerpt with their size and MD5.
//! - A refused login (CONNACK "bad user name or password" or "not authorised") and a failed TLS
//!   handshake are final: the same settings fail the same way, so the link reports
//!   [`LinkState::Refused`] and stops trying until it is started again.

mod address;
mod backoff;
mod config;
mod events;
mod outbound;
mod poller;
mod publisher;
mod session;
mod tls;

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use address::{AddressError, BrokerAddress, MQTT_PORT, MQTTS_PORT, Scheme};
pub use backoff::{FIRST_RETRY, MAX_RETRY};
pub use config::{
    BrokerProfile, ClientCertFiles, ConfigError, DEFAULT_INFLIGHT, DEFAULT_KEEP_ALIVE, LinkConfig,
    MAX_PACKET_BYTES, Password, TlsFiles,
};
pub use events::{
    AckToken, EXCERPT_BYTES, InboundMessage, LinkEvent, LinkState, Oversize, StateWatch,
};
#[cfg(test)]
pub(crate) use publisher::PublishRequest;
pub use publisher::{PublishError, Publisher};
pub use tls::TlsError;

use crate::protocol::subscription_filters;
use events::Control;

/// Room in rumqttc's request queue beyond the in-flight publishes, for acks.
const ACK_ROOM: usize = 1024;
/// Events waiting for the caller, and packets waiting for the session, at most.
pub const EVENT_ROOM: usize = 1024;
/// How long [`Link::shutdown`] waits for the session to say goodbye to the broker.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the broker link must be started inside a Tokio runtime")]
    NoRuntime,
}

/// The running link. Dropping it stops both tasks at once (the broker sees the connection
/// close; a persistent session survives that); [`Link::shutdown`] says goodbye first.
pub struct Link {
    publisher: Publisher,
    control: mpsc::UnboundedSender<Control>,
    state: StateWatch,
    tasks: Tasks,
}

impl Link {
    /// Checks `config`, reads its TLS files, and starts connecting in the background. Events
    /// arrive on the returned receiver, which the caller must keep draining.
    pub fn start(config: LinkConfig) -> Result<(Self, mpsc::Receiver<LinkEvent>), LinkError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| LinkError::NoRuntime)?;
        let tls = config.validate()?;
        let (wire_tx, wire_rx) = mpsc::channel(EVENT_ROOM);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (publish_tx, publish_rx) = mpsc::channel(publisher::QUEUE);
        let (events_tx, events_rx) = mpsc::channel(EVENT_ROOM);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let _ = events_tx.try_send(LinkEvent::State(LinkState::Connecting));

        let poller = poller::Poller {
            options: config.mqtt_options(tls),
            network: config.network_options(),
            queue_capacity: usize::from(config.inflight) + ACK_ROOM,
            wire: wire_tx,
        };
        let session = session::Session::new(
            subscription_filters(&config.topic_prefix),
            session::marker_topic(config.topic_prefix.as_str(), &config.client_id),
            config.inflight,
            config.max_body,
            events_tx,
            state_tx,
            control_tx.clone(),
        );
        let inputs = session::Inputs {
            wire: wire_rx,
            control: control_rx,
            publishes: publish_rx,
        };
        let tasks = Tasks {
            poller: runtime.spawn(poller.run()),
            session: Some(runtime.spawn(session.run(inputs))),
        };
        let link = Self {
            publisher: Publisher::new(publish_tx),
            control: control_tx,
            state: StateWatch::new(state_rx),
            tasks,
        };
        Ok((link, events_rx))
    }

    /// A handle for publishing from other tasks; it stops working when the link is dropped.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    /// Queues a QoS 1 publish; see [`Publisher::publish`].
    pub async fn publish(
        &self,
        id: u64,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.publisher.publish(id, topic, payload).await
    }

    /// The connection state, for display.
    pub fn state(&self) -> StateWatch {
        self.state.clone()
    }

    /// Sends the acks already given and a DISCONNECT, reports `Disconnected`, then stops.
    pub async fn shutdown(mut self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.control.send(Control::Shutdown(done_tx)).is_ok() {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, done_rx).await;
        }
        if let Some(session) = self.tasks.session.take() {
            // Finished already, or cut short by the timeout; either way it is done with.
            session.abort();
            let _ = session.await;
        }
    }
}

/// The link's tasks, aborted together when the link goes.
struct Tasks {
    poller: JoinHandle<()>,
    session: Option<JoinHandle<()>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.poller.abort();
        if let Some(session) = &self.session {
            session.abort();
        }
    }
}
