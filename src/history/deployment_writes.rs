//! Writing a deployment's life: everything the service produces in one batch goes in one
//! transaction (one per row was six times slower, RECIPES.md).

use bytes::Bytes;
use foldhash::{HashSet, HashSetExt};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::inventory::{ControllerSeen, record_seen};
use super::observed::{ObservedChange, write_observed};
use super::ownership::{BrokerIdentity, NewRequest, write_ownership};
use super::recent_inbound::{Key, Pending, RecentInbound, Seen, any_deferred, deferred_row};
use super::run_by::{RunBy, write_run_by};
use super::{History, HistoryError};
use crate::engine::{
    Attempt, CommandRecord, DeploymentSnapshot, Millis, RolloutControl, RolloutEvent, Target,
    Transition,
};
use crate::protocol::Id;

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

/// A target after a change: its current attempt goes to the `targets` columns, attempts a
/// retry closed to `attempts` (only retried targets have any).
#[derive(Debug, Clone)]
pub struct TargetWrite {
    pub deployment_id: String,
    pub position: usize,
    pub store_id: Id,
    pub controller_id: Id,
    pub current: Attempt,
    pub earlier: thin_vec::ThinVec<Attempt>,
}

impl TargetWrite {
    pub fn of(deployment_id: &Id, position: usize, target: &Target) -> Self {
        Self {
            deployment_id: deployment_id.to_string(),
            position,
            store_id: target.store_id.clone(),
            controller_id: target.controller_id.clone(),
            current: target.current.clone(),
            earlier: target.earlier.clone(),
        }
    }
}

/// Everything one service step wants stored, written in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub new_deployments: Vec<DeploymentSnapshot>,
    pub targets: Vec<TargetWrite>,
    pub transitions: Vec<Transition>,
    /// Inbound messages, and outbound commands (a command's row is its outbox entry).
    pub messages: Vec<MessageRecord>,
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
    /// (deployment id, who made it and where): new deployments made here.
    pub run_by: Vec<(String, RunBy)>,
    /// Requests for the process that drives a deployment.
    pub requests: Vec<NewRequest>,
    /// (request id, when this driver took it)
    pub requests_taken: Vec<(i64, Millis)>,
    /// (message id, outcome, reason): deferred messages applied by a new driver.
    pub outcomes: Vec<(i64, String, Option<String>)>,
    /// What was heard of other operators' deployments.
    pub observed: Vec<ObservedChange>,
    /// The inbound messages' dedupe keys, computed ahead by [`Batch::key_messages`].
    pub keys: MessageKeys,
}

/// Dedupe keys of a batch's messages, by position; a message without one (not keyed ahead,
/// or outbound) is keyed when written. Only [`Batch`] fills it, so it cannot disagree with
/// the messages it stands beside.
#[derive(Debug, Default)]
pub struct MessageKeys(Vec<Option<Key>>);

impl Batch {
    /// Hashes the inbound messages not keyed yet. The service calls it on the thread that
    /// staged the batch: the MD5 of every body was 8 % of the history writer's one thread.
    pub fn key_messages(&mut self) {
        let keys = &mut self.keys.0;
        for m in &self.messages[keys.len().min(self.messages.len())..] {
            keys.push((m.direction == MessageDirection::In).then(|| dedupe_key(m)));
        }
    }

    /// Appends `more`'s rows after this batch's (the writer coalescing queued batches).
    pub fn append(&mut self, more: Batch) {
        // Keys stay beside their messages: a gap left unkeyed is keyed when written.
        self.keys.0.resize(self.messages.len(), None);
        let Batch {
            new_deployments,
            targets,
            transitions,
            messages,
            sent,
            withdrawn,
            finished,
            rollout_events,
            controls,
            seen,
            bind,
            run_by,
            requests,
            requests_taken,
            outcomes,
            observed,
            keys,
        } = more;
        let mut keys = keys.0;
        keys.truncate(messages.len());
        self.keys.0.extend(keys);
        self.new_deployments.extend(new_deployments);
        self.targets.extend(targets);
        self.transitions.extend(transitions);
        self.messages.extend(messages);
        self.sent.extend(sent);
        self.withdrawn.extend(withdrawn);
        self.finished.extend(finished);
        self.rollout_events.extend(rollout_events);
        self.controls.extend(controls);
        self.seen.extend(seen);
        self.bind.extend(bind);
        self.run_by.extend(run_by);
        self.requests.extend(requests);
        self.requests_taken.extend(requests_taken);
        self.outcomes.extend(outcomes);
        self.observed.extend(observed);
    }

