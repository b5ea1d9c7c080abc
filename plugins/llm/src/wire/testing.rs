//! Test helpers every wire adapter's tests share: decode a stream fed in given pieces,
//! check that feeding it whole, byte by byte and cut once at every position all give the
//! same events, and write the expected events and headers briefly.

use super::Format;
use crate::{StreamEvent, ToolCall, Usage, WireError};

/// Every event, then how the stream ended.
pub type Decoded = (Vec<StreamEvent>, Result<(), WireError>);

/// Feeds `chunks` in order to a fresh decoder of `format`, then finishes; stops at the
/// first error.
pub fn decode(format: Format, chunks: &[&[u8]]) -> Decoded {
    let mut d = format.decoder();
    let mut events = Vec::new();
    for c in chunks {
        match d.feed(c) {
            Ok(e) => events.extend(e),
            Err(e) => return (events, Err(e)),
        }
    }
    match d.finish() {
        Ok(e) => {
            events.extend(e);
            (events, Ok(()))
        }
        Err(e) => (events, Err(e)),
    }
}

/// Like [`decode`], the end as the error it was, if any.
pub fn run(format: Format, chunks: &[&[u8]]) -> (Vec<StreamEvent>, Option<WireError>) {
    let (events, end) = decode(format, chunks);
    (events, end.err())
}

/// Decodes `bytes` whole, one byte at a time and cut once at every position; all must
/// agree event for event.
pub fn decode_every_way(format: Format, bytes: &[u8]) -> Decoded {
    let whole = decode(format, &[bytes]);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(format, &bytewise), whole, "fed one byte at a time");
    for cut in 0..=bytes.len() {
        assert_eq!(decode(format, &[&bytes[..cut], &bytes[cut..]]), whole, "cut at {cut}");
    }
    whole
}

/// Decodes `bytes` every way (all must agree, and end well); the events with text joined.
pub fn decode_merged(format: Format, bytes: &[u8]) -> Vec<StreamEvent> {
    let (events, end) = decode_every_way(format, bytes);
    assert_eq!(end, Ok(()));
    merged(events)
}

/// Text pieces joined; other events kept in order.
pub fn merged(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut out: Vec<StreamEvent> = Vec::new();
    for e in events {
        if let (StreamEvent::Text(t), Some(StreamEvent::Text(last))) = (&e, out.last_mut()) {
            last.push_str(t);
        } else {
            out.push(e);
        }
    }
    out
}

/// The text joined, and the other events in order.
pub fn split(events: &[StreamEvent]) -> (String, Vec<StreamEvent>) {
    let mut text = String::new();
    let mut rest = Vec::new();
    for e in events {
        match e {
            StreamEvent::Text(t) => text.push_str(t),
            other => rest.push(other.clone()),
        }
    }
    (text, rest)
}

/// A tool call event.
pub fn call(id: &str, name: &str, arguments: &str) -> StreamEvent {
    StreamEvent::ToolCall(ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() })
}

/// A usage event.
pub fn usage(prompt: Option<u64>, completion: Option<u64>, cached: Option<u64>) -> StreamEvent {
    StreamEvent::Usage(Usage { prompt, completion, cached })
}

/// Headers as a request holds them.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Found by the fuzz target `model_stream`: a line that breaks the framing (not UTF-8, not
/// JSON) after complete events in the same bytes lost those events when the bytes came
/// at once, while a split before the line delivered them.
#[test]
fn events_before_a_broken_line_are_kept_however_the_bytes_come() {
    let streams: [(Format, &[u8], &[u8]); 4] = [
        (Format::OpenAi, include_bytes!("../../../../tests/fixtures/llm/openai/text.sse"), b"\n\n"),
        (Format::Anthropic, include_bytes!("../../../../tests/fixtures/llm/anthropic/text.sse"), b"\n\n"),
        (Format::Gemini, include_bytes!("../../../../tests/fixtures/llm/gemini/text.sse"), b"\r\n\r\n"),
        (Format::Ollama, include_bytes!("../../../../tests/fixtures/llm/ollama/text.ndjson"), b"\n"),
    ];
    for (format, fixture, end) in streams {
        // Three events: OpenAI's first holds only the role.
        let third = fixture.windows(end.len()).enumerate().filter(|(_, w)| *w == end).nth(2).expect("three events").0;
        let mut bytes = fixture[..third + end.len()].to_vec();
        bytes.extend_from_slice(b"\xff{\n\n");
        let (events, end) = decode_every_way(format, &bytes);
        assert!(!events.is_empty(), "{format:?}: the first event is lost");
        assert!(matches!(end, Err(WireError::Protocol(_))), "{format:?}: {end:?}");
    }
}
