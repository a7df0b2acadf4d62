//! Commands that only read the history: `status`, `deployments`, `export`. No broker needed.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use storefleet::history::History;

use crate::failure::Failure;
use crate::report::{counts_json, load_status, status_json, timestamp};

/// How `export` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// A row per target: store_id, controller_id, status, attempt, updated_at, errors.
    Csv,
    /// The raw message log, one JSON object per message, in and out.
    Jsonl,
}

/// Every message of a deployment, however many.
const ALL_MESSAGES: usize = usize::MAX >> 1;

pub fn status(db: &Path, id: &str) -> Result<u8, Failure> {
    let history = History::open(db)?;
    let (row, targets) = load_status(&history, id)?;
    outln!("{}", status_json(&row, &targets));
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

pub fn export(db: &Path, id: &str, format: ExportFormat) -> Result<u8, Failure> {
    let history = History::open(db)?;
    let (_, targets) = load_status(&history, id)?;
    let stdout = std::io::stdout().lock();
    match format {
        ExportFormat::Csv => {
            // The io::Error itself, so that a closed pipe ends the command quietly.
            storefleet::history::write_targets_csv(stdout, &targets).map_err(|e| {
                match e.into_kind() {
                    csv::ErrorKind::Io(e) => Failure::from(e),
                    other => Failure::error(format!("cannot write the CSV: {other:?}")),
                }
            })?;
        }
        ExportFormat::Jsonl => {
            let mut out = stdout;
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
    }
    Ok(0)
}
