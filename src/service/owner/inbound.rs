//! Every message from the broker is recorded once, with what became of it, and acknowledged
//! only after its batch is committed. Replies go to the engine when this process drives
//! their deployment; replies for a deployment another process drives are recorded as
//! `deferred` (that process applies its own copy; a process that takes the deployment over
//! later applies the deferred ones, so a reply heard only here is not lost).

use bytes::Bytes;

use super::Owner;
use super::driving::Claim;
use crate::engine::{InboundOutcome, Millis, ObservedCommand, RejectReason, TargetStatus};
use crate::history::{
    ControllerSeen, MessageDirection, MessageRecord, ObservedChange, ObservedKind, Oversize,
};
use crate::link::{InboundMessage, LinkEvent};
use crate::protocol::{Event, Inbound};
use crate::protocol::{Rejection, TopicAddress, decode};
use crate::service::backlog::Backlog;
use crate::service::events::ServiceEvent;
use crate::service::now_millis;

/// The outcome of a reply recorded for a deployment another process drives.
pub(super) const DEFERRED: &str = "deferred";

impl Owner {
    pub(super) fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::State(state) => {
                let connected = state.is_connected();
                if !connected {
                    // A new connection brings its own backlog and mark.
                    self.backlog.send_replace(Backlog::Arriving);
                }
                let _ = self.events.send(ServiceEvent::Link(state));
                if connected {
                    self.pump();
                }
            }
            LinkEvent::Published { id } => {
                if let Some(item) = self.inflight.remove(&id) {
                    let now = now_millis();
                    self.staged
                        .batch
                        .sent
                        .push((item.correlation_id.to_string(), now));
                    self.staged_rows += 1;
                    match self.engine.on_published(&item.correlation_id, now) {
                        Ok(fx) => self.stage(fx),
                        Err(e) => tracing::debug!(error = %e, "publish of an unknown command"),
                    }
                    self.touched
                        .insert((item.deployment_id, item.store_id, item.controller_id));
                }
                self.pump();
            }
            LinkEvent::Message(message) => self.on_message(message),
            LinkEvent::SubscribeRefused { filter } => {
                tracing::error!(%filter, "the broker refused a subscription; replies on it will not arrive");
            }
            // Every message before the mark has been applied; its ack goes out after theirs.
            LinkEvent::BacklogMark { ack, current } => {
                // Counted like a message: the commit hands its ack back as one.
                self.uncommitted_inbound += 1;
                self.staged.acks.push(ack);
                if current {
                    tracing::debug!("the messages the broker kept for this session are taken in");
                    self.backlog.send_replace(Backlog::TakenIn);
                }
            }
            LinkEvent::BacklogUnmarked => {
                self.backlog.send_replace(Backlog::Unmarked);
            }
        }
    }

    fn on_message(&mut self, message: InboundMessage) {
        let now = now_millis();
        let InboundMessage {
            topic,
            payload,
            oversize,
            ack,
            ..
        } = message;
        self.uncommitted_inbound += 1;
        let mut record = MessageRecord {
            direction: MessageDirection::In,
            topic,
            // A copy, not a slice: a slice of the link's read buffer would keep the whole
            // buffer alive until the commit.
            body: Bytes::copy_from_slice(&payload),
            at: now,
            event_type: None,
            deployment_id: None,
            store_id: None,
            controller_id: None,
            correlation_id: None,
            outcome: String::new(),
            reason: None,
            oversize: oversize.map(|o| Oversize {
                size: o.size,
                md5: o.md5,
            }),
        };
        self.inbound += 1;
        let decoded = match &record.oversize {
            // The link kept only an excerpt: the message is refused for its size.
            Some(o) => Err(Rejection::TooLarge {
                size: usize::try_from(o.size).unwrap_or(usize::MAX),
                limit: crate::protocol::MAX_BODY_BYTES,
            }),
            None => decode(&record.topic, &payload, &self.prefix),
        };
        // For the inventory: which controller's topic this came on, and whether it came from
        // the controller (a reply, or anything undecodable) or was addressed to it.
        let seen: Option<ControllerSeen>;
        match decoded {
            Err(rejection) => {
                self.rejected += 1;
                record.outcome = rejection.code().to_owned();
                record.reason = Some(rejection.to_string());
                seen = TopicAddress::parse(&record.topic, &self.prefix)
                    .ok()
                    .map(|a| ControllerSeen {
                        store_id: a.store_id.into_string(),
                        controller_id: a.controller_id.into_string(),
                        at: Some(now),
                    });
            }
            Ok(inbound) => {
                let env = &inbound.envelope;
                seen = Some(ControllerSeen {
                    store_id: env.store_id.to_string(),
                    controller_id: env.controller_id.to_string(),
                    at: (!inbound.event_type().is_command()).then_some(now),
                });
                record.event_type = Some(inbound.event_type().as_str().to_owned());
                record.deployment_id = Some(env.event.deployment_id().to_string());
                record.store_id = Some(env.store_id.to_string());
                record.controller_id = Some(env.controller_id.to_string());
                record.correlation_id = Some(env.correlation_id.to_string());
                let mut handled = self.engine.on_inbound(&inbound, now);
                if matches!(
                    handled.outcome,
                    InboundOutcome::Rejected(RejectReason::UnknownDeployment)
                ) {
                    match self.claim(env.event.deployment_id()) {
                        // A late report for a deployment that finished before a restart, or
                        // one whose driver is gone: the controller's word still counts.
                        Claim::Driving => handled = self.engine.on_inbound(&inbound, now),
                        Claim::Deferred(why) => {
                            record.outcome = DEFERRED.to_owned();
                            record.reason = Some(why.to_owned());
                            self.record(record, seen, ack);
                            return;
                        }
                        Claim::Observed => {
                            self.stage_observed_reply(&inbound, now);
                            record.outcome = "observed".to_owned();
                            self.record(record, seen, ack);
                            return;
                        }
                        Claim::NotOurs => {}
                    }
                }
                record.outcome = handled.outcome.code().to_owned();
                match &handled.outcome {
                    InboundOutcome::OwnEcho { .. } => {
                        // Our own command coming back: already recorded as sent.
                        self.inbound -= 1;
                        self.staged.acks.push(ack);
                        self.stage(handled.effects);
                        return;
                    }
                    InboundOutcome::Unchanged { reason, .. } => {
                        record.reason = Some(reason.to_string());
                    }
                    InboundOutcome::Rejected(reason) => {
                        self.rejected += 1;
                        record.reason = Some(reason.to_string());
                    }
                    InboundOutcome::Observed(observed) if observed.known_deployment => {
                        // Another Storefleet process cancelled a deployment we also run.
                        let adopted = self.engine.adopt_cancel(observed, now);
                        self.stage(adopted);
                    }
                    InboundOutcome::Observed(observed) => {
                        self.stage_observed_command(observed, now);
                    }
                    InboundOutcome::Applied(_) => {}
                }
                self.stage(handled.effects);
            }
        }
        self.record(record, seen, ack);
    }

    /// Another installation's command: its deployment (made on first sight) gets the target.
    fn stage_observed_command(&mut self, observed: &ObservedCommand, now: Millis) {
        // One of this history's own, sent by the process that drives it, is not another
        // operator's (the history keeps it local when it has it).
        if !matches!(
            self.reader.ownership(observed.deployment_id.as_str()),
            Ok(Some(o)) if o.local
        ) {
            self.observed.insert(observed.deployment_id.clone());
        }
        let kind = match &observed.firmware {
            Some(f) => ObservedKind::Update {
                firmware_version: f.firmware_version.clone(),
                file_url: f.file_url.clone(),
                file_size: f.file_size,
                checksum: f.checksum.as_str().to_owned(),
                broker: self.identity.clone(),
            },
            None => ObservedKind::Cancel,
        };
        self.staged.batch.observed.push(ObservedChange {
            deployment_id: observed.deployment_id.to_string(),
            store_id: observed.store_id.to_string(),
            controller_id: observed.controller_id.to_string(),
            at: now,
            kind,
        });
        self.staged_rows += 1;
    }

    /// A controller's reply to another operator's command.
    fn stage_observed_reply(&mut self, inbound: &Inbound, now: Millis) {
        let env = &inbound.envelope;
        let (to, errors) = match &env.event {
            Event::UpdateFirmwareAck { .. } => (TargetStatus::Acknowledged, Vec::new()),
            Event::UpdateFirmwareCompleted { .. } => (TargetStatus::Completed, Vec::new()),
            Event::UpdateFirmwareFailed { errors, .. } => (TargetStatus::Failed, errors.clone()),
            Event::CancelUpdateFirmwareAck { .. } => (TargetStatus::Cancelled, Vec::new()),
            Event::UpdateFirmware(_) | Event::CancelUpdateFirmware { .. } => return,
        };
        self.staged.batch.observed.push(ObservedChange {
            deployment_id: env.event.deployment_id().to_string(),
            store_id: env.store_id.to_string(),
            controller_id: env.controller_id.to_string(),
            at: now,
            kind: ObservedKind::Reply { to, errors },
        });
        self.staged_rows += 1;
    }

    fn record(
        &mut self,
        record: MessageRecord,
        seen: Option<ControllerSeen>,
        ack: crate::link::AckToken,
    ) {
        self.staged.batch.messages.push(record);
        self.staged.batch.seen.extend(seen);
        self.staged.acks.push(ack);
        self.staged_rows += 1;
    }
}
