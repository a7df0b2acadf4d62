//! The report as one HTML file. Every value that came from the history goes through
//! [`esc`]: ids, errors and reasons come from controllers in the field.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::ReportInput;
use super::chart;
use crate::engine::{
    Advance, FailureThreshold, Millis, RolloutEventKind, StatusCounts, TargetStatus, plan_waves,
};
use crate::history::TargetStatusRow;

/// Nothing may load or run, even should a value slip past the escaping.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2228; margin: 0; background: #f4f6f8; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d8dde3; padding-bottom: 4px; }
section { background: #fff; border: 1px solid #e1e5ea; border-radius: 8px; padding: 4px 18px 14px; margin-top: 16px; }
.muted { color: #5b6570; }
.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
td.id { white-space: nowrap; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { font-weight: 600; color: #3a434d; }
table.kv th { width: 190px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.counts { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.count { border: 1px solid #e1e5ea; border-radius: 6px; padding: 6px 12px; min-width: 92px; }
.count b { display: block; font-size: 22px; }
.count.completed b { color: #2a9d56; } .count.failed b, .count.timed_out b { color: #d1495b; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #e8ecf0; font-size: 12px; }
.badge.finished { background: #dff3e6; } .badge.cancelled, .badge.paused { background: #fbe9d0; }
.status-failed, .status-timed_out { color: #b3261e; }
.chart { width: 100%; height: auto; }
.legend span { display: inline-block; margin-right: 16px; }
.legend i { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin-right: 6px; }
ul.errors { margin: 0; padding-left: 18px; }
details summary { cursor: pointer; margin: 8px 0; }
footer { margin: 24px 0; font-size: 12px; }
@media print { body { background: #fff; } section { border: none; } }
"#;

/// `text` safe in HTML content and in quoted attribute values.
pub(super) fn esc(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `2026-12-02 05:41:51 UTC`.
fn when(at: Millis) -> String {
    at.to_datetime()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// `3 h 4 min`, `2 min 5 s`, `12 s`.
fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {} ({n} bytes)", UNITS[unit])
}

fn or_not_recorded(v: Option<&str>) -> Cow<'_, str> {
    match v {
        Some(v) => esc(v),
        None => Cow::Borrowed(r#"<span class="muted">not recorded</span>"#),
    }
}

fn wave_name(index: u32, has_canary: bool) -> String {
    match (index, has_canary) {
        (0, true) => "Canary".into(),
        (i, true) => format!("Wave {i}"),
        (i, false) => format!("Wave {}", i + 1),
    }
}

/// Targets not yet in an end state.
fn in_progress(c: &StatusCounts) -> usize {
    c.queued + c.sent + c.acknowledged + c.cancel_requested
}

fn is_failure(status: TargetStatus) -> bool {
    matches!(status, TargetStatus::Failed | TargetStatus::TimedOut)
}

/// The whole report: one self-contained HTML document.
pub fn render_html(input: &ReportInput) -> String {
    let d = &input.deployment;
    let id = esc(&d.deployment_id);
    let mut h = String::with_capacity(16_384 + input.targets.len() * 160);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{gen}">
<title>Deployment {id}: firmware {version}</title>
<style>{STYLE}</style></head>
<body><main>
<h1>Deployment report</h1>
<p class="muted">Deployment <span class="mono" data-field="deployment-id">{id}</span> &middot; generated {generated} by {gen}</p>
"#,
        gen = esc(&input.generator),
        version = esc(&d.firmware_version),
        generated = when(input.generated_at),
    );
    summary(&mut h, input);
    firmware(&mut h, input);
    timeline(&mut h, input);
    waves(&mut h, input);
    failures(&mut h, input);
    targets(&mut h, &input.targets);
    let _ = write!(
        h,
        r#"<footer class="muted">Times are UTC. Made from the local history of {gen}; the raw message log is the JSON Lines export.</footer>
</main></body></html>
"#,
        gen = esc(&input.generator)
    );
    h
}

fn summary(h: &mut String, input: &ReportInput) {
    let d = &input.deployment;
    let c = &d.counts;
    let state = d.state.as_str();
    let finished = match d.finished_at {
        Some(at) => format!(
            "{} (after {})",
            when(at),
            span(at.0.saturating_sub(d.created_at.0))
        ),
        None => r#"<span class="muted">not finished</span>"#.into(),
    };
    let paused = match &d.paused_reason {
        Some(r) if state == "paused" => format!(" &middot; {}", esc(r)),
        _ => String::new(),
    };
    let _ = write!(
        h,
        r#"<section data-section="summary"><h2>Summary</h2>
<table class="kv">
<tr><th>State</th><td><span class="badge {state}" data-field="state">{state}</span>{paused}</td></tr>
<tr><th>Firmware</th><td data-field="firmware-version">{version}</td></tr>
<tr><th>Targets</th><td data-field="targets">{total}</td></tr>
<tr><th>Started</th><td>{started}</td></tr>
<tr><th>Finished</th><td>{finished}</td></tr>
<tr><th>Run by</th><td data-field="operator">{operator}</td></tr>
<tr><th>From machine</th><td data-field="host">{host}</td></tr>
<tr><th>Broker</th><td class="mono">{broker}</td></tr>
<tr><th>Origin</th><td>{origin}</td></tr>
<tr><th>Timeouts</th><td>ack {ack}, completion {completion}</td></tr>
<tr><th>Rollout policy</th><td>{policy}</td></tr>
</table>
<div class="counts">"#,
        version = esc(&d.firmware_version),
        total = d.target_count,
        started = when(d.created_at),
        operator = or_not_recorded(input.run_by.operator.as_deref()),
        host = or_not_recorded(input.run_by.host.as_deref()),
        broker = or_not_recorded(d.broker.as_deref()),
        origin = if d.origin == "local" {
            "made with Storefleet here".into()
        } else {
            format!("{}: another operator's, seen on the broker", esc(&d.origin))
        },
        ack = span(d.ack_timeout_ms),
        completion = span(d.completion_timeout_ms),
        policy = policy_text(input),
    );
    for (key, label, n) in [
        ("completed", "completed", c.completed),
        ("failed", "failed", c.failed),
        ("timed_out", "timed out", c.timed_out),
        ("cancelled", "cancelled", c.cancelled),
        ("skipped", "skipped", c.skipped),
        ("in_progress", "in progress", in_progress(c)),
    ] {
        let _ = write!(
            h,
            r#"<div class="count {key}" data-count="{key}"><b>{n}</b>{label}</div>"#
        );
    }
    h.push_str("</div></section>\n");
}

fn policy_text(input: &ReportInput) -> String {
    let p = &input.deployment.policy;
    let mut parts = Vec::new();
    if let Some(c) = p.canary {
        parts.push(format!("canary of {c}"));
    }
    match p.wave_size {
        Some(w) => parts.push(format!("waves of {w}")),
        None => parts.push(if p.canary.is_some() {
            "then the rest at once".into()
        } else {
            "all at once".into()
        }),
    }
    if p.canary.is_some() || p.wave_size.is_some() {
        parts.push(match p.advance {
            Advance::Auto => format!(
                "next wave when {}% of the last completed",
                p.min_success_pct
            ),
            Advance::Manual => "next wave by hand".into(),
        });
    }
    if let Some(n) = p.max_in_flight {
        parts.push(format!("at most {n} in flight"));
    }
    if let Some(n) = p.max_in_flight_per_store {
        parts.push(format!("at most {n} in flight per store"));
    }
    match p.pause_on_failures {
        Some(FailureThreshold::Count { count }) => {
            parts.push(format!("pause after {count} failures"));
        }
        Some(FailureThreshold::Percent {
            percent,
            min_finished,
        }) => parts.push(format!(
            "pause when {percent}% fail (once {min_finished} finished)"
        )),
        None => {}
    }
    if p.schedule.is_some() {
        parts.push("scheduled (not-before, not-after or maintenance windows)".into());
    }
    esc(&parts.join(", ")).into_owned()
}

fn firmware(h: &mut String, input: &ReportInput) {
    let d = &input.deployment;
    let _ = write!(
        h,
        r#"<section data-section="firmware"><h2>Firmware</h2>
<table class="kv">
<tr><th>Version</th><td>{version}</td></tr>
<tr><th>URL</th><td class="mono">{url}</td></tr>
<tr><th>Size</th><td data-field="file-size">{size}</td></tr>
<tr><th>MD5</th><td class="mono" data-field="md5">{md5}</td></tr>
</table></section>
"#,
        version = esc(&d.firmware_version),
        url = esc(&d.file_url),
        size = bytes(d.file_size),
        md5 = esc(&d.checksum),
    );
}

fn timeline(h: &mut String, input: &ReportInput) {
    let d = &input.deployment;
    let end = d.finished_at.unwrap_or(input.generated_at);
    h.push_str(r#"<section data-section="timeline"><h2>Timeline</h2><p class="legend">"#);
    for s in &chart::SERIES {
        let _ = write!(
            h,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            s.colour,
            esc(s.label)
        );
    }
    h.push_str("</p>");
    h.push_str(&chart::svg(
        &input.transitions,
        d.target_count as usize,
        d.created_at,
        end,
    ));
    h.push_str("</section>\n");
}

fn waves(h: &mut String, input: &ReportInput) {
    let d = &input.deployment;
    let plan = plan_waves(d.target_count as usize, &d.policy);
    let has_canary = d.policy.canary.is_some_and(|c| c > 0);
    let mut started: BTreeMap<u32, Millis> = BTreeMap::new();
    for e in &input.rollout {
        if let RolloutEventKind::WaveStarted { wave } = e.kind {
            started.entry(wave).or_insert(e.at);
        }
    }
    let mut per_wave: BTreeMap<u32, StatusCounts> = BTreeMap::new();
    for t in &input.targets {
        per_wave.entry(t.wave).or_default().add_n(t.status, 1);
    }
    h.push_str(
        r#"<section data-section="waves"><h2>Waves</h2>
<table><tr><th>Wave</th><th class="num">Targets</th><th>Started</th><th class="num">Completed</th><th class="num">Failed or timed out</th><th class="num">Other</th></tr>"#,
    );
    for (i, size) in plan.iter().enumerate() {
        let i = i as u32;
        let c = per_wave.get(&i).copied().unwrap_or_default();
        let failed = c.failed + c.timed_out;
        let other = c.total().saturating_sub(c.completed + failed);
        let start = match started.get(&i) {
            Some(at) => when(*at),
            None if i == 0 && !has_canary && started.is_empty() => when(d.created_at),
            None => r#"<span class="muted">not started</span>"#.into(),
        };
        let _ = write!(
            h,
            r#"<tr data-wave="{i}"><td>{name}</td><td class="num">{size}</td><td>{start}</td><td class="num">{}</td><td class="num">{failed}</td><td class="num">{other}</td></tr>"#,
            c.completed,
            name = wave_name(i, has_canary),
        );
    }
    h.push_str("</table>");
    if !input.rollout.is_empty() {
        h.push_str(r#"<h3>Rollout events</h3><table><tr><th>When</th><th>Event</th></tr>"#);
        for e in &input.rollout {
            let what = match &e.kind {
                RolloutEventKind::Planned { waves } => {
                    let sizes: Vec<String> = waves.iter().map(u32::to_string).collect();
                    format!("planned {} wave(s): {}", waves.len(), sizes.join(", "))
                }
                RolloutEventKind::WaveStarted { wave } => {
                    format!("{} started", wave_name(*wave, has_canary))
                }
                RolloutEventKind::Paused { reason } => format!("paused: {reason}"),
                RolloutEventKind::Resumed => "resumed".into(),
            };
            let _ = write!(
                h,
                r#"<tr data-event="{}"><td>{}</td><td>{}</td></tr>"#,
                e.kind.code(),
                when(e.at),
                esc(&what)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>\n");
}

fn errors_list(errors: &[String]) -> String {
    if errors.is_empty() {
        return r#"<span class="muted">none reported</span>"#.into();
    }
    let mut s = String::from(r#"<ul class="errors">"#);
    for e in errors {
        let _ = write!(s, "<li>{}</li>", esc(e));
    }
    s.push_str("</ul>");
    s
}

fn failures(h: &mut String, input: &ReportInput) {
    let failed: Vec<&TargetStatusRow> = input
        .targets
        .iter()
        .filter(|t| is_failure(t.status))
        .collect();
    let _ = write!(
        h,
        r#"<section data-section="failures"><h2>Failures <span class="muted">({})</span></h2>"#,
        failed.len()
    );
    if failed.is_empty() {
        h.push_str("<p>No target failed or timed out.</p></section>\n");
        return;
    }
    // The most common errors first: one cause often explains many failures.
    let mut by_error: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &failed {
        if t.errors.is_empty() {
            *by_error.entry(t.status.as_str()).or_default() += 1;
        }
        for e in &t.errors {
            *by_error.entry(e.as_str()).or_default() += 1;
        }
    }
    let mut common: Vec<(&str, usize)> = by_error.into_iter().collect();
    common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    h.push_str(
        r#"<h3>Most common errors</h3><table><tr><th>Error</th><th class="num">Targets</th></tr>"#,
    );
    for (e, n) in common.iter().take(10) {
        let _ = write!(h, r#"<tr><td>{}</td><td class="num">{n}</td></tr>"#, esc(e));
    }
    h.push_str(
        r#"</table><h3>Failed targets</h3><table><tr><th>Store</th><th>Controller</th><th>Status</th><th class="num">Attempt</th><th>When</th><th>Errors</th></tr>"#,
    );
    for t in failed {
        let _ = write!(
            h,
            r#"<tr data-failure="{status}"><td class="mono id">{}</td><td class="mono id">{}</td><td class="status-{status}">{status}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&t.store_id),
            esc(&t.controller_id),
            t.attempt,
            when(t.updated_at),
            errors_list(&t.errors),
            status = t.status.as_str(),
        );
    }
    h.push_str("</table></section>\n");
}

fn targets(h: &mut String, targets: &[TargetStatusRow]) {
    let _ = write!(
        h,
        r#"<section data-section="targets"><h2>Targets</h2><details><summary>All {} targets</summary>
<table><tr><th>Store</th><th>Controller</th><th>Wave</th><th>Status</th><th class="num">Attempt</th><th>Updated</th></tr>"#,
        targets.len()
    );
    for t in targets {
        let _ = write!(
            h,
            r#"<tr data-target="{status}"><td class="mono id">{}</td><td class="mono id">{}</td><td class="num">{}</td><td class="status-{status}">{status}</td><td class="num">{}</td><td>{}</td></tr>"#,
            esc(&t.store_id),
            esc(&t.controller_id),
            t.wave,
            t.attempt,
            when(t.updated_at),
            status = t.status.as_str(),
        );
    }
    h.push_str("</table></details></section>\n");
}
