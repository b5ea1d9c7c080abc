//! Request headers more than one format sends alike: the JSON body and the kind of reply
//! asked for, and a key as a bearer token.

/// One header.
pub(crate) fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// A streamed request sends JSON and asks for server-sent events; a plain one (the model
/// list) asks for JSON.
pub(crate) fn json(streaming: bool) -> Vec<(String, String)> {
    if streaming {
        vec![header("content-type", "application/json"), header("accept", "text/event-stream")]
    } else {
        vec![header("accept", "application/json")]
    }
}

/// `authorization: Bearer {key}` (OpenAI-compatible servers, Ollama behind a proxy).
pub(crate) fn bearer(key: &str) -> (String, String) {
    header("authorization", format!("Bearer {key}"))
}
