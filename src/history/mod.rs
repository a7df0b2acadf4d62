//! The local history: one SQLite file shared by the desktop app and the CLI.
//!
//! Several processes open the same file at once, so it runs in WAL mode with a busy timeout,
//! and the schema is migrated in one transaction guarded by `PRAGMA user_version`.

mod activity;
mod artifacts;
#[cfg(test)]
mod batch_tests;
mod checkpointer;
mod deployment_queries;
mod deployment_view;
mod deployment_writes;
mod deployments_schema;
mod downloads;
mod export;
mod ingest_schema;
#[cfg(test)]
mod ingest_tests;
mod inventory;
mod inventory_schema;
pub mod migrations;
mod named_store_schema;
mod observed;
mod ownership;
mod ownership_schema;
mod private_file;
mod prune;
#[cfg(test)]
mod prune_tests;
mod recent_inbound;
mod recent_schema;
mod rollout_schema;
#[cfg(test)]
mod rollout_tests;
mod run_by;
mod run_by_schema;
mod search;
mod search_schema;
#[cfg(test)]
mod search_tests;
mod send_order_schema;
mod settings;
mod store_windows;
mod target_rows;
mod windows_schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use artifacts::{Artifact, NewArtifact};
pub use checkpointer::Checkpointer;
pub use deployment_queries::{DeploymentRow, MessageRow, PendingCommand, TargetStatusRow};
pub use deployment_view::DeploymentDetail;
pub use deployment_writes::{
    Batch, MessageDirection, MessageKeys, MessageRecord, Oversize, TargetWrite, Written,
};
pub use downloads::{Download, DownloadRecord, DownloadWriter};
pub use export::write_targets_csv;
pub use inventory::ControllerSeen;
pub use observed::{ObservedChange, ObservedKind};
pub use ownership::{
    BrokerIdentity, DEMO_BROKER, DeferredMessage, NewRequest, OpenRequest, Ownership, RequestKind,
};
pub use prune::{PrunePlan, PruneReport, parse_cutoff};
pub use run_by::RunBy;
pub use search::{
    DeploymentFilter, DeploymentPage, DeploymentPageRequest, MAX_PAGE, MessageFilter, MessagePage,
    MessagePageRequest, Origin, SCAN_ROWS, SearchError,
};

/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The page cache of the connection that writes the service's batches, in KiB (negative:
/// SQLite's unit for a size in KiB).
const WRITER_CACHE_KIB: i64 = -16_384;

/// The history file's name inside the platform data folder.
const FILE_NAME: &str = "history.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot create the folder {path} for the history: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the history {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the history {path} has schema {found}, newer than this Storefleet knows ({known}); upgrade Storefleet"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("history migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("history query failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot start the history writer thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot encode a history record: {0}")]
    Encode(String),
    #[error("the history holds a record this Storefleet cannot read: {0}")]
    Corrupt(String),
    #[error("the archive {0} exists already: choose a new file")]
    ArchiveExists(PathBuf),
}

/// An open connection to the history file, migrated to the current schema.
pub struct History {
    conn: Connection,
    path: PathBuf,
    /// The inbound messages recorded lately, read on the first write of one
    /// (`recent_inbound.rs`).
    recent: Option<recent_inbound::RecentInbound>,
}

impl History {
    /// Opens (creating if needed) the history at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, HistoryError> {
        Self::open_with(path, migrations::MIGRATIONS)
    }

    /// Like [`History::open`] with an explicit migration list (tests exercise failures).
    pub fn open_with(
        path: &Path,
        migrations: &[migrations::Migration],
    ) -> Result<Self, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| HistoryError::Open {
            path: path.to_path_buf(),
            source,
        };
        private_file::make_private(path);
        let mut conn = Connection::open(path).map_err(open_err)?;
        // The busy timeout first: switching to WAL itself may wait for another process.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, path = %path.display(), "history is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        migrations::migrate(&mut conn, migrations).map_err(|e| match e {
            migrations::MigrateError::TooNew { found, known } => HistoryError::TooNew {
                path: path.to_path_buf(),
                found,
                known,
            },
            migrations::MigrateError::Failed {
                version,
                name,
                source,
            } => HistoryError::Migration {
                version,
                name,
                source,
            },
            migrations::MigrateError::Sql(e) => HistoryError::Sql(e),
        })?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            recent: None,
        })
    }

    /// The default history file: `history.sqlite` in the platform data folder
    /// (`~/.local/share/storefleet` on Linux), shared by the desktop app and the CLI.
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("storefleet").join(FILE_NAME))
    }

    /// The file this history lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, HistoryError> {
        Ok(migrations::user_version(&self.conn)?)
    }

    /// Commits wait until the data is on disk (`synchronous=FULL`): for the connection whose
    /// commits are acknowledged to the broker, so that nothing acknowledged is lost to a
    /// power cut. Other connections keep WAL's cheaper NORMAL.
    pub fn make_durable(&self) -> Result<(), HistoryError> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(())
    }

    /// A page cache for the connection that writes the service's batches: its working set
    /// (the index pages the hot path touches) stays in memory; with SQLite's 2 MiB default
    /// it re-read pages from the OS on every commit.
    pub fn cache_for_writing(&self) -> Result<(), HistoryError> {
        self.conn
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        Ok(())
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Now, as history timestamps are stored: RFC 3339 UTC with milliseconds (`+00:00`).
pub fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}
