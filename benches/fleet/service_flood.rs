//! Ingest and live latency: `storefleet::service::Service` in this process, flooded with
//! acks and completions, next to a plain subscriber that gets the same flood.
//!
//! - Ingest: the replies wait in the broker for both (persistent sessions, offline), then
//!   each drains its backlog in turn: the service until every target is completed and
//!   committed, the plain client until it has received every reply. Either with controllers
//!   the inventory first hears of in the drain, or with the fleet already in it (imported),
//!   as when a deployment is made from the Fleet view.
//! - Latency: both are online while the controllers flood; for every reply, from the moment
//!   the controllers' client handed it to the socket to the moment the service's subscriber
//!   broadcast emitted it (`Service::subscribe`, what the window's channel forwards), and to
//!   the moment the plain subscriber received it.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use storefleet::engine::{DeploymentSpec, Firmware, TargetKey, TargetStatus, Timeouts};
use storefleet::fleet::{ControllerEntry, ControllerSource};
use storefleet::history::History;
use storefleet::link::{BrokerAddress, BrokerProfile, DEFAULT_INFLIGHT};
use storefleet::protocol::{Id, Md5Hex, TopicPrefix};
use storefleet::service::{BrokerSettings, Service, ServiceConfig, ServiceEvent};
use tokio::sync::broadcast;

use super::raw::Subscriber;
use super::responder::{ReplyKey, Responder};

pub fn config(port: u16, db: &Path) -> ServiceConfig {
    let address: BrokerAddress = format!("mqtt://127.0.0.1:{port}").parse().unwrap();
    ServiceConfig {
        history: db.to_path_buf(),
        broker: Some(BrokerSettings {
            profile: BrokerProfile::new(address),
            password: None,
            inflight: DEFAULT_INFLIGHT,
        }),
        topic_prefix: TopicPrefix::default(),
        identity: None,
    }
}

pub fn spec(targets: &[TargetKey]) -> DeploymentSpec {
    DeploymentSpec {
        deployment_id: Id::new_v4(),
        firmware: Firmware {
            firmware_version: "9.0.0".into(),
            file_url: "http://127.0.0.1:9/fw-9.0.0.bin".into(),
            file_size: 4096,
            checksum: Md5Hex::parse("0123456789abcdef0123456789abcdef").unwrap(),
        },
        targets: targets.to_vec(),
        timeouts: Timeouts {
            ack: Duration::from_secs(3600),
            completion: Duration::from_secs(3600),
        },
        policy: Default::default(),
    }
}

/// Deploys, and returns once the controllers have every command (their replies held).
async fn deploy_and_hold(
    port: u16,
    db: &Path,
    targets: &[TargetKey],
) -> (Service, broadcast::Receiver<ServiceEvent>, Responder, Id) {
    let responder = Responder::start(port, true).await;
    let mut service = Service::start(config(port, db)).await.expect("service");
    let events = service.subscribe();
    let summary = service.deploy(spec(targets)).await.expect("deploy");
    responder.wait_commands(targets.len()).await;
    service.sync().await.expect("sync");
    (service, events, responder, summary.deployment_id)
}

