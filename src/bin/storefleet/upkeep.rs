//! `prune`: old finished deployments out of the history (into an archive first, if asked),
//! then a vacuum. Without `--yes` it only says what would go. No broker needed.

use std::path::{Path, PathBuf};

use serde_json::json;
use storefleet::history::{History, parse_cutoff};

use crate::failure::Failure;
use crate::report::Reporter;

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove finished deployments created before this day (YYYY-MM-DD, midnight UTC) or
    /// instant (RFC 3339), with their targets and messages; unfinished ones always stay.
    #[arg(long, value_name = "DATE")]
    before: String,
    /// First copy what goes into this new file: a history of its own (`--db FILE` reads it).
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
    /// Remove them; without it, only what would go is printed.
    #[arg(long)]
    yes: bool,
    #[arg(long)]
    json: bool,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn prune(args: PruneArgs, db: &Path) -> Result<u8, Failure> {
    let before =
        parse_cutoff(&args.before).map_err(|e| Failure::refused(format!("--before {e}")))?;
    let reporter = Reporter::new(args.json);
    let mut history = History::open(db)?;
    let plan = history.prune_plan(before)?;
    if !args.yes {
        reporter.line(&json!({"event": "prune_plan", "plan": plan}));
        reporter.human(&format!(
            "would remove {}; nothing removed: pass --yes to remove them",
            plan.describe()
        ));
        return Ok(0);
    }
    if plan.is_empty() {
        reporter.line(&json!({"event": "pruned", "plan": plan}));
        reporter.human(&format!("nothing to remove: {}", plan.describe()));
        return Ok(0);
    }
    let report = history
        .prune(before, args.archive.as_deref())
        .map_err(|e| match e {
            storefleet::history::HistoryError::ArchiveExists(_) => Failure::refused(e.to_string()),
            e => e.into(),
        })?;
    reporter.line(&json!({"event": "pruned", "report": report, "archive": args.archive}));
    reporter.human(&format!("removed {}", report.removed.describe()));
    if let Some(archive) = &args.archive {
        reporter.human(&format!("  archived in {}", archive.display()));
    }
    match &report.vacuum_skipped {
        None => reporter.human(&format!(
            "  the history went from {} to {}",
            mib(report.size_before),
            mib(report.size_after)
        )),
        Some(why) => reporter.human(&format!("  vacuum skipped: {why}")),
    }
    Ok(0)
}
