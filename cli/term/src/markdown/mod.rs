//! Streaming markdown for the terminal. A model's reply reaches `pyra chat` in pieces of any
//! size, split anywhere, and [`MarkdownStream`] styles it on the way with ANSI SGR codes.
//! The output is append-only: no cursor movement, nothing redrawn. So the renderer is a
//! state machine over chars that writes each char once, holding back only what it cannot
//! decide yet:
//!
//! - the start of a line while it may still become a block marker (`#`, "```", `- `, `1. `,
//!   `>`, `---`): a few chars;
//! - a `\`, or a run of `*`, `_` or backticks, until the char after it says what it is;
//! - an opened span (`**bold**`, `*em*`, `` `code` ``, `[link text]`) until its closer. The
//!   markers are dropped only when the span closes; one that does not close on its line
//!   (`**oops`) is written as typed. Waiting is the only way to honour both without
//!   redrawing. It is bounded by [`MAX_HELD`] chars, past which the opener is taken as
//!   literal text and the text flows again.
//!
//! Everything else is written by the `push` call that brought it. The output depends only on
//! the text, never on how it was split into pieces (the tests check every split).
//!
//! What the styles look like (colour on):
//!
//! - heading: the `#`s kept, dim; the text bold;
//! - fenced code block (``` or ~~~): the fence lines kept as written, dim; the code cyan,
//!   with no inline markdown;
//! - inline code: cyan, backticks dropped (one space padding each side is dropped too);
//! - `**bold**`, `__bold__`: bold; `*em*`, `_em_`: italic; `***both***`: bold italic.
//!   CommonMark's flanking rules decide what opens and closes: `2 * 3` and
//!   `snake_case_name` stay as they are, `un**believ**able` is bold in the middle;
//! - list items: `- `, `* `, `+ ` become `• `, indentation kept; `1. ` and `1) ` are bold;
//! - block quote: each `>` becomes a dim `│ `, the text dim italic;
//! - rule (`---`, `***`, `___` alone on a line): a dim line of `─`, `width` long, at most 80;
//! - link `[text](url)`: `text` underlined, then ` (url)` dim (the url as written);
//! - a `\` before ASCII punctuation is dropped and the punctuation kept literal.
//!
//! Every style is reset before each `\n` (and by `finish`), so a reply cut short never
//! leaves the terminal styled. `\r\n` is read as `\n`. Emphasis never spans lines.

use std::mem;

use block::*;
use inline::*;
use style::*;

/// The most chars an opened span (`**…`, `` `… ``, `[…`) is held while its closer is awaited.
/// Past it the opener is written as typed and the text flows again; a closer arriving
/// later is then literal too.
const MAX_HELD: usize = 120;

/// The widest horizontal rule, in columns (also the width when the terminal's is unknown).
const MAX_RULE: usize = 80;

/// The SGR code that turns every attribute off.
const RESET: &str = "\x1b[0m";

/// Styles a markdown stream for a terminal as it arrives.
///
/// Feed the reply's pieces to [`push`](Self::push) and write what each call returns right
/// away; call [`finish`](Self::finish) when the reply ends (or is cancelled) and write that
/// too. The stream is then ready for the next reply.
pub struct MarkdownStream {
    /// Whether to style at all: without colour the text passes through untouched.
    color: bool,
    /// The terminal's width in columns (0 when unknown), for rules.
    width: usize,
    /// What the current `push` returns, and the terminal's style after it.
    out: Out,
    /// Where the current line is, for the block rules.
    line: LineState,
    /// Reads the inline markdown of the current line.
    inline: InlineReader,
    /// Whether the current line is inside a block quote.
    quoted: bool,
    /// The fence (its char and length) of the open code block, if any.
    fence: Option<(char, usize)>,
    /// A `\r` just read: dropped if `\n` follows.
    cr: bool,
}

impl MarkdownStream {
    /// A stream for a terminal `width` columns wide (0 if unknown). Without `color` the
    /// output is exactly the input, markers and all.
    pub fn new(color: bool, width: usize) -> Self {
        Self {
            color,
            width,
            out: Out::default(),
            line: LineState::Start,
            inline: InlineReader::new(Style::PLAIN, ' '),
            quoted: false,
            fence: None,
            cr: false,
        }
    }

    /// Feeds the next piece; returns the text to write now (ANSI-styled when color).
    pub fn push(&mut self, piece: &str) -> String {
        if !self.color {
            return piece.to_owned();
        }
        for c in piece.chars() {
            if mem::take(&mut self.cr) && c != '\n' {
                self.feed('\r');
            }
            if c == '\r' {
                self.cr = true;
            } else {
                self.feed(c);
            }
        }
        mem::take(&mut self.out.text)
    }

