//! Exporting one deployment, in each format the CLI (`storefleet export`) and the window's
//! deployment view offer: the same bytes from both.

use std::io::Write;

use serde::Deserialize;
use serde_json::json;

use crate::engine::Millis;
use crate::history::{History, HistoryError, write_targets_csv};

/// Every message of a deployment, however many.
const ALL_MESSAGES: usize = usize::MAX >> 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// A row per target: store_id, controller_id, status, attempt, updated_at, errors.
    Csv,
    /// The raw message log, one JSON object per message, in and out.
    Jsonl,
    /// The one-file report for stakeholders ([`super::render_html`]).
    Html,
}

impl ExportFormat {
    /// The file name extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
            Self::Html => "html",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no deployment {0} in the history")]
    UnknownDeployment(String),
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Writing failed (a closed pipe, a full disk): the io::Error itself, so that a CLI can
    /// end quietly on a closed pipe.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes deployment `id` to `out` in `format`; `now` dates the HTML report.
pub fn write_export<W: Write>(
    history: &History,
    id: &str,
    format: ExportFormat,
    now: Millis,
    out: W,
) -> Result<(), ExportError> {
    if history.deployment(id)?.is_none() {
        return Err(ExportError::UnknownDeployment(id.to_owned()));
    }
    let mut out = std::io::BufWriter::new(out);
    match format {
        ExportFormat::Csv => {
            let targets = history.target_statuses(id)?;
            write_targets_csv(&mut out, &targets).map_err(|e| match e.into_kind() {
                csv::ErrorKind::Io(e) => ExportError::Io(e),
                other => ExportError::Io(std::io::Error::other(format!("{other:?}"))),
            })?;
        }
        ExportFormat::Jsonl => {
            for m in history.messages(Some(id), ALL_MESSAGES)? {
                let line = json!({
                    "direction": m.direction,
                    "at": timestamp(m.at),
                    "topic": m.topic,
                    "event_type": m.event_type,
                    "store_id": m.store_id,
                    "controller_id": m.controller_id,
                    "outcome": m.outcome,
                    "reason": m.reason,
                    "body": m.body,
                });
                writeln!(out, "{line}")?;
            }
        }
        ExportFormat::Html => {
            let input = super::load(history, id, now)?
                .ok_or_else(|| ExportError::UnknownDeployment(id.to_owned()))?;
            out.write_all(super::render_html(&input).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(())
}

/// RFC 3339 with milliseconds, in UTC, as `status --json` writes times.
fn timestamp(ms: Millis) -> String {
    ms.to_datetime()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
        .unwrap_or_default()
}
