//! Migration 9: messages by store, for search (`search.rs`), kept off the ingest path.
//!
//! An index on `messages(store_id, controller_id, id)` cost 18% of the insert rate at a
//! million rows (`benches/search.rs`): each insert lands on a different leaf of it. This
//! table holds the same keys but is filled by the searches themselves, from the newest id it
//! holds (`settings.search_stores_upto`) up, in chunks, sorted; ingest never touches it. A
//! row here whose message is gone (or whose id was reused) is harmless: a search joins the
//! message and checks its store again. It assumes ids only grow (messages are deleted
//! oldest first); when the newest were deleted it starts over.

pub(super) const SQL: &str = r#"
    CREATE TABLE message_stores (
        store_id      TEXT NOT NULL,
        id            INTEGER NOT NULL,
        controller_id TEXT,
        PRIMARY KEY (store_id, id)
    ) WITHOUT ROWID;
"#;
