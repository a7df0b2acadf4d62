//! The inventory's rows: discovery (written with the service's batches), imports and
//! additions by hand, and the list with each controller's firmware and last result, which
//! are read from the deployments' `targets` rather than stored twice.

use foldhash::{HashMap, HashMapExt};

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{History, HistoryError};
use crate::engine::{Millis, TargetKey, TargetStatus};
use crate::fleet::{Controller, ControllerEntry, ControllerSource, ImportReport};
use crate::protocol::Id;

/// Traffic heard for a controller: a message on one of its topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSeen {
    pub store_id: String,
    pub controller_id: String,
    /// When a message from the controller arrived; `None` for a command addressed to it
    /// (another operator's), which proves it exists but not that it is alive.
    pub at: Option<Millis>,
}

fn ms(at: Millis) -> i64 {
    i64::try_from(at.0).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    ms(Millis::from_datetime(&chrono::Utc::now()))
}

/// Upserts every controller of `seen` once, with its latest time: a batch of replies from
/// one controller costs one row write.
pub(super) fn record_seen(tx: &Transaction<'_>, seen: &[ControllerSeen]) -> rusqlite::Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let mut latest: HashMap<(&str, &str), Option<Millis>> = HashMap::with_capacity(seen.len());
    for s in seen {
        let at = latest
            .entry((s.store_id.as_str(), s.controller_id.as_str()))
            .or_default();
        *at = (*at).max(s.at);
    }
    let added_at = now_ms();
    let mut upsert = tx.prepare_cached(
        "INSERT INTO controllers (store_id, controller_id, source, added_at, last_seen)
         VALUES (?1, ?2, 'discovered', ?3, ?4)
         ON CONFLICT (store_id, controller_id) DO UPDATE SET last_seen = excluded.last_seen
         WHERE excluded.last_seen IS NOT NULL
           AND (last_seen IS NULL OR excluded.last_seen > last_seen)",
    )?;
    for ((store_id, controller_id), at) in latest {
        upsert.execute(params![store_id, controller_id, added_at, at.map(ms)])?;
    }
    Ok(())
}

/// The list's columns; `WHERE` and `ORDER BY` are appended.
pub(super) const SELECT_CONTROLLERS: &str = "
    SELECT c.store_id, c.controller_id,
           coalesce(c.store_name, (SELECT s.store_name FROM controllers s INDEXED BY controllers_named
                                   WHERE s.store_id = c.store_id AND s.store_name IS NOT NULL
                                   ORDER BY s.controller_id LIMIT 1)),
           c.controller_name,
           (SELECT d.firmware_version FROM targets t JOIN deployments d ON d.id = t.deployment_id
            WHERE t.store_id = c.store_id AND t.controller_id = c.controller_id
              AND t.status = 'completed'
            ORDER BY t.updated_at DESC, t.deployment_id DESC LIMIT 1),
           c.last_seen, lt.status, lt.deployment_id, c.source
    FROM controllers c
    LEFT JOIN targets lt
      ON lt.store_id = c.store_id AND lt.controller_id = c.controller_id
     AND lt.deployment_id = (
           SELECT t.deployment_id FROM targets t
           WHERE t.store_id = c.store_id AND t.controller_id = c.controller_id
             AND t.status IN ('completed', 'failed', 'timed_out', 'cancelled')
           ORDER BY t.updated_at DESC, t.deployment_id DESC LIMIT 1)";

fn controller_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Controller, HistoryError>> {
    let status: Option<String> = row.get(6)?;
    let source: String = row.get(8)?;
    let last_result = match status {
        None => None,
        Some(text) => match TargetStatus::from_name(&text) {
            Some(s) => Some(s),
            None => {
                return Ok(Err(HistoryError::Corrupt(format!(
                    "target status {text:?}"
                ))));
            }
        },
    };
    let Some(source) = ControllerSource::from_name(&source) else {
        return Ok(Err(HistoryError::Corrupt(format!(
            "controller source {source:?}"
        ))));
    };
    let last_seen: Option<i64> = row.get(5)?;
    Ok(Ok(Controller {
        store_id: row.get(0)?,
        controller_id: row.get(1)?,
        store_name: row.get(2)?,
        controller_name: row.get(3)?,
        firmware_version: row.get(4)?,
        last_seen: last_seen.map(|t| Millis(u64::try_from(t).unwrap_or(0))),
        last_result,
        last_deployment_id: row.get(7)?,
        source,
    }))
}

