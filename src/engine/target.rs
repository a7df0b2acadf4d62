//! One target's record: every attempt, and per attempt its commands and their fate.
//!
//! These are plain serde values: history persists them, and [`super::Engine::restore`]
//! takes them back after a restart.

use serde::{Deserialize, Serialize};
use thin_vec::ThinVec;

use super::command_id::CommandId;
use super::effects::CommandRole;
use super::status::TargetStatus;
use super::time::Millis;
use crate::protocol::Id;

/// One command the engine created, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// 16 bytes for the ids this engine makes (`benches/engine_memory.rs`).
    pub correlation_id: CommandId,
    /// When the broker confirmed the publish, or when a reply first proved that it left.
    /// `None`: still in the outbox, and re-sent with this same correlation id after a restart.
    pub sent_at: Option<Millis>,
    /// When the controller's ack of this command arrived.
    pub acked_at: Option<Millis>,
    /// A cancel dropped it from the outbox before it was sent.
    #[serde(default)]
    pub withdrawn: bool,
}

impl CommandRecord {
    pub fn new(correlation_id: CommandId) -> Self {
        Self {
            correlation_id,
            sent_at: None,
            acked_at: None,
            withdrawn: false,
        }
    }

    /// Waiting in the outbox: neither sent nor withdrawn.
    pub fn is_pending(&self) -> bool {
        self.sent_at.is_none() && !self.withdrawn
    }
}

/// One try at updating one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// From 1; a retry adds one.
    pub number: u32,
    pub status: TargetStatus,
    pub updated_at: Millis,
    /// The controller's errors when `status` is failed, exactly as reported. A `ThinVec`
    /// (8 B, empty without an allocation): almost every attempt has none.
    #[serde(default)]
    pub errors: ThinVec<String>,
    /// `None` while the rollout policy holds the target back (no command made yet).
    pub update: Option<CommandRecord>,
    /// Made when a cancel was requested for this attempt. Boxed: almost every attempt has
    /// none, and inline it would be 56 of a target's bytes (`benches/engine_memory.rs`).
    pub cancel: Option<Box<CommandRecord>>,
}

impl Attempt {
    pub(crate) fn queued(number: u32, now: Millis) -> Self {
        Self {
            number,
            status: TargetStatus::Queued,
            updated_at: now,
            errors: ThinVec::new(),
            update: None,
            cancel: None,
        }
    }

    pub fn command(&self, role: CommandRole) -> Option<&CommandRecord> {
        match role {
            CommandRole::Update => self.update.as_ref(),
            CommandRole::Cancel => self.cancel.as_deref(),
        }
    }

    pub(crate) fn command_mut(&mut self, role: CommandRole) -> Option<&mut CommandRecord> {
        match role {
            CommandRole::Update => self.update.as_mut(),
            CommandRole::Cancel => self.cancel.as_deref_mut(),
        }
    }

    /// When the update command was sent: the timeout clocks start here.
    pub fn sent_at(&self) -> Option<Millis> {
        self.update.as_ref().and_then(|c| c.sent_at)
    }
}

/// One (store, controller) of a deployment. The current attempt is kept apart from the
/// earlier ones so that a target always has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub store_id: Id,
    pub controller_id: Id,
    /// Attempts before the current one, oldest first (all failed or timed_out). A `ThinVec`
    /// (8 B, not 24): most targets never retry.
    #[serde(default)]
    pub earlier: ThinVec<Attempt>,
    pub current: Attempt,
}

impl Target {
    pub(crate) fn new(store_id: Id, controller_id: Id, now: Millis) -> Self {
        Self {
            store_id,
            controller_id,
            earlier: ThinVec::new(),
            current: Attempt::queued(1, now),
        }
    }

    pub fn status(&self) -> TargetStatus {
        self.current.status
    }

    /// Every attempt, oldest first; the last is the current one.
    pub fn attempts(&self) -> impl Iterator<Item = &Attempt> {
        self.earlier.iter().chain(std::iter::once(&self.current))
    }

    /// Attempt `number` (from 1), if it exists.
    pub fn attempt(&self, number: u32) -> Option<&Attempt> {
        if number == self.current.number {
            return Some(&self.current);
        }
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        self.earlier.get(index).filter(|a| a.number == number)
    }

    pub(crate) fn attempt_mut(&mut self, number: u32) -> Option<&mut Attempt> {
        if number == self.current.number {
            return Some(&mut self.current);
        }
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        self.earlier.get_mut(index).filter(|a| a.number == number)
    }

    /// Starts attempt `number` (queued), keeping the current one as history.
    pub(crate) fn begin_attempt(&mut self, number: u32, now: Millis) {
        let previous = std::mem::replace(&mut self.current, Attempt::queued(number, now));
        self.earlier.push(previous);
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// Issue 13's budget is ~300 B of engine state per target; the record is most of it.
    #[test]
    fn a_target_record_stays_small() {
        assert_eq!(std::mem::size_of::<CommandRecord>(), 64);
        assert_eq!(std::mem::size_of::<Attempt>(), 96);
        assert_eq!(std::mem::size_of::<Target>(), 136);
    }
}
