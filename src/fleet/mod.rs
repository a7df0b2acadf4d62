//! The fleet: which controllers exist in which stores. For now, reading target lists.

mod targets_csv;

pub use targets_csv::{TargetsCsvError, read_targets_csv};
