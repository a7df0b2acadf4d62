//! Inbound messages: matching a decoded message to a target and applying it.
//!
//! Replies are matched by (deployment_id, store_id, controller_id). The correlation id then
//! says which command, and so which attempt, a reply answers:
//! - an ack must carry the correlation id of a command of ours to this target, of its own
//!   kind (update ack: the update; cancel ack: the cancel);
//! - a report (completed, failed) with one of our correlation ids goes to that command's
//!   attempt; a report with an id we never issued is taken as the controller's word on the
//!   current attempt, once that attempt's command has left (DESIGN.md matches reports by
//!   deployment and target only);
//! - an id of ours that belongs to another target or deployment is refused as spoofed.
//!
//! A reply to an earlier attempt is `stale_attempt` and changes nothing.

use super::command_id::CommandId;
use super::effects::{CommandRole, Effects};
use super::machine::Engine;
use super::outcome::{
    Handled, InboundOutcome, ObservedCommand, RejectReason, TargetRef, UnchangedReason,
};
use super::status::TargetStatus;
use super::time::Millis;
use crate::protocol::{Envelope, Event, Id, Inbound};

/// Which of our commands a reply's correlation id names, relative to its target.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// A command of the target's current attempt.
    Current(CommandRole),
    /// A command of an earlier attempt (its number).
    Earlier(u32, CommandRole),
    /// No command of ours.
    Unknown,
}

/// The controller's verdict on an attempt.
enum Report {
    Completed,
    Failed(Vec<String>),
}

impl Engine {
    /// Applies one decoded message (from either topic family) and says what became of it.
    pub fn on_inbound(&mut self, message: &Inbound, now: Millis) -> Handled {
        let envelope = &message.envelope;
        let reply = match &envelope.event {
            Event::UpdateFirmware(_) => return self.on_command(envelope, CommandRole::Update),
            Event::CancelUpdateFirmware { .. } => {
                return self.on_command(envelope, CommandRole::Cancel);
            }
            Event::UpdateFirmwareAck { .. } => Reply::UpdateAck,
            Event::UpdateFirmwareCompleted { .. } => Reply::Report(Report::Completed),
            Event::UpdateFirmwareFailed { errors, .. } => {
                Reply::Report(Report::Failed(errors.clone()))
            }
            Event::CancelUpdateFirmwareAck { .. } => Reply::CancelAck,
        };
        let deployment_id = envelope.event.deployment_id();
        let Some(&slot) = self.by_id.get(deployment_id) else {
            return rejected(RejectReason::UnknownDeployment);
        };
        let Some(index) = self
            .deployment_at(slot)
            .and_then(|d| d.find(&envelope.store_id, &envelope.controller_id))
        else {
            return rejected(RejectReason::UnknownTarget);
        };
        let link = match self.link(slot, index, &envelope.correlation_id) {
            Ok(link) => link,
            Err(reason) => return rejected(reason),
        };
        let at = Spot {
            slot,
            index,
            deployment_id,
            envelope,
        };
        match reply {
            Reply::UpdateAck => self.update_ack(&at, link, now),
            Reply::Report(report) => self.report(&at, link, report, now),
            Reply::CancelAck => self.cancel_ack(&at, link, now),
        }
    }

    /// A command heard on the wildcard: our own echo if we issued its correlation id for
    /// exactly this target and kind, otherwise another operator's.
    fn on_command(&self, envelope: &Envelope, role: CommandRole) -> Handled {
        let deployment_id = envelope.event.deployment_id();
        if let Some(r) = self
            .commands
            .get(&self.slots, &CommandId::of(&envelope.correlation_id))
        {
            let ours = self.deployment_at(r.slot()).is_some_and(|d| {
                d.id() == deployment_id
                    && d.state.targets.get(r.target()).is_some_and(|t| {
                        t.store_id == envelope.store_id && t.controller_id == envelope.controller_id
                    })
            });
            if ours && r.role == role {
                return handled(InboundOutcome::OwnEcho {
                    target: target_ref(envelope, deployment_id, r.attempt),
                    role,
                });
            }
            return rejected(RejectReason::CorrelationIdReused);
        }
        let firmware = match &envelope.event {
            Event::UpdateFirmware(update) => Some(update.clone()),
            _ => None,
        };
        handled(InboundOutcome::Observed(ObservedCommand {
            deployment_id: deployment_id.clone(),
            store_id: envelope.store_id.clone(),
            controller_id: envelope.controller_id.clone(),
            correlation_id: envelope.correlation_id.clone(),
            role,
            firmware,
            known_deployment: self.by_id.contains_key(deployment_id),
        }))
    }