/// Waits for the deployment's `Finished` notice (sent after the commit).
async fn finished(events: &mut broadcast::Receiver<ServiceEvent>, id: &Id) {
    loop {
        match events.recv().await {
            Ok(ServiceEvent::Finished(s)) if &s.deployment_id == id => return,
            Ok(ServiceEvent::HistoryFailed { error, .. }) => {
                panic!("history write failed: {error}")
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the service stopped"),
        }
    }
}

pub struct Ingest {
    pub replies: usize,
    pub raw: Duration,
    pub service: Duration,
}

/// Backlog drain: 2 x targets replies queued in the broker, drained by each side in turn;
/// `known`: the fleet is imported into the inventory before the drain.
pub async fn ingest(
    port: u16,
    db: &Path,
    targets: &[TargetKey],
    service_first: bool,
    known: bool,
) -> Ingest {
    let replies = targets.len() * 2;
    let (service, events, mut responder, id) = deploy_and_hold(port, db, targets).await;
    drop(events);
    service.shutdown().await;
    if known {
        let entries: Vec<ControllerEntry> = targets
            .iter()
            .map(|t| ControllerEntry {
                store_id: t.store_id.clone(),
                controller_id: t.controller_id.clone(),
                store_name: None,
                controller_name: None,
                timezone: None,
                windows: None,
            })
            .collect();
        History::open(db)
            .and_then(|h| h.import_controllers(&entries, ControllerSource::Imported))
            .expect("import the fleet");
    }
    let drain_id = format!("bench-drain-{}", std::process::id());
    Subscriber::start(port, &drain_id, true, false)
        .await
        .stop()
        .await;
    responder.release();
    responder.wait_confirmed(replies).await;
    responder.stop().await;

    let raw = async {
        let started = Instant::now();
        let sub = Subscriber::start(port, &drain_id, true, false).await;
        sub.wait_for(replies).await;
        let elapsed = started.elapsed();
        sub.stop().await;
        elapsed
    };
    let storefleet = async {
        let started = Instant::now();
        let mut service = Service::start(config(port, db)).await.expect("service");
        let mut events = service.subscribe();
        finished(&mut events, &id).await;
        let elapsed = started.elapsed();
        service.shutdown().await;
        elapsed
    };
    let (raw, service) = if service_first {
        let s = storefleet.await;
        (raw.await, s)
    } else {
        let r = raw.await;
        (r, storefleet.await)
    };
    Ingest {
        replies,
        raw,
        service,
    }
}

pub struct Latency {
    /// Per reply, milliseconds from the socket to the plain subscriber / to the broadcast.
    pub raw_ms: Vec<f64>,
    pub service_ms: Vec<f64>,
    /// Replies per second the service absorbed live (first reply out to last broadcast).
    pub live_rate: f64,
    /// Replies per second the controllers wrote (first reply out to last): what the service
    /// must keep up with for a reply not to wait behind the ones before it.
    pub flood_rate: f64,
    /// Share of all cores busy from the release of the flood to its last broadcast: near 1,
    /// the machine (service, broker and controllers together) is the limit.
    pub busy_share: f64,
    /// Replies whose broadcast the bench's subscriber missed (it lagged).
    pub missed: usize,
}

/// Live flood: the controllers release every reply at once while both listen.
pub async fn latency(port: u16, db: &Path, targets: &[TargetKey]) -> Latency {
    let replies = targets.len() * 2;
    let probe_id = format!("bench-probe-{}", std::process::id());
    let probe = Subscriber::start(port, &probe_id, false, true).await;
    let (service, mut events, mut responder, id) = deploy_and_hold(port, db, targets).await;
    let emitted = tokio::spawn(async move {
        let mut at: HashMap<ReplyKey, Instant> = HashMap::with_capacity(replies);
        loop {
            match events.recv().await {
                Ok(ServiceEvent::Transitions(batch)) => {
                    let now = Instant::now();
                    for t in batch.iter() {
                        let completion = match t.to {
                            TargetStatus::Acknowledged => false,
                            TargetStatus::Completed => true,
                            _ => continue,
                        };
                        let target = format!("{}/{}", t.store_id, t.controller_id);
                        at.insert((target, completion), now);
                    }
                }
                Ok(ServiceEvent::Finished(s)) if s.deployment_id == id => return at,
                Ok(_) => {}
                // Counted below as replies without a broadcast time.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the service stopped"),
            }
        }
    });
    let (busy, started) = (crate::machine::busy_seconds(), Instant::now());
    responder.release();
    let emitted = emitted.await.expect("listener");
    let busy_share = (crate::machine::busy_seconds() - busy)
        / crate::cores() as f64
        / started.elapsed().as_secs_f64();
    probe.wait_for(replies).await;
    let order = responder.order.lock().unwrap().clone();
    let written = responder.written.lock().unwrap().clone();
    let arrivals = probe.arrivals.lock().unwrap().clone();
    assert_eq!(written.len(), replies, "every reply written once");
    let mut raw_ms = Vec::with_capacity(replies);
    let mut service_ms = Vec::with_capacity(replies);
    let ms = |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f64() * 1e3;
    let mut last = written[0];
    let mut missed = 0;
    for (key, sent) in order.iter().zip(&written) {
        match emitted.get(key) {
            Some(&emitted) => {
                last = last.max(emitted);
                service_ms.push(ms(*sent, emitted));
            }
            None => missed += 1,
        }
        raw_ms.push(ms(*sent, arrivals[key]));
    }
    assert!(
        missed * 100 <= replies,
        "{missed} of {replies} replies never reached the bench's subscriber"
    );
    let live_rate = replies as f64 / last.duration_since(written[0]).as_secs_f64();
    let flood_rate = replies as f64
        / written[replies - 1]
            .duration_since(written[0])
            .as_secs_f64();
    responder.stop().await;
    probe.stop().await;
    service.shutdown().await;
    Latency {
        raw_ms,
        service_ms,
        live_rate,
        flood_rate,
        busy_share,
        missed,
    }
}
