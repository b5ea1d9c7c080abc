//! Google's Gemini API (AI Studio, the Generative Language API): `POST
//! /v1beta/models/{model}:streamGenerateContent?alt=sse`.
//!
//! Each SSE `data:` is a whole `GenerateContentResponse`: the next parts of
//! `candidates[0].content` (text, or a complete `functionCall` with `args` as a JSON
//! object and, in older versions, no id), `finishReason` on the last chunk, and
//! `usageMetadata` (cumulative, usually on every chunk). A failure after the reply began
//! arrives as a data line holding an `error` object.
//!
//! The key goes into the `x-goog-api-key` header, never into the URL as `?key=`.

use serde_json::{Map, Value, json};

use super::calls::{self, arguments_object, tool_name};
use super::failure::{self, Failure};
use super::headers::{self, header};
use super::sse::Parser;
use crate::{ChatRequest, Finish, HttpRequest, Method, Role, StreamEvent, ToolCall, Usage, WireError};

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
    let models = body
        .get("models")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Protocol("the model list has no `models` array".into()))?;
    let mut ids: Vec<String> = models
        .iter()
        .filter(|m| match m.get("supportedGenerationMethods").and_then(Value::as_array) {
            Some(methods) => methods.iter().any(|x| x.as_str() == Some("generateContent")),
            None => true,
        })
        .filter_map(|m| m.get("name").and_then(Value::as_str))
        .map(|name| name.strip_prefix("models/").unwrap_or(name).to_string())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
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

