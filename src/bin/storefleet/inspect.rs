//! Commands that only read the history: `status`, `deployments`, `export`. No broker needed.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use storefleet::history::History;
use storefleet::report::{ExportError, write_export};

use crate::failure::Failure;
use crate::report::{StatusDoc, counts_json, load_row, timestamp, write_status_line};

/// How `export` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// A row per target: store_id, controller_id, status, attempt, updated_at, errors.
    Csv,
    /// The raw message log, one JSON object per message, in and out.
    Jsonl,
    /// A one-file HTML report for stakeholders: summary, timeline chart, waves, failures,
    /// firmware identity, who ran it and from which machine.
    Html,
}

impl From<ExportFormat> for storefleet::report::ExportFormat {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => Self::Csv,
            ExportFormat::Jsonl => Self::Jsonl,
            ExportFormat::Html => Self::Html,
        }
    }
}

pub fn status(db: &Path, id: &str) -> Result<u8, Failure> {
    let history = History::open(db)?;
    let row = load_row(&history, id)?;
    let targets = history.target_statuses(id)?;
    write_status_line(&StatusDoc::new(&row, &targets));
    Ok(0)
}

pub fn deployments(db: &Path, json_out: bool) -> Result<u8, Failure> {
    let history = History::open(db)?;
    let rows = history.deployments()?;
    let mut out = std::io::stdout().lock();
    if json_out {
        for r in &rows {
            let line = json!({
                "deployment_id": r.deployment_id,
                "firmware_version": r.firmware_version,
                "created_at": timestamp(r.created_at),
                "targets": r.target_count,
                "finished": r.finished_at.is_some(),
                "state": r.state,
                "origin": r.origin,
                "broker": r.broker,
                "counts": counts_json(&r.counts),
            });
            writeln!(out, "{line}")?;
        }
    } else if rows.is_empty() {
        writeln!(
            out,
            "No deployments yet. Start one with `storefleet deploy`."
        )?;
    } else {
        writeln!(
            out,
            "{:<36}  {:<12}  {:<24}  {:>7}  {:>9}  {:>6}  {:<9}  broker",
            "deployment", "firmware", "created", "targets", "completed", "failed", "state"
        )?;
        for r in &rows {
            let state = r.state.as_str();
            writeln!(
                out,
                "{:<36}  {:<12}  {:<24}  {:>7}  {:>9}  {:>6}  {state:<9}  {}",
                crate::terminal::shown(&r.deployment_id),
                crate::terminal::shown(&r.firmware_version),
                timestamp(r.created_at),
                r.target_count,
                r.counts.completed,
                r.counts.failed + r.counts.timed_out,
                r.broker
                    .as_deref()
                    .unwrap_or(if r.origin == "local" { "unknown" } else { "-" }),
            )?;
        }
    }
    Ok(0)
}

/// `export`: the core's one export, to stdout.
pub fn export(db: &Path, id: &str, format: ExportFormat) -> Result<u8, Failure> {
    let history = History::open(db)?;
    let now = storefleet::service::now_millis();
    write_export(&history, id, format.into(), now, std::io::stdout().lock()).map_err(
        |e| match e {
            ExportError::UnknownDeployment(_) => Failure::refused(e.to_string()),
            ExportError::History(e) => Failure::from(e),
            // The io::Error itself, so that a closed pipe ends the command quietly.
            ExportError::Io(e) => Failure::from(e),
        },
    )?;
    Ok(0)
}
