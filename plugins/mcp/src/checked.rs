//! A YAML file checked against a JSON Schema, every error located: the instance path of
//! each schema error becomes a span through the spanned tree, unknown keys get "did you
//! mean". Used for `plugin.yaml`; skills have their own, richer phase in `lang`.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use syntax::diag::Diagnostic;
use syntax::source::SourceFile;
use syntax::yaml::Node;

/// Parses `file` and checks it against `validator`: the tree and its JSON, or every error.
pub fn parse_against(
    file: &SourceFile,
    schema: &Value,
    validator: &jsonschema::Validator,
) -> Result<(Node, Value), Vec<Diagnostic>> {
    let doc = syntax::yaml::parse(file).map_err(|d| vec![d])?;
    let json = doc.to_json();
    let mut diags = Vec::new();
    for err in validator.iter_errors(&json) {
        let path = err.instance_path().as_str().to_string();
        let located = doc.pointer(&path);
        let value_span = located.as_ref().map(|(_, n)| n.span.clone());
        let where_ = if path.is_empty() { "the file".to_string() } else { format!("`{}`", dotted(&path)) };
        let diag = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let ptr = format!("{path}/{}", syntax::yaml::escape_segment(key));
                    let span = doc.pointer(&ptr).and_then(|(k, n)| k.or(Some(n.span.clone())));
                    let known = allowed_keys(schema, &path);
                    let help = syntax::suggest::help(key, known.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("the keys here are: {}", known.join(", ")));
                    diags.push(
                        Diagnostic::error("unknown-key", format!("unknown key `{key}` in {where_}"))
                            .at_opt(span)
                            .with_label("unknown key")
                            .with_help(help),
                    );
                }
                continue;
            }
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().unwrap_or_default().to_string();
                Diagnostic::error("missing-key", format!("{where_} needs `{property}`"))
                    .at_opt(value_span)
                    .with_label(format!("`{property}` is missing"))
            }
            _ => match allowed_values(schema, &path) {
                // A choice (`policy.default: maybe`): name the choices, not the schema's keywords.
                Some(values) => Diagnostic::error(
                    "schema",
                    format!(
                        "{where_}: {} is not one of {}",
                        located.as_ref().map(|(_, n)| n.to_json()).unwrap_or_default(),
                        values.join(", ")
                    ),
                )
                .at_opt(value_span)
                .with_label("not one of the choices"),
                None => Diagnostic::error("schema", format!("{where_}: {err}")).at_opt(value_span).with_label("here"),
            },
        };
        diags.push(diag);
    }
    if diags.is_empty() { Ok((doc, json)) } else { Err(diags) }
}

/// `/a/b/0` → `a.b[0]`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = syntax::yaml::unescape_segment(seg);
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// The values the schema allows at `path` when it is a choice (`enum`, or `oneOf`/`anyOf`
/// of constants, as schemars writes documented enum variants).
fn allowed_values(schema: &Value, path: &str) -> Option<Vec<String>> {
    let node = resolve(schema, at(schema, path)?);
    let consts = |v: &Value| -> Option<Vec<String>> {
        let v = resolve(schema, v);
        if let Some(c) = v.get("const") {
            return Some(vec![c.as_str().map(String::from).unwrap_or_else(|| c.to_string())]);
        }
        v.get("enum")?
            .as_array()
            .map(|a| a.iter().map(|e| e.as_str().map(String::from).unwrap_or_else(|| e.to_string())).collect())
    };
    if let Some(values) = consts(node) {
        return Some(values);
    }
    let branches = node.get("oneOf").or_else(|| node.get("anyOf"))?.as_array()?;
    let mut out = Vec::new();
    for b in branches {
        out.extend(consts(b)?);
    }
    Some(out)
}

/// The schema node that describes the value at `path` (through `$ref`s, `properties`,
/// `additionalProperties` and `items`).
fn at<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = schema;
    for seg in path.split('/').skip(1) {
        node = resolve(schema, node);
        let next = node.get("properties").and_then(|p| p.get(syntax::yaml::unescape_segment(seg).as_str()));
        let next = next.or_else(|| node.get("additionalProperties").filter(|v| v.is_object()));
        node = next.or_else(|| node.get("items"))?;
    }
    Some(node)
}

/// The property names the schema allows at `path`: its `properties`, read through
/// `$ref`s along the path.
fn allowed_keys(schema: &Value, path: &str) -> Vec<String> {
    let Some(node) = at(schema, path) else { return Vec::new() };
    let node = resolve(schema, node);
    node.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..8 {
        let Some(r) = node.get("$ref").and_then(Value::as_str) else { break };
        let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else { break };
        node = target;
    }
    node
}
