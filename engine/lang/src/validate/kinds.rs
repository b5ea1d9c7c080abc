//! Phase 3: node kinds. Every `uses:` must name a registered kind, and every `with:` is
//! checked against that kind's JSON Schema wherever its values are literal (a template
//! string can only be checked once rendered, at run time).

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::structure::{backticked, describe, type_expected};
use super::{Ctx, ptr};
use crate::model::Skill;
use crate::template::has_template_syntax;
use syntax::diag::Diagnostic;
use syntax::suggest;

pub(crate) fn check(ctx: &mut Ctx<'_>, skill: &Skill) {
    for (id, node) in &skill.nodes {
        // A node whose `uses` was broken has been reported already.
        if node.uses.is_empty() {
            continue;
        }
        let node_ptr = format!("/nodes/{}", ptr(id));
        let Some(spec) = ctx.registry.get(&node.uses) else {
            let names: Vec<&str> = ctx.registry.names().collect();
            let help = suggest::help(&node.uses, names.iter().copied()).unwrap_or_else(|| {
                format!(
                    "built-in kinds are {}; plugins add `<plugin>.<tool>` kinds",
                    backticked(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                )
            });
            ctx.push(
                Diagnostic::error("unknown-kind", format!("unknown node kind `{}` in node `{id}`", node.uses))
                    .at_opt(ctx.value_span(&format!("{node_ptr}/uses")))
                    .with_label("no such node kind")
                    .with_help(help),
            );
            continue;
        };
        if let Some(why) = &spec.blocked {
            ctx.push(
                Diagnostic::error("tool-blocked", format!("node `{id}` uses `{}`, which is blocked", spec.name))
                    .at_opt(ctx.value_span(&format!("{node_ptr}/uses")))
                    .with_label("blocked")
                    .with_help(why.clone()),
            );
            continue;
        }
        if node.uses == "agent" {
            check_agent_tools(ctx, id, &node_ptr, &node.with);
        }
        let Some(validator) = spec.validator() else {
            ctx.push(Diagnostic::error(
                "kind-schema",
                format!("node kind `{}` has an invalid `with:` schema", spec.name),
            ));
            continue;
        };
        let with = Value::Object(node.with.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        let with_ptr = format!("{node_ptr}/with");
        let properties: Vec<String> = spec
            .with_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let errors: Vec<ValidationError<'_>> = validator.iter_errors(&with).collect();
        for err in errors {
            if is_dynamic(&err) {
                continue;
            }
            let rel = err.instance_path().as_str().to_string();
            let pointer = format!("{with_ptr}{rel}");
            let at = describe(&pointer);
            let kind = &spec.name;
            let diag = match err.kind() {
                ValidationErrorKind::Required { property } => {
                    let property = property.as_str().unwrap_or_default();
                    let span = if node.with.is_empty() { ctx.key_span(&node_ptr) } else { ctx.key_span(&pointer) };
                    Diagnostic::error("missing-field", format!("node `{id}` ({kind}) needs `with.{property}`"))
                        .at_opt(span)
                        .with_label(format!("`{property}` is missing"))
                        .with_help(describe_property(&spec.with_schema, property))
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for key in unexpected.iter().skip(1) {
                        ctx.push(unknown_with(ctx, id, kind, &format!("{pointer}/{}", ptr(key)), key, &properties));
                    }
                    let key = unexpected.first().cloned().unwrap_or_default();
                    unknown_with(ctx, id, kind, &format!("{pointer}/{}", ptr(&key)), &key, &properties)
                }
                ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context }
                    if context
                        .iter()
                        .all(|b| b.iter().all(|e| matches!(e.kind(), ValidationErrorKind::Required { .. }))) =>
                {
                    let options: Vec<String> = context
                        .iter()
                        .flat_map(|b| b.iter())
                        .filter_map(|e| match e.kind() {
                            ValidationErrorKind::Required { property } => property.as_str().map(str::to_string),
                            _ => None,
                        })
                        .collect();
                    let span = if node.with.is_empty() { ctx.key_span(&node_ptr) } else { ctx.key_span(&pointer) };
                    Diagnostic::error(
                        "missing-field",
                        format!("node `{id}` ({kind}) needs one of {} in `with`", backticked(&options)),
                    )
                    .at_opt(span)
                    .with_label("neither is given")
                    .with_help(describe_property(&spec.with_schema, options.first().map_or("", String::as_str)))
                }
                ValidationErrorKind::OneOfMultipleValid { .. } => Diagnostic::error(
                    "conflicting-fields",
                    format!("node `{id}` ({kind}) gives more than one alternative in `with`"),
                )
                .at_opt(ctx.key_span(&pointer))
                .with_label("only one of these may be given")
                .with_help(format!("see `pyra skill schema`: `{kind}` takes exactly one of its alternatives")),
                ValidationErrorKind::Type { kind: expected } => {
                    let found = ctx.node(&pointer).map_or("nothing", |n| n.type_name());
                    let expected = type_expected(expected);
                    Diagnostic::error("type", format!("{at} must be {expected}, found {found}"))
                        .at_opt(ctx.value_span(&pointer))
                        .with_label(format!("expected {expected}"))
                        .with_help_opt(top_property(&rel).map(|p| describe_property(&spec.with_schema, p)))
                }
                ValidationErrorKind::Enum { options } => {
                    let opts: Vec<String> = options
                        .as_array()
                        .map(|a| a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect())
                        .unwrap_or_default();
                    let got = err.instance().as_str().map_or_else(|| err.instance().to_string(), str::to_string);
                    Diagnostic::error("invalid-value", format!("`{got}` is not a valid value for {at}"))
                        .at_opt(ctx.value_span(&pointer))
                        .with_label("not an accepted value")
                        .with_expected(format!("one of {}", backticked(&opts)))
                        .with_help_opt(suggest::help(&got, opts.iter().map(String::as_str)))
                }
                _ => {
                    let found = ctx.node(&pointer).map_or("nothing", |n| n.type_name());
                    let message = err.masked().to_string();
                    Diagnostic::error("invalid-with", format!("{at} is invalid for `{kind}`: {message}"))
                        .at_opt(ctx.value_span(&pointer))
                        .with_label(format!("found {found}"))
                        .with_help_opt(top_property(&rel).map(|p| describe_property(&spec.with_schema, p)))
                }
            };
            ctx.push(diag);
        }
    }
}

/// Errors about values that are templates are left to run time.
fn is_dynamic(err: &ValidationError<'_>) -> bool {
    match err.kind() {
        ValidationErrorKind::Required { .. } | ValidationErrorKind::AdditionalProperties { .. } => false,
        _ => err.instance().as_str().is_some_and(has_template_syntax),
    }
}

fn unknown_with(ctx: &Ctx<'_>, id: &str, kind: &str, pointer: &str, key: &str, properties: &[String]) -> Diagnostic {
    Diagnostic::error("unknown-field", format!("node `{id}` ({kind}) has no option `{key}`"))
        .at_opt(ctx.key_span(pointer))
        .with_label(format!("not an option of `{kind}`"))
        .with_expected(format!("one of {}", backticked(properties)))
        .with_help_opt(suggest::help(key, properties.iter().map(String::as_str)))
}

/// The `with:` option an error path lies under (`/argv/0` → `argv`).
fn top_property(rel: &str) -> Option<&str> {
    rel.trim_start_matches('/').split('/').next().filter(|p| !p.is_empty())
}

fn describe_property(schema: &Value, property: &str) -> String {
    let prop = schema.pointer(&format!("/properties/{}", ptr(property)));
    let desc = prop.and_then(|p| p.get("description")).and_then(Value::as_str);
    match desc {
        Some(d) => format!("`{property}`: {d}"),
        None => format!("see `pyra skill schema` for the options of this kind (`{property}`)"),
    }
}

/// An `agent`'s `tools:` entries that name plugin tools (`<plugin>.<tool>` or
/// `<plugin>.*`, where `<plugin>` is an installed plugin) must name tools that exist and
/// are not blocked. Other entries are skills, checked when the run starts.
fn check_agent_tools(ctx: &mut Ctx<'_>, id: &str, node_ptr: &str, with: &indexmap::IndexMap<String, Value>) {
    // A `tool_policy` rule that matches no plugin tool would silently do nothing.
    for rule in with.get("tool_policy").and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
        let matches = |name: &str| {
            globset::GlobBuilder::new(rule)
                .literal_separator(false)
                .build()
                .is_ok_and(|g| g.compile_matcher().is_match(name))
        };
        if !ctx.registry.kinds().any(|k| k.tool && matches(&k.name)) {
            let tools: Vec<&str> = ctx.registry.kinds().filter(|k| k.tool).map(|k| k.name.as_str()).collect();
            let help = suggest::help(rule, tools.iter().copied()).unwrap_or_else(|| {
                "rules are globs over installed plugin tools, `<plugin>.<tool>` (`pyra plugin list`)".into()
            });
            ctx.push(
                Diagnostic::error(
                    "unknown-tool",
                    format!("node `{id}`: `tool_policy` rule `{rule}` matches no plugin tool"),
                )
                .at_opt(ctx.key_span(&format!("{node_ptr}/with/tool_policy/{}", ptr(rule))))
                .with_label("matches no tool")
                .with_help(help),
            );
        }
    }
    let Some(list) = with.get("tools").and_then(Value::as_array) else { return };
    for (i, entry) in list.iter().enumerate() {
        let Some(name) = entry.as_str() else { continue };
        let Some((plugin, tool)) = name.split_once('.') else { continue };
        let prefix = format!("{plugin}.");
        let of_plugin: Vec<&crate::KindSpec> =
            ctx.registry.kinds().filter(|k| k.tool && k.name.starts_with(&prefix)).collect();
        if of_plugin.is_empty() || has_template_syntax(name) {
            continue;
        }
        let at = ctx.value_span(&format!("{node_ptr}/with/tools/{i}"));
        if tool == "*" {
            if of_plugin.iter().all(|k| k.blocked.is_some()) {
                ctx.push(
                    Diagnostic::error("tool-blocked", format!("node `{id}`: every tool of `{plugin}` is blocked"))
                        .at_opt(at)
                        .with_help(format!("`pyra plugin tools {plugin}` shows why; `pyra plugin review {plugin}`")),
                );
            }
            continue;
        }
        match of_plugin.iter().find(|k| k.name == name) {
            Some(spec) => {
                if let Some(why) = &spec.blocked {
                    ctx.push(
                        Diagnostic::error("tool-blocked", format!("node `{id}` lists `{name}`, which is blocked"))
                            .at_opt(at)
                            .with_label("blocked")
                            .with_help(why.clone()),
                    );
                }
            }
            None => {
                let names: Vec<&str> = of_plugin.iter().map(|k| k.name.as_str()).collect();
                let help = suggest::help(name, names.iter().copied())
                    .unwrap_or_else(|| format!("`pyra plugin tools {plugin}` lists its tools"));
                ctx.push(
                    Diagnostic::error(
                        "unknown-tool",
                        format!("node `{id}` lists `{name}`: `{plugin}` has no such tool"),
                    )
                    .at_opt(at)
                    .with_label("no such tool")
                    .with_help(help),
                );
            }
        }
    }
}
