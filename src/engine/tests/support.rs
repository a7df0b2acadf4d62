//! Test helpers: a small fleet, a fake clock, and replies built with the protocol's API.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use crate::engine::{
    CommandRole, DeploymentSpec, Effects, Engine, Firmware, Handled, InboundOutcome, Millis,
    OutboundCommand, RejectReason, Target, TargetKey, TargetStatus, Timeouts, UnchangedReason,
};
use crate::protocol::{
    Envelope, Event, EventType, Id, Inbound, Md5Hex, TopicPrefix, decode, encode,
};

/// The fake clock's start: created at T0, everything else relative to it.
pub const T0: u64 = 1_700_000_000_000;
pub const ACK_MS: u64 = 10_000;
pub const DONE_MS: u64 = 60_000;

pub fn at(offset_ms: u64) -> Millis {
    Millis(T0 + offset_ms)
}

pub fn id(s: &str) -> Id {
    Id::new(s).expect("valid id")
}

pub fn key(store: &str, controller: &str) -> TargetKey {
    TargetKey::new(id(store), id(controller))
}

pub fn firmware() -> Firmware {
    Firmware {
        firmware_version: "1.0.1".into(),
        file_url: "https://example.com/firmware-1-0-1.bin".into(),
        file_size: 779,
        checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").expect("md5"),
    }
}

pub fn timeouts() -> Timeouts {
    Timeouts {
        ack: Duration::from_millis(ACK_MS),
        completion: Duration::from_millis(DONE_MS),
    }
}

/// Target `i` is store `s{i / 10}`, controller `c{i}`.
pub fn keys(n: usize) -> Vec<TargetKey> {
    (0..n)
        .map(|i| key(&format!("s{}", i / 10), &format!("c{i}")))
        .collect()
}

pub fn spec(deployment: &str, targets: Vec<TargetKey>) -> DeploymentSpec {
    DeploymentSpec {
        deployment_id: id(deployment),
        firmware: firmware(),
        targets,
        timeouts: timeouts(),
        policy: Default::default(),
    }
}

fn timestamp() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2024-01-15T15:30:25+07:00").expect("timestamp")
}

/// An inbound message as the decoder would produce it.
pub fn message(store: &Id, controller: &Id, correlation_id: &Id, event: Event) -> Inbound {
    Inbound {
        envelope: Envelope {
            timestamp: timestamp(),
            correlation_id: correlation_id.clone(),
            store_id: store.clone(),
            controller_id: controller.clone(),
            event,
        },
        version: "1.0.0".into(),
        raw_timestamp: "2024-01-15T15:30:25+07:00".into(),
    }
}

/// A controller's reply to `cmd`: same target, deployment and correlation id.
pub fn reply(cmd: &OutboundCommand, event_type: EventType) -> Inbound {
    reply_with(cmd, event_type, &cmd.correlation_id)
}

pub fn reply_with(cmd: &OutboundCommand, event_type: EventType, correlation: &Id) -> Inbound {
    let deployment_id = cmd.deployment_id.clone();
    let event = match event_type {
        EventType::UpdateFirmwareAck => Event::UpdateFirmwareAck { deployment_id },
        EventType::UpdateFirmwareCompleted => Event::UpdateFirmwareCompleted { deployment_id },
        EventType::UpdateFirmwareFailed => Event::UpdateFirmwareFailed {
            deployment_id,
            errors: vec!["disk full".into(), "rollback done".into()],
        },
        EventType::CancelUpdateFirmwareAck => Event::CancelUpdateFirmwareAck { deployment_id },
        EventType::UpdateFirmware => Event::UpdateFirmware(firmware().update_for(&deployment_id)),
        EventType::CancelUpdateFirmware => Event::CancelUpdateFirmware { deployment_id },
    };
    message(&cmd.store_id, &cmd.controller_id, correlation, event)
}

pub fn ack(cmd: &OutboundCommand) -> Inbound {
    reply(cmd, EventType::UpdateFirmwareAck)
}

pub fn completed(cmd: &OutboundCommand) -> Inbound {
    reply(cmd, EventType::UpdateFirmwareCompleted)
}

pub fn failed(cmd: &OutboundCommand, errors: &[&str]) -> Inbound {
    message(
        &cmd.store_id,
        &cmd.controller_id,
        &cmd.correlation_id,
        Event::UpdateFirmwareFailed {
            deployment_id: cmd.deployment_id.clone(),
            errors: errors.iter().map(|e| (*e).to_owned()).collect(),
        },
    )
}

pub fn cancel_ack(cmd: &OutboundCommand) -> Inbound {
    reply(cmd, EventType::CancelUpdateFirmwareAck)
}

