//! Phase 4: inputs. Each input's schema must compile (a bad `pattern` is located) and its
//! `default` and `enum` values must satisfy it.

use serde_json::Value;

use super::structure::describe;
use super::{Ctx, ptr};
use crate::diag::Diagnostic;
use crate::model::Skill;

pub(crate) fn check(ctx: &mut Ctx<'_>, skill: &Skill) {
    for (name, input) in &skill.inputs {
        let input_ptr = format!("/inputs/{}", ptr(name));
        let schema = input.json_schema();
        let validator = match jsonschema::validator_for(&schema) {
            Ok(v) => v,
            Err(err) => {
                let bad_ptr = match err.schema_path().as_str() {
                    p if p.starts_with("/pattern") => format!("{input_ptr}/pattern"),
                    p if p.starts_with("/items") => format!("{input_ptr}/items"),
                    p if p.starts_with("/properties") => format!("{input_ptr}/properties"),
                    _ => input_ptr.clone(),
                };
                ctx.push(
                    Diagnostic::error("input-schema", format!("input `{name}` has an invalid schema: {}", err.masked()))
                        .at_opt(ctx.value_span(&bad_ptr))
                        .with_label("not a valid JSON Schema")
                        .with_help("`pattern` is a regular expression; `items` and `properties` are JSON Schemas"),
                );
                continue;
            }
        };
        if let Some(default) = &input.default {
            let default_ptr = format!("{input_ptr}/default");
            let errors: Vec<String> = validator.iter_errors(default).map(|e| e.masked().to_string()).collect();
            if let Some(first) = errors.first() {
                let found = ctx.node(&default_ptr).map_or("nothing", |n| n.type_name());
                let help = match (input.ty.as_str(), default) {
                    ("integer" | "number", Value::String(s)) if s.parse::<f64>().is_ok() => {
                        format!("write the number without quotes: `default: {s}`")
                    }
                    ("string", Value::Number(n)) => format!("quote it to make it a string: `default: \"{n}\"`"),
                    ("string", Value::Bool(b)) => format!("quote it to make it a string: `default: \"{b}\"`"),
                    _ => format!("change the default or the input's `type` (now `{}`)", input.ty.as_str()),
                };
                ctx.push(
                    Diagnostic::error(
                        "input-default",
                        format!("the default of input `{name}` does not match its type: {first}"),
                    )
                    .at_opt(ctx.value_span(&default_ptr))
                    .with_label(format!("{found}, but the input is of type `{}`", input.ty.as_str()))
                    .with_expected(format!("a value of type `{}` that satisfies the input's schema", input.ty.as_str()))
                    .with_help(help),
                );
            }
        }
        if let Some(allowed) = &input.allowed {
            let mut type_only = schema.clone();
            if let Some(obj) = type_only.as_object_mut() {
                obj.remove("enum");
            }
            let Ok(type_validator) = jsonschema::validator_for(&type_only) else { continue };
            for (i, value) in allowed.iter().enumerate() {
                if !type_validator.is_valid(value) {
                    let p = format!("{input_ptr}/enum/{i}");
                    ctx.push(
                        Diagnostic::error(
                            "input-enum",
                            format!("{} does not match the type `{}` of input `{name}`", describe(&p), input.ty.as_str()),
                        )
                        .at_opt(ctx.value_span(&p))
                        .with_label("wrong type"),
                    );
                }
            }
        }
    }
}
