//! Migration 9: the one index message search adds (`search.rs`), for "what did this store,
//! this controller, say". Searches by deployment use `messages_by_deployment`, which ingest
//! keeps anyway; the others scan a bounded range of ids. This index is paid on every insert
//! (`benches/search.rs` measures how much), and is the only one: an index on `at`, the event
//! type or the outcome would cost the same and save a bounded scan only.

pub(super) const SQL: &str = r#"
    CREATE INDEX messages_by_store ON messages(store_id, controller_id, id);
"#;
