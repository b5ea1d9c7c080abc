//! A skill file's text and the mapping from byte offsets to lines and columns.
//!
//! Every position in Pyra is a byte range into a [`SourceFile`]; lines and columns are
//! computed only when a diagnostic is shown, so spans stay cheap to carry around.

use std::ops::Range;

use crate::diag::Diagnostic;

/// Largest skill file Pyra reads. A skill is a hand-written document: anything larger is a
/// mistake or an attack, and refusing it early keeps memory bounded.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// A byte range into a [`SourceFile`]'s text.
pub type Span = Range<usize>;

/// The text of one skill file, with its name as it should appear in diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wraps text that is already known to be UTF-8.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Self { name: name.into(), text, line_starts }
    }

    /// Decodes raw bytes. Invalid UTF-8 and oversized files become a located diagnostic;
    /// the returned file then holds a lossy copy of the text so the snippet can be shown.
    pub fn from_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Self, (Self, Diagnostic)> {
        let name = name.into();
        if bytes.len() > MAX_SOURCE_BYTES {
            let file = Self::new(name, String::new());
            let diag = Diagnostic::error(
                "file-too-large",
                format!("the file is {} bytes; skill files are limited to {} bytes", bytes.len(), MAX_SOURCE_BYTES),
            )
            .at(0..0)
            .with_help("split the skill into smaller skills and call them with `uses: skill`");
            return Err((file, diag));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Self::new(name, text)),
            Err(err) => {
                let at = err.valid_up_to();
                let bad_len = err.error_len().unwrap_or(bytes.len() - at).max(1);
                let lossy = String::from_utf8_lossy(bytes).into_owned();
                // The lossy text has U+FFFD (3 bytes) where the bad bytes were; the valid
                // prefix is identical, so `at` still points at the right place.
                let file = Self::new(name, lossy);
                let bytes_shown: Vec<String> = bytes[at..at + bad_len].iter().map(|b| format!("0x{b:02x}")).collect();
                let diag = Diagnostic::error(
                    "not-utf8",
                    format!("the file is not valid UTF-8 (byte {} is {})", at, bytes_shown.join(" ")),
                )
                .at(at..at + 3.min(file.text.len() - at))
                .with_label("invalid UTF-8 here")
                .with_help("save the file as UTF-8 (skill files are text)");
                Err((file, diag))
            }
        }
    }

    /// The name shown in diagnostics (usually the path as the user wrote it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `span` clamped to the text and widened to whole characters: the start moves back
    /// and the end forward to the nearest character boundary (an empty span stays empty
    /// unless it sat inside a character). Renderers slice the text with spans, so
    /// everything shown goes through this.
    pub fn snap(&self, span: &Span) -> Span {
        let start = floor_char_boundary(&self.text, span.start);
        let end = ceil_char_boundary(&self.text, span.end.max(start));
        start..end
    }

    /// The span of the character that starts at `offset` (empty at the end of the text);
    /// `offset` is first moved back to a character boundary.
    pub fn char_at(&self, offset: usize) -> Span {
        let start = floor_char_boundary(&self.text, offset);
        let len = self.text[start..].chars().next().map_or(0, char::len_utf8);
        start..start + len
    }

    /// The byte span of `chars` characters starting at byte `offset` (fewer at the end of
    /// the text), for positions counted in characters as serde-saphyr reports some.
    pub fn chars_from(&self, offset: usize, chars: usize) -> Span {
        let start = floor_char_boundary(&self.text, offset);
        let len: usize = self.text[start..].chars().take(chars).map(char::len_utf8).sum();
        start..start + len
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// Byte offset of a 1-based line and column (in characters), clamped to the text.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let line_end = rest.find('\n').unwrap_or(rest.len());
        rest[..line_end].char_indices().nth(col.saturating_sub(1)).map_or(start + line_end, |(i, _)| start + i)
    }
}

/// The largest character boundary of `text` at or before `index` (clamped to its length).
/// (`str::floor_char_boundary` is newer than the workspace's minimum Rust.)
pub fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest character boundary of `text` at or after `index` (clamped to its length).
pub fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_round_trips() {
        let f = SourceFile::new("x", "ab\ncdé\n\nx");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(7), (2, 4));
        assert_eq!(f.line_col(8), (3, 1));
        assert_eq!(f.line_col(9), (4, 1));
        assert_eq!(f.offset_of(2, 3), 5);
        assert_eq!(f.offset_of(4, 1), 9);
        assert_eq!(f.offset_of(9, 1), f.text().len());
    }

    #[test]
    fn spans_snap_to_whole_characters() {
        // `“` is bytes 0..3, `a` 3, ` ` 4, `é` 5..7, `😀` 7..11, `\n` 11.
        let f = SourceFile::new("x", "“a é😀\n");
        assert_eq!(f.snap(&(0..1)), 0..3);
        assert_eq!(f.snap(&(1..2)), 0..3);
        assert_eq!(f.snap(&(3..6)), 3..7);
        assert_eq!(f.snap(&(6..8)), 5..11);
        assert_eq!(f.snap(&(3..3)), 3..3);
        assert_eq!(f.snap(&(2..2)), 0..3);
        assert_eq!(f.snap(&Span { start: 9, end: 1 }), 7..7, "an inverted span becomes empty at its start");
        assert_eq!(f.snap(&(50..60)), 12..12);
        assert_eq!(f.char_at(0), 0..3);
        assert_eq!(f.char_at(8), 7..11);
        assert_eq!(f.char_at(12), 12..12);
        assert_eq!(f.chars_from(0, 1), 0..3);
        assert_eq!(f.chars_from(5, 2), 5..11);
        assert_eq!(f.chars_from(11, 9), 11..12);
    }

    #[test]
    fn invalid_utf8_is_located() {
        let (file, diag) = SourceFile::from_bytes("x.yaml", b"name: ok\nd: \xff\xfe\n").unwrap_err();
        assert_eq!(diag.code, "not-utf8");
        assert_eq!(file.line_col(diag.span.clone().unwrap().start), (2, 4));
    }
}
