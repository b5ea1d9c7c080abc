//! Anthropic Messages: `POST {base}/v1/messages` with `stream: true`, answered with typed
//! server-sent events: `message_start`, then for each content block `content_block_start`,
//! `content_block_delta`s and `content_block_stop`, then `message_delta` (the stop reason
//! and the cumulative output token count) and `message_stop`. `ping` may come anywhere;
//! an `error` event may come after HTTP 200 (overload); unknown events are ignored.
//!
//! A `tool_use` block's input arrives as `input_json_delta` pieces of JSON text, emitted as
//! one [`ToolCall`] when the block stops. Usage follows the provider-neutral meaning:
//! `prompt` counts every prompt token (Anthropic's `input_tokens` plus the tokens read from
//! and written to the cache, which it counts apart), `cached` the ones read from the cache.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::calls::{self, PartialCall};
use super::failure;
use super::headers::{self, header};
use super::sse::SseEvent;
use super::sse_decoder::{SseDecoder, SseReply};
use crate::{ChatRequest, Finish, HttpRequest, Method, Role, StreamEvent, Usage, WireError};

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
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Protocol("the model list has no `data` array".into()))?;
    Ok(data.iter().filter_map(|m| m.get("id").and_then(Value::as_str)).map(str::to_string).collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ToolCall, ToolSpec};

    use crate::wire::Format;
    use crate::wire::testing::{self, Decoded, call, split};

    fn decode(chunks: &[&[u8]]) -> Decoded {
        testing::decode(Format::Anthropic, chunks)
    }

    fn decode_every_way(bytes: &[u8]) -> Decoded {
        testing::decode_every_way(Format::Anthropic, bytes)
    }

    const TEXT: &[u8] = include_bytes!("../../../../tests/fixtures/llm/anthropic/text.sse");
    const TOOL_USE: &[u8] = include_bytes!("../../../../tests/fixtures/llm/anthropic/tool_use.sse");
    const STRUCTURED: &[u8] = include_bytes!("../../../../tests/fixtures/llm/anthropic/structured.sse");
    const OVERLOADED: &[u8] = include_bytes!("../../../../tests/fixtures/llm/anthropic/overloaded.sse");

    /// Anthropic reports every count.
    fn usage(prompt: u64, completion: u64, cached: u64) -> StreamEvent {
        testing::usage(Some(prompt), Some(completion), Some(cached))
    }

    #[test]
    fn text_fixture() {
        let (events, end) = decode_every_way(TEXT);
        assert_eq!(end, Ok(()));
        let (text, rest) = split(&events);
        assert_eq!(
            text,
            "Berlin’s Museum Island has five museums — the Pergamon is the best known, though parts of it are \
             closed for renovation until 2027."
        );
        // 21 uncached prompt tokens and 2048 read from the cache.
        assert_eq!(rest, vec![usage(2069, 1, 2048), usage(2069, 38, 2048), StreamEvent::Finish(Finish::Stop)]);
        assert_eq!(events[0], usage(2069, 1, 2048));
    }

    #[test]
    fn tool_use_fixture() {
        let (events, end) = decode_every_way(TOOL_USE);
        assert_eq!(end, Ok(()));
        let (text, rest) = split(&events);
        assert_eq!(text, "I'll check the weather in Berlin and look up your note about the café.");
        assert_eq!(
            rest,
            vec![
                usage(472, 1, 0),
                call("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", r#"{"city": "Berlin"}"#),
                call("toolu_01Vd4hKbX8q2Rz7mNcPw3LfG", "lookup_note", r#"{"query": "café Berlin"}"#),
                usage(472, 121, 0),
                StreamEvent::Finish(Finish::ToolCalls),
            ]
        );
    }

    #[test]
    fn structured_fixture() {
        let (events, end) = decode_every_way(STRUCTURED);
        assert_eq!(end, Ok(()));
        let (text, rest) = split(&events);
        assert_eq!(text, r#"{"city":"Berlin","temperature_c":21}"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({ "city": "Berlin", "temperature_c": 21 }));
        assert_eq!(rest, vec![usage(164, 1, 0), usage(164, 17, 0), StreamEvent::Finish(Finish::Stop)]);
    }

    #[test]
    fn overloaded_fixture() {
        let (events, end) = decode_every_way(OVERLOADED);
        let (text, rest) = split(&events);
        assert_eq!(text, "Here are three ideas for a rainy Sunday in Berlin:\n\n1.");
        assert_eq!(rest, vec![usage(38, 1, 0)]);
        assert_eq!(end, Err(WireError::Api { message: "Overloaded".into(), retryable: true }));
    }

    #[test]
    fn error_kinds() {
        for (kind, retryable) in [
            ("overloaded_error", true),
            ("rate_limit_error", true),
            ("api_error", true),
            ("timeout_error", true),
            ("invalid_request_error", false),
            ("authentication_error", false),
        ] {
            let s = format!(
                "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{kind}\",\"message\":\"m\"}}}}\n\n"
            );
            assert_eq!(decode(&[s.as_bytes()]).1, Err(WireError::Api { message: "m".into(), retryable }), "{kind}");
        }
    }

    #[test]
    fn an_early_end_is_an_error() {
        let early = || Err(WireError::Protocol("the stream ended before the reply was complete".into()));
        // Cut before `message_stop`, after it was dispatched as far as the bytes go.
        let stop = b"event: message_stop";
        let pos = TEXT.windows(stop.len()).position(|w| w == stop).unwrap();
        let (events, end) = decode(&[&TEXT[..pos]]);
        assert_eq!(end, early());
        assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finish(_))));
        // Cut inside a data line.
        assert_eq!(decode(&[&TEXT[..TEXT.len() / 2]]).1, early());
        // A tool call whose block never stopped is not emitted.
        let stop = br#"{"type":"content_block_stop","index":1}"#;
        let pos = TOOL_USE.windows(stop.len()).position(|w| w == stop).unwrap();
        let (events, end) = decode(&[&TOOL_USE[..pos]]);
        assert!(!events.iter().any(|e| matches!(e, StreamEvent::ToolCall(_))));
        assert_eq!(end, early());
        assert_eq!(decode(&[b""]).1, early());
    }

    #[test]
    fn details_of_the_event_stream() {
        let s = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            // Thinking is not shown.
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n",
            "event: content_block_stop\n",
            "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            // A tool call with no input at all, and one whose input came whole at its start.
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"get_time\",\"input\":{}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
            "event: content_block_stop\n",
            "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"lookup_note\",\"input\":{\"query\":\"tea\"}}}\n\n",
            "event: content_block_stop\n",
            "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
            // Unknown events pass.
            "event: brand_new_event\n",
            "data: {\"type\":\"brand_new_event\",\"x\":1}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
            // After message_stop, nothing counts.
            "event: error\n",
            "data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"late\"}}\n\n",
        );
        let plain = |p, c| StreamEvent::Usage(Usage { prompt: Some(p), completion: Some(c), cached: None });
        assert_eq!(
            decode(&[s.as_bytes()]),
            (
                vec![
                    plain(5, 1),
                    call("toolu_a", "get_time", "{}"),
                    call("toolu_b", "lookup_note", r#"{"query":"tea"}"#),
                    plain(5, 9),
                    StreamEvent::Finish(Finish::Length),
                ],
                Ok(())
            )
        );
    }

    #[test]
    fn stop_reasons() {
        for (reason, finish) in [
            ("end_turn", Finish::Stop),
            ("stop_sequence", Finish::Stop),
            ("max_tokens", Finish::Length),
            ("tool_use", Finish::ToolCalls),
            ("refusal", Finish::ContentFilter),
            ("pause_turn", Finish::Other("pause_turn".into())),
        ] {
            let s = format!(
                "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"{reason}\"}}}}\n\n\
                 event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
            );
            assert_eq!(decode(&[s.as_bytes()]), (vec![StreamEvent::Finish(finish)], Ok(())), "{reason}");
        }
    }

    #[test]
    fn chat_request_shape() {
        let weather =
            ToolCall { id: "toolu_01A".into(), name: "get_weather".into(), arguments: r#"{"city":"Berlin"}"#.into() };
        let note =
            ToolCall { id: "toolu_01B".into(), name: "lookup_note".into(), arguments: "{\"query\": broken".into() };
        let mut assistant = Message::assistant("Let me check.");
        assistant.tool_calls = vec![weather.clone(), note.clone()];
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                Message::system("You are Pyra."),
                Message::user("Weather in Berlin, and my café note?"),
                assistant,
                Message::tool_result(&weather, r#"{"temperature_c":21}"#),
                Message::tool_result(&note, "no note matches"),
                Message::assistant("It is 21 °C; I found no note."),
                Message::system("Be brief."),
                Message::user("Thanks!"),
            ],
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: "The current weather in a city.".into(),
                parameters: json!({ "type": "object", "properties": { "city": { "type": "string" } } }),
            }],
            temperature: Some(0.5),
            max_tokens: None,
            response_schema: None,
        };
        let http = chat_request("https://api.anthropic.com/", Some("sk-ant-test"), &req);
        assert_eq!(http.method, Method::Post);
        assert_eq!(http.url, "https://api.anthropic.com/v1/messages");
        assert!(!http.url.contains("sk-ant-test"));
        assert_eq!(
            http.headers,
            testing::headers(&[
                ("x-api-key", "sk-ant-test"),
                ("anthropic-version", "2023-06-01"),
                ("content-type", "application/json"),
                ("accept", "text/event-stream"),
            ])
        );
        assert_eq!(
            http.body.unwrap(),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 4096,
                "system": "You are Pyra.\n\nBe brief.",
                "messages": [
                    { "role": "user", "content": "Weather in Berlin, and my café note?" },
                    {
                        "role": "assistant",
                        "content": [
                            { "type": "text", "text": "Let me check." },
                            { "type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": { "city": "Berlin" } },
                            { "type": "tool_use", "id": "toolu_01B", "name": "lookup_note", "input": {} },
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            { "type": "tool_result", "tool_use_id": "toolu_01A", "content": "{\"temperature_c\":21}" },
                            { "type": "tool_result", "tool_use_id": "toolu_01B", "content": "no note matches" },
                        ],
                    },
                    { "role": "assistant", "content": "It is 21 °C; I found no note." },
                    { "role": "user", "content": "Thanks!" },
                ],
                "stream": true,
                "temperature": 0.5,
                "tools": [{
                    "name": "get_weather",
                    "description": "The current weather in a city.",
                    "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } },
                }],
            })
        );
    }

    #[test]
    fn chat_request_base_urls_keys_and_schema() {
        let schema = json!({ "type": "object", "required": ["city"] });
        let req = ChatRequest {
            model: "claude-haiku-4-5".into(),
            messages: vec![Message::user("Weather?")],
            max_tokens: Some(300),
            response_schema: Some(schema),
            ..ChatRequest::default()
        };
        let http = chat_request("https://proxy.example/anthropic/v1/", None, &req);
        assert_eq!(http.url, "https://proxy.example/anthropic/v1/messages");
        assert!(!http.headers.iter().any(|(k, _)| k == "x-api-key"));
        let body = http.body.unwrap();
        assert_eq!(body["max_tokens"], 300);
        let system = body["system"].as_str().unwrap();
        assert!(system.starts_with("Reply with a single JSON value that matches this JSON Schema"), "{system}");
        assert!(system.ends_with(r#"{"type":"object","required":["city"]}"#), "{system}");
        assert_eq!(body["messages"], json!([{ "role": "user", "content": "Weather?" }]));
        assert_eq!(body.get("tools"), None);
        assert_eq!(body.get("temperature"), None);
    }

    #[test]
    fn models() {
        let req = models_request("https://api.anthropic.com", Some("sk-ant-test"));
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.url, "https://api.anthropic.com/v1/models?limit=1000");
        assert!(req.headers.contains(&("x-api-key".to_string(), "sk-ant-test".to_string())));
        assert!(req.headers.contains(&("anthropic-version".to_string(), "2023-06-01".to_string())));
        assert_eq!(models_request("http://localhost:9000/v1", None).url, "http://localhost:9000/v1/models?limit=1000");
        let body = json!({
            "data": [
                { "type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z" },
                { "type": "model", "id": "claude-3-5-haiku-20241022", "display_name": "Claude Haiku 3.5", "created_at": "2024-10-22T00:00:00Z" },
            ],
            "has_more": false,
            "first_id": "claude-sonnet-4-5-20250929",
            "last_id": "claude-3-5-haiku-20241022",
        });
        assert_eq!(parse_models(&body).unwrap(), vec!["claude-sonnet-4-5-20250929", "claude-3-5-haiku-20241022"]);
        assert!(matches!(parse_models(&json!({})), Err(WireError::Protocol(_))));
    }

    #[test]
    fn error_messages() {
        let body = br#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#;
        assert_eq!(error_message(body).as_deref(), Some("model: claude-nope"));
        assert_eq!(error_message(b"upstream connect error"), None);
        assert_eq!(error_message(br#"{"type":"error","error":{"type":"api_error"}}"#), None);
    }
}
