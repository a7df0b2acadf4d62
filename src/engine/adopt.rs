//! Cancels sent by another Storefleet process for a deployment this engine also runs.
//!
//! The desktop app and the CLI may both resume one deployment from the shared history. When
//! one of them cancels, the other hears the cancel commands on the broker. Adopting them keeps
//! both engines in step: the target becomes cancel_requested here too, the cancel acks match,
//! and neither process later writes a stale status (a timeout) over the cancellation.

use super::command_id::CommandId;
use super::effects::{CommandRole, Effects};
use super::machine::{CommandRef, Engine};
use super::outcome::ObservedCommand;
use super::status::TargetStatus;
use super::target::CommandRecord;
use super::time::Millis;

impl Engine {
    /// Takes over an observed `cancel_update_firmware` for one of this engine's targets, if
    /// the target is still running and has no cancel of its own. Nothing is sent.
    pub fn adopt_cancel(&mut self, observed: &ObservedCommand, now: Millis) -> Effects {
        let mut fx = Effects::default();
        let correlation_id = CommandId::of(&observed.correlation_id);
        if observed.role != CommandRole::Cancel
            || self.commands.contains(&self.slots, &correlation_id)
        {
            return fx;
        }
        let Ok(slot) = self.slot_of(&observed.deployment_id) else {
            return fx;
        };
        let Some(index) = self
            .deployment_at(slot)
            .and_then(|d| d.find(&observed.store_id, &observed.controller_id))
        else {
            return fx;
        };
        let Some(target) = self.target_mut(slot, index) else {
            return fx;
        };
        let attempt = &mut target.current;
        let running = matches!(
            attempt.status,
            TargetStatus::Queued | TargetStatus::Sent | TargetStatus::Acknowledged
        );
        if !running || attempt.cancel.is_some() {
            return fx;
        }
        let mut record = CommandRecord::new(correlation_id);
        record.sent_at = Some(now);
        attempt.cancel = Some(Box::new(record));
        let number = attempt.number;
        self.commands.insert(
            &self.slots,
            CommandRef::new(slot, index, number, CommandRole::Cancel),
        );
        self.set_status(
            slot,
            index,
            TargetStatus::CancelRequested,
            now,
            Vec::new(),
            &mut fx,
        );
        fx
    }
}
