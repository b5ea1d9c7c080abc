//! Editing `config.yaml` without losing what a person wrote in it.
//!
//! A change is applied twice: to the file's JSON form (what the result must mean) and, as a
//! minimal text edit, to the file itself — a scalar replaced where it stands (a one-line
//! `[…]` or `{ … }` too, by the new list or map in the same style), a key added after the
//! last line of its map at that map's indentation (or inside a `{ … }` map), an entry
//! appended to `models:`, a key's lines removed. Comments, blank lines, key order, quoting
//! and flow style elsewhere are kept byte for byte. The edited text is parsed again and
//! must mean exactly the JSON; when it does not, or no minimal edit applies (a block
//! scalar or list, a key on a `- ` line to remove, an empty `models:`), the file is
//! rendered afresh from the JSON, keeping its leading comment block.

use serde_json::{Map, Value as Json};

use syntax::source::SourceFile;
use syntax::yaml::{self, Node, Value};

/// One step of a path into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A key of a map.
    Key(String),
    /// The item of a list whose `name` is this (entries under `models:`).
    Entry(String),
}

/// A change to one value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Set(Vec<Step>, Json),
    Remove(Vec<Step>),
}

/// Applies `ops` to `text` (whose JSON form is `json`): the new text, edited in place
/// where possible, rendered afresh otherwise. `header` is written at the top of a file
/// that had no leading comments and is rendered afresh.
pub(crate) fn apply(text: &str, json: &Json, ops: &[Op], header: &str) -> String {
    let mut expected = if json.is_object() { json.clone() } else { Json::Object(Map::new()) };
    // A new (or blank) file starts with the header.
    let mut edited = Some(if text.trim().is_empty() { header.to_string() } else { text.to_string() });
    for op in ops {
        apply_json(&mut expected, op);
        edited = edited.and_then(|t| {
            let root = parse(&t)?;
            edit(&t, &root, op)
        });
    }
    match edited {
        Some(t) if parse(&t).is_some_and(|root| root.to_json() == expected) => t,
        _ => {
            let lead = leading_comments(text);
            let lead = if lead.trim().is_empty() { header.to_string() } else { lead.to_string() };
            format!("{lead}{}", render_block(&expected, 0))
        }
    }
}

fn parse(text: &str) -> Option<Node> {
    yaml::parse(&SourceFile::new("config.yaml", text)).ok()
}

/// The comment and blank lines at the top of the file.
pub(crate) fn leading_comments(text: &str) -> &str {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            end += line.len();
        } else {
            break;
        }
    }
    &text[..end]
}

// ---- the JSON side -------------------------------------------------------------------

fn apply_json(root: &mut Json, op: &Op) {
    match op {
        Op::Set(steps, value) => {
            if let Some(slot) = slot(root, steps, true) {
                *slot = value.clone();
            }
        }
        Op::Remove(steps) => {
            let Some((Step::Key(last), parent)) = steps.split_last() else { return };
            if let Some(Json::Object(map)) = slot(root, parent, false) {
                map.shift_remove(last);
            }
        }
    }
}

/// The value at `steps`, created on the way when `create`.
fn slot<'a>(mut node: &'a mut Json, steps: &[Step], create: bool) -> Option<&'a mut Json> {
    for step in steps {
        node = match step {
            Step::Key(k) => {
                if node.is_null() && create {
                    *node = Json::Object(Map::new());
                }
                let map = node.as_object_mut()?;
                if !map.contains_key(k) && !create {
                    return None;
                }
                map.entry(k.clone()).or_insert(Json::Null)
            }
            Step::Entry(name) => {
                if node.is_null() && create {
                    *node = Json::Array(Vec::new());
                }
                let items = node.as_array_mut()?;
                let at = match items.iter().position(|i| i.get("name").and_then(Json::as_str) == Some(name)) {
                    Some(at) => at,
                    None if create => {
                        items.push(serde_json::json!({ "name": name }));
                        items.len() - 1
                    }
                    None => return None,
                };
                &mut items[at]
            }
        };
    }
    Some(node)
}

/// The JSON that `steps` would create below an existing node, ending in `value`.
fn build(steps: &[Step], value: &Json) -> Json {
    match steps.split_first() {
        None => value.clone(),
        Some((Step::Key(k), rest)) => {
            let mut map = Map::new();
            map.insert(k.clone(), build(rest, value));
            Json::Object(map)
        }
        Some((Step::Entry(name), rest)) => Json::Array(vec![entry(name, rest, value)]),
    }
}