impl History {
    /// Adds or updates controllers in one transaction. A name given replaces the stored
    /// one; a name not given keeps it. `Discovered` never replaces an explicit source.
    pub fn import_controllers(
        &self,
        rows: &[ControllerEntry],
        source: ControllerSource,
    ) -> Result<ImportReport, HistoryError> {
        let tx = Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)?;
        let mut report = ImportReport::default();
        {
            let mut existing = tx.prepare_cached(
                "SELECT store_name, controller_name, source FROM controllers
                 WHERE store_id = ?1 AND controller_id = ?2",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO controllers (store_id, controller_id, store_name, controller_name,
                    source, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE controllers SET store_name = ?3, controller_name = ?4, source = ?5
                 WHERE store_id = ?1 AND controller_id = ?2",
            )?;
            let added_at = now_ms();
            for e in rows {
                super::store_windows::upsert(
                    &tx,
                    e.store_id.as_str(),
                    e.timezone.as_ref(),
                    e.windows.as_ref(),
                )?;
                let key = (e.store_id.as_str(), e.controller_id.as_str());
                let found = existing
                    .query_row(params![key.0, key.1], |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .optional()?;
                match found {
                    None => {
                        insert.execute(params![
                            key.0,
                            key.1,
                            e.store_name,
                            e.controller_name,
                            source.as_str(),
                            added_at
                        ])?;
                        report.added += 1;
                    }
                    Some((store_name, controller_name, old_source)) => {
                        let new_store = e.store_name.clone().or(store_name.clone());
                        let new_controller = e.controller_name.clone().or(controller_name.clone());
                        let new_source = match source {
                            ControllerSource::Discovered => old_source.as_str(),
                            explicit => explicit.as_str(),
                        };
                        if (&new_store, &new_controller, new_source)
                            != (&store_name, &controller_name, old_source.as_str())
                        {
                            update.execute(params![
                                key.0,
                                key.1,
                                new_store,
                                new_controller,
                                new_source
                            ])?;
                            report.updated += 1;
                        }
                    }
                }
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Adds one controller by hand (or names a known one) and returns it as listed.
    pub fn add_controller(&self, entry: &ControllerEntry) -> Result<Controller, HistoryError> {
        self.import_controllers(std::slice::from_ref(entry), ControllerSource::Manual)?;
        self.controller(entry.store_id.as_str(), entry.controller_id.as_str())?
            .ok_or_else(|| HistoryError::Corrupt("a controller just added is missing".into()))
    }

    /// Takes a controller out of the inventory; false when it was not there. Its deployment
    /// history stays (deployments keep their targets). Heard again on the broker, it comes
    /// back as `seen`.
    pub fn remove_controller(
        &self,
        store_id: &str,
        controller_id: &str,
    ) -> Result<bool, HistoryError> {
        let removed = self.conn().execute(
            "DELETE FROM controllers WHERE store_id = ?1 AND controller_id = ?2",
            params![store_id, controller_id],
        )?;
        Ok(removed > 0)
    }

    /// Every known controller, ordered by store, then controller.
    pub fn controllers(&self) -> Result<Vec<Controller>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "{SELECT_CONTROLLERS} ORDER BY c.store_id, c.controller_id"
        ))?;
        let rows = stmt.query_map([], controller_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// One controller, if the inventory knows it.
    pub fn controller(
        &self,
        store_id: &str,
        controller_id: &str,
    ) -> Result<Option<Controller>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "{SELECT_CONTROLLERS} WHERE c.store_id = ?1 AND c.controller_id = ?2"
        ))?;
        match stmt
            .query_row(params![store_id, controller_id], controller_row)
            .optional()?
        {
            Some(row) => Ok(Some(row?)),
            None => Ok(None),
        }
    }

    /// Every known controller of one store, as deployment targets, by controller id.
    pub fn store_controllers(&self, store_id: &str) -> Result<Vec<TargetKey>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT store_id, controller_id FROM controllers WHERE store_id = ?1
             ORDER BY controller_id",
        )?;
        let rows = stmt.query_map(params![store_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (store, controller) = row?;
            let id = |text: String| {
                Id::new(text.clone())
                    .map_err(|e| HistoryError::Corrupt(format!("controller id {text:?}: {e}")))
            };
            out.push(TargetKey::new(id(store)?, id(controller)?));
        }
        Ok(out)
    }
}
