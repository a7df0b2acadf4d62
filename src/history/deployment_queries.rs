//! Reading deployments back: for `status`, `deployments`, `export`, and for the service to
//! resume unfinished deployments after a restart. Needs no broker.

use std::collections::BTreeMap;
use std::time::Duration;

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{History, HistoryError};
use crate::engine::{
    DeploymentSnapshot, DeploymentState, Firmware, Millis, RolloutControl, RolloutEvent,
    RolloutEventKind, RolloutPolicy, StatusCounts, TargetStatus, Timeouts, plan_waves,
};
use crate::protocol::{Id, Md5Hex};

/// A deployment's header row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeploymentRow {
    pub deployment_id: String,
    pub firmware_version: String,
    pub file_url: String,
    pub file_size: u64,
    pub checksum: String,
    pub ack_timeout_ms: u64,
    pub completion_timeout_ms: u64,
    pub created_at: Millis,
    pub target_count: u64,
    pub origin: String,
    pub finished_at: Option<Millis>,
    pub counts: StatusCounts,
    pub state: DeploymentState,
    /// Why it is paused, while it is.
    pub paused_reason: Option<String>,
    pub policy: RolloutPolicy,
    /// The broker it belongs to (`None`: made before brokers were recorded, or observed).
    pub broker: Option<String>,
    pub topic_prefix: Option<String>,
}

/// One target's current attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TargetStatusRow {
    pub store_id: String,
    pub controller_id: String,
    pub status: TargetStatus,
    pub attempt: u32,
    pub errors: Vec<String>,
    pub updated_at: Millis,
    /// Its wave (0: the canary, or the only wave).
    pub wave: u32,
}

/// A recorded message, for export and the activity view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MessageRow {
    pub id: i64,
    pub direction: String,
    pub topic: String,
    /// The body as text (lossy for bytes that are not UTF-8).
    pub body: String,
    pub at: Millis,
    pub event_type: Option<String>,
    pub deployment_id: Option<String>,
    pub store_id: Option<String>,
    pub controller_id: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
}

/// A command still waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommand {
    /// The command's row in the message log (the outbox): the order commands are sent in.
    pub id: i64,
    pub correlation_id: String,
    pub deployment_id: String,
    pub topic: String,
    pub body: Vec<u8>,
}

fn millis(v: i64) -> Millis {
    Millis(u64::try_from(v).unwrap_or(0))
}

fn decode_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, HistoryError> {
    serde_json::from_str(text).map_err(|e| HistoryError::Corrupt(e.to_string()))
}

pub(super) const DEPLOYMENT_COLUMNS: &str = "id, firmware_version, file_url, file_size, checksum,
    ack_timeout_ms, completion_timeout_ms, created_at, target_count, origin, finished_at,
    policy, control, broker, topic_prefix";

/// A JSON column that may be NULL (rows from before migration 3): the type's default.
fn json_column<T: serde::de::DeserializeOwned + Default>(
    r: &Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    match r.get::<_, Option<String>>(index)? {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        }),
    }
}

/// A deployment's state as the history knows it (the engine's rule, from the saved parts).
fn state_of(finished: bool, control: &RolloutControl) -> DeploymentState {
    if control.cancelled {
        DeploymentState::Cancelled
    } else if finished {
        DeploymentState::Finished
    } else if control.paused_reason.is_some() {
        DeploymentState::Paused
    } else {
        DeploymentState::Running
    }
}

pub(super) fn deployment_row(r: &Row<'_>) -> rusqlite::Result<DeploymentRow> {
    let finished_at = r.get::<_, Option<i64>>(10)?.map(millis);
    let control: RolloutControl = json_column(r, 12)?;
    Ok(DeploymentRow {
        deployment_id: r.get(0)?,
        firmware_version: r.get(1)?,
        file_url: r.get(2)?,
        file_size: r.get::<_, i64>(3)?.max(0) as u64,
        checksum: r.get(4)?,
        ack_timeout_ms: r.get::<_, i64>(5)?.max(0) as u64,
        completion_timeout_ms: r.get::<_, i64>(6)?.max(0) as u64,
        created_at: millis(r.get(7)?),
        target_count: r.get::<_, i64>(8)?.max(0) as u64,
        origin: r.get(9)?,
        finished_at,
        counts: StatusCounts::default(),
        state: state_of(finished_at.is_some(), &control),
        paused_reason: control.paused_reason,
        policy: json_column(r, 11)?,
        broker: r.get(13)?,
        topic_prefix: r.get(14)?,
    })
}

