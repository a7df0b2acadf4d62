//! Migration 6: each store's IANA time zone and maintenance windows (as their canonical
//! text, e.g. `Mon-Fri 22:00-05:00, Sat-Sun 23:00-06:00`). A store without a row has
//! neither. Stores are not a table of their own elsewhere: controllers carry store ids.

pub(super) const SQL: &str = r#"
    CREATE TABLE store_windows (
        store_id   TEXT PRIMARY KEY,
        timezone   TEXT,
        windows    TEXT,
        -- unix ms of the last change
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
"#;
