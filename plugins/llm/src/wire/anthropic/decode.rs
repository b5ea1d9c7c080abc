//! Decodes an Anthropic Messages stream. `ping` may come anywhere; an `error` event may
//! come after HTTP 200 (overload); unknown events are ignored.
//!
//! A `tool_use` block's input arrives as `input_json_delta` pieces of JSON text, emitted as
//! one [`ToolCall`] when the block stops. Usage follows the provider-neutral meaning:
//! `prompt` counts every prompt token (Anthropic's `input_tokens` plus the tokens read from
//! and written to the cache, which it counts apart), `cached` the ones read from the cache.
//!
//! [`ToolCall`]: crate::ToolCall

use std::collections::BTreeMap;

use serde_json::Value;

use crate::wire::calls::{self, PartialCall};
use crate::wire::failure;
use crate::wire::sse::SseEvent;
use crate::wire::sse_decoder::{SseDecoder, SseReply};
use crate::{Finish, StreamEvent, Usage, WireError};

/// A content block of the reply being streamed.
#[derive(Debug)]
enum Block {
    Text,
    ToolUse {
        /// The call, its arguments the `input_json_delta` pieces so far.
        call: PartialCall,
        /// The block's `input` at its start when not empty (no deltas follow then).
        initial: Option<String>,
    },
    /// Thinking, server tools and kinds this adapter does not know: not shown.
    Other,
}

/// Decodes a streamed Messages reply.
pub type Decoder = SseDecoder<Events>;

/// What the events of a Messages reply said so far: the part of [`Decoder`] that is
/// Anthropic's.
#[derive(Debug, Default)]
pub struct Events {
    /// Open content blocks, by index.
    blocks: BTreeMap<u64, Block>,
    /// Usage as last reported, field by field.
    input: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    output: Option<u64>,
    /// The stop reason from `message_delta`.
    stop: Option<Finish>,
    /// Tool calls already emitted.
    emitted_calls: bool,
    /// `message_stop` seen: nothing more counts.
    done: bool,
}

impl SseReply for Events {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) if ev.event.as_deref() == Some("error") => {
                return Err(WireError::Api { message: data.to_string(), retryable: false });
            }
            Err(e) => return Err(failure::not_json("an event", &e, data)),
        };
        let kind = v.get("type").and_then(Value::as_str).or(ev.event.as_deref()).unwrap_or_default();
        match kind {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.usage(u, out);
                }
            }
            "content_block_start" => {
                let index = index(&v)?;
                let block = v.get("content_block").unwrap_or(&Value::Null);
                let block = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = block.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(t.to_string()));
                        }
                        Block::Text
                    }
                    Some("tool_use") => Block::ToolUse {
                        call: PartialCall {
                            id: block.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                            name: block.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                            arguments: String::new(),
                        },
                        initial: block
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                            .map(Value::to_string),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let index = index(&v)?;
                let delta = v.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = delta.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(t.to_string()));
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = delta.get("partial_json").and_then(Value::as_str).unwrap_or_default();
                        match self.blocks.get_mut(&index) {
                            Some(Block::ToolUse { call, .. }) => call.arguments.push_str(piece),
                            Some(_) => {}
                            None => {
                                return Err(WireError::Protocol(format!(
                                    "tool input for content block {index}, which never started"
                                )));
                            }
                        }
                    }
                    // Thinking, signatures, citations: not part of the reply's text.
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(block) = self.blocks.remove(&index(&v)?) {
                    self.close(block, out);
                }
            }
            "message_delta" => {
                if let Some(reason) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(stop_reason(reason));
                }
                if let Some(u) = v.get("usage") {
                    self.usage(u, out);
                }
            }
            "message_stop" => {
                // A block left open would otherwise be lost.
                for block in std::mem::take(&mut self.blocks).into_values() {
                    self.close(block, out);
                }
                let finish = self.stop.take().unwrap_or_else(|| calls::natural_stop(self.emitted_calls));
                out.push(StreamEvent::Finish(finish));
                self.done = true;
            }
            "error" => {
                let err = v.get("error").unwrap_or(&Value::Null);
                let kind = err.get("type").and_then(Value::as_str).unwrap_or_default();
                let message = err
                    .get("message")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .unwrap_or(if kind.is_empty() { "unknown error" } else { kind })
                    .to_string();
                let retryable = matches!(kind, "overloaded_error" | "rate_limit_error" | "api_error" | "timeout_error");
                return Err(WireError::Api { message, retryable });
            }
            // `ping`, and event kinds added after this adapter.
            _ => {}
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.done
    }

    /// Without `message_stop` the reply is incomplete, whatever came.
    fn end(&mut self, _: &mut Vec<StreamEvent>) -> Result<(), WireError> {
        Err(failure::early_end())
    }
}

impl Events {
    fn close(&mut self, block: Block, out: &mut Vec<StreamEvent>) {
        if let Block::ToolUse { call, initial } = block {
            self.emitted_calls = true;
            out.push(StreamEvent::ToolCall(call.complete(initial)));
        }
    }

    /// Takes the counts `u` reports (output tokens are cumulative) and emits them all.
    fn usage(&mut self, u: &Value, out: &mut Vec<StreamEvent>) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        self.input = n("input_tokens").or(self.input);
        self.cache_read = n("cache_read_input_tokens").or(self.cache_read);
        self.cache_write = n("cache_creation_input_tokens").or(self.cache_write);
        self.output = n("output_tokens").or(self.output);
        out.push(StreamEvent::Usage(Usage {
            prompt: self.input.map(|i| i + self.cache_read.unwrap_or(0) + self.cache_write.unwrap_or(0)),
            completion: self.output,
            cached: self.cache_read,
        }));
    }
}

fn index(v: &Value) -> Result<u64, WireError> {
    v.get("index")
        .and_then(Value::as_u64)
        .ok_or_else(|| WireError::Protocol("a content block event without an index".into()))
}

fn stop_reason(reason: &str) -> Finish {
    match reason {
        "end_turn" | "stop_sequence" => Finish::Stop,
        "max_tokens" => Finish::Length,
        "tool_use" => Finish::ToolCalls,
        "refusal" => Finish::ContentFilter,
        other => Finish::Other(other.to_string()),
    }
}
