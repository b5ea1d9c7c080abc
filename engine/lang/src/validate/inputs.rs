//! Phase 4: inputs. Each input's schema must compile (a bad `pattern` is located) and its
//! `default` and `enum` values must satisfy it.

use serde_json::Value;

use super::structure::describe;
use super::{Ctx, ptr};
use crate::model::Skill;
use syntax::diag::Diagnostic;

pub(crate) fn check(ctx: &mut Ctx<'_>, skill: &Skill) {
    for (name, input) in &skill.inputs {
        let input_ptr = format!("/inputs/{}", ptr(name));
        let schema = input.json_schema();
        let validator = match crate::schema::compile(&schema) {
            Ok(v) => v,
            Err(err) => {
                if let Some(pattern) = &input.pattern
                    && let Err(regex_err) = fancy_regex::Regex::new(pattern)
                {
                    ctx.push(
                        Diagnostic::error("input-pattern", format!("the `pattern` of input `{name}` is not a valid regular expression"))
                            .at_opt(ctx.value_span(&format!("{input_ptr}/pattern")))
                            .with_label(regex_err.to_string())
                            .with_help("`pattern` is a regular expression (ECMA 262 flavour); escape `(`, `[` and `\\` to match them literally"),
                    );
                    continue;
                }
                let bad_ptr = match err.schema_path().as_str() {
                    p if p.starts_with("/pattern") => format!("{input_ptr}/pattern"),
                    p if p.starts_with("/items") => format!("{input_ptr}/items"),
                    p if p.starts_with("/properties") => format!("{input_ptr}/properties"),
                    _ => input_ptr.clone(),
                };
                ctx.push(
                    Diagnostic::error(
                        "input-schema",
                        format!("input `{name}` has an invalid schema: {}", err.masked()),
                    )
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
            let mut type_only = serde_json::json!({ "type": input.ty.as_str() });
            if let Some(items) = &input.items {
                type_only["items"] = Value::Object(items.clone());
            }
            let type_ok = crate::schema::compile(&type_only).is_ok_and(|v| v.is_valid(default));
            if !errors.is_empty() && type_ok {
                let found = default.as_str().map_or_else(|| default.to_string(), str::to_string);
                let (message, expected, help) = match &input.allowed {
                    Some(allowed) if !allowed.contains(default) => {
                        let opts: Vec<String> =
                            allowed.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
                        (
                            format!("the default of input `{name}` is not one of its allowed values"),
                            format!("one of {}", super::structure::backticked(&opts)),
                            syntax::suggest::help(&found, opts.iter().map(String::as_str))
                                .unwrap_or_else(|| "pick a default from `enum`, or add it there".into()),
                        )
                    }
                    _ => (
                        format!("the default of input `{name}` breaks the input's limits: {}", errors[0]),
                        "a value within `minimum`, `maximum`, `pattern` and the length limits".to_string(),
                        "change the default or the limit".to_string(),
                    ),
                };
                ctx.push(
                    Diagnostic::error("input-default", message)
                        .at_opt(ctx.value_span(&default_ptr))
                        .with_label("not allowed by the input's schema")
                        .with_expected(expected)
                        .with_help(help),
                );
            } else if !errors.is_empty() {
                let found = ctx.node(&default_ptr).map_or("nothing", |n| n.type_name());
                let help = match (input.ty.as_str(), default) {
                    ("integer" | "number", Value::String(s)) if s.parse::<f64>().is_ok() => {
                        format!("write the number without quotes: `default: {s}`")
                    }
                    ("string", Value::Number(n)) => {
                        format!("quote it to make it a string: `default: \"{n}\"`")
                    }
                    ("string", Value::Bool(b)) => {
                        format!("quote it to make it a string: `default: \"{b}\"`")
                    }
                    _ => format!("change the default or the input's `type` (now `{}`)", input.ty.as_str()),
                };
                ctx.push(
                    Diagnostic::error(
                        "input-default",
                        format!(
                            "the default of input `{name}` is {found}, not a value of type `{}`",
                            input.ty.as_str()
                        ),
                    )
                    .at_opt(ctx.value_span(&default_ptr))
                    .with_label(format!("expected {}", input.ty.as_str()))
                    .with_expected(format!("a value of type `{}`", input.ty.as_str()))
                    .with_help(help),
                );
            }
        }
        if let Some(allowed) = &input.allowed {
            let mut type_only = schema.clone();
            if let Some(obj) = type_only.as_object_mut() {
                obj.remove("enum");
            }
            let Ok(type_validator) = crate::schema::compile(&type_only) else {
                continue;
            };
            for (i, value) in allowed.iter().enumerate() {
                if !type_validator.is_valid(value) {
                    let p = format!("{input_ptr}/enum/{i}");
                    ctx.push(
                        Diagnostic::error(
                            "input-enum",
                            format!(
                                "{} does not match the type `{}` of input `{name}`",
                                describe(&p),
                                input.ty.as_str()
                            ),
                        )
                        .at_opt(ctx.value_span(&p))
                        .with_label("wrong type"),
                    );
                }
            }
        }
    }
}
