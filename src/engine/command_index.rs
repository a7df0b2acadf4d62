//! Every command of every held deployment, found by correlation id.
//!
//! The table holds 16-byte [`CommandRef`]s only. The id itself stays in the command's record,
//! which the table reaches through the ref to compare and to rehash: a map keyed by the id
//! would hold every id twice (about 30 B more per command at 100,000, issue 13).

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::command_id::CommandId;
use super::deployment::Deployment;
use super::machine::CommandRef;

#[derive(Debug, Default, Clone)]
pub(crate) struct CommandIndex {
    table: HashTable<CommandRef>,
    hasher: RandomState,
}

/// The correlation id of the command `r` points at.
fn id_of<'a>(slots: &'a [Option<Deployment>], r: &CommandRef) -> Option<&'a CommandId> {
    let target = slots
        .get(r.slot())?
        .as_ref()?
        .state
        .targets
        .get(r.target())?;
    let record = target.attempt(r.attempt)?.command(r.role)?;
    Some(&record.correlation_id)
}

impl CommandIndex {
    fn hash(&self, id: &CommandId) -> u64 {
        self.hasher.hash_one(id)
    }

    pub(crate) fn get(&self, slots: &[Option<Deployment>], id: &CommandId) -> Option<CommandRef> {
        self.table
            .find(self.hash(id), |r| id_of(slots, r) == Some(id))
            .copied()
    }

    pub(crate) fn contains(&self, slots: &[Option<Deployment>], id: &CommandId) -> bool {
        self.get(slots, id).is_some()
    }

    /// Registers the command `r` points at; its record must already be in place.
    pub(crate) fn insert(&mut self, slots: &[Option<Deployment>], r: CommandRef) {
        let Some(id) = id_of(slots, &r) else {
            debug_assert!(false, "a command is registered after its record");
            return;
        };
        let hash = self.hash(id);
        let hasher = &self.hasher;
        self.table.insert_unique(hash, r, |other| {
            id_of(slots, other).map_or(0, |id| hasher.hash_one(id))
        });
    }

    /// Forgets the command `id` that `r` pointed at (its deployment may be gone already).
    pub(crate) fn remove(&mut self, id: &CommandId, r: CommandRef) {
        if let Ok(entry) = self.table.find_entry(self.hash(id), |other| *other == r) {
            entry.remove();
        }
    }
}
