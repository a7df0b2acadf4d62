//! Tracing to stderr and to a daily rolling file in the platform log folder
//! (`app_log_dir()`, e.g. `~/.local/share/app.storefleet.desktop/logs` on Linux).
//! `STOREFLEET_LOG` sets the filter, as for the CLI.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Keeps the file writer flushing; drop it last.
pub struct LogGuard(#[allow(dead_code)] Option<WorkerGuard>);

const KEEP_FILES: usize = 14;

pub fn init(dir: Option<&Path>) -> LogGuard {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("STOREFLEET_LOG")
            // rumqttd (the demo's broker) logs every client disconnect as an error.
            .unwrap_or_else(|_| "info,rumqttd=off".into())
    };
    let appender = dir.and_then(|dir| {
        // The appender prunes old files by listing the folder: it must exist first.
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("no log folder {}: {e}", dir.display());
            return None;
        }
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("storefleet")
            .filename_suffix("log")
            .max_log_files(KEEP_FILES)
            .build(dir)
            .map_err(|e| eprintln!("no log file in {}: {e}", dir.display()))
            .ok()
    });
    match appender {
        Some(appender) => {
            let (file, guard) = tracing_appender::non_blocking(appender);
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(false)
                .with_writer(std::io::stderr.and(file))
                .try_init();
            LogGuard(Some(guard))
        }
        None => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .try_init();
            LogGuard(None)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_a_daily_file_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let guard = super::init(Some(dir.path()));
        tracing::info!(marker = "log-file-check", "hello from the log test");
        drop(guard);
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("storefleet.") && name.ends_with(".log"),
            "{name}"
        );
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("log-file-check"), "{text}");
    }
}
