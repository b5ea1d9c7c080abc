//! A run's timeline as SVG: one row per node in order of its first start, one bar per
//! attempt (retries side by side on the node's row, numbered), a still-open attempt drawn
//! up to "now" and marked `open` so the page's script can grow it, and a relative time axis.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{Esc, cut, state_class};

/// One attempt of one node. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub node: String,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    pub start: i64,
    /// `None` while the attempt is still running or waiting.
    pub end: Option<i64>,
    /// The attempt's state, as the runtime names it (`running`, `failed`, …).
    pub state: String,
}

/// Node names on the left, then the chart, in SVG user units.
const LABEL_W: i64 = 180;
const CHART_W: i64 = 720;
const MARGIN: i64 = 8;
/// Room on the right for the last tick's label.
const RIGHT: i64 = 32;
const AXIS_H: i64 = 24;
const ROW_H: i64 = 22;
const BAR_H: i64 = 14;
/// A zero-length attempt still gets a visible sliver.
const MIN_BAR_W: f64 = 2.0;
/// Node names are cut to this many average characters (12 px font).
const LABEL_CHARS: usize = ((LABEL_W - 2 * MARGIN) / 7) as usize;
/// Tick steps in ms, smallest first; the first giving at most [`MAX_TICKS`] intervals wins
/// (longer spans step by whole days).
const STEPS: [i64; 21] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
    3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];
const DAY: i64 = 86_400_000;
const MAX_TICKS: i64 = 6;

/// Draws `bars` as a complete `<svg class="timeline">`, with open bars reaching `now`. The
/// root carries the scale (`data-t0`, `data-span`, `data-x0`, `data-width`: x = x0 + (t −
/// t0) × width / span) so a script can grow open bars between two renderings.
pub fn timeline(bars: &[Bar], now: i64) -> String {
    let Some(t0) = bars.iter().map(|b| b.start).min() else {
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 240 32\" width=\"240\" height=\"32\" \
                class=\"timeline empty\" role=\"img\" aria-label=\"no node has started yet\">\
                <text x=\"8\" y=\"20\" font-size=\"12\">no node has started yet</text></svg>"
            .to_owned();
    };
    let last = bars.iter().map(|b| b.end.unwrap_or(now).max(b.start)).max().unwrap_or(t0);
    let span = last.saturating_sub(t0).max(1_000);
    let x_of = |t: i64| LABEL_W as f64 + t.saturating_sub(t0) as f64 * CHART_W as f64 / span as f64;

    // Rows in order of each node's first start (then by name); attempts in order within.
    let mut rows: Vec<(&str, i64, Vec<&Bar>)> = Vec::new();
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for bar in bars {
        let row = *row_of.entry(bar.node.as_str()).or_insert_with(|| {
            rows.push((&bar.node, bar.start, Vec::new()));
            rows.len() - 1
        });
        rows[row].1 = rows[row].1.min(bar.start);
        rows[row].2.push(bar);
    }
    rows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    for (_, _, attempts) in &mut rows {
        attempts.sort_by(|a, b| (a.attempt, a.start, a.end, &a.state).cmp(&(b.attempt, b.start, b.end, &b.state)));
    }

    let width = LABEL_W + CHART_W + RIGHT;
    let height = AXIS_H + rows.len() as i64 * ROW_H + MARGIN;
    let mut out = String::with_capacity(512 + bars.len() * 330);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" class=\"timeline\" role=\"img\" aria-label=\"timeline of {n} nodes\" \
         data-t0=\"{t0}\" data-span=\"{span}\" data-x0=\"{LABEL_W}\" data-width=\"{CHART_W}\" font-size=\"12\">",
        n = rows.len(),
    );

    let step =
        STEPS.iter().copied().find(|s| span / s <= MAX_TICKS).unwrap_or_else(|| (span / MAX_TICKS / DAY + 1) * DAY);
    out.push_str("<g class=\"axis\" stroke=\"#dadce0\">");
    let mut t = 0;
    while t <= span {
        let x = x_of(t0 + t);
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{y2}\"/>\
             <text class=\"tick-label\" x=\"{x:.1}\" y=\"{ly}\" text-anchor=\"middle\" stroke=\"none\" \
             fill=\"#5f6368\">{label}</text>",
            y1 = AXIS_H - 4,
            y2 = height - MARGIN,
            ly = AXIS_H - 8,
            label = offset(t),
        );
        match t.checked_add(step) {
            Some(next) => t = next,
            None => break,
        }
    }
    out.push_str("</g>");

    for (i, (node, _, attempts)) in rows.iter().enumerate() {
        let top = AXIS_H + i as i64 * ROW_H;
        let bar_y = top + (ROW_H - BAR_H) / 2;
        let name = Esc(node);
        let _ = write!(
            out,
            "<g class=\"row\" data-node=\"{name}\"><text class=\"node-name\" x=\"{x}\" y=\"{y}\" \
             text-anchor=\"end\"><title>{name}</title>{label}</text>",
            x = LABEL_W - MARGIN,
            y = top + ROW_H / 2 + 4,
            label = Esc(&cut(node, LABEL_CHARS)),
        );
        // Numbers only where there were retries: a wait for an approval and the rest of
        // the same attempt after it are two bars of one attempt.
        let numbered = attempts.iter().any(|b| b.attempt != attempts[0].attempt);
        let mut shown = std::collections::HashSet::new();
        for bar in attempts {
            let end = bar.end.unwrap_or(now).max(bar.start);
            let took = end.saturating_sub(bar.start);
            let x = x_of(bar.start);
            let w = (x_of(end) - x).max(MIN_BAR_W);
            let _ = write!(
                out,
                "<rect class=\"bar state-{state}{open}\" data-node=\"{name}\" data-attempt=\"{attempt}\" \
                 data-start=\"{start}\"",
                state = state_class(&bar.state),
                open = if bar.end.is_none() { " open" } else { "" },
                attempt = bar.attempt,
                start = bar.start,
            );
            if let Some(end) = bar.end {
                let _ = write!(out, " data-end=\"{end}\"");
            }
            let _ = write!(
                out,
                " x=\"{x:.1}\" y=\"{bar_y}\" width=\"{w:.1}\" height=\"{BAR_H}\" rx=\"2\" fill=\"#9aa0a6\">\
                 <title>{name} · attempt {attempt} · {took}{still}</title></rect>",
                attempt = bar.attempt,
                took = duration(took),
                still = if bar.end.is_none() { " so far" } else { "" },
            );
            if (numbered || bar.attempt > 1) && shown.insert(bar.attempt) {
                // Inside a bar wide enough for the number, else just after it.
                let tx = if w >= 24.0 { x + 3.0 } else { x + w + 2.0 };
                let _ = write!(
                    out,
                    "<text class=\"attempt\" x=\"{tx:.1}\" y=\"{y}\" font-size=\"10\">#{n}</text>",
                    y = bar_y + BAR_H - 3,
                    n = bar.attempt,
                );
            }
        }
        out.push_str("</g>");
    }

    if now >= t0 && now <= t0.saturating_add(span) {
        let x = x_of(now);
        let _ = write!(
            out,
            "<line class=\"now\" x1=\"{x:.1}\" y1=\"{AXIS_H}\" x2=\"{x:.1}\" y2=\"{y2}\" stroke=\"#d93025\"/>",
            y2 = height - MARGIN,
        );
    }
    out.push_str("</svg>");
    out
}

