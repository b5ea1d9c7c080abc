//! Anthropic Messages: `POST {base}/v1/messages` with `stream: true`, answered with typed
//! server-sent events: `message_start`, then for each content block `content_block_start`,
//! `content_block_delta`s and `content_block_stop`, then `message_delta` (the stop reason
//! and the cumulative output token count) and `message_stop`.
//!
//! Here: the requests (the messages, the model list) and the error bodies; `decode`
//! decodes the reply's stream.

mod decode;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::calls;
use super::headers::{self, header};
use super::models;
use crate::{ChatRequest, HttpRequest, Method, Role, WireError};

pub use decode::Decoder;

/// The API version this adapter speaks.
const VERSION: &str = "2023-06-01";

/// The reply length when the request sets none (the API requires one).
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The streaming request for `req`: `POST {base_url}/v1/messages`.
pub fn chat_request(base_url: &str, key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    let mut system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System && !m.content.is_empty())
        .map(|m| m.content.as_str())
        .collect();
    let schema_note = req.response_schema.as_ref().map(|schema| {
        format!(
            "Reply with a single JSON value that matches this JSON Schema, and nothing else (no prose, no code \
             fence):\n{schema}"
        )
    });
    if let Some(note) = &schema_note {
        system.push(note);
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("max_tokens".into(), json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages(req)));
    body.insert("stream".into(), json!(true));
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    HttpRequest {
        method: Method::Post,
        url: endpoint(base_url, "messages"),
        headers: headers(key, true),
        body: Some(Value::Object(body)),
    }
}

/// `GET {base_url}/v1/models`, one page of up to 1000 (the API pages by 20 by default).
pub fn models_request(base_url: &str, key: Option<&str>) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        url: format!("{}?limit=1000", endpoint(base_url, "models")),
        headers: headers(key, false),
        body: None,
    }
}

/// The ids of `{"data": [{"id": …}, …]}`, in the API's order (newest first).
pub fn parse_models(body: &Value) -> Result<Vec<String>, WireError> {
    models::ids(body, "data", "id")
}

/// The message of `{"type": "error", "error": {"type": …, "message": …}}`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value.get("error")?.get("message")?.as_str()?.trim();
    (!message.is_empty()).then(|| message.to_string())
}

/// `{base}/v1/{path}`, whether or not `base` already ends with `/v1`.
fn endpoint(base_url: &str, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") { format!("{base}/{path}") } else { format!("{base}/v1/{path}") }
}

fn headers(key: Option<&str>, streaming: bool) -> Vec<(String, String)> {
    let mut h = Vec::new();
    if let Some(key) = key {
        h.push(header("x-api-key", key));
    }
    h.push(header("anthropic-version", VERSION));
    h.extend(headers::json(streaming));
    h
}

/// The conversation without its system messages. Assistant tool calls become `tool_use`
/// blocks; tool results become `tool_result` blocks of a user message, consecutive ones
/// in the same message (the API wants all results of one turn together).
fn messages(req: &ChatRequest) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    for m in &req.messages {
        if m.role != Role::Tool && !results.is_empty() {
            out.push(json!({ "role": "user", "content": std::mem::take(&mut results) }));
        }
        match m.role {
            Role::System => {}
            Role::User => out.push(json!({ "role": "user", "content": m.content })),
            Role::Assistant if m.tool_calls.is_empty() => {
                // The API refuses empty text; an empty turn says nothing anyway.
                if !m.content.is_empty() {
                    out.push(json!({ "role": "assistant", "content": m.content }));
                }
            }
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({ "type": "text", "text": m.content }));
                }
                for c in &m.tool_calls {
                    let input = calls::arguments_object(&c.arguments);
                    blocks.push(json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": input }));
                }
                out.push(json!({ "role": "assistant", "content": blocks }));
            }
            Role::Tool => results.push(json!({
                "type": "tool_result",
                "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(),
                "content": m.content,
            })),
        }
    }
    if !results.is_empty() {
        out.push(json!({ "role": "user", "content": results }));
    }
    out
}
