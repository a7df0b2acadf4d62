//! Which stores of a deployment are waiting for their maintenance window, and when each
//! opens: what the deployment view shows. Pure: `now` is passed in.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{Millis, RolloutPolicy, TargetRow, TargetStatus};
use crate::maintenance::{StoreZone, WindowState, when_text, window_state};

/// A store whose queued targets wait for its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StoreWait {
    pub store_id: String,
    /// Its targets still queued.
    pub waiting: u64,
    pub timezone: String,
    pub windows: String,
    /// When its window next opens; `None`: never (no window day matches).
    pub opens_at: Option<Millis>,
    /// `tonight 22:00 (in 7 h)`, in the store's clock.
    pub opens: String,
}

/// The stores with queued targets whose window is closed at `now`, by store id.
pub fn store_waits(policy: &RolloutPolicy, targets: &[TargetRow], now: Millis) -> Vec<StoreWait> {
    let Some(windowed) = policy
        .schedule
        .as_deref()
        .and_then(|s| s.in_windows.as_ref())
    else {
        return Vec::new();
    };
    let mut queued: BTreeMap<&str, u64> = BTreeMap::new();
    for t in targets.iter().filter(|t| t.status == TargetStatus::Queued) {
        *queued.entry(t.store_id.as_str()).or_default() += 1;
    }
    queued
        .into_iter()
        .filter_map(|(store, waiting)| {
            let w = windowed.stores.get(store)?;
            let zone = StoreZone::parse(&w.timezone).ok()?;
            let WindowState::Closed { opens_at } = window_state(&zone, &w.windows, now) else {
                return None;
            };
            Some(StoreWait {
                store_id: store.to_owned(),
                waiting,
                timezone: w.timezone.clone(),
                windows: w.windows.to_string(),
                opens_at,
                opens: opens_at.map_or_else(|| "never".to_owned(), |at| when_text(&zone, at, now)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{InWindows, Schedule, StoreWindow};
    use crate::protocol::Id;

    fn row(store: &str, status: TargetStatus) -> TargetRow {
        TargetRow {
            store_id: Id::new(store).unwrap(),
            controller_id: Id::new("c").unwrap(),
            status,
            attempt: 1,
            errors: Vec::new(),
            updated_at: Millis(0),
            wave: 0,
        }
    }

    #[test]
    fn only_closed_stores_with_queued_targets_wait() {
        let mut stores = BTreeMap::new();
        for (id, windows) in [("n", "Daily 22:00-05:00"), ("o", "Daily 12:00-16:00")] {
            stores.insert(
                id.to_owned(),
                StoreWindow {
                    timezone: "Europe/Berlin".into(),
                    windows: windows.parse().unwrap(),
                },
            );
        }
        let policy = RolloutPolicy {
            schedule: Some(Box::new(Schedule {
                in_windows: Some(InWindows {
                    stores,
                    ..InWindows::default()
                }),
                ..Schedule::default()
            })),
            ..RolloutPolicy::default()
        };
        let targets = [
            row("n", TargetStatus::Queued),
            row("n", TargetStatus::Queued),
            row("o", TargetStatus::Queued),
            row("x", TargetStatus::Queued),
        ];
        // 15:00 in Berlin: "o" is open, "x" has no window.
        let waits = store_waits(&policy, &targets, Millis(1_705_500_000_000));
        assert_eq!(waits.len(), 1);
        assert_eq!((waits[0].store_id.as_str(), waits[0].waiting), ("n", 2));
        assert_eq!(waits[0].opens, "tonight 22:00 (in 7 h)");
        assert!(store_waits(&RolloutPolicy::default(), &targets, Millis(0)).is_empty());
    }
}