/// A tick label: `+0s`, `+0.5s`, `+30s`, `+1m30s`, `+2m`, `+1h`, `+1h30m`, `+2d`.
fn offset(ms: i64) -> String {
    let secs = ms / 1000;
    if ms % 1000 != 0 {
        format!("+{secs}.{}s", (ms % 1000) / 100)
    } else if secs < 60 {
        format!("+{secs}s")
    } else if secs < 3600 {
        match secs % 60 {
            0 => format!("+{}m", secs / 60),
            s => format!("+{}m{s}s", secs / 60),
        }
    } else if secs < 86_400 {
        match (secs % 3600) / 60 {
            0 => format!("+{}h", secs / 3600),
            m => format!("+{}h{m}m", secs / 3600),
        }
    } else {
        format!("+{}d", secs / 86_400)
    }
}

/// An attempt's duration for its tooltip: `340 ms`, `12.3 s`, `2 m 05 s`, `1 h 02 m`.
fn duration(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
    } else if ms < 3_600_000 {
        format!("{} m {:02} s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{} h {:02} m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

#[cfg(test)]
mod units {
    use super::{duration, offset};

    #[test]
    fn tick_labels_are_relative() {
        let labels: Vec<String> =
            [0, 500, 30_000, 90_000, 120_000, 3_600_000, 5_400_000, 172_800_000].into_iter().map(offset).collect();
        assert_eq!(labels, ["+0s", "+0.5s", "+30s", "+1m30s", "+2m", "+1h", "+1h30m", "+2d"]);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(340), "340 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(125_000), "2 m 05 s");
        assert_eq!(duration(3_720_000), "1 h 02 m");
    }
}
