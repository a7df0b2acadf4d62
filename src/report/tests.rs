//! The report from hand-made input: what it shows, and that field values cannot inject
//! markup.

use super::chart::points;
use super::*;
use crate::engine::{
    DeploymentState, Millis, RolloutEvent, RolloutEventKind, RolloutPolicy, StatusCounts,
    TargetStatus, Transition,
};
use crate::history::{DeploymentRow, RunBy, TargetStatusRow};
use crate::protocol::Id;

const T0: u64 = 1_764_650_000_000;

fn target(store: &str, controller: &str, status: TargetStatus, errors: &[&str]) -> TargetStatusRow {
    TargetStatusRow {
        store_id: store.into(),
        controller_id: controller.into(),
        status,
        attempt: 1,
        errors: errors.iter().map(|e| (*e).to_owned()).collect(),
        updated_at: Millis(T0 + 5_000),
        wave: 0,
    }
}

fn transition(controller: &str, from: TargetStatus, to: TargetStatus, at: u64) -> Transition {
    Transition {
        deployment_id: Id::new("dep").unwrap(),
        store_id: Id::new("s1").unwrap(),
        controller_id: Id::new(controller).unwrap(),
        attempt: 1,
        from,
        to,
        at: Millis(T0 + at),
        errors: Vec::new(),
        wave: 0,
    }
}

/// Two targets of three completed, one failed; made by `ops` on `till-3`.
fn input(targets: Vec<TargetStatusRow>) -> ReportInput {
    use TargetStatus::*;
    let mut counts = StatusCounts::default();
    for t in &targets {
        counts.add_n(t.status, 1);
    }
    ReportInput {
        deployment: DeploymentRow {
            deployment_id: "0b4f7a3e-dep".into(),
            firmware_version: "2.4.1".into(),
            file_url: "http://10.0.0.5:7380/fw/tok/fw.bin".into(),
            file_size: 3 * 1024 * 1024,
            checksum: "8a3be389a446bba670da3a33e5506d2e".into(),
            ack_timeout_ms: 30_000,
            completion_timeout_ms: 600_000,
            created_at: Millis(T0),
            target_count: targets.len() as u64,
            origin: "local".into(),
            finished_at: Some(Millis(T0 + 9_000)),
            counts,
            state: DeploymentState::Finished,
            paused_reason: None,
            policy: RolloutPolicy {
                canary: Some(1),
                ..RolloutPolicy::default()
            },
            broker: Some("mqtt://10.0.0.2:1883".into()),
            topic_prefix: None,
        },
        targets,
        transitions: vec![
            transition("c1", Queued, Sent, 1_000),
            transition("c1", Sent, Acknowledged, 2_000),
            transition("c1", Acknowledged, Completed, 4_000),
            transition("c2", Queued, Sent, 5_000),
            transition("c3", Queued, Sent, 5_000),
            transition("c2", Sent, Acknowledged, 6_000),
            transition("c2", Acknowledged, Completed, 7_000),
            transition("c3", Sent, TimedOut, 8_000),
        ],
        rollout: vec![
            RolloutEvent {
                deployment_id: Id::new("dep").unwrap(),
                at: Millis(T0),
                kind: RolloutEventKind::Planned { waves: vec![1, 2] },
            },
            RolloutEvent {
                deployment_id: Id::new("dep").unwrap(),
                at: Millis(T0 + 4_500),
                kind: RolloutEventKind::WaveStarted { wave: 1 },
            },
        ],
        run_by: RunBy {
            operator: Some("ops".into()),
            host: Some("till-3".into()),
        },
        generated_at: Millis(T0 + 60_000),
        generator: "Storefleet 0.1.0".into(),
    }
}

fn plain() -> ReportInput {
    use TargetStatus::*;
    let mut c2 = target("s1", "c2", Completed, &[]);
    c2.wave = 1;
    let mut c3 = target("s1", "c3", TimedOut, &["no ack within 30 s"]);
    c3.wave = 1;
    input(vec![target("s1", "c1", Completed, &[]), c2, c3])
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in the report"))
        + start.len();
    let to = html[from..].find(end).unwrap() + from;
    &html[from..to]
}

