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

/// What the start of a line turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Block {
    /// A paragraph's line (or one that only looked like a marker for a while).
    Text,
    Heading,
    /// `- `, `* ` or `+ `.
    Bullet,
    /// `1. ` or `1) `.
    Ordered,
    Quote,
    Rule,
    /// An opening fence: its char and length.
    Fence(char, usize),
}

/// Tells what the held start of a line is, given from its first non-blank char, and how many
/// of its bytes the marker takes (the rest is read after it); `None` while more chars are
/// needed. `at_eol`: the line ends after `held`, so it must decide. No fences in quotes.
fn classify(held: &str, at_eol: bool, quoted: bool) -> Option<(Block, usize)> {
    let first = held.chars().next()?;
    let after = held.trim_start_matches(first);
    // The run of `first`; a char count only for the ASCII markers, which is all it is used for.
    let run = held.len() - after.len();
    let is_blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    let text = Some((Block::Text, 0));
    match first {
        '#' => match after.chars().next() {
            Some(' ' | '\t') if run <= 6 => Some((Block::Heading, run + 1)),
            None if run <= 6 && !at_eol => None,
            _ => text,
        },
        '`' | '~' if !quoted => match after.is_empty() {
            true if !at_eol => None,
            _ if run >= 3 => Some((Block::Fence(first, run), run)),
            _ => text,
        },
        '-' | '*' | '+' | '_' => {
            if run == 1 && first != '_' && after.starts_with([' ', '\t']) {
                Some((Block::Bullet, 2))
            } else if first != '+' && is_blank(after) {
                match at_eol {
                    false => None,
                    true if run >= 3 => Some((Block::Rule, held.len())),
                    true => text,
                }
            } else if after.is_empty() && !at_eol {
                None
            } else {
                text
            }
        }
        '0'..='9' => {
            let digits = held.chars().take_while(char::is_ascii_digit).count();
            let mut rest = held[digits..].chars();
            match (rest.next(), rest.next()) {
                _ if digits > 9 => text,
                (Some('.' | ')'), Some(' ' | '\t')) => Some((Block::Ordered, digits + 2)),
                (None, _) | (Some('.' | ')'), None) if !at_eol => None,
                _ => text,
            }
        }
        '>' => match after.chars().next() {
            None if held.len() == 1 && !at_eol => None,
            _ if held[1..].starts_with(' ') => Some((Block::Quote, 2)),
            _ => Some((Block::Quote, 1)),
        },
        _ => text,
    }
}

/// If `held` can still be (or is) a fence of `ch`s, only blanks after it: the fence's length.
fn fence_run(held: &str, ch: char) -> Option<usize> {
    let after = held.trim_start_matches(ch);
    after.chars().all(|c| c == ' ' || c == '\t').then_some(held.len() - after.len())
}

/// What the reader of a line's text is in the middle of.
#[derive(Debug)]
enum InlineState {
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
struct Held {
    text: String,
    /// The run of the span's marker ending `text`: a candidate closer.
    tail: usize,
    /// The char before that run.
    before: char,
    /// The run of backticks ending `text`.
    ticks: usize,
    /// The length of the backtick run that opened a code span inside `text`, while it is
    /// open: markers in there close nothing.
    code: Option<usize>,
}

impl Held {
    fn new() -> Self {
        Self { text: String::new(), tail: 0, before: ' ', ticks: 0, code: None }
    }

    /// Takes `c`, unless the run of markers that `c` ends closes the span: then returns true
    /// and `c` is left to the text after the span.
    fn push(&mut self, c: char, marker: char, len: usize) -> bool {
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
    fn closes_at_end(&self, marker: char, len: usize) -> bool {
        self.tail == len && can_close(marker, self.before, ' ')
    }

    /// The text inside the span, once closed.
    fn inner(&self) -> &str {
        &self.text[..self.text.len() - self.tail]
    }
}

/// Reads the inline markdown of one line (or of a closed span's inner text) and writes it.
#[derive(Debug)]
struct InlineReader {
    state: InlineState,
    /// The style around the text: the line's (heading, quote) and that of enclosing spans.
    base: Style,
    /// The char before the current one (a space at the line's start), for the emphasis rules.
    prev: char,
}

impl InlineReader {
    fn new(base: Style, prev: char) -> Self {
        Self { state: InlineState::Text, base, prev }
    }

