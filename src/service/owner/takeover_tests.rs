//! A deployment another process finished is told as finished here once, also when a late
//! reply makes this process take it over before its next look at the history.
//!
//! Two owners on one history file, as two processes would run them. The test plays the
//! broker for both (their links are channels it holds), and holds the second owner's looks
//! back, so the order of events is exact rather than a race against the 500 ms look.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Owner, Parts, Request, Stopped};
use crate::engine::{DeploymentSpec, DeploymentSummary, Engine, Firmware, TargetKey, Timeouts};
use crate::history::{BrokerIdentity, History};
use crate::link::{AckToken, InboundMessage, LinkEvent, PublishRequest, Publisher};
use crate::protocol::{Envelope, Event, Id, Md5Hex, TopicPrefix, decode, encode};
use crate::service::backlog::Backlog;
use crate::service::events::ServiceEvent;
use crate::service::writer::Writer;

const WAIT: Duration = Duration::from_secs(10);
/// Long enough that no look happens during a test but the first, at start.
const HELD_BACK: Duration = Duration::from_secs(3_600);

/// One owner, as one process runs it, with its link played by the test.
struct Process {
    requests: mpsc::Sender<Request>,
    link: mpsc::Sender<LinkEvent>,
    published: mpsc::Receiver<PublishRequest>,
    events: broadcast::Receiver<ServiceEvent>,
    task: JoinHandle<Stopped>,
}

