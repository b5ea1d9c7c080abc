//! Tests of the Ollama format: the recorded streams decoded however they are split,
//! error lines, done reasons, tool-call ids, and the exact requests.

use super::*;
use crate::{Finish, StreamEvent, ToolCall, ToolSpec};

use crate::wire::Format;
use crate::wire::testing::{self, call, merged, usage};

fn run(chunks: &[&[u8]]) -> (Vec<StreamEvent>, Option<WireError>) {
    testing::run(Format::Ollama, chunks)
}

fn decode_every_way(bytes: &[u8]) -> Vec<StreamEvent> {
    testing::decode_merged(Format::Ollama, bytes)
}

const TEXT: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/ollama/text.ndjson");
const TOOL_CALLS: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/ollama/tool_calls.ndjson");
const STRUCTURED: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/ollama/structured.ndjson");
const ERROR_MIDSTREAM: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/ollama/error_midstream.ndjson");

#[test]
fn text_stream() {
    assert_eq!(
        decode_every_way(TEXT),
        vec![
            StreamEvent::Text(
                "The sky looks blue because air molecules scatter short, blue wavelengths of sunlight far \
                 more than long, red ones — an effect called Rayleigh scattering."
                    .into()
            ),
            usage(Some(31), Some(29), None),
            StreamEvent::Finish(Finish::Stop),
        ]
    );
}

#[test]
fn tool_calls_stream() {
    assert_eq!(
        decode_every_way(TOOL_CALLS),
        vec![
            // No ids from this server: the client names the calls.
            call("", "get_weather", r#"{"city":"Berlin"}"#),
            call("", "lookup_note", r#"{"query":"packing list for Berlin"}"#),
            usage(Some(243), Some(41), None),
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
            usage(Some(58), Some(12), None),
            StreamEvent::Finish(Finish::Stop),
        ]
    );
    let StreamEvent::Text(text) = &events[0] else { unreachable!() };
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), json!({"city": "Berlin", "temperature_c": 21}));
}

#[test]
fn an_error_line_midstream_is_an_api_error_however_split() {
    // However the bytes are split, all the text before the error line is delivered,
    // then the error.
    let (events, end) = testing::decode_every_way(Format::Ollama, ERROR_MIDSTREAM);
    assert_eq!(merged(events), vec![StreamEvent::Text("Here is a short summary of your".into())]);
    assert_eq!(
        end,
        Err(WireError::Api {
            message: "an error was encountered while running the model: unexpected EOF".into(),
            retryable: false,
        })
    );
}

#[test]
fn an_error_after_events_in_the_same_bytes_comes_with_the_next_call() {
    use crate::wire::Decoder as _;
    let mut d = Decoder::default();
    let events = d.feed(ERROR_MIDSTREAM).unwrap();
    assert_eq!(events.len(), 7);
    let err = d.feed(b"{\"done\":true}\n").unwrap_err();
    assert!(matches!(&err, WireError::Api { message, .. } if message.contains("unexpected EOF")), "{err:?}");
    assert_eq!(d.finish(), Err(err));
}

#[test]
fn busy_servers_are_retryable() {
    let (_, err) = run(&[b"{\"error\":\"server busy, please try again.  maximum pending requests exceeded\"}\n"]);
    assert!(matches!(err, Some(WireError::Api { retryable: true, .. })), "{err:?}");
}

#[test]
fn nothing_after_the_done_line_counts_even_without_its_newline() {
    // Found by the fuzz target `model_stream`: a last partial line after `done` was parsed
    // at the end (an error) when it came in the same bytes as the done line.
    let mut bytes = TEXT.to_vec();
    bytes.extend_from_slice(b"q");
    let whole = testing::decode(Format::Ollama, &[&bytes]);
    assert_eq!(whole, testing::decode(Format::Ollama, &[TEXT]));
    assert_eq!(whole.1, Ok(()));
}

