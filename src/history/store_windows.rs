//! Each store's time zone and maintenance windows: set by hand (`fleet set-timezone`,
//! `fleet set-window`, the Fleet view) or by an inventory CSV's `timezone` and `windows`
//! columns, and read when a deployment with windows is made.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{History, HistoryError};
use crate::engine::{Millis, StoreWindow};
use crate::fleet::StoreSettings;
use crate::maintenance::{StoreZone, Windows};

fn now_ms() -> i64 {
    i64::try_from(Millis::from_datetime(&chrono::Utc::now()).0).unwrap_or(i64::MAX)
}

/// Sets the zone, the windows or both of one store (`None` keeps what is stored).
pub(super) fn upsert(
    tx: &Transaction<'_>,
    store_id: &str,
    timezone: Option<&StoreZone>,
    windows: Option<&Windows>,
) -> rusqlite::Result<()> {
    if timezone.is_none() && windows.is_none() {
        return Ok(());
    }
    let windows_text = windows.map(|w| (!w.is_empty()).then(|| w.to_string()));
    tx.prepare_cached(
        "INSERT INTO store_windows (store_id, timezone, windows, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (store_id) DO UPDATE SET
           timezone = CASE WHEN ?5 THEN excluded.timezone ELSE timezone END,
           windows = CASE WHEN ?6 THEN excluded.windows ELSE windows END,
           updated_at = excluded.updated_at",
    )?
    .execute(params![
        store_id,
        timezone.map(StoreZone::name),
        windows_text.clone().flatten(),
        now_ms(),
        timezone.is_some(),
        windows_text.is_some(),
    ])?;
    Ok(())
}

fn settings_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoreSettings> {
    Ok(StoreSettings {
        store_id: row.get(0)?,
        timezone: row.get(1)?,
        windows: row.get(2)?,
    })
}

impl History {
    /// Sets a store's time zone.
    pub fn set_store_timezone(
        &self,
        store_id: &str,
        zone: &StoreZone,
    ) -> Result<StoreSettings, HistoryError> {
        self.set_store(store_id, Some(zone), None)
    }

    /// Replaces a store's windows (empty: none).
    pub fn set_store_windows(
        &self,
        store_id: &str,
        windows: &Windows,
    ) -> Result<StoreSettings, HistoryError> {
        self.set_store(store_id, None, Some(windows))
    }

    fn set_store(
        &self,
        store_id: &str,
        zone: Option<&StoreZone>,
        windows: Option<&Windows>,
    ) -> Result<StoreSettings, HistoryError> {
        let tx = Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)?;
        upsert(&tx, store_id, zone, windows)?;
        tx.commit()?;
        self.store_settings(store_id)
    }

    /// One store's zone and windows (both `None` when never set).
    pub fn store_settings(&self, store_id: &str) -> Result<StoreSettings, HistoryError> {
        let found = self
            .conn()
            .prepare_cached(
                "SELECT store_id, timezone, windows FROM store_windows WHERE store_id = ?1",
            )?
            .query_row(params![store_id], settings_row)
            .optional()?;
        Ok(found.unwrap_or_else(|| StoreSettings {
            store_id: store_id.to_owned(),
            timezone: None,
            windows: None,
        }))
    }

    /// Every store with a zone or windows set, by store id.
    pub fn all_store_settings(&self) -> Result<Vec<StoreSettings>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT store_id, timezone, windows FROM store_windows ORDER BY store_id",
        )?;
        let rows = stmt.query_map([], settings_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The inventory's names of these stores (those that have one).
    pub fn store_names<'a>(
        &self,
        stores: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, String>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT store_name FROM controllers WHERE store_id = ?1 AND store_name IS NOT NULL
             ORDER BY controller_id LIMIT 1",
        )?;
        let mut out = BTreeMap::new();
        for store in stores {
            if let Some(name) = stmt
                .query_row(params![store], |r| r.get::<_, String>(0))
                .optional()?
            {
                out.insert(store.to_owned(), name);
            }
        }
        Ok(out)
    }

    /// The usable windows (a known zone and at least one window) of these stores.
    pub fn store_windows<'a>(
        &self,
        stores: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, StoreWindow>, HistoryError> {
        let mut out = BTreeMap::new();
        for store in stores {
            let s = self.store_settings(store)?;
            if let Some(window) = s.usable() {
                out.insert(store.to_owned(), window);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_and_windows_are_set_apart_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("h.sqlite")).unwrap();
        assert_eq!(history.store_settings("s1").unwrap().timezone, None);
        let windows: Windows = "Mon-Fri 22:00-05:00".parse().unwrap();
        let s = history.set_store_windows("s1", &windows).unwrap();
        assert_eq!(s.windows.as_deref(), Some("Mon-Fri 22:00-05:00"));
        assert_eq!(s.timezone, None);
        assert!(history.store_windows(["s1"]).unwrap().is_empty());
        let zone = StoreZone::parse("Europe/Berlin").unwrap();
        let s = history.set_store_timezone("s1", &zone).unwrap();
        assert_eq!(s.windows.as_deref(), Some("Mon-Fri 22:00-05:00"));
        assert_eq!(s.timezone.as_deref(), Some("Europe/Berlin"));
        let usable = history.store_windows(["s1", "s2"]).unwrap();
        assert_eq!(usable.len(), 1);
        assert_eq!(usable["s1"].windows, windows);
        history
            .set_store_windows("s1", &Windows::default())
            .unwrap();
        assert_eq!(history.store_settings("s1").unwrap().windows, None);
        assert_eq!(history.all_store_settings().unwrap().len(), 1);
    }
}
