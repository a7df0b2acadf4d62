//! The inventory as the window uses it: CSV import (also how demo mode puts its fleet in the
//! inventory), removal, and what a deployment's review says about targets the inventory knows.

use std::collections::HashMap;
use std::path::Path;

use storefleet::fleet::{ControllerSource, ImportReport, read_inventory_csv};
use storefleet::history::History;

use crate::deployments::TargetRef;
use crate::error::BoundaryError;

/// Imports every row of an inventory CSV, or none.
pub fn import_csv(history: &History, path: &Path) -> Result<ImportReport, BoundaryError> {
    let file = std::fs::File::open(path)
        .map_err(|e| BoundaryError::invalid(format!("cannot read {}: {e}", path.display())))?;
    let rows = read_inventory_csv(std::io::BufReader::new(file))
        .map_err(|e| BoundaryError::invalid(format!("{}: {e}", path.display())))?;
    Ok(history.import_controllers(&rows, ControllerSource::Imported)?)
}

/// Takes a controller out of the inventory (its deployment history stays); `not_found`, in
/// the CLI's words, when it is not there.
pub fn remove(history: &History, store_id: &str, controller_id: &str) -> Result<(), BoundaryError> {
    if history.remove_controller(store_id, controller_id)? {
        Ok(())
    } else {
        Err(BoundaryError::not_found(format!(
            "{store_id}/{controller_id} is not in the inventory"
        )))
    }
}

/// Warnings for the review: targets the inventory does not know, or never heard from.
pub fn target_warnings(
    history: &History,
    targets: &[TargetRef],
) -> Result<Vec<String>, BoundaryError> {
    let known: HashMap<(String, String), bool> = history
        .controllers()?
        .into_iter()
        .map(|c| ((c.store_id, c.controller_id), c.last_seen.is_some()))
        .collect();
    let (mut unknown, mut unseen) = (0, 0);
    for t in targets {
        match known.get(&(t.store_id.clone(), t.controller_id.clone())) {
            None => unknown += 1,
            Some(false) => unseen += 1,
            Some(true) => {}
        }
    }
    let mut warnings = Vec::new();
    let plural = |n: usize| if n == 1 { "target is" } else { "targets are" };
    if unknown > 0 {
        warnings.push(format!(
            "{unknown} {} not in the fleet inventory",
            plural(unknown)
        ));
    }
    if unseen > 0 {
        let were = if unseen == 1 {
            "target was"
        } else {
            "targets were"
        };
        warnings.push(format!("{unseen} {were} never seen on the broker"));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use storefleet::fleet::{ControllerEntry, ControllerSource};
    use storefleet::history::History;

    use crate::ErrorCode;

    #[test]
    fn removing_takes_the_controller_out_once_then_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("h.sqlite")).unwrap();
        let rows = [
            ControllerEntry::new("s1", "c1", None, None).unwrap(),
            ControllerEntry::new("s1", "c2", None, None).unwrap(),
        ];
        history
            .import_controllers(&rows, ControllerSource::Imported)
            .unwrap();
        super::remove(&history, "s1", "c1").unwrap();
        let left: Vec<String> = history
            .controllers()
            .unwrap()
            .into_iter()
            .map(|c| c.controller_id)
            .collect();
        assert_eq!(left, ["c2"]);
        let again = super::remove(&history, "s1", "c1").unwrap_err();
        assert_eq!(again.code, ErrorCode::NotFound);
        assert_eq!(again.message, "s1/c1 is not in the inventory");
    }
}