impl Process {
    fn start(history: &Path, look_every: Duration) -> Self {
        let (events_tx, events) = broadcast::channel(1024);
        let (committed_tx, committed_rx) = mpsc::unbounded_channel();
        let writer = Writer::start(
            History::open(history).unwrap(),
            events_tx.clone(),
            committed_tx,
        )
        .unwrap();
        let (publish_tx, published) = mpsc::channel(64);
        let (backlog, _) = watch::channel(Backlog::Arriving);
        let owner = Owner::new(Parts {
            engine: Engine::new(),
            prefix: TopicPrefix::default(),
            reader: History::open(history).unwrap(),
            writer,
            publisher: Some(Publisher::new(publish_tx)),
            events: events_tx,
            identity: Some(BrokerIdentity::demo()),
            drives: true,
            backlog,
            look_every,
        });
        let (requests, requests_rx) = mpsc::channel(16);
        let (link, link_rx) = mpsc::channel(64);
        let task = tokio::spawn(owner.run(requests_rx, Some(link_rx), committed_rx));
        Self {
            requests,
            link,
            published,
            events,
            task,
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(super::Reply<T>) -> Request) -> T {
        let (tx, rx) = oneshot::channel();
        self.requests.send(make(tx)).await.unwrap();
        tokio::time::timeout(WAIT, rx)
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    }

    /// The next command it publishes, confirmed as the broker would (PUBACK).
    async fn next_command(&mut self) -> Envelope {
        let sent = tokio::time::timeout(WAIT, self.published.recv())
            .await
            .expect("a command is published")
            .unwrap();
        self.link
            .send(LinkEvent::Published { id: sent.id })
            .await
            .unwrap();
        decode(&sent.topic, &sent.payload, &TopicPrefix::default())
            .unwrap()
            .envelope
    }

    async fn deliver(&self, envelope: &Envelope) {
        let encoded = encode(envelope, &TopicPrefix::default()).unwrap();
        let message = InboundMessage {
            topic: encoded.topic,
            payload: Bytes::from(encoded.body),
            oversize: None,
            duplicate: false,
            retained: false,
            ack: AckToken::qos0(),
        };
        self.link.send(LinkEvent::Message(message)).await.unwrap();
    }

    /// The next Finished it tells of, within `within`.
    async fn finished(&mut self, within: Duration) -> Option<DeploymentSummary> {
        let until = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(until, self.events.recv()).await {
                Err(_) => return None,
                Ok(Ok(ServiceEvent::Finished(summary))) => return Some((*summary).clone()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("events: {e}"),
            }
        }
    }

    /// Ends it as a process exits: its last commit, then its locks.
    async fn exit(self) {
        drop(self.requests);
        let Stopped { writer, locks } = self.task.await.unwrap();
        tokio::task::spawn_blocking(move || {
            drop(writer);
            drop(locks);
        })
        .await
        .unwrap();
    }
}

fn spec() -> DeploymentSpec {
    DeploymentSpec {
        deployment_id: Id::new("dep-late").unwrap(),
        firmware: Firmware {
            firmware_version: "1.0.1".into(),
            file_url: "https://example.com/firmware-1-0-1.bin".into(),
            file_size: 779,
            checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").unwrap(),
        },
        targets: vec![TargetKey::new(
            Id::new("store-1").unwrap(),
            Id::new("ctrl-1").unwrap(),
        )],
        timeouts: Timeouts {
            ack: Duration::from_secs(60),
            completion: Duration::from_secs(600),
        },
        policy: Default::default(),
    }
}

/// The controller's reply to `command`.
fn reply(command: &Envelope, event: Event) -> Envelope {
    Envelope {
        timestamp: command.timestamp,
        correlation_id: command.correlation_id.clone(),
        store_id: command.store_id.clone(),
        controller_id: command.controller_id.clone(),
        event,
    }
}

/// Process A drives the deployment to its end. Process B starts before A finishes (and follows
/// the deployment), or after A has exited and longer ago than the follower's margin for clocks
/// (the end is old news to B). Gives B and the reply that arrives late, after A has exited.
async fn finished_by_a(history: &Path, b_follows: bool) -> (Process, Envelope) {
    let mut a = Process::start(history, super::LOOK_EVERY);
    let deployment = a.ask(|tx| Request::Deploy(spec(), tx)).await;
    let command = a.next_command().await;
    let id = deployment.deployment_id.clone();
    let mut b = None;
    if b_follows {
        let started = Process::start(history, HELD_BACK);
        // Its first look: A holds the lock, so B follows the deployment.
        started.ask(Request::Sync).await;
        assert!(!started.ask(|tx| Request::Drives(id.clone(), tx)).await);
        b = Some(started);
    }
    let ack = Event::UpdateFirmwareAck {
        deployment_id: id.clone(),
    };
    a.deliver(&reply(&command, ack)).await;
    let completed = reply(
        &command,
        Event::UpdateFirmwareCompleted {
            deployment_id: id.clone(),
        },
    );
    a.deliver(&completed).await;
    let told = a
        .finished(WAIT)
        .await
        .expect("A tells the deployment finished");
    assert!(told.finished && told.counts.completed == 1, "{told:?}");
    a.exit().await;
    let b = match b {
        Some(b) => b,
        None => {
            tokio::time::sleep(Duration::from_millis(2_100)).await;
            Process::start(history, HELD_BACK)
        }
    };
    (b, completed)
}

#[tokio::test]
async fn a_followed_deployment_taken_over_by_a_late_reply_is_told_finished_once() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.sqlite");
    let (mut b, late) = finished_by_a(&history, true).await;

    // The controller's completion again, before B's next look: B takes the deployment over.
    b.deliver(&late).await;
    let told = b
        .finished(WAIT)
        .await
        .expect("B tells the followed deployment finished");
    assert_eq!(told.deployment_id.as_str(), "dep-late");
    assert!(told.finished && told.counts.completed == 1, "{told:?}");
    assert!(
        b.ask(|tx| Request::Drives(told.deployment_id.clone(), tx))
            .await
    );

    // A look (Sync looks too) and another late reply tell it no second time.
    b.ask(Request::Sync).await;
    b.deliver(&late).await;
    b.ask(Request::Sync).await;
    assert_eq!(b.finished(Duration::from_millis(300)).await, None);
    b.exit().await;
}

#[tokio::test]
async fn a_deployment_that_ended_before_this_process_started_is_not_told_again() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.sqlite");
    let (mut b, late) = finished_by_a(&history, false).await;

    b.deliver(&late).await;
    b.ask(Request::Sync).await;
    assert!(
        b.ask(|tx| Request::Drives(late.event.deployment_id().clone(), tx))
            .await,
        "the late reply is recorded by a process that drives the deployment"
    );
    assert_eq!(b.finished(Duration::from_millis(300)).await, None);
    b.exit().await;
}