    /// The dedupe key of message `i`, computed now when it was not ahead.
    fn key(&self, i: usize) -> Key {
        match self.keys.0.get(i) {
            Some(Some(key)) => *key,
            _ => dedupe_key(&self.messages[i]),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.new_deployments.is_empty()
            && self.targets.is_empty()
            && self.transitions.is_empty()
            && self.messages.is_empty()
            && self.sent.is_empty()
            && self.withdrawn.is_empty()
            && self.finished.is_empty()
            && self.rollout_events.is_empty()
            && self.controls.is_empty()
            && self.seen.is_empty()
            && self.bind.is_empty()
            && self.run_by.is_empty()
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

/// The outcome of a reply recorded for a deployment another process drives.
const DEFERRED: &str = "deferred";

fn ms(at: Millis) -> i64 {
    i64::try_from(at.0).unwrap_or(i64::MAX)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, HistoryError> {
    serde_json::to_string(value).map_err(|e| HistoryError::Encode(e.to_string()))
}

/// The 8 bytes that identify an inbound message: the same bytes on the same topic are the
/// same message (an oversized one is known by its size and MD5, since only an excerpt is
/// kept). The first half of the MD5 that migration 7 carried over, so old rows still match.
pub(super) fn dedupe_key(m: &MessageRecord) -> Key {
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
    let digest = h.finalize();
    let mut key = [0; 8];
    key.copy_from_slice(&digest[..8]);
    key
}

/// A list of errors as stored: most attempts have none.
fn errors_json(errors: &[String]) -> Result<String, HistoryError> {
    if errors.is_empty() {
        Ok("[]".to_owned())
    } else {
        json(&errors)
    }
}

/// A command's four columns: correlation id, sent, acked, withdrawn.
type CommandColumns = (Option<String>, Option<i64>, Option<i64>, bool);

fn command_columns(c: Option<&CommandRecord>) -> CommandColumns {
    match c {
        None => (None, None, None, false),
        Some(c) => (
            Some(c.correlation_id.to_string()),
            c.sent_at.map(ms),
            c.acked_at.map(ms),
            c.withdrawn,
        ),
    }
}

impl History {
    /// Stores `batch` atomically.
    pub fn write_batch(&mut self, batch: &Batch) -> Result<Written, HistoryError> {
        let has_inbound = batch
            .messages
            .iter()
            .any(|m| m.direction == MessageDirection::In);
        if has_inbound && self.recent.is_none() {
            self.recent = Some(RecentInbound::load(&self.conn)?);
        }
        let History { conn, recent, .. } = self;
        // IMMEDIATE: the write lock from the start, so that the rows other processes added,
        // read first, are all there is until this batch commits.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let no_window = RecentInbound::default();
        let window = match recent.as_mut() {
            Some(window) if has_inbound => {
                window.catch_up(&tx)?;
                &*window
            }
            _ => &no_window,
        };
        let mut inbound = Pending::over(window);
        // Deferred rows are rare (another process drove the deployment): when there are none,
        // a new message need not look for one.
        let any_deferred = has_inbound && any_deferred(&tx)?;
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
                    attempt, errors, updated_at, update_cid, update_sent_at, update_acked_at,
                    update_withdrawn, cancel_cid, cancel_sent_at, cancel_acked_at,
                    cancel_withdrawn)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16
                 -- A deployment pruned by another process meanwhile: nothing to write to.
                 WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?1)
                 ON CONFLICT (deployment_id, store_id, controller_id) DO UPDATE SET
                    status = excluded.status, attempt = excluded.attempt,
                    errors = excluded.errors, updated_at = excluded.updated_at,
                    update_cid = excluded.update_cid, update_sent_at = excluded.update_sent_at,
                    update_acked_at = excluded.update_acked_at,
                    update_withdrawn = excluded.update_withdrawn,
                    cancel_cid = excluded.cancel_cid, cancel_sent_at = excluded.cancel_sent_at,
                    cancel_acked_at = excluded.cancel_acked_at,
                    cancel_withdrawn = excluded.cancel_withdrawn",
            )?;
            // The usual write: a target already stored, found by its key (send order). The
            // identity is checked too; a target not found so (its deployment created in this
            // batch, or pruned by another process) goes through the upsert above.
            let mut update_target = tx.prepare_cached(
                "UPDATE targets SET status = ?5, attempt = ?6, errors = ?7, updated_at = ?8,
                    update_cid = ?9, update_sent_at = ?10, update_acked_at = ?11,
                    update_withdrawn = ?12, cancel_cid = ?13, cancel_sent_at = ?14,
                    cancel_acked_at = ?15, cancel_withdrawn = ?16
                 WHERE deployment_id = ?1 AND position = ?2 AND store_id = ?3
                    AND controller_id = ?4",
            )?;
            let mut upsert_attempt = tx.prepare_cached(
                "INSERT OR REPLACE INTO attempts (deployment_id, store_id, controller_id, number,
                    status, updated_at, errors, update_cid, update_sent_at, update_acked_at,
                    update_withdrawn, cancel_cid, cancel_sent_at, cancel_acked_at,
                    cancel_withdrawn)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15
                 WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?1)",
            )?;
            // Each target once per batch, in its last state: a batch the writer coalesced
            // from several flushes may carry one target many times.
            let mut last: HashSet<(&str, &str, &str)> = HashSet::with_capacity(batch.targets.len());
            let mut updates = Vec::with_capacity(batch.targets.len());
            for w in batch.targets.iter().rev() {
                let key = (
                    w.deployment_id.as_str(),
                    w.store_id.as_str(),
                    w.controller_id.as_str(),
                );
                if last.insert(key) {
                    updates.push((key, w.position, &w.current, w.earlier.as_slice()));
                }
            }
            let new_targets = batch.new_deployments.iter().flat_map(|d| {
                d.targets.iter().enumerate().map(|(position, t)| {
                    (
                        (
                            d.deployment_id.as_str(),
                            t.store_id.as_str(),
                            t.controller_id.as_str(),
                        ),
                        position,
                        &t.current,
                        t.earlier.as_slice(),
                    )
                })
            });
            let new_targets = new_targets
                .filter(|(key, ..)| !last.contains(key))
                .map(|t| (true, t));
            let updates = updates.iter().map(|&t| (false, t));
            for (new, ((deployment_id, store_id, controller_id), position, current, earlier)) in
                new_targets.chain(updates)
            {
                let (ucid, usent, uacked, uwithdrawn) = command_columns(current.update.as_ref());
                let (ccid, csent, cacked, cwithdrawn) = command_columns(current.cancel.as_deref());
                let columns = params![
                    deployment_id,
                    position as i64,
                    store_id,
                    controller_id,
                    current.status.as_str(),
                    current.number,
                    errors_json(&current.errors)?,
                    ms(current.updated_at),
                    ucid,
                    usent,
                    uacked,
                    uwithdrawn,
                    ccid,
                    csent,
                    cacked,
                    cwithdrawn,
                ];
                if new || update_target.execute(columns)? == 0 {
                    upsert_target.execute(columns)?;
                }
                for a in earlier {
                    let (ucid, usent, uacked, uwithdrawn) = command_columns(a.update.as_ref());
                    let (ccid, csent, cacked, cwithdrawn) = command_columns(a.cancel.as_deref());
                    upsert_attempt.execute(params![
                        deployment_id,
                        store_id,
                        controller_id,
                        a.number,
                        a.status.as_str(),
                        ms(a.updated_at),
                        errors_json(&a.errors)?,
                        ucid,
                        usent,
                        uacked,
                        uwithdrawn,
                        ccid,
                        csent,
                        cacked,
                        cwithdrawn,
                    ])?;
                }
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
                    errors_json(&t.errors)?,
                ])?;
            }
            let mut insert_inbound = tx.prepare_cached(
                "INSERT INTO messages (direction, topic, body, at, event_type, deployment_id,
                    store_id, controller_id, correlation_id, outcome, reason, dedupe, body_size,
                    body_md5)
                 VALUES ('in', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            // A command's row is its outbox entry: written once, before it is published.
            let mut insert_command = tx.prepare_cached(
                "INSERT INTO messages (direction, topic, body, at, event_type, deployment_id,
                    store_id, controller_id, correlation_id, outcome, reason)
                 VALUES ('out', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT DO NOTHING",
            )?;
            for (i, m) in batch.messages.iter().enumerate() {
                match m.direction {
                    MessageDirection::In => {
                        let key = batch.key(i);
                        let known = match inbound.get(&key) {
                            Some(seen) => Some(seen),
                            None if any_deferred => deferred_row(&tx, &key)?,
                            None => None,
                        };
                        match known {
                            // Left for this deployment's driver by another process: it takes
                            // the outcome of the process that applied it.
                            Some(seen) if seen.deferred && m.outcome != DEFERRED => {
                                written.new_messages += tx
                                    .prepare_cached(
                                        "UPDATE messages SET outcome = ?2, reason = ?3
                                         WHERE id = ?1 AND outcome = 'deferred'",
                                    )?
                                    .execute(params![seen.id, m.outcome, m.reason])?;
                                inbound.note(
                                    key,
                                    Seen {
                                        deferred: false,
                                        ..seen
                                    },
                                );
                            }
                            // Recorded already: a redelivery.
                            Some(_) => {}
                            None => {
                                insert_inbound.execute(params![
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
                                    &key[..],
                                    m.oversize
                                        .as_ref()
                                        .map(|o| i64::try_from(o.size).unwrap_or(i64::MAX)),
                                    m.oversize.as_ref().map(|o| o.md5.as_str()),
                                ])?;
                                written.new_messages += 1;
                                let seen = Seen {
                                    id: tx.last_insert_rowid(),
                                    deferred: m.outcome == DEFERRED,
                                };
                                inbound.note(key, seen);
                            }
                        }
                    }
                    MessageDirection::Out => {
                        insert_command.execute(params![
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
                        ])?;
                    }
                }
            }
            let mut mark_sent = tx.prepare_cached(
                "UPDATE messages SET sent_at = ?2, outcome = 'published'
                 WHERE direction = 'out' AND correlation_id = ?1 AND sent_at IS NULL",
            )?;
            for (correlation_id, at) in &batch.sent {
                mark_sent.execute(params![correlation_id, ms(*at)])?;
            }
            let mut withdraw = tx.prepare_cached(
                "UPDATE messages SET withdrawn = 1,
                    outcome = CASE WHEN sent_at IS NULL THEN 'withdrawn' ELSE outcome END
                 WHERE direction = 'out' AND correlation_id = ?1",
            )?;
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
            write_run_by(&tx, &batch.run_by)?;
            write_observed(&tx, &batch.observed)?;
        }
        let changes = inbound.into_changes();
        let last_id: i64 = if has_inbound {
            tx.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                r.get(0)
            })?
        } else {
            0
        };
        tx.commit()?;
        if has_inbound && let Some(window) = recent.as_mut() {
            window.commit(changes, last_id);
        }
        Ok(written)
    }

    /// When the broker confirmed a command, if it was ever written (tests and diagnostics).
    pub fn outbox_sent_at(
        &self,
        correlation_id: &str,
    ) -> Result<Option<Option<i64>>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT sent_at FROM messages WHERE direction = 'out' AND correlation_id = ?1",
                params![correlation_id],
                |r| r.get(0),
            )
            .optional()?)
    }
}
