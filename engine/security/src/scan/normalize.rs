//! The normalised text the pattern rules run over, with a compact segment map from every
//! normalised byte back to the original text, so findings are reported as spans of the original.
//! JSON/C escapes and HTML character references are read as the characters they encode.

use std::ops::Range;

use super::chars::{Fold, fold};

/// How the normalised text marks a paragraph break (followed by a newline).
const PARAGRAPH: char = '\u{2029}';

/// `orig_end` of a segment whose bytes map one to one.
const COPY: u32 = u32::MAX;

/// From `norm` on, normalised bytes come from the original at `orig` (one to one when `orig_end`
/// is [`COPY`]; otherwise the segment is one normalised character standing for `orig..orig_end`).
#[derive(Debug, Clone, Copy)]
struct Seg {
    norm: u32,
    orig: u32,
    orig_end: u32,
}

/// The character at byte `i` of `text` and how many bytes stand for it: JSON/C escapes (`\n`,
/// `\t`, `\uXXXX`) and HTML character references (`&#105;`, `&#x200B;`, `&nbsp;`) count as the
/// character they encode, so injection inside tool-result JSON or HTML source is seen as text.
fn unit(text: &str, i: usize) -> (char, usize) {
    let rest = &text[i..];
    let bytes = rest.as_bytes();
    let escaped = match bytes[0] {
        b'\\' => match bytes.get(1) {
            Some(b'n') => Some(('\n', 2)),
            Some(b'r') => Some(('\r', 2)),
            Some(b't') => Some(('\t', 2)),
            Some(b'u') => rest
                .get(2..6)
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .and_then(char::from_u32)
                .map(|c| (c, 6)),
            _ => None,
        },
        b'&' => bytes.iter().take(12).position(|&b| b == b';').and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "nbsp" => Some('\u{a0}'),
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => match name.strip_prefix('#') {
                    Some(hex) if hex.starts_with(['x', 'X']) => u32::from_str_radix(&hex[1..], 16).ok(),
                    Some(dec) => dec.parse().ok(),
                    None => None,
                }
                .and_then(char::from_u32),
            };
            c.map(|c| (c, end + 1))
        }),
        _ => None,
    };
    escaped.unwrap_or_else(|| {
        let c = rest.chars().next().unwrap_or(' ');
        (c, c.len_utf8())
    })
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\x0c' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

pub(super) struct Normalized {
    pub(super) text: String,
    segs: Vec<Seg>,
}

impl Normalized {
    pub(super) fn new(orig: &str) -> Normalized {
        let mut n = Normalized { text: String::with_capacity(orig.len()), segs: Vec::new() };
        let mut in_tags = false;
        let mut i = 0;
        while i < orig.len() {
            let (c, len) = unit(orig, i);
            let end = i + len;
            match fold(c) {
                Fold::Skip => {}
                Fold::Tag(a) => {
                    if !in_tags {
                        n.boundary(i);
                        in_tags = true;
                    }
                    n.emit(a, i..end);
                }
                Fold::Char(a) => {
                    if in_tags {
                        n.boundary(i);
                        in_tags = false;
                    }
                    n.emit(a, i..end);
                }
                Fold::Space { newline } => {
                    in_tags = false;
                    let (mut j, mut run_end, mut newline, mut lines) =
                        (end, end, newline, usize::from(is_line_break(c)));
                    while j < orig.len() {
                        let (d, l) = unit(orig, j);
                        match fold(d) {
                            Fold::Space { newline: nl } => {
                                newline |= nl;
                                lines += usize::from(is_line_break(d));
                                run_end = j + l;
                            }
                            Fold::Skip => {}
                            _ => break,
                        }
                        j += l;
                    }
                    let run = i..run_end;
                    i = j;
                    if n.text.ends_with([' ', '\n']) {
                        continue; // after a tag boundary
                    }
                    if lines >= 2 {
                        // A paragraph break: U+2029 then a newline, so `^` still sees a line start
                        // while phrases (one `\s`) and gaps (`%ANY%`) do not cross it.
                        n.emit_mapped(PARAGRAPH, run.clone());
                        n.emit_mapped('\n', run);
                    } else {
                        n.emit(if newline { '\n' } else { ' ' }, run);
                    }
                    continue;
                }
            }
            i = end;
        }
        n
    }

    /// A space between decoded tag text and visible text, so words do not run together.
    fn boundary(&mut self, at: usize) {
        if !self.text.is_empty() && !self.text.ends_with([' ', '\n']) {
            self.emit_mapped(' ', at..at);
        }
    }

    fn emit(&mut self, ch: char, orig: Range<usize>) {
        if ch.len_utf8() != orig.len() {
            return self.emit_mapped(ch, orig);
        }
        let norm = self.text.len();
        let contiguous = matches!(self.segs.last(),
            Some(s) if s.orig_end == COPY && s.orig as usize + (norm - s.norm as usize) == orig.start);
        if !contiguous {
            self.segs.push(Seg { norm: norm as u32, orig: orig.start as u32, orig_end: COPY });
        }
        self.text.push(ch);
    }

    fn emit_mapped(&mut self, ch: char, orig: Range<usize>) {
        self.segs.push(Seg { norm: self.text.len() as u32, orig: orig.start as u32, orig_end: orig.end as u32 });
        self.text.push(ch);
    }

    fn seg_at(&self, k: usize) -> Seg {
        let i = self.segs.partition_point(|s| s.norm as usize <= k);
        self.segs[i.saturating_sub(1)]
    }

    /// Where the original text of normalised byte `k` starts.
    pub(super) fn orig_start(&self, k: usize) -> usize {
        let s = self.seg_at(k);
        if s.orig_end == COPY { s.orig as usize + (k - s.norm as usize) } else { s.orig as usize }
    }

    /// Where the original text of normalised byte `k` ends.
    fn orig_end(&self, k: usize) -> usize {
        let s = self.seg_at(k);
        if s.orig_end == COPY { s.orig as usize + (k - s.norm as usize) + 1 } else { s.orig_end as usize }
    }

    /// The original byte range a normalised range stands for.
    pub(super) fn to_original(&self, r: Range<usize>) -> Range<usize> {
        let start = self.orig_start(r.start);
        if r.is_empty() {
            return start..start;
        }
        start..self.orig_end(r.end - 1).max(start)
    }
}
