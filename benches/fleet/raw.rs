//! The baselines: the same messages through the same broker by plain rumqttc clients, with
//! no engine and no history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Event, Packet, QoS};
use storefleet::engine::TargetKey;
use storefleet::protocol::{
    Envelope, Event as Message, FirmwareUpdate, Id, TopicPrefix, decode, encode_command,
    subscription_filters,
};
use tokio::sync::{Notify, Semaphore};

use super::mqtt;
use super::responder::{ReplyKey, reply_key};

/// Publishes one `update_firmware` per target (fresh correlation ids, encoded by the codec)
/// and waits for every ack and completion. Timed from connecting to the last reply.
pub async fn round_trip(port: u16, targets: &[TargetKey], update: &FirmwareUpdate) -> Duration {
    let started = Instant::now();
    let (client, mut eventloop) = mqtt::client(port, "bench-raw-publisher", false);
    let expected = targets.len() * 2;
    let subscribed = Arc::new(Semaphore::new(0));
    let done = Arc::new(Notify::new());
    let poll = {
        let (client, subscribed, done) = (client.clone(), subscribed.clone(), done.clone());
        tokio::spawn(async move {
            let prefix = TopicPrefix::default();
            let mut replies = 0;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let client = client.clone();
                        tokio::spawn(async move {
                            for filter in subscription_filters(&TopicPrefix::default()) {
                                let _ = client.subscribe(filter, QoS::AtLeastOnce).await;
                            }
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => subscribed.add_permits(1),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let Ok(inbound) = decode(&p.topic, &p.payload, &prefix) else {
                            continue;
                        };
                        if inbound.envelope.event_type().is_command() {
                            continue; // our own command, echoed on `action`
                        }
                        replies += 1;
                        if replies == expected {
                            done.notify_one();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("raw publisher: {e}");
                        return;
                    }
                }
            }
        })
    };
    // Two filters, two SUBACKs.
    let _ = subscribed.acquire_many(2).await;
    let publisher = {
        let (client, targets, update) = (client.clone(), targets.to_vec(), update.clone());
        tokio::spawn(async move {
            let prefix = TopicPrefix::default();
            for t in targets {
                let command = Envelope {
                    timestamp: chrono::Utc::now().fixed_offset(),
                    correlation_id: Id::new_v4(),
                    store_id: t.store_id,
                    controller_id: t.controller_id,
                    event: Message::UpdateFirmware(update.clone()),
                };
                let m = encode_command(&command, &prefix).expect("encodable");
                client
                    .publish(m.topic, QoS::AtLeastOnce, false, m.body)
                    .await
                    .expect("raw publish");
            }
        })
    };
    done.notified().await;
    let elapsed = started.elapsed();
    let _ = publisher.await;
    let _ = client.disconnect().await;
    poll.abort();
    elapsed
}

/// A plain subscriber to every reply: records when each arrived (the latency baseline), or
/// with a persistent session, leaves a backlog queued in the broker while away.
pub struct Subscriber {
    pub arrivals: Arc<Mutex<HashMap<ReplyKey, Instant>>>,
    count: Arc<Mutex<usize>>,
    changed: Arc<Notify>,
    client: rumqttc::AsyncClient,
    poll: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Connects and subscribes (returns after the SUBACKs); `record`: keep arrival times.
    pub async fn start(port: u16, client_id: &str, persistent: bool, record: bool) -> Self {
        let (client, mut eventloop) = mqtt::client(port, client_id, persistent);
        let arrivals = Arc::new(Mutex::new(HashMap::new()));
        let count = Arc::new(Mutex::new(0usize));
        let changed = Arc::new(Notify::new());
        let subscribed = Arc::new(Semaphore::new(0));
        let poll = {
            let (client, arrivals, count, changed, subscribed) = (
                client.clone(),
                arrivals.clone(),
                count.clone(),
                changed.clone(),
                subscribed.clone(),
            );
            tokio::spawn(async move {
                let prefix = TopicPrefix::default();
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                            if ack.session_present {
                                subscribed.add_permits(2);
                                continue;
                            }
                            let client = client.clone();
                            tokio::spawn(async move {
                                for filter in subscription_filters(&TopicPrefix::default()) {
                                    let _ = client.subscribe(filter, QoS::AtLeastOnce).await;
                                }
                            });
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => subscribed.add_permits(1),
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let at = Instant::now();
                            let Ok(inbound) = decode(&p.topic, &p.payload, &prefix) else {
                                continue;
                            };
                            let Some(key) = reply_key(&inbound.envelope) else {
                                continue;
                            };
                            if record {
                                arrivals.lock().unwrap().insert(key, at);
                            }
                            *count.lock().unwrap() += 1;
                            changed.notify_waiters();
                        }
                        Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("raw subscriber: {e}");
                            return;
                        }
                    }
                }
            })
        };
        let _ = subscribed.acquire_many(2).await;
        Self {
            arrivals,
            count,
            changed,
            client,
            poll,
        }
    }

    pub fn count(&self) -> usize {
        *self.count.lock().unwrap()
    }

    /// Waits until `n` replies have arrived.
    pub async fn wait_for(&self, n: usize) {
        loop {
            let changed = self.changed.notified();
            if self.count() >= n {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), changed).await;
        }
    }

    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.poll).await;
    }
}
