//! The fleet as CSV, the format `deploy --targets-csv` reads.
//!
//! Header exactly `store_id,controller_id,store_name,controller_name`; a field is quoted
//! (RFC 4180: in double quotes, inner quotes doubled) only when it holds a comma, a quote
//! or a line break. Lines end with `\n`: readers accept it, and a naive reader that splits
//! on `\n` would otherwise keep a stray `\r` in the last column.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use super::names::ControllerInfo;

pub const FLEET_CSV_HEADER: &str = "store_id,controller_id,store_name,controller_name";

/// Writes the header and one row per controller.
pub fn write_fleet_csv(mut out: impl Write, fleet: &[ControllerInfo]) -> io::Result<()> {
    writeln!(out, "{FLEET_CSV_HEADER}")?;
    for c in fleet {
        writeln!(
            out,
            "{},{},{},{}",
            field(c.store_id.as_str()),
            field(c.controller_id.as_str()),
            field(&c.store_name),
            field(&c.controller_name)
        )?;
    }
    out.flush()
}

/// Writes the fleet CSV to `path` (replacing it), through a temporary file beside it so a
/// reader never sees half a file.
pub fn write_fleet_csv_file(path: &Path, fleet: &[ControllerInfo]) -> io::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    {
        let file = std::fs::File::create(&tmp)?;
        write_fleet_csv(io::BufWriter::new(file), fleet)?;
    }
    std::fs::rename(&tmp, path)
}

fn field(value: &str) -> Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Id;

    #[test]
    fn header_rows_and_quoting() {
        let fleet = vec![
            ControllerInfo {
                store_id: Id::new("s1").unwrap(),
                controller_id: Id::new("c1").unwrap(),
                store_name: "Northgate Market #0012".into(),
                controller_name: "Checkout lane 3".into(),
            },
            ControllerInfo {
                store_id: Id::new("s,2").unwrap(),
                controller_id: Id::new("c\"2").unwrap(),
                store_name: "Mall, level 2".into(),
                controller_name: "Lane \"A\"\nnew".into(),
            },
        ];
        let mut out = Vec::new();
        write_fleet_csv(&mut out, &fleet).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "store_id,controller_id,store_name,controller_name\n\
             s1,c1,Northgate Market #0012,Checkout lane 3\n\
             \"s,2\",\"c\"\"2\",\"Mall, level 2\",\"Lane \"\"A\"\"\nnew\"\n"
        );
    }
}
