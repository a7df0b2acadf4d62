//! Writing a deployment's life: everything the service produces in one batch goes in one
//! transaction (one per row was six times slower, RECIPES.md).

use std::collections::HashSet;

use bytes::Bytes;
use rusqlite::{OptionalExtension, params};

use super::inventory::{ControllerSeen, record_seen};
use super::observed::{ObservedChange, write_observed};
use super::ownership::{BrokerIdentity, NewRequest, write_ownership};
use super::{History, HistoryError};
use crate::engine::{DeploymentSnapshot, Millis, RolloutControl, RolloutEvent, Target, Transition};

/// A message in or out, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub direction: MessageDirection,
    pub topic: String,
    /// Shared with the outbox entry and the publish queue for an outgoing command.
    pub body: Bytes,
    pub at: Millis,
    pub event_type: Option<String>,
    pub deployment_id: Option<String>,
    pub store_id: Option<String>,
    pub controller_id: Option<String>,
    pub correlation_id: Option<String>,
    /// What became of it: `applied`, `duplicate`, `own_echo`, `observed`, a rejection code…
    pub outcome: String,
    /// A person-readable reason when the message changed nothing or was rejected.
    pub reason: Option<String>,
    /// Set when `body` is only an excerpt of an oversized message: its full size and MD5.
    pub oversize: Option<Oversize>,
}

/// The identity of a message too large to keep whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversize {
    pub size: u64,
    /// Lowercase hex.
    pub md5: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageDirection {
    In,
    Out,
}

impl MessageDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// A command to publish, written before it leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub correlation_id: String,
    pub deployment_id: String,
    pub topic: String,
    pub body: Bytes,
    pub created_at: Millis,
}

/// A target's full record after a change, for the `targets` table.
#[derive(Debug, Clone)]
pub struct TargetWrite {
    pub deployment_id: String,
    pub position: usize,
    pub target: Target,
}

/// Everything one service step wants stored, written in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub new_deployments: Vec<DeploymentSnapshot>,
    pub targets: Vec<TargetWrite>,
    pub transitions: Vec<Transition>,
    pub messages: Vec<MessageRecord>,
    pub outbox: Vec<OutboxEntry>,
    /// (correlation id, when the broker confirmed it)
    pub sent: Vec<(String, Millis)>,
    pub withdrawn: Vec<String>,
    /// (deployment id, finished at; `None` reopens it after a retry)
    pub finished: Vec<(String, Option<Millis>)>,
    /// Plans, wave starts, pauses and resumes.
    pub rollout_events: Vec<RolloutEvent>,
    /// (deployment id, its rollout control after this batch)
    pub controls: Vec<(String, RolloutControl)>,
    /// Controllers heard on the broker, for the inventory (coalesced when written).
    pub seen: Vec<ControllerSeen>,
    /// (deployment id, the broker it belongs to): new deployments, and old ones bound by an
    /// explicit resume, retry or cancel (only a deployment without a broker is bound).
    pub bind: Vec<(String, BrokerIdentity)>,
    /// Requests for the process that drives a deployment.
    pub requests: Vec<NewRequest>,
    /// (request id, when this driver took it)
    pub requests_taken: Vec<(i64, Millis)>,
    /// (message id, outcome, reason): deferred messages applied by a new driver.
    pub outcomes: Vec<(i64, String, Option<String>)>,
    /// What was heard of other operators' deployments.
    pub observed: Vec<ObservedChange>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.new_deployments.is_empty()
            && self.targets.is_empty()
            && self.transitions.is_empty()
            && self.messages.is_empty()
            && self.outbox.is_empty()
            && self.sent.is_empty()
            && self.withdrawn.is_empty()
            && self.finished.is_empty()
            && self.rollout_events.is_empty()
            && self.controls.is_empty()
            && self.seen.is_empty()
            && self.bind.is_empty()
            && self.requests.is_empty()
            && self.requests_taken.is_empty()
            && self.outcomes.is_empty()
            && self.observed.is_empty()
    }
}

