//! CSV rows for people's spreadsheets: RFC 4180 quoting, and cells that a spreadsheet would
//! run as a formula made inert.
//!
//! Controllers choose their error texts (and ids may start with any printable character), so
//! an export could carry `=HYPERLINK(...)` into Excel or LibreOffice. As OWASP advises, a cell
//! that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` and is
//! quoted: the spreadsheet shows the text, and runs nothing.

use std::borrow::Cow;
use std::io::{self, Write};

/// Writes one row of cells, ending with CRLF-free `\n` (as the csv crate does).
pub fn write_row<W: Write, S: AsRef<str>>(out: &mut W, cells: &[S]) -> io::Result<()> {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(cell_text(cell.as_ref()).as_bytes())?;
    }
    out.write_all(b"\n")
}

/// One cell as it goes into the file.
pub fn cell_text(cell: &str) -> Cow<'_, str> {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = formula || cell.contains([',', '"', '\n', '\r']);
    if !needs_quotes {
        return Cow::Borrowed(cell);
    }
    let prefix = if formula { "'" } else { "" };
    Cow::Owned(format!("\"{prefix}{}\"", cell.replace('"', "\"\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_quoted_and_prefixed() {
        for (cell, expected) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("+1", "\"'+1\""),
            ("-2+3", "\"'-2+3\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\tcmd", "\"'\tcmd\""),
            ("\rcmd", "\"'\rcmd\""),
        ] {
            assert_eq!(cell_text(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn other_cells_follow_rfc_4180() {
        assert_eq!(cell_text("completed"), "completed");
        assert_eq!(cell_text("a, b"), "\"a, b\"");
        assert_eq!(cell_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell_text("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell_text("a=b"), "a=b", "only a leading sign is a formula");
        let mut out = Vec::new();
        write_row(&mut out, &["s1", "=1+1", ""]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "s1,\"'=1+1\",\n");
    }

    #[test]
    fn the_csv_crate_reads_back_the_text_with_its_prefix() {
        let mut out = Vec::new();
        write_row(&mut out, &["=cmd|' /C calc'!A0", "x,y"]).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_slice());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], "'=cmd|' /C calc'!A0");
        assert_eq!(&record[1], "x,y");
    }

    #[test]
    fn the_targets_export_makes_a_controllers_formula_inert() {
        let row = crate::history::TargetStatusRow {
            store_id: "@store".into(),
            controller_id: "c1".into(),
            status: crate::engine::TargetStatus::Failed,
            attempt: 1,
            errors: vec!["=HYPERLINK(\"http://evil\")".into()],
            updated_at: crate::engine::Millis::from_datetime(&chrono::Utc::now()),
            wave: 0,
        };
        let mut out = Vec::new();
        crate::history::write_targets_csv(&mut out, &[row]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("\"'@store\",c1,failed,1,"), "{line}");
        assert!(
            line.ends_with(",\"'=HYPERLINK(\"\"http://evil\"\")\""),
            "{line}"
        );
    }
}
