//! A deployment's targets by (store, controller): a table of target indexes that compares
//! through the targets themselves.
//!
//! Why not a map keyed by the ids: a reply names its target by both ids, and a map of maps
//! held a second copy of every controller id's pointer plus a table per store, about 50 B per
//! target at 100,000; this is 4 B and a control byte (issue 13, `benches/engine_memory.rs`).

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::target::Target;
use crate::protocol::Id;

#[derive(Debug, Default, Clone)]
pub(crate) struct TargetIndex {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl TargetIndex {
    /// Indexes targets known to be distinct.
    pub(crate) fn build(targets: &[Target]) -> Self {
        let mut index = Self {
            table: HashTable::with_capacity(targets.len()),
            hasher: RandomState::new(),
        };
        for (i, target) in targets.iter().enumerate() {
            let hash = index.hash(&target.store_id, &target.controller_id);
            let i = u32::try_from(i).expect("fewer than 2^32 targets");
            let hasher = &index.hasher;
            index.table.insert_unique(hash, i, |&other| {
                let t = &targets[other as usize];
                hasher.hash_one((t.store_id.as_str(), t.controller_id.as_str()))
            });
        }
        index
    }

    fn hash(&self, store_id: &Id, controller_id: &Id) -> u64 {
        self.hasher
            .hash_one((store_id.as_str(), controller_id.as_str()))
    }

    pub(crate) fn find(
        &self,
        targets: &[Target],
        store_id: &Id,
        controller_id: &Id,
    ) -> Option<usize> {
        self.table
            .find(self.hash(store_id, controller_id), |&i| {
                targets
                    .get(i as usize)
                    .is_some_and(|t| t.controller_id == *controller_id && t.store_id == *store_id)
            })
            .map(|&i| i as usize)
    }
}
