//! A deployment's targets as CSV: what `storefleet export --format csv` prints and the
//! window's "Export CSV" saves.

use std::io::Write;

use super::TargetStatusRow;
use crate::csv_out::write_row;
use crate::engine::Millis;

/// RFC 3339 with milliseconds, in UTC; empty for an instant chrono cannot show.
fn timestamp(ms: Millis) -> String {
    ms.to_datetime()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
        .unwrap_or_default()
}

/// A header line, then a row per target: store_id, controller_id, status, attempt,
/// updated_at, errors (joined with "; "). Cells that a spreadsheet would run as formulas are
/// made inert (`crate::csv_out`).
pub fn write_targets_csv<W: Write>(out: W, targets: &[TargetStatusRow]) -> Result<(), csv::Error> {
    let mut out = std::io::BufWriter::new(out);
    write_row(
        &mut out,
        &[
            "store_id",
            "controller_id",
            "status",
            "attempt",
            "updated_at",
            "errors",
        ],
    )?;
    for t in targets {
        write_row(
            &mut out,
            &[
                t.store_id.as_str(),
                t.controller_id.as_str(),
                t.status.as_str(),
                &t.attempt.to_string(),
                &timestamp(t.updated_at),
                &t.errors.join("; "),
            ],
        )?;
    }
    out.flush()?;
    Ok(())
}
