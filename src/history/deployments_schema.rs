//! Migration 2: deployments, their targets, every transition, every message in and out,
//! and the outbox. Times here are unix milliseconds (INTEGER): these tables take thousands
//! of rows a second and are sorted and compared, never shown raw.

pub(super) const SQL: &str = r#"
    CREATE TABLE deployments (
        id                    TEXT PRIMARY KEY,
        firmware_version      TEXT NOT NULL,
        file_url              TEXT NOT NULL,
        file_size             INTEGER NOT NULL,
        checksum              TEXT NOT NULL,
        ack_timeout_ms        INTEGER NOT NULL,
        completion_timeout_ms INTEGER NOT NULL,
        created_at            INTEGER NOT NULL,
        target_count          INTEGER NOT NULL,
        -- 'local': made here; 'observed': another operator's commands seen on the broker
        origin                TEXT NOT NULL DEFAULT 'local',
        -- set once every target is terminal; cleared by a retry
        finished_at           INTEGER
    );
    CREATE INDEX deployments_by_time ON deployments(created_at);

    -- One row per target: its current attempt in columns for queries, and its whole record
    -- (every attempt, every command and its fate) as JSON, from which the engine restores.
    CREATE TABLE targets (
        deployment_id TEXT NOT NULL REFERENCES deployments(id),
        position      INTEGER NOT NULL,
        store_id      TEXT NOT NULL,
        controller_id TEXT NOT NULL,
        status        TEXT NOT NULL,
        attempt       INTEGER NOT NULL,
        errors        TEXT NOT NULL DEFAULT '[]',
        updated_at    INTEGER NOT NULL,
        record        TEXT NOT NULL,
        PRIMARY KEY (deployment_id, store_id, controller_id)
    ) WITHOUT ROWID;
    CREATE INDEX targets_in_order ON targets(deployment_id, position);

    CREATE TABLE transitions (
        id            INTEGER PRIMARY KEY,
        deployment_id TEXT NOT NULL,
        store_id      TEXT NOT NULL,
        controller_id TEXT NOT NULL,
        attempt       INTEGER NOT NULL,
        from_status   TEXT NOT NULL,
        to_status     TEXT NOT NULL,
        at            INTEGER NOT NULL,
        errors        TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX transitions_by_deployment ON transitions(deployment_id, id);

    -- Every message in and out, raw, with what became of it. `dedupe` makes a redelivered
    -- message, or one heard by two Storefleet processes, a single row.
    CREATE TABLE messages (
        id             INTEGER PRIMARY KEY,
        direction      TEXT NOT NULL,
        topic          TEXT NOT NULL,
        body           BLOB NOT NULL,
        at             INTEGER NOT NULL,
        event_type     TEXT,
        deployment_id  TEXT,
        store_id       TEXT,
        controller_id  TEXT,
        correlation_id TEXT,
        outcome        TEXT NOT NULL,
        reason         TEXT,
        dedupe         TEXT NOT NULL UNIQUE
    );
    CREATE INDEX messages_by_deployment ON messages(deployment_id, id);

    -- Commands are written here before they are published, and marked when the broker
    -- confirms them: a crash or a missing broker loses nothing.
    CREATE TABLE outbox (
        id             INTEGER PRIMARY KEY,
        correlation_id TEXT NOT NULL UNIQUE,
        deployment_id  TEXT NOT NULL,
        topic          TEXT NOT NULL,
        body           BLOB NOT NULL,
        created_at     INTEGER NOT NULL,
        sent_at        INTEGER,
        withdrawn      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_pending ON outbox(deployment_id, id) WHERE sent_at IS NULL AND withdrawn = 0;

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
"#;
