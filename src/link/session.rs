//! The session task: the one place that decides what goes to the broker and what the caller
//! hears.
//!
//! It owns the held publishes ([`Outbound`]), the acks waiting to go out, and the client of the
//! current connection. It is the only writer to rumqttc's request queue and never waits on it
//! (`try_*` only): whatever does not fit stays here and is retried after the next event from
//! the poller, each of which means rumqttc has made progress.
//!
//! Per connection: when the broker did not keep the session, subscribe to both topic families
//! and hold publishes until the SUBACK, so that no reply to a command can arrive before the
//! subscription exists. Then send everything held, oldest first.
//!
//! The end of the backlog: a broker that kept the session delivers what it held first, and
//! gives no sign when that is done. So every connection also subscribes to a topic of its own
//! session ([`marker_topic`]) and, once subscribed, publishes a fresh nonce to it, after what
//! it holds. The broker queues that message behind the ones it kept for the session, so its
//! return means they have all been delivered ([`LinkEvent::BacklogMark`]). Decided: a
//! marker not acknowledged on its connection is not sent again; one that comes back from an
//! earlier connection, or from anyone else, is acked and passed on as not current; a refused
//! subscription is reported, and the caller falls back on waiting for a quiet moment.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, Outgoing, Packet, Publish, QoS, SubAck};
use rumqttc::{SubscribeFilter, SubscribeReasonCode};
use tokio::sync::{mpsc, watch};

use super::events::{
    AckToken, Control, EXCERPT_BYTES, InboundMessage, LinkEvent, LinkState, Oversize,
};
use super::outbound::{Held, Outbound, Unexpected};
use super::poller::Wire;
use super::publisher::PublishRequest;

/// How long a graceful shutdown waits for DISCONNECT to be written.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The id under which the marker is held with the caller's publishes: its PUBACK is not
/// reported (callers number theirs from 0).
const MARKER_ID: u64 = u64::MAX;

/// The topic a session's backlog marker goes to: outside both protocol families (no
/// controller and no other Storefleet hears it), named by a hash of the client id (which
/// may hold characters a topic cannot), so that it stays one subscription per session.
pub(crate) fn marker_topic(prefix: &str, client_id: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(client_id.as_bytes());
    format!(
        "{prefix}/storefleet/sessions/{}/backlog",
        hex::encode(&digest[..8])
    )
}

/// The session's inputs.
pub(crate) struct Inputs {
    pub wire: mpsc::Receiver<Wire>,
    pub control: mpsc::UnboundedReceiver<Control>,
    pub publishes: mpsc::Receiver<PublishRequest>,
}

struct Connection {
    /// Counts connections from 1; ack tokens carry it.
    number: u64,
    client: AsyncClient,
    /// Subscriptions are in place (or kept by the broker): publishes may go out.
    ready: bool,
    /// This connection's backlog marker.
    nonce: String,
}

pub(crate) struct Session {
    filters: [String; 2],
    marker: String,
    outbound: Outbound,
    connection: Option<Connection>,
    connections: u64,
    /// Packet ids of inbound messages the caller has recorded, for the current connection.
    acks: VecDeque<u16>,
    events: mpsc::Sender<LinkEvent>,
    /// Events the caller has no room for yet. While it is full, no packet is taken from the
    /// poller (backpressure down to the socket).
    pending: VecDeque<LinkEvent>,
    /// Larger bodies go on as an excerpt.
    max_body: usize,
    state: watch::Sender<LinkState>,
    /// Cloned into every ack token.
    control: mpsc::UnboundedSender<Control>,
}

impl Session {
    pub fn new(
        filters: [String; 2],
        marker: String,
        inflight: u16,
        max_body: usize,
        events: mpsc::Sender<LinkEvent>,
        state: watch::Sender<LinkState>,
        control: mpsc::UnboundedSender<Control>,
    ) -> Self {
        Self {
            filters,
            marker,
            outbound: Outbound::new(inflight),
            connection: None,
            connections: 0,
            acks: VecDeque::new(),
            events,
            pending: VecDeque::new(),
            max_body,
            state,
            control,
        }
    }

