//! Prompt-injection scanner for untrusted text (HTTP responses, file contents, tool results,
//! incoming messages, memory writes).
//!
//! [`scan`] returns [`Finding`]s, each with a [`Category`], the byte span in the *original* text,
//! a short printable excerpt and the name of the rule that fired. Callers log them to the security
//! log, attach them to the node's output metadata and apply the skill's `on_injection` policy.
//!
//! How it works:
//!
//! 1. **Hidden text** is found on the original text: runs of zero-width characters, Unicode tag
//!    characters (the invisible "ASCII smuggling" alphabet), bidi overrides and isolates outside
//!    right-to-left text, variation-selector runs, and long whitespace runs that push content out
//!    of sight. Benign uses (a BOM at the start, emoji ZWJ sequences, subdivision-flag tags, bidi
//!    isolates around Hebrew or Arabic) are not reported.
//! 2. The text is **normalised** once: lower-cased, whitespace runs collapsed to one space (or one
//!    newline when the run held a line break), zero-width and other invisible characters and
//!    combining marks dropped, Latin accents folded (`é` → `e`), homoglyphs mapped to ASCII
//!    (Cyrillic and Greek lookalikes, fullwidth forms, mathematical alphanumerics, small capitals,
//!    enclosed letters), curly quotes and dashes straightened, tag characters decoded to the
//!    ASCII they encode, and JSON/HTML escapes (`\n`, `\u0069`, `&#105;`, `&lt;`) read as the
//!    characters they stand for, since tool results are often JSON and web pages are HTML. A
//!    paragraph break is kept as such, so phrases never match across paragraphs. A compact
//!    segment map remembers where every normalised byte came from, so spans are reported in the
//!    original text, on character boundaries.
//! 3. **Pattern rules** (compiled once) run over the normalised text. Rules are deliberately
//!    phrase-shaped rather than keyword-shaped: "ignore my previous email" or "the recipe's
//!    instructions" do not fire, "ignore all previous instructions" does. Some rules only count
//!    when the surrounding sentence is not negated ("never send your password to …"), some need
//!    a context (a `curl … | sh` is only smuggling when the text addresses an AI or asks for
//!    stealth), and beacons are checked for data-carrying query strings.
//!
//! Everything is linear in the input: the regex engine guarantees it for each rule, and the
//! extra checks look at bounded windows. Findings of one category that overlap are merged.
//!
//! Layout: this file holds the public API, the merging of raw hits into findings and the excerpt
//! rendering; `chars` classifies and folds single characters, `normalize` builds the normalised
//! text and its offset map, `hidden` finds hidden text, and `rules` holds the pattern rules (one
//! file per category) and the machinery that compiles and applies them.

mod chars;
mod hidden;
mod normalize;
mod rules;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;

use serde::Serialize;

use chars::{Fold, fold, invisible};
use hidden::{hidden_runs, whitespace_padding};
use normalize::Normalized;
use rules::rules;

/// What kind of injection a finding looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// "Ignore all previous instructions", "new instructions:", "you must now …".
    InstructionOverride,
    /// "You are now DAN", fake `system:` headers, chat-template tokens.
    RoleHijack,
    /// Requests to send, print or beacon out secrets or the system prompt.
    Exfiltration,
    /// Fake tool-call JSON or tags, "call the exec tool with …", `curl … | sh` aimed at the agent.
    ToolCallSmuggling,
    /// Content a human reader would not see: zero-width, tag, bidi characters, whitespace padding.
    HiddenText,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 5] = [
        Category::InstructionOverride,
        Category::RoleHijack,
        Category::Exfiltration,
        Category::ToolCallSmuggling,
        Category::HiddenText,
    ];

    /// The snake_case name used in logs, metadata and corpus file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::InstructionOverride => "instruction_override",
            Category::RoleHijack => "role_hijack",
            Category::Exfiltration => "exfiltration",
            Category::ToolCallSmuggling => "tool_call_smuggling",
            Category::HiddenText => "hidden_text",
        }
    }

    /// The category named `name` (as returned by [`Category::as_str`]).
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One suspicious passage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub category: Category,
    /// Byte range in the original text, on character boundaries.
    pub span: Range<usize>,
    /// A short, printable rendering of the passage (invisible characters escaped).
    pub excerpt: String,
    /// The rule that fired, for tests and for tuning.
    pub rule: &'static str,
}

