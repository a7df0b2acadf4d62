//! Writing to stdout without `println!`, which panics when stdout is a closed pipe
//! (`storefleet status ID | head -c1`). A reader that went away ends the command quietly, with
//! exit 0: it has what it wanted. Deployments in flight go on from the history, as after Ctrl-C.

use std::fmt;
use std::io::{self, Write};

/// `println!` for the CLI: see the module comment.
macro_rules! outln {
    () => {
        $crate::stdout::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout::line(format_args!($($arg)*))
    };
}

/// Writes one line and flushes; a closed pipe ends the process quietly.
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        failed(&e);
    }
}

/// What a failed write to stdout means: the reader left (exit 0 now), or anything else (a
/// full disk behind a redirect), which is reported once and ends the command with exit 1.
pub fn failed(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("storefleet: cannot write to stdout: {e}");
    std::process::exit(1);
}