/// Our own command as the broker delivers it back on the wildcard subscription, through the
/// real encoder and decoder.
pub fn echo(cmd: &OutboundCommand) -> Inbound {
    wire(&cmd.to_envelope(timestamp()))
}

/// Encodes and decodes an envelope, as the link would deliver it.
pub fn wire(envelope: &Envelope) -> Inbound {
    let prefix = TopicPrefix::default();
    let encoded = encode(envelope, &prefix).expect("encode");
    decode(&encoded.topic, &encoded.body, &prefix).expect("decode")
}

/// One deployment driven through an engine, remembering the latest commands per target.
pub struct Run {
    pub engine: Engine,
    pub deployment_id: Id,
    pub keys: Vec<TargetKey>,
    /// Latest update command per target index.
    pub updates: Vec<OutboundCommand>,
    /// Latest cancel command per target index.
    pub cancels: HashMap<usize, OutboundCommand>,
}

impl Run {
    /// `n` targets created at T0; nothing published yet.
    pub fn new(n: usize) -> Self {
        let keys = keys(n);
        let mut engine = Engine::new();
        let fx = engine
            .create(spec("dep-1", keys.clone()), at(0))
            .expect("create");
        let mut run = Self {
            engine,
            deployment_id: id("dep-1"),
            keys,
            updates: Vec::new(),
            cancels: HashMap::new(),
        };
        run.updates = fx.commands.clone();
        run
    }

    /// `n` targets, every update published at `at(1_000)`.
    pub fn sent(n: usize) -> Self {
        let mut run = Self::new(n);
        run.publish_updates(at(1_000));
        run
    }

    /// `n` targets, sent at `at(1_000)` and acknowledged at `at(2_000)`.
    pub fn acknowledged(n: usize) -> Self {
        let mut run = Self::sent(n);
        for i in 0..n {
            let msg = ack(&run.updates[i]);
            run.inbound(&msg, at(2_000));
        }
        run
    }

    pub fn index_of(&self, cmd: &OutboundCommand) -> usize {
        self.keys
            .iter()
            .position(|k| k.store_id == cmd.store_id && k.controller_id == cmd.controller_id)
            .expect("target of command")
    }

    /// Remembers the commands an effect carries.
    pub fn note(&mut self, fx: &Effects) {
        for cmd in &fx.commands {
            let i = self.index_of(cmd);
            match cmd.role() {
                CommandRole::Update => self.updates[i] = cmd.clone(),
                CommandRole::Cancel => {
                    self.cancels.insert(i, cmd.clone());
                }
            }
        }
    }

    pub fn publish_updates(&mut self, now: Millis) {
        for i in 0..self.updates.len() {
            self.publish(&self.updates[i].correlation_id.clone(), now);
        }
    }

    pub fn publish(&mut self, correlation_id: &Id, now: Millis) -> Effects {
        let fx = self
            .engine
            .on_published(correlation_id, now)
            .expect("published");
        self.note(&fx);
        fx
    }

    pub fn inbound(&mut self, msg: &Inbound, now: Millis) -> Handled {
        let handled = self.engine.on_inbound(msg, now);
        self.note(&handled.effects);
        handled
    }

    pub fn cancel(&mut self, now: Millis) -> Effects {
        let fx = self
            .engine
            .cancel(&self.deployment_id, now)
            .expect("cancel");
        self.note(&fx);
        fx
    }

    pub fn retry(&mut self, now: Millis) -> Effects {
        let fx = self.engine.retry(&self.deployment_id, now).expect("retry");
        self.note(&fx);
        fx
    }

    pub fn tick(&mut self, now: Millis) -> Effects {
        let fx = self.engine.tick(now);
        self.note(&fx);
        fx
    }

    pub fn target(&self, i: usize) -> &Target {
        &self
            .engine
            .deployment(&self.deployment_id)
            .expect("deployment")
            .targets()[i]
    }

    pub fn status(&self, i: usize) -> TargetStatus {
        self.target(i).status()
    }

    pub fn statuses(&self) -> Vec<TargetStatus> {
        (0..self.keys.len()).map(|i| self.status(i)).collect()
    }

    pub fn cancel_cmd(&self, i: usize) -> &OutboundCommand {
        self.cancels.get(&i).expect("cancel command")
    }
}

/// The (from, to) pairs of an effect's transitions.
pub fn moves(fx: &Effects) -> Vec<(TargetStatus, TargetStatus)> {
    fx.transitions.iter().map(|t| (t.from, t.to)).collect()
}

pub fn rejected(reason: RejectReason) -> InboundOutcome {
    InboundOutcome::Rejected(reason)
}

pub fn unchanged_reason(outcome: &InboundOutcome) -> Option<UnchangedReason> {
    match outcome {
        InboundOutcome::Unchanged { reason, .. } => Some(*reason),
        _ => None,
    }
}
