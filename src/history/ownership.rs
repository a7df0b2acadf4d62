//! Which broker each deployment belongs to, the requests left for the process that drives a
//! deployment, and the reads with which other processes follow it (migration 5).

use std::fmt;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{History, HistoryError, PendingCommand};
use crate::engine::{Millis, RolloutEvent, RolloutEventKind, TargetStatus, Transition};
use crate::link::BrokerAddress;
use crate::protocol::{Id, TopicPrefix};

/// The `broker` of every deployment in a demo history: the demo's embedded broker moves to a
/// new port each run, and its deployments go on after a restart all the same.
pub const DEMO_BROKER: &str = "demo";

/// The broker a deployment is for (DESIGN.md section 3): only a process connected to it
/// sends the deployment's commands, advances its waves and runs its timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BrokerIdentity {
    /// `mqtt://host:port`, `mqtts://host:port`, or [`DEMO_BROKER`].
    pub broker: String,
    /// Empty: the spec's topics, unchanged.
    pub topic_prefix: String,
    /// The desktop profile the deployment was made with, for display only.
    pub profile: Option<String>,
}

impl BrokerIdentity {
    pub fn new(address: &BrokerAddress, prefix: &TopicPrefix) -> Self {
        Self {
            broker: address.to_string().to_ascii_lowercase(),
            topic_prefix: prefix.as_str().to_owned(),
            profile: None,
        }
    }

    /// The demo's embedded broker, wherever it runs this time.
    pub fn demo() -> Self {
        Self {
            broker: DEMO_BROKER.to_owned(),
            topic_prefix: String::new(),
            profile: None,
        }
    }

    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The same broker and prefix (the profile is only a label).
    pub fn same_broker(&self, other: &Self) -> bool {
        self.broker == other.broker && self.topic_prefix == other.topic_prefix
    }
}

impl fmt::Display for BrokerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.broker == DEMO_BROKER {
            f.write_str("the built-in demo broker")?;
        } else {
            f.write_str(&self.broker)?;
        }
        if !self.topic_prefix.is_empty() {
            write!(f, " (topic prefix {})", self.topic_prefix)?;
        }
        Ok(())
    }
}

/// What the history says about who may drive a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub local: bool,
    pub finished: bool,
    /// `None`: made before brokers were recorded.
    pub broker: Option<BrokerIdentity>,
}

/// What another process asked of a deployment's driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Pause,
    Resume,
    Cancel,
    Retry,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::Retry => "retry",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "pause" => Self::Pause,
            "resume" => Self::Resume,
            "cancel" => Self::Cancel,
            "retry" => Self::Retry,
            _ => return None,
        })
    }
}

/// A request not yet taken by a driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    pub id: i64,
    pub deployment_id: String,
    pub kind: RequestKind,
}

/// A new request, written in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub deployment_id: String,
    pub kind: RequestKind,
    pub at: Millis,
}

/// An inbound message recorded while another process drove its deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredMessage {
    pub id: i64,
    pub topic: String,
    pub body: Vec<u8>,
}

fn ms(at: Millis) -> i64 {
    i64::try_from(at.0).unwrap_or(i64::MAX)
}

fn millis(v: i64) -> Millis {
    Millis(u64::try_from(v).unwrap_or(0))
}

fn corrupt(e: impl fmt::Display) -> HistoryError {
    HistoryError::Corrupt(e.to_string())
}

