//! The simulated fleet's inventory: ids and the names a real retail chain would use.

use crate::protocol::Id;

use super::rng::SimRng;

/// One simulated controller as the inventory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerInfo {
    pub store_id: Id,
    pub controller_id: Id,
    /// e.g. "Northgate Market #0012"
    pub store_name: String,
    /// e.g. "Checkout lane 3"
    pub controller_name: String,
}

/// How the simulated ids look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdStyle {
    /// Random (seeded) UUID v4s, as the spec's examples and real fleets use.
    #[default]
    Uuid,
    /// `store-0001` and `ctrl-0001-03`: easy to type in a demonstration.
    Readable,
}

/// The shape of a simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetShape {
    pub stores: usize,
    pub controllers_per_store: usize,
    pub id_style: IdStyle,
    /// Same seed, same ids and names.
    pub seed: u64,
}

const AREAS: &[&str] = &[
    "Northgate",
    "Riverside",
    "Oak Park",
    "Harbor Point",
    "Maple Grove",
    "Westfield",
    "Cedar Hills",
    "Lakeview",
    "Brookside",
    "Elm Street",
    "Fairview",
    "Hillcrest",
    "Kingsway",
    "Mill Creek",
    "Old Town",
    "Pinecrest",
    "Redwood",
    "Southpoint",
    "Stonebridge",
    "Sunnyvale",
    "Union Square",
    "Valley View",
    "Willow Bend",
    "Ashford",
    "Bayside",
    "Clearwater",
    "Eastgate",
    "Glenwood",
    "Highland Park",
    "Irongate",
    "Juniper Ridge",
    "Meadowbrook",
];

const FORMATS: &[&str] = &[
    "Market",
    "Market",
    "Market",
    "Express",
    "Superstore",
    "Fresh",
];

/// Devices in a store, in the order a store gets them; repeats make checkouts common.
const ROLES: &[&str] = &[
    "Checkout lane",
    "Checkout lane",
    "Self-checkout kiosk",
    "Checkout lane",
    "Deli scale",
    "Shelf label gateway",
    "Checkout lane",
    "Refrigeration controller",
    "Self-checkout kiosk",
    "Bakery oven controller",
    "Price checker",
    "Checkout lane",
    "Fuel pump controller",
    "Door traffic counter",
];

/// Generates the inventory: store by store, controller by controller.
pub fn generate_fleet(shape: &FleetShape) -> Vec<ControllerInfo> {
    let mut rng = SimRng::derive(shape.seed, 0x1d5);
    let mut out = Vec::with_capacity(shape.stores * shape.controllers_per_store);
    // Store numbers climb with gaps, as a chain's do after openings and closures.
    let mut store_number = 1 + rng.below(40);
    let area_offset = rng.below(AREAS.len());
    for s in 0..shape.stores {
        store_number += 1 + rng.below(4);
        let area = AREAS[(area_offset + s) % AREAS.len()];
        let format = rng.pick(FORMATS);
        let store_name = format!("{area} {format} #{store_number:04}");
        let store_id = match shape.id_style {
            IdStyle::Uuid => rng.uuid(),
            IdStyle::Readable => format!("store-{:04}", s + 1),
        };
        let store_id = Id::new(store_id).expect("generated store ids are valid");
        let mut role_counts = vec![0usize; ROLES.len()];
        for c in 0..shape.controllers_per_store {
            let role = c % ROLES.len();
            role_counts[role] += 1;
            let controller_name = match ROLES[role] {
                // One of these per store reads better without a number.
                "Fuel pump controller" | "Door traffic counter" if role_counts[role] == 1 => {
                    ROLES[role].to_owned()
                }
                name => format!("{name} {}", same_role_number(&role_counts, role)),
            };
            let controller_id = match shape.id_style {
                IdStyle::Uuid => rng.uuid(),
                IdStyle::Readable => format!("ctrl-{:04}-{:02}", s + 1, c + 1),
            };
            out.push(ControllerInfo {
                store_id: store_id.clone(),
                controller_id: Id::new(controller_id).expect("generated controller ids are valid"),
                store_name: store_name.clone(),
                controller_name,
            });
        }
    }
    out
}

/// "Checkout lane" appears several times in [`ROLES`]: number all of them together.
fn same_role_number(role_counts: &[usize], role: usize) -> usize {
    ROLES
        .iter()
        .zip(role_counts)
        .filter(|(name, _)| **name == ROLES[role])
        .map(|(_, n)| n)
        .sum()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn shape(stores: usize, per: usize, id_style: IdStyle, seed: u64) -> FleetShape {
        FleetShape {
            stores,
            controllers_per_store: per,
            id_style,
            seed,
        }
    }

    #[test]
    fn readable_fleet_looks_like_a_retailer() {
        let fleet = generate_fleet(&shape(2, 6, IdStyle::Readable, 1));
        assert_eq!(fleet.len(), 12);
        assert_eq!(fleet[0].store_id.as_str(), "store-0001");
        assert_eq!(fleet[2].controller_id.as_str(), "ctrl-0001-03");
        let names: Vec<&str> = fleet[..6]
            .iter()
            .map(|c| c.controller_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Checkout lane 1",
                "Checkout lane 2",
                "Self-checkout kiosk 1",
                "Checkout lane 3",
                "Deli scale 1",
                "Shelf label gateway 1"
            ]
        );
        assert!(
            fleet[0].store_name.contains(" #"),
            "{}",
            fleet[0].store_name
        );
        assert_ne!(fleet[0].store_name, fleet[6].store_name);
    }

    #[test]
    fn ids_are_unique_and_seeded() {
        let a = generate_fleet(&shape(100, 30, IdStyle::Uuid, 5));
        let ids: HashSet<_> = a.iter().map(|c| c.controller_id.clone()).collect();
        assert_eq!(ids.len(), 3000);
        let names: HashSet<_> = a
            .iter()
            .map(|c| (&c.store_name, &c.controller_name))
            .collect();
        assert_eq!(names.len(), 3000, "names are unique within a store");
        assert_eq!(a, generate_fleet(&shape(100, 30, IdStyle::Uuid, 5)));
        assert_ne!(a, generate_fleet(&shape(100, 30, IdStyle::Uuid, 6)));
    }
}
