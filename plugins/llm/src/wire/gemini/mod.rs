//! Google's Gemini API (AI Studio, the Generative Language API): `POST
//! /v1beta/models/{model}:streamGenerateContent?alt=sse`, answered with server-sent
//! events, each `data:` a whole `GenerateContentResponse`.
//!
//! The key goes into the `x-goog-api-key` header, never into the URL as `?key=`.
//!
//! Here: the requests (the contents, the model list) and the error bodies; `decode`
//! decodes the reply's stream.

mod decode;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::calls::{arguments_object, tool_name};
use super::failure;
use super::headers::{self, header};
use super::models;
use crate::{ChatRequest, HttpRequest, Method, Role, WireError};

pub use decode::Decoder;

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// Sent as the `thoughtSignature` of replayed function calls. Gemini 3 rejects a
/// function call in the history that lacks the signature it came with; [`ToolCall`]
/// cannot carry it, and this value is Google's documented stand-in for calls whose
/// signature is unknown.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The versioned API root: `base_url` without trailing slashes, with `/v1beta` added
/// unless it already names a version.
fn api_root(base_url: &str) -> String {
    let trimmed = base_url.trim().trim_end_matches('/');
    let base = if trimmed.is_empty() { DEFAULT_BASE_URL } else { trimmed };
    let last = base.rsplit('/').next().unwrap_or("");
    if matches!(last, "v1beta" | "v1" | "v1alpha") { base.to_string() } else { format!("{base}/v1beta") }
}

/// The request for `req`, streamed as server-sent events.
pub fn chat_request(base_url: &str, key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    let model = req.model.strip_prefix("models/").unwrap_or(&req.model);
    let mut headers = headers::json(true);
    headers.extend(key.map(api_key));
    HttpRequest {
        method: Method::Post,
        url: format!("{}/models/{model}:streamGenerateContent?alt=sse", api_root(base_url)),
        headers,
        body: Some(body(req)),
    }
}

fn body(req: &ChatRequest) -> Value {
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // The last content holds tool results (the next result joins it).
    let mut in_results = false;
    for m in &req.messages {
        let was_results = std::mem::replace(&mut in_results, false);
        match m.role {
            Role::System => system.push(json!({"text": m.content})),
            Role::User => contents.push(json!({"role": "user", "parts": [{"text": m.content}]})),
            Role::Assistant => {
                let mut parts = Vec::new();
                if !m.content.is_empty() {
                    parts.push(json!({"text": m.content}));
                }
                for (i, call) in m.tool_calls.iter().enumerate() {
                    let mut part =
                        json!({"functionCall": {"name": call.name, "args": arguments_object(&call.arguments)}});
                    // Only the first call of a turn carries a signature (as Gemini sends them).
                    if i == 0 {
                        part["thoughtSignature"] = json!(SKIP_SIGNATURE);
                    }
                    parts.push(part);
                }
                // A turn with nothing in it is left out: Gemini rejects empty parts.
                if !parts.is_empty() {
                    contents.push(json!({"role": "model", "parts": parts}));
                }
            }
            Role::Tool => {
                let name = tool_name(m, &req.messages).unwrap_or_default();
                let part =
                    json!({"functionResponse": {"name": name, "response": {"result": result_value(&m.content)}}});
                match contents.last_mut().and_then(|c| c["parts"].as_array_mut()) {
                    Some(parts) if was_results => parts.push(part),
                    _ => contents.push(json!({"role": "user", "parts": [part]})),
                }
                in_results = true;
            }
        }
    }

    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut config = Map::new();
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(n) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(schema) = &req.response_schema {
        config.insert("responseMimeType".into(), json!("application/json"));
        // Plain JSON Schema; `responseSchema` only takes Google's OpenAPI subset.
        config.insert("responseJsonSchema".into(), schema.clone());
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    if !req.tools.is_empty() {
        let declarations: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name, "description": t.description});
                // Plain JSON Schema, like `responseJsonSchema`: `parameters` only takes
                // Google's OpenAPI subset (no `additionalProperties`, `$defs`...).
                if !t.parameters.is_null() {
                    d["parametersJsonSchema"] = t.parameters.clone();
                }
                d
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
    }
    Value::Object(body)
}

/// A tool's result: the JSON object it returned, or else its text.
fn result_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::String(text.to_string()),
    }
}

/// The request listing the models (all of them: one page holds up to 1000).
pub fn models_request(base_url: &str, key: Option<&str>) -> HttpRequest {
    let headers = key.map(api_key).into_iter().collect();
    HttpRequest {
        method: Method::Get,
        url: format!("{}/models?pageSize=1000", api_root(base_url)),
        headers,
        body: None,
    }
}

/// Model ids (`gemini-2.5-flash`, without `models/`) that can generate content, sorted.
pub fn parse_models(body: &Value) -> Result<Vec<String>, WireError> {
    let ids = models::entries(body, "models")?
        .iter()
        .filter(|m| match m.get("supportedGenerationMethods").and_then(Value::as_array) {
            Some(methods) => methods.iter().any(|x| x.as_str() == Some("generateContent")),
            None => true,
        })
        .filter_map(|m| m.get("name").and_then(Value::as_str))
        .map(|name| name.strip_prefix("models/").unwrap_or(name).to_string())
        .collect();
    Ok(models::sorted(ids))
}

/// The key's header (never `?key=` in the URL, where logs would keep it).
fn api_key(key: &str) -> (String, String) {
    header("x-goog-api-key", key)
}

/// The message of a Gemini error body, `{"error": {"code", "message", "status"}}`,
/// possibly wrapped in a JSON array (as the streaming endpoint without `alt=sse` does).
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let value = match &value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    error_text(value.get("error")?)
}

/// The text of an `error`: a string, or its `message` (else its `status`).
fn error_text(error: &Value) -> Option<String> {
    failure::error_text(error, &["message", "status"])
}
