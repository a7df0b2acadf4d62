//! Test support: a scripted controller.

use super::*;

/// What a scripted controller answers to an `update_firmware`: raw bodies, with
/// `{correlation_id}` and `{deployment_id}` filled in, published in order on the given topic
/// kind (`ack` or `action`).
#[derive(Debug, Clone)]
pub struct Script {
    pub store_id: String,
    pub controller_id: String,
    pub replies: Vec<(&'static str, String)>,
}

/// Hand-driven controllers on one connection: each answers the first `update_firmware` it
/// hears with its script (for exact bytes: error lists, trailing commas).
pub struct Scripted {
    task: JoinHandle<()>,
    pub answered: Arc<AtomicUsize>,
}

impl Scripted {
    pub async fn start(port: u16, scripts: Vec<Script>) -> Self {
        let id = format!("scripted-{}", &Id::new_v4().as_str()[..8]);
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(64 * 1024 * 1024, 64 * 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let answered = Arc::new(AtomicUsize::new(0));
        let (ready_tx, mut ready_rx) = watch::channel(false);
        let topics: Vec<String> = scripts
            .iter()
            .map(|s| {
                format!(
                    "/stores/{}/controllers/{}/action",
                    s.store_id, s.controller_id
                )
            })
            .collect();
        let by_topic: HashMap<String, Script> = topics.iter().cloned().zip(scripts).collect();
        let count = answered.clone();
        let task = tokio::spawn(async move {
            let mut done: HashSet<String> = HashSet::new();
            let mut pending = 0usize;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let c = client.clone();
                        let topics = topics.clone();
                        pending = topics.len();
                        tokio::spawn(async move {
                            for t in topics {
                                let _ = c.subscribe(t, QoS::AtLeastOnce).await;
                            }
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        pending = pending.saturating_sub(1);
                        if pending == 0 {
                            let _ = ready_tx.send(true);
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let Some(script) = by_topic.get(&p.topic) else {
                            continue;
                        };
                        let Ok(body) = serde_json::from_slice::<Value>(&p.payload) else {
                            continue;
                        };
                        if body["event_type"] != "update_firmware" || !done.insert(p.topic.clone())
                        {
                            continue;
                        }
                        let correlation_id = body["correlation_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        let deployment_id = body
                            .pointer("/payload/deployment_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let c = client.clone();
                        let script = script.clone();
                        let count = count.clone();
                        tokio::spawn(async move {
                            for (kind, template) in &script.replies {
                                let topic = format!(
                                    "/stores/{}/controllers/{}/{kind}",
                                    script.store_id, script.controller_id
                                );
                                let body = template
                                    .replace("{correlation_id}", &correlation_id)
                                    .replace("{deployment_id}", &deployment_id);
                                let _ = c.publish(topic, QoS::AtLeastOnce, false, body).await;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            count.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, ready_rx.wait_for(|r| *r))
            .await
            .expect("scripted controllers subscribe")
            .expect("scripted controllers alive");
        Self { task, answered }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A reply body as a controller following the spec writes it, from a template of the spec
/// (`"{correlation_id}"`, `"{deployment_id}"` are filled in by [`Scripted`]).
pub fn reply_body(
    event_type: &str,
    store_id: &str,
    controller_id: &str,
    payload_extra: &str,
) -> String {
    format!(
        "{{\"version\":\"1.0.0\",\"event_type\":\"{event_type}\",\"timestamp\":\"{}\",\
         \"correlation_id\":\"{{correlation_id}}\",\"controller_id\":\"{controller_id}\",\
         \"store_id\":\"{store_id}\",\"payload\":{{\"deployment_id\":\"{{deployment_id}}\"{payload_extra}}}}}",
        chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z")
    )
}

/// How often a Storefleet process (client id `storefleet-…`, not the simulator's
/// `storefleet-sim-…`) connected, from mosquitto's log.
pub fn cli_connections(log: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains("New client connected")
                && l.contains(" as storefleet-")
                && !l.contains(" as storefleet-sim-")
        })
        .count()
}

/// Waits until mosquitto's log shows one more Storefleet connection than `before`, then a
/// little longer (subscriptions, the Ctrl-C handler). `log` reads the broker's log.
pub async fn wait_for_cli_connection(log: impl Fn() -> String, before: usize) {
    let deadline = Instant::now() + WAIT;
    while cli_connections(&log()) <= before {
        if Instant::now() > deadline {
            panic!("no Storefleet connection in the broker log: {}", log());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Seconds since `start`, for reports.
pub fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// The status JSON's targets keyed by (store, controller).
pub fn targets_by_key(status: &Value) -> BTreeMap<(String, String), Value> {
    status["targets"]
        .as_array()
        .expect("targets array")
        .iter()
        .map(|t| {
            (
                (
                    t["store_id"].as_str().unwrap().to_owned(),
                    t["controller_id"].as_str().unwrap().to_owned(),
                ),
                t.clone(),
            )
        })
        .collect()
}

/// A small helper to wait for a condition on the history through `status`.
pub async fn wait_for_status(
    ws: &Workspace,
    deployment_id: &str,
    what: &str,
    limit: Duration,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let status = ws.status(deployment_id).await;
        if done(&status) {
            return status;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}: counts {}", status["counts"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn ids_of(controllers: &[ControllerInfo]) -> Vec<(Id, Id)> {
    controllers
        .iter()
        .map(|c| (c.store_id.clone(), c.controller_id.clone()))
        .collect()
}
