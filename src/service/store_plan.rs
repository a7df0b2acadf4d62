//! The review's plan: per store, when its targets will go (`Northgate: tonight 22:00 (in
//! 7 h)`), from the schedule a deployment is about to start with. Pure: `now` is passed in.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{Millis, Schedule, TargetKey};
use crate::maintenance::{
    StoreStart, StoreZone, WindowState, first_opening, when_text, window_state,
};

/// One store of a deployment and when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StorePlan {
    pub store_id: String,
    /// The inventory's name for it, if any.
    pub store_name: Option<String>,
    pub targets: u64,
    pub timezone: Option<String>,
    /// Its windows as used by this deployment; `None`: sent without a window.
    pub windows: Option<String>,
    pub start: StoreStart,
    /// The line the review shows: `Northgate: tonight 22:00 (in 7 h)`.
    pub text: String,
}

/// The plan of every store of `targets`, in first-seen order. `names`: store names.
pub fn plan_stores(
    schedule: Option<&Schedule>,
    targets: &[TargetKey],
    names: &BTreeMap<String, String>,
    now: Millis,
) -> Vec<StorePlan> {
    let mut order: Vec<&str> = Vec::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for t in targets {
        let n = counts.entry(t.store_id.as_str()).or_insert(0);
        if *n == 0 {
            order.push(t.store_id.as_str());
        }
        *n += 1;
    }
    let from = schedule
        .and_then(|s| s.not_before)
        .map_or(now, |nb| nb.max(now));
    let not_after = schedule.and_then(|s| s.not_after);
    let windowed = schedule.and_then(|s| s.in_windows.as_ref());
    order
        .into_iter()
        .map(|store| {
            let name = names.get(store).cloned();
            let label = name.clone().unwrap_or_else(|| store.to_owned());
            let window = windowed.and_then(|w| w.stores.get(store));
            let zone = window.and_then(|w| StoreZone::parse(&w.timezone).ok());
            let (start, detail) = match (window, &zone) {
                (Some(w), Some(zone)) => {
                    let opening = first_opening(zone, &w.windows, from);
                    match opening {
                        Some(at) if not_after.is_none_or(|end| at < end) => {
                            let detail = if at <= now {
                                match window_state(zone, &w.windows, now) {
                                    WindowState::Open { closes_at } => format!(
                                        "now (window open, closes {})",
                                        when_text(zone, closes_at, now)
                                    ),
                                    WindowState::Closed { .. } => "now".to_owned(),
                                }
                            } else {
                                when_text(zone, at, now)
                            };
                            let start = if at <= now {
                                StoreStart::Now
                            } else {
                                StoreStart::At { at }
                            };
                            (start, detail)
                        }
                        _ => (
                            StoreStart::Never,
                            "never: no window opens before not-after".to_owned(),
                        ),
                    }
                }
                _ => {
                    let why = if windowed.is_some() {
                        " (no window set: sent at once)"
                    } else {
                        ""
                    };
                    match from {
                        at if at > now => (
                            StoreStart::At { at },
                            format!(
                                "{}{why}",
                                at.to_datetime()
                                    .map_or_else(String::new, |t| t.to_rfc3339())
                            ),
                        ),
                        _ => (StoreStart::Now, format!("now{why}")),
                    }
                }
            };
            StorePlan {
                store_id: store.to_owned(),
                store_name: name,
                targets: counts.get(store).copied().unwrap_or(0),
                timezone: window.map(|w| w.timezone.clone()),
                windows: window.map(|w| w.windows.to_string()),
                start,
                text: format!("{label}: {detail}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{InWindows, StoreWindow, Unwindowed};
    use crate::protocol::Id;

    fn key(s: &str, c: &str) -> TargetKey {
        TargetKey::new(Id::new(s).unwrap(), Id::new(c).unwrap())
    }

    #[test]
    fn each_store_says_when_it_goes() {
        let mut stores = BTreeMap::new();
        stores.insert(
            "n".to_owned(),
            StoreWindow {
                timezone: "Europe/Berlin".into(),
                windows: "Mon-Fri 22:00-05:00".parse().unwrap(),
            },
        );
        let schedule = Schedule {
            in_windows: Some(InWindows {
                unwindowed: Unwindowed::SendAtOnce,
                stores,
            }),
            ..Schedule::default()
        };
        let mut names = BTreeMap::new();
        names.insert("n".to_owned(), "Northgate".to_owned());
        // Wednesday 2024-01-17 15:00 in Berlin.
        let now = Millis(1_705_500_000_000);
        let targets = [key("n", "c1"), key("s", "c1"), key("n", "c2")];
        let plan = plan_stores(Some(&schedule), &targets, &names, now);
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].text, "Northgate: tonight 22:00 (in 7 h)");
        assert_eq!(plan[0].targets, 2);
        assert_eq!(
            plan[0].start,
            StoreStart::At {
                at: Millis(1_705_525_200_000)
            }
        );
        assert_eq!(plan[1].text, "s: now (no window set: sent at once)");
        // Not-after before the opening: never.
        let mut bounded = schedule.clone();
        bounded.not_after = Some(Millis(now.0 + 3_600_000));
        let plan = plan_stores(Some(&bounded), &targets, &names, now);
        assert_eq!(plan[0].start, StoreStart::Never);
        // No schedule: everything now.
        let plan = plan_stores(None, &targets, &names, now);
        assert_eq!(plan[0].text, "Northgate: now");
    }
}
