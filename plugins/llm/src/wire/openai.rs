//! OpenAI chat completions: `POST {base}/chat/completions` with `stream: true`, answered
//! with server-sent events whose `data:` lines are `chat.completion.chunk` objects and a
//! final `data: [DONE]`. The same format serves every OpenAI-compatible server (OpenRouter,
//! Groq, Mistral, DeepSeek, Together, xAI, LM Studio, llama.cpp, vLLM), so the decoder
//! accepts their small variations: usage in the finish chunk rather than a separate last
//! one, tool-call fragments without `index`, an `error` object in a chunk after HTTP 200.
//!
//! Tool calls arrive as fragments keyed by `index` (the id and name in the first, the
//! arguments as string pieces to concatenate, several calls possibly interleaved); they
//! are emitted whole, in index order, when the choice's `finish_reason` arrives (or at
//! `[DONE]`). [`StreamEvent::Finish`] is emitted once, last: at `[DONE]`, or at the end of
//! the stream when the finish reason was seen but `[DONE]` never came.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Dialect;
use super::calls::{self, PartialCall};
use super::failure;
use super::headers;
use super::sse::SseEvent;
use super::sse_decoder::{SseDecoder, SseReply};
use crate::{ChatRequest, Finish, HttpRequest, Message, Method, Role, StreamEvent, Usage, WireError};

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
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Protocol("the model list has no `data` array".into()))?;
    let mut ids: Vec<String> =
        data.iter().filter_map(|m| m.get("id").and_then(Value::as_str)).map(str::to_string).collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ToolCall, ToolSpec};

    use crate::wire::Decoder as _;
    use crate::wire::testing::{self, Decoded, call, split, usage};
    use crate::wire::{Format, MaxTokensField};

    fn decode(chunks: &[&[u8]]) -> Decoded {
        testing::decode(Format::OpenAi, chunks)
    }

    fn decode_every_way(bytes: &[u8]) -> Decoded {
        testing::decode_every_way(Format::OpenAi, bytes)
    }

    const TEXT: &[u8] = include_bytes!("../../../../tests/fixtures/llm/openai/text.sse");
    const TOOL_CALLS: &[u8] = include_bytes!("../../../../tests/fixtures/llm/openai/tool_calls.sse");
    const STRUCTURED: &[u8] = include_bytes!("../../../../tests/fixtures/llm/openai/structured.sse");
    const ERROR_MIDSTREAM: &[u8] = include_bytes!("../../../../tests/fixtures/llm/openai/error_midstream.sse");
    const LLAMACPP_CRLF: &[u8] = include_bytes!("../../../../tests/fixtures/llm/openai/llamacpp_crlf.sse");

    #[test]
    fn text_fixture() {
        let (events, end) = decode_every_way(TEXT);
        assert_eq!(end, Ok(()));
        let (text, rest) = split(&events);
        assert_eq!(text, "How about “Ash”? It’s short, suits a grey coat — and it’s easy to call across a garden.");
        assert_eq!(rest, vec![usage(Some(19), Some(24), Some(0)), StreamEvent::Finish(Finish::Stop)]);
        // Each non-empty delta is its own event; the empty first one is skipped.
        assert_eq!(events.iter().filter(|e| matches!(e, StreamEvent::Text(_))).count(), 24);
        assert_eq!(events[0], StreamEvent::Text("How".into()));
    }

    #[test]
    fn interleaved_tool_calls_fixture() {
        let (events, end) = decode_every_way(TOOL_CALLS);
        assert_eq!(end, Ok(()));
        assert_eq!(
            events,
            vec![
                call("call_Xk2mQ9vLr4TbN8wEaJ1sD5Yh", "get_weather", r#"{"city": "Berlin"}"#),
                call("call_P7fGz3cHw0VnK6qRt2LsB9Ue", "lookup_note", r#"{"query": "caf\u00e9 Berlin"}"#),
                usage(Some(1342), Some(58), Some(1152)),
                StreamEvent::Finish(Finish::ToolCalls),
            ]
        );
        let StreamEvent::ToolCall(note) = &events[1] else { unreachable!() };
        let args: Value = serde_json::from_str(&note.arguments).unwrap();
        assert_eq!(args, json!({ "query": "café Berlin" }));
    }

    #[test]
    fn structured_fixture() {
        let (events, end) = decode_every_way(STRUCTURED);
        assert_eq!(end, Ok(()));
        let (text, rest) = split(&events);
        assert_eq!(text, r#"{"city":"Berlin","temperature_c":21}"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({ "city": "Berlin", "temperature_c": 21 }));
        assert_eq!(rest, vec![usage(Some(87), Some(11), Some(0)), StreamEvent::Finish(Finish::Stop)]);
    }

    #[test]
    fn error_midstream_fixture() {
        let (events, end) = decode_every_way(ERROR_MIDSTREAM);
        let (text, rest) = split(&events);
        assert_eq!(text, "The capital of Australia is");
        assert_eq!(rest, vec![]);
        assert_eq!(end, Err(WireError::Api { message: "Provider returned error".into(), retryable: true }));
    }

    #[test]
    fn crlf_fixture_with_usage_in_the_finish_chunk() {
        let (events, end) = decode_every_way(LLAMACPP_CRLF);
        assert_eq!(end, Ok(()));
        let (text, rest) = split(&events);
        assert_eq!(text, "Sure! Water boils at 100 °C at sea level.");
        // No cache details: `cached` is unknown, not zero.
        assert_eq!(rest, vec![usage(Some(24), Some(9), None), StreamEvent::Finish(Finish::Stop)]);
    }

    #[test]
    fn an_error_after_events_in_the_same_bytes_comes_with_the_next_call() {
        let mut d = Decoder::default();
        let events = d.feed(ERROR_MIDSTREAM).unwrap();
        assert_eq!(events.len(), 5);
        let err = WireError::Api { message: "Provider returned error".into(), retryable: true };
        assert_eq!(d.feed(b"data: [DONE]\n\n"), Err(err.clone()));
        assert_eq!(d.finish(), Err(err));
    }

    #[test]
    fn a_stream_cut_short_is_an_error() {
        let cut = TEXT.len() / 2;
        let (events, end) = decode(&[&TEXT[..cut]]);
        assert!(!events.is_empty());
        assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finish(_))));
        assert_eq!(end, Err(WireError::Protocol("the stream ended before the reply was complete".into())));
        // Tool calls whose finish reason never came are not emitted.
        let pos = TOOL_CALLS.windows(13).position(|w| w == b"\"tool_calls\"}").unwrap();
        let (events, end) = decode(&[&TOOL_CALLS[..pos]]);
        assert_eq!(events, vec![]);
        assert!(matches!(end, Err(WireError::Protocol(_))));
        // Empty stream.
        assert!(matches!(decode(&[b""]).1, Err(WireError::Protocol(_))));
    }

    #[test]
    fn a_missing_done_after_the_finish_reason_is_fine() {
        let text = TEXT.strip_suffix(b"data: [DONE]\n\n").unwrap();
        assert_eq!(decode(&[text]), decode(&[TEXT]));
        // Without its closing blank line, the last event still counts.
        let text = TEXT.strip_suffix(b"\n\n").unwrap();
        assert_eq!(decode(&[text]), decode(&[TEXT]));
    }

    #[test]
    fn bytes_after_done_are_ignored() {
        let mut bytes = TEXT.to_vec();
        bytes.extend_from_slice(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\ndata: oops\n\n",
        );
        assert_eq!(decode(&[&bytes]), decode(&[TEXT]));
    }

    #[test]
    fn finish_reasons() {
        for (reason, finish) in [
            ("stop", Finish::Stop),
            ("length", Finish::Length),
            ("tool_calls", Finish::ToolCalls),
            ("function_call", Finish::ToolCalls),
            ("content_filter", Finish::ContentFilter),
            ("eos", Finish::Other("eos".into())),
        ] {
            let s =
                format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"{reason}\"}}]}}\n\n");
            assert_eq!(decode(&[s.as_bytes()]), (vec![StreamEvent::Finish(finish)], Ok(())), "{reason}");
        }
    }

    #[test]
    fn fragments_without_index_and_legacy_function_calls() {
        // One call sent whole, a second one started by its id and continued without one.
        let s = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"b\",\"function\":{\"name\":\"lookup_note\",\"arguments\":\"{\\\"query\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"\\\"tea\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(
            decode(&[s.as_bytes()]).0,
            vec![
                call("a", "get_weather", r#"{"city":"Oslo"}"#),
                call("b", "lookup_note", r#"{"query":"tea"}"#),
                StreamEvent::Finish(Finish::ToolCalls),
            ]
        );
        let s = concat!(
            "data: {\"choices\":[{\"delta\":{\"function_call\":{\"name\":\"get_weather\",\"arguments\":\"\"}}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"function_call\":{\"arguments\":\"\"}}}]}\n\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(
            decode(&[s.as_bytes()]).0,
            // No id: the client names the call.
            vec![call("", "get_weather", "{}"), StreamEvent::Finish(Finish::ToolCalls)]
        );
    }

    #[test]
    fn error_chunks() {
        let api = |s: &str| match decode(&[s.as_bytes()]).1 {
            Err(WireError::Api { message, retryable }) => (message, retryable),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            api(
                "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n"
            ),
            ("Rate limit reached".into(), true)
        );
        assert_eq!(
            api(
                "data: {\"error\":{\"message\":\"You exceeded your current quota\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}\n\n"
            ),
            ("You exceeded your current quota".into(), false)
        );
        assert_eq!(
            api(
                "data: {\"error\":{\"message\":\"Invalid schema\",\"type\":\"invalid_request_error\",\"code\":null}}\n\n"
            ),
            ("Invalid schema".into(), false)
        );
        assert_eq!(
            api("data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"),
            ("boom".into(), true)
        );
        assert_eq!(
            api(
                "data: {\"object\":\"error\",\"message\":\"engine dead\",\"type\":\"InternalServerError\",\"code\":500}\n\n"
            ),
            ("engine dead".into(), true)
        );
        assert_eq!(api("data: {\"error\":\"model overloaded\"}\n\n"), ("model overloaded".into(), true));
        assert_eq!(api("event: error\ndata: upstream went away\n\n"), ("upstream went away".into(), false));
        assert!(matches!(decode(&[b"data: {not json\n\n"]).1, Err(WireError::Protocol(_))));
    }

    #[test]
    fn usage_variants() {
        let s = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,\"prompt_cache_hit_tokens\":8}}\n\n\
                 data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"usage\":{\"prompt_tokens\":5}}}\n\n";
        assert_eq!(
            decode(&[s.as_bytes()]).0,
            vec![usage(Some(10), Some(3), Some(8)), usage(Some(5), None, None), StreamEvent::Finish(Finish::Stop)]
        );
    }

    fn conversation() -> ChatRequest {
        let weather = ToolCall {
            id: "call_Xk2mQ9vLr4TbN8wEaJ1sD5Yh".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Berlin"}"#.into(),
        };
        let mut assistant = Message::assistant("");
        assistant.tool_calls.push(weather.clone());
        ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![
                Message::system("You are Pyra."),
                Message::user("Weather in Berlin?"),
                assistant,
                Message::tool_result(&weather, r#"{"temperature_c":21}"#),
                Message::assistant("It is 21 °C in Berlin."),
                Message::user("Thanks!"),
            ],
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: "The current weather in a city.".into(),
                parameters: json!({ "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] }),
            }],
            temperature: Some(0.2),
            max_tokens: Some(512),
            response_schema: None,
        }
    }

    #[test]
    fn chat_request_shape() {
        let req = chat_request("https://api.openai.com/v1/", Some("sk-test-123"), &conversation(), Dialect::STANDARD);
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.url, "https://api.openai.com/v1/chat/completions");
        assert!(!req.url.contains("sk-test-123"));
        assert_eq!(
            req.headers,
            testing::headers(&[
                ("content-type", "application/json"),
                ("accept", "text/event-stream"),
                ("authorization", "Bearer sk-test-123"),
            ])
        );
        assert_eq!(
            req.body.unwrap(),
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    { "role": "system", "content": "You are Pyra." },
                    { "role": "user", "content": "Weather in Berlin?" },
                    {
                        "role": "assistant",
                        "content": null,
                        "tool_calls": [{
                            "id": "call_Xk2mQ9vLr4TbN8wEaJ1sD5Yh",
                            "type": "function",
                            "function": { "name": "get_weather", "arguments": "{\"city\":\"Berlin\"}" },
                        }],
                    },
                    { "role": "tool", "tool_call_id": "call_Xk2mQ9vLr4TbN8wEaJ1sD5Yh", "content": "{\"temperature_c\":21}" },
                    { "role": "assistant", "content": "It is 21 °C in Berlin." },
                    { "role": "user", "content": "Thanks!" },
                ],
                "stream": true,
                "stream_options": { "include_usage": true },
                "temperature": 0.2,
                "max_tokens": 512,
                "tools": [{
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "The current weather in a city.",
                        "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] },
                    },
                }],
            })
        );
    }

    #[test]
    fn chat_request_minimal_and_structured() {
        let schema = json!({ "type": "object", "properties": { "city": { "type": "string" } } });
        let req = ChatRequest {
            model: "llama3.2".into(),
            messages: vec![Message::user("Hi")],
            response_schema: Some(schema.clone()),
            ..ChatRequest::default()
        };
        let http = chat_request("http://localhost:8080/v1", None, &req, Dialect::STANDARD);
        assert_eq!(http.url, "http://localhost:8080/v1/chat/completions");
        assert!(!http.headers.iter().any(|(k, _)| k == "authorization"));
        assert_eq!(
            http.body.unwrap(),
            json!({
                "model": "llama3.2",
                "messages": [{ "role": "user", "content": "Hi" }],
                "stream": true,
                "stream_options": { "include_usage": true },
                "response_format": {
                    "type": "json_schema",
                    "json_schema": { "name": "response", "schema": schema, "strict": false },
                },
            })
        );
    }

    #[test]
    fn dialects_name_the_token_limit_and_ask_for_usage_as_the_server_wants() {
        let req = ChatRequest { max_tokens: Some(300), ..conversation() };
        let body = |dialect| chat_request("http://h/v1", None, &req, dialect).body.unwrap();
        let openai = body(Dialect { stream_usage: true, max_tokens: MaxTokensField::MaxCompletionTokens });
        assert_eq!(openai["max_completion_tokens"], 300);
        assert_eq!(openai.get("max_tokens"), None);
        assert_eq!(openai["stream_options"], json!({ "include_usage": true }));
        // Mistral rejects unknown fields (422 extra_forbidden) and reports usage anyway.
        let mistral = body(Dialect { stream_usage: false, max_tokens: MaxTokensField::MaxTokens });
        assert_eq!(mistral["max_tokens"], 300);
        assert_eq!(mistral.get("max_completion_tokens"), None);
        assert_eq!(mistral.get("stream_options"), None);
        let standard = body(Dialect::STANDARD);
        assert_eq!(standard["max_tokens"], 300);
        assert_eq!(standard["stream_options"], json!({ "include_usage": true }));
        // No limit asked, no field in any dialect.
        let unlimited = ChatRequest { max_tokens: None, ..conversation() };
        let none = chat_request("http://h/v1", None, &unlimited, Dialect::default()).body.unwrap();
        assert!(none.get("max_tokens").is_none() && none.get("max_completion_tokens").is_none());
    }

    #[test]
    fn an_exhausted_quota_is_recognised_by_code_or_type() {
        let both = br#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert!(is_quota_error(both));
        assert!(is_quota_error(br#"{"error":{"message":"out of credit","code":"insufficient_quota"}}"#));
        assert!(is_quota_error(br#"{"error":{"message":"out of credit","type":"insufficient_quota","code":null}}"#));
        assert!(!is_quota_error(
            br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#
        ));
        assert!(!is_quota_error(b"<html>429</html>"));
    }

    #[test]
    fn models() {
        let req = models_request("https://api.groq.com/openai/v1/", Some("gsk_abc"));
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.url, "https://api.groq.com/openai/v1/models");
        assert!(req.headers.contains(&("authorization".to_string(), "Bearer gsk_abc".to_string())));
        assert!(!req.url.contains("gsk_abc"));
        assert_eq!(req.body, None);
        assert!(!models_request("http://localhost:1234/v1", None).headers.iter().any(|(k, _)| k == "authorization"));
        let body = json!({
            "object": "list",
            "data": [
                { "id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system" },
                { "id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system" },
                { "id": "dall-e-3", "object": "model", "created": 1698785189, "owned_by": "system" },
            ],
        });
        assert_eq!(parse_models(&body).unwrap(), vec!["dall-e-3", "gpt-4o", "gpt-4o-mini"]);
        assert!(matches!(parse_models(&json!({ "models": [] })), Err(WireError::Protocol(_))));
    }

    #[test]
    fn error_messages() {
        let openai = br#"{"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            error_message(openai).as_deref(),
            Some(
                "Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys."
            )
        );
        assert_eq!(error_message(br#"{"error":"Model not found"}"#).as_deref(), Some("Model not found"));
        assert_eq!(
            error_message(br#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}"#).as_deref(),
            Some("The model `x` does not exist.")
        );
        assert_eq!(error_message(b"<html>502 Bad Gateway</html>"), None);
        assert_eq!(error_message(br#"{"detail":"nope"}"#), None);
    }
}