    fn feed(&mut self, c: char, out: &mut Out) {
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

    fn feed_str(&mut self, text: &str, out: &mut Out) {
        for c in text.chars() {
            self.feed(c, out);
        }
    }

    /// The line (or the span's text) ended: settles everything held, as literal text unless
    /// its closer is right there.
    fn end(&mut self, out: &mut Out) {
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
    fn literal(&mut self, c: char, out: &mut Out) {
        out.write_char(c, self.base);
        self.prev = c;
    }

    fn literal_run(&mut self, marker: char, len: usize, out: &mut Out) {
        for _ in 0..len {
            self.literal(marker, out);
        }
    }

    /// An opener turned out not to be one: writes it as typed, and reads again what was held
    /// after it.
    fn give_up(&mut self, opener: &str, held: &str, out: &mut Out) {
        for c in opener.chars() {
            self.literal(c, out);
        }
        self.feed_str(held, out);
    }

    /// Writes a closed emphasis: its inner text read with the emphasis added to the style.
    fn emphasis(&mut self, marker: char, len: usize, inner: &str, out: &mut Out) {
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
    fn code(&mut self, content: &str, out: &mut Out) {
        let padded = content.len() >= 2 && content.starts_with(' ') && content.ends_with(' ');
        let content = if padded && !content.trim().is_empty() { &content[1..content.len() - 1] } else { content };
        out.write(content, self.base.with(Style::CODE));
        self.prev = '`';
    }
}

fn too_long(held: &str) -> bool {
    held.chars().count() > MAX_HELD
}

/// Unicode punctuation and symbols, as the emphasis rules see them.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
}

/// CommonMark's flanking: whether a run of `*`/`_` between `prev` and `next` can open (left)
/// and close (right) emphasis. Line boundaries count as whitespace.
fn flanking(prev: char, next: char) -> (bool, bool) {
    let left = !next.is_whitespace() && (!is_punctuation(next) || prev.is_whitespace() || is_punctuation(prev));
    let right = !prev.is_whitespace() && (!is_punctuation(prev) || next.is_whitespace() || is_punctuation(next));
    (left, right)
}

/// Whether a run of `marker` between `prev` and `next` opens emphasis (`_` not inside a word).
fn can_open(marker: char, prev: char, next: char) -> bool {
    let (left, right) = flanking(prev, next);
    left && (marker == '*' || !right || is_punctuation(prev))
}

/// Whether a run of `marker` between `prev` and `next` closes emphasis (`_` not inside a word).
fn can_close(marker: char, prev: char, next: char) -> bool {
    let (left, right) = flanking(prev, next);
    right && (marker == '*' || !left || is_punctuation(next))
}

/// A set of SGR attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Style(u8);

impl Style {
    const PLAIN: Style = Style(0);
    const BOLD: Style = Style(1);
    const DIM: Style = Style(1 << 1);
    const ITALIC: Style = Style(1 << 2);
    const UNDERLINE: Style = Style(1 << 3);
    /// Code: cyan.
    const CODE: Style = Style(1 << 4);

    /// Each attribute's SGR parameter, in the order they are written.
    const PARAMS: [(Style, &'static str); 5] =
        [(Self::BOLD, "1"), (Self::DIM, "2"), (Self::ITALIC, "3"), (Self::UNDERLINE, "4"), (Self::CODE, "36")];

    fn with(self, other: Style) -> Style {
        Style(self.0 | other.0)
    }

    fn without(self, other: Style) -> Style {
        Style(self.0 & !other.0)
    }

    /// The SGR sequence that turns these attributes on.
    fn sgr(self) -> String {
        let params: Vec<&str> = Self::PARAMS.iter().filter(|(s, _)| self.0 & s.0 != 0).map(|(_, p)| *p).collect();
        format!("\x1b[{}m", params.join(";"))
    }
}

/// The text to hand back, and the terminal's style after it. Styles are switched lazily,
/// right before the char that needs them, so nothing is styled for nothing.
#[derive(Debug, Default)]
struct Out {
    text: String,
    /// The attributes in effect after `text`.
    shown: Style,
    /// Whether the current line has any SGR code: it then ends with a reset.
    styled: bool,
}

impl Out {
    fn write(&mut self, text: &str, style: Style) {
        if !text.is_empty() {
            self.switch(style);
            self.text.push_str(text);
        }
    }

    fn write_char(&mut self, c: char, style: Style) {
        self.switch(style);
        self.text.push(c);
    }

    /// Adds the attributes missing if that is all it takes, else resets and sets them all.
    fn switch(&mut self, style: Style) {
        if style == self.shown {
            return;
        }
        if self.shown.without(style) == Style::PLAIN {
            self.text.push_str(&style.without(self.shown).sgr());
        } else {
            self.text.push_str(RESET);
            if style != Style::PLAIN {
                self.text.push_str(&style.sgr());
            }
        }
        self.shown = style;
        self.styled = true;
    }

    /// Ends the line's styling: a reset if the line had any style.
    fn end_line(&mut self) {
        if self.styled {
            self.text.push_str(RESET);
        }
        self.shown = Style::PLAIN;
        self.styled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDTH: usize = 40;

    /// Feeds `pieces` to a stream `WIDTH` columns wide; returns all it wrote, `finish` included.
    fn render_with(color: bool, pieces: &[&str]) -> String {
        let mut md = MarkdownStream::new(color, WIDTH);
        let mut out: String = pieces.iter().map(|piece| md.push(piece)).collect();
        out.push_str(&md.finish());
        out
    }

    fn render(doc: &str) -> String {
        render_with(true, &[doc])
    }

    fn char_pieces(doc: &str) -> Vec<&str> {
        doc.char_indices().map(|(i, c)| &doc[i..i + c.len_utf8()]).collect()
    }

    /// The text without its SGR sequences: what the terminal shows.
    fn strip_ansi(styled: &str) -> String {
        let mut visible = String::new();
        let mut rest = styled;
        while let Some(start) = rest.find("\x1b[") {
            visible.push_str(&rest[..start]);
            let end = rest[start..].find('m').expect("an SGR sequence ends with m");
            rest = &rest[start + end + 1..];
        }
        visible.push_str(rest);
        visible
    }

    /// Documents, and what they show once styled: the text minus the markers the styling
    /// consumed (`<rule>` stands for a rule `WIDTH` wide).
    const DOCS: &[(&str, &str)] = &[
        ("# Title\n## Sub *it* `c`\n####### seven\n#tag\n", "# Title\n## Sub it c\n####### seven\n#tag\n"),
        (
            "- one\n  - two\n    * three **b**\n+ four\n1. first\n12) second\n-5 degrees\n1.5 l\n",
            "• one\n  • two\n    • three b\n• four\n1. first\n12) second\n-5 degrees\n1.5 l\n",
        ),
        (
            "Code:\n```rust\nlet x = a ** b; // **no** _bold_ `x`\n  ```not the end\n```\nafter **b**\n",
            "Code:\n```rust\nlet x = a ** b; // **no** _bold_ `x`\n  ```not the end\n```\nafter b\n",
        ),
        ("````md\n```\ninner\n```\n````\n~~~\n*x*\n~~~\n", "````md\n```\ninner\n```\n````\n~~~\n*x*\n~~~\n"),
        ("use `a * b` and `` x`y `` and ` ` here\n", "use a * b and x`y and   here\n"),
        ("un**believ**able and a*b*c, **a**_b_\n", "unbelievable and abc, ab\n"),
        ("2 * 3 = 6 and 2*3 = 6 and a ** b\n", "2 * 3 = 6 and 2*3 = 6 and a ** b\n"),
        ("snake_case_name, __init__ and _it_ and _x_y\n", "snake_case_name, init and it and _x_y\n"),
        ("an unclosed **bold\nand *em and `code\n", "an unclosed **bold\nand *em and `code\n"),
        ("**bold *it* more** and ***both*** and **`code`**\n", "bold it more and both and code\n"),
        (
            "see [the *docs*](https://example.com/a_b*c_(x)) now, [x] box, a[i] and [open\n",
            "see the docs (https://example.com/a_b*c_(x)) now, [x] box, a[i] and [open\n",
        ),
        ("> quoted *text*\n> > nested\n>tight\n> - item\n", "│ quoted text\n│ │ nested\n│ tight\n│ • item\n"),
        ("above\n\n---\n***\n___ \n--\n** x\nbelow\n", "above\n\n<rule>\n<rule>\n<rule>\n--\n** x\nbelow\n"),
        ("# T\r\n- a **b**\r\nend\r", "# T\n• a b\nend\r"),
        ("café — naïve *é* 🦀 **日本** «_ok_»\n", "café — naïve é 🦀 日本 «ok»\n"),
        ("\\*not em\\* and C:\\Users\n", "*not em* and C:\\Users\n"),
        ("no newline at the end **bold**", "no newline at the end bold"),
        ("```\nunclosed *code*", "```\nunclosed *code*"),
        ("", ""),
    ];

    #[test]
    fn splitting_never_changes_the_output() {
        for (doc, _) in DOCS {
            let whole = render(doc);
            assert_eq!(render_with(true, &char_pieces(doc)), whole, "one char at a time: {doc:?}");
            for (i, _) in doc.char_indices().skip(1) {
                let (a, b) = doc.split_at(i);
                assert_eq!(render_with(true, &[a, b]), whole, "split at {i}: {doc:?}");
            }
        }
    }

    #[test]
    fn visible_text_is_the_input_minus_consumed_markers() {
        let rule = "─".repeat(WIDTH);
        for (doc, shown) in DOCS {
            assert_eq!(strip_ansi(&render(doc)), shown.replace("<rule>", &rule), "{doc:?}");
        }
    }

    #[test]
    fn plain_mode_writes_the_input_unchanged() {
        for (doc, _) in DOCS {
            assert_eq!(render_with(false, &[doc]), *doc);
            assert_eq!(render_with(false, &char_pieces(doc)), *doc);
        }
    }

    #[test]
    fn every_styled_line_ends_with_a_reset() {
        for (doc, _) in DOCS {
            let out = render(doc);
            for line in out.split_inclusive('\n') {
                let line = line.strip_suffix('\n').unwrap_or(line);
                if line.contains('\x1b') {
                    assert!(line.ends_with(RESET), "{line:?} in {doc:?}");
                }
            }
        }
    }

    #[test]
    fn emphasis_is_styled_and_its_markers_dropped() {
        let out = render("**a**");
        assert!(out.contains("\x1b[1ma"), "{out:?}");
        assert!(!out.contains("**"), "{out:?}");
        assert_eq!(render("*a* __b__ _c_"), "\x1b[3ma\x1b[0m \x1b[1mb\x1b[0m \x1b[3mc\x1b[0m");
        assert_eq!(render("***a***"), "\x1b[1;3ma\x1b[0m");
    }

    #[test]
    fn code_is_literal() {
        let out = render("```\n**x** _y_\n```\n");
        assert!(out.contains("\x1b[36m**x** _y_"), "{out:?}");
        assert!(out.starts_with("\x1b[2m```"), "{out:?}");
        let out = render("run `a * b*c*` now");
        assert!(out.contains("\x1b[36ma * b*c*\x1b[0m"), "{out:?}");
    }

    #[test]
    fn heading_text_is_bold_and_its_marker_dim() {
        assert_eq!(render("## Title\n"), "\x1b[2m## \x1b[0m\x1b[1mTitle\x1b[0m\n");
    }

    #[test]
    fn a_star_between_spaces_is_kept() {
        assert_eq!(render("2 * 3 = 6"), "2 * 3 = 6");
        assert_eq!(render("snake_case_name"), "snake_case_name");
    }

    #[test]
    fn lists_quotes_rules_and_links() {
        assert_eq!(render("  - item\n"), "  • item\n");
        assert_eq!(render("3. third\n"), "\x1b[1m3.\x1b[0m third\x1b[0m\n");
        assert_eq!(render("> hi\n"), "\x1b[2m│ \x1b[3mhi\x1b[0m\n");
        assert_eq!(strip_ansi(&render_with(true, &["---"])), "─".repeat(WIDTH));
        let mut wide = MarkdownStream::new(true, 200);
        let rule = wide.push("***\n");
        assert_eq!(strip_ansi(&rule), format!("{}\n", "─".repeat(MAX_RULE)));
        assert_eq!(render("[a](u)"), "\x1b[4ma\x1b[0m\x1b[2m (u)\x1b[0m");
    }

    #[test]
    fn mid_line_text_is_written_by_the_same_push() {
        let mut md = MarkdownStream::new(true, 80);
        assert_eq!(md.push("Hi "), "Hi ");
        assert_eq!(md.push("hello "), "hello ");
        assert_eq!(md.push("world, café 🦀"), "world, café 🦀");
    }

    #[test]
    fn only_what_is_undecided_is_held() {
        let mut md = MarkdownStream::new(true, 80);
        assert_eq!(md.push("#"), "", "may become a heading");
        assert_eq!(md.push("# T"), "\x1b[2m## \x1b[0m\x1b[1mT");
        assert_eq!(md.push("\nx "), "\x1b[0m\nx ");
        assert_eq!(md.push("*"), "", "may open emphasis");
        assert_eq!(md.push(" y"), "* y", "a star before a space is text");
        assert_eq!(md.push(" **b"), " ", "bold is held until it closes");
        assert_eq!(md.push("**"), "", "the closer needs the char after it");
        assert_eq!(md.push(" z"), "\x1b[1mb\x1b[0m z");
        assert_eq!(md.push(" **never closed"), " ");
        assert_eq!(md.finish(), "**never closed\x1b[0m");
    }

    #[test]
    fn finish_resets_the_style_and_the_state() {
        let mut md = MarkdownStream::new(true, 80);
        assert_eq!(md.push("```\ncode"), "\x1b[2m```\x1b[0m\n\x1b[36mcode");
        assert_eq!(md.finish(), RESET);
        assert_eq!(md.push("**a**\n"), "\x1b[1ma\x1b[0m\n", "the code block ended with the reply");
        assert_eq!(md.finish(), "");
    }

    #[test]
    fn a_long_unclosed_span_gives_up_and_flows_again() {
        let mut md = MarkdownStream::new(true, 80);
        let long = "x".repeat(MAX_HELD + 1);
        assert_eq!(md.push(&format!("*{long}")), format!("*{long}"));
        assert_eq!(md.push(" more"), " more");
    }

    /// Random markdown-heavy text: no panic, any split gives the same output, and no letter
    /// or digit is ever lost (only markers are consumed).
    #[test]
    fn random_text_streams_the_same_and_loses_no_words() {
        const ALPHABET: &[&str] = &[
            "*", "**", "_", "`", "```", "~~~", "#", "# ", "- ", "1. ", "> ", "[", "]", "(", ")", "\\", " ", " ", "\n",
            "\r\n", "a", "b", "é", "🦀", "x_y", "---",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..500 {
            let doc: String = (0..next(40)).map(|_| ALPHABET[next(ALPHABET.len())]).collect();
            let whole = render(&doc);
            let bounds: Vec<usize> = doc.char_indices().map(|(i, _)| i).chain([doc.len()]).collect();
            let (mut i, mut j) = (bounds[next(bounds.len())], bounds[next(bounds.len())]);
            if i > j {
                (i, j) = (j, i);
            }
            assert_eq!(render_with(true, &[&doc[..i], &doc[i..j], &doc[j..]]), whole, "{doc:?} split at {i}, {j}");
            let words = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>();
            assert_eq!(words(&strip_ansi(&whole)), words(&doc), "{doc:?}");
        }
    }

    #[test]
    fn line_starts_are_classified() {
        assert_eq!(classify("#", false, false), None);
        assert_eq!(classify("#", true, false), Some((Block::Text, 0)));
        assert_eq!(classify("### ", false, false), Some((Block::Heading, 4)));
        assert_eq!(classify("``", false, false), None);
        assert_eq!(classify("```p", false, false), Some((Block::Fence('`', 3), 3)));
        assert_eq!(classify("```p", false, true), Some((Block::Text, 0)), "no fences in quotes");
        assert_eq!(classify("---", false, false), None);
        assert_eq!(classify("--- ", true, false), Some((Block::Rule, 4)));
        assert_eq!(classify("**b", false, false), Some((Block::Text, 0)));
        assert_eq!(classify("* ", false, false), Some((Block::Bullet, 2)));
        assert_eq!(classify("10.", false, false), None);
        assert_eq!(classify("10. ", false, false), Some((Block::Ordered, 4)));
        assert_eq!(classify(">", false, false), None);
        assert_eq!(classify("> ", false, false), Some((Block::Quote, 2)));
        assert_eq!(classify("é", false, false), Some((Block::Text, 0)));
    }
}
