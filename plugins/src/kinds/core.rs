//! Kinds that compute or control: `template`, `approval`, `wait`, `skill`.

use lang::KindSpec;
use serde_json::json;

use super::{duration, object};

pub fn specs() -> Vec<KindSpec> {
    vec![
        KindSpec::new(
            "template",
            "Compute a value from a template (its output is the rendered value, typed).",
            object(
                json!({
                    "value": { "description": "The value to compute; strings are templates, and a string that is exactly one `{{ expr }}` keeps the expression's type." }
                }),
                &["value"],
            ),
        ),
        KindSpec::new(
            "approval",
            "Ask a person to approve before the run goes on (terminal, `pyra approve`, or a channel).",
            object(
                json!({
                    "message": { "type": "string", "description": "What the person is asked." },
                    "details": { "description": "More to show on request (e.g. the text about to be sent)." },
                    "timeout": duration("How long to wait for an answer (default `1h`)."),
                    "on_timeout": { "enum": ["approve", "reject"], "description": "The outcome when nobody answers in time (default `reject`)." }
                }),
                &["message"],
            ),
        ),
        KindSpec::new("wait", "Pause for a duration or until a time; survives restarts.", {
            let mut schema = object(
                json!({
                    "duration": duration("How long to wait, e.g. `10m`."),
                    "until": { "type": "string", "description": "Wait until this time: RFC 3339 (`2026-12-01T09:00:00+01:00`) or `HH:MM` today/tomorrow." }
                }),
                &[],
            );
            schema["oneOf"] = json!([{ "required": ["duration"] }, { "required": ["until"] }]);
            schema
        }),
        KindSpec::new(
            "skill",
            "Run another skill; its outputs become this node's output.",
            object(
                json!({
                    "name": { "type": "string", "description": "The skill to run (a name from `pyra skill list`)." },
                    "inputs": { "type": "object", "description": "Its inputs; values are templates." }
                }),
                &["name"],
            ),
        ),
    ]
}