impl History {
    /// Origin, state and broker of one deployment; `None` when the history has no such id.
    pub fn ownership(&self, deployment_id: &str) -> Result<Option<Ownership>, HistoryError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT origin, finished_at IS NOT NULL, broker, topic_prefix, profile
                 FROM deployments WHERE id = ?1",
            )?
            .query_row(params![deployment_id], |r| {
                let broker: Option<String> = r.get(2)?;
                Ok(Ownership {
                    local: r.get::<_, String>(0)? == "local",
                    finished: r.get(1)?,
                    broker: broker.map(|broker| BrokerIdentity {
                        broker,
                        topic_prefix: r
                            .get::<_, Option<String>>(3)
                            .ok()
                            .flatten()
                            .unwrap_or_default(),
                        profile: r.get(4).ok().flatten(),
                    }),
                })
            })
            .optional()?)
    }

    /// Local deployments not finished that belong to `identity`, oldest first.
    pub fn unfinished_on(&self, identity: &BrokerIdentity) -> Result<Vec<String>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id FROM deployments WHERE finished_at IS NULL AND origin = 'local'
             AND broker = ?1 AND COALESCE(topic_prefix, '') = ?2 ORDER BY created_at",
        )?;
        let ids = stmt
            .query_map(params![identity.broker, identity.topic_prefix], |r| {
                r.get(0)
            })?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Every deployment not finished (any broker, any origin): what other processes may drive
    /// and this one follows.
    pub fn unfinished_ids(&self) -> Result<Vec<String>, HistoryError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT id FROM deployments WHERE finished_at IS NULL")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Deployments that finished at or after `since`.
    pub fn finished_since(&self, since: Millis) -> Result<Vec<String>, HistoryError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT id FROM deployments WHERE finished_at >= ?1")?;
        let ids = stmt
            .query_map(params![ms(since)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// One deployment's commands written but not confirmed by the broker, oldest first.
    pub fn pending_commands_of(
        &self,
        deployment_id: &str,
    ) -> Result<Vec<PendingCommand>, HistoryError> {
        self.pending_commands_after(deployment_id, 0, usize::MAX)
    }

    /// Up to `limit` of those, from the row after `after`: the driver reads its outbox a
    /// chunk at a time instead of holding every command of a large deployment.
    pub fn pending_commands_after(
        &self,
        deployment_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<PendingCommand>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, correlation_id, deployment_id, topic, body FROM messages
             WHERE deployment_id = ?1 AND direction = 'out' AND sent_at IS NULL
               AND withdrawn = 0 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![deployment_id, after, limit], |r| {
                Ok(PendingCommand {
                    id: r.get(0)?,
                    correlation_id: r.get(1)?,
                    deployment_id: r.get(2)?,
                    topic: r.get(3)?,
                    body: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Requests no driver has taken yet, oldest first.
    pub fn open_requests(&self) -> Result<Vec<OpenRequest>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, deployment_id, kind FROM requests WHERE taken_at IS NULL ORDER BY id",
        )?;
        let mut out = Vec::new();
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let kind: String = r.get(2)?;
            out.push(OpenRequest {
                id: r.get(0)?,
                deployment_id: r.get(1)?,
                kind: RequestKind::from_name(&kind)
                    .ok_or_else(|| corrupt(format!("unknown request {kind:?}")))?,
            });
        }
        Ok(out)
    }

    /// Whether the driver took the request this process wrote (deployment, kind, time).
    pub fn request_taken(
        &self,
        deployment_id: &str,
        kind: RequestKind,
        at: Millis,
    ) -> Result<bool, HistoryError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT taken_at IS NOT NULL FROM requests
                 WHERE deployment_id = ?1 AND kind = ?2 AND at = ?3 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![deployment_id, kind.as_str(), ms(at)], |r| r.get(0))
            .optional()?
            .unwrap_or(false))
    }

    /// Messages of a deployment recorded while another process drove it, oldest first: the
    /// process that takes the deployment over applies them (duplicates change nothing).
    pub fn deferred_messages(
        &self,
        deployment_id: &str,
    ) -> Result<Vec<DeferredMessage>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, topic, body FROM messages
             WHERE deployment_id = ?1 AND outcome = 'deferred' ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![deployment_id], |r| {
                Ok(DeferredMessage {
                    id: r.get(0)?,
                    topic: r.get(1)?,
                    body: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The newest transition and rollout event ids: where a follower starts reading.
    pub fn follow_cursor(&self) -> Result<(i64, i64), HistoryError> {
        let t = self
            .conn()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM transitions", [], |r| {
                r.get(0)
            })?;
        let e =
            self.conn()
                .query_row("SELECT COALESCE(MAX(id), 0) FROM rollout_events", [], |r| {
                    r.get(0)
                })?;
        Ok((t, e))
    }

    /// Up to `limit` transitions of a deployment recorded after id `after`, oldest first,
    /// with their ids.
    pub fn transitions_after(
        &self,
        deployment_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Transition)>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, deployment_id, store_id, controller_id, attempt, from_status,
                    to_status, at, errors
             FROM transitions WHERE deployment_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let mut out = Vec::new();
        let mut q = stmt.query(params![deployment_id, after, limit as i64])?;
        while let Some(r) = q.next()? {
            let status = |i: usize| -> Result<TargetStatus, HistoryError> {
                let name: String = r.get(i)?;
                TargetStatus::from_name(&name)
                    .ok_or_else(|| corrupt(format!("unknown status {name:?}")))
            };
            let id = |i: usize| -> Result<Id, HistoryError> {
                Id::new(r.get::<_, String>(i)?).map_err(corrupt)
            };
            out.push((
                r.get(0)?,
                Transition {
                    deployment_id: id(1)?,
                    store_id: id(2)?,
                    controller_id: id(3)?,
                    attempt: r.get(4)?,
                    from: status(5)?,
                    to: status(6)?,
                    at: millis(r.get(7)?),
                    errors: serde_json::from_str(&r.get::<_, String>(8)?).map_err(corrupt)?,
                    wave: 0,
                },
            ));
        }
        Ok(out)
    }

    /// Up to `limit` rollout events of a deployment recorded after id `after`, oldest
    /// first, with their ids.
    pub fn rollout_events_after(
        &self,
        deployment_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, RolloutEvent)>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, deployment_id, at, detail FROM rollout_events
             WHERE deployment_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let mut out = Vec::new();
        let mut q = stmt.query(params![deployment_id, after, limit as i64])?;
        while let Some(r) = q.next()? {
            let kind: RolloutEventKind =
                serde_json::from_str(&r.get::<_, String>(3)?).map_err(corrupt)?;
            out.push((
                r.get(0)?,
                RolloutEvent {
                    deployment_id: Id::new(r.get::<_, String>(1)?).map_err(corrupt)?,
                    at: millis(r.get(2)?),
                    kind,
                },
            ));
        }
        Ok(out)
    }
}

