//! Storefleet's core: everything but the window.
//!
//! The desktop app (`src-tauri`) and the `storefleet` command line are thin adapters over
//! this crate; neither holds logic of its own.

pub mod csv_out;
pub mod durations;
pub mod engine;
pub mod firmware;
pub mod fleet;
pub mod history;
pub mod link;
pub mod maintenance;
pub mod profiles;
pub mod protocol;
pub mod report;
pub mod service;
pub mod sim;

/// The core's version, as the window and the CLI report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The product's name, as users see it.
pub const PRODUCT_NAME: &str = "Storefleet";
