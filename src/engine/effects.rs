//! What the engine asks its owner to do: record and stream transitions, publish commands,
//! and withdraw commands that have not left the outbox.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::rollout::RolloutEvent;
use super::status::TargetStatus;
use super::time::Millis;
use crate::protocol::{Envelope, Event, FirmwareUpdate, Id};

/// Which of the two commands a correlation id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CommandRole {
    /// `update_firmware`
    Update,
    /// `cancel_update_firmware`
    Cancel,
}

/// The body of an outbound command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    Update(FirmwareUpdate),
    Cancel,
}

/// A command to publish (after recording it in the outbox). The owner adds the wall-clock
/// timestamp with [`OutboundCommand::to_envelope`] and encodes it with
/// `protocol::encode_command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCommand {
    pub deployment_id: Id,
    pub store_id: Id,
    pub controller_id: Id,
    /// Fresh for every command; [`super::Engine::on_published`] takes it back.
    pub correlation_id: Id,
    /// The target's attempt this command belongs to, from 1.
    pub attempt: u32,
    pub kind: CommandKind,
}

impl OutboundCommand {
    pub fn role(&self) -> CommandRole {
        match self.kind {
            CommandKind::Update(_) => CommandRole::Update,
            CommandKind::Cancel => CommandRole::Cancel,
        }
    }

    /// The envelope to encode, stamped with the owner's clock.
    pub fn to_envelope(&self, timestamp: DateTime<FixedOffset>) -> Envelope {
        let event = match &self.kind {
            CommandKind::Update(update) => Event::UpdateFirmware(update.clone()),
            CommandKind::Cancel => Event::CancelUpdateFirmware {
                deployment_id: self.deployment_id.clone(),
            },
        };
        Envelope {
            timestamp,
            correlation_id: self.correlation_id.clone(),
            store_id: self.store_id.clone(),
            controller_id: self.controller_id.clone(),
            event,
        }
    }
}

/// One status change of one target, for history and for live views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Transition {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub deployment_id: Id,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub store_id: Id,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub controller_id: Id,
    /// The attempt `to` belongs to (a retry's `failed -> queued` carries the new attempt).
    pub attempt: u32,
    pub from: TargetStatus,
    pub to: TargetStatus,
    pub at: Millis,
    /// The controller's error list, exactly, when `to` is failed; otherwise empty.
    pub errors: Vec<String>,
    /// The target's wave (0: the canary, or the only wave).
    #[serde(default)]
    pub wave: u32,
}

/// Everything one engine call produced, in the order it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub transitions: Vec<Transition>,
    /// To record in the outbox, then publish.
    pub commands: Vec<OutboundCommand>,
    /// Correlation ids of commands to drop from the outbox unpublished: their target was
    /// cancelled before they left. If one is published anyway, report it with
    /// `on_published` as usual and the engine follows up with a cancel.
    pub withdrawn: Vec<Id>,
    /// Plans, wave starts, pauses and resumes: record them with the deployment's
    /// [`super::RolloutControl`] as it is after the call.
    pub rollout: Vec<RolloutEvent>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.transitions.is_empty()
            && self.commands.is_empty()
            && self.withdrawn.is_empty()
            && self.rollout.is_empty()
    }
}
