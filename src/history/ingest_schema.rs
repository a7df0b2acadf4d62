//! Migration 7: a schema built for ingest (issue 13). A reply used to rewrite its target's
//! whole JSON record, insert a message deduplicated by a 32-character MD5 under a unique
//! index, and every command was stored twice (outbox and message log). Now:
//!
//! - A target's current attempt lives in columns (its update and cancel command each as
//!   correlation id, sent, acked, withdrawn); a reply updates a few integers. Attempts a retry
//!   closed are rows of `attempts`. The engine restores from these two, not from JSON.
//! - `messages` is the outbox too: a command is one row, `direction = 'out'`, pending while
//!   `sent_at` is NULL and it is not withdrawn; its outcome turns `published` (or
//!   `withdrawn`) in the same row. Its correlation id is unique among commands.
//! - Inbound messages are deduplicated by an 8-byte key (the first half of the MD5 of
//!   direction, topic and body, as before) under a partial unique index: same messages
//!   recognised as before, across restarts and processes, at a quarter of the index size.
//!   Commands need no such key: their correlation id is unique.
//!
//! Existing rows are carried over: records become columns and attempt rows, outbox rows
//! are merged into their message rows (an outbox row without one becomes one), and the old
//! hex keys are cut to 8 bytes.

pub(super) const SQL: &str = r#"
    ALTER TABLE targets ADD COLUMN update_cid TEXT;
    ALTER TABLE targets ADD COLUMN update_sent_at INTEGER;
    ALTER TABLE targets ADD COLUMN update_acked_at INTEGER;
    ALTER TABLE targets ADD COLUMN update_withdrawn INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE targets ADD COLUMN cancel_cid TEXT;
    ALTER TABLE targets ADD COLUMN cancel_sent_at INTEGER;
    ALTER TABLE targets ADD COLUMN cancel_acked_at INTEGER;
    ALTER TABLE targets ADD COLUMN cancel_withdrawn INTEGER NOT NULL DEFAULT 0;

    UPDATE targets SET
        update_cid       = json_extract(record, '$.current.update.correlation_id'),
        update_sent_at   = json_extract(record, '$.current.update.sent_at'),
        update_acked_at  = json_extract(record, '$.current.update.acked_at'),
        update_withdrawn = COALESCE(json_extract(record, '$.current.update.withdrawn'), 0),
        cancel_cid       = json_extract(record, '$.current.cancel.correlation_id'),
        cancel_sent_at   = json_extract(record, '$.current.cancel.sent_at'),
        cancel_acked_at  = json_extract(record, '$.current.cancel.acked_at'),
        cancel_withdrawn = COALESCE(json_extract(record, '$.current.cancel.withdrawn'), 0)
    WHERE json_valid(record) AND json_type(record, '$.current') = 'object';

    -- Attempts before a target's current one (closed by a retry), oldest first by number.
    CREATE TABLE attempts (
        deployment_id    TEXT NOT NULL,
        store_id         TEXT NOT NULL,
        controller_id    TEXT NOT NULL,
        number           INTEGER NOT NULL,
        status           TEXT NOT NULL,
        updated_at       INTEGER NOT NULL,
        errors           TEXT NOT NULL DEFAULT '[]',
        update_cid       TEXT,
        update_sent_at   INTEGER,
        update_acked_at  INTEGER,
        update_withdrawn INTEGER NOT NULL DEFAULT 0,
        cancel_cid       TEXT,
        cancel_sent_at   INTEGER,
        cancel_acked_at  INTEGER,
        cancel_withdrawn INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (deployment_id, store_id, controller_id, number)
    ) WITHOUT ROWID;

    INSERT INTO attempts
    SELECT t.deployment_id, t.store_id, t.controller_id,
        json_extract(a.value, '$.number'),
        json_extract(a.value, '$.status'),
        json_extract(a.value, '$.updated_at'),
        COALESCE(json_extract(a.value, '$.errors'), '[]'),
        json_extract(a.value, '$.update.correlation_id'),
        json_extract(a.value, '$.update.sent_at'),
        json_extract(a.value, '$.update.acked_at'),
        COALESCE(json_extract(a.value, '$.update.withdrawn'), 0),
        json_extract(a.value, '$.cancel.correlation_id'),
        json_extract(a.value, '$.cancel.sent_at'),
        json_extract(a.value, '$.cancel.acked_at'),
        COALESCE(json_extract(a.value, '$.cancel.withdrawn'), 0)
    FROM targets t, json_each(t.record, '$.earlier') a
    WHERE json_valid(t.record);

    ALTER TABLE targets DROP COLUMN record;

    CREATE TABLE messages_v6 (
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
        body_size      INTEGER,
        body_md5       TEXT,
        -- inbound only: 8 bytes identifying the message (see the header)
        dedupe         BLOB,
        -- commands only: the outbox
        sent_at        INTEGER,
        withdrawn      INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO messages_v6 (id, direction, topic, body, at, event_type, deployment_id,
        store_id, controller_id, correlation_id, outcome, reason, body_size, body_md5, dedupe,
        sent_at, withdrawn)
    SELECT m.id, m.direction, m.topic, m.body, m.at, m.event_type, m.deployment_id,
        m.store_id, m.controller_id, m.correlation_id,
        CASE
            WHEN m.direction <> 'out' OR o.correlation_id IS NULL THEN m.outcome
            WHEN o.withdrawn <> 0 THEN 'withdrawn'
            WHEN o.sent_at IS NOT NULL THEN 'published'
            ELSE m.outcome
        END,
        m.reason, m.body_size, m.body_md5,
        CASE WHEN m.direction = 'out' THEN NULL ELSE unhex(substr(m.dedupe, 1, 16)) END,
        o.sent_at, COALESCE(o.withdrawn, 0)
    FROM messages m
    LEFT JOIN outbox o ON m.direction = 'out' AND o.correlation_id = m.correlation_id
    -- one row per command, should a command have been logged twice
    WHERE m.direction <> 'out' OR m.correlation_id IS NULL
       OR m.id = (SELECT MIN(m2.id) FROM messages m2
                  WHERE m2.direction = 'out' AND m2.correlation_id = m.correlation_id);
    INSERT INTO messages_v6 (direction, topic, body, at, deployment_id, correlation_id,
        outcome, sent_at, withdrawn)
    SELECT 'out', o.topic, o.body, o.created_at, o.deployment_id, o.correlation_id,
        CASE WHEN o.withdrawn <> 0 THEN 'withdrawn'
             WHEN o.sent_at IS NOT NULL THEN 'published' ELSE 'outbox' END,
        o.sent_at, o.withdrawn
    FROM outbox o
    WHERE NOT EXISTS (SELECT 1 FROM messages m
                      WHERE m.direction = 'out' AND m.correlation_id = o.correlation_id);
    DROP TABLE messages;
    DROP TABLE outbox;
    ALTER TABLE messages_v6 RENAME TO messages;
    CREATE INDEX messages_by_deployment ON messages(deployment_id, id);
    CREATE UNIQUE INDEX messages_once ON messages(dedupe) WHERE dedupe IS NOT NULL;
    CREATE UNIQUE INDEX commands_by_correlation ON messages(correlation_id)
        WHERE direction = 'out';
    CREATE INDEX commands_pending ON messages(deployment_id, id)
        WHERE direction = 'out' AND sent_at IS NULL AND withdrawn = 0;
"#;
