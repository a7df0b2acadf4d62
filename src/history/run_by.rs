//! Who ran a deployment and from which machine: recorded once, when the deployment is
//! created (migration 8), and read back for the report.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{History, HistoryError};

/// The OS user and host of the process that created a deployment; `None`: not recorded
/// (made before migration 8, observed on the broker, or the OS would not say).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RunBy {
    pub operator: Option<String>,
    pub host: Option<String>,
}

impl RunBy {
    /// This process's user and host, as the OS tells them.
    pub fn this_process() -> Self {
        Self {
            operator: user_name(),
            host: host_name(),
        }
    }
}

fn non_empty(text: impl AsRef<str>) -> Option<String> {
    let text = text.as_ref().trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `USER` (Unix) or `USERNAME` (Windows); a service or container may set neither, so on
/// Linux the process's uid is looked up in `/etc/passwd`.
fn user_name() -> Option<String> {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().and_then(non_empty))
        .or_else(user_from_uid)
}

#[cfg(target_os = "linux")]
fn user_from_uid() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid.to_string()).then(|| name.to_owned())
    });
    Some(name.unwrap_or_else(|| format!("uid {uid}")))
}

#[cfg(not(target_os = "linux"))]
fn user_from_uid() -> Option<String> {
    None
}

/// `COMPUTERNAME` (Windows), the kernel's host name (Linux), else the `hostname` program
/// (macOS and the rest).
fn host_name() -> Option<String> {
    std::env::var("COMPUTERNAME")
        .ok()
        .and_then(non_empty)
        .or_else(|| {
            ["/proc/sys/kernel/hostname", "/etc/hostname"]
                .iter()
                .find_map(|p| std::fs::read_to_string(p).ok().and_then(non_empty))
        })
        .or_else(|| {
            let out = std::process::Command::new("hostname").output().ok()?;
            out.status
                .success()
                .then(|| non_empty(String::from_utf8_lossy(&out.stdout)))?
        })
}

/// Records who made the batch's new deployments, inside its transaction. Only a row that
/// has none yet is set: a deployment's creator does not change.
pub(super) fn write_run_by(
    tx: &rusqlite::Transaction<'_>,
    run_by: &[(String, RunBy)],
) -> Result<(), HistoryError> {
    let mut set = tx.prepare_cached(
        "UPDATE deployments SET operator = ?2, host = ?3
         WHERE id = ?1 AND operator IS NULL AND host IS NULL",
    )?;
    for (id, who) in run_by {
        set.execute(params![id, who.operator, who.host])?;
    }
    Ok(())
}

impl History {
    /// Who made a deployment and where; `None` when the deployment is unknown.
    pub fn run_by(&self, deployment_id: &str) -> Result<Option<RunBy>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT operator, host FROM deployments WHERE id = ?1",
                params![deployment_id],
                |r| {
                    Ok(RunBy {
                        operator: r.get(0)?,
                        host: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_names_a_user_and_a_host() {
        // Whatever the machine, Linux always knows both (USER may be unset in containers).
        let who = RunBy::this_process();
        assert!(
            who.operator.as_deref().is_some_and(|u| !u.is_empty()),
            "{who:?}"
        );
        assert!(
            who.host.as_deref().is_some_and(|h| !h.is_empty()),
            "{who:?}"
        );
    }
}

#[cfg(test)]
mod migration_tests {
    use super::super::History;
    use super::super::batch_tests::spec;
    use super::super::deployment_writes::Batch;
    use super::super::migrations::MIGRATIONS;
    use super::RunBy;
    use crate::engine::{Engine, Millis};

    #[test]
    fn a_schema_7_history_gains_run_by_and_old_rows_read_as_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        {
            let history = History::open_with(&path, &MIGRATIONS[..7]).unwrap();
            assert_eq!(history.schema_version().unwrap(), 7);
            history
                .conn()
                .execute(
                    "INSERT INTO deployments (id, firmware_version, file_url, file_size, checksum,
                        ack_timeout_ms, completion_timeout_ms, created_at, target_count)
                     VALUES ('old', '1.0.0', 'http://h/fw.bin', 10,
                        '8a3be389a446bba670da3a33e5506d2e', 5000, 50000, 1000, 0)",
                    [],
                )
                .unwrap();
        }
        let mut history = History::open(&path).unwrap();
        assert_eq!(
            history.schema_version().unwrap(),
            super::super::migrations::MIGRATIONS.last().unwrap().version
        );
        assert_eq!(history.run_by("old").unwrap(), Some(RunBy::default()));
        assert_eq!(history.run_by("nope").unwrap(), None);
        // The old row is otherwise whole.
        assert_eq!(
            history.deployment("old").unwrap().unwrap().firmware_version,
            "1.0.0"
        );

        // A new deployment records its creator; a second write does not replace it.
        let mut engine = Engine::new();
        engine.create(spec(), Millis(1_000)).unwrap();
        let who = RunBy {
            operator: Some("ops <1>".into()),
            host: Some("till-3".into()),
        };
        let mut batch = Batch::default();
        batch.new_deployments.push(
            engine
                .snapshot(&super::super::batch_tests::id("dep"))
                .unwrap(),
        );
        batch.run_by.push(("dep".into(), who.clone()));
        history.write_batch(&batch).unwrap();
        let mut again = Batch::default();
        again.run_by.push((
            "dep".into(),
            RunBy {
                operator: Some("someone else".into()),
                host: None,
            },
        ));
        history.write_batch(&again).unwrap();
        assert_eq!(history.run_by("dep").unwrap(), Some(who));
    }
}
