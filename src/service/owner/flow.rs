//! Flow control both ways: committed commands go to the link as it has room, and messages
//! are taken from the link only while the history keeps up, so that a flood waits at the
//! broker (and in the kernel's socket buffers) instead of in this process's memory.

use super::Owner;
use crate::link::PublishError;
use crate::service::writer::Committed;

/// Messages taken from the link but not yet committed, at most. Past it the owner stops
/// reading the link; the link then stops reading the socket.
pub(super) const INBOUND_ROOM: usize = 8_192;

impl Owner {
    pub(super) fn has_inbound_room(&self) -> bool {
        self.uncommitted_inbound < INBOUND_ROOM
    }

    pub(super) fn on_committed(&mut self, done: Committed) {
        self.uncommitted_inbound = self.uncommitted_inbound.saturating_sub(done.inbound);
        for id in &done.release {
            if self.engine.deployment(id).is_none() {
                self.locks.release(id);
            }
        }
        if self.publisher.is_some() {
            self.outq.extend(done.publish);
            self.pump();
        }
    }

    /// Feeds committed commands to the link as it has room, skipping withdrawn ones.
    pub(super) fn pump(&mut self) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        while let Some(item) = self.outq.front() {
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
                Err(PublishError::Full) | Err(PublishError::Closed) => break,
                Err(e) => {
                    tracing::error!(error = %e, topic = %item.topic, "command cannot be published");
                    self.outq.pop_front();
                }
            }
        }
    }
}
