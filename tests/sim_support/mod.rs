//! Test-side helpers for the simulated fleet: a broker (mosquitto or embedded), a firmware
//! HTTP server, and a small "Storefleet" that sends commands and collects replies.
//!
//! Every test uses its own topic prefix, so tests can share an outside broker
//! (`STOREFLEET_TEST_BROKER`) without hearing each other.

#![allow(dead_code)]

/// Runs each scenario `async fn NAME(broker: TestBroker)` as two tests, `mosquitto::NAME`
/// and `embedded::NAME`.
#[allow(unused_macros)]
macro_rules! on_both_brokers {
    ($($scenario:ident),* $(,)?) => {
        mod mosquitto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(crate::sim_support::TestBroker::mosquitto()).await;
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(crate::sim_support::TestBroker::embedded()).await;
                }
            )*
        }
    };
}

mod brokers;
pub mod rig;

pub use brokers::{TestBroker, unique_prefix};

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use md5::{Digest, Md5};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use storefleet::protocol::{
    Envelope, Event as Msg, FirmwareUpdate, Id, Inbound, Md5Hex, TopicKind, TopicPrefix, decode,
    encode_command, subscription_filter,
};
use storefleet::sim::ControllerInfo;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- firmware server

/// A firmware file as a command announces it.
#[derive(Debug, Clone)]
pub struct Firmware {
    pub url: String,
    pub size: u64,
    pub md5: Md5Hex,
    pub version: String,
}

#[derive(Default)]
struct Files {
    files: HashMap<String, Vec<u8>>,
    hits: HashMap<String, AtomicUsize>,
    /// Paths answered only after this delay (a slow link, to cancel during a download).
    slow: HashMap<String, Duration>,
}

/// Serves files from memory at `http://127.0.0.1:PORT/fw/NAME`; 404 for anything else.
pub struct FirmwareServer {
    pub base: String,
    files: Arc<Files>,
    task: JoinHandle<()>,
}

impl FirmwareServer {
    /// `files`: (name, bytes, delay before answering).
    pub async fn start(files: Vec<(&str, Vec<u8>, Duration)>) -> Self {
        let mut state = Files::default();
        for (name, bytes, delay) in files {
            state.hits.insert(name.to_owned(), AtomicUsize::new(0));
            state.slow.insert(name.to_owned(), delay);
            state.files.insert(name.to_owned(), bytes);
        }
        let state = Arc::new(state);
        let app = axum::Router::new()
            .route("/fw/{name}", axum::routing::get(serve))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}/fw"),
            files: state,
            task,
        }
    }

    /// The command fields for file `name` (its real size and MD5).
    pub fn firmware(&self, name: &str, version: &str) -> Firmware {
        let bytes = &self.files.files[name];
        Firmware {
            url: format!("{}/{name}", self.base),
            size: bytes.len() as u64,
            md5: md5(bytes),
            version: version.to_owned(),
        }
    }

    pub fn downloads(&self, name: &str) -> usize {
        self.files.hits[name].load(Ordering::Relaxed)
    }
}

impl Drop for FirmwareServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(files): State<Arc<Files>>, Path(name): Path<String>) -> impl IntoResponse {
    let Some(bytes) = files.files.get(&name) else {
        return (StatusCode::NOT_FOUND, Vec::new());
    };
    files.hits[&name].fetch_add(1, Ordering::Relaxed);
    let delay = files.slow[&name];
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (StatusCode::OK, bytes.clone())
}

pub fn md5(bytes: &[u8]) -> Md5Hex {
    Md5Hex::from_digest(Md5::digest(bytes).into())
}

/// Deterministic bytes that look like a firmware image.
pub fn firmware_bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ salt)
        .collect()
}

// ---------------------------------------------------------------- a small Storefleet

/// Sends commands the way Storefleet does and collects every reply it hears.
pub struct Driver {
    pub client: AsyncClient,
    pub prefix: TopicPrefix,
    replies: mpsc::UnboundedReceiver<Inbound>,
    /// Everything received so far by [`Driver::collect`], in arrival order.
    pub seen: Vec<Inbound>,
    poll: JoinHandle<()>,
}

