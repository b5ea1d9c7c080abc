//! Tests of the OpenAI format: the recorded streams decoded however they are split, the
//! servers' variations, errors in the stream, and the exact requests.

use super::*;
use crate::{Finish, StreamEvent, ToolCall, ToolSpec};

use crate::wire::Decoder as _;
use crate::wire::testing::{self, Decoded, call, split, usage};
use crate::wire::{Format, MaxTokensField};

fn decode(chunks: &[&[u8]]) -> Decoded {
    testing::decode(Format::OpenAi, chunks)
}

fn decode_every_way(bytes: &[u8]) -> Decoded {
    testing::decode_every_way(Format::OpenAi, bytes)
}

const TEXT: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/openai/text.sse");
const TOOL_CALLS: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/openai/tool_calls.sse");
const STRUCTURED: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/openai/structured.sse");
const ERROR_MIDSTREAM: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/openai/error_midstream.sse");
const LLAMACPP_CRLF: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/openai/llamacpp_crlf.sse");

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
    bytes.extend_from_slice(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\ndata: oops\n\n");
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
        let s = format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"{reason}\"}}]}}\n\n");
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
        api("data: {\"error\":{\"message\":\"Invalid schema\",\"type\":\"invalid_request_error\",\"code\":null}}\n\n"),
        ("Invalid schema".into(), false)
    );
    assert_eq!(api("data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"), ("boom".into(), true));
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