/// A new list item named `name` holding what `rest` and `value` build.
fn entry(name: &str, rest: &[Step], value: &Json) -> Json {
    let mut map = Map::new();
    map.insert("name".into(), Json::String(name.into()));
    if let Json::Object(more) = build(rest, value) {
        map.extend(more);
    }
    Json::Object(map)
}

// ---- the text side -------------------------------------------------------------------

/// The minimal edit of `text` for `op`, if there is one.
fn edit(text: &str, root: &Node, op: &Op) -> Option<String> {
    match op {
        Op::Set(steps, value) => {
            if root.value == Value::Null {
                // An empty file, or comments only: append.
                if !root.span.is_empty() {
                    return None;
                }
                let mut out = text.to_string();
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&render_block(&build(steps, value), 0));
                return Some(out);
            }
            set(text, root, steps, value, true)
        }
        Op::Remove(steps) => remove(text, root, steps),
    }
}

fn set(text: &str, node: &Node, steps: &[Step], value: &Json, at_root: bool) -> Option<String> {
    let (step, rest) = steps.split_first()?;
    match step {
        Step::Key(k) => {
            let Value::Map(entries) = &node.value else { return None };
            match entries.iter().find(|(key, _)| key.as_str() == Some(k)) {
                Some((_, v)) if rest.is_empty() => replace_scalar(text, v, value),
                Some((_, v)) => set(text, v, rest, value, false),
                None => insert_key(text, node, k, &build(rest, value), at_root && k == "default_model"),
            }
        }
        Step::Entry(name) => {
            let Value::Seq(items) = &node.value else { return None };
            match items.iter().find(|i| i.get("name").and_then(Node::as_str) == Some(name)) {
                Some(item) if !rest.is_empty() => set(text, item, rest, value, false),
                Some(_) => None,
                None => append_item(text, node, &entry(name, rest, value)),
            }
        }
    }
}

fn replace_scalar(text: &str, node: &Node, value: &Json) -> Option<String> {
    // A `[…]` or `{ … }` on one line is replaced by the new value in the same style.
    if is_flow(text, node) && (value.is_array() || value.is_object()) {
        let end = node_end(text, node);
        if text[node.span.start..end].contains('\n') {
            return None;
        }
        return Some(format!("{}{}{}", &text[..node.span.start], render_flow(value), &text[end..]));
    }
    if matches!(node.value, Value::Map(_) | Value::Seq(_)) || value.is_object() || value.is_array() {
        return None;
    }
    let old = text.get(node.span.clone())?;
    // A value written on its own lines (a block scalar) or not at all (`key:`) is left
    // to the renderer.
    if node.span.is_empty() || old.contains('\n') || old.starts_with(['|', '>']) {
        return None;
    }
    Some(format!("{}{}{}", &text[..node.span.start], scalar(value), &text[node.span.end..]))
}

fn is_flow(text: &str, node: &Node) -> bool {
    matches!(text.as_bytes().get(node.span.start), Some(b'{' | b'['))
}

/// Where a node's text ends: the last byte of its last scalar, or its closing bracket.
fn node_end(text: &str, node: &Node) -> usize {
    let last_child = match &node.value {
        Value::Map(entries) => entries.last().map(|(k, v)| k.span.end.max(node_end(text, v))),
        Value::Seq(items) => items.last().map(|i| node_end(text, i)),
        _ => return node.span.end,
    };
    if !is_flow(text, node) {
        return last_child.unwrap_or(node.span.end);
    }
    let close = if text.as_bytes()[node.span.start] == b'{' { b'}' } else { b']' };
    let bytes = text.as_bytes();
    let mut i = last_child.unwrap_or(node.span.start + 1);
    while i < bytes.len() {
        match bytes[i] {
            b if b == close => return i + 1,
            b' ' | b'\t' | b'\r' | b'\n' | b',' => i += 1,
            b'#' => i += text[i..].find('\n').unwrap_or(text.len() - i),
            _ => break,
        }
    }
    node.span.end
}