#[test]
fn a_stream_cut_before_done_is_an_error() {
    // Cut inside the last line: what is left is not JSON.
    let (_, err) = run(&[&TEXT[..TEXT.len() - 40]]);
    assert!(matches!(err, Some(WireError::Protocol(_))), "{err:?}");
    // Cut right after a complete line: no done line.
    let last_line = TEXT[..TEXT.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let (events, err) = run(&[&TEXT[..last_line]]);
    assert_eq!(err, Some(WireError::Protocol("the stream ended before the reply was complete".into())));
    assert!(events.iter().all(|e| matches!(e, StreamEvent::Text(_))));
}

#[test]
fn done_reasons_and_missing_counts() {
    let (events, err) =
        run(&[br#"{"message":{"role":"assistant","content":"Hi"},"done_reason":"length","done":true}"#]);
    assert_eq!(err, None);
    // No counts: no usage event (never zeros).
    assert_eq!(events, vec![StreamEvent::Text("Hi".into()), StreamEvent::Finish(Finish::Length)]);
    let (events, _) = run(&[br#"{"done_reason":"unload","done":true,"eval_count":3}"#]);
    assert_eq!(events, vec![usage(None, Some(3), None), StreamEvent::Finish(Finish::Other("unload".into()))]);
    // Older servers send no done_reason.
    let (events, _) = run(&[br#"{"done":true}"#]);
    assert_eq!(events, vec![StreamEvent::Finish(Finish::Stop)]);
}

#[test]
fn tool_call_ids_from_newer_servers_are_kept_and_thinking_is_skipped() {
    let line = br#"{"message":{"role":"assistant","content":"","thinking":"Let me look.","tool_calls":[{"id":"call_x1","function":{"index":0,"name":"get_weather","arguments":{"city":"Oslo"}}},{"function":{"index":1,"name":"lookup_note","arguments":{}}}]},"done":false}
{"message":{"role":"assistant","content":""},"done_reason":"stop","done":true}
"#;
    let (events, err) = run(&[line]);
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            call("call_x1", "get_weather", r#"{"city":"Oslo"}"#),
            call("", "lookup_note", "{}"),
            StreamEvent::Finish(Finish::ToolCalls),
        ]
    );
}

fn conversation() -> ChatRequest {
    let call = ToolCall { id: "call_0".into(), name: "get_weather".into(), arguments: r#"{"city":"Berlin"}"#.into() };
    let broken = ToolCall { id: "call_1".into(), name: "lookup_note".into(), arguments: "{not json".into() };
    ChatRequest {
        model: "llama3.2".into(),
        messages: vec![
            Message::system("You are Pyra."),
            Message::user("Weather in Berlin?"),
            Message {
                role: Role::Assistant,
                content: String::new(),
                tool_calls: vec![call.clone(), broken.clone()],
                tool_call_id: None,
                tool_name: None,
            },
            Message::tool_result(&call, r#"{"temperature_c":21}"#),
            Message { tool_name: None, ..Message::tool_result(&broken, "no notes") },
        ],
        tools: vec![ToolSpec {
            name: "get_weather".into(),
            description: "Current weather for a city.".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }],
        temperature: Some(0.2),
        max_tokens: Some(256),
        response_schema: None,
    }
}

#[test]
fn chat_request_shape() {
    let req = chat_request("http://gpu-box:11434/", Some("sk-secret"), &conversation());
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "http://gpu-box:11434/api/chat");
    assert!(!req.url.contains("sk-secret"));
    assert_eq!(
        req.headers,
        testing::headers(&[("content-type", "application/json"), ("authorization", "Bearer sk-secret")])
    );
    assert_eq!(
        req.body.unwrap(),
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "You are Pyra."},
                {"role": "user", "content": "Weather in Berlin?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Berlin"}}},
                    {"function": {"name": "lookup_note", "arguments": {}}},
                ]},
                {"role": "tool", "content": "{\"temperature_c\":21}", "tool_name": "get_weather"},
                {"role": "tool", "content": "no notes", "tool_name": "lookup_note"},
            ],
            "stream": true,
            "options": {"temperature": 0.2, "num_predict": 256},
            "tools": [{"type": "function", "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            }}],
        })
    );
}

#[test]
fn chat_request_defaults_and_structured_output() {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let req = ChatRequest {
        model: "llama3.2".into(),
        messages: vec![Message::user("Hi")],
        response_schema: Some(schema.clone()),
        ..ChatRequest::default()
    };
    let http = chat_request("", None, &req);
    assert_eq!(http.url, "http://localhost:11434/api/chat");
    assert_eq!(http.headers, testing::headers(&[("content-type", "application/json")]));
    assert_eq!(
        http.body.unwrap(),
        json!({"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}], "stream": true, "format": schema})
    );
    assert_eq!(chat_request("http://h:1/api/", None, &req).url, "http://h:1/api/chat");
}

#[test]
fn models() {
    let req = models_request("http://localhost:11434", Some("k"));
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.url, "http://localhost:11434/api/tags");
    assert_eq!(req.headers, testing::headers(&[("authorization", "Bearer k")]));
    assert_eq!(req.body, None);
    assert!(models_request("http://localhost:11434", None).headers.is_empty());
    let body = json!({"models": [
        {"name": "qwen2.5:7b", "model": "qwen2.5:7b", "modified_at": "2025-05-01T10:00:00Z", "size": 4683087332u64},
        {"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189u64},
    ]});
    assert_eq!(parse_models(&body).unwrap(), vec!["llama3.2:latest", "qwen2.5:7b"]);
    assert_eq!(parse_models(&json!({"models": []})).unwrap(), Vec::<String>::new());
    assert!(matches!(parse_models(&json!({"data": []})), Err(WireError::Protocol(_))));
}

#[test]
fn error_messages() {
    assert_eq!(
        error_message(br#"{"error":"model \"llama9\" not found, try pulling it first"}"#).as_deref(),
        Some("model \"llama9\" not found, try pulling it first")
    );
    assert_eq!(error_message(br#"{"error":{"message":"unauthorized"}}"#).as_deref(), Some("unauthorized"));
    assert_eq!(error_message(b"404 page not found"), None);
    assert_eq!(error_message(br#"{"models":[]}"#), None);
}
