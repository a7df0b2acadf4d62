//! When a deployment may send: its not-before and not-after bounds, and (with windows) each
//! store's maintenance windows, resolved from the inventory when the deployment was made and
//! kept in its policy, so a restored deployment keeps them.
//!
//! The engine asks [`Gates`] while choosing targets (`pacing.rs`): a store whose window is
//! closed keeps its targets waiting without blocking other stores, and the engine wakes at
//! the earliest opening (see [`super::Engine::next_deadline`]).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::error::EngineError;
use super::time::Millis;
use crate::maintenance::{StoreZone, WindowState, Windows, window_state};
use crate::protocol::Id;

/// A store's zone and windows as the deployment knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StoreWindow {
    /// IANA name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Like `Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00`, in the store's wall clock.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub windows: Windows,
}

/// What happens to a target whose store has no window set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Unwindowed {
    /// The deployment is refused at review.
    #[default]
    Refuse,
    /// Sent as soon as the deployment allows, like a deployment without windows.
    SendAtOnce,
}

/// Sending only inside stores' windows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InWindows {
    #[serde(default)]
    pub unwindowed: Unwindowed,
    /// The targets' stores that have a window, by store id; the others are sent at once.
    #[serde(default)]
    pub stores: BTreeMap<String, StoreWindow>,
}

/// The time rules of a deployment. The default (no bounds, no windows) sends at once.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Schedule {
    /// Nothing is sent before this instant.
    #[serde(default)]
    pub not_before: Option<Millis>,
    /// Targets still waiting at this instant end as `skipped`.
    #[serde(default)]
    pub not_after: Option<Millis>,
    /// Send a target only inside its store's maintenance window.
    #[serde(default)]
    pub in_windows: Option<InWindows>,
}

impl Schedule {
    pub(crate) fn check(&self) -> Result<(), EngineError> {
        if let (Some(from), Some(to)) = (self.not_before, self.not_after)
            && to <= from
        {
            return Err(EngineError::BadPolicy(
                "not-after must be later than not-before",
            ));
        }
        if let Some(w) = &self.in_windows
            && w.stores
                .values()
                .any(|s| StoreZone::parse(&s.timezone).is_err())
        {
            return Err(EngineError::BadPolicy("a store's time zone is unknown"));
        }
        Ok(())
    }
}

/// The reason a target skipped at not-after carries.
pub(crate) fn skipped_reason(not_after: Millis) -> String {
    let when = not_after
        .to_datetime()
        .map_or_else(|| not_after.0.to_string(), |t| t.to_rfc3339());
    format!("not sent before the deployment's not-after ({when})")
}

/// A deployment's windows, parsed once (zones looked up) for the engine to ask.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gates {
    stores: HashMap<Id, (StoreZone, Windows)>,
}

impl Gates {
    pub(crate) fn new(schedule: Option<&Schedule>) -> Self {
        let mut stores = HashMap::new();
        if let Some(w) = schedule.and_then(|s| s.in_windows.as_ref()) {
            for (store, sw) in &w.stores {
                if let (Ok(id), Ok(zone)) =
                    (Id::new(store.as_str()), StoreZone::parse(&sw.timezone))
                {
                    stores.insert(id, (zone, sw.windows.clone()));
                }
            }
        }
        Self { stores }
    }

    /// `None`: the store may be sent to now (no window, or its window is open);
    /// `Some(opens)`: it waits, until `opens` if its window ever opens.
    pub(crate) fn wait(&self, store_id: &Id, now: Millis) -> Option<Option<Millis>> {
        let (zone, windows) = self.stores.get(store_id)?;
        match window_state(zone, windows, now) {
            WindowState::Open { .. } => None,
            WindowState::Closed { opens_at } => Some(opens_at),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }
}
