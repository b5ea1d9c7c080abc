//! The JSON Schema of skill files, generated from the Rust model in [`crate::model`].
//!
//! [`base_schema`] is what the structure phase validates against. [`skill_schema`] is the
//! published `schemas/skill.schema.json`: the same schema plus, for editor completion,
//! the `with:` schema of every registered node kind. A test keeps the checked-in file
//! equal to [`skill_schema`] of the built-in registry.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::model::Skill;
use crate::registry::Registry;

/// Where the published schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "schemas/skill.schema.json";

/// Checks `value` against `schema` (compiled with [`compile`]): `Err` lists each problem
/// as `path: message` (a schema that does not compile is one problem).
pub fn check(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let validator = compile(schema).map_err(|e| vec![format!("the schema itself is not valid: {e}")])?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Compiles a JSON Schema for checking values. Pyra's own schemas (the skill structure,
/// each kind's `with:`, inputs) are read with draft-07 semantics: they use no keyword that
/// draft 2020-12 added (a test checks the generated one), and building the 2020-12
/// meta-schema costs ~1.5 ms per process, a third of a cold `pyra run`. A `$schema` key is
/// ignored for the same reason (editors still get the 2020-12 file).
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    let options = jsonschema::options().with_draft(jsonschema::Draft::Draft7);
    match schema.get("$schema") {
        Some(_) => {
            let mut plain = schema.clone();
            if let Some(obj) = plain.as_object_mut() {
                obj.remove("$schema");
            }
            options.build(&plain)
        }
        None => options.build(schema),
    }
}

pub fn base_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let schema = generator.into_root_schema_for::<Skill>();
    let mut value = schema.to_value();
    drop_null(&mut value);
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "description".into(),
            json!(
                "A Pyra skill: a DAG of nodes run by `pyra run`, triggers or chat. \
                   Generated from Pyra's Rust types; do not edit by hand."
            ),
        );
    }
    value
}

/// Optional fields are optional by being absent: a YAML `key: ~` is almost always a
/// mistake, so `Option<T>` becomes plain `T` in the schema (no `null` branch), and errors
/// then speak of the one type the user meant.
fn drop_null(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            if let Some(Value::Array(branches)) = obj.get("anyOf") {
                let non_null: Vec<Value> = branches
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if non_null.len() == 1 && branches.len() == 2 {
                    obj.shift_remove("anyOf");
                    if let Value::Object(inner) = &non_null[0] {
                        for (k, v) in inner {
                            obj.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
            }
            if let Some(Value::Array(types)) = obj.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
                if kept.len() == 1 {
                    obj.insert("type".into(), kept[0].clone());
                } else if kept.len() < types.len() {
                    obj.insert("type".into(), Value::Array(kept));
                }
            }
            if let Some(Value::Array(options)) = obj.get_mut("enum") {
                options.retain(|o| !o.is_null());
            }
            for v in obj.values_mut() {
                drop_null(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// The published schema: [`base_schema`] plus per-kind `with:` schemas for editors.
pub fn skill_schema(registry: &Registry) -> Value {
    let mut schema = base_schema();
    let kinds: Vec<&str> = registry.names().collect();
    let conditionals: Vec<Value> = registry
        .kinds()
        .map(|kind| {
            json!({
                "if": { "properties": { "uses": { "const": kind.name } }, "required": ["uses"] },
                "then": { "properties": { "with": templated(&kind.with_schema) } }
            })
        })
        .collect();
    if let Some(node) = schema.pointer_mut("/$defs/Node").and_then(Value::as_object_mut) {
        node.insert("allOf".into(), Value::Array(conditionals));
        if let Some(uses) = node.get_mut("properties").and_then(|p| p.get_mut("uses")).and_then(Value::as_object_mut) {
            uses.insert("examples".into(), json!(kinds));
        }
    }
    schema
}

/// Any option may be a template that renders to the right type at run time, so editors
/// must accept `"{{ … }}"` wherever a literal is checked.
fn templated(with_schema: &Value) -> Value {
    let mut schema = with_schema.clone();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for prop in props.values_mut() {
            let description = prop.get("description").cloned();
            let mut wrapped = json!({ "anyOf": [prop.clone(), { "type": "string", "pattern": "\\{\\{|\\{%" }] });
            if let Some(d) = description {
                wrapped["description"] = d;
            }
            *prop = wrapped;
        }
    }
    schema
}

/// Pretty JSON with a trailing newline, as checked in.
pub fn to_pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`compile`] reads schemas as draft-07; a keyword only 2020-12 knows would be
    /// silently ignored, so none may appear in what we generate.
    #[test]
    fn generated_schema_needs_nothing_beyond_draft_07() {
        const LATER: &[&str] = &[
            "prefixItems",
            "unevaluatedItems",
            "unevaluatedProperties",
            "dependentRequired",
            "dependentSchemas",
            "$dynamicRef",
            "$dynamicAnchor",
            "minContains",
            "maxContains",
        ];
        fn walk(value: &Value, path: &str) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        assert!(!LATER.contains(&k.as_str()), "{path}/{k} is a 2020-12 keyword");
                        if map.contains_key("$ref") {
                            let extra = ["$ref", "description", "title", "examples", "default"];
                            assert!(extra.contains(&k.as_str()), "{path}/{k} beside a $ref is ignored by draft-07");
                        }
                        walk(v, &format!("{path}/{k}"));
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, path)),
                _ => {}
            }
        }
        walk(&base_schema(), "");
        compile(&base_schema()).expect("compiles");
    }
}
