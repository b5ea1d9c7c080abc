//! `model_stream`: the four model wire decoders (`llm::wire`: OpenAI chat completions,
//! Anthropic messages, Ollama NDJSON, Gemini SSE) fed a streamed reply split anywhere, and
//! each format's error-body and model-list readers.
//!
//! Input: one byte choosing the format, three bytes choosing where to cut (each a fraction
//! of the length), then the stream. Property: the events and the end are the same whole,
//! cut at those points, and (for short streams) one byte at a time.

use llm::StreamEvent;
use llm::wire::Format;

const FORMATS: [Format; 4] = [Format::OpenAi, Format::Anthropic, Format::Ollama, Format::Gemini];

/// Streams up to this long are also fed one byte at a time.
const BYTEWISE: usize = 4096;

type Decoded = (Vec<StreamEvent>, Result<(), llm::WireError>);

/// Feeds `chunks` in order to a fresh decoder, then finishes; stops at the first error.
fn decode(format: Format, chunks: &[&[u8]]) -> Decoded {
    let mut decoder = format.decoder();
    let mut events = Vec::new();
    for chunk in chunks {
        match decoder.feed(chunk) {
            Ok(more) => events.extend(more),
            Err(e) => return (events, Err(e)),
        }
        if decoder.done() {
            // The client stops reading here: nothing after the last message counts.
            break;
        }
    }
    match decoder.finish() {
        Ok(more) => {
            events.extend(more);
            (events, Ok(()))
        }
        Err(e) => (events, Err(e)),
    }
}

pub fn model_stream(data: &[u8]) {
    let [choice, c1, c2, c3, stream @ ..] = data else { return };
    let format = FORMATS[usize::from(*choice) % FORMATS.len()];
    let whole = decode(format, &[stream]);
    let cut = decode(format, &super::pieces(stream, &[*c1, *c2, *c3]));
    assert_eq!(cut, whole, "{format:?}: cut at {c1}, {c2}, {c3} (of 255) differs from whole");
    if stream.len() <= BYTEWISE {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(format, &bytes), whole, "{format:?}: one byte at a time differs from whole");
    }
    let _ = format.error_message(stream);
    let _ = format.is_final_error(stream);
    if let Ok(body) = serde_json::from_slice(stream) {
        let _ = format.parse_models(&body);
    }
}
