//! `storefleet fleet`: the inventory of controllers. Reads and writes the history only; no
//! broker needed (discovery happens in any command that listens: deploy, watch, the app).

use std::io::Write;
use std::path::{Path, PathBuf};

use storefleet::fleet::{Controller, ControllerEntry, ControllerSource, read_inventory_csv};
use storefleet::history::History;

use crate::failure::Failure;

#[derive(clap::Subcommand)]
pub enum FleetCommand {
    /// Add or update controllers from a CSV with the header `store_id,controller_id`
    /// (optional `store_name`, `controller_name`). One bad line refuses the whole file.
    Import {
        file: PathBuf,
        /// Print the report as one JSON object: {"added": N, "updated": N}.
        #[arg(long)]
        json: bool,
    },
    /// Every known controller: names, firmware, last seen, last result, source.
    List {
        /// JSON Lines: one controller per line.
        #[arg(long)]
        json: bool,
    },
    /// Add a controller by hand (or name a known one).
    Add {
        store_id: String,
        controller_id: String,
        #[arg(long, value_name = "NAME")]
        store_name: Option<String>,
        #[arg(long, value_name = "NAME")]
        controller_name: Option<String>,
        /// Print the controller as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: FleetCommand, db: &Path) -> Result<u8, Failure> {
    match command {
        FleetCommand::Import { file, json } => import(db, &file, json),
        FleetCommand::List { json } => list(db, json),
        FleetCommand::Add {
            store_id,
            controller_id,
            store_name,
            controller_name,
            json,
        } => {
            let entry = ControllerEntry::new(
                &store_id,
                &controller_id,
                store_name.as_deref(),
                controller_name.as_deref(),
            )
            .map_err(|e| Failure::refused(e.to_string()))?;
            let controller = History::open(db)?.add_controller(&entry)?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", to_json(&controller)?)?;
            } else {
                writeln!(
                    out,
                    "{}/{} is in the inventory ({})",
                    controller.store_id,
                    controller.controller_id,
                    controller.source.as_str()
                )?;
            }
            Ok(0)
        }
    }
}

fn import(db: &Path, file: &Path, json: bool) -> Result<u8, Failure> {
    let refused = |e: &dyn std::fmt::Display| Failure::refused(format!("{}: {e}", file.display()));
    let reader = std::fs::File::open(file).map_err(|e| refused(&e))?;
    let rows = read_inventory_csv(std::io::BufReader::new(reader)).map_err(|e| refused(&e))?;
    let report = History::open(db)?.import_controllers(&rows, ControllerSource::Imported)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", to_json(&report)?)?;
    } else {
        writeln!(
            out,
            "{}: {} added, {} updated, {} unchanged",
            file.display(),
            report.added,
            report.updated,
            rows.len() as u32 - report.added - report.updated
        )?;
    }
    Ok(0)
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::error(e.to_string()))
}

fn list(db: &Path, json: bool) -> Result<u8, Failure> {
    let controllers = History::open(db)?.controllers()?;
    let mut out = std::io::stdout().lock();
    if json {
        for c in &controllers {
            writeln!(out, "{}", to_json(c)?)?;
        }
        return Ok(0);
    }
    if controllers.is_empty() {
        writeln!(
            out,
            "No controllers known yet. Import a CSV (storefleet fleet import FILE), add one \
             (storefleet fleet add STORE CONTROLLER), or let a deployment discover them."
        )?;
        return Ok(0);
    }
    let header = [
        "store",
        "store name",
        "controller",
        "name",
        "firmware",
        "last seen",
        "last result",
        "source",
    ]
    .map(str::to_owned);
    // Names and versions may come from the broker: no control characters on the terminal.
    let rows: Vec<[String; 8]> = controllers
        .iter()
        .map(|c| table_row(c).map(|cell| crate::terminal::shown(&cell).into_owned()))
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(0)
}

fn table_row(c: &Controller) -> [String; 8] {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let last_seen = c
        .last_seen
        .and_then(|t| t.to_datetime())
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "never".to_owned());
    [
        c.store_id.clone(),
        or_dash(c.store_name.as_deref()),
        c.controller_id.clone(),
        or_dash(c.controller_name.as_deref()),
        or_dash(c.firmware_version.as_deref()),
        last_seen,
        or_dash(c.last_result.map(|s| s.as_str())),
        c.source.as_str().to_owned(),
    ]
}
