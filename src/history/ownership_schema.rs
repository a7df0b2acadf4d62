//! Migration 5: who may drive a deployment, requests for the process that drives it, and
//! bounded message bodies.
//!
//! - `broker` and `topic_prefix` name the broker a deployment was made for (DESIGN.md
//!   section 3): only a process connected to it sends its commands. Rows from before keep
//!   NULL, read as "unknown": nobody drives them until an explicit resume, retry or cancel
//!   binds them to the broker of the process that asks. `profile` is the desktop's profile.
//! - `requests`: a pause, resume, cancel or retry asked by a process that does not drive the
//!   deployment; the driver takes it within a second and marks it taken.
//! - `body_size` and `body_md5`: set when `body` holds only an excerpt of an oversized message.

pub(super) const SQL: &str = r#"
    ALTER TABLE deployments ADD COLUMN broker TEXT;
    ALTER TABLE deployments ADD COLUMN topic_prefix TEXT;
    ALTER TABLE deployments ADD COLUMN profile TEXT;
    CREATE INDEX deployments_unfinished ON deployments(broker) WHERE finished_at IS NULL;

    CREATE TABLE requests (
        id            INTEGER PRIMARY KEY,
        deployment_id TEXT NOT NULL,
        -- 'pause', 'resume', 'cancel', 'retry'
        kind          TEXT NOT NULL,
        at            INTEGER NOT NULL,
        taken_at      INTEGER
    );
    CREATE INDEX requests_open ON requests(id) WHERE taken_at IS NULL;

    ALTER TABLE messages ADD COLUMN body_size INTEGER;
    ALTER TABLE messages ADD COLUMN body_md5 TEXT;
"#;
