//! Ollama's native chat API: `POST /api/chat`, streamed as newline-delimited JSON.
//!
//! A key is only needed behind an authenticating proxy or for Ollama's cloud; it goes
//! into `authorization: Bearer`, never into the URL.
//!
//! Here: the requests (the chat, the model list) and the error bodies; `decode` decodes
//! the reply's stream.

mod decode;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::calls::{self, arguments_object, tool_name};
use super::failure;
use super::headers::{self, header};
use super::models;
use crate::{ChatRequest, HttpRequest, Message, Method, Role, WireError};

pub use decode::Decoder;

/// Where a local Ollama listens.
const DEFAULT_BASE_URL: &str = "http://localhost:11434";

/// `base_url` without trailing slashes (and without an `/api` the user added), or the
/// local default when it is empty.
fn base(base_url: &str) -> String {
    let trimmed = base_url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/api").unwrap_or(trimmed);
    if trimmed.is_empty() { DEFAULT_BASE_URL.to_string() } else { trimmed.to_string() }
}

fn headers(key: Option<&str>) -> Vec<(String, String)> {
    let mut headers = vec![header("content-type", "application/json")];
    headers.extend(key.map(headers::bearer));
    headers
}

/// The streaming `/api/chat` request for `req`.
pub fn chat_request(base_url: &str, key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let messages = req.messages.iter().map(|m| message(m, &req.messages)).collect();
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    let mut options = Map::new();
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if let Some(n) = req.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    if !req.tools.is_empty() {
        body.insert("tools".into(), Value::Array(req.tools.iter().map(calls::function_tool).collect()));
    }
    if let Some(schema) = &req.response_schema {
        body.insert("format".into(), schema.clone());
    }
    HttpRequest {
        method: Method::Post,
        url: format!("{}/api/chat", base(base_url)),
        headers: headers(key),
        body: Some(Value::Object(body)),
    }
}

/// One message in Ollama's shape.
fn message(m: &Message, all: &[Message]) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.content}),
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Assistant => {
            let mut out = json!({"role": "assistant", "content": m.content});
            if !m.tool_calls.is_empty() {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| json!({"function": {"name": c.name, "arguments": arguments_object(&c.arguments)}}))
                    .collect();
                out["tool_calls"] = Value::Array(calls);
            }
            out
        }
        Role::Tool => {
            let mut out = json!({"role": "tool", "content": m.content});
            if let Some(name) = tool_name(m, all) {
                out["tool_name"] = json!(name);
            }
            out
        }
    }
}

/// The request listing the models the server has pulled.
pub fn models_request(base_url: &str, key: Option<&str>) -> HttpRequest {
    let mut headers = headers(key);
    headers.retain(|(name, _)| name != "content-type");
    HttpRequest { method: Method::Get, url: format!("{}/api/tags", base(base_url)), headers, body: None }
}

/// Model names (`llama3.2:latest`) from `/api/tags`, sorted.
pub fn parse_models(body: &Value) -> Result<Vec<String>, WireError> {
    Ok(models::sorted(models::ids(body, "models", "name")?))
}

/// The message of an Ollama error body, `{"error": "..."}`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    error_text(value.get("error")?)
}

/// The text of an `error` field: a string (Ollama), or an object with a `message` (some
/// proxies in front of it).
fn error_text(error: &Value) -> Option<String> {
    failure::error_text(error, &["message"])
}
