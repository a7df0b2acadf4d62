//! A deployment's targets rebuilt for the engine from their columns and attempt rows
//! (migration 7): the current attempt from `targets`, the ones a retry closed from
//! `attempts`.

use std::collections::HashMap;

use rusqlite::{Row, params};

use super::{History, HistoryError};
use crate::engine::{Attempt, CommandId, CommandRecord, Millis, Target, TargetStatus};
use crate::protocol::Id;

/// The attempt columns, in the same order in both tables.
const ATTEMPT_COLUMNS: &str = "status, updated_at, errors, update_cid, update_sent_at,
    update_acked_at, update_withdrawn, cancel_cid, cancel_sent_at, cancel_acked_at,
    cancel_withdrawn";

impl History {
    /// Every target of a deployment, in its order, as the engine restores it.
    pub(super) fn targets_of(&self, deployment_id: &str) -> Result<Vec<Target>, HistoryError> {
        let mut earlier: HashMap<(String, String), Vec<Attempt>> = HashMap::new();
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT store_id, controller_id, number, {ATTEMPT_COLUMNS} FROM attempts
             WHERE deployment_id = ?1 ORDER BY store_id, controller_id, number"
        ))?;
        let mut rows = stmt.query(params![deployment_id])?;
        while let Some(r) = rows.next()? {
            let attempt = attempt(r, 2)?;
            earlier
                .entry((r.get(0)?, r.get(1)?))
                .or_default()
                .push(attempt);
        }
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT store_id, controller_id, attempt, {ATTEMPT_COLUMNS} FROM targets
             WHERE deployment_id = ?1 ORDER BY position"
        ))?;
        let mut rows = stmt.query(params![deployment_id])?;
        let mut targets = Vec::new();
        while let Some(r) = rows.next()? {
            let store: String = r.get(0)?;
            let controller: String = r.get(1)?;
            let current = attempt(r, 2)?;
            let earlier = earlier
                .remove(&(store.clone(), controller.clone()))
                .unwrap_or_default();
            targets.push(Target {
                store_id: id(store)?,
                controller_id: id(controller)?,
                earlier: earlier.into(),
                current,
            });
        }
        Ok(targets)
    }
}

fn id(text: String) -> Result<Id, HistoryError> {
    Id::new(text).map_err(|e| HistoryError::Corrupt(e.to_string()))
}

fn millis(value: Option<i64>) -> Option<Millis> {
    value.map(|v| Millis(u64::try_from(v).unwrap_or(0)))
}

/// The attempt whose number is column `at`, followed by [`ATTEMPT_COLUMNS`].
fn attempt(r: &Row<'_>, at: usize) -> Result<Attempt, HistoryError> {
    let status: String = r.get(at + 1)?;
    let errors: String = r.get(at + 3)?;
    Ok(Attempt {
        number: r.get(at)?,
        status: TargetStatus::from_name(&status)
            .ok_or_else(|| HistoryError::Corrupt(format!("unknown status {status:?}")))?,
        updated_at: millis(Some(r.get(at + 2)?)).unwrap_or_default(),
        errors: if errors == "[]" {
            thin_vec::ThinVec::new()
        } else {
            serde_json::from_str(&errors).map_err(|e| HistoryError::Corrupt(e.to_string()))?
        },
        update: command(r, at + 4)?,
        cancel: command(r, at + 8)?.map(Box::new),
    })
}

/// The command in the four columns from `at` (correlation id, sent, acked, withdrawn).
fn command(r: &Row<'_>, at: usize) -> Result<Option<CommandRecord>, HistoryError> {
    let Some(correlation_id) = r.get::<_, Option<String>>(at)? else {
        return Ok(None);
    };
    Ok(Some(CommandRecord {
        correlation_id: CommandId::from(id(correlation_id)?),
        sent_at: millis(r.get(at + 1)?),
        acked_at: millis(r.get(at + 2)?),
        withdrawn: r.get(at + 3)?,
    }))
}
