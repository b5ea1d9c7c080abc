//! JSONC to JSON in place: comments (`//`, `/* */`) and trailing commas are replaced by
//! spaces, newlines kept, so every byte offset in the result is the same as in the input
//! and the YAML front end's spans point into the file the user wrote.
//!
//! A small scanner rather than a crate: none in the lock file blanks comments keeping
//! offsets. It knows double-quoted strings with backslash escapes, and single-quoted ones
//! (JSON5, as OpenClaw's `openclaw.json` allows; a `''` inside is two strings back to back,
//! which blanks the same), so `"http://x"` and `"/*"` inside a string are left alone.

use syntax::{Diagnostic, Span};

/// Whether `text` is JSON (or JSONC/JSON5) rather than YAML: after a byte-order mark,
/// whitespace and comments, it opens an object or an array.
pub(crate) fn looks_like_json(text: &str) -> bool {
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else {
            return rest.starts_with('{') || rest.starts_with('[');
        }
    }
}

/// `text` with its comments and trailing commas blanked (each byte replaced by a space,
/// except line breaks), or a located error for a comment that is never closed.
pub(crate) fn blank(text: &str) -> Result<String, Diagnostic> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    // The last comma outside strings and comments, while only whitespace and comments
    // followed it: blanked if a `}` or `]` comes next.
    let mut pending_comma: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                pending_comma = None;
                i = skip_string(bytes, i, quote);
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| i + n);
                blank_range(&mut out, i..end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let Some(close) = find(&bytes[i + 2..], b"*/") else {
                    return Err(Diagnostic::error("unterminated-comment", "this comment is never closed")
                        .at(i..i + 2)
                        .with_label("the comment starts here")
                        .with_help("close it with `*/`, or remove it"));
                };
                let end = i + 2 + close + 2;
                blank_range(&mut out, i..end);
                i = end;
            }
            b',' => {
                pending_comma = Some(i);
                i += 1;
            }
            b'}' | b']' => {
                if let Some(comma) = pending_comma.take() {
                    out[comma] = b' ';
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            _ => {
                pending_comma = None;
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced, and each by a whole run of characters (comments) or
    // an ASCII comma, so the text is still UTF-8.
    String::from_utf8(out).map_err(|_| Diagnostic::error("jsonc", "blanking the comments broke the text"))
}

/// The index just past the string opening at `start` (or the end of the text if it is
/// never closed: the parser reports that). A backslash escapes the next byte in
/// double-quoted and single-quoted strings alike, as in JSON5. A line break ends an
/// unclosed string too, so one stray quote does not hide every comment after it.
fn skip_string(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn blank_range(out: &mut [u8], range: Span) {
    for b in &mut out[range] {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_shape(input: &str, output: &str) {
        assert_eq!(input.len(), output.len(), "offsets move:\n{input}\n{output}");
        let lines = |s: &str| s.match_indices('\n').map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(lines(input), lines(output), "line breaks move");
    }

    #[test]
    fn blanks_comments_and_trailing_commas_keeping_offsets() {
        let input = "{\n  // a comment, with \"quotes\"\n  \"a\": 1, /* inline */ \"b\": [1, 2,],\n  /* multi\n     line é */\n  \"c\": {\"d\": true,\n  // last\n  },\n}\n";
        let out = blank(input).unwrap();
        same_shape(input, &out);
        assert_eq!(
            out,
            "{\n                             \n  \"a\": 1,              \"b\": [1, 2 ],\n          \n               \n  \"c\": {\"d\": true \n         \n  } \n}\n"
        );
    }

    #[test]
    fn strings_are_left_alone() {
        let cases = [
            r#"{"url": "http://x/y"}"#,
            r#"{"a": "say \"//hi\" /* no */", "b": "c"}"#,
            r#"{"a": "/*", "b": "*/"}"#,
            r#"{"a": "ends with backslash \\", "b": "// x"}"#,
            r#"{"a": ",}", 'b': '//, ]'}"#,
            r#"{"a": "it''s"}"#,
        ];
        for case in cases {
            assert_eq!(blank(case).unwrap(), case, "{case}");
        }
        let out = blank(r#"{"a": "\"", /* c */ "b": 1}"#).unwrap();
        assert_eq!(out, r#"{"a": "\"",         "b": 1}"#);
    }

    #[test]
    fn a_comment_that_never_ends_is_located() {
        let input = "{\n  \"a\": 1 /* forgot\n}\n";
        let err = blank(input).unwrap_err();
        assert_eq!(err.code, "unterminated-comment");
        assert_eq!(err.span, Some(11..13));
        assert!(err.help.unwrap().contains("*/"));
        // `/*` inside a string opens nothing.
        assert!(blank(r#"{"a": "/* not a comment"}"#).is_ok());
    }

    #[test]
    fn a_comma_before_a_value_stays() {
        let input = "[1, // one\n 2]";
        assert_eq!(blank(input).unwrap(), "[1,       \n 2]");
        // A comma after an unclosed string's line still blanks what follows.
        let input = "{\"a\": \"oops\n, // c\n}";
        assert_eq!(blank(input).unwrap(), "{\"a\": \"oops\n      \n}");
    }

    #[test]
    fn json_is_told_from_yaml() {
        assert!(looks_like_json("{}"));
        assert!(looks_like_json("\u{feff}  // settings\n/* x */ {\"a\": 1}"));
        assert!(looks_like_json("[1]"));
        assert!(!looks_like_json("extensions:\n  a: {}\n"));
        assert!(!looks_like_json("# comment\n{a: 1}"));
        assert!(!looks_like_json(""));
    }
}
