//! Schema migrations, applied in order, all pending ones in a single transaction.
//!
//! `PRAGMA user_version` holds the number of the last applied migration. To change the
//! schema, append a [`Migration`] to [`MIGRATIONS`] with the next number; never edit one
//! that has shipped.

use rusqlite::{Connection, TransactionBehavior};

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1, 2, 3…: the `user_version` once this step is applied.
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "firmware artifacts and downloads",
        sql: r#"
        CREATE TABLE artifacts (
            id            INTEGER PRIMARY KEY,
            name          TEXT NOT NULL,
            version       TEXT NOT NULL,
            path          TEXT NOT NULL,
            size          INTEGER NOT NULL,
            md5           TEXT NOT NULL,
            -- modification time (ns since the epoch) seen when the file was hashed
            file_mtime_ns INTEGER,
            -- the secret path segment under which the built-in server offers the file
            token         TEXT NOT NULL UNIQUE,
            added_at      TEXT NOT NULL,
            hashed_at     TEXT NOT NULL,
            -- set when the watcher saw the file change; cleared by a rehash
            stale_since   TEXT,
            -- removal keeps the row: downloads and deployments still refer to it
            removed_at    TEXT
        );
        CREATE UNIQUE INDEX artifacts_live_path ON artifacts(path) WHERE removed_at IS NULL;

        CREATE TABLE downloads (
            id          INTEGER PRIMARY KEY,
            artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
            client_addr TEXT NOT NULL,
            started_at  TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            bytes_sent  INTEGER NOT NULL,
            status      INTEGER NOT NULL,
            range       TEXT,
            completed   INTEGER NOT NULL
        );
        CREATE INDEX downloads_by_artifact ON downloads(artifact_id, started_at);
    "#,
    },
    Migration {
        version: 2,
        name: "deployments, targets, transitions, messages, outbox",
        sql: super::deployments_schema::SQL,
    },
    Migration {
        version: 3,
        name: "rollout policies: per-deployment policy and control, rollout events",
        sql: super::rollout_schema::SQL,
    },
    Migration {
        version: 4,
        name: "inventory of controllers",
        sql: super::inventory_schema::SQL,
    },
    Migration {
        version: 5,
        name: "deployments bound to their broker, requests to their driver, body excerpts",
        sql: super::ownership_schema::SQL,
    },
    Migration {
        version: 6,
        name: "store time zones and maintenance windows",
        sql: super::windows_schema::SQL,
    },
    Migration {
        version: 7,
        name: "built for ingest: target state in columns, attempts as rows, one row per command",
        sql: super::ingest_schema::SQL,
    },
    Migration {
        version: 8,
        name: "who made each deployment and on which machine",
        sql: super::run_by_schema::SQL,
    },
    Migration {
        version: 9,
        name: "messages searchable by store and controller",
        sql: super::search_schema::SQL,
    },
    Migration {
        version: 10,
        name: "a deployment's targets kept in send order",
        sql: super::send_order_schema::SQL,
    },
    Migration {
        version: 11,
        name: "redelivered messages recognised against the recent ones",
        sql: super::recent_schema::SQL,
    },
    Migration {
        version: 12,
        name: "a store's name found without scanning the store",
        sql: super::named_store_schema::SQL,
    },
];

/// Why a migration run did not complete. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("schema {found} is newer than the {known} this build knows")]
    TooNew { found: u32, known: u32 },
    #[error("migration {version} ({name}) failed: {source}")]
    Failed {
        version: u32,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// The schema version recorded in the file.
pub fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies the migrations newer than the file's `user_version`, all in one transaction;
/// returns the versions applied (empty when the file was current).
pub fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<Vec<u32>, MigrateError> {
    let known = migrations.last().map_or(0, |m| m.version);
    // IMMEDIATE takes the write lock before reading the version, so two processes opening
    // a fresh file at once cannot both run the same migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if found > known {
        return Err(MigrateError::TooNew { found, known });
    }
    let mut applied = Vec::new();
    for m in migrations.iter().filter(|m| m.version > found) {
        tx.execute_batch(m.sql)
            .map_err(|source| MigrateError::Failed {
                version: m.version,
                name: m.name,
                source,
            })?;
        applied.push(m.version);
    }
    if let Some(&last) = applied.last() {
        // PRAGMA takes no bound parameters; `last` is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {last}"))?;
    }
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    #[test]
    fn versions_increase_from_one() {
        // Strictly increasing, not consecutive: parallel work reserves numbers ahead.
        assert_eq!(MIGRATIONS[0].version, 1);
        for pair in MIGRATIONS.windows(2) {
            assert!(
                pair[0].version < pair[1].version,
                "migration {}",
                pair[1].name
            );
        }
    }

    #[test]
    fn fresh_file_is_migrated_and_reopening_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        let applied = migrate(&mut conn, MIGRATIONS).unwrap();
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        let last = *versions.last().unwrap();
        assert_eq!(applied, versions);
        assert_eq!(user_version(&conn).unwrap(), last);
        assert!(table_exists(&conn, "artifacts"));
        assert!(table_exists(&conn, "downloads"));
        drop(conn);

        let mut again = Connection::open(&path).unwrap();
        assert!(migrate(&mut again, MIGRATIONS).unwrap().is_empty());
        assert_eq!(user_version(&again).unwrap(), last);
    }

    #[test]
    fn a_failed_migration_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("h.sqlite")).unwrap();
        migrate(&mut conn, &MIGRATIONS[..1]).unwrap();
        let broken = [
            MIGRATIONS[0],
            Migration {
                version: 2,
                name: "good step",
                sql: "CREATE TABLE added_by_two (x INTEGER);",
            },
            Migration {
                version: 3,
                name: "broken step",
                sql: "CREATE TABLE oops (;",
            },
        ];
        let err = migrate(&mut conn, &broken).unwrap_err();
        assert!(
            matches!(err, MigrateError::Failed { version: 3, .. }),
            "{err}"
        );
        assert_eq!(user_version(&conn).unwrap(), 1);
        // Step 2 ran inside the same transaction, so it was rolled back too.
        assert!(!table_exists(&conn, "added_by_two"));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("h.sqlite")).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut conn, MIGRATIONS).unwrap_err();
        assert!(
            matches!(err, MigrateError::TooNew { found: 99, .. }),
            "{err}"
        );
        assert_eq!(user_version(&conn).unwrap(), 99);
    }
}
