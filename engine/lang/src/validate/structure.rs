//! Phase 2: the document against the generated JSON Schema, every error located and
//! explained, then deserialised into the typed [`Skill`].
//!
//! jsonschema reports errors as JSON pointers; the position-keeping tree turns each into
//! a span. Unions (`anyOf`) are explained through the branch the user evidently meant.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::{Ctx, ptr, unptr};
use crate::model::{IDENT_PATTERN, KIND_PATTERN, SECRET_PATTERN, SKILL_NAME_PATTERN, Skill};
use syntax::diag::Diagnostic;
use syntax::suggest;
use syntax::yaml;

fn base() -> &'static (Value, Validator) {
    static BASE: OnceLock<(Value, Validator)> = OnceLock::new();
    BASE.get_or_init(|| {
        let schema = crate::schema::base_schema();
        // The schema is generated from our own types; failing to compile it is a bug that
        // every test would catch at once.
        let validator = crate::schema::compile(&schema).expect("the generated skill schema compiles");
        (schema, validator)
    })
}

/// What to remove from the JSON so later phases can run on the rest.
enum Prune {
    /// Remove the value at this pointer.
    Remove(String),
    /// A node lost a required field: keep its id, stop judging it.
    BreakNode(String),
    /// The skill has no `name`: give it one so the other fields can still be checked.
    FillName,
    /// Nothing sensible is left to check (no `nodes`): skip the later phases.
    GiveUp,
}

pub(crate) fn check(ctx: &mut Ctx<'_>) -> Option<Skill> {
    match &ctx.doc.value {
        yaml::Value::Map(_) => {}
        yaml::Value::Null => {
            let only_comments = !ctx.file.text().trim().is_empty();
            let message = if only_comments { "the file has no content, only comments" } else { "the file is empty" };
            ctx.push(
                Diagnostic::error("empty", message)
                    .at(0..0)
                    .with_expected("a skill: a map with at least `name` and `nodes`")
                    .with_help("run `pyra skill new NAME` for a commented starter skill"),
            );
            return None;
        }
        _ => {
            ctx.push(
                Diagnostic::error("not-a-map", format!("a skill file must be a map, found {}", ctx.doc.type_name()))
                    .at(ctx.doc.span.clone())
                    .with_expected("a map with `name`, `nodes` and optionally `inputs`, `triggers`, `outputs`")
                    .with_help("run `pyra skill new NAME` for a commented starter skill"),
            );
            return None;
        }
    }
    let (schema, validator) = base();
    let mut json = ctx.doc.to_json();
    let mut prunes = Vec::new();
    let errors: Vec<ValidationError<'_>> = validator.iter_errors(&json).collect();
    for err in &errors {
        report(ctx, schema, err, &mut prunes);
    }
    drop(errors);
    // Prune and re-check a few times; errors found after pruning are consequences of the
    // pruning (a removed required field), not news for the user.
    for _ in 0..4 {
        if prunes.is_empty() || prunes.iter().any(|p| matches!(p, Prune::GiveUp)) {
            break;
        }
        apply(ctx, &mut json, std::mem::take(&mut prunes));
        let again: Vec<ValidationError<'_>> = validator.iter_errors(&json).collect();
        let mut sink = Vec::new();
        let mut scratch = Ctx::new(ctx.file, ctx.doc, ctx.registry);
        for err in &again {
            report(&mut scratch, schema, err, &mut sink);
        }
        prunes = sink;
    }
    if !prunes.is_empty() {
        return None;
    }
    match serde_json::from_value::<Skill>(json) {
        Ok(skill) => Some(skill),
        Err(err) => {
            ctx.push(Diagnostic::error("structure", format!("the skill does not match its schema: {err}")));
            None
        }
    }
}

