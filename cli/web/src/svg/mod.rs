//! Pure SVG drawing for the web UI: a skill's DAG ([`dag`]) and a run's timeline
//! ([`timeline`]), as complete `<svg>` text ready to inline into a page.
//!
//! The drawings carry classes and `data-*` attributes only, never a `style=` attribute or a
//! `<script>`: the page's stylesheet colours them by state (a strict CSP forbids inline
//! styles) and its script finds nodes and bars by id and `data-node`. Neutral presentation
//! attributes (`fill`, `stroke`) keep a drawing legible before any CSS applies; any CSS rule
//! overrides them. Every piece of caller text goes through [`escape`].

mod dag;
mod timeline;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

pub use dag::{DagNode, dag};
pub use timeline::{Bar, timeline};

/// A state of a node run as the runtime names it, with the colour the page gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The runtime's name, used as the class `state-{name}`.
    pub name: &'static str,
    /// A CSS colour for the state (DAG box border, timeline bar fill).
    pub colour: &'static str,
}

/// The node states of the runtime, in the order of a run's life.
pub const STATES: [State; 9] = [
    State { name: "pending", colour: "#9aa0a6" },
    State { name: "running", colour: "#1a73e8" },
    State { name: "waiting", colour: "#f9ab00" },
    State { name: "retrying", colour: "#e8710a" },
    State { name: "succeeded", colour: "#188038" },
    State { name: "failed", colour: "#d93025" },
    State { name: "skipped", colour: "#bdc1c6" },
    State { name: "rejected", colour: "#a142f4" },
    State { name: "cancelled", colour: "#5f6368" },
];

/// The state a DAG node shows when the caller knows none.
pub const DEFAULT_STATE: &str = "pending";

/// The stylesheet rules that colour both drawings by state, for the page's CSS file (served
/// from `'self'`, so a strict CSP allows it). Generated here so the class names the SVG
/// writes and the rules that match them live in one place.
pub fn css() -> String {
    use fmt::Write as _;
    let mut out = String::from(
        ".dag .edge{fill:none;stroke:#9aa0a6;stroke-width:1.5}\n\
         .dag .edge.back{stroke-dasharray:4 3}\n\
         .dag .node rect{fill:#fff;stroke-width:2}\n\
         .dag .node text{fill:#202124}\n\
         .dag .node text.kind{fill:#5f6368}\n\
         .timeline .bar.open{stroke-dasharray:3 2;stroke:#202124}\n\
         .timeline .tick{stroke:#dadce0}\n\
         .timeline .now{stroke:#d93025}\n",
    );
    for state in STATES {
        let _ = writeln!(out, ".dag .node.state-{0} rect{{stroke:{1}}}", state.name, state.colour);
        let _ = writeln!(out, ".timeline .bar.state-{0}{{fill:{1}}}", state.name, state.colour);
    }
    out
}

/// Escapes `text` for XML character data and attribute values: `& < > " '` become
/// entities, and control characters other than `\n` and `\t` (and the non-characters
/// U+FFFE, U+FFFF, which XML forbids) are dropped.
pub fn escape(text: &str) -> String {
    Esc(text).to_string()
}

/// [`escape`] as a `Display`, so drawings can `write!` escaped text without an
/// intermediate `String` per value.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let mut clean_from = 0;
        for (at, c) in text.char_indices() {
            let replacement = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                '\n' | '\t' => continue,
                '\u{FFFE}' | '\u{FFFF}' => "",
                c if c.is_control() => "",
                _ => continue,
            };
            f.write_str(&text[clean_from..at])?;
            f.write_str(replacement)?;
            clean_from = at + c.len_utf8();
        }
        f.write_str(&text[clean_from..])
    }
}

/// The class token for a state: the name itself when it is made of `[a-z0-9_-]` (so a
/// state the runtime adds later still gets its own class), `unknown` otherwise, so a
/// caller's string can never add classes or break out of the attribute.
pub(crate) fn state_class(state: &str) -> &str {
    let plain = !state.is_empty()
        && state.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if plain { state } else { "unknown" }
}

/// Cuts `text` to at most `max` width units (an average Latin character is one unit, an
/// East Asian wide character or emoji two), ending a cut text with `…`. SVG has no text
/// measurement without a browser, so this estimate is what keeps labels inside their box.
pub(crate) fn cut(text: &str, max: usize) -> Cow<'_, str> {
    let total: usize = text.chars().map(width).sum();
    if total <= max {
        return Cow::Borrowed(text);
    }
    let mut used = 1; // the ellipsis
    let mut end = 0;
    for (at, c) in text.char_indices() {
        used += width(c);
        if used > max {
            break;
        }
        end = at + c.len_utf8();
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

/// The width of a character in units of an average Latin character.
fn width(c: char) -> usize {
    let wide = matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF | 0x20000..=0x3FFFD);
    if wide { 2 } else { 1 }
}