    fn link(&self, slot: usize, index: usize, correlation_id: &Id) -> Result<Link, RejectReason> {
        let Some(r) = self
            .commands
            .get(&self.slots, &CommandId::of(correlation_id))
        else {
            return Ok(Link::Unknown);
        };
        if r.slot() != slot || r.target() != index {
            return Err(RejectReason::CorrelationIdOfOtherTarget);
        }
        let current = self.target(slot, index).map(|t| t.current.number);
        Ok(if current == Some(r.attempt) {
            Link::Current(r.role)
        } else {
            Link::Earlier(r.attempt, r.role)
        })
    }

    fn update_ack(&mut self, at: &Spot<'_>, link: Link, now: Millis) -> Handled {
        match link {
            Link::Unknown => return rejected(RejectReason::UnknownCorrelationId),
            Link::Current(CommandRole::Cancel) | Link::Earlier(_, CommandRole::Cancel) => {
                return rejected(RejectReason::CorrelationIdOfOtherCommand);
            }
            Link::Earlier(n, CommandRole::Update) => {
                return at.unchanged(n, UnchangedReason::StaleAttempt);
            }
            Link::Current(CommandRole::Update) => {}
        }
        let Some(target) = self.target_mut(at.slot, at.index) else {
            return rejected(RejectReason::UnknownTarget);
        };
        let attempt = &mut target.current;
        let number = attempt.number;
        let status = attempt.status;
        let sent_at = attempt.sent_at();
        let Some(update) = attempt.update.as_mut() else {
            return rejected(RejectReason::UnknownCorrelationId);
        };
        if update.acked_at.is_some() {
            return at.unchanged(number, UnchangedReason::Duplicate);
        }
        update.acked_at = Some(now);
        let completion = self
            .deployment_at(at.slot)
            .map(|d| d.state.timeouts.completion);

        let mut fx = Effects::default();
        // The ack proves the command left, PUBACK or not: queued becomes sent first, and a
        // command a cancel had withdrawn is followed by a cancel.
        self.update_left(at.slot, at.index, now, true, &mut fx);
        let reason = match status {
            TargetStatus::Queued | TargetStatus::Sent => None,
            TargetStatus::Acknowledged => Some(UnchangedReason::Duplicate),
            TargetStatus::Completed | TargetStatus::Failed => {
                Some(UnchangedReason::AlreadyReported)
            }
            TargetStatus::CancelRequested => Some(UnchangedReason::CancelRequested),
            // A skipped target never had a command to answer.
            TargetStatus::Cancelled | TargetStatus::Skipped => Some(UnchangedReason::Cancelled),
            // A controller alive after an ack timeout will still report: revive it, unless
            // the completion clock (from the original send) has run out as well.
            TargetStatus::TimedOut => match (sent_at, completion) {
                (Some(sent), Some(span)) if now < sent.after(span) => None,
                _ => Some(UnchangedReason::TimedOut),
            },
        };
        if reason.is_none() {
            self.set_status(
                at.slot,
                at.index,
                TargetStatus::Acknowledged,
                now,
                Vec::new(),
                &mut fx,
            );
        }
        self.release_after(at.slot, now, &mut fx);
        at.finish(number, fx, reason)
    }

