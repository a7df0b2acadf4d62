//! Test helpers for the broker link: an event recorder with wait-for-condition, and a plain
//! rumqttc client playing "someone else on the broker".
//!
//! Use with `#[path = "support/link_harness.rs"] mod link_harness;`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use storefleet::link::{
    AckToken, BrokerProfile, Link, LinkConfig, LinkEvent, LinkState, MAX_PACKET_BYTES,
};
use tokio::sync::mpsc;

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn config(url: &str, client_id: &str) -> LinkConfig {
    let profile = BrokerProfile::new(url.parse().expect("broker url"));
    LinkConfig::new(profile, client_id)
}

/// A unique client id, so parallel tests never share a session.
pub fn client_id(test: &str) -> String {
    format!("sf-{test}-{}", std::process::id())
}

#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    /// (size, MD5) when `payload` is only an excerpt.
    pub oversize: Option<(u64, String)>,
    pub duplicate: bool,
    pub retained: bool,
}

/// Records everything a link reports.
pub struct Recorder {
    pub link: Link,
    events: mpsc::Receiver<LinkEvent>,
    /// Ack inbound messages as they arrive (what the history writer does once recorded).
    pub auto_ack: bool,
    pub states: Vec<(Instant, LinkState)>,
    pub published: Vec<u64>,
    pub messages: Vec<Received>,
    pub unacked: Vec<AckToken>,
    pub refused: Vec<String>,
    /// Backlog marks that came back: (messages received before it, whether it is current).
    pub marks: Vec<(usize, bool)>,
    /// The broker refused the mark's subscription.
    pub unmarked: bool,
    pub closed: bool,
}

impl Recorder {
    pub fn start(config: LinkConfig) -> Self {
        let (link, events) = Link::start(config).expect("link starts");
        Self {
            link,
            events,
            auto_ack: true,
            states: Vec::new(),
            published: Vec::new(),
            messages: Vec::new(),
            unacked: Vec::new(),
            refused: Vec::new(),
            marks: Vec::new(),
            unmarked: false,
            closed: false,
        }
    }

    fn record(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::State(state) => self.states.push((Instant::now(), state)),
            LinkEvent::Published { id } => self.published.push(id),
            LinkEvent::Message(message) => {
                self.messages.push(Received {
                    topic: message.topic,
                    payload: message.payload.to_vec(),
                    oversize: message.oversize.map(|o| (o.size, o.md5)),
                    duplicate: message.duplicate,
                    retained: message.retained,
                });
                if self.auto_ack {
                    message.ack.ack();
                } else {
                    self.unacked.push(message.ack);
                }
            }
            LinkEvent::SubscribeRefused { filter } => self.refused.push(filter),
            // Acked at once: `unacked` is for the tests' messages.
            LinkEvent::BacklogMark { ack, current } => {
                self.marks.push((self.messages.len(), current));
                ack.ack();
            }
            LinkEvent::BacklogUnmarked => self.unmarked = true,
        }
    }

    /// Takes whatever events are already waiting, without waiting.
    pub fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.record(event);
        }
    }

    /// Records events until `done` holds; panics after [`WAIT`] with `what` and a summary.
    pub async fn until(&mut self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        self.drain();
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => self.record(event),
                Ok(None) => {
                    self.closed = true;
                    panic!("link closed while waiting for {what}; {}", self.summary());
                }
                Err(_) => panic!("timed out waiting for {what}; {}", self.summary()),
            }
        }
    }

    /// Waits for the next `Connected` state after the `from`-th recorded state.
    pub async fn connected_after(&mut self, from: usize) -> bool {
        self.until("Connected", |r| {
            r.states[from.min(r.states.len())..]
                .iter()
                .any(|(_, s)| s.is_connected())
        })
        .await;
        match self.states[from..].iter().find(|(_, s)| s.is_connected()) {
            Some((_, LinkState::Connected { session_present })) => *session_present,
            _ => unreachable!(),
        }
    }

    /// Waits for the first `Connected`; returns `session_present`.
    pub async fn connected(&mut self) -> bool {
        self.connected_after(0).await
    }

    pub fn reconnects(&self) -> usize {
        self.states
            .iter()
            .filter(|(_, s)| matches!(s, LinkState::Reconnecting { .. }))
            .count()
    }

    pub fn has_payload(&self, payload: &[u8]) -> bool {
        self.messages.iter().any(|m| m.payload == payload)
    }

    /// How often each id was reported published.
    pub fn published_counts(&self) -> HashMap<u64, usize> {
        let mut counts = HashMap::new();
        for id in &self.published {
            *counts.entry(*id).or_default() += 1;
        }
        counts
    }

    pub fn summary(&self) -> String {
        let states: Vec<_> = self.states.iter().map(|(_, s)| s).collect();
        format!(
            "states {states:?}, {} published, {} messages, refused {:?}",
            self.published.len(),
            self.messages.len(),
            self.refused
        )
    }
}

/// Somebody else on the broker: a plain rumqttc client with a clean session.
pub struct OtherClient {
    client: rumqttc::AsyncClient,
    pubacks: mpsc::UnboundedReceiver<u16>,
    poller: tokio::task::JoinHandle<()>,
}

impl OtherClient {
    pub async fn connect(port: u16, name: &str) -> Self {
        let id = format!("{name}-{}", std::process::id());
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 100);
        let (connected_tx, connected_rx) = tokio::sync::oneshot::channel();
        let (puback_tx, pubacks) = mpsc::unbounded_channel();
        let poller = tokio::spawn(async move {
            let mut connected = Some(connected_tx);
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                        if let Some(tx) = connected.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(ack))) => {
                        let _ = puback_tx.send(ack.pkid);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, connected_rx)
            .await
            .expect("other client connects")
            .expect("other client poller alive");
        Self {
            client,
            pubacks,
            poller,
        }
    }

    /// Publishes with QoS 1 and waits for the broker's PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .expect("queue publish");
        tokio::time::timeout(WAIT, self.pubacks.recv())
            .await
            .expect("PUBACK in time")
            .expect("poller alive");
    }

    /// Publishes with the given QoS and retain flag, without waiting.
    pub async fn publish_with(
        &self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        qos: u8,
        retain: bool,
    ) {
        let qos = rumqttc::qos(qos).expect("qos 0..=2");
        self.client
            .publish(topic, qos, retain, payload)
            .await
            .expect("queue publish");
    }
}

impl Drop for OtherClient {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// `/stores/{store}/controllers/{controller}/{kind}`.
pub fn topic(store: &str, controller: &str, kind: &str) -> String {
    format!("/stores/{store}/controllers/{controller}/{kind}")
}
