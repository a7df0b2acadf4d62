//! Migration 12: a store's name found without scanning the store.
//!
//! A controller heard on the broker enters the inventory without a store name; the Fleet list
//! shows it under the name another controller of its store was imported with. That lookup
//! walked the store's controllers in key order until one had a name, so a store of k
//! unnamed controllers cost k² row visits. The few named controllers get an index of their
//! own, which the lookup names (`INDEXED BY`: the planner would otherwise prefer the primary
//! key for its order). The Fleet list of 10,000 controllers heard in stores of 1,000:
//! 598–795 ms before, 23–27 ms after (`benches/inventory_ingest.rs`).

pub(super) const SQL: &str = r#"
    CREATE INDEX controllers_named ON controllers(store_id, controller_id)
        WHERE store_name IS NOT NULL;
"#;

#[cfg(test)]
mod tests {
    use super::super::History;
    use super::super::migrations::MIGRATIONS;

    fn insert(history: &History, store: &str, controller: &str, name: Option<&str>) {
        history
            .conn()
            .execute(
                "INSERT INTO controllers (store_id, controller_id, store_name, source, added_at)
                 VALUES (?1, ?2, ?3, 'discovered', 0)",
                rusqlite::params![store, controller, name],
            )
            .unwrap();
    }

    /// A file made under schema 11 gains the index, the Fleet list uses it, and an unnamed
    /// controller still shows the first name its store has.
    #[test]
    fn unnamed_controllers_take_their_stores_name_through_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        {
            let history = History::open_with(&path, &MIGRATIONS[..11]).unwrap();
            insert(&history, "s1", "c0", None);
            insert(&history, "s1", "c5", Some("Oslo"));
            insert(&history, "s1", "c7", Some("Oslo west"));
            insert(&history, "s2", "c0", None);
        }
        let history = History::open(&path).unwrap();
        assert!(history.schema_version().unwrap() >= 12);
        let names: Vec<(String, Option<String>)> = history
            .controllers()
            .unwrap()
            .into_iter()
            .map(|c| (format!("{}/{}", c.store_id, c.controller_id), c.store_name))
            .collect();
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            names,
            [
                ("s1/c0".to_owned(), some("Oslo")),
                ("s1/c5".to_owned(), some("Oslo")),
                ("s1/c7".to_owned(), some("Oslo west")),
                ("s2/c0".to_owned(), None),
            ]
        );
        let plan: Vec<String> = history
            .conn()
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::super::inventory::SELECT_CONTROLLERS
            ))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|step| step.contains("controllers_named")),
            "{plan:?}"
        );
    }
}
