//! What the deployment commands print: JSON lines for scripts, one live line for people.

use std::io::{IsTerminal, Write};

use serde_json::{Value, json};
use storefleet::engine::{RolloutEvent, RolloutEventKind, StatusCounts, Transition};
use storefleet::history::{DeploymentRow, History, TargetStatusRow};

use crate::failure::Failure;

/// RFC 3339 in UTC for the JSON the CLI prints.
pub fn timestamp(ms: storefleet::engine::Millis) -> String {
    ms.to_datetime()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
        .unwrap_or_default()
}

pub fn counts_json(counts: &StatusCounts) -> Value {
    serde_json::to_value(counts).unwrap_or(Value::Null)
}

pub fn transition_json(t: &Transition) -> Value {
    json!({
        "event": "target",
        "deployment_id": t.deployment_id.as_str(),
        "store_id": t.store_id.as_str(),
        "controller_id": t.controller_id.as_str(),
        "attempt": t.attempt,
        "from": t.from.as_str(),
        "status": t.to.as_str(),
        "errors": t.errors,
        "at": timestamp(t.at),
        "wave": t.wave,
    })
}

/// A wave start, pause or resume: `{"event": "rollout", "kind": ..., ...}`.
pub fn rollout_json(e: &RolloutEvent) -> Value {
    let mut v = serde_json::to_value(&e.kind).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("event".into(), json!("rollout"));
        o.insert("deployment_id".into(), json!(e.deployment_id.as_str()));
        o.insert("at".into(), json!(timestamp(e.at)));
    }
    v
}

pub fn target_json(t: &TargetStatusRow) -> Value {
    json!({
        "store_id": t.store_id,
        "controller_id": t.controller_id,
        "status": t.status.as_str(),
        "attempt": t.attempt,
        "errors": t.errors,
        "updated_at": timestamp(t.updated_at),
        "wave": t.wave,
    })
}

/// The `status --json` object (DESIGN.md section 6), written as it is serialized: the same
/// keys in the same (sorted) order as a `json!` tree, but each target is made and dropped in
/// turn. At 100,000 targets the tree was the CLI's peak memory, about 1.3 KB a target (massif,
/// BENCHMARKS.md issue 13).
pub struct StatusDoc<'a> {
    head: serde_json::Map<String, Value>,
    targets: &'a [TargetStatusRow],
}

impl<'a> StatusDoc<'a> {
    pub fn new(row: &DeploymentRow, targets: &'a [TargetStatusRow]) -> Self {
        Self {
            head: status_head(row),
            targets,
        }
    }

    /// The same object as the last line of a command that followed a deployment.
    pub fn summary(row: &DeploymentRow, targets: &'a [TargetStatusRow]) -> Self {
        let mut doc = Self::new(row, targets);
        doc.head.insert("event".into(), json!("summary"));
        doc
    }
}

impl serde::Serialize for StatusDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Targets<'a>(&'a [TargetStatusRow]);
        impl serde::Serialize for Targets<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(target_json))
            }
        }
        const KEY: &str = "targets";
        let mut map = serializer.serialize_map(Some(self.head.len() + 1))?;
        let mut written = false;
        for (key, value) in &self.head {
            if !written && key.as_str() > KEY {
                map.serialize_entry(KEY, &Targets(self.targets))?;
                written = true;
            }
            map.serialize_entry(key, value)?;
        }
        if !written {
            map.serialize_entry(KEY, &Targets(self.targets))?;
        }
        map.end()
    }
}

/// Everything of the status object but its targets.
fn status_head(row: &DeploymentRow) -> serde_json::Map<String, Value> {
    let Value::Object(head) = json!({
        "deployment_id": row.deployment_id,
        "firmware_version": row.firmware_version,
        "checksum": row.checksum,
        "file_size": row.file_size,
        "file_url": row.file_url,
        "created_at": timestamp(row.created_at),
        "finished": row.finished_at.is_some(),
        "state": row.state,
        "paused_reason": row.paused_reason,
        "origin": row.origin,
        "broker": row.broker,
        "topic_prefix": row.topic_prefix.as_deref().unwrap_or_default(),
        "policy": row.policy,
        "waves": storefleet::engine::plan_waves(row.target_count as usize, &row.policy),
        "counts": counts_json(&row.counts),
    }) else {
        unreachable!("a json! object literal is an object")
    };
    head
}

/// Reads a deployment's row from the history; refused when the id is unknown.
pub fn load_row(history: &History, id: &str) -> Result<DeploymentRow, Failure> {
    history
        .deployment(id)?
        .ok_or_else(|| Failure::refused(format!("no deployment {id} in the history")))
}

/// Writes a status object as one line of stdout, streamed (see [`StatusDoc`]).
pub fn write_status_line(doc: &StatusDoc<'_>) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer(&mut out, doc)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        crate::stdout::failed(&e);
    }
}

/// Prints JSON lines (`--json`) or a live one-line summary on a terminal.
pub struct Reporter {
    json: bool,
    live: bool,
}

impl Reporter {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            live: !json && std::io::stderr().is_terminal(),
        }
    }

    /// The deployment's status as the final line, read from the history only for `--json`.
    pub fn summary(&self, history: &History, row: &DeploymentRow) -> Result<(), Failure> {
        if self.json {
            let targets = history.target_statuses(&row.deployment_id)?;
            write_status_line(&StatusDoc::summary(row, &targets));
        }
        Ok(())
    }

    pub fn line(&self, value: &Value) {
        if self.json {
            outln!("{value}");
        }
    }

    pub fn transitions(&self, transitions: &[Transition]) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let written = transitions
                .iter()
                .try_for_each(|t| writeln!(out, "{}", transition_json(t)))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                crate::stdout::failed(&e);
            }
        }
    }

    /// Rollout events as JSON lines, or one line each for people. The plan and the first
    /// wave are in the `deployment` line already: only later waves, pauses and resumes.
    pub fn rollout(&self, events: &[RolloutEvent]) {
        let later = |e: &&RolloutEvent| {
            !matches!(
                e.kind,
                RolloutEventKind::Planned { .. } | RolloutEventKind::WaveStarted { wave: 0 }
            )
        };
        for e in events.iter().filter(later) {
            if self.json {
                self.line(&rollout_json(e));
            } else {
                let text = match &e.kind {
                    RolloutEventKind::Planned { waves } => format!("planned waves {waves:?}"),
                    RolloutEventKind::WaveStarted { wave } => format!("wave {wave} started"),
                    RolloutEventKind::Paused { reason } => format!("paused: {reason}"),
                    RolloutEventKind::Resumed => "resumed".to_owned(),
                };
                self.end_progress();
                eprintln!("{}: {text}", e.deployment_id);
            }
        }
    }

    /// Rewrites the progress line on a terminal; nothing otherwise.
    pub fn progress(&self, counts: &StatusCounts, total: usize) {
        if self.live {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K{}/{} done · {} completed · {} failed · {} timed out · {} cancelled · {} skipped · {} in flight · {} queued",
                counts.terminal(),
                total,
                counts.completed,
                counts.failed,
                counts.timed_out,
                counts.cancelled,
                counts.skipped,
                counts.sent + counts.acknowledged + counts.cancel_requested,
                counts.queued,
            );
            let _ = err.flush();
        }
    }

    pub fn end_progress(&self) {
        if self.live {
            let _ = writeln!(std::io::stderr());
        }
    }

    /// A human summary on stdout when not in JSON mode.
    pub fn human(&self, text: &str) {
        if !self.json {
            outln!("{}", crate::terminal::shown(text));
        }
    }
}
