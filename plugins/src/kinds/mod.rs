//! Built-in node kinds, one module per family; each exposes `specs()`.

pub mod ai;
pub mod core;
pub mod io;
pub mod memory;

use serde_json::{Value, json};

/// A `with:` schema: an object with these properties, these required, nothing else.
pub(crate) fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The schema of a duration string, as in the skill schema.
pub(crate) fn duration(description: &str) -> Value {
    json!({ "type": "string", "pattern": syntax::duration::PATTERN, "description": description })
}