/// The start of the line after the one holding `pos` (or the end of the text).
fn after_line(text: &str, pos: usize) -> usize {
    if pos > 0 && text.as_bytes().get(pos - 1) == Some(&b'\n') {
        return pos;
    }
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// The column (in characters) of `pos`.
fn column(text: &str, pos: usize) -> usize {
    text[line_start(text, pos)..pos].chars().count()
}

/// Inserts `text_new` at `pos`, after a newline if the text lacks one there.
fn insert_at(text: &str, pos: usize, new: &str) -> String {
    let sep = if pos == text.len() && !text.is_empty() && !text.ends_with('\n') { "\n" } else { "" };
    format!("{}{sep}{new}{}", &text[..pos], &text[pos..])
}

fn insert_key(text: &str, map: &Node, key: &str, value: &Json, at_front: bool) -> Option<String> {
    let Value::Map(entries) = &map.value else { return None };
    let mut one = Map::new();
    one.insert(key.to_string(), value.clone());
    let one = Json::Object(one);
    if is_flow(text, map) {
        let inner = render_flow(&one);
        let inner = &inner[2..inner.len() - 2]; // `{ k: v }` → `k: v`
        return Some(match entries.last() {
            Some((k, v)) => {
                let end = k.span.end.max(node_end(text, v));
                format!("{}, {inner}{}", &text[..end], &text[end..])
            }
            None => format!("{}{inner}{}", &text[..map.span.start + 1], &text[map.span.start + 1..]),
        });
    }
    let (first, _) = entries.first()?;
    let indent = column(text, first.span.start);
    let lines = render_block(&one, indent);
    if at_front && indent == 0 {
        return Some(insert_at(text, line_start(text, first.span.start), &lines));
    }
    Some(insert_at(text, after_line(text, node_end(text, map)), &lines))
}

fn append_item(text: &str, seq: &Node, item: &Json) -> Option<String> {
    if is_flow(text, seq) || matches!(&seq.value, Value::Seq(items) if items.is_empty()) {
        return None;
    }
    let indent = column(text, seq.span.start);
    let lines = render_seq(std::slice::from_ref(item), indent);
    Some(insert_at(text, after_line(text, node_end(text, seq)), &lines))
}

fn remove(text: &str, node: &Node, steps: &[Step]) -> Option<String> {
    let (step, rest) = steps.split_first()?;
    match step {
        Step::Key(k) => {
            let Value::Map(entries) = &node.value else { return None };
            let (key, value) = entries.iter().find(|(key, _)| key.as_str() == Some(k))?;
            if !rest.is_empty() {
                return remove(text, value, rest);
            }
            if is_flow(text, node) {
                return remove_flow(text, entries, key);
            }
            let start = line_start(text, key.span.start);
            let own_line = text[start..key.span.start].chars().all(|c| c == ' ');
            if !own_line || entries.len() < 2 {
                return None;
            }
            let end = after_line(text, node_end(text, value));
            Some(format!("{}{}", &text[..start], &text[end..]))
        }
        Step::Entry(name) => {
            let Value::Seq(items) = &node.value else { return None };
            let item = items.iter().find(|i| i.get("name").and_then(Node::as_str) == Some(name))?;
            remove(text, item, rest)
        }
    }
}

/// Removes `key` and its value from a `{ … }` map, with the comma that separated it.
fn remove_flow(text: &str, entries: &[(Node, Node)], key: &Node) -> Option<String> {
    let at = entries.iter().position(|(k, _)| k.span == key.span)?;
    let (start, end) = if let Some((next, _)) = entries.get(at + 1) {
        (key.span.start, next.span.start)
    } else if at > 0 {
        let (pk, pv) = &entries[at - 1];
        (pk.span.end.max(node_end(text, pv)), node_end(text, &entries[at].1))
    } else {
        (key.span.start, node_end(text, &entries[at].1))
    };
    Some(format!("{}{}", &text[..start], &text[end..]))
}

// ---- rendering -----------------------------------------------------------------------

/// A scalar as YAML: plain when it reads back as the same value, double-quoted otherwise.
pub(crate) fn scalar(value: &Json) -> String {
    match value {
        Json::String(s) => {
            let plain_chars = !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:+@-".contains(c))
                && !s.starts_with(['-', ':', '@', '.'])
                && !s.ends_with(':');
            let reads_back = || {
                parse(&format!("k: {s}\n"))
                    .and_then(|root| root.get("k").map(|v| v.value == Value::String(s.clone())))
                    .unwrap_or(false)
            };
            if plain_chars && reads_back() { s.clone() } else { Json::String(s.clone()).to_string() }
        }
        Json::Null => "null".into(),
        Json::Object(m) if m.is_empty() => "{}".into(),
        Json::Array(a) if a.is_empty() => "[]".into(),
        Json::Object(_) | Json::Array(_) => render_flow(value),
        other => other.to_string(),
    }
}

fn is_nested(value: &Json) -> bool {
    matches!(value, Json::Object(m) if !m.is_empty()) || matches!(value, Json::Array(a) if !a.is_empty())
}

/// A map's entries as block YAML, each line indented by `indent` spaces.
pub(crate) fn render_block(value: &Json, indent: usize) -> String {
    let Json::Object(map) = value else { return String::new() };
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (k, v) in map {
        let key = scalar(&Json::String(k.clone()));
        match v {
            Json::Object(_) if is_nested(v) => {
                out.push_str(&format!("{pad}{key}:\n{}", render_block(v, indent + 2)));
            }
            Json::Array(items) if is_nested(v) => {
                out.push_str(&format!("{pad}{key}:\n{}", render_seq(items, indent + 2)));
            }
            _ => out.push_str(&format!("{pad}{key}: {}\n", scalar(v))),
        }
    }
    out
}

/// List items as block YAML, the dashes at `indent`.
fn render_seq(items: &[Json], indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for item in items {
        match item {
            Json::Object(_) if is_nested(item) => {
                let body = render_block(item, indent + 2);
                out.push_str(&format!("{pad}- {}", &body[indent + 2..]));
            }
            _ => out.push_str(&format!("{pad}- {}\n", scalar(item))),
        }
    }
    out
}

/// A value in flow style: `{ a: 1, b: [x, y] }`.
fn render_flow(value: &Json) -> String {
    match value {
        Json::Object(m) if !m.is_empty() => {
            let parts: Vec<String> =
                m.iter().map(|(k, v)| format!("{}: {}", scalar(&Json::String(k.clone())), render_flow(v))).collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Json::Array(a) if !a.is_empty() => {
            format!("[{}]", a.iter().map(render_flow).collect::<Vec<_>>().join(", "))
        }
        other => scalar(other),
    }
}

/// Sets (`Some`) or removes (`None`) the value at `path` (map keys from the top) in any
/// YAML file whose top level is a map — a plugin's `plugin.yaml` as well as config.yaml —
/// with the same minimal edit: comments, order and quoting elsewhere stay. An error when
/// the text does not parse; the caller checks what the edited text means.
pub fn edit_yaml(text: &str, path: &[&str], value: Option<Json>) -> Result<String, String> {
    let json = if text.trim().is_empty() {
        Json::Object(Map::new())
    } else {
        parse(text).map(|root| root.to_json()).ok_or_else(|| "the file is not valid YAML".to_string())?
    };
    let steps: Vec<Step> = path.iter().map(|k| Step::Key((*k).to_string())).collect();
    let op = match value {
        Some(v) => Op::Set(steps, v),
        None => Op::Remove(steps),
    };
    Ok(apply(text, &json, &[op], ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    fn run(text: &str, ops: &[Op]) -> String {
        let json = parse(text).map(|r| r.to_json()).unwrap_or(Json::Null);
        apply(text, &json, ops, "# header\n")
    }

    const FILE: &str = "# Pyra configuration.\n\ndefault_model: local   # the default\nmodels:\n  # the local one\n  - name: local\n    provider: ollama\n    model: \"llama3.2\"\n    options: { temperature: 0.2 }\n\n  - name: cloud   # paid\n    provider: openai\n    model: gpt-4.1-mini\n# trailing comment\n";

    #[test]
    fn scalars_are_replaced_in_place() {
        let out = run(FILE, &[Op::Set(vec![key("default_model")], json!("cloud"))]);
        assert_eq!(out, FILE.replace("default_model: local ", "default_model: cloud "));
        let steps = vec![key("models"), Step::Entry("local".into()), key("model")];
        let out = run(FILE, &[Op::Set(steps, json!("qwen3:8b"))]);
        assert_eq!(out, FILE.replace("\"llama3.2\"", "qwen3:8b"));
    }

    #[test]
    fn keys_and_entries_are_inserted_where_they_belong() {
        let entry = |name: &str, k: &str| vec![key("models"), Step::Entry(name.into()), key(k)];
        let out = run(FILE, &[Op::Set(entry("cloud", "base_url"), json!("https://example.com/v1"))]);
        assert_eq!(
            out,
            FILE.replace("model: gpt-4.1-mini\n", "model: gpt-4.1-mini\n    base_url: https://example.com/v1\n")
        );
        let steps = vec![key("models"), Step::Entry("local".into()), key("options"), key("max_tokens")];
        let out = run(FILE, &[Op::Set(steps, json!(2048))]);
        assert_eq!(out, FILE.replace("{ temperature: 0.2 }", "{ temperature: 0.2, max_tokens: 2048 }"));
        let out =
            run(FILE, &[Op::Set(entry("new", "provider"), json!("groq")), Op::Set(entry("new", "model"), json!("x"))]);
        assert_eq!(
            out,
            FILE.replace(
                "model: gpt-4.1-mini\n",
                "model: gpt-4.1-mini\n  - name: new\n    provider: groq\n    model: x\n"
            )
        );
        let out = run(FILE, &[Op::Set(entry("cloud", "prices"), json!({ "prompt": 0.15, "completion": 0.6 }))]);
        assert!(
            out.contains("model: gpt-4.1-mini\n    prices:\n      prompt: 0.15\n      completion: 0.6\n# trailing")
        );
    }

    #[test]
    fn a_flow_list_on_one_line_is_replaced_in_place() {
        let text = "chat:\n  tools: [a, b]   # mine\n  recall: 2\n";
        let out = run(text, &[Op::Set(vec![key("chat"), key("tools")], json!(["c", "~/d"]))]);
        assert_eq!(out, "chat:\n  tools: [c, \"~/d\"]   # mine\n  recall: 2\n");
        let out = run(text, &[Op::Set(vec![key("chat"), key("tools")], json!([]))]);
        assert_eq!(out, "chat:\n  tools: []   # mine\n  recall: 2\n");
        // Over several lines, the file is rendered afresh.
        let text = "chat:\n  tools: [a,\n    b]\n";
        let out = run(text, &[Op::Set(vec![key("chat"), key("tools")], json!(["c"]))]);
        assert_eq!(out, "# header\nchat:\n  tools:\n    - c\n");
    }

    #[test]
    fn keys_are_removed_with_their_lines() {
        let steps = vec![key("models"), Step::Entry("local".into()), key("options")];
        let out = run(FILE, &[Op::Remove(steps)]);
        assert_eq!(out, FILE.replace("    options: { temperature: 0.2 }\n", ""));
    }

    #[test]
    fn what_cannot_be_edited_in_place_is_rendered_keeping_the_header() {
        // Removing the first key of an entry (on its `- ` line) needs a fresh rendering.
        let steps = vec![key("models"), Step::Entry("cloud".into()), key("name")];
        let out = run(FILE, &[Op::Remove(steps)]);
        assert!(out.starts_with("# Pyra configuration.\n\ndefault_model: local\nmodels:\n  - name: local\n"), "{out}");
        assert!(out.contains("  - provider: openai\n    model: gpt-4.1-mini\n"), "{out}");
        // An empty file gets the header.
        let out = run("", &[Op::Set(vec![key("default_model")], json!("x"))]);
        assert_eq!(out, "# header\ndefault_model: x\n");
        let out = run("# mine\n", &[Op::Set(vec![key("default_model")], json!("x"))]);
        assert_eq!(out, "# mine\ndefault_model: x\n");
        let out =
            run("models: []\n", &[Op::Set(vec![key("models"), Step::Entry("a".into()), key("model")], json!("m"))]);
        assert_eq!(out, "# header\nmodels:\n  - name: a\n    model: m\n");
    }

    #[test]
    fn scalars_read_back_as_themselves() {
        for s in
            ["llama3.2", "true", "010", "1e3", "null", "~", "a: b", "x #y", "", " lead", "-x", "meta-llama/x:free", "é"]
        {
            let text = format!("k: {}\n", scalar(&json!(s)));
            assert_eq!(parse(&text).unwrap().get("k").unwrap().value, Value::String(s.into()), "{text}");
        }
        assert_eq!(scalar(&json!("http://localhost:11434")), "http://localhost:11434");
        assert_eq!(scalar(&json!("true")), "\"true\"");
        assert_eq!(scalar(&json!(0.2)), "0.2");
    }
}
