//! Inline rules: emphasis with CommonMark's flanking, code spans, links and escapes, read
//! char by char with what cannot be decided yet held back.

use super::*;

/// What the reader of a line's text is in the middle of.
#[derive(Debug)]
pub(super) enum InlineState {
    /// Plain text: each char is written as it comes.
    Text,
    /// After a `\`, which escapes the next char if that is ASCII punctuation.
    Escape,
    /// A run of `*`, `_` or backticks; the char after it decides whether it opens a span.
    Run { marker: char, len: usize },
    /// Inside an emphasis opened by `len` × `marker`, held until the closing run.
    Emphasis { marker: char, len: usize, held: Held },
    /// Inside a code span opened by `len` backticks, held until a run of as many; `ticks` is
    /// the run of backticks ending `held`.
    Code { len: usize, held: String, ticks: usize },
    /// Inside `[…`, held until its `]`; `depth` counts the brackets opened inside.
    LinkText { held: String, depth: usize },
    /// After `[…]`: a link if `(` follows.
    LinkEnd { held: String },
    /// Inside a link's `(url)`: written dim as it comes; `depth` counts nested parentheses.
    Url { depth: usize },
}

/// The held text of an open emphasis, with what is needed to spot its closer.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) text: String,
    /// The run of the span's marker ending `text`: a candidate closer.
    pub(super) tail: usize,
    /// The char before that run.
    pub(super) before: char,
    /// The run of backticks ending `text`.
    pub(super) ticks: usize,
    /// The length of the backtick run that opened a code span inside `text`, while it is
    /// open: markers in there close nothing.
    pub(super) code: Option<usize>,
}

impl Held {
    pub(super) fn new() -> Self {
        Self { text: String::new(), tail: 0, before: ' ', ticks: 0, code: None }
    }

    /// Takes `c`, unless the run of markers that `c` ends closes the span: then returns true
    /// and `c` is left to the text after the span.
    pub(super) fn push(&mut self, c: char, marker: char, len: usize) -> bool {
        if c != '`' && self.ticks > 0 {
            self.code = match self.code {
                None => Some(self.ticks),
                Some(open) if open == self.ticks => None,
                open => open,
            };
            self.ticks = 0;
        }
        if c != marker && self.tail > 0 {
            if self.tail == len && can_close(marker, self.before, c) {
                return true;
            }
            self.tail = 0;
        }
        if c == marker && self.code.is_none() {
            self.tail += 1;
        } else {
            self.before = c;
            if c == '`' {
                self.ticks += 1;
            }
        }
        self.text.push(c);
        false
    }

    /// Whether the run ending the text closes the span when the line ends.
    pub(super) fn closes_at_end(&self, marker: char, len: usize) -> bool {
        self.tail == len && can_close(marker, self.before, ' ')
    }

    /// The text inside the span, once closed.
    pub(super) fn inner(&self) -> &str {
        &self.text[..self.text.len() - self.tail]
    }
}

/// Reads the inline markdown of one line (or of a closed span's inner text) and writes it.
#[derive(Debug)]
pub(super) struct InlineReader {
    pub(super) state: InlineState,
    /// The style around the text: the line's (heading, quote) and that of enclosing spans.
    pub(super) base: Style,
    /// The char before the current one (a space at the line's start), for the emphasis rules.
    pub(super) prev: char,
}

impl InlineReader {
    pub(super) fn new(base: Style, prev: char) -> Self {
        Self { state: InlineState::Text, base, prev }
    }

    pub(super) fn feed(&mut self, c: char, out: &mut Out) {
        match mem::replace(&mut self.state, InlineState::Text) {
            InlineState::Text => match c {
                '\\' => self.state = InlineState::Escape,
                '*' | '_' | '`' => self.state = InlineState::Run { marker: c, len: 1 },
                '[' => self.state = InlineState::LinkText { held: String::new(), depth: 0 },
                _ => self.literal(c, out),
            },
            InlineState::Escape if c.is_ascii_punctuation() => self.literal(c, out),
            InlineState::Escape => {
                self.literal('\\', out);
                self.feed(c, out);
            }
            InlineState::Run { marker, len } if c == marker => self.state = InlineState::Run { marker, len: len + 1 },
            InlineState::Run { marker, len } => {
                if marker == '`' {
                    self.state = InlineState::Code { len, held: String::new(), ticks: 0 };
                } else if len <= 3 && can_open(marker, self.prev, c) {
                    self.state = InlineState::Emphasis { marker, len, held: Held::new() };
                } else {
                    self.literal_run(marker, len, out);
                }
                self.feed(c, out);
            }
            InlineState::Emphasis { marker, len, mut held } => {
                if held.push(c, marker, len) {
                    self.emphasis(marker, len, held.inner(), out);
                    self.feed(c, out);
                } else if too_long(&held.text) {
                    self.give_up(&marker.to_string().repeat(len), &held.text, out);
                } else {
                    self.state = InlineState::Emphasis { marker, len, held };
                }
            }
            InlineState::Code { len, mut held, ticks } => {
                if c == '`' {
                    held.push(c);
                    self.state = InlineState::Code { len, held, ticks: ticks + 1 };
                } else if ticks == len {
                    held.truncate(held.len() - len);
                    self.code(&held, out);
                    self.feed(c, out);
                } else {
                    held.push(c);
                    if too_long(&held) {
                        self.give_up(&"`".repeat(len), &held, out);
                    } else {
                        self.state = InlineState::Code { len, held, ticks: 0 };
                    }
                }
            }
            InlineState::LinkText { held, depth: 0 } if c == ']' => self.state = InlineState::LinkEnd { held },
            InlineState::LinkText { mut held, depth } => {
                let depth = match c {
                    '[' => depth + 1,
                    ']' => depth - 1,
                    _ => depth,
                };
                held.push(c);
                if too_long(&held) {
                    self.give_up("[", &held, out);
                } else {
                    self.state = InlineState::LinkText { held, depth };
                }
            }
            InlineState::LinkEnd { held } if c == '(' => {
                let mut text = InlineReader::new(self.base.with(Style::UNDERLINE), '[');
                text.feed_str(&held, out);
                text.end(out);
                out.write(" (", self.base.with(Style::DIM));
                self.prev = '(';
                self.state = InlineState::Url { depth: 0 };
            }
            InlineState::LinkEnd { held } => {
                self.give_up("[", &held, out);
                self.feed(']', out);
                self.feed(c, out);
            }
            InlineState::Url { depth } => {
                out.write_char(c, self.base.with(Style::DIM));
                self.prev = c;
                self.state = match c {
                    '(' => InlineState::Url { depth: depth + 1 },
                    ')' if depth == 0 => InlineState::Text,
                    ')' => InlineState::Url { depth: depth - 1 },
                    _ => InlineState::Url { depth },
                };
            }
        }
    }

