//! Migration 4: the inventory of controllers. Firmware version and last result are not
//! stored here: they are read from `targets` (indexed by controller below), so replies
//! cost no extra write.

pub(super) const SQL: &str = r#"
    CREATE TABLE controllers (
        store_id        TEXT NOT NULL,
        controller_id   TEXT NOT NULL,
        store_name      TEXT,
        controller_name TEXT,
        -- 'discovered' (heard on the broker), 'imported' (CSV) or 'manual'
        source          TEXT NOT NULL,
        -- unix ms when it entered the inventory
        added_at        INTEGER NOT NULL,
        -- unix ms of the last message from it on the broker
        last_seen       INTEGER,
        PRIMARY KEY (store_id, controller_id)
    ) WITHOUT ROWID;

    CREATE INDEX targets_by_controller ON targets(store_id, controller_id);
"#;
