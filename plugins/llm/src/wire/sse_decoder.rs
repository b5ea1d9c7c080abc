//! The decoder of a reply streamed as server-sent events and closed by the protocol's
//! last message (OpenAI's `[DONE]`, Anthropic's `message_stop`), around what each format
//! makes of one event ([`SseReply`]). Nothing after the last message counts; at the end,
//! an event cut off mid-way counts as the early end it is. Gemini's stream has no last
//! message and reports the usage counted so far before an error, so it drives its
//! parser itself.

use super::failure::Failure;
use super::sse::{Parser, SseEvent};
use crate::{StreamEvent, WireError};

/// What one format makes of a reply's events.
pub trait SseReply: Default + Send {
    /// Decodes one event into `out`.
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError>;
    /// The protocol's last message was seen.
    fn done(&self) -> bool;
    /// The stream ended before the last message: completes the reply when what came
    /// allows it, or says why not.
    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), WireError>;
}

/// Decodes a reply whose events `R` understands. An error found after some events in
/// the same bytes is returned by the next call (`feed` or `finish`), so no event before
/// it is lost.
#[derive(Debug, Default)]
pub struct SseDecoder<R> {
    sse: Parser,
    reply: R,
    failed: Failure,
}

impl<R: SseReply> super::Decoder for SseDecoder<R> {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, WireError> {
        self.failed.check()?;
        if self.reply.done() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut events = Vec::new();
        let framed = self.sse.feed(bytes, &mut events);
        // The events before a broken line count (they would, had the bytes been split
        // before it), and nothing after the last message does.
        let result = events
            .iter()
            .try_for_each(|ev| self.event(ev, &mut out))
            .and_then(|()| if self.reply.done() { Ok(()) } else { framed });
        self.failed.settle(result, out)
    }

    fn done(&self) -> bool {
        self.reply.done() && !self.failed.has_failed()
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, WireError> {
        self.failed.check()?;
        if self.reply.done() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        // An event without its closing blank line may be a line cut off mid-way: one that
        // does not parse counts as the early end it is (`end` says so), not as a
        // malformed event.
        let mut result = self.sse.finish().and_then(|events| {
            events.iter().try_for_each(|ev| match self.event(ev, &mut out) {
                Err(WireError::Protocol(_)) => Ok(()),
                other => other,
            })
        });
        if result.is_ok() && !self.reply.done() {
            result = self.reply.end(&mut out);
        }
        self.failed.settle_end(result, out)
    }
}

impl<R: SseReply> SseDecoder<R> {
    /// One event, unless the last message came before it in the same bytes.
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.reply.done() { Ok(()) } else { self.reply.event(ev, out) }
    }
}