    pub(super) fn feed_str(&mut self, text: &str, out: &mut Out) {
        for c in text.chars() {
            self.feed(c, out);
        }
    }

    /// The line (or the span's text) ended: settles everything held, as literal text unless
    /// its closer is right there.
    pub(super) fn end(&mut self, out: &mut Out) {
        loop {
            match mem::replace(&mut self.state, InlineState::Text) {
                InlineState::Text | InlineState::Url { .. } => return,
                InlineState::Escape => self.literal('\\', out),
                InlineState::Run { marker, len } => self.literal_run(marker, len, out),
                InlineState::Emphasis { marker, len, held } if held.closes_at_end(marker, len) => {
                    self.emphasis(marker, len, held.inner(), out);
                }
                InlineState::Emphasis { marker, len, held } => {
                    self.give_up(&marker.to_string().repeat(len), &held.text, out);
                }
                InlineState::Code { len, held, ticks } if ticks == len => self.code(&held[..held.len() - len], out),
                InlineState::Code { len, held, .. } => self.give_up(&"`".repeat(len), &held, out),
                InlineState::LinkText { held, .. } => self.give_up("[", &held, out),
                InlineState::LinkEnd { held } => {
                    self.give_up("[", &held, out);
                    self.feed(']', out);
                }
            }
        }
    }

    /// Writes `c` as text.
    pub(super) fn literal(&mut self, c: char, out: &mut Out) {
        out.write_char(c, self.base);
        self.prev = c;
    }

    pub(super) fn literal_run(&mut self, marker: char, len: usize, out: &mut Out) {
        for _ in 0..len {
            self.literal(marker, out);
        }
    }

    /// An opener turned out not to be one: writes it as typed, and reads again what was held
    /// after it.
    pub(super) fn give_up(&mut self, opener: &str, held: &str, out: &mut Out) {
        for c in opener.chars() {
            self.literal(c, out);
        }
        self.feed_str(held, out);
    }

    /// Writes a closed emphasis: its inner text read with the emphasis added to the style.
    pub(super) fn emphasis(&mut self, marker: char, len: usize, inner: &str, out: &mut Out) {
        let add = match len {
            1 => Style::ITALIC,
            2 => Style::BOLD,
            _ => Style::BOLD.with(Style::ITALIC),
        };
        let mut reader = InlineReader::new(self.base.with(add), marker);
        reader.feed_str(inner, out);
        reader.end(out);
        self.prev = marker;
    }

    /// Writes a closed code span, dropping one space of padding on each side (CommonMark).
    pub(super) fn code(&mut self, content: &str, out: &mut Out) {
        let padded = content.len() >= 2 && content.starts_with(' ') && content.ends_with(' ');
        let content = if padded && !content.trim().is_empty() { &content[1..content.len() - 1] } else { content };
        out.write(content, self.base.with(Style::CODE));
        self.prev = '`';
    }
}

pub(super) fn too_long(held: &str) -> bool {
    held.chars().count() > MAX_HELD
}

/// Unicode punctuation and symbols, as the emphasis rules see them.
pub(super) fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
}

/// CommonMark's flanking: whether a run of `*`/`_` between `prev` and `next` can open (left)
/// and close (right) emphasis. Line boundaries count as whitespace.
pub(super) fn flanking(prev: char, next: char) -> (bool, bool) {
    let left = !next.is_whitespace() && (!is_punctuation(next) || prev.is_whitespace() || is_punctuation(prev));
    let right = !prev.is_whitespace() && (!is_punctuation(prev) || next.is_whitespace() || is_punctuation(next));
    (left, right)
}

/// Whether a run of `marker` between `prev` and `next` opens emphasis (`_` not inside a word).
pub(super) fn can_open(marker: char, prev: char, next: char) -> bool {
    let (left, right) = flanking(prev, next);
    left && (marker == '*' || !right || is_punctuation(prev))
}

/// Whether a run of `marker` between `prev` and `next` closes emphasis (`_` not inside a word).
pub(super) fn can_close(marker: char, prev: char, next: char) -> bool {
    let (left, right) = flanking(prev, next);
    right && (marker == '*' || !left || is_punctuation(next))
}
