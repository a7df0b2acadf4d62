//! `storefleet fleet`: the inventory of controllers. Reads and writes the history only; no
//! broker needed (discovery happens in any command that listens: deploy, watch, the app).

use std::io::Write;
use std::path::{Path, PathBuf};

use storefleet::fleet::{
    Controller, ControllerEntry, ControllerSource, StoreSettings, read_inventory_csv,
};
use storefleet::history::History;
use storefleet::maintenance::{StoreZone, WindowState, Windows, when_text, window_state};

use crate::failure::Failure;

#[derive(clap::Subcommand)]
pub enum FleetCommand {
    /// Add or update controllers from a CSV with the header `store_id,controller_id`
    /// (optional `store_name`, `controller_name`, and the store's `timezone` and `windows`).
    /// One bad line refuses the whole file.
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
    /// Set a store's IANA time zone (e.g. Europe/Berlin); its windows are in its wall clock.
    SetTimezone {
        store_id: String,
        zone: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a store's maintenance windows, replacing any before: e.g. "Mon-Fri 22:00-05:00"
    /// "Sat-Sun 23:00-06:00" (days Mon..Sun, a range or Daily; HH:MM or HH:MM:SS; an end
    /// before the start crosses midnight). No window given (or --clear) removes them.
    SetWindow {
        store_id: String,
        windows: Vec<String>,
        #[arg(long, conflicts_with = "windows")]
        clear: bool,
        #[arg(long)]
        json: bool,
    },
    /// Every store with a time zone or windows, and whether its window is open now.
    Stores {
        /// JSON Lines: one store per line.
        #[arg(long)]
        json: bool,
    },
    /// Take a controller out of the inventory. Its deployment history stays; heard again on
    /// the broker, it comes back.
    Remove {
        store_id: String,
        controller_id: String,
        /// Print {"removed": true} as one JSON object.
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
        FleetCommand::SetTimezone {
            store_id,
            zone,
            json,
        } => {
            let store = store_id_of(&store_id)?;
            let zone = StoreZone::parse(&zone).map_err(|e| Failure::refused(e.to_string()))?;
            let settings = History::open(db)?.set_store_timezone(&store, &zone)?;
            print_store(&settings, json)
        }
        FleetCommand::SetWindow {
            store_id,
            windows,
            clear,
            json,
        } => {
            let store = store_id_of(&store_id)?;
            let windows: Windows =
                if clear {
                    Windows::default()
                } else {
                    windows.join(", ").parse().map_err(
                        |e: storefleet::maintenance::WindowError| Failure::refused(e.to_string()),
                    )?
                };
            let settings = History::open(db)?.set_store_windows(&store, &windows)?;
            print_store(&settings, json)
        }
        FleetCommand::Stores { json } => stores(db, json),
        FleetCommand::Remove {
            store_id,
            controller_id,
            json,
        } => {
            let removed = History::open(db)?.remove_controller(&store_id, &controller_id)?;
            let (store, controller) = (
                crate::terminal::shown(&store_id),
                crate::terminal::shown(&controller_id),
            );
            if !removed {
                return Err(Failure::refused(format!(
                    "{store}/{controller} is not in the inventory"
                )));
            }
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::json!({"removed": true}))?;
            } else {
                writeln!(
                    out,
                    "{store}/{controller} removed from the inventory (its deployment history stays)"
                )?;
            }
            Ok(0)
        }
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

fn store_id_of(text: &str) -> Result<String, Failure> {
    storefleet::protocol::Id::new(text)
        .map(|id| id.as_str().to_owned())
        .map_err(|e| Failure::refused(format!("store id {text:?}: {e}")))
}

/// `north: Europe/Berlin, Mon-Fri 22:00-05:00 (closed, opens tonight 22:00 (in 7 h))`.
fn store_line(s: &StoreSettings) -> String {
    let zone = s.timezone.as_deref().unwrap_or("no time zone");
    let windows = s.windows.as_deref().unwrap_or("no window");
    let now = storefleet::service::now_millis();
    let state = match s.usable() {
        None => "windows not usable until both are set".to_owned(),
        Some(w) => match StoreZone::parse(&w.timezone) {
            Ok(zone) => match window_state(&zone, &w.windows, now) {
                WindowState::Open { closes_at } => {
                    format!("open, closes {}", when_text(&zone, closes_at, now))
                }
                WindowState::Closed { opens_at: Some(at) } => {
                    format!("closed, opens {}", when_text(&zone, at, now))
                }
                WindowState::Closed { opens_at: None } => "closed".to_owned(),
            },
            Err(e) => e.to_string(),
        },
    };
    format!("{}: {zone}, {windows} ({state})", s.store_id)
}

fn print_store(s: &StoreSettings, json: bool) -> Result<u8, Failure> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", to_json(s)?)?;
    } else {
        writeln!(out, "{}", crate::terminal::shown(&store_line(s)))?;
    }
    Ok(0)
}

fn stores(db: &Path, json: bool) -> Result<u8, Failure> {
    let all = History::open(db)?.all_store_settings()?;
    if all.is_empty() && !json {
        writeln!(
            std::io::stdout().lock(),
            "No store has a time zone or windows yet (storefleet fleet set-timezone, set-window)."
        )?;
    }
    for s in &all {
        print_store(s, json)?;
    }
    Ok(0)
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