    fn report(&mut self, at: &Spot<'_>, link: Link, report: Report, now: Millis) -> Handled {
        let Some(target) = self.target(at.slot, at.index) else {
            return rejected(RejectReason::UnknownTarget);
        };
        let attempt = &target.current;
        match link {
            Link::Earlier(n, _) => return at.unchanged(n, UnchangedReason::StaleAttempt),
            Link::Unknown if attempt.sent_at().is_none() => return rejected(RejectReason::NotSent),
            Link::Unknown | Link::Current(_) => {}
        }
        let number = attempt.number;
        let same = match (&report, attempt.status) {
            (Report::Completed, TargetStatus::Completed) => Some(true),
            (Report::Failed(errors), TargetStatus::Failed) => {
                Some(errors.as_slice() == attempt.errors.as_slice())
            }
            (_, TargetStatus::Completed | TargetStatus::Failed) => Some(false),
            _ => None,
        };
        match same {
            Some(true) => return at.unchanged(number, UnchangedReason::Duplicate),
            Some(false) => return at.unchanged(number, UnchangedReason::AlreadyReported),
            None => {}
        }
        let mut fx = Effects::default();
        // The controller's word wins over timed_out, cancel_requested and cancelled: no
        // cancel follow-up for a withdrawn command that has finished anyway.
        self.update_left(at.slot, at.index, now, false, &mut fx);
        let (to, errors) = match report {
            Report::Completed => (TargetStatus::Completed, Vec::new()),
            Report::Failed(errors) => (TargetStatus::Failed, errors),
        };
        self.set_status(at.slot, at.index, to, now, errors, &mut fx);
        self.release_after(at.slot, now, &mut fx);
        at.finish(number, fx, None)
    }

    fn cancel_ack(&mut self, at: &Spot<'_>, link: Link, now: Millis) -> Handled {
        match link {
            Link::Unknown => return rejected(RejectReason::UnknownCorrelationId),
            Link::Current(CommandRole::Update) | Link::Earlier(_, CommandRole::Update) => {
                return rejected(RejectReason::CorrelationIdOfOtherCommand);
            }
            Link::Earlier(n, CommandRole::Cancel) => {
                return at.unchanged(n, UnchangedReason::StaleAttempt);
            }
            Link::Current(CommandRole::Cancel) => {}
        }
        let Some(target) = self.target_mut(at.slot, at.index) else {
            return rejected(RejectReason::UnknownTarget);
        };
        let attempt = &mut target.current;
        let number = attempt.number;
        let status = attempt.status;
        let Some(cancel) = attempt.cancel.as_mut() else {
            return rejected(RejectReason::UnknownCorrelationId);
        };
        if cancel.acked_at.is_some() {
            return at.unchanged(number, UnchangedReason::Duplicate);
        }
        cancel.acked_at = Some(now);
        cancel.sent_at.get_or_insert(now);
        match status {
            TargetStatus::CancelRequested => {
                let mut fx = Effects::default();
                self.set_status(
                    at.slot,
                    at.index,
                    TargetStatus::Cancelled,
                    now,
                    Vec::new(),
                    &mut fx,
                );
                self.release_after(at.slot, now, &mut fx);
                at.finish(number, fx, None)
            }
            TargetStatus::Completed | TargetStatus::Failed => {
                at.unchanged(number, UnchangedReason::AlreadyReported)
            }
            _ => at.unchanged(number, UnchangedReason::Duplicate),
        }
    }
}

enum Reply {
    UpdateAck,
    Report(Report),
    CancelAck,
}

/// The matched target of a reply being applied.
struct Spot<'a> {
    slot: usize,
    index: usize,
    deployment_id: &'a Id,
    envelope: &'a Envelope,
}

impl Spot<'_> {
    fn target(&self, attempt: u32) -> TargetRef {
        target_ref(self.envelope, self.deployment_id, attempt)
    }

    fn unchanged(&self, attempt: u32, reason: UnchangedReason) -> Handled {
        handled(InboundOutcome::Unchanged {
            target: self.target(attempt),
            reason,
        })
    }

    /// Applied if any status changed, else unchanged for `reason` (effects kept either way).
    fn finish(&self, attempt: u32, effects: Effects, reason: Option<UnchangedReason>) -> Handled {
        let target = self.target(attempt);
        let outcome = match reason {
            Some(reason) if effects.transitions.is_empty() => {
                InboundOutcome::Unchanged { target, reason }
            }
            _ => InboundOutcome::Applied(target),
        };
        Handled { outcome, effects }
    }
}

fn target_ref(envelope: &Envelope, deployment_id: &Id, attempt: u32) -> TargetRef {
    TargetRef {
        deployment_id: deployment_id.clone(),
        store_id: envelope.store_id.clone(),
        controller_id: envelope.controller_id.clone(),
        attempt,
    }
}

fn handled(outcome: InboundOutcome) -> Handled {
    Handled {
        outcome,
        effects: Effects::default(),
    }
}

fn rejected(reason: RejectReason) -> Handled {
    handled(InboundOutcome::Rejected(reason))
}
