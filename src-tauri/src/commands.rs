//! Tauri commands: each one a few lines that call the core and map its errors.

use serde::Serialize;
use ts_rs::TS;

use crate::error::BoundaryError;

/// What the first screen shows about the running core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AppInfo {
    pub product: String,
    pub core_version: String,
}

impl AppInfo {
    pub fn current() -> Self {
        Self {
            product: storefleet::PRODUCT_NAME.to_owned(),
            core_version: storefleet::VERSION.to_owned(),
        }
    }
}

#[tauri::command]
pub fn app_info() -> Result<AppInfo, BoundaryError> {
    Ok(AppInfo::current())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_info_reports_the_core_version() {
        let info = app_info().unwrap();
        assert_eq!(info.product, "Storefleet");
        assert_eq!(info.core_version, env!("CARGO_PKG_VERSION"));
    }
}