impl super::Decoder for Decoder {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, WireError> {
        self.failed.check()?;
        let mut out = Vec::new();
        let result =
            self.sse.feed(bytes).and_then(|events| events.iter().try_for_each(|ev| self.event(&ev.data, &mut out)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ToolSpec};

    use crate::wire::Format;
    use crate::wire::testing::{self, call, usage};

    fn run(chunks: &[&[u8]]) -> (Vec<StreamEvent>, Option<WireError>) {
        testing::run(Format::Gemini, chunks)
    }

    fn decode_every_way(bytes: &[u8]) -> Vec<StreamEvent> {
        testing::decode_merged(Format::Gemini, bytes)
    }

    const TEXT: &[u8] = include_bytes!("../../../../tests/fixtures/llm/gemini/text.sse");
    const TOOL_CALLS: &[u8] = include_bytes!("../../../../tests/fixtures/llm/gemini/tool_calls.sse");
    const STRUCTURED: &[u8] = include_bytes!("../../../../tests/fixtures/llm/gemini/structured.sse");
    const ERROR: &[u8] = include_bytes!("../../../../tests/fixtures/llm/gemini/error.sse");

    #[test]
    fn fixtures_use_crlf_framing() {
        for fixture in [TEXT, TOOL_CALLS, STRUCTURED, ERROR] {
            let text = std::str::from_utf8(fixture).unwrap();
            assert!(text.starts_with("data: {"));
            assert!(text.ends_with("}\r\n\r\n"));
            assert_eq!(text.matches("\r\n\r\n").count(), text.matches("data: ").count());
        }
    }

    #[test]
    fn text_stream() {
        assert_eq!(
            decode_every_way(TEXT),
            vec![
                StreamEvent::Text(
                    "The sky looks blue because air molecules scatter short, blue wavelengths of sunlight far more \
                     strongly than long, red ones — an effect called Rayleigh scattering. At sunset the light \
                     crosses more air, so the blue is scattered away and reds remain."
                        .into()
                ),
                // 49 candidate tokens + 412 thought tokens.
                usage(Some(9), Some(461), None),
                StreamEvent::Finish(Finish::Stop),
            ]
        );
    }

    #[test]
    fn tool_calls_stream() {
        assert_eq!(
            decode_every_way(TOOL_CALLS),
            vec![
                // No ids from this version: the client names the calls.
                call("", "get_weather", r#"{"city":"Berlin"}"#),
                call("", "lookup_note", r#"{"query":"packing list for Berlin"}"#),
                usage(Some(128), Some(132), None),
                StreamEvent::Finish(Finish::ToolCalls),
            ]
        );
    }

    #[test]
    fn structured_stream() {
        let events = decode_every_way(STRUCTURED);
        assert_eq!(
            events,
            vec![
                StreamEvent::Text(r#"{"city":"Berlin","temperature_c":21}"#.into()),
                usage(Some(22), Some(201), None),
                StreamEvent::Finish(Finish::Stop),
            ]
        );
        let StreamEvent::Text(text) = &events[0] else { unreachable!() };
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), json!({"city": "Berlin", "temperature_c": 21}));
    }

    #[test]
    fn an_error_event_is_an_api_error_however_split() {
        // However the bytes are split, the text before the error is delivered, then the
        // usage counted so far, then the error.
        let (events, end) = testing::decode_every_way(Format::Gemini, ERROR);
        assert_eq!(
            events,
            vec![
                StreamEvent::Text("Here is a short summary of your".into()),
                // 7 candidate tokens + 351 thought tokens.
                usage(Some(1204), Some(358), None),
            ]
        );
        assert_eq!(
            end,
            Err(WireError::Api { message: "The model is overloaded. Please try again later.".into(), retryable: true })
        );
    }

    #[test]
    fn an_error_after_events_in_the_same_bytes_comes_with_the_next_call() {
        use crate::wire::Decoder as _;
        let mut d = Decoder::default();
        assert_eq!(d.feed(ERROR).unwrap().len(), 2);
        let err = d.feed(b"data: {}\r\n\r\n").unwrap_err();
        assert!(matches!(&err, WireError::Api { retryable: true, .. }), "{err:?}");
        assert_eq!(d.finish(), Err(err));
    }

    #[test]
    fn a_stream_cut_before_the_finish_reason_is_an_error() {
        let last_event = TEXT.windows(6).rposition(|w| w == b"data: ").unwrap();
        let (events, err) = run(&[&TEXT[..last_event]]);
        assert_eq!(err, Some(WireError::Protocol("the stream ended before the reply was complete".into())));
        assert!(events.iter().all(|e| matches!(e, StreamEvent::Text(_))));
        // Cut inside the last event: its JSON is incomplete.
        let (_, err) = run(&[&TEXT[..TEXT.len() - 30]]);
        assert!(matches!(err, Some(WireError::Protocol(_))), "{err:?}");
    }

    #[test]
    fn thoughts_ids_cached_tokens_and_finish_reasons() {
        let stream = concat!(
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Planning the lookup.\",\"thought\": true},",
            "{\"text\": \"Checking.\"},{\"functionCall\": {\"id\": \"fc-7\",\"name\": \"get_weather\",\"args\": {\"city\": \"Oslo\"}}},",
            "{\"functionCall\": {\"name\": \"lookup_note\"}}],\"role\": \"model\"},\"index\": 0}],",
            "\"usageMetadata\": {\"promptTokenCount\": 900,\"cachedContentTokenCount\": 768}}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\",\"thoughtSignature\": \"AAAA\"}],\"role\": \"model\"},",
            "\"finishReason\": \"MAX_TOKENS\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 900,",
            "\"candidatesTokenCount\": 20,\"cachedContentTokenCount\": 768}}\r\n\r\n",
        );
        let (events, err) = run(&[stream.as_bytes()]);
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                StreamEvent::Text("Checking.".into()),
                call("fc-7", "get_weather", r#"{"city":"Oslo"}"#),
                call("", "lookup_note", "{}"),
                usage(Some(900), Some(20), Some(768)),
                StreamEvent::Finish(Finish::Length),
            ]
        );
        let one = |reason: &str| {
            let data = format!("data: {{\"candidates\": [{{\"finishReason\": \"{reason}\",\"index\": 0}}]}}\r\n\r\n");
            run(&[data.as_bytes()]).0
        };
        assert_eq!(one("SAFETY"), vec![StreamEvent::Finish(Finish::ContentFilter)]);
        assert_eq!(one("RECITATION"), vec![StreamEvent::Finish(Finish::ContentFilter)]);
        assert_eq!(one("PROHIBITED_CONTENT"), vec![StreamEvent::Finish(Finish::ContentFilter)]);
        assert_eq!(
            one("MALFORMED_FUNCTION_CALL"),
            vec![StreamEvent::Finish(Finish::Other("MALFORMED_FUNCTION_CALL".into()))]
        );
    }

    #[test]
    fn a_blocked_prompt_is_an_api_error() {
        let data = b"data: {\"promptFeedback\": {\"blockReason\": \"PROHIBITED_CONTENT\"},\"usageMetadata\": {\"promptTokenCount\": 12,\"totalTokenCount\": 12},\"modelVersion\": \"gemini-2.5-flash\"}\r\n\r\n";
        let (events, err) = run(&[data]);
        // The prompt's tokens were counted before it was refused.
        assert_eq!(events, vec![usage(Some(12), None, None)]);
        assert_eq!(err, Some(WireError::Api { message: "blocked: PROHIBITED_CONTENT".into(), retryable: false }));
    }

    fn conversation() -> ChatRequest {
        let weather =
            ToolCall { id: "call_0".into(), name: "get_weather".into(), arguments: r#"{"city":"Berlin"}"#.into() };
        let note = ToolCall { id: "call_1".into(), name: "lookup_note".into(), arguments: "{broken".into() };
        ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![
                Message::system("You are Pyra."),
                Message::user("Weather in Berlin, and my packing list?"),
                Message {
                    role: Role::Assistant,
                    content: "Let me check.".into(),
                    tool_calls: vec![weather.clone(), note.clone()],
                    tool_call_id: None,
                    tool_name: None,
                },
                Message::tool_result(&weather, r#"{"temperature_c":21,"sky":"clear"}"#),
                Message { tool_name: None, ..Message::tool_result(&note, "Passport, charger.") },
                Message::assistant("21 °C and clear. Pack your passport and charger."),
                Message::user("Thanks!"),
            ],
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: "Current weather for a city.".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}),
            }],
            temperature: Some(0.7),
            max_tokens: Some(1024),
            response_schema: None,
        }
    }

    #[test]
    fn chat_request_shape() {
        let req = chat_request("https://generativelanguage.googleapis.com/", Some("AIzaSy-secret"), &conversation());
        assert_eq!(req.method, Method::Post);
        assert_eq!(
            req.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(!req.url.contains("AIzaSy-secret") && !req.url.contains("key="));
        assert_eq!(
            req.headers,
            testing::headers(&[
                ("content-type", "application/json"),
                ("accept", "text/event-stream"),
                ("x-goog-api-key", "AIzaSy-secret"),
            ])
        );
        assert_eq!(
            req.body.unwrap(),
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Weather in Berlin, and my packing list?"}]},
                    {"role": "model", "parts": [
                        {"text": "Let me check."},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Berlin"}},
                         "thoughtSignature": "skip_thought_signature_validator"},
                        {"functionCall": {"name": "lookup_note", "args": {}}},
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"result": {"temperature_c": 21, "sky": "clear"}}}},
                        {"functionResponse": {"name": "lookup_note", "response": {"result": "Passport, charger."}}},
                    ]},
                    {"role": "model", "parts": [{"text": "21 °C and clear. Pack your passport and charger."}]},
                    {"role": "user", "parts": [{"text": "Thanks!"}]},
                ],
                "systemInstruction": {"parts": [{"text": "You are Pyra."}]},
                "generationConfig": {"temperature": 0.7, "maxOutputTokens": 1024},
                "tools": [{"functionDeclarations": [{
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false},
                }]}],
            })
        );
    }

    #[test]
    fn chat_request_urls_and_structured_output() {
        let schema =
            json!({"type": "object", "properties": {"city": {"type": "string"}, "temperature_c": {"type": "integer"}}});
        let req = ChatRequest {
            model: "models/gemini-2.5-flash".into(),
            messages: vec![Message::user("Berlin weather as JSON")],
            response_schema: Some(schema.clone()),
            ..ChatRequest::default()
        };
        let http = chat_request("", None, &req);
        assert_eq!(
            http.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(http.headers.iter().all(|(name, _)| name != "x-goog-api-key"));
        assert_eq!(
            http.body.unwrap(),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Berlin weather as JSON"}]}],
                "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema},
            })
        );
        assert_eq!(
            chat_request("http://127.0.0.1:8080/v1beta/", None, &req).url,
            "http://127.0.0.1:8080/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            chat_request("http://127.0.0.1:8080/gemini", None, &req).url,
            "http://127.0.0.1:8080/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn models() {
        let req = models_request("https://generativelanguage.googleapis.com", Some("AIzaSy-secret"));
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.url, "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000");
        assert_eq!(req.headers, testing::headers(&[("x-goog-api-key", "AIzaSy-secret")]));
        assert_eq!(req.body, None);
        let body = json!({"models": [
            {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/gemini-2.0-flash-lite"},
        ], "nextPageToken": ""});
        assert_eq!(parse_models(&body).unwrap(), vec!["gemini-2.0-flash-lite", "gemini-2.5-flash", "gemini-2.5-pro"]);
        assert!(matches!(parse_models(&json!({"error": {}})), Err(WireError::Protocol(_))));
    }

    #[test]
    fn error_messages() {
        let body = br#"{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT"
  }
}
"#;
        assert_eq!(error_message(body).as_deref(), Some("API key not valid. Please pass a valid API key."));
        let wrapped = br#"[{"error": {"code": 429, "message": "You exceeded your current quota.", "status": "RESOURCE_EXHAUSTED"}}]"#;
        assert_eq!(error_message(wrapped).as_deref(), Some("You exceeded your current quota."));
        assert_eq!(error_message(br#"{"error": {"code": 500, "status": "INTERNAL"}}"#).as_deref(), Some("INTERNAL"));
        assert_eq!(error_message(b"<html>502 Bad Gateway</html>"), None);
        assert_eq!(error_message(br#"{"candidates": []}"#), None);
    }
}
