//! The fleet: which controllers exist in which stores. Target lists for deployments, and
//! the inventory (controllers discovered on the broker, imported from CSV or added by hand;
//! its rows live in the history, see `history::inventory`).

mod controller;
mod inventory_csv;
mod targets_csv;

pub use controller::{
    Controller, ControllerEntry, ControllerEntryError, ControllerSource, ImportReport,
    StoreSettings,
};
pub use inventory_csv::{InventoryCsvError, read_inventory_csv};
pub use targets_csv::{TargetsCsvError, read_targets_csv};