fn apply(ctx: &mut Ctx<'_>, json: &mut Value, prunes: Vec<Prune>) {
    let mut removals: Vec<String> = Vec::new();
    for prune in prunes {
        match prune {
            Prune::Remove(p) => removals.push(p),
            Prune::BreakNode(id) => {
                if let Some(node) = json.pointer_mut(&format!("/nodes/{}", ptr(&id)))
                    && let Some(obj) = node.as_object_mut()
                {
                    obj.insert("uses".into(), Value::String(String::new()));
                } else if let Some(nodes) = json.pointer_mut("/nodes").and_then(Value::as_object_mut) {
                    nodes.insert(id.clone(), serde_json::json!({ "uses": "" }));
                }
                ctx.broken_nodes.insert(id);
            }
            Prune::FillName => {
                if let Some(obj) = json.as_object_mut() {
                    obj.insert("name".into(), Value::String("unnamed".into()));
                }
            }
            Prune::GiveUp => {}
        }
    }
    // Deepest and last first, so list indices stay valid while removing.
    removals.sort_by(|a, b| b.cmp(a));
    removals.dedup();
    for p in removals {
        if p.is_empty() {
            continue;
        }
        // A broken node stays (its id is referenced); its bad field goes.
        let segs: Vec<&str> = p.split('/').collect();
        if segs.len() == 3 && segs[1] == "nodes" {
            let id = unptr(segs[2]);
            ctx.broken_nodes.insert(id.clone());
            if let Some(obj) = json.pointer_mut("/nodes").and_then(Value::as_object_mut) {
                obj.insert(id, serde_json::json!({ "uses": "" }));
            }
            continue;
        }
        if segs.len() > 3 && segs[1] == "nodes" {
            ctx.broken_nodes.insert(unptr(segs[2]));
        }
        let (mut parent, mut last) = p.rsplit_once('/').unwrap_or(("", &p));
        // A bad entry in `needs` drops the whole list, so no index shifts under a span.
        if parent.ends_with("/needs") {
            (parent, last) = parent.rsplit_once('/').unwrap_or(("", parent));
        }
        let last = unptr(last);
        match json.pointer_mut(parent) {
            Some(Value::Object(obj)) => {
                obj.shift_remove(&last);
            }
            Some(Value::Array(items)) => {
                if let Ok(i) = last.parse::<usize>()
                    && i < items.len()
                {
                    items.remove(i);
                    // Later phases locate triggers by their original index.
                    if parent == "/triggers" && i < ctx.trigger_map.len() {
                        ctx.trigger_map.remove(i);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `/nodes/a/retry/attempts` → `nodes.a.retry.attempts`; `/triggers/0/cron` → `triggers[0].cron`.
pub(crate) fn describe(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = unptr(seg);
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    if out.is_empty() { "the skill".into() } else { format!("`{out}`") }
}

fn json_type_words(name: &str) -> &'static str {
    match name {
        "object" => "a map",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "`true` or `false`",
        "null" => "null",
        _ => "a value",
    }
}

pub(crate) fn type_expected(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => json_type_words(&t.to_string()).to_string(),
        TypeKind::Multiple(set) => {
            let words: Vec<&str> = set.iter().map(|t| json_type_words(&t.to_string())).collect();
            words.join(" or ")
        }
    }
}

/// Follows an evaluation path through the schema, jumping through `$ref`s.
fn schema_at<'s>(root: &'s Value, path: &str) -> Option<&'s Value> {
    let mut cur = root;
    for seg in path.split('/').skip(1) {
        let seg = unptr(seg);
        if seg == "$ref" {
            let target = cur.get("$ref")?.as_str()?;
            cur = root.pointer(target.strip_prefix('#')?)?;
            continue;
        }
        cur = match cur {
            Value::Object(o) => o.get(&seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    // A `$ref` at the end means the schema that was applied is the referenced one.
    if let Some(target) = cur.get("$ref").and_then(Value::as_str) {
        return root.pointer(target.strip_prefix('#')?);
    }
    Some(cur)
}

/// The schema object whose keyword produced the error (the path minus its keyword).
fn owning_schema<'s>(root: &'s Value, err: &ValidationError<'_>) -> Option<&'s Value> {
    let path = err.schema_path().as_str();
    let parent = &path[..path.rfind('/')?];
    schema_at(root, parent)
}

fn report(ctx: &mut Ctx<'_>, schema: &Value, err: &ValidationError<'_>, prunes: &mut Vec<Prune>) {
    let pointer = err.instance_path().as_str().to_string();
    let at = describe(&pointer);
    let found = ctx.node(&pointer).map_or("nothing", |n| n.type_name());
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed: Vec<String> = owning_schema(schema, err)
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            for key in unexpected {
                let key_ptr = format!("{pointer}/{}", ptr(key));
                let where_ = if pointer.is_empty() { "in a skill".to_string() } else { format!("in {at}") };
                ctx.push(
                    Diagnostic::error("unknown-field", format!("unknown field `{key}` {where_}"))
                        .at_opt(ctx.key_span(&key_ptr))
                        .with_label("not a known field")
                        .with_expected(format!("one of {}", backticked(&allowed)))
                        .with_help_opt(suggest::help(key, allowed.iter().map(String::as_str))),
                );
                prunes.push(Prune::Remove(key_ptr));
            }
        }
        ValidationErrorKind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            // `nodse:` is already reported with "did you mean `nodes`"; saying `nodes` is
            // missing as well would only repeat it.
            let misspelt = match &ctx.node(&pointer).map(|n| &n.value) {
                Some(yaml::Value::Map(entries)) => {
                    entries.iter().any(|(k, _)| suggest::did_you_mean(&k.key_text(), [property]).is_some())
                }
                _ => false,
            };
            if misspelt {
                prune_value(&pointer, prunes, property);
                return;
            }
            let (message, help) = required_message(&pointer, property);
            ctx.push(
                Diagnostic::error("missing-field", message)
                    .at_opt(ctx.key_span(&pointer))
                    .with_label(format!("`{property}` is missing here"))
                    .with_help_opt(help),
            );
            prune_value(&pointer, prunes, property);
        }
        ValidationErrorKind::Type { kind } => {
            let expected = type_expected(kind);
            let owner = owning_schema(schema, err);
            let is_duration =
                owner.and_then(|s| s.get("pattern")).and_then(Value::as_str) == Some(syntax::duration::PATTERN);
            let mut diag = Diagnostic::error("type", format!("{at} must be {expected}, found {found}"))
                .at_opt(ctx.value_span(&pointer))
                .with_label(format!("expected {expected}"));
            if is_duration {
                let shown = ctx.node(&pointer).map(|n| n.to_json().to_string()).unwrap_or_default();
                diag = Diagnostic::error("duration", format!("{at} must be a duration, found {found}"))
                    .at_opt(ctx.value_span(&pointer))
                    .with_label("not a duration")
                    .with_expected("a number with a unit: `500ms`, `30s`, `5m`, `1h30m`, `1d`")
                    .with_help(format!("add a unit, e.g. `{shown}s`"));
            } else if pointer == "/nodes" && found == "a list" {
                diag = diag.with_help("nodes are a map keyed by id: `nodes:` then `  fetch:` then `    uses: http`");
            } else if found == "a list" || found == "a map" {
                diag = diag.with_help(format!("write {at} as {expected}"));
            }
            ctx.push(diag);
            prunes.push(Prune::Remove(pointer));
        }
        ValidationErrorKind::Enum { options } => {
            let opts: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect())
                .unwrap_or_default();
            let got = ctx.node(&pointer).map(|n| n.to_json());
            let got_text =
                got.as_ref().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
            ctx.push(
                Diagnostic::error("invalid-value", format!("`{got_text}` is not a valid value for {at}"))
                    .at_opt(ctx.value_span(&pointer))
                    .with_label("not allowed here")
                    .with_expected(format!("one of {}", backticked(&opts)))
                    .with_help_opt(suggest::help(&got_text, opts.iter().map(String::as_str))),
            );
            prunes.push(Prune::Remove(pointer));
        }
        ValidationErrorKind::Pattern { pattern } => {
            let got = ctx.node(&pointer).and_then(|n| n.as_str()).unwrap_or_default().to_string();
            ctx.push(pattern_diag(&at, &got, pattern).at_opt(ctx.value_span(&pointer)));
            prunes.push(Prune::Remove(pointer));
        }
        ValidationErrorKind::PropertyNames { error } => {
            let key = error.instance().as_str().unwrap_or_default().to_string();
            let key_ptr = format!("{pointer}/{}", ptr(&key));
            let what = match pointer.as_str() {
                "/nodes" => "node id",
                "/inputs" => "input name",
                "/outputs" => "output name",
                _ => "name",
            };
            let fixed: String = key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let fixed = if fixed.starts_with(|c: char| c.is_ascii_digit()) { format!("_{fixed}") } else { fixed };
            ctx.push(
                Diagnostic::error("invalid-name", format!("{what} `{key}` is not an identifier"))
                    .at_opt(ctx.key_span(&key_ptr))
                    .with_label("letters, digits and `_` only, not starting with a digit")
                    .with_help(format!("templates refer to it as `{}.{fixed}`; rename it to `{fixed}`", &pointer[1..])),
            );
            prunes.push(Prune::Remove(key_ptr));
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::Maximum { limit } => {
            let word = if matches!(err.kind(), ValidationErrorKind::Minimum { .. }) { "at least" } else { "at most" };
            let got = ctx.node(&pointer).map(|n| n.to_json().to_string()).unwrap_or_default();
            ctx.push(
                Diagnostic::error("out-of-range", format!("{at} must be {word} {limit}, found {got}"))
                    .at_opt(ctx.value_span(&pointer))
                    .with_label(format!("{word} {limit}")),
            );
            prunes.push(Prune::Remove(pointer));
        }
        ValidationErrorKind::MinProperties { .. } if pointer == "/nodes" => {
            ctx.push(
                Diagnostic::error("no-nodes", "the skill has no nodes")
                    .at_opt(ctx.key_span(&pointer))
                    .with_label("empty")
                    .with_help("add at least one node, e.g. `greet: { uses: template, with: { value: hi } }`"),
            );
            // Nothing to prune: an empty map still reads as a skill, so the later phases
            // report their own errors too (a bad trigger, an output reading a node).
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            report_union(ctx, schema, &pointer, context, prunes);
        }
        _ => {
            let message = err.masked().to_string();
            ctx.push(
                Diagnostic::error("invalid-value", format!("{at}: {message}"))
                    .at_opt(ctx.value_span(&pointer))
                    .with_label("not valid here"),
            );
            prunes.push(Prune::Remove(pointer));
        }
    }
}

/// Picks the branch of a union the user evidently meant (the one whose discriminating
/// field is present and whose type matches) and reports its errors; otherwise says what
/// the union accepts.
fn report_union(
    ctx: &mut Ctx<'_>,
    schema: &Value,
    pointer: &str,
    branches: &[Vec<ValidationError<'static>>],
    prunes: &mut Vec<Prune>,
) {
    let is_here = |e: &ValidationError<'_>| e.instance_path().as_str() == pointer;
    let plausible = branches
        .iter()
        .filter(|errs| {
            !errs.iter().any(|e| {
                is_here(e)
                    && matches!(e.kind(), ValidationErrorKind::Required { .. } | ValidationErrorKind::Type { .. })
            })
        })
        .min_by_key(|errs| errs.len());
    if let Some(errs) = plausible {
        for e in errs {
            report(ctx, schema, e, prunes);
        }
        return;
    }
    let at = describe(pointer);
    let found = ctx.node(pointer).map_or("nothing", |n| n.type_name());
    // Every branch failed at this very value: either its type or its discriminator.
    let mut kinds: Vec<String> = Vec::new();
    let mut required: Vec<String> = Vec::new();
    for errs in branches {
        for e in errs.iter().filter(|e| is_here(e)) {
            match e.kind() {
                ValidationErrorKind::Type { kind } => kinds.push(type_expected(kind)),
                ValidationErrorKind::Required { property } => {
                    required.push(property.as_str().unwrap_or_default().to_string());
                }
                _ => {}
            }
        }
    }
    kinds.dedup();
    required.dedup();
    let diag = if !required.is_empty() {
        let keys: Vec<String> = match ctx.node(pointer).map(|n| &n.value) {
            Some(yaml::Value::Map(entries)) => entries.iter().map(|(k, _)| k.key_text()).collect(),
            _ => Vec::new(),
        };
        let hint = keys.iter().find_map(|k| suggest::help(k, required.iter().map(String::as_str)));
        let what = if pointer.starts_with("/triggers/") { "a trigger" } else { "this entry" };
        Diagnostic::error("union", format!("{at} is not {what} Pyra knows"))
            .at_opt(ctx.value_span(pointer))
            .with_label(format!("{what} needs one of {}", backticked(&required)))
            .with_expected(format!("one of {}", backticked(&required)))
            .with_help_opt(hint.or_else(|| Some(union_example(pointer).into())))
    } else {
        let expected = if kinds.is_empty() { "a different value".to_string() } else { kinds.join(" or ") };
        Diagnostic::error("type", format!("{at} must be {expected}, found {found}"))
            .at_opt(ctx.value_span(pointer))
            .with_label(format!("expected {expected}"))
    };
    ctx.push(diag);
    prune_value(pointer, prunes, "");
}

fn union_example(pointer: &str) -> &'static str {
    if pointer.starts_with("/triggers/") {
        "for example `- cron: \"0 7 * * *\"`, `- watch: { paths: [\"~/Notes\"] }` or `- event: message`"
    } else {
        "see `pyra skill schema` for the accepted forms"
    }
}

fn prune_value(pointer: &str, prunes: &mut Vec<Prune>, missing: &str) {
    let segs: Vec<&str> = pointer.split('/').collect();
    if segs.len() == 3 && segs[1] == "nodes" {
        prunes.push(Prune::BreakNode(unptr(segs[2])));
    } else if pointer.is_empty() {
        // The root lacks `name` or `nodes`: later phases can still look at the rest.
        match missing {
            "nodes" => prunes.push(Prune::GiveUp),
            _ => prunes.push(Prune::FillName),
        }
    } else {
        prunes.push(Prune::Remove(pointer.to_string()));
    }
}

fn required_message(pointer: &str, property: &str) -> (String, Option<String>) {
    let segs: Vec<&str> = pointer.split('/').collect();
    match (segs.as_slice(), property) {
        ([""], "nodes") => (
            "the skill has no `nodes`".into(),
            Some("add `nodes:` with at least one node, e.g. `greet: { uses: template, with: { value: hi } }`".into()),
        ),
        ([""], "name") => ("the skill has no `name`".into(), Some("add `name: my-skill` at the top".into())),
        (["", "nodes", id], "uses") => (
            format!("node `{id}` has no `uses`"),
            Some("say which kind of node this is, e.g. `uses: llm` (see `pyra skill schema`)".into()),
        ),
        _ => (format!("{} is missing `{property}`", describe(pointer)), None),
    }
}

fn pattern_diag(at: &str, got: &str, pattern: &str) -> Diagnostic {
    if pattern == syntax::duration::PATTERN {
        return Diagnostic::error("duration", format!("`{got}` is not a duration ({at})"))
            .with_label("not a duration")
            .with_expected("a number with a unit: `500ms`, `30s`, `5m`, `1h30m`, `1d`")
            .with_help("write the unit right after the number, without spaces");
    }
    if pattern == SKILL_NAME_PATTERN {
        let fixed: String =
            got.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
        return Diagnostic::error("invalid-name", format!("skill name `{got}` is not allowed"))
            .with_label("lowercase letters, digits, `-` and `_` only")
            .with_help(format!("try `{}`", fixed.trim_matches('-')));
    }
    if pattern == KIND_PATTERN && at.ends_with(".event`") {
        return Diagnostic::error("invalid-name", format!("`{got}` is not an event name ({at})"))
            .with_label("not an event name")
            .with_expected("lowercase words joined by `.`, such as `message` or `webhook.github`");
    }
    if pattern == KIND_PATTERN {
        return Diagnostic::error("invalid-kind", format!("`{got}` is not a node kind name ({at})"))
            .with_label("not a kind name")
            .with_expected("a kind such as `llm`, `http`, `memory.search` or `<plugin>.<tool>`");
    }
    if pattern == SECRET_PATTERN {
        return Diagnostic::error("invalid-name", format!("`{got}` is not a secret name ({at})"))
            .with_label("not a secret name")
            .with_expected("a vault key such as `openai` or `plugin:telegram:token`");
    }
    if pattern == IDENT_PATTERN || pattern == crate::model::ENV_PATTERN {
        return Diagnostic::error("invalid-name", format!("`{got}` is not an identifier ({at})"))
            .with_label("letters, digits and `_` only, not starting with a digit");
    }
    Diagnostic::error("invalid-value", format!("`{got}` does not match the pattern `{pattern}` ({at})"))
        .with_label("does not match")
}

pub(crate) fn backticked(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.len() {
        0 => "nothing".into(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}
