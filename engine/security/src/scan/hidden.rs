//! Hidden-text detection on the original text: runs of invisible characters (zero-width, tag,
//! bidi, variation selectors) that look like they hide something, and whitespace padding that
//! pushes content out of sight. Benign uses (a leading BOM, emoji ZWJ sequences, flag tags, bidi
//! marks in right-to-left text) are not reported.

use super::chars::{Fold, Invisible, fold, invisible, is_rtl};
use super::{Category, Raw, floor_char_boundary, printable};

#[derive(Default)]
struct RunStats {
    zero_width: usize,
    feff: bool,
    tags: usize,
    tag_text: String,
    ends_with_cancel_tag: bool,
    bidi_override: usize,
    bidi_other: usize,
    selectors_basic: usize,
    selectors_supplement: usize,
    total: usize,
    codepoints: Vec<u32>,
}

impl RunStats {
    fn add(&mut self, c: char, kind: Invisible) {
        let cp = c as u32;
        self.total += 1;
        self.ends_with_cancel_tag = cp == 0xE007F;
        if self.codepoints.len() < 4 && !self.codepoints.contains(&cp) {
            self.codepoints.push(cp);
        }
        match kind {
            Invisible::ZeroWidth => {
                self.zero_width += 1;
                self.feff |= cp == 0xFEFF;
            }
            Invisible::Tag => {
                self.tags += 1;
                if let Fold::Tag(a) = fold(c)
                    && self.tag_text.len() < 400
                {
                    self.tag_text.push(a);
                }
            }
            Invisible::BidiOverride => self.bidi_override += 1,
            Invisible::BidiOther => self.bidi_other += 1,
            Invisible::VariationSelector if cp >= 0xE0100 => self.selectors_supplement += 1,
            Invisible::VariationSelector => self.selectors_basic += 1,
            Invisible::BidiMark | Invisible::Other => {}
        }
    }

    /// The rule name if this run looks like hiding something.
    fn suspicious(&self, prev: Option<char>, next: Option<char>, at: usize) -> Option<&'static str> {
        let ascii_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        let visible = |c: Option<char>| c.is_some_and(|c| !c.is_whitespace());
        if self.tags > 0 {
            let flag =
                prev == Some('\u{1F3F4}') && self.tags <= 8 && self.ends_with_cancel_tag && self.tags == self.total;
            return (!flag).then_some("unicode_tags");
        }
        if self.bidi_override > 0 {
            return Some("bidi_override");
        }
        if self.bidi_other > 0 && !prev.is_some_and(is_rtl) && !next.is_some_and(is_rtl) {
            return Some("bidi_control");
        }
        if self.zero_width >= 2 {
            return Some("zero_width_run");
        }
        if self.zero_width == 1 && ascii_word(prev) && ascii_word(next) {
            return Some("zero_width_in_word");
        }
        if self.feff && at > 0 && visible(prev) && visible(next) {
            return Some("bom_inside_text");
        }
        if self.selectors_supplement >= 2 || self.selectors_basic >= 3 {
            return Some("variation_selector_run");
        }
        None
    }

    fn describe(&self) -> String {
        if self.tags > 0 {
            return format!("{} tag characters spelling {:?}", self.tags, printable(&self.tag_text, 60));
        }
        let cps: Vec<String> = self.codepoints.iter().map(|cp| format!("U+{cp:04X}")).collect();
        format!("{} invisible characters ({})", self.total, cps.join(", "))
    }
}

pub(super) fn hidden_runs(text: &str, out: &mut Vec<Raw>) {
    let mut prev = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let Some(kind) = invisible(c) else {
            prev = Some(c);
            continue;
        };
        let mut run = RunStats::default();
        run.add(c, kind);
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            let Some(kind) = invisible(d) else { break };
            run.add(d, kind);
            end = j + d.len_utf8();
            chars.next();
        }
        let next = chars.peek().map(|&(_, d)| d);
        if let Some(rule) = run.suspicious(prev, next, i) {
            out.push(Raw { category: Category::HiddenText, span: i..end, rule, excerpt: Some(run.describe()) });
        }
    }
}

/// Spaces on one line before more text, or blank lines before more text.
const PADDING_SPACES: usize = 100;
const PADDING_LINES: usize = 30;

pub(super) fn whitespace_padding(text: &str, out: &mut Vec<Raw>) {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !c.is_whitespace() {
            continue;
        }
        let (mut end, mut count, mut lines, mut tail) = (i + c.len_utf8(), 1, 0, 0);
        let mut account = |d: char| match d {
            '\n' => {
                lines += 1;
                tail = 0;
            }
            '\r' => {}
            _ => tail += 1,
        };
        account(c);
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_whitespace() {
                break;
            }
            account(d);
            count += 1;
            end = j + d.len_utf8();
            chars.next();
        }
        if chars.peek().is_none() || (tail < PADDING_SPACES && lines < PADDING_LINES) {
            continue;
        }
        let line_end = text[end..].find('\n').map_or(text.len(), |k| end + k);
        let line_end = floor_char_boundary(text, line_end.min(end + 240));
        let rule = if tail >= PADDING_SPACES { "whitespace_padding" } else { "blank_line_padding" };
        let excerpt = format!("{count} whitespace characters, then: {}", printable(&text[end..line_end], 60));
        out.push(Raw { category: Category::HiddenText, span: i..line_end, rule, excerpt: Some(excerpt) });
    }
}