    pub async fn run(mut self, mut inputs: Inputs) {
        let mut publishers_open = true;
        let events = self.events.clone();
        loop {
            let room = self.pending.len() < super::EVENT_ROOM;
            tokio::select! {
                // PUBACKs first: they make room for the publishes waiting below.
                biased;
                permit = events.reserve(), if !self.pending.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.pending.pop_front() {
                            permit.send(event);
                        }
                        self.hand_over();
                    }
                    // The caller is gone: what it did not take stays with the broker.
                    Err(_) => self.pending.clear(),
                },
                wire = inputs.wire.recv(), if room => match wire {
                    Some(wire) => self.on_wire(wire),
                    None => return,
                },
                Some(control) = inputs.control.recv() => match control {
                    Control::Ack { connection, pkid } => self.on_ack(connection, pkid),
                    Control::Shutdown(done) => {
                        self.shutdown(&mut inputs.wire).await;
                        let _ = done.send(());
                        return;
                    }
                },
                request = inputs.publishes.recv(),
                    if publishers_open && self.outbound.has_room() => match request {
                    Some(request) => self.accept(request, &mut inputs.publishes),
                    None => publishers_open = false,
                },
            }
            self.flush();
        }
    }

    fn accept(&mut self, first: PublishRequest, queue: &mut mpsc::Receiver<PublishRequest>) {
        let mut next = Some(first);
        while let Some(request) = next.take() {
            self.outbound.accept(Held {
                id: request.id,
                topic: request.topic,
                payload: request.payload,
            });
            if self.outbound.has_room() {
                next = queue.try_recv().ok();
            }
        }
    }

    fn on_wire(&mut self, wire: Wire) {
        match wire {
            Wire::Up {
                client,
                session_present,
            } => {
                self.connections += 1;
                self.acks.clear();
                self.outbound.connection_lost();
                // An earlier connection's marker is stale: not sent again (a broker that
                // dropped the connection over it would otherwise drop every one).
                self.outbound.forget(MARKER_ID);
                self.subscribe(&client, !session_present);
                let ready = session_present;
                self.connection = Some(Connection {
                    number: self.connections,
                    client,
                    ready,
                    nonce: uuid::Uuid::new_v4().simple().to_string(),
                });
                if ready {
                    self.set_state(LinkState::Connected { session_present });
                }
            }
            Wire::Event(event) => self.on_event(event),
            Wire::Down {
                attempt,
                retry_in,
                error,
            } => {
                self.connection = None;
                self.acks.clear();
                self.outbound.connection_lost();
                self.set_state(LinkState::Reconnecting {
                    attempt,
                    retry_in,
                    error,
                });
            }
            Wire::Refused { reason } => {
                self.connection = None;
                self.acks.clear();
                self.outbound.connection_lost();
                self.set_state(LinkState::Refused { reason });
            }
        }
    }

    /// Queues the SUBSCRIBE on a fresh connection's empty queue: both families when the
    /// broker did not keep them, and the marker's topic, last, every time (a session made
    /// before the marker existed lacks it). If even that fails, the connection is already gone
    /// and a `Down` follows.
    fn subscribe(&self, client: &AsyncClient, families: bool) {
        let families = self.filters.iter().filter(|_| families);
        let filters = families
            .chain(std::iter::once(&self.marker))
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
        if let Err(e) = client.try_subscribe_many(filters) {
            tracing::warn!(error = %e, "cannot queue the subscription");
        }
    }

    fn on_event(&mut self, event: Event) {
        let bound = match event {
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(id) = self.outbound.on_puback(ack.pkid)
                    && id != MARKER_ID
                {
                    self.emit(LinkEvent::Published { id });
                }
                Ok(())
            }
            Event::Incoming(Packet::Publish(publish)) => {
                self.on_message(publish);
                Ok(())
            }
            Event::Incoming(Packet::SubAck(suback)) => {
                self.on_suback(suback);
                Ok(())
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => self.outbound.on_outgoing_publish(pkid),
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => self.outbound.on_await_ack(pkid),
            _ => Ok(()),
        };
        if let Err(Unexpected(pkid)) = bound {
            tracing::error!(pkid, "rumqttc sent a publish the link did not queue");
        }
    }

    fn on_message(&mut self, publish: Publish) {
        let Some(connection) = &self.connection else {
            return;
        };
        // Only QoS 1 takes a PUBACK; the subscriptions are QoS 1, so nothing arrives as QoS 2.
        let pkid = match publish.qos {
            QoS::AtLeastOnce => publish.pkid,
            _ => 0,
        };
        let ack = AckToken::new(connection.number, pkid, self.control.clone());
        if publish.topic == self.marker {
            let current = publish.payload == connection.nonce.as_bytes();
            self.emit(LinkEvent::BacklogMark { ack, current });
            return;
        }
        let (payload, oversize) = excerpt(publish.payload, self.max_body);
        let message = InboundMessage {
            topic: publish.topic,
            payload,
            oversize,
            duplicate: publish.dup,
            retained: publish.retain,
            ack,
        };
        self.emit(LinkEvent::Message(message));
    }

    /// One SUBACK per connection: for both families (unless the broker kept them), then the
    /// marker's topic.
    fn on_suback(&mut self, suback: SubAck) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let marker_granted = suback
            .return_codes
            .last()
            .is_some_and(|code| !matches!(code, SubscribeReasonCode::Failure));
        let nonce = connection.nonce.clone();
        let families_acked = !connection.ready;
        connection.ready = true;
        if families_acked {
            let refused: Vec<String> = self
                .filters
                .iter()
                .zip(&suback.return_codes)
                .filter(|(_, code)| matches!(code, SubscribeReasonCode::Failure))
                .map(|(filter, _)| filter.clone())
                .collect();
            for filter in refused {
                tracing::warn!(%filter, "the broker refused the subscription");
                self.emit(LinkEvent::SubscribeRefused { filter });
            }
            self.set_state(LinkState::Connected {
                session_present: false,
            });
        }
        if marker_granted {
            // After whatever is held: the broker queues it behind the session's backlog.
            self.outbound.accept(Held {
                id: MARKER_ID,
                topic: self.marker.clone(),
                payload: Bytes::from(nonce),
            });
        } else {
            tracing::warn!(topic = %self.marker, "the broker refused the backlog marker's subscription");
            self.emit(LinkEvent::BacklogUnmarked);
        }
    }

    fn on_ack(&mut self, connection: u64, pkid: u16) {
        if self.connection.as_ref().map(|c| c.number) == Some(connection) {
            self.acks.push_back(pkid);
        }
    }

    /// Moves acks, then held publishes, into rumqttc's queue until it is full.
    fn flush(&mut self) {
        let Some(connection) = &self.connection else {
            return;
        };
        while let Some(&pkid) = self.acks.front() {
            let mut publish = Publish::new("", QoS::AtLeastOnce, Vec::new());
            publish.pkid = pkid;
            if connection.client.try_ack(&publish).is_err() {
                return;
            }
            self.acks.pop_front();
        }
        if !connection.ready {
            return;
        }
        while let Some(held) = self.outbound.next_unsent() {
            let sent = connection.client.try_publish(
                held.topic.clone(),
                QoS::AtLeastOnce,
                false,
                held.payload.to_vec(),
            );
            if sent.is_err() {
                return;
            }
            self.outbound.mark_sent();
        }
    }

    /// Sends what acks it can, then DISCONNECT, and waits (briefly) until it is written.
    async fn shutdown(&mut self, wire: &mut mpsc::Receiver<Wire>) {
        self.flush();
        let disconnecting = self
            .connection
            .as_ref()
            .is_some_and(|c| c.client.try_disconnect().is_ok());
        if disconnecting {
            let written = async {
                while let Some(wire) = wire.recv().await {
                    match wire {
                        Wire::Event(Event::Outgoing(Outgoing::Disconnect)) => return,
                        Wire::Event(event) => self.on_event(event),
                        Wire::Up { .. } | Wire::Down { .. } | Wire::Refused { .. } => return,
                    }
                }
            };
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, written).await;
        }
        self.connection = None;
        self.set_state(LinkState::Disconnected);
    }

    fn set_state(&mut self, state: LinkState) {
        tracing::info!(?state, "broker link");
        self.state.send_replace(state.clone());
        self.emit(LinkEvent::State(state));
    }

    fn emit(&mut self, event: LinkEvent) {
        self.pending.push_back(event);
        self.hand_over();
    }

    /// Passes pending events on while the caller has room. A caller that stopped listening
    /// loses nothing it asked for: unacked messages stay with the broker, and unreported
    /// publishes are still in its outbox.
    fn hand_over(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.pending.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.pending.clear();
                    return;
                }
            }
        }
    }
}

