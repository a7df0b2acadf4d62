//! What the inventory knows about one controller, and how rows enter it.

use serde::{Deserialize, Serialize};

use crate::engine::{Millis, StoreWindow, TargetStatus};
use crate::maintenance::{StoreZone, Windows};
use crate::protocol::{Id, IdError};

/// How a controller entered the inventory. An explicit source (imported, manual) is never
/// turned back into `discovered` by traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ControllerSource {
    /// Heard on the broker.
    Discovered,
    /// From an inventory CSV.
    Imported,
    /// Added by hand.
    Manual,
}

impl ControllerSource {
    /// The string stored in the history and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discovered => "discovered",
            Self::Imported => "imported",
            Self::Manual => "manual",
        }
    }

    /// The source named by `text`, exactly as [`ControllerSource::as_str`] writes it.
    pub fn from_name(text: &str) -> Option<Self> {
        [Self::Discovered, Self::Imported, Self::Manual]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One known controller, with what the history says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Controller {
    pub store_id: String,
    pub controller_id: String,
    /// Its own store name, or else one given for another controller of the same store.
    pub store_name: Option<String>,
    pub controller_name: Option<String>,
    /// The version of the last deployment it reported completed.
    pub firmware_version: Option<String>,
    /// When the last message from it arrived on the broker.
    pub last_seen: Option<Millis>,
    /// Its last terminal status in any deployment.
    pub last_result: Option<TargetStatus>,
    pub last_deployment_id: Option<String>,
    pub source: ControllerSource,
}

/// The outcome of an import: rows new to the inventory, and known rows it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportReport {
    pub added: u32,
    pub updated: u32,
}

/// A controller to add to the inventory (a CSV row, or one added by hand). A name of `None`
/// keeps whatever name the inventory already has; so do a time zone and windows of `None`
/// (they belong to the row's store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerEntry {
    pub store_id: Id,
    pub controller_id: Id,
    pub store_name: Option<String>,
    pub controller_name: Option<String>,
    pub timezone: Option<StoreZone>,
    pub windows: Option<Windows>,
}

/// A store's time zone and maintenance windows as the inventory holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StoreSettings {
    pub store_id: String,
    /// IANA name, e.g. `Europe/Berlin`.
    pub timezone: Option<String>,
    /// Canonical text, e.g. `Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00`.
    pub windows: Option<String>,
}

impl StoreSettings {
    /// The zone and windows a deployment can use: both set and valid.
    pub fn usable(&self) -> Option<StoreWindow> {
        let zone = StoreZone::parse(self.timezone.as_deref()?).ok()?;
        let windows: Windows = self.windows.as_deref()?.parse().ok()?;
        (!windows.is_empty()).then(|| StoreWindow {
            timezone: zone.name().to_owned(),
            windows,
        })
    }
}

impl ControllerEntry {
    /// Checks both ids against the protocol's rules; blank names become `None`.
    pub fn new(
        store_id: &str,
        controller_id: &str,
        store_name: Option<&str>,
        controller_name: Option<&str>,
    ) -> Result<Self, ControllerEntryError> {
        Ok(Self {
            store_id: Id::new(store_id).map_err(|source| ControllerEntryError {
                field: "store_id",
                value: store_id.to_owned(),
                source,
            })?,
            controller_id: Id::new(controller_id).map_err(|source| ControllerEntryError {
                field: "controller_id",
                value: controller_id.to_owned(),
                source,
            })?,
            store_name: name(store_name),
            controller_name: name(controller_name),
            timezone: None,
            windows: None,
        })
    }
}

/// An id of a [`ControllerEntry`] broke the protocol's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {field} {value:?}: {source}")]
pub struct ControllerEntryError {
    pub field: &'static str,
    pub value: String,
    pub source: IdError,
}

/// A display name: trimmed; blank means none.
pub(crate) fn name(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_round_trip_and_match_serde() {
        for s in [
            ControllerSource::Discovered,
            ControllerSource::Imported,
            ControllerSource::Manual,
        ] {
            assert_eq!(ControllerSource::from_name(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(ControllerSource::from_name("Manual"), None);
    }

    #[test]
    fn entry_checks_ids_and_blanks_names() {
        let e = ControllerEntry::new("s1", "c1", Some("  "), Some(" Lane 1 ")).unwrap();
        assert_eq!(e.store_name, None);
        assert_eq!(e.controller_name.as_deref(), Some("Lane 1"));
        let err = ControllerEntry::new("s1", "c+1", None, None).unwrap_err();
        assert_eq!(err.field, "controller_id");
        assert!(!err.to_string().contains('\n'));
    }
}
