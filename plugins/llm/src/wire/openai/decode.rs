//! Decodes an OpenAI chat completion stream, accepting the small variations of
//! OpenAI-compatible servers: usage in the finish chunk rather than a separate last one,
//! tool-call fragments without `index`, an `error` object in a chunk after HTTP 200.
//!
//! Tool calls arrive as fragments keyed by `index` (the id and name in the first, the
//! arguments as string pieces to concatenate, several calls possibly interleaved); they
//! are emitted whole, in index order, when the choice's `finish_reason` arrives (or at
//! `[DONE]`). [`StreamEvent::Finish`] is emitted once, last: at `[DONE]`, or at the end of
//! the stream when the finish reason was seen but `[DONE]` never came.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::wire::calls::{self, PartialCall};
use crate::wire::failure;
use crate::wire::sse::SseEvent;
use crate::wire::sse_decoder::{SseDecoder, SseReply};
use crate::{Finish, StreamEvent, Usage, WireError};

/// Decodes a streamed chat completion.
pub type Decoder = SseDecoder<Chunks>;

/// What the chunks of a chat completion said so far: the part of [`Decoder`] that is
/// OpenAI's.
#[derive(Debug, Default)]
pub struct Chunks {
    /// Tool calls being assembled, by `index`.
    calls: BTreeMap<u64, PartialCall>,
    /// The index the last fragment went to (for servers that omit `index`).
    last_index: Option<u64>,
    /// Tool calls already emitted.
    emitted_calls: bool,
    /// The choice's `finish_reason`, once seen.
    finish: Option<Finish>,
    /// `[DONE]` seen (or the stream ended after the finish reason): nothing more counts.
    done: bool,
}

impl SseReply for Chunks {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.complete(out);
            return Ok(());
        }
        let chunk: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) if ev.event.as_deref() == Some("error") => {
                return Err(WireError::Api { message: data.to_string(), retryable: retryable_text(data) });
            }
            Err(e) => return Err(failure::not_json("a chunk", &e, data)),
        };
        if let Some(e) = chunk_error(&chunk) {
            return Err(e);
        }
        if let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0))
        {
            if let Some(delta) = choice.get("delta") {
                self.delta(delta, out);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                if self.finish.is_none() {
                    self.finish = Some(finish_reason(reason));
                }
                self.flush_calls(out);
            }
        }
        let usage = chunk.get("usage").filter(|u| u.is_object()).or_else(|| chunk.pointer("/x_groq/usage"));
        if let Some(u) = usage {
            out.push(StreamEvent::Usage(parse_usage(u)));
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.done
    }

    /// Without `[DONE]` the reply is complete once the finish reason came.
    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        if self.finish.is_none() {
            return Err(failure::early_end());
        }
        self.complete(out);
        Ok(())
    }
}

impl Chunks {
    fn delta(&mut self, delta: &Value, out: &mut Vec<StreamEvent>) {
        // `refusal` is the model's explanation when it declines a structured reply.
        for field in ["content", "refusal"] {
            if let Some(text) = delta.get(field).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Text(text.to_string()));
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                self.fragment(call);
            }
        }
        // The legacy single function call: one call, no id.
        if let Some(f) = delta.get("function_call").filter(|f| f.is_object()) {
            self.fragment(&json!({ "index": 0, "function": f }));
        }
    }

    fn fragment(&mut self, frag: &Value) {
        let id = frag.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
        let index = match frag.get("index").and_then(Value::as_u64) {
            Some(i) => i,
            // Without `index`: a new id starts a new call, anything else continues the last.
            None => match id {
                Some(id) => self
                    .calls
                    .iter()
                    .find(|(_, c)| c.id == id)
                    .map(|(i, _)| *i)
                    .unwrap_or_else(|| self.calls.keys().next_back().map_or(0, |i| i + 1)),
                None => self.last_index.unwrap_or(0),
            },
        };
        self.last_index = Some(index);
        let call = self.calls.entry(index).or_default();
        if let Some(id) = id
            && call.id.is_empty()
        {
            call.id = id.to_string();
        }
        let Some(function) = frag.get("function") else { return };
        if let Some(name) = function.get("name").and_then(Value::as_str).filter(|s| !s.is_empty())
            && call.name.is_empty()
        {
            call.name = name.to_string();
        }
        match function.get("arguments") {
            Some(Value::String(piece)) => call.arguments.push_str(piece),
            // A few servers send the arguments already parsed.
            Some(v @ (Value::Object(_) | Value::Array(_))) => call.arguments.push_str(&v.to_string()),
            _ => {}
        }
    }

    /// Emits the assembled tool calls, in index order.
    fn flush_calls(&mut self, out: &mut Vec<StreamEvent>) {
        for c in std::mem::take(&mut self.calls).into_values() {
            self.emitted_calls = true;
            out.push(StreamEvent::ToolCall(c.complete(None)));
        }
        self.last_index = None;
    }

    /// The reply is complete: the remaining tool calls, then the one `Finish`.
    fn complete(&mut self, out: &mut Vec<StreamEvent>) {
        self.flush_calls(out);
        let finish = self.finish.take().unwrap_or_else(|| calls::natural_stop(self.emitted_calls));
        out.push(StreamEvent::Finish(finish));
        self.done = true;
    }
}

fn finish_reason(reason: &str) -> Finish {
    match reason {
        "stop" => Finish::Stop,
        "length" => Finish::Length,
        "tool_calls" | "function_call" => Finish::ToolCalls,
        "content_filter" => Finish::ContentFilter,
        other => Finish::Other(other.to_string()),
    }
}

fn parse_usage(u: &Value) -> Usage {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64);
    Usage {
        prompt: n(u.get("prompt_tokens")),
        completion: n(u.get("completion_tokens")),
        // DeepSeek reports its cache hits separately.
        cached: n(u.pointer("/prompt_tokens_details/cached_tokens")).or_else(|| n(u.get("prompt_cache_hit_tokens"))),
    }
}

/// The error a chunk carries: `{"error": {...}}` (OpenAI, OpenRouter, SGLang),
/// `{"error": "..."}`, or vLLM's `{"object": "error", "message": ...}`.
fn chunk_error(chunk: &Value) -> Option<WireError> {
    let (message, retryable) = match chunk.get("error") {
        Some(Value::Null) | None if chunk.get("object").and_then(Value::as_str) == Some("error") => {
            (chunk.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string(), retryable(chunk))
        }
        Some(Value::Null) | None => return None,
        Some(Value::String(s)) => (s.clone(), retryable_text(s)),
        Some(e) => {
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map_or_else(|| e.to_string(), str::to_string);
            (message, retryable(e))
        }
    };
    Some(WireError::Api { message, retryable })
}

/// Rate limits, overload, timeouts and server errors pass; bad requests and exhausted
/// quotas do not.
fn retryable(err: &Value) -> bool {
    ["code", "status", "type"].iter().filter_map(|k| err.get(*k)).any(|v| match v {
        Value::Number(n) => n.as_u64().is_some_and(|n| n == 408 || n == 429 || (500..600).contains(&n)),
        Value::String(s) => match s.parse::<u64>() {
            Ok(n) => n == 408 || n == 429 || (500..600).contains(&n),
            Err(_) => retryable_text(s),
        },
        _ => false,
    })
}

fn retryable_text(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    if s.contains("quota") {
        return false;
    }
    [
        "rate_limit",
        "rate limit",
        "overloaded",
        "server_error",
        "timeout",
        "unavailable",
        "internal",
        "resource_exhausted",
    ]
    .iter()
    .any(|w| s.contains(w))
}
