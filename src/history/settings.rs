//! Small per-installation values kept in the history (never secrets: those live in the
//! OS keychain).

use rusqlite::{OptionalExtension, params};

use super::{History, HistoryError};

const INSTALLATION_ID: &str = "installation_id";

impl History {
    /// This installation's stable id, made on first use: the MQTT client id of the
    /// persistent session is derived from it.
    pub fn installation_id(&self) -> Result<String, HistoryError> {
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        // INSERT OR IGNORE then SELECT: two processes starting at once agree on one id.
        self.conn().execute(
            "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
            params![INSTALLATION_ID, fresh],
        )?;
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![INSTALLATION_ID],
                |r| r.get(0),
            )
            .optional()?;
        id.ok_or_else(|| HistoryError::Corrupt("installation id vanished".into()))
    }
}
