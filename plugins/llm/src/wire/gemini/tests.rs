//! Tests of the Gemini format: the recorded streams decoded however they are split,
//! thoughts, ids, cached tokens, finish reasons and errors, and the exact requests.

use super::*;
use crate::{Finish, Message, StreamEvent, ToolCall, ToolSpec};

use crate::wire::Format;
use crate::wire::testing::{self, call, usage};

fn run(chunks: &[&[u8]]) -> (Vec<StreamEvent>, Option<WireError>) {
    testing::run(Format::Gemini, chunks)
}

fn decode_every_way(bytes: &[u8]) -> Vec<StreamEvent> {
    testing::decode_merged(Format::Gemini, bytes)
}

const TEXT: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/gemini/text.sse");
const TOOL_CALLS: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/gemini/tool_calls.sse");
const STRUCTURED: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/gemini/structured.sse");
const ERROR: &[u8] = include_bytes!("../../../../../tests/fixtures/llm/gemini/error.sse");

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
    let wrapped =
        br#"[{"error": {"code": 429, "message": "You exceeded your current quota.", "status": "RESOURCE_EXHAUSTED"}}]"#;
    assert_eq!(error_message(wrapped).as_deref(), Some("You exceeded your current quota."));
    assert_eq!(error_message(br#"{"error": {"code": 500, "status": "INTERNAL"}}"#).as_deref(), Some("INTERNAL"));
    assert_eq!(error_message(b"<html>502 Bad Gateway</html>"), None);
    assert_eq!(error_message(br#"{"candidates": []}"#), None);
}
