//! Other operators' deployments (DESIGN.md section 2): commands from another installation
//! heard on the broker make a deployment with `origin = 'observed'` (its firmware, checksum,
//! URL, and a target per controller it was sent to), and the controllers' replies move its
//! targets as they would ours. Read only here: no engine runs them, nothing is sent for
//! them, and they have no timeouts (their timeouts are the other operator's).

use rusqlite::{Transaction, params};

use super::HistoryError;
use super::ownership::BrokerIdentity;
use crate::engine::{Millis, TargetStatus};

/// One thing heard about another operator's deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedChange {
    pub deployment_id: String,
    pub store_id: String,
    pub controller_id: String,
    pub at: Millis,
    pub kind: ObservedKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedKind {
    /// An `update_firmware`: the deployment (made on first sight) gets the target, or a new
    /// attempt of it once the last one ended.
    Update {
        firmware_version: String,
        file_url: String,
        file_size: u64,
        checksum: String,
        broker: Option<BrokerIdentity>,
    },
    /// A `cancel_update_firmware`.
    Cancel,
    /// A controller's reply, as the status it moves its target to.
    Reply {
        to: TargetStatus,
        errors: Vec<String>,
    },
}

/// The statuses a target may move to `to` from, for an observed deployment.
fn allowed_from(to: TargetStatus) -> &'static str {
    match to {
        TargetStatus::Acknowledged => "('sent')",
        TargetStatus::CancelRequested => "('queued', 'sent', 'acknowledged')",
        TargetStatus::Cancelled => "('queued', 'sent', 'acknowledged', 'cancel_requested')",
        // The controller's report is the truth, once per attempt.
        _ => "('queued', 'sent', 'acknowledged', 'cancel_requested', 'cancelled', 'timed_out')",
    }
}

fn ms(at: Millis) -> i64 {
    i64::try_from(at.0).unwrap_or(i64::MAX)
}

pub(super) fn write_observed(
    tx: &Transaction<'_>,
    changes: &[ObservedChange],
) -> Result<(), HistoryError> {
    for c in changes {
        match &c.kind {
            ObservedKind::Update {
                firmware_version,
                file_url,
                file_size,
                checksum,
                broker,
            } => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO deployments (id, firmware_version, file_url, file_size,
                        checksum, ack_timeout_ms, completion_timeout_ms, created_at, target_count,
                        origin, broker, topic_prefix)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, 0, 'observed', ?7, ?8)",
                )?
                .execute(params![
                    c.deployment_id,
                    firmware_version,
                    file_url,
                    i64::try_from(*file_size).unwrap_or(i64::MAX),
                    checksum,
                    ms(c.at),
                    broker.as_ref().map(|b| b.broker.as_str()),
                    broker.as_ref().map(|b| b.topic_prefix.as_str()),
                ])?;
                // Only another operator's: a command for one of ours changes nothing here.
                let observed: bool = tx
                    .prepare_cached("SELECT origin = 'observed' FROM deployments WHERE id = ?1")?
                    .query_row(params![c.deployment_id], |r| r.get(0))?;
                if !observed {
                    continue;
                }
                // A new target, or a new attempt for one whose last attempt ended.
                tx.prepare_cached(
                    "INSERT INTO transitions (deployment_id, store_id, controller_id, attempt,
                        from_status, to_status, at, errors)
                     SELECT ?1, ?2, ?3, COALESCE(t.attempt + 1, 1), COALESCE(t.status, 'queued'),
                        'sent', ?4, '[]'
                     FROM (SELECT 1) LEFT JOIN targets t
                       ON t.deployment_id = ?1 AND t.store_id = ?2 AND t.controller_id = ?3
                     WHERE t.status IS NULL
                        OR t.status IN ('completed', 'failed', 'cancelled', 'timed_out')",
                )?
                .execute(params![
                    c.deployment_id,
                    c.store_id,
                    c.controller_id,
                    ms(c.at)
                ])?;
                tx.prepare_cached(
                    "INSERT INTO targets (deployment_id, position, store_id, controller_id,
                        status, attempt, errors, updated_at)
                     VALUES (?1, (SELECT COALESCE(MAX(position) + 1, 0) FROM targets
                                  WHERE deployment_id = ?1),
                             ?2, ?3, 'sent', 1, '[]', ?4)
                     ON CONFLICT (deployment_id, store_id, controller_id) DO UPDATE SET
                        status = 'sent', attempt = attempt + 1, errors = '[]',
                        updated_at = excluded.updated_at
                     WHERE status IN ('completed', 'failed', 'cancelled', 'timed_out')",
                )?
                .execute(params![
                    c.deployment_id,
                    c.store_id,
                    c.controller_id,
                    ms(c.at)
                ])?;
                tx.prepare_cached(
                    "UPDATE deployments SET target_count =
                        (SELECT COUNT(*) FROM targets WHERE deployment_id = ?1)
                     WHERE id = ?1",
                )?
                .execute(params![c.deployment_id])?;
            }
            ObservedKind::Cancel => {
                move_target(tx, c, TargetStatus::CancelRequested, &[])?;
            }
            ObservedKind::Reply { to, errors } => move_target(tx, c, *to, errors)?,
        }
        // Finished once every target it has ended (a later command opens it again).
        tx.prepare_cached(
            "UPDATE deployments SET finished_at = CASE WHEN EXISTS (
                 SELECT 1 FROM targets WHERE deployment_id = ?1
                 AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out'))
               THEN NULL ELSE ?2 END
             WHERE id = ?1 AND origin = 'observed'",
        )?
        .execute(params![c.deployment_id, ms(c.at)])?;
    }
    Ok(())
}

/// Moves an observed target to `to` (with a transition), when its status allows it.
fn move_target(
    tx: &Transaction<'_>,
    c: &ObservedChange,
    to: TargetStatus,
    errors: &[String],
) -> Result<(), HistoryError> {
    let errors = serde_json::to_string(errors).map_err(|e| HistoryError::Encode(e.to_string()))?;
    let from = allowed_from(to);
    tx.prepare_cached(&format!(
        "INSERT INTO transitions (deployment_id, store_id, controller_id, attempt, from_status,
            to_status, at, errors)
         SELECT t.deployment_id, t.store_id, t.controller_id, t.attempt, t.status, ?4, ?5, ?6
         FROM targets t JOIN deployments d ON d.id = t.deployment_id AND d.origin = 'observed'
         WHERE t.deployment_id = ?1 AND t.store_id = ?2 AND t.controller_id = ?3
           AND t.status IN {from}"
    ))?
    .execute(params![
        c.deployment_id,
        c.store_id,
        c.controller_id,
        to.as_str(),
        ms(c.at),
        errors
    ])?;
    tx.prepare_cached(&format!(
        "UPDATE targets SET status = ?4, errors = ?6, updated_at = ?5
         WHERE deployment_id = ?1 AND store_id = ?2 AND controller_id = ?3 AND status IN {from}
           AND EXISTS (SELECT 1 FROM deployments WHERE id = ?1 AND origin = 'observed')"
    ))?
    .execute(params![
        c.deployment_id,
        c.store_id,
        c.controller_id,
        to.as_str(),
        ms(c.at),
        errors
    ])?;
    Ok(())
}
