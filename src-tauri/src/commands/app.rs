//! What the first screen shows: the core's version and demo mode.

use serde::Serialize;
use ts_rs::TS;

use crate::demo::DemoInfo;
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

/// The demo's broker, fleet and firmware, once it runs (waits while it starts).
#[tauri::command]
pub async fn demo_info(
    demo: tauri::State<'_, crate::demo::DemoWatch>,
) -> Result<DemoInfo, BoundaryError> {
    let mut watch = demo.inner().clone();
    let state = watch
        .wait_for(Option::is_some)
        .await
        .map_err(|_| BoundaryError::new(crate::error::ErrorCode::Internal, "demo mode stopped"))?;
    state.clone().unwrap_or_else(|| {
        Err(BoundaryError::new(
            crate::error::ErrorCode::Internal,
            "demo mode stopped",
        ))
    })
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