impl History {
    /// One deployment's header with its per-status counts.
    pub fn deployment(&self, deployment_id: &str) -> Result<Option<DeploymentRow>, HistoryError> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1"),
                params![deployment_id],
                deployment_row,
            )
            .optional()?;
        let Some(mut row) = row else { return Ok(None) };
        row.counts = self.counts(deployment_id)?;
        Ok(Some(row))
    }

    /// Every deployment, newest first, with counts.
    pub fn deployments(&self) -> Result<Vec<DeploymentRow>, HistoryError> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments ORDER BY created_at DESC, id"
        ))?;
        let mut rows: Vec<DeploymentRow> = stmt
            .query_map([], deployment_row)?
            .collect::<Result<_, _>>()?;
        let mut counts: BTreeMap<String, StatusCounts> = BTreeMap::new();
        let mut stmt = self
            .conn()
            .prepare("SELECT deployment_id, status, COUNT(*) FROM targets GROUP BY 1, 2")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            if let Some(status) = TargetStatus::from_name(&r.get::<_, String>(1)?) {
                let n = r.get::<_, i64>(2)?.max(0) as usize;
                counts.entry(r.get(0)?).or_default().add_n(status, n);
            }
        }
        for row in &mut rows {
            row.counts = counts.remove(&row.deployment_id).unwrap_or_default();
        }
        Ok(rows)
    }

    pub(super) fn counts(&self, deployment_id: &str) -> Result<StatusCounts, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT status, COUNT(*) FROM targets WHERE deployment_id = ?1 GROUP BY status",
        )?;
        let mut counts = StatusCounts::default();
        let mut q = stmt.query(params![deployment_id])?;
        while let Some(r) = q.next()? {
            if let Some(status) = TargetStatus::from_name(&r.get::<_, String>(0)?) {
                counts.add_n(status, r.get::<_, i64>(1)?.max(0) as usize);
            }
        }
        Ok(counts)
    }

    /// A deployment's targets in the order they were given.
    pub fn target_statuses(
        &self,
        deployment_id: &str,
    ) -> Result<Vec<TargetStatusRow>, HistoryError> {
        let plan = match self.deployment(deployment_id)? {
            Some(row) => plan_waves(row.target_count as usize, &row.policy),
            None => Vec::new(),
        };
        let mut wave_ends = plan.iter().scan(0usize, |end, &size| {
            *end += size as usize;
            Some(*end)
        });
        let mut wave = 0u32;
        let mut wave_end = wave_ends.next().unwrap_or(usize::MAX);
        let mut stmt = self.conn().prepare_cached(
            "SELECT store_id, controller_id, status, attempt, errors, updated_at FROM targets
             WHERE deployment_id = ?1 ORDER BY position",
        )?;
        let mut out = Vec::new();
        let mut q = stmt.query(params![deployment_id])?;
        while let Some(r) = q.next()? {
            let status: String = r.get(2)?;
            while out.len() >= wave_end {
                match wave_ends.next() {
                    Some(end) => {
                        wave += 1;
                        wave_end = end;
                    }
                    None => wave_end = usize::MAX,
                }
            }
            out.push(TargetStatusRow {
                store_id: r.get(0)?,
                controller_id: r.get(1)?,
                status: TargetStatus::from_name(&status)
                    .ok_or_else(|| HistoryError::Corrupt(format!("unknown status {status:?}")))?,
                attempt: r.get(3)?,
                errors: decode_json(&r.get::<_, String>(4)?)?,
                updated_at: millis(r.get(5)?),
                wave,
            });
        }
        Ok(out)
    }

    /// One deployment's full engine state, finished or not (for cancel and retry later on).
    pub fn deployment_state(
        &self,
        deployment_id: &str,
    ) -> Result<Option<DeploymentSnapshot>, HistoryError> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1 AND origin = 'local'"),
                params![deployment_id],
                deployment_row,
            )
            .optional()?;
        row.map(|h| self.state_from_row(h)).transpose()
    }

    fn state_from_row(&self, h: DeploymentRow) -> Result<DeploymentSnapshot, HistoryError> {
        let corrupt =
            |what: String| HistoryError::Corrupt(format!("deployment {}: {what}", h.deployment_id));
        let targets = self.targets_of(&h.deployment_id).map_err(|e| match e {
            HistoryError::Corrupt(what) => corrupt(what),
            e => e,
        })?;
        Ok(DeploymentSnapshot {
            deployment_id: Id::new(h.deployment_id.clone()).map_err(|e| corrupt(e.to_string()))?,
            firmware: Firmware {
                firmware_version: h.firmware_version,
                file_url: h.file_url,
                file_size: h.file_size,
                checksum: Md5Hex::parse(&h.checksum).map_err(|e| corrupt(e.to_string()))?,
            },
            timeouts: Timeouts {
                ack: Duration::from_millis(h.ack_timeout_ms),
                completion: Duration::from_millis(h.completion_timeout_ms),
            },
            created_at: h.created_at,
            targets,
            policy: h.policy,
            control: self.rollout_control(&h.deployment_id)?.unwrap_or_default(),
        })
    }

    /// A deployment's saved rollout control: `None` when the deployment is unknown or was
    /// saved before rollout policies.
    pub fn rollout_control(
        &self,
        deployment_id: &str,
    ) -> Result<Option<RolloutControl>, HistoryError> {
        let text: Option<String> = self
            .conn()
            .prepare_cached("SELECT control FROM deployments WHERE id = ?1")?
            .query_row(params![deployment_id], |r| r.get(0))
            .optional()?
            .flatten();
        text.map(|t| decode_json(&t)).transpose()
    }

    /// A deployment's rollout history, oldest first: its plan, wave starts, pauses, resumes.
    pub fn rollout_events(&self, deployment_id: &str) -> Result<Vec<RolloutEvent>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT deployment_id, at, detail FROM rollout_events
             WHERE deployment_id = ?1 ORDER BY id",
        )?;
        let mut out = Vec::new();
        let mut q = stmt.query(params![deployment_id])?;
        while let Some(r) = q.next()? {
            let id: String = r.get(0)?;
            let kind: RolloutEventKind = decode_json(&r.get::<_, String>(2)?)?;
            out.push(RolloutEvent {
                deployment_id: Id::new(id).map_err(|e| HistoryError::Corrupt(e.to_string()))?,
                at: millis(r.get(1)?),
                kind,
            });
        }
        Ok(out)
    }

    /// How many of a deployment's commands wait in the outbox (not confirmed, not withdrawn).
    pub fn pending_count(&self, deployment_id: &str) -> Result<usize, HistoryError> {
        let n: i64 = self
            .conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM messages
             WHERE deployment_id = ?1 AND direction = 'out' AND sent_at IS NULL
               AND withdrawn = 0",
            )?
            .query_row(params![deployment_id], |r| r.get(0))?;
        Ok(n.max(0) as usize)
    }

    /// Recorded messages, oldest first: all of them, or one deployment's.
    pub fn messages(
        &self,
        deployment_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MessageRow>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, direction, topic, body, at, event_type, deployment_id, store_id,
                    controller_id, outcome, reason
             FROM messages WHERE (?1 IS NULL OR deployment_id = ?1) ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![deployment_id, limit as i64], |r| {
                Ok(MessageRow {
                    id: r.get(0)?,
                    direction: r.get(1)?,
                    topic: r.get(2)?,
                    body: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(3)?).into_owned(),
                    at: millis(r.get(4)?),
                    event_type: r.get(5)?,
                    deployment_id: r.get(6)?,
                    store_id: r.get(7)?,
                    controller_id: r.get(8)?,
                    outcome: r.get(9)?,
                    reason: r.get(10)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