/// The rows of a batch that migration 5 added, written inside its transaction.
pub(super) fn write_ownership(
    tx: &rusqlite::Transaction<'_>,
    batch: &super::Batch,
) -> Result<(), HistoryError> {
    let mut bind = tx.prepare_cached(
        "UPDATE deployments SET broker = ?2, topic_prefix = ?3, profile = ?4
         WHERE id = ?1 AND broker IS NULL",
    )?;
    for (id, identity) in &batch.bind {
        bind.execute(params![
            id,
            identity.broker,
            identity.topic_prefix,
            identity.profile
        ])?;
    }
    let mut add =
        tx.prepare_cached("INSERT INTO requests (deployment_id, kind, at) VALUES (?1, ?2, ?3)")?;
    for r in &batch.requests {
        add.execute(params![r.deployment_id, r.kind.as_str(), ms(r.at)])?;
    }
    let mut take =
        tx.prepare_cached("UPDATE requests SET taken_at = ?2 WHERE id = ?1 AND taken_at IS NULL")?;
    for (id, at) in &batch.requests_taken {
        take.execute(params![id, ms(*at)])?;
    }
    let mut outcome = tx.prepare_cached(
        "UPDATE messages SET outcome = ?2, reason = ?3 WHERE id = ?1 AND outcome = 'deferred'",
    )?;
    for (id, code, reason) in &batch.outcomes {
        outcome.execute(params![id, code, reason])?;
    }
    Ok(())
}
