//! Decodes a Gemini stream. Each `data:` is a whole `GenerateContentResponse`: the next
//! parts of `candidates[0].content` (text, or a complete `functionCall` with `args` as a
//! JSON object and, in older versions, no id), `finishReason` on the last chunk, and
//! `usageMetadata` (cumulative, usually on every chunk). A failure after the reply began
//! arrives as a data line holding an `error` object.
//!
//! The stream has no last message (it ends with the connection), so unlike OpenAI's and
//! Anthropic's this decoder drives its event-stream parser itself.

use serde_json::Value;

use super::error_text;
use crate::wire::calls;
use crate::wire::failure::{self, Failure};
use crate::wire::sse::Parser;
use crate::{Finish, StreamEvent, ToolCall, Usage, WireError};

/// An `error` object in the stream; overload and rate limits are retryable.
fn stream_error(error: &Value) -> WireError {
    let message = error_text(error).unwrap_or_else(|| format!("Gemini reported an error: {error}"));
    let code = error.get("code").and_then(Value::as_u64);
    let status = error.get("status").and_then(Value::as_str);
    let retryable = matches!(code, Some(429 | 503))
        || matches!(status, Some("RESOURCE_EXHAUSTED" | "UNAVAILABLE"))
        || message.to_lowercase().contains("overloaded");
    WireError::Api { message, retryable }
}

/// Token counts as Gemini names them; each chunk's counts replace the earlier ones.
#[derive(Debug, Default)]
struct Counts {
    prompt: Option<u64>,
    candidates: Option<u64>,
    cached: Option<u64>,
    thoughts: Option<u64>,
}

impl Counts {
    fn update(&mut self, meta: &Value) {
        let get = |k: &str| meta.get(k).and_then(Value::as_u64);
        self.prompt = get("promptTokenCount").or(self.prompt);
        self.candidates = get("candidatesTokenCount").or(self.candidates);
        self.cached = get("cachedContentTokenCount").or(self.cached);
        self.thoughts = get("thoughtsTokenCount").or(self.thoughts);
    }

    fn usage(&self) -> Usage {
        let completion = match (self.candidates, self.thoughts) {
            (Some(c), Some(t)) => Some(c + t),
            (c, t) => c.or(t),
        };
        Usage { prompt: self.prompt, completion, cached: self.cached }
    }
}

/// Decodes a `streamGenerateContent?alt=sse` stream. Usage and the finish reason are
/// emitted once, when the stream ends: a later chunk may still update them. An error
/// after some events in the same bytes is returned by the next call (`feed` or
/// `finish`), so no event before it is lost; the usage counted until an error is
/// emitted before it (the call may be billed).
#[derive(Debug, Default)]
pub struct Decoder {
    sse: Parser,
    /// Tool calls emitted so far.
    calls: usize,
    counts: Counts,
    saw_usage: bool,
    /// The latest `finishReason`.
    finish_reason: Option<String>,
    /// Finish was emitted.
    done: bool,
    failed: Failure,
}

impl Decoder {
    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data).map_err(|e| {
            let shown: String = data.chars().take(200).collect();
            WireError::Protocol(format!("an event is not JSON ({e}): {shown}"))
        })?;
        match &value {
            Value::Array(items) => items.iter().try_for_each(|item| self.chunk(item, out)),
            _ => self.chunk(&value, out),
        }
    }

    /// One `GenerateContentResponse`.
    fn chunk(&mut self, chunk: &Value, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(stream_error(error));
        }
        if let Some(meta) = chunk.get("usageMetadata").filter(|m| m.is_object()) {
            self.counts.update(meta);
            self.saw_usage = true;
        }
        let Some(candidate) = chunk.get("candidates").and_then(Value::as_array).and_then(|c| c.first()) else {
            if let Some(reason) = chunk.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
                return Err(WireError::Api { message: format!("blocked: {reason}"), retryable: false });
            }
            return Ok(());
        };
        let parts = candidate.pointer("/content/parts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for part in parts {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            if let Some(text) = part.get("text").and_then(Value::as_str)
                && !text.is_empty()
            {
                out.push(StreamEvent::Text(text.to_string()));
            }
            if let Some(call) = part.get("functionCall") {
                let call = self.tool_call(call)?;
                out.push(StreamEvent::ToolCall(call));
            }
        }
        if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str)
            && reason != "FINISH_REASON_UNSPECIFIED"
        {
            self.finish_reason = Some(reason.to_string());
        }
        Ok(())
    }

    /// A complete call, `{"name", "args": {...}}`, with an `id` only from newer versions.
    fn tool_call(&mut self, call: &Value) -> Result<ToolCall, WireError> {
        let arguments = match call.get("args") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(args) => args.to_string(),
        };
        let call = calls::whole_call(call, call.get("name"), arguments, "a function call")?;
        self.calls += 1;
        Ok(call)
    }

    fn finish_reason(&self, reason: &str) -> Finish {
        match reason {
            "STOP" => calls::natural_stop(self.calls > 0),
            "MAX_TOKENS" => Finish::Length,
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT" => Finish::ContentFilter,
            other => Finish::Other(other.to_string()),
        }
    }
}

impl crate::wire::Decoder for Decoder {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, WireError> {
        self.failed.check()?;
        let mut out = Vec::new();
        let mut events = Vec::new();
        let framed = self.sse.feed(bytes, &mut events);
        // The events before a broken line count, as they would had the bytes been split
        // before it.
        let result = events.iter().try_for_each(|ev| self.event(&ev.data, &mut out)).and(framed);
        if result.is_err() && self.saw_usage {
            // The usage counted so far goes with the events before the error.
            out.push(StreamEvent::Usage(self.counts.usage()));
        }
        self.failed.settle(result, out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, WireError> {
        self.failed.check()?;
        let mut out = Vec::new();
        let result =
            self.sse.finish().and_then(|events| events.iter().try_for_each(|ev| self.event(&ev.data, &mut out)));
        if let Err(e) = result {
            self.failed.fail(&e);
            return Err(e);
        }
        if self.done {
            return Ok(out);
        }
        let Some(reason) = &self.finish_reason else {
            return Err(failure::early_end());
        };
        let finish = self.finish_reason(reason);
        if self.saw_usage {
            out.push(StreamEvent::Usage(self.counts.usage()));
        }
        out.push(StreamEvent::Finish(finish));
        self.done = true;
        Ok(out)
    }
}
