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

/// The `status --json` object (DESIGN.md section 6).
pub fn status_json(row: &DeploymentRow, targets: &[TargetStatusRow]) -> Value {
    json!({
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
        "targets": targets.iter().map(target_json).collect::<Vec<_>>(),
    })
}

/// Reads a deployment's status from the history; refused when the id is unknown.
pub fn load_status(
    history: &History,
    id: &str,
) -> Result<(DeploymentRow, Vec<TargetStatusRow>), Failure> {
    let row = history
        .deployment(id)?
        .ok_or_else(|| Failure::refused(format!("no deployment {id} in the history")))?;
    let targets = history.target_statuses(id)?;
    Ok((row, targets))
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
