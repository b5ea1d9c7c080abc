//! Server-sent events (the WHATWG `text/event-stream` rules): lines end with LF, CRLF or
//! CR; a blank line dispatches the event; `data:` lines join with `\n`; one space after
//! the colon is dropped; lines starting with `:` are comments (keep-alives); `event:`
//! names the event; other fields are ignored. Bytes may be split anywhere.

use crate::WireError;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// The most bytes one line may hold before the stream counts as broken.
const MAX_LINE: usize = 16 << 20;

#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// A CR ended the last line: a LF right after it belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feeds bytes; the events they complete go to `out`, also those completed before a
    /// line that breaks the stream (the caller decodes them before it reports the error,
    /// as it would have had the bytes been split before that line).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), WireError> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out)?;
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(WireError::Protocol("an event-stream line longer than 16 MiB".into()));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    /// The stream ended: an event without its closing blank line still counts.
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, WireError> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut out)?;
        }
        self.dispatch(&mut out);
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), WireError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line =
            std::str::from_utf8(line).map_err(|_| WireError::Protocol("an event-stream line is not UTF-8".into()))?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            out.push(SseEvent { event, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = Parser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        out.extend(p.finish().unwrap());
        out
    }

    #[test]
    fn events_split_anywhere_give_the_same_result() {
        let text = b": keep-alive\r\nevent: delta\r\ndata: {\"a\":\r\ndata:1}\r\n\r\ndata: caf\xc3\xa9\n\ndata: last";
        let whole = all(&[text]);
        assert_eq!(
            whole,
            vec![
                SseEvent { event: Some("delta".into()), data: "{\"a\":\n1}".into() },
                SseEvent { event: None, data: "café".into() },
                SseEvent { event: None, data: "last".into() },
            ]
        );
        for cut in 1..text.len() {
            assert_eq!(all(&[&text[..cut], &text[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(all(&bytes), whole);
    }

    #[test]
    fn bare_cr_line_ends_and_fields_without_values() {
        assert_eq!(
            all(&[b"data\r\rdata: x\r\r"]),
            vec![SseEvent { event: None, data: String::new() }, SseEvent { event: None, data: "x".into() }]
        );
        assert_eq!(all(&[b"event: ping\n\n"]), vec![]);
    }
}
