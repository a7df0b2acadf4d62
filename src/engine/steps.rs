//! The small state changes every engine call is built from: a status change with its
//! counts, clocks and transition; a new command.

use super::command_id::CommandId;
use super::deployment::Deployment;
use super::effects::{CommandKind, CommandRole, Effects, OutboundCommand, Transition};
use super::machine::{CommandRef, Engine};
use super::status::TargetStatus;
use super::target::{CommandRecord, Target};
use super::time::Millis;

impl Engine {
    /// The one place a current attempt's status changes: counts, clocks and the transition
    /// record follow it. `errors` is kept only for failed.
    pub(crate) fn set_status(
        &mut self,
        slot: usize,
        index: usize,
        to: TargetStatus,
        now: Millis,
        errors: Vec<String>,
        fx: &mut Effects,
    ) {
        let Some(d) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let timeouts = d.state.timeouts;
        let wave = d.wave_of(index);
        let Some(target) = d.state.targets.get_mut(index) else {
            return;
        };
        let attempt = &mut target.current;
        let from = attempt.status;
        if from == to {
            return;
        }
        self.deadlines
            .on_status_change(slot, index, attempt.sent_at(), &timeouts, from, to);
        d.counts.shift(from, to);
        d.wave_tallies.shift(wave, from, to);
        let in_flight_change = (attempt.update.is_some() && from.is_terminal() != to.is_terminal())
            .then(|| (target.store_id.clone(), from.is_terminal()));
        let errors = if matches!(to, TargetStatus::Failed | TargetStatus::Skipped) {
            errors
        } else {
            Vec::new()
        };
        attempt.status = to;
        attempt.updated_at = now;
        attempt.errors = errors.iter().cloned().collect();
        fx.transitions.push(Transition {
            deployment_id: d.state.deployment_id.clone(),
            store_id: target.store_id.clone(),
            controller_id: target.controller_id.clone(),
            attempt: attempt.number,
            from,
            to,
            at: now,
            errors,
            wave,
        });
        if let Some((store_id, up)) = in_flight_change {
            d.shift_in_flight(&store_id, up);
        }
    }

    /// The current update command has left (PUBACK or a reply proved it): its clocks start
    /// now, a queued target becomes sent. With `follow_up`, a command that a cancel had
    /// withdrawn but that left anyway is followed by a cancel command. Later proofs change
    /// nothing.
    pub(crate) fn update_left(
        &mut self,
        slot: usize,
        index: usize,
        now: Millis,
        follow_up: bool,
        fx: &mut Effects,
    ) {
        let Some(target) = self.target_mut(slot, index) else {
            return;
        };
        let attempt = &mut target.current;
        let Some(update) = attempt.update.as_mut() else {
            return;
        };
        if update.sent_at.is_some() {
            return;
        }
        update.sent_at = Some(now);
        let escaped = update.withdrawn;
        let status = attempt.status;
        match status {
            TargetStatus::Queued => {
                self.set_status(slot, index, TargetStatus::Sent, now, Vec::new(), fx);
            }
            TargetStatus::Cancelled if escaped && follow_up => {
                self.request_cancel(slot, index, now, fx);
            }
            _ => {}
        }
    }

    /// Makes a cancel command for the current attempt and marks the target cancel_requested.
    pub(crate) fn request_cancel(
        &mut self,
        slot: usize,
        index: usize,
        now: Millis,
        fx: &mut Effects,
    ) {
        if self.new_command(slot, index, CommandRole::Cancel, fx) {
            self.set_status(
                slot,
                index,
                TargetStatus::CancelRequested,
                now,
                Vec::new(),
                fx,
            );
        }
    }

    /// Creates a command with a fresh correlation id for the current attempt, registers it
    /// and queues it for sending. False if the attempt already has one of that role.
    pub(crate) fn new_command(
        &mut self,
        slot: usize,
        index: usize,
        role: CommandRole,
        fx: &mut Effects,
    ) -> bool {
        let correlation_id = self.fresh_id();
        let attempt = {
            let Some(target) = self.target_mut(slot, index) else {
                return false;
            };
            let attempt = &mut target.current;
            let record = CommandRecord::new(correlation_id);
            match role {
                CommandRole::Update if attempt.update.is_none() => attempt.update = Some(record),
                CommandRole::Cancel if attempt.cancel.is_none() => {
                    attempt.cancel = Some(Box::new(record));
                }
                _ => return false,
            }
            attempt.number
        };
        if role == CommandRole::Update
            && let Some(d) = self.deployment_at_mut(slot)
            && let Some(target) = d.state.targets.get(index)
            && !target.status().is_terminal()
        {
            let store_id = target.store_id.clone();
            d.shift_in_flight(&store_id, true);
        }
        self.commands
            .insert(&self.slots, CommandRef::new(slot, index, attempt, role));
        let command = self.deployment_at(slot).and_then(|d| {
            let target = d.state.targets.get(index)?;
            let record = target.current.command(role)?;
            Some(outbound(d, target, record, role, attempt))
        });
        fx.commands.extend(command);
        true
    }
}

impl Engine {
    /// A correlation id not used by any held command (a v4 collision is astronomically rare,
    /// but a restored history may hold ids of any shape).
    fn fresh_id(&self) -> CommandId {
        loop {
            let id = CommandId::new_v4();
            if !self.commands.contains(&self.slots, &id) {
                return id;
            }
        }
    }
}

/// The outbound value of a recorded command.
pub(crate) fn outbound(
    d: &Deployment,
    target: &Target,
    record: &CommandRecord,
    role: CommandRole,
    attempt: u32,
) -> OutboundCommand {
    let kind = match role {
        CommandRole::Update => {
            CommandKind::Update(d.state.firmware.update_for(&d.state.deployment_id))
        }
        CommandRole::Cancel => CommandKind::Cancel,
    };
    OutboundCommand {
        deployment_id: d.state.deployment_id.clone(),
        store_id: target.store_id.clone(),
        controller_id: target.controller_id.clone(),
        correlation_id: record.correlation_id.to_id(),
        attempt,
        kind,
    }
}
