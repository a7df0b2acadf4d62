//! Flow control both ways: committed commands go to the link as it has room, and messages
//! are taken from the link only while the history keeps up, so that a flood waits at the
//! broker (and in the kernel's socket buffers) instead of in this process's memory.
//!
//! The outbox is the queue of commands: once a batch with commands is committed, the owner
//! reads them back from the history a chunk at a time, as the link takes them. A 100,000
//! target deployment holds one chunk in memory, not 100,000 commands.

use super::Owner;
use crate::link::PublishError;
use crate::protocol::{Id, TopicAddress};
use crate::service::writer::{Committed, PublishItem};

/// Commands read from the outbox at a time; the next chunk is read when fewer than half
/// of one wait for the link.
pub(super) const CHUNK: usize = 1_024;

/// Where a deployment's outbox was read up to. The cursor never goes back while the
/// deployment is driven here: a command read once is in the queue, in flight or sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unsent {
    after: i64,
    more: bool,
}

impl Unsent {
    /// A deployment just taken over: its whole outbox is to be read.
    pub fn from_start() -> Self {
        Self {
            after: 0,
            more: true,
        }
    }
}

/// Messages taken from the link but not yet committed, at most. Past it the owner stops
/// reading the link; the link then stops reading the socket.
pub(super) const INBOUND_ROOM: usize = 8_192;

impl Owner {
    pub(super) fn has_inbound_room(&self) -> bool {
        self.uncommitted_inbound < INBOUND_ROOM
    }

    pub(super) fn on_committed(&mut self, done: Committed) {
        self.uncommitted_inbound = self.uncommitted_inbound.saturating_sub(done.inbound);
        self.commands_uncommitted = self.commands_uncommitted.saturating_sub(done.command_rows);
        if !self.unstaged.is_empty() {
            self.stage_unstaged();
            self.flush();
        }
        for id in &done.release {
            if self.engine.deployment(id).is_none() {
                self.locks.release(id);
            }
        }
        for id in done.commands {
            // Only deployments still driven here: one let go meanwhile waits for its driver.
            if self.engine.deployment(&id).is_some() {
                self.unsent
                    .entry(id)
                    .or_insert_with(Unsent::from_start)
                    .more = true;
            }
        }
        if self.publisher.is_some() {
            self.pump();
        }
        // Freed here, after the owner's work for the commit, not on the writer's thread.
        drop(done.spent);
    }

    /// Reads the next commands from the outbox while fewer than half a chunk are queued.
    fn refill(&mut self) {
        while self.outq.len() < CHUNK / 2 {
            let Some((id, at)) = self
                .unsent
                .iter()
                .find(|(_, u)| u.more)
                .map(|(id, u)| (id.clone(), *u))
            else {
                return;
            };
            let rows = match self
                .reader
                .pending_commands_after(id.as_str(), at.after, CHUNK)
            {
                Ok(rows) => rows,
                Err(e) => {
                    // Read again on the next commit or PUBACK: the commands stay in the outbox.
                    tracing::warn!(deployment = %id, error = %e, "cannot read the outbox");
                    return;
                }
            };
            let cursor = Unsent {
                after: rows.last().map_or(at.after, |r| r.id),
                more: rows.len() == CHUNK,
            };
            self.unsent.insert(id.clone(), cursor);
            for row in rows {
                let (Ok(address), Ok(correlation_id)) = (
                    TopicAddress::parse(&row.topic, &self.prefix),
                    Id::new(row.correlation_id),
                ) else {
                    continue;
                };
                self.outq.push_back(PublishItem {
                    correlation_id,
                    deployment_id: id.clone(),
                    store_id: address.store_id,
                    controller_id: address.controller_id,
                    topic: row.topic,
                    body: row.body.into(),
                });
            }
        }
    }

    /// Feeds committed commands to the link as it has room, skipping withdrawn ones.
    pub(super) fn pump(&mut self) {
        if self.publisher.is_none() {
            return;
        }
        self.refill();
        loop {
            let Some(publisher) = &self.publisher else {
                return;
            };
            let Some(item) = self.outq.front() else {
                return;
            };
            if self.withdrawn.contains(item.correlation_id.as_str()) {
                self.outq.pop_front();
                continue;
            }
            let seq = self.next_seq;
            match publisher.try_publish(seq, item.topic.clone(), item.body.clone()) {
                Ok(()) => {
                    self.next_seq += 1;
                    if let Some(item) = self.outq.pop_front() {
                        self.inflight.insert(seq, item);
                    }
                }
                Err(PublishError::Full) | Err(PublishError::Closed) => return,
                Err(e) => {
                    tracing::error!(error = %e, topic = %item.topic, "command cannot be published");
                    self.outq.pop_front();
                }
            }
            if self.outq.len() < CHUNK / 2 {
                self.refill();
            }
        }
    }
}