#[test]
fn the_report_shows_summary_firmware_who_waves_and_failures() {
    let html = render_html(&plain());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(between(&html, r#"data-count="completed"><b>"#, "<"), "2");
    assert_eq!(between(&html, r#"data-count="timed_out"><b>"#, "<"), "1");
    assert_eq!(between(&html, r#"data-count="failed"><b>"#, "<"), "0");
    assert_eq!(between(&html, r#"data-field="state">"#, "<"), "finished");
    assert_eq!(between(&html, r#"data-field="operator">"#, "<"), "ops");
    assert_eq!(between(&html, r#"data-field="host">"#, "<"), "till-3");
    assert_eq!(
        between(&html, r#"data-field="md5">"#, "<"),
        "8a3be389a446bba670da3a33e5506d2e"
    );
    assert_eq!(
        between(&html, r#"data-field="file-size">"#, "<"),
        "3.0 MiB (3145728 bytes)"
    );
    assert!(html.contains("http://10.0.0.5:7380/fw/tok/fw.bin"));
    assert!(
        html.contains("2025-12-02 04:33:20 UTC"),
        "the start, in UTC"
    );
    assert!(html.contains("after 9 s"));
    assert!(html.contains("canary of 1"));
    // Waves: the canary (1 completed) and wave 1 (1 completed, 1 timed out), started.
    let canary = between(&html, r#"<tr data-wave="0">"#, "</tr>");
    assert!(
        canary.starts_with("<td>Canary</td><td class=\"num\">1</td>"),
        "{canary}"
    );
    let wave1 = between(&html, r#"<tr data-wave="1">"#, "</tr>");
    assert!(wave1.contains("2025-12-02 04:33:24 UTC"), "{wave1}");
    assert!(
        wave1.ends_with(r#"<td class="num">1</td><td class="num">1</td><td class="num">0</td>"#),
        "{wave1}"
    );
    assert!(html.contains(r#"data-event="planned""#) && html.contains("planned 2 wave(s): 1, 2"));
    // Failures with their errors, and all targets.
    assert_eq!(html.matches("<tr data-failure=").count(), 1);
    assert!(
        between(&html, r#"<tr data-failure="timed_out">"#, "</tr>")
            .contains("<li>no ack within 30 s</li>")
    );
    assert_eq!(html.matches("<tr data-target=").count(), 3);
    // The chart: three step lines.
    assert_eq!(html.matches("<polyline data-series=").count(), 3);
}

#[test]
fn the_report_is_self_contained() {
    let html = render_html(&plain());
    let lower = html.to_lowercase();
    for banned in [
        "<script", "<link", "<img", "<iframe", " src=", " href=", "url(", "@import",
    ] {
        assert!(!lower.contains(banned), "{banned} in the report");
    }
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("default-src 'none'"));
    assert_eq!(html.matches("<svg").count(), 1);
}

#[test]
fn hostile_values_are_escaped() {
    let evil = r#"<script>alert(1)</script>"#;
    let attr = r#""><img src=x onerror=alert(2)>"#;
    let mut i = input(vec![target(
        evil,
        attr,
        TargetStatus::Failed,
        &[evil, "a & b 'quoted'"],
    )]);
    i.deployment.deployment_id = attr.into();
    i.deployment.firmware_version = evil.into();
    i.deployment.file_url = attr.into();
    i.deployment.paused_reason = Some(evil.into());
    i.run_by = RunBy {
        operator: Some(evil.into()),
        host: Some(attr.into()),
    };
    i.rollout.push(RolloutEvent {
        deployment_id: Id::new("dep").unwrap(),
        at: Millis(T0),
        kind: RolloutEventKind::Paused {
            reason: attr.into(),
        },
    });
    i.generator = evil.into();
    let html = render_html(&i);
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "{html}");
    assert!(!lower.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("a &amp; b &#39;quoted&#39;"));
    // No attribute was closed early by a value: every quote in the file is markup's own.
    assert!(!html.contains(r#"""><"#));
}

#[test]
fn nothing_recorded_reads_as_not_recorded() {
    let mut i = plain();
    i.run_by = RunBy::default();
    i.deployment.broker = None;
    i.transitions.clear();
    let html = render_html(&i);
    assert!(between(&html, r#"data-field="operator">"#, "</td>").contains("not recorded"));
    assert!(between(&html, r#"data-field="host">"#, "</td>").contains("not recorded"));
    assert!(html.contains("No transitions recorded."));
}

#[test]
fn the_chart_counts_targets_over_time() {
    let p = points(&plain().transitions);
    let at = |ms: u64| p.iter().rev().find(|p| p.at.0 <= T0 + ms).unwrap().values;
    // [acknowledged or further, completed, failed or timed out]
    assert_eq!(at(2_000), [1, 0, 0]);
    assert_eq!(at(4_000), [1, 1, 0]);
    assert_eq!(at(6_000), [2, 1, 0]);
    assert_eq!(at(8_000), [2, 2, 1]);
}

#[test]
fn exporting_an_unknown_deployment_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("h.sqlite")).unwrap();
    for format in [ExportFormat::Csv, ExportFormat::Jsonl, ExportFormat::Html] {
        let mut out = Vec::new();
        let e = write_export(&history, "nope", format, Millis(T0), &mut out).unwrap_err();
        assert!(matches!(e, ExportError::UnknownDeployment(_)), "{e}");
        assert_eq!(e.to_string(), "no deployment nope in the history");
        assert!(out.is_empty());
    }
}

#[test]
fn a_large_deployment_draws_a_bounded_chart() {
    use TargetStatus::*;
    // 10,000 targets, three transitions each, over an hour.
    let targets: Vec<TargetStatusRow> = (0..10_000)
        .map(|i| target("s1", &format!("c{i}"), Completed, &[]))
        .collect();
    let mut i = input(targets);
    i.transitions = (0..10_000u64)
        .flat_map(|n| {
            let c = format!("c{n}");
            let at = n * 360;
            [
                transition(&c, Queued, Sent, at),
                transition(&c, Sent, Acknowledged, at + 100),
                transition(&c, Acknowledged, Completed, at + 200),
            ]
        })
        .collect();
    i.deployment.finished_at = Some(Millis(T0 + 3_600_000));
    let html = render_html(&i);
    assert_eq!(html.matches("<tr data-target=").count(), 10_000);
    assert_eq!(
        between(&html, r#"data-count="completed"><b>"#, "<"),
        "10000"
    );
    // At most one step per pixel column, whatever the number of transitions.
    for line in html.split("<polyline ").skip(1) {
        let points = between(line, r#"points=""#, "\"").split(' ').count();
        assert!(points < 2 * 700 + 3, "{points} points");
    }
    // The last step of the completed line reaches every target.
    let completed = between(&html, r#"data-series="completed""#, "/>");
    assert!(
        completed.contains(",14.0"),
        "the line ends at the top: {}",
        &completed[completed.len() - 60..]
    );
    assert!(html.len() < 3_000_000, "{} bytes", html.len());
}