/// Inputs longer than this are scanned up to this length (offsets are kept as `u32`).
const MAX_SCAN_BYTES: usize = u32::MAX as usize - 1;
/// Longest excerpt, in characters.
const EXCERPT_CHARS: usize = 80;
/// Hidden-text runs of one rule this close together (in bytes) are reported as one finding.
const HIDDEN_MERGE_GAP: usize = 16;

/// Scans `text` for prompt injection. Findings are sorted by span start.
pub fn scan(text: &str) -> Vec<Finding> {
    let text = &text[..floor_char_boundary(text, text.len().min(MAX_SCAN_BYTES))];
    let mut raw = Vec::new();
    hidden_runs(text, &mut raw);
    whitespace_padding(text, &mut raw);
    let norm = Normalized::new(text);
    for rule in rules() {
        for m in rule.re.find_iter(&norm.text) {
            if m.is_empty() || !rule.accepts(&norm.text, m.range(), text, &norm) {
                continue;
            }
            raw.push(Raw {
                category: rule.category,
                span: norm.to_original(m.range()),
                rule: rule.name,
                excerpt: None,
            });
        }
    }
    finish(text, raw)
}

// ---------------------------------------------------------------------------------------------
// Findings before merging.

struct Raw {
    category: Category,
    span: Range<usize>,
    rule: &'static str,
    excerpt: Option<String>,
}

fn finish(text: &str, mut raw: Vec<Raw>) -> Vec<Finding> {
    raw.sort_by_key(|r| (r.category, r.span.start, std::cmp::Reverse(r.span.end)));
    let mut merged: Vec<Raw> = Vec::with_capacity(raw.len());
    for r in raw {
        match merged.last_mut() {
            Some(last)
                if last.category == r.category
                    && (r.span.start < last.span.end
                        || (r.category == Category::HiddenText
                            && r.rule == last.rule
                            && r.span.start <= last.span.end + HIDDEN_MERGE_GAP)) =>
            {
                if r.span.start >= last.span.end {
                    last.excerpt = None; // several runs: show the passage with the runs escaped
                }
                last.span.end = last.span.end.max(r.span.end);
            }
            _ => merged.push(r),
        }
    }
    let mut out: Vec<Finding> = merged
        .into_iter()
        .map(|r| Finding {
            category: r.category,
            excerpt: r.excerpt.unwrap_or_else(|| printable(&text[r.span.clone()], EXCERPT_CHARS)),
            span: r.span,
            rule: r.rule,
        })
        .collect();
    out.sort_by_key(|f| (f.span.start, f.category));
    out
}

/// `s` made safe to print on one line: whitespace runs become one space, tag characters are
/// shown decoded inside `⟦…⟧`, other invisible and control characters are escaped as `\u{…}`,
/// and the result is cut at `max` characters.
fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0; // characters in `out`
    let mut push = |out: &mut String, piece: &str| {
        out.push_str(piece);
        n += piece.chars().count();
        n >= max
    };
    let mut last_space = false;
    let mut in_tags = false;
    let mut full = false;
    let mut buf = [0u8; 4];
    for c in s.chars() {
        if full {
            out.push('…');
            break;
        }
        let tag = matches!(c as u32, 0xE0000..=0xE007F);
        if tag != in_tags {
            in_tags = tag;
            full = push(&mut out, if tag { "⟦" } else { "⟧" });
        }
        full |= if tag {
            match fold(c) {
                Fold::Tag(a) => push(&mut out, a.encode_utf8(&mut buf)),
                _ => false,
            }
        } else if c.is_whitespace() {
            let first = !last_space;
            last_space = true;
            first && push(&mut out, " ")
        } else if c.is_control() || invisible(c).is_some() {
            push(&mut out, &format!("\\u{{{:x}}}", c as u32))
        } else {
            push(&mut out, c.encode_utf8(&mut buf))
        };
        if !c.is_whitespace() {
            last_space = false;
        }
    }
    if in_tags && !out.ends_with('…') {
        out.push('⟧');
    }
    out.trim().to_owned()
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}
