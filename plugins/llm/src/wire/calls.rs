//! Tool calls on the wire, where formats treat them alike. In requests: a tool declared
//! as an OpenAI-style function, a call's arguments as the JSON object most APIs want, and
//! the tool a result answers. In replies: a call assembled from streamed pieces or sent
//! whole, and the finish of a reply that stopped after making calls.

use serde_json::{Value, json};

use crate::{Finish, Message, ToolCall, ToolSpec, WireError};

/// A tool declared as `{"type": "function", "function": {name, description, parameters}}`
/// (OpenAI, Ollama).
pub(crate) fn function_tool(t: &ToolSpec) -> Value {
    json!({
        "type": "function",
        "function": { "name": t.name, "description": t.description, "parameters": t.parameters },
    })
}

/// A call's arguments as a JSON object (`{}` when the model's text is not one: the APIs
/// that want an object reject anything else).
pub(crate) fn arguments_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// The name of the tool whose result `m` is: its own, or the name of the call it answers
/// among `all` (Gemini and Ollama key results by name).
pub(crate) fn tool_name(m: &Message, all: &[Message]) -> Option<String> {
    if let Some(name) = &m.tool_name {
        return Some(name.clone());
    }
    let id = m.tool_call_id.as_deref()?;
    all.iter().flat_map(|m| &m.tool_calls).find(|c| c.id == id).map(|c| c.name.clone())
}

/// A tool call being assembled from streamed pieces (OpenAI's fragments, Anthropic's
/// `input_json_delta`s).
#[derive(Debug, Default)]
pub(crate) struct PartialCall {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The pieces of the arguments' JSON text so far.
    pub(crate) arguments: String,
}

impl PartialCall {
    /// The whole call. Arguments that never came, or came blank, are `otherwise`, or
    /// `{}` without it. An empty id stays empty: the client names the call.
    pub(crate) fn complete(self, otherwise: Option<String>) -> ToolCall {
        let arguments = if self.arguments.trim().is_empty() {
            otherwise.unwrap_or_else(|| "{}".to_string())
        } else {
            self.arguments
        };
        ToolCall { id: self.id, name: self.name, arguments }
    }
}

/// A call the server sent whole (Ollama, Gemini): its `name` (required; `what` names the
/// call in the error), its `arguments` as text, and the `id` of `call`, empty when it
/// has none (older servers): the client names the call then.
pub(crate) fn whole_call(
    call: &Value,
    name: Option<&Value>,
    arguments: String,
    what: &str,
) -> Result<ToolCall, WireError> {
    let name = name
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| WireError::Protocol(format!("{what} without a name: {call}")))?;
    let id = call.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(ToolCall { id, name: name.to_string(), arguments })
}

/// How a reply that stopped naturally (or without saying why) ends: it wants tool
/// results when it made calls.
pub(crate) fn natural_stop(made_calls: bool) -> Finish {
    if made_calls { Finish::ToolCalls } else { Finish::Stop }
}
