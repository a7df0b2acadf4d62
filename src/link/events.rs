//! What the link reports: connection state, PUBACKs of our publishes, inbound messages.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

/// The connection as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected and subscribed: publishes flow. `session_present` tells whether the broker
    /// kept the persistent session (and so delivers what arrived while we were away).
    Connected { session_present: bool },
    /// The connection failed or dropped; attempt `attempt` starts after `retry_in`.
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        error: String,
    },
    /// The broker refused the login (bad user name or password, not authorised) or the TLS
    /// handshake failed. Terminal: the link does not retry; start it again with new settings.
    Refused { reason: String },
    /// The link was shut down.
    Disconnected,
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }
}

/// One thing that happened on the link, in order.
#[derive(Debug)]
pub enum LinkEvent {
    State(LinkState),
    /// The broker acknowledged (PUBACK) the publish the caller sent with this id. Reported
    /// exactly once per publish, whatever reconnects happened in between.
    Published {
        id: u64,
    },
    Message(InboundMessage),
    /// The broker refused a subscription (an ACL, typically): replies on it will not arrive.
    SubscribeRefused {
        filter: String,
    },
    /// A marker the link published to its own session came back (`session.rs`). When
    /// `current`, it is this connection's: every message the broker held for the session
    /// before it has been delivered. Ack it like a message, after those before it.
    BacklogMark {
        ack: AckToken,
        current: bool,
    },
    /// The broker refused the marker's subscription: the end of the backlog cannot be told.
    BacklogUnmarked,
}

/// How many leading bytes of an oversized body are kept.
pub const EXCERPT_BYTES: usize = 2_048;

/// What identifies a body too large to pass on whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversize {
    pub size: u64,
    /// Lowercase hex MD5 of the whole body.
    pub md5: String,
}

/// A message from the broker. Its [`AckToken`] must be acked once the message is recorded:
/// until then the broker keeps it and redelivers it after a reconnect.
pub struct InboundMessage {
    pub topic: String,
    /// Raw bytes, of any content: validation is the protocol layer's job. Only the first
    /// [`EXCERPT_BYTES`] when `oversize` is set.
    pub payload: Bytes,
    /// Set when the body was larger than the link's `max_body`.
    pub oversize: Option<Oversize>,
    /// The broker marked it as a redelivery.
    pub duplicate: bool,
    pub retained: bool,
    pub ack: AckToken,
}

impl fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundMessage")
            .field("topic", &self.topic)
            .field("payload_bytes", &self.payload.len())
            .field("oversize", &self.oversize)
            .field("duplicate", &self.duplicate)
            .field("retained", &self.retained)
            .finish()
    }
}

/// Sent from tokens and the handle to the session task.
#[derive(Debug)]
pub(crate) enum Control {
    Ack { connection: u64, pkid: u16 },
    Shutdown(tokio::sync::oneshot::Sender<()>),
}

/// Acknowledges one inbound message to the broker (PUBACK). Call [`AckToken::ack`] after the
/// message is durably recorded; dropping the token without acking leaves the message with the
/// broker, which redelivers it on the next connection of the persistent session. Acks are best
/// sent in the order the messages arrived (MQTT asks for it; the history writer does so).
pub struct AckToken {
    connection: u64,
    /// Zero for QoS 0 messages, which take no acknowledgement.
    pkid: u16,
    control: mpsc::UnboundedSender<Control>,
}

impl AckToken {
    pub(crate) fn new(connection: u64, pkid: u16, control: mpsc::UnboundedSender<Control>) -> Self {
        Self {
            connection,
            pkid,
            control,
        }
    }

    /// A QoS 0 message's token, which acknowledges nothing: for tests that play the link.
    #[cfg(test)]
    pub(crate) fn qos0() -> Self {
        let (control, _) = mpsc::unbounded_channel();
        Self::new(0, 0, control)
    }

    /// Never blocks. An ack for a connection that has since dropped is discarded: its packet id
    /// means nothing on the new connection, and the broker redelivers the message instead.
    pub fn ack(self) {
        if self.pkid != 0 {
            let _ = self.control.send(Control::Ack {
                connection: self.connection,
                pkid: self.pkid,
            });
        }
    }
}

impl fmt::Debug for AckToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckToken")
            .field("connection", &self.connection)
            .field("pkid", &self.pkid)
            .finish()
    }
}

/// The current [`LinkState`], for a window that shows it. Reads `Disconnected` once the link
/// is gone.
#[derive(Debug, Clone)]
pub struct StateWatch(watch::Receiver<LinkState>);

impl StateWatch {
    pub(crate) fn new(receiver: watch::Receiver<LinkState>) -> Self {
        Self(receiver)
    }

    pub fn current(&self) -> LinkState {
        match self.0.has_changed() {
            Ok(_) => self.0.borrow().clone(),
            Err(_) => LinkState::Disconnected,
        }
    }

    /// Waits for the next change and returns the new state.
    pub async fn changed(&mut self) -> LinkState {
        match self.0.changed().await {
            Ok(()) => self.0.borrow_and_update().clone(),
            Err(_) => LinkState::Disconnected,
        }
    }

    /// Waits until the state satisfies `condition` (checking the current one first).
    pub async fn wait_for(&mut self, mut condition: impl FnMut(&LinkState) -> bool) -> LinkState {
        match self.0.wait_for(|state| condition(state)).await {
            Ok(state) => state.clone(),
            Err(_) => LinkState::Disconnected,
        }
    }
}
