//! Target lists as CSV: a header with `store_id` and `controller_id` (more columns allowed,
//! e.g. the names `storefleet sim --write-fleet` adds), then one target per row.

use std::io::Read;

use super::inventory_csv::{InventoryCsvError, read_inventory_csv};
use crate::engine::TargetKey;
use crate::protocol::IdError;

#[derive(Debug, thiserror::Error)]
pub enum TargetsCsvError {
    #[error("targets CSV line {line}: {reason}")]
    BadStore { line: u64, reason: String },
    #[error("the targets CSV has no header with store_id and controller_id columns")]
    MissingColumns,
    #[error("targets CSV line {line}: {source}")]
    Malformed { line: u64, source: csv::Error },
    #[error("targets CSV line {line}: bad {column} {value:?}: {source}")]
    BadId {
        line: u64,
        column: &'static str,
        value: String,
        source: IdError,
    },
}

/// Reads every target of a CSV list, in file order. Blank lines are skipped. The format is
/// the inventory's (its optional name columns are ignored here), so one reader serves both.
pub fn read_targets_csv(input: impl Read) -> Result<Vec<TargetKey>, TargetsCsvError> {
    let entries = read_inventory_csv(input)?;
    Ok(entries
        .into_iter()
        .map(|e| TargetKey::new(e.store_id, e.controller_id))
        .collect())
}

impl From<InventoryCsvError> for TargetsCsvError {
    fn from(e: InventoryCsvError) -> Self {
        match e {
            InventoryCsvError::MissingColumns => Self::MissingColumns,
            InventoryCsvError::BadStore { line, reason } => Self::BadStore { line, reason },
            InventoryCsvError::Malformed { line, source } => Self::Malformed { line, source },
            InventoryCsvError::BadId {
                line,
                column,
                value,
                source,
            } => Self::BadId {
                line,
                column,
                value,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_targets_in_order_with_extra_columns_and_quotes() {
        let csv = "store_id,controller_id,store_name,controller_name\n\
                   s1,c1,\"Northgate, Market\",Lane 1\n\
                   \n\
                   s2,c9,Southside,Lane 9\n";
        let targets = read_targets_csv(csv.as_bytes()).unwrap();
        let pairs: Vec<_> = targets
            .iter()
            .map(|t| (t.store_id.as_str(), t.controller_id.as_str()))
            .collect();
        assert_eq!(pairs, [("s1", "c1"), ("s2", "c9")]);
    }

    #[test]
    fn refuses_a_file_without_the_id_columns() {
        let err = read_targets_csv("store,controller\ns1,c1\n".as_bytes()).unwrap_err();
        assert!(matches!(err, TargetsCsvError::MissingColumns));
    }

    #[test]
    fn names_the_line_and_column_of_a_bad_id() {
        let err =
            read_targets_csv("store_id,controller_id\ns1,c1\ns/2,c2\n".as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("store_id"), "{text}");
        assert!(!text.contains('\n'));
    }
}
