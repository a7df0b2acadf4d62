//! The report's timeline: how many targets had acknowledged, completed and failed at each
//! moment, from the deployment's transitions, drawn as an inline SVG of step lines.

use std::fmt::Write;

use super::html::esc;
use crate::engine::{Millis, TargetStatus, Transition};

/// The plot's size in SVG units (the image scales to the page's width).
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;

/// One line of the chart: its label, colour, and which statuses it counts.
pub(super) struct Series {
    pub label: &'static str,
    pub colour: &'static str,
    counts: fn(TargetStatus) -> bool,
}

pub(super) const SERIES: [Series; 3] = [
    Series {
        label: "acknowledged (or further)",
        colour: "#1f6feb",
        counts: |s| {
            matches!(
                s,
                TargetStatus::Acknowledged | TargetStatus::Completed | TargetStatus::Failed
            )
        },
    },
    Series {
        label: "completed",
        colour: "#2a9d56",
        counts: |s| s == TargetStatus::Completed,
    },
    Series {
        label: "failed or timed out",
        colour: "#d1495b",
        counts: |s| matches!(s, TargetStatus::Failed | TargetStatus::TimedOut),
    },
];

/// The counts of each series right after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Point {
    pub at: Millis,
    pub values: [usize; 3],
}

/// The counts after every transition, oldest first. Each transition moves one target from
/// one status to another, so the counts follow from `from` and `to` alone.
pub(super) fn points(transitions: &[Transition]) -> Vec<Point> {
    let mut values = [0usize; 3];
    transitions
        .iter()
        .map(|t| {
            for (v, s) in values.iter_mut().zip(&SERIES) {
                if (s.counts)(t.from) {
                    *v = v.saturating_sub(1);
                }
                if (s.counts)(t.to) {
                    *v += 1;
                }
            }
            Point { at: t.at, values }
        })
        .collect()
}

/// Clock time of day in UTC, for the axis.
fn clock(at: Millis) -> String {
    at.to_datetime()
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The chart as an `<svg>` element: x from `start` to the last transition (or `end`), y from
/// 0 to `total` targets.
pub(super) fn svg(transitions: &[Transition], total: usize, start: Millis, end: Millis) -> String {
    let points = points(transitions);
    let last = points.last().map_or(start, |p| p.at);
    let t0 = start.0.min(points.first().map_or(start.0, |p| p.at.0));
    let t1 = end.0.max(last.0).max(t0 + 1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |at: Millis| LEFT + (at.0.saturating_sub(t0)) as f64 / (t1 - t0) as f64 * plot_w;
    let top = total.max(1) as f64;
    let y = |n: usize| TOP + plot_h - n as f64 / top * plot_h;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Targets acknowledged, completed and failed over time, of {total}</title>"##
    );
    // Grid and y labels: 0, a quarter… all targets.
    for q in 0..=4 {
        let n = total * q / 4;
        let yy = y(n);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="#555">{n}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    // x labels: start, middle, end.
    for (at, anchor) in [
        (Millis(t0), "start"),
        (Millis(t0 + (t1 - t0) / 2), "middle"),
        (Millis(t1), "end"),
    ] {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}" font-size="11" fill="#555">{}</text>"##,
            x(at),
            TOP + plot_h + 16.0,
            esc(&clock(at))
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#555">time (UTC)</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 4.0
    );
    if points.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" fill="#555">No transitions recorded.</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    // Step lines, one point per pixel column at most (a large deployment has many thousand
    // transitions; the last counts in a column are the ones drawn).
    let columns = sampled(&points, |p| x(p.at) as u32);
    for (i, series) in SERIES.iter().enumerate() {
        let mut path = format!("{:.1},{:.1}", x(Millis(t0)), y(0));
        let mut prev = 0;
        for p in &columns {
            let (px, v) = (x(p.at), p.values[i]);
            let _ = write!(path, " {px:.1},{:.1} {px:.1},{:.1}", y(prev), y(v));
            prev = v;
        }
        let _ = write!(path, " {:.1},{:.1}", x(Millis(t1)), y(prev));
        let _ = write!(
            s,
            r##"<polyline data-series="{}" fill="none" stroke="{}" stroke-width="2" points="{path}"/>"##,
            esc(series.label),
            series.colour
        );
    }
    s.push_str("</svg>");
    s
}

/// The last point of each run of points that share a column.
fn sampled(points: &[Point], column: impl Fn(&Point) -> u32) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::new();
    let mut last_column = None;
    for p in points {
        let c = column(p);
        if last_column == Some(c) {
            *out.last_mut().expect("a point per seen column") = *p;
        } else {
            out.push(*p);
            last_column = Some(c);
        }
    }
    out
}