/// The outcome of a write: which inbound messages were new to the history (a message another
/// process already recorded is not counted twice).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub new_messages: usize,
}

fn ms(at: Millis) -> i64 {
    i64::try_from(at.0).unwrap_or(i64::MAX)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, HistoryError> {
    serde_json::to_string(value).map_err(|e| HistoryError::Encode(e.to_string()))
}

/// A stable key for one message: the same bytes on the same topic are the same message (an
/// oversized one is known by its size and MD5, since only an excerpt is kept).
fn dedupe_key(m: &MessageRecord) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(m.direction.as_str().as_bytes());
    h.update([0]);
    h.update(m.topic.as_bytes());
    h.update([0]);
    match &m.oversize {
        None => h.update(&m.body),
        Some(o) => {
            h.update([1]);
            h.update(o.size.to_le_bytes());
            h.update(o.md5.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

impl History {
    /// Stores `batch` atomically.
    pub fn write_batch(&mut self, batch: &Batch) -> Result<Written, HistoryError> {
        let tx = self.conn_mut().transaction()?;
        let mut written = Written::default();
        {
            let mut insert_deployment = tx.prepare_cached(
                "INSERT OR IGNORE INTO deployments (id, firmware_version, file_url, file_size,
                    checksum, ack_timeout_ms, completion_timeout_ms, created_at, target_count,
                    policy, control)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for d in &batch.new_deployments {
                insert_deployment.execute(params![
                    d.deployment_id.as_str(),
                    d.firmware.firmware_version,
                    d.firmware.file_url,
                    i64::try_from(d.firmware.file_size).unwrap_or(i64::MAX),
                    d.firmware.checksum.as_str(),
                    i64::try_from(d.timeouts.ack.as_millis()).unwrap_or(i64::MAX),
                    i64::try_from(d.timeouts.completion.as_millis()).unwrap_or(i64::MAX),
                    ms(d.created_at),
                    d.targets.len() as i64,
                    json(&d.policy)?,
                    json(&d.control)?,
                ])?;
            }
            let mut upsert_target = tx.prepare_cached(
                "INSERT INTO targets (deployment_id, position, store_id, controller_id, status,
                    attempt, errors, updated_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (deployment_id, store_id, controller_id) DO UPDATE SET
                    status = excluded.status, attempt = excluded.attempt,
                    errors = excluded.errors, updated_at = excluded.updated_at,
                    record = excluded.record",
            )?;
            // Each target once per batch, in its last state: a batch the writer coalesced
            // from several flushes may carry one target many times.
            let mut last: HashSet<(&str, &str, &str)> = HashSet::with_capacity(batch.targets.len());
            let mut updates = Vec::with_capacity(batch.targets.len());
            for w in batch.targets.iter().rev() {
                let key = (
                    w.deployment_id.as_str(),
                    w.target.store_id.as_str(),
                    w.target.controller_id.as_str(),
                );
                if last.insert(key) {
                    updates.push((w.deployment_id.as_str(), w.position, &w.target));
                }
            }
            let new_targets = batch.new_deployments.iter().flat_map(|d| {
                d.targets
                    .iter()
                    .enumerate()
                    .map(|(position, target)| (d.deployment_id.as_str(), position, target))
            });
            let new_targets = new_targets.filter(|(d, _, t)| {
                !last.contains(&(*d, t.store_id.as_str(), t.controller_id.as_str()))
            });
            for (deployment_id, position, target) in new_targets.chain(updates.iter().copied()) {
                let current = &target.current;
                upsert_target.execute(params![
                    deployment_id,
                    position as i64,
                    target.store_id.as_str(),
                    target.controller_id.as_str(),
                    current.status.as_str(),
                    current.number,
                    json(&current.errors)?,
                    ms(current.updated_at),
                    json(target)?,
                ])?;
            }
            let mut insert_transition = tx.prepare_cached(
                "INSERT INTO transitions (deployment_id, store_id, controller_id, attempt,
                    from_status, to_status, at, errors)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for t in &batch.transitions {
                insert_transition.execute(params![
                    t.deployment_id.as_str(),
                    t.store_id.as_str(),
                    t.controller_id.as_str(),
                    t.attempt,
                    t.from.as_str(),
                    t.to.as_str(),
                    ms(t.at),
                    json(&t.errors)?,
                ])?;
            }
            // A message another process recorded as deferred (it did not drive the
            // deployment) takes the outcome of the process that applied it.
            let mut insert_message = tx.prepare_cached(
                "INSERT INTO messages (direction, topic, body, at, event_type, deployment_id,
                    store_id, controller_id, correlation_id, outcome, reason, dedupe, body_size,
                    body_md5)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (dedupe) DO UPDATE SET outcome = excluded.outcome,
                    reason = excluded.reason
                 WHERE messages.outcome = 'deferred' AND excluded.outcome <> 'deferred'",
            )?;
            for m in &batch.messages {
                let inserted = insert_message.execute(params![
                    m.direction.as_str(),
                    m.topic,
                    &m.body[..],
                    ms(m.at),
                    m.event_type,
                    m.deployment_id,
                    m.store_id,
                    m.controller_id,
                    m.correlation_id,
                    m.outcome,
                    m.reason,
                    dedupe_key(m),
                    m.oversize
                        .as_ref()
                        .map(|o| i64::try_from(o.size).unwrap_or(i64::MAX)),
                    m.oversize.as_ref().map(|o| o.md5.as_str()),
                ])?;
                if m.direction == MessageDirection::In {
                    written.new_messages += inserted;
                }
            }
            let mut insert_outbox = tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox (correlation_id, deployment_id, topic, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for o in &batch.outbox {
                insert_outbox.execute(params![
                    o.correlation_id,
                    o.deployment_id,
                    o.topic,
                    &o.body[..],
                    ms(o.created_at)
                ])?;
            }
            let mut mark_sent = tx.prepare_cached(
                "UPDATE outbox SET sent_at = ?2 WHERE correlation_id = ?1 AND sent_at IS NULL",
            )?;
            for (correlation_id, at) in &batch.sent {
                mark_sent.execute(params![correlation_id, ms(*at)])?;
            }
            let mut withdraw =
                tx.prepare_cached("UPDATE outbox SET withdrawn = 1 WHERE correlation_id = ?1")?;
            for correlation_id in &batch.withdrawn {
                withdraw.execute(params![correlation_id])?;
            }
            let mut finish =
                tx.prepare_cached("UPDATE deployments SET finished_at = ?2 WHERE id = ?1")?;
            for (deployment_id, at) in &batch.finished {
                finish.execute(params![deployment_id, at.map(ms)])?;
            }
            let mut insert_event = tx.prepare_cached(
                "INSERT INTO rollout_events (deployment_id, at, kind, detail)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for e in &batch.rollout_events {
                insert_event.execute(params![
                    e.deployment_id.as_str(),
                    ms(e.at),
                    e.kind.code(),
                    json(&e.kind)?,
                ])?;
            }
            // A newer revision saved by another process (its pause or resume) is kept: this
            // process takes it over on its next look instead of writing over it.
            let mut set_control = tx.prepare_cached(
                "UPDATE deployments SET control = ?2 WHERE id = ?1
                 AND COALESCE(json_extract(control, '$.revision'), 0) <= ?3",
            )?;
            for (deployment_id, control) in &batch.controls {
                let revision = i64::try_from(control.revision).unwrap_or(i64::MAX);
                set_control.execute(params![deployment_id, json(control)?, revision])?;
            }
            record_seen(&tx, &batch.seen)?;
            write_ownership(&tx, batch)?;
            write_observed(&tx, &batch.observed)?;
        }
        tx.commit()?;
        Ok(written)
    }

    /// The outbox id of a command, if it was ever written (tests and diagnostics).
    pub fn outbox_sent_at(
        &self,
        correlation_id: &str,
    ) -> Result<Option<Option<i64>>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT sent_at FROM outbox WHERE correlation_id = ?1",
                params![correlation_id],
                |r| r.get(0),
            )
            .optional()?)
    }
}
