//! Test support: the spy.

use super::*;

/// One message as the spy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub at: Instant,
}

impl Seen {
    /// The body as JSON; trailing commas (as in the spec's examples) are tolerated.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok().or_else(|| {
            serde_json::from_str(&without_trailing_commas(&String::from_utf8_lossy(
                &self.payload,
            )))
            .ok()
        })
    }

    /// `event_type` of a JSON body, if it has one.
    pub fn event_type(&self) -> Option<String> {
        self.json().and_then(|v| {
            v.get("event_type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }

    /// (store_id, controller_id, kind) from the topic.
    pub fn address(&self) -> Option<(String, String, String)> {
        let parts: Vec<&str> = self.topic.split('/').collect();
        match parts.as_slice() {
            ["", "stores", s, "controllers", c, kind] => {
                Some((s.to_string(), c.to_string(), kind.to_string()))
            }
            _ => None,
        }
    }

    pub fn target(&self) -> Option<(String, String)> {
        self.address().map(|(s, c, _)| (s, c))
    }

    pub fn deployment_id(&self) -> Option<String> {
        self.json().and_then(|v| {
            v.pointer("/payload/deployment_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }
}

/// Drops commas that directly precede `}` or `]` (outside strings).
pub fn without_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Records every message on both topic families (clean session, resubscribes after every
/// reconnect).
pub struct Spy {
    seen: Arc<Mutex<Vec<Seen>>>,
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Spy {
    pub async fn start(port: u16) -> Self {
        let id = format!("spy-{}", &Id::new_v4().as_str()[..8]);
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(64 * 1024 * 1024, 64 * 1024 * 1024);
        options.set_clean_session(true);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_inflight(1000);
        let (client, mut eventloop) = AsyncClient::new(options, 10_000);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, mut ready_rx) = watch::channel(false);
        let record = seen.clone();
        let subscriber = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let c = subscriber.clone();
                        tokio::spawn(async move {
                            let _ = c.subscribe(ACTION_FILTER, QoS::AtLeastOnce).await;
                            let _ = c.subscribe(ACK_FILTER, QoS::AtLeastOnce).await;
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(true);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        record.lock().unwrap().push(Seen {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            qos: p.qos,
                            retain: p.retain,
                            dup: p.dup,
                            at: Instant::now(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, ready_rx.wait_for(|r| *r))
            .await
            .expect("the spy subscribes")
            .expect("spy alive");
        // Both SUBACKs: a second round trip through the broker settles the subscriptions.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Self { seen, client, task }
    }

    pub fn messages(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn of_type(&self, event_type: &str) -> Vec<Seen> {
        self.messages()
            .into_iter()
            .filter(|m| m.event_type().as_deref() == Some(event_type))
            .collect()
    }

    pub fn count(&self, event_type: &str) -> usize {
        self.of_type(event_type).len()
    }

    /// Waits until the messages satisfy `done`; panics after `limit`.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&[Seen]) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.seen.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; the spy saw {} messages",
                    self.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Spy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A plain MQTT client for publishing arbitrary bytes (QoS 1, waits for nothing).
pub struct Publisher {
    pub client: AsyncClient,
    task: JoinHandle<()>,
}

impl Publisher {
    pub async fn connect(port: u16) -> Self {
        let id = format!("other-{}", &Id::new_v4().as_str()[..8]);
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(64 * 1024 * 1024, 64 * 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let (tx, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = tx.send(true);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, rx.wait_for(|c| *c))
            .await
            .expect("publisher connects")
            .expect("publisher alive");
        Self { client, task }
    }

    pub async fn publish(&self, topic: &str, body: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, body.into())
            .await
            .expect("queue publish");
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// After a broker restart: probes one simulated controller with a harmless cancel until it
/// answers, so the fleet is known to be back (reconnected and subscribed).
pub async fn wait_for_fleet(port: u16, spy: &Spy, c: &storefleet::sim::ControllerInfo) {
    let probe = Publisher::connect(port).await;
    let topic = format!(
        "/stores/{}/controllers/{}/action",
        c.store_id, c.controller_id
    );
    let deadline = std::time::Instant::now() + WAIT;
    while spy.count("cancel_update_firmware_ack") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fleet did not reconnect"
        );
        let body = format!(
            "{{\"version\":\"1.0.0\",\"event_type\":\"cancel_update_firmware\",\"timestamp\":\"2024-01-15T15:30:25+07:00\",\"correlation_id\":\"{}\",\"controller_id\":\"{}\",\"store_id\":\"{}\",\"payload\":{{\"deployment_id\":\"{}\"}}}}",
            uuid::Uuid::new_v4(),
            c.controller_id,
            c.store_id,
            uuid::Uuid::new_v4()
        );
        probe.publish(&topic, body).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
