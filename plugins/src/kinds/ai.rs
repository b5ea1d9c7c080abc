//! Kinds that talk to language models: `llm` (one completion) and `agent` (a tool loop).

use lang::KindSpec;
use serde_json::{Value, json};

use super::object;

/// `prompt_file` / `system_file`: the path a user writes, or the Handlebars file as
/// validation loaded it (see `lang::validate`'s prompt-file phase), which is what the
/// executor then receives.
fn file_field(description: &str) -> Value {
    json!({
        "description": description,
        "anyOf": [
            { "type": "string", "minLength": 1 },
            {
                "type": "object",
                "description": "A Handlebars file as Pyra loaded it when checking the skill (not written by hand).",
                "properties": {
                    "path": { "type": "string" },
                    "handlebars": { "type": "array", "items": { "type": "string" } },
                    "data": { "type": "object" }
                },
                "required": ["path", "handlebars", "data"],
                "additionalProperties": false
            }
        ]
    })
}

fn model_fields() -> Value {
    let mut fields = json!({
        "model": { "type": ["string", "null"], "description": "A model entry from config (`NAME`) or `NAME/model-id`; default (or null, or empty): the default entry." },
        "system": { "type": "string", "description": "The system prompt." },
        "context": { "type": "string", "description": "Reference material (recalled notes, a document): given to the model marked as untrusted data, after the system prompt." },
        "prompt": { "type": "string", "description": "The user message." },
        "messages": {
            "type": "array",
            "description": "A conversation instead of `prompt`.",
            "items": {
                "type": "object",
                "properties": {
                    "role": { "enum": ["system", "user", "assistant"] },
                    "content": { "type": "string" }
                },
                "required": ["role", "content"],
                "additionalProperties": false
            }
        },
        "temperature": { "type": "number", "minimum": 0, "maximum": 2 },
        "max_tokens": { "type": "integer", "minimum": 1 }
    });
    fields["prompt_file"] = file_field(
        "The user message from a file instead of `prompt`, relative to the skill's folder: `.j2`, `.jinja`, `.md`, \
         `.txt` (Jinja, like inline templates) or `.hbs` (Handlebars).",
    );
    fields["system_file"] = file_field(
        "The system prompt from a file instead of `system`, relative to the skill's folder: `.j2`, `.jinja`, `.md`, \
         `.txt` (Jinja) or `.hbs` (Handlebars).",
    );
    fields
}

pub fn specs() -> Vec<KindSpec> {
    let mut llm = model_fields();
    llm["response_schema"] = json!({ "type": "object", "description": "A JSON Schema: the reply is parsed as JSON and validated (one repair attempt)." });
    let mut agent = model_fields();
    agent["tools"] = json!({ "type": "array", "items": { "type": "string" }, "description": "Tools by name: plugin tools and skills." });
    agent["max_iterations"] =
        json!({ "type": "integer", "minimum": 1, "maximum": 100, "description": "Most model turns (default 10)." });
    agent["approve_tools"] = json!({
        "type": "boolean",
        "description": "Ask a person before each tool call, showing its arguments (default false; a tool's own gates, like an `exec` of model-chosen arguments, always ask)."
    });
    agent["tool_policy"] = json!({
        "type": "object",
        "additionalProperties": { "enum": ["allow", "ask", "deny"] },
        "description": "Narrows the plugins' policies for this node: `\"fs.write_*\": ask`, `\"fs.delete_*\": deny` (globs over `<plugin>.<tool>`). Only stricter: `allow` never widens a plugin's `ask` or `deny`."
    });
    let prompt_or_messages =
        json!([{ "required": ["prompt"] }, { "required": ["messages"] }, { "required": ["prompt_file"] }]);
    let mut llm_schema = object(llm, &[]);
    llm_schema["anyOf"] = prompt_or_messages.clone();
    let mut agent_schema = object(agent, &[]);
    agent_schema["anyOf"] = prompt_or_messages;
    vec![
        KindSpec::new("llm", "One completion from a language model, optionally as validated JSON.", llm_schema),
        KindSpec::new("agent", "A language model with a tool-use loop (plugin tools and skills).", agent_schema),
    ]
}
