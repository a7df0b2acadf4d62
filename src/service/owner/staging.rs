//! Turning the engine's effects into what the history records (transitions, the message
//! log, whose command rows are the outbox, rollout events) and the commands to publish
//! after the commit.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;

use super::Owner;
use crate::engine::{Effects, OutboundCommand, RolloutEvent, Transition};
use crate::history::{MessageDirection, MessageRecord};
use crate::protocol::{Id, encode_command};
use crate::service::now_millis;

/// Commands encoded into the batches at most while uncommitted: the next are encoded once
/// those are committed, so that a deployment's 100,000 new commands are never all in memory
/// as encoded messages at once.
pub(super) const STAGE_CHUNK: usize = 4_096;

impl Owner {
    /// Stages effects whose targets are already in a new deployment's snapshot.
    pub(super) fn stage_without_targets(&mut self, fx: Effects) {
        let Effects {
            transitions,
            commands,
            withdrawn,
            rollout,
        } = fx;
        self.stage_rollout(rollout);
        self.stage_transitions(transitions, false);
        self.stage_commands(commands);
        self.stage_withdrawn(withdrawn);
    }

    pub(super) fn stage(&mut self, fx: Effects) {
        if fx.is_empty() {
            return;
        }
        let Effects {
            transitions,
            commands,
            withdrawn,
            rollout,
        } = fx;
        self.stage_rollout(rollout);
        for c in &commands {
            self.touched.insert((
                c.deployment_id.clone(),
                c.store_id.clone(),
                c.controller_id.clone(),
            ));
        }
        self.stage_transitions(transitions, true);
        self.stage_commands(commands);
        self.stage_withdrawn(withdrawn);
    }

    fn stage_transitions(&mut self, transitions: Vec<Transition>, touch: bool) {
        for t in &transitions {
            if touch {
                self.touched.insert((
                    t.deployment_id.clone(),
                    t.store_id.clone(),
                    t.controller_id.clone(),
                ));
            }
        }
        self.staged_rows += transitions.len();
        self.staged
            .batch
            .transitions
            .extend(transitions.iter().cloned());
        self.transitions.extend(transitions);
    }

    /// Queues new commands for the outbox; they are encoded and written a chunk at a time.
    pub(super) fn stage_commands(&mut self, commands: Vec<OutboundCommand>) {
        self.unstaged.extend(commands);
        self.stage_unstaged();
    }

    /// Encodes the next queued commands into the staged batch while fewer than a chunk of
    /// them wait for their commit. A command not yet written is only in the engine's target
    /// record: after a crash the restore finds it there and writes it then
    /// ([`crate::engine::Restored::resend`]).
    pub(super) fn stage_unstaged(&mut self) {
        let room = STAGE_CHUNK.saturating_sub(self.commands_uncommitted);
        let n = room.min(self.unstaged.len());
        if n == 0 {
            return;
        }
        let chunk: Vec<OutboundCommand> = self.unstaged.drain(..n).collect();
        self.encode_commands(chunk);
    }

    /// Encodes every queued command of one deployment now (it is about to be let go).
    pub(super) fn stage_all_of(&mut self, id: &Id) {
        let (mine, others): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.unstaged)
            .into_iter()
            .partition(|c| &c.deployment_id == id);
        self.unstaged = others;
        self.encode_commands(mine.into());
    }

    pub(super) fn encode_commands(&mut self, commands: Vec<OutboundCommand>) {
        let now = now_millis();
        let timestamp = chrono::Local::now().fixed_offset();
        self.staged.batch.messages.reserve(commands.len());
        self.commands_uncommitted += commands.len();
        self.staged.command_rows += commands.len();
        for command in commands {
            let envelope = command.to_envelope(timestamp);
            let encoded = match encode_command(&envelope, &self.prefix) {
                Ok(encoded) => encoded,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a command");
                    continue;
                }
            };
            // Exact size: the encoder's spare capacity would be held until the commit.
            let body = Bytes::from(encoded.body.into_boxed_slice());
            if self.staged.commands.last() != Some(&command.deployment_id) {
                self.staged.commands.push(command.deployment_id.clone());
            }
            self.staged.batch.messages.push(MessageRecord {
                direction: MessageDirection::Out,
                topic: encoded.topic,
                body,
                at: now,
                event_type: Some(envelope.event_type().as_str().to_owned()),
                deployment_id: Some(command.deployment_id.to_string()),
                store_id: Some(command.store_id.to_string()),
                controller_id: Some(command.controller_id.to_string()),
                correlation_id: Some(command.correlation_id.to_string()),
                outcome: "outbox".to_owned(),
                reason: None,
                oversize: None,
            });
            self.staged_rows += 1;
        }
    }

    /// Rollout events go to the history with the deployment's control as it is now (later
    /// writes in the batch win, so the last control of a deployment is what is stored).
    fn stage_rollout(&mut self, rollout: Vec<RolloutEvent>) {
        if rollout.is_empty() {
            return;
        }
        let mut ids: Vec<&Id> = rollout.iter().map(|e| &e.deployment_id).collect();
        ids.dedup();
        for id in ids {
            if let Some(d) = self.engine.deployment(id) {
                self.staged
                    .batch
                    .controls
                    .push((id.to_string(), d.state().control.clone()));
            }
        }
        self.staged_rows += rollout.len();
        self.staged
            .batch
            .rollout_events
            .extend(rollout.iter().cloned());
        self.rollout.extend(rollout);
    }

    fn stage_withdrawn(&mut self, withdrawn: Vec<Id>) {
        if !self.unstaged.is_empty() && !withdrawn.is_empty() {
            // Withdrawn before it was even written: it never reaches the outbox.
            let gone: HashSet<&Id> = withdrawn.iter().collect();
            self.unstaged.retain(|c| !gone.contains(&c.correlation_id));
        }
        for id in withdrawn {
            self.withdrawn.insert(id.to_string());
            self.staged.batch.withdrawn.push(id.to_string());
            self.staged_rows += 1;
        }
    }
}
