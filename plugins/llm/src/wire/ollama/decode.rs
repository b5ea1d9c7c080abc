//! Decodes an Ollama chat stream. Every line of the reply is one JSON object:
//! `message.content` carries the next piece of text, `message.tool_calls` carries tool
//! calls that are already complete (their `function.arguments` is a JSON object, not
//! text) and have no ids, and the last line has `done: true` with `done_reason` and the
//! token counts (`prompt_eval_count`, `eval_count`; durations are in nanoseconds and are
//! not surfaced). A failure after the reply began arrives as a line `{"error": "..."}`.

use serde_json::Value;

use super::error_text;
use crate::wire::calls;
use crate::wire::failure::{self, Failure};
use crate::wire::ndjson::Lines;
use crate::{Finish, StreamEvent, ToolCall, Usage, WireError};

/// An error line in a stream: retryable only when the server says it is overloaded.
fn stream_error(error: &Value) -> WireError {
    let message = error_text(error).unwrap_or_else(|| format!("Ollama reported an error: {error}"));
    let lower = message.to_lowercase();
    let retryable = lower.contains("overloaded") || lower.contains("busy");
    WireError::Api { message, retryable }
}

/// Decodes an `/api/chat` stream. An error after some events in the same bytes is
/// returned by the next call (`feed` or `finish`), so no event before it is lost.
#[derive(Debug, Default)]
pub struct Decoder {
    lines: Lines,
    /// Tool calls emitted so far.
    calls: usize,
    /// The `done` line was seen.
    done: bool,
    failed: Failure,
}

impl Decoder {
    fn line(&mut self, line: &Value, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.done {
            return Ok(());
        }
        if let Some(error) = line.get("error").filter(|e| !e.is_null()) {
            return Err(stream_error(error));
        }
        if let Some(message) = line.get("message") {
            if let Some(text) = message.get("content").and_then(Value::as_str)
                && !text.is_empty()
            {
                out.push(StreamEvent::Text(text.to_string()));
            }
            if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    let call = self.tool_call(call)?;
                    out.push(StreamEvent::ToolCall(call));
                }
            }
        }
        if line.get("done").and_then(Value::as_bool) == Some(true) {
            self.done = true;
            let usage = Usage {
                prompt: line.get("prompt_eval_count").and_then(Value::as_u64),
                completion: line.get("eval_count").and_then(Value::as_u64),
                cached: None,
            };
            if usage != Usage::default() {
                out.push(StreamEvent::Usage(usage));
            }
            let finish = match line.get("done_reason").and_then(Value::as_str) {
                // Versions before done_reason existed stopped only naturally.
                Some("stop") | None => calls::natural_stop(self.calls > 0),
                Some("length") => Finish::Length,
                Some(other) => Finish::Other(other.to_string()),
            };
            out.push(StreamEvent::Finish(finish));
        }
        Ok(())
    }

    /// A complete tool call: `{"function": {"name", "arguments": {...}}}`, with an `id`
    /// only from newer servers.
    fn tool_call(&mut self, call: &Value) -> Result<ToolCall, WireError> {
        let function = call.get("function").unwrap_or(&Value::Null);
        let arguments = match function.get("arguments") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(Value::String(text)) => text.clone(),
            Some(value) => value.to_string(),
        };
        let call = calls::whole_call(call, function.get("name"), arguments, "a tool call")?;
        self.calls += 1;
        Ok(call)
    }
}

impl crate::wire::Decoder for Decoder {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, WireError> {
        self.failed.check()?;
        let mut out = Vec::new();
        let mut lines = Vec::new();
        let framed = self.lines.feed(bytes, &mut lines);
        // The lines before a broken one count (they would, had the bytes been split before
        // it), and nothing after the `done` line does.
        let decoded = lines.iter().try_for_each(|l| self.line(l, &mut out));
        let result = decoded.and(if self.done { Ok(()) } else { framed });
        self.failed.settle(result, out)
    }

    fn done(&self) -> bool {
        self.done && !self.failed.has_failed()
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, WireError> {
        self.failed.check()?;
        if self.done {
            // Nothing after the `done` line counts, not even a last line without its newline.
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut result = self.lines.finish().and_then(|lines| lines.iter().try_for_each(|l| self.line(l, &mut out)));
        if result.is_ok() && !self.done {
            result = Err(failure::early_end());
        }
        self.failed.settle_end(result, out)
    }
}
