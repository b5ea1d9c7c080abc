//! The JSON Schema of `config.yaml` (`schemas/config.schema.json`, `pyra config schema`),
//! generated from the declarations alone ([`fields::SECTIONS`]), for editors' completion
//! and hover: one object per section, closed to other keys, each field typed by its
//! [`Kind`] with its label as `title`, its description and its default; secrets are left
//! out (they are never keys of the file). The checks say more than the schema can
//! (loopback addresses, vault key names, what a provider needs); the schema never accepts
//! less than they do, except where YAML reads nothing as null: an empty file, a section
//! written with nothing after it (`chat:`).

use serde_json::{Map, Value, json};

use crate::fields::{self, Field, Kind};
use crate::keys::child_path;

/// The schema of the whole file, keys in their declared order.
pub fn schema() -> Value {
    let mut schema = Map::new();
    schema.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    let mut root = object("");
    if let Some(obj) = root.as_object_mut() {
        if let Some(title) = obj.get("title").and_then(Value::as_str) {
            obj.insert("title".into(), json!(format!("Pyra {title}")));
        }
        schema.append(obj);
    }
    Value::Object(schema)
}

/// The object of the section at `path`: its fields and its child sections.
fn object(path: &str) -> Value {
    let Some(section) = fields::section(path) else { return json!({}) };
    let mut properties = Map::new();
    for field in section.fields.iter().filter(|f| !f.kind.is_secret()) {
        properties.insert(field.key.into(), property(field));
    }
    for child in section.children {
        let sub = child_path(path, child);
        let value = if sub == "models.*" {
            let entry = fields::section(&sub).map_or("", |s| s.description);
            json!({ "type": "array", "description": format!("the model entries, each {entry}"), "items": object(&sub) })
        } else {
            object(&sub)
        };
        properties.insert((*child).into(), value);
    }
    let mut object = Map::new();
    object.insert("title".into(), json!(section.title));
    object.insert("description".into(), json!(section.description));
    object.insert("type".into(), json!("object"));
    object.insert("additionalProperties".into(), json!(false));
    object.insert("properties".into(), Value::Object(properties));
    let required: Vec<&str> = section.fields.iter().filter(|f| f.required).map(|f| f.key).collect();
    if !required.is_empty() {
        object.insert("required".into(), json!(required));
    }
    Value::Object(object)
}

/// A field's schema: its type (and range, choices or pattern), title, description,
/// default.
fn property(field: &Field) -> Value {
    // Lists and maps hold ids too, which the file writes as numbers (Telegram's).
    let scalar = json!({ "type": ["string", "integer"] });
    let mut p = match field.kind {
        Kind::Text | Kind::VaultKey | Kind::Secret => json!({ "type": "string" }),
        Kind::Integer { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Kind::Number { min, max } => json!({ "type": "number", "minimum": number(min), "maximum": number(max) }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Choice(choices) => json!({ "type": "string", "enum": choices }),
        Kind::List => json!({ "type": "array", "items": scalar }),
        Kind::Map => json!({ "type": "object", "additionalProperties": scalar }),
        Kind::Hash => json!({ "type": "string", "pattern": "^\\$argon2id\\$" }),
    };
    p["title"] = json!(field.label);
    p["description"] = json!(field.description);
    if let Some(default) = field.default {
        p["default"] = typed(field.kind, default);
    }
    p
}

/// A declared default as the JSON its field holds (`"5"` → 5, `"false"` → false).
fn typed(kind: Kind, text: &str) -> Value {
    let parsed = match kind {
        Kind::Integer { .. } => text.parse::<i64>().ok().map(Value::from),
        Kind::Number { .. } => text.parse::<f64>().ok().map(number),
        Kind::Bool => text.parse::<bool>().ok().map(Value::from),
        _ => None,
    };
    parsed.unwrap_or_else(|| json!(text))
}

/// A number as JSON, whole ones without a fraction (`60`, not `60.0`).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 { Value::from(x as i64) } else { Value::from(x) }
}