    /// The reply ended: returns whatever was held back, and resets all styles.
    pub fn finish(&mut self) -> String {
        if !self.color {
            return String::new();
        }
        if mem::take(&mut self.cr) {
            self.feed('\r');
        }
        self.end_line();
        self.fence = None;
        self.line = LineState::Start;
        mem::take(&mut self.out.text)
    }

    /// The style of the line's text before any markup: dim italic in a block quote.
    fn base(&self) -> Style {
        if self.quoted { Style::DIM.with(Style::ITALIC) } else { Style::PLAIN }
    }

    /// Reads one char (never `\r`, which `push` settles).
    fn feed(&mut self, c: char) {
        if c == '\n' {
            self.end_line();
            self.out.text.push('\n');
            return;
        }
        let blank = c == ' ' || c == '\t';
        match &mut self.line {
            LineState::Start if blank => self.out.write_char(c, self.base()),
            LineState::Start => self.decide(c.to_string(), false),
            LineState::Marker(held) => {
                held.push(c);
                let held = mem::take(held);
                self.decide(held, false);
            }
            LineState::Text => self.inline.feed(c, &mut self.out),
            LineState::Fence => self.out.write_char(c, Style::DIM),
            LineState::CodeStart if blank => self.out.write_char(c, Style::CODE),
            LineState::CodeStart if self.fence.is_some_and(|(ch, _)| ch == c) => {
                self.line = LineState::CodeFence(c.to_string());
            }
            LineState::CodeStart => {
                self.line = LineState::Code;
                self.out.write_char(c, Style::CODE);
            }
            LineState::CodeFence(held) => {
                held.push(c);
                let (ch, _) = self.fence.unwrap_or(('`', 3));
                if fence_run(held, ch).is_none() {
                    self.out.write(held, Style::CODE);
                    self.line = LineState::Code;
                }
            }
            LineState::Code => self.out.write_char(c, Style::CODE),
        }
    }

    /// Acts on the held start of a line once [`classify`] can tell what it is: writes its
    /// marker styled and reads the rest in the new state.
    fn decide(&mut self, held: String, at_eol: bool) {
        let Some((block, len)) = classify(&held, at_eol, self.quoted) else {
            self.line = LineState::Marker(held);
            return;
        };
        let (marker, rest) = held.split_at(len);
        let base = self.base();
        self.line = LineState::Text;
        self.inline = InlineReader::new(base, ' ');
        match block {
            Block::Text => {}
            Block::Heading => {
                self.out.write(marker, base.with(Style::DIM));
                self.inline = InlineReader::new(base.with(Style::BOLD), ' ');
            }
            Block::Bullet => {
                // The marker is one ASCII char and the blank after it.
                self.out.write("•", base);
                self.out.write(&marker[1..], base);
            }
            Block::Ordered => {
                let (number, blank) = marker.split_at(len - 1);
                self.out.write(number, base.with(Style::BOLD));
                self.out.write(blank, base);
            }
            Block::Quote => {
                self.out.write("│ ", Style::DIM);
                self.quoted = true;
                self.line = LineState::Start;
            }
            Block::Rule => {
                let width = if self.width == 0 { MAX_RULE } else { self.width.min(MAX_RULE) };
                self.out.write(&"─".repeat(width), Style::DIM);
            }
            Block::Fence(ch, run) => {
                self.out.write(marker, Style::DIM);
                self.fence = Some((ch, run));
                self.line = LineState::Fence;
            }
        }
        for c in rest.chars() {
            self.feed(c);
        }
    }

    /// Settles what the line held back, then resets the style and the line's state.
    fn end_line(&mut self) {
        while let LineState::Marker(held) = &mut self.line {
            let held = mem::take(held);
            self.decide(held, true);
        }
        if let LineState::CodeFence(held) = &self.line {
            match self.fence {
                Some((ch, run)) if fence_run(held, ch).is_some_and(|n| n >= run) => {
                    self.out.write(held, Style::DIM);
                    self.fence = None;
                }
                _ => self.out.write(held, Style::CODE),
            }
        }
        self.inline.end(&mut self.out);
        self.out.end_line();
        self.line = if self.fence.is_some() { LineState::CodeStart } else { LineState::Start };
        self.quoted = false;
        self.inline = InlineReader::new(Style::PLAIN, ' ');
    }
}

/// Where a line is, for the block rules.
#[derive(Debug)]
enum LineState {
    /// At the line's start (or after a quote's `> `): blanks are written, a marker may come.
    Start,
    /// Holding the line's first chars, which may be a block marker (`##`, "``", `--`, `12.`).
    Marker(String),
    /// The rest of the line is inline text, read by the [`InlineReader`].
    Text,
    /// The rest of a code fence line (its info string): written dim.
    Fence,
    /// At a line's start inside a code block: blanks are written, the closing fence may come.
    CodeStart,
    /// Holding what may be the closing fence of the code block.
    CodeFence(String),
    /// The rest of a line of code: written as code.
    Code,
}

mod block;
mod inline;
mod style;
#[cfg(test)]
mod tests;
