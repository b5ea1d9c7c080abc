//! Newline-delimited JSON: one value per line (LF or CRLF), blank lines ignored. Bytes may
//! be split anywhere.

use serde_json::Value;

use crate::WireError;

/// The most bytes one line may hold before the stream counts as broken.
const MAX_LINE: usize = 16 << 20;

#[derive(Debug, Default)]
pub struct Lines {
    line: Vec<u8>,
}

impl Lines {
    /// Feeds bytes; the values of the lines they complete go to `out`, also those before
    /// a line that breaks the stream (the caller decodes them before it reports the error,
    /// as it would have had the bytes been split before that line).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Value>) -> Result<(), WireError> {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                parse(&line, out)?;
            } else {
                if self.line.len() >= MAX_LINE {
                    return Err(WireError::Protocol("a JSON line longer than 16 MiB".into()));
                }
                self.line.push(b);
            }
        }
        Ok(())
    }

    /// The stream ended: a last line without its newline still counts.
    pub fn finish(&mut self) -> Result<Vec<Value>, WireError> {
        let mut out = Vec::new();
        let line = std::mem::take(&mut self.line);
        parse(&line, &mut out)?;
        Ok(out)
    }
}

fn parse(line: &[u8], out: &mut Vec<Value>) -> Result<(), WireError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value = serde_json::from_slice(line).map_err(|e| {
        let shown = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
        WireError::Protocol(format!("a line is not JSON ({e}): {shown}"))
    })?;
    out.push(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_split_anywhere() {
        let text = "{\"a\":\"é\"}\r\n\n{\"b\":2}\n{\"c\":3}".as_bytes();
        for cut in 1..text.len() {
            let mut l = Lines::default();
            let mut out = Vec::new();
            l.feed(&text[..cut], &mut out).unwrap();
            l.feed(&text[cut..], &mut out).unwrap();
            out.extend(l.finish().unwrap());
            assert_eq!(out, vec![json!({"a": "é"}), json!({"b": 2}), json!({"c": 3})], "cut at {cut}");
        }
    }

    #[test]
    fn a_broken_line_is_a_protocol_error() {
        let mut l = Lines::default();
        let mut out = Vec::new();
        assert!(matches!(l.feed(b"{\"a\":1}\n{oops}\n", &mut out), Err(WireError::Protocol(_))));
        assert_eq!(out, vec![json!({"a": 1})], "the line before the broken one is kept");
    }
}
