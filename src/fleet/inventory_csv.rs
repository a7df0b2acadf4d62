//! The inventory as CSV: a header with `store_id` and `controller_id`, optionally
//! `store_name` and `controller_name`, and the store's `timezone` (IANA) and `windows`
//! (`"Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00"`) (any order, more columns ignored), one
//! controller a row. A blank cell keeps what the inventory has.
//! One bad row refuses the whole file, so an import is all or nothing.

use std::io::Read;

use super::controller::{ControllerEntry, name};
use crate::maintenance::{StoreZone, Windows};
use crate::protocol::{Id, IdError};

#[derive(Debug, thiserror::Error)]
pub enum InventoryCsvError {
    #[error("the inventory CSV has no header with store_id and controller_id columns")]
    MissingColumns,
    #[error("inventory CSV line {line}: {source}")]
    Malformed { line: u64, source: csv::Error },
    #[error("inventory CSV line {line}: {reason}")]
    BadStore { line: u64, reason: String },
    #[error("inventory CSV line {line}: bad {column} {value:?}: {source}")]
    BadId {
        line: u64,
        column: &'static str,
        value: String,
        source: IdError,
    },
}

/// Reads every controller of an inventory CSV, in file order. Blank lines are skipped; a
/// blank name cell means "no name given" (an existing name is kept on import).
pub fn read_inventory_csv(input: impl Read) -> Result<Vec<ControllerEntry>, InventoryCsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|source| InventoryCsvError::Malformed { line: 1, source })?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(store), Some(controller)) = (column("store_id"), column("controller_id")) else {
        return Err(InventoryCsvError::MissingColumns);
    };
    let (store_name, controller_name) = (column("store_name"), column("controller_name"));
    let (timezone, windows) = (column("timezone"), column("windows"));
    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| InventoryCsvError::Malformed {
            line: source.position().map_or(0, |p| p.line()),
            source,
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let id = |index: usize, column: &'static str| {
            let value = record.get(index).unwrap_or_default();
            Id::new(value).map_err(|source| InventoryCsvError::BadId {
                line,
                column,
                value: value.to_owned(),
                source,
            })
        };
        let text = |index: Option<usize>| name(index.and_then(|i| record.get(i)));
        entries.push(ControllerEntry {
            store_id: id(store, "store_id")?,
            controller_id: id(controller, "controller_id")?,
            store_name: text(store_name),
            controller_name: text(controller_name),
            timezone: text(timezone)
                .map(|z| StoreZone::parse(&z))
                .transpose()
                .map_err(|e| InventoryCsvError::BadStore {
                    line,
                    reason: e.to_string(),
                })?,
            windows: text(windows)
                .map(|w| w.parse::<Windows>())
                .transpose()
                .map_err(|e| InventoryCsvError::BadStore {
                    line,
                    reason: e.to_string(),
                })?,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_and_optional_names_in_any_column_order() {
        let csv = "controller_name,store_id,extra,controller_id,store_name\n\
                   Lane 1,s1,x,c1,\"Northgate, Market\"\n\
                   \n\
                   ,s2,y,c9,\n";
        let rows = read_inventory_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].store_id.as_str(), "s1");
        assert_eq!(rows[0].controller_id.as_str(), "c1");
        assert_eq!(rows[0].store_name.as_deref(), Some("Northgate, Market"));
        assert_eq!(rows[0].controller_name.as_deref(), Some("Lane 1"));
        assert_eq!(rows[1].store_name, None);
        assert_eq!(rows[1].controller_name, None);
    }

    #[test]
    fn stores_get_zones_and_windows_and_bad_ones_name_their_line() {
        let csv = "store_id,controller_id,timezone,windows\n\
                   s1,c1,Europe/Berlin,\"Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00\"\n\
                   s1,c2,,\n";
        let rows = read_inventory_csv(csv.as_bytes()).unwrap();
        assert_eq!(
            rows[0].timezone.as_ref().map(StoreZone::name),
            Some("Europe/Berlin")
        );
        assert_eq!(
            rows[0].windows.as_ref().map(ToString::to_string).as_deref(),
            Some("Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00")
        );
        assert_eq!(
            (rows[1].timezone.clone(), rows[1].windows.clone()),
            (None, None)
        );
        let bad = "store_id,controller_id,windows\ns1,c1,Mon-Fro 22:00-05:00\n";
        let text = read_inventory_csv(bad.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            text,
            r#"inventory CSV line 2: invalid window "Mon-Fro 22:00-05:00": unknown day "Fro""#
        );
        let bad = "store_id,controller_id,timezone\ns1,c1,Mars/Olympus\n";
        let text = read_inventory_csv(bad.as_bytes()).unwrap_err().to_string();
        assert!(
            text.contains("line 2") && text.contains("Mars/Olympus"),
            "{text}"
        );
    }

    #[test]
    fn names_are_optional_columns() {
        let rows = read_inventory_csv("store_id,controller_id\ns1,c1\n".as_bytes()).unwrap();
        assert_eq!(rows[0].store_name, None);
        assert_eq!(rows[0].controller_name, None);
    }

    #[test]
    fn refuses_a_file_without_the_id_columns() {
        let err = read_inventory_csv("store,controller_id\ns1,c1\n".as_bytes()).unwrap_err();
        assert!(matches!(err, InventoryCsvError::MissingColumns));
    }

    #[test]
    fn one_bad_id_refuses_the_file_naming_its_line() {
        let csv = "store_id,controller_id\ns1,c1\ns2,\ns3,c3\n";
        let text = read_inventory_csv(csv.as_bytes()).unwrap_err().to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("controller_id"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn a_row_with_a_wildcard_is_refused() {
        let csv = "store_id,controller_id\ns#1,c1\n";
        let text = read_inventory_csv(csv.as_bytes()).unwrap_err().to_string();
        assert!(
            text.contains("line 2") && text.contains("store_id"),
            "{text}"
        );
    }
}
