//! Tests of the Anthropic format: the recorded streams decoded however they are split,
//! error and stop kinds, the details of the event stream, and the exact requests.

use super::*;
use crate::{Finish, Message, StreamEvent, ToolCall, ToolSpec, Usage};

use crate::wire::Format;
use crate::wire::testing::{self, Decoded, call, split};

fn decode(chunks: &[&[u8]]) -> Decoded {
    testing::decode(Format::Anthropic, chunks)
}

fn decode_every_way(bytes: &[u8]) -> Decoded {
    testing::decode_every_way(Format::Anthropic, bytes)
}

const TEXT: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/anthropic/text.sse");
const TOOL_USE: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/anthropic/tool_use.sse");
const STRUCTURED: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/anthropic/structured.sse");
const OVERLOADED: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/anthropic/overloaded.sse");

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
    let note = ToolCall { id: "toolu_01B".into(), name: "lookup_note".into(), arguments: "{\"query\": broken".into() };
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
