//! The simulated controllers of the benchmark: ONE plain MQTT connection that answers every
//! `update_firmware` with an ack and a completion at once (no download, no flashing).
//!
//! Both sides of every comparison talk to this same responder, so a ratio measures what
//! Storefleet adds, not the simulator. In `Hold` mode the replies wait until
//! [`Responder::release`], so that a flood can be started on cue; every reply's
//! hand-over to the socket is timed, in publish order, for the latency figures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use storefleet::protocol::{
    Encoded, Envelope, Event as Message, TopicKind, TopicPrefix, decode, encode,
    subscription_filter,
};
use tokio::sync::{Notify, mpsc};

use super::mqtt;

/// Which reply a message is: the target (`store/controller`) and whether it completes.
pub type ReplyKey = (String, bool);

pub fn reply_key(envelope: &Envelope) -> Option<ReplyKey> {
    let completion = match envelope.event {
        Message::UpdateFirmwareAck { .. } => false,
        Message::UpdateFirmwareCompleted { .. } => true,
        _ => return None,
    };
    let target = format!("{}/{}", envelope.store_id, envelope.controller_id);
    Some((target, completion))
}

#[derive(Default)]
struct Counts {
    commands: AtomicUsize,
    /// PUBACKs for our replies: the broker has them.
    confirmed: AtomicUsize,
    changed: Notify,
}

pub struct Responder {
    counts: Arc<Counts>,
    release: Option<tokio::sync::oneshot::Sender<()>>,
    /// Replies in publish order, and when each was handed to the socket.
    pub order: Arc<Mutex<Vec<ReplyKey>>>,
    pub written: Arc<Mutex<Vec<Instant>>>,
    client: AsyncClient,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Responder {
    /// Connects and subscribes; `hold`: keep the replies until [`Self::release`].
    pub async fn start(port: u16, hold: bool) -> Self {
        let id = format!("bench-controllers-{}", std::process::id());
        let (client, mut eventloop) = mqtt::client(port, &id, false);
        let counts = Arc::new(Counts::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::unbounded_channel::<Encoded>();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let subscribed = Arc::new(Notify::new());

        let poll = {
            let (counts, order, written, client, subscribed) = (
                counts.clone(),
                order.clone(),
                written.clone(),
                client.clone(),
                subscribed.clone(),
            );
            let prefix = TopicPrefix::default();
            let filter = subscription_filter(&prefix, TopicKind::Action);
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let (client, filter) = (client.clone(), filter.clone());
                            tokio::spawn(async move {
                                client.subscribe(filter, QoS::AtLeastOnce).await
                            });
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => subscribed.notify_one(),
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let Ok(inbound) = decode(&p.topic, &p.payload, &prefix) else {
                                continue;
                            };
                            let command = inbound.envelope;
                            let Message::UpdateFirmware(update) = &command.event else {
                                continue; // our own completions, echoed on `action`
                            };
                            for event in [
                                Message::UpdateFirmwareAck {
                                    deployment_id: update.deployment_id.clone(),
                                },
                                Message::UpdateFirmwareCompleted {
                                    deployment_id: update.deployment_id.clone(),
                                },
                            ] {
                                let reply = Envelope {
                                    timestamp: chrono::Utc::now().fixed_offset(),
                                    event,
                                    ..command.clone()
                                };
                                order
                                    .lock()
                                    .unwrap()
                                    .push(reply_key(&reply).expect("a reply"));
                                let _ = tx.send(encode(&reply, &prefix).expect("encodable"));
                            }
                            counts.commands.fetch_add(1, Ordering::Relaxed);
                            counts.changed.notify_waiters();
                        }
                        Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                            written.lock().unwrap().push(Instant::now());
                        }
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            counts.confirmed.fetch_add(1, Ordering::Relaxed);
                            counts.changed.notify_waiters();
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("bench controllers: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            })
        };
        let publish = {
            let client = client.clone();
            tokio::spawn(async move {
                if hold && release_rx.await.is_err() {
                    return;
                }
                while let Some(m) = rx.recv().await {
                    if client
                        .publish(m.topic, QoS::AtLeastOnce, false, m.body)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(10), subscribed.notified())
            .await
            .expect("the bench's controllers subscribe");
        Self {
            counts,
            release: Some(release_tx),
            order,
            written,
            client,
            tasks: vec![poll, publish],
        }
    }

    /// Lets held replies go out.
    pub fn release(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until `n` commands have arrived.
    pub async fn wait_commands(&self, n: usize) {
        self.wait(|c| c.commands.load(Ordering::Relaxed) >= n).await;
    }

    /// Waits until the broker has confirmed `n` replies.
    pub async fn wait_confirmed(&self, n: usize) {
        self.wait(|c| c.confirmed.load(Ordering::Relaxed) >= n)
            .await;
    }

    async fn wait(&self, done: impl Fn(&Counts) -> bool) {
        loop {
            let changed = self.counts.changed.notified();
            if done(&self.counts) {
                return;
            }
            // Notify may fire between the check and the await: poll as a backstop.
            let _ = tokio::time::timeout(Duration::from_millis(50), changed).await;
        }
    }

    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        for t in self.tasks {
            t.abort();
        }
    }
}