/// The body as passed on: whole, or, past `max_body`, its first bytes (a copy, so the large
/// buffer is freed at once) with its size and MD5.
fn excerpt(payload: bytes::Bytes, max_body: usize) -> (bytes::Bytes, Option<Oversize>) {
    if payload.len() <= max_body {
        return (payload, None);
    }
    use md5::{Digest, Md5};
    let oversize = Oversize {
        size: payload.len() as u64,
        md5: hex::encode(Md5::digest(&payload)),
    };
    let kept = bytes::Bytes::copy_from_slice(&payload[..EXCERPT_BYTES.min(max_body)]);
    (kept, Some(oversize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_over_the_limit_becomes_an_excerpt_with_its_size_and_md5() {
        use md5::Digest;
        let big = bytes::Bytes::from(vec![b'x'; 10_000]);
        let (kept, oversize) = excerpt(big.clone(), 4_096);
        let oversize = oversize.expect("over the limit");
        assert_eq!(kept.len(), EXCERPT_BYTES);
        assert_eq!(oversize.size, 10_000);
        assert_eq!(oversize.md5, hex::encode(md5::Md5::digest(&big)));
        let (whole, none) = excerpt(bytes::Bytes::from_static(b"{}"), 4_096);
        assert_eq!((&whole[..], none), (&b"{}"[..], None));
    }
}