impl Driver {
    pub async fn connect(url: &str, prefix: &TopicPrefix) -> Self {
        let rest = url.strip_prefix("mqtt://").expect("mqtt:// url");
        let (host, port) = rest.rsplit_once(':').expect("host:port");
        let id = format!("sim-test-driver-{}", &Id::new_v4().as_str()[..8]);
        let mut options = MqttOptions::new(id, host, port.parse().unwrap());
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_inflight(1000)
            .set_max_packet_size(64 * 1024 * 1024, 64 * 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 10_000);
        let (tx, replies) = mpsc::unbounded_channel();
        let (subacks_tx, mut subacks) = watch::channel(0usize);
        let poll_prefix = prefix.clone();
        let poll = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Ok(inbound) = decode(&p.topic, &p.payload, &poll_prefix)
                            && !inbound.event_type().is_command()
                        {
                            let _ = tx.send(inbound);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks_tx.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        for kind in TopicKind::ALL {
            client
                .subscribe(subscription_filter(prefix, kind), QoS::AtLeastOnce)
                .await
                .unwrap();
        }
        tokio::time::timeout(WAIT, subacks.wait_for(|n| *n >= 2))
            .await
            .expect("driver subscribed in time")
            .unwrap();
        Self {
            client,
            prefix: prefix.clone(),
            replies,
            seen: Vec::new(),
            poll,
        }
    }

    async fn send(&self, envelope: &Envelope) {
        let encoded = encode_command(envelope, &self.prefix).unwrap();
        self.client
            .publish(encoded.topic, QoS::AtLeastOnce, false, encoded.body)
            .await
            .unwrap();
    }

    /// Sends `update_firmware` to `target`; returns the command's correlation id.
    pub async fn update(&self, target: &ControllerInfo, deployment: &Id, fw: &Firmware) -> Id {
        let correlation_id = Id::new_v4();
        self.update_as(target, deployment, fw, &correlation_id)
            .await;
        correlation_id
    }

    /// Sends `update_firmware` with a given correlation id (a redelivery repeats one).
    pub async fn update_as(
        &self,
        target: &ControllerInfo,
        deployment: &Id,
        fw: &Firmware,
        correlation_id: &Id,
    ) {
        let update = FirmwareUpdate {
            deployment_id: deployment.clone(),
            firmware_version: fw.version.clone(),
            file_url: fw.url.clone(),
            file_size: fw.size,
            checksum: fw.md5,
        };
        self.send(&command(
            target,
            correlation_id,
            Msg::UpdateFirmware(update),
        ))
        .await;
    }

    /// Sends `cancel_update_firmware`; returns its correlation id.
    pub async fn cancel(&self, target: &ControllerInfo, deployment: &Id) -> Id {
        let correlation_id = Id::new_v4();
        let event = Msg::CancelUpdateFirmware {
            deployment_id: deployment.clone(),
        };
        self.send(&command(target, &correlation_id, event)).await;
        correlation_id
    }

    pub async fn publish_raw(&self, topic: String, body: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, body)
            .await
            .unwrap();
    }

    /// Collects replies until `done(&seen)` holds or `within` passes; returns whether it held.
    pub async fn collect(
        &mut self,
        within: Duration,
        mut done: impl FnMut(&[Inbound]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if done(&self.seen) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.replies.recv()).await {
                Ok(Some(inbound)) => self.seen.push(inbound),
                Ok(None) | Err(_) => return done(&self.seen),
            }
        }
    }

    /// Replies seen from `target`.
    pub fn from(&self, target: &ControllerInfo) -> Vec<&Inbound> {
        self.seen
            .iter()
            .filter(|i| {
                i.envelope.store_id == target.store_id
                    && i.envelope.controller_id == target.controller_id
            })
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.poll.abort();
    }
}

fn command(target: &ControllerInfo, correlation_id: &Id, event: Msg) -> Envelope {
    Envelope {
        timestamp: chrono::Local::now().fixed_offset(),
        correlation_id: correlation_id.clone(),
        store_id: target.store_id.clone(),
        controller_id: target.controller_id.clone(),
        event,
    }
}

/// Counts replies of one kind (by wire name) from any controller.
pub fn count(seen: &[Inbound], event_type: &str) -> usize {
    seen.iter()
        .filter(|i| i.event_type().as_str() == event_type)
        .count()
}

/// The replies of one kind from `target`.
pub fn of<'a>(seen: &'a [Inbound], target: &ControllerInfo, event_type: &str) -> Vec<&'a Inbound> {
    seen.iter()
        .filter(|i| {
            i.event_type().as_str() == event_type
                && i.envelope.store_id == target.store_id
                && i.envelope.controller_id == target.controller_id
        })
        .collect()
}

/// The error list of a failure reply.
pub fn errors(inbound: &Inbound) -> &[String] {
    match &inbound.envelope.event {
        Msg::UpdateFirmwareFailed { errors, .. } => errors,
        _ => &[],
    }
}
