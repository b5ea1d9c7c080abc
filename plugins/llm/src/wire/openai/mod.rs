//! OpenAI chat completions: `POST {base}/chat/completions` with `stream: true`, answered
//! with server-sent events whose `data:` lines are `chat.completion.chunk` objects and a
//! final `data: [DONE]`. The same format serves every OpenAI-compatible server (OpenRouter,
//! Groq, Mistral, DeepSeek, Together, xAI, LM Studio, llama.cpp, vLLM).
//!
//! Here: the requests (the chat, the model list) and the error bodies; `decode` decodes
//! the reply's stream.

mod decode;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::Dialect;
use super::calls;
use super::headers;
use super::models;
use crate::{ChatRequest, HttpRequest, Message, Method, Role, WireError};

pub use decode::Decoder;

/// The streaming request for `req`: `POST {base_url}/chat/completions`, with the two
/// fields servers disagree on as `dialect` says.
pub fn chat_request(base_url: &str, key: Option<&str>, req: &ChatRequest, dialect: Dialect) -> HttpRequest {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(req.messages.iter().map(message).collect()));
    body.insert("stream".into(), json!(true));
    if dialect.stream_usage {
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(n) = req.max_tokens {
        body.insert(dialect.max_tokens.name().into(), json!(n));
    }
    if !req.tools.is_empty() {
        body.insert("tools".into(), Value::Array(req.tools.iter().map(calls::function_tool).collect()));
    }
    if let Some(schema) = &req.response_schema {
        body.insert(
            "response_format".into(),
            json!({
                "type": "json_schema",
                "json_schema": { "name": "response", "schema": schema, "strict": false },
            }),
        );
    }
    HttpRequest {
        method: Method::Post,
        url: format!("{}/chat/completions", trim(base_url)),
        headers: headers(key, true),
        body: Some(Value::Object(body)),
    }
}

/// `GET {base_url}/models`.
pub fn models_request(base_url: &str, key: Option<&str>) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        url: format!("{}/models", trim(base_url)),
        headers: headers(key, false),
        body: None,
    }
}

/// The ids of `{"data": [{"id": …}, …]}`, sorted.
pub fn parse_models(body: &Value) -> Result<Vec<String>, WireError> {
    Ok(models::sorted(models::ids(body, "data", "id")?))
}

/// The message of `{"error": {"message": …}}`, `{"error": "…"}` or `{"message": …}`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = match value.get("error") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(e @ Value::Object(_)) => e.get("message").and_then(Value::as_str),
        _ => value.get("message").and_then(Value::as_str),
    }?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Whether an error body is OpenAI's `insufficient_quota` (in `error.code` or
/// `error.type`): sent with status 429, but no retry helps until the account has credit.
pub fn is_quota_error(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return false };
    let Some(error) = value.get("error") else { return false };
    ["code", "type"].iter().any(|k| error.get(*k).and_then(Value::as_str) == Some("insufficient_quota"))
}

fn trim(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

fn headers(key: Option<&str>, streaming: bool) -> Vec<(String, String)> {
    let mut h = headers::json(streaming);
    h.extend(key.map(headers::bearer));
    h
}

fn message(m: &Message) -> Value {
    match m.role {
        Role::System => json!({ "role": "system", "content": m.content }),
        Role::User => json!({ "role": "user", "content": m.content }),
        Role::Assistant if m.tool_calls.is_empty() => json!({ "role": "assistant", "content": m.content }),
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments },
                    })
                })
                .collect();
            let content = if m.content.is_empty() { Value::Null } else { json!(m.content) };
            json!({ "role": "assistant", "content": content, "tool_calls": calls })
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.content,
        }),
    }
}
