//! Parsing YAML into a tree that keeps the byte span of every key and value.
//!
//! serde-saphyr does the parsing (with `strict_booleans` and
//! `leading_zero_numbers_as_strings`, so `yes` and `010` stay strings, and with budgets
//! that bound alias expansion, nesting and size). Its `Spanned<T>` gives each node its
//! position; we keep them in [`Node`] so every later phase can point into the file.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use crate::diag::Diagnostic;
use crate::source::{SourceFile, Span};

/// Deepest nesting accepted. Skills are shallow; `with:` bodies rarely pass ten levels.
pub const MAX_DEPTH: usize = 64;
/// Most YAML nodes (scalars, maps, sequences, alias expansions included) in one file:
/// a 10,000-node skill needs about 150,000; an alias bomb is stopped here.
pub const MAX_NODES: usize = 2_000_000;

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte span of the value (for collections, the opening token).
    pub span: Span,
    pub value: Value,
}

/// The kinds of YAML value a skill can hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    /// Entries in file order. Duplicate keys are rejected by the parser.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The entry for `key` in a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node for `key` in a map node.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(&k.value, Value::String(s) if s == key)).map(|(k, v)| (k, v))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's type for messages ("a list", "a string").
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The JSON form, which the schema checks and serde reads the typed model from.
    /// Map keys that are not strings (`1: x`, `true: y`) are written as their text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Number(n.clone()),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.key_text(), v.to_json())).collect()),
        }
    }

    /// The text of a node used as a map key.
    pub fn key_text(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Seq(_) | Value::Map(_) => "<complex key>".into(),
        }
    }

    /// Follows a JSON pointer (`/nodes/fetch/with/url`) and returns the key span (if the
    /// last step was a map key) and the value node.
    pub fn pointer(&self, pointer: &str) -> Option<(Option<Span>, &Node)> {
        let mut node = self;
        let mut key_span = None;
        if pointer.is_empty() {
            return Some((None, node));
        }
        for raw in pointer.strip_prefix('/')?.split('/') {
            let step = unescape_segment(raw);
            match &node.value {
                Value::Map(entries) => {
                    let (k, v) = entries
                        .iter()
                        .find(|(k, _)| matches!(&k.value, Value::String(s) if *s == step))
                        .or_else(|| entries.iter().find(|(k, _)| k.key_text() == step))?;
                    key_span = Some(k.span.clone());
                    node = v;
                }
                Value::Seq(items) => {
                    node = items.get(step.parse::<usize>().ok()?)?;
                    key_span = None;
                }
                _ => return None,
            }
        }
        Some((key_span, node))
    }
}

/// Most events replayed through aliases. Anchors are handy for sharing a block or two; a
/// billion-laughs document reaches this within milliseconds and little memory.
pub const MAX_ALIAS_EVENTS: usize = 100_000;

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Undoes [`escape_segment`].
pub fn unescape_segment(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Parses a skill file into a [`Node`] tree, or one located diagnostic.
pub fn parse(file: &SourceFile) -> Result<Node, Diagnostic> {
    let mut options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH, max_nodes: MAX_NODES },
    };
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    let root: Result<SpannedNode, _> = serde_saphyr::from_str_with_options(file.text(), options);
    match root {
        Ok(root) => Ok(root.into_node(file)),
        Err(err) => Err(yaml_error(file, &err)),
    }
}

fn yaml_error(file: &SourceFile, err: &serde_saphyr::Error) -> Diagnostic {
    let rendered = err.render_with_options(serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
    });
    let message = clean_message(&rendered);
    let span = err.location().and_then(|loc| location_span(file, &loc));
    let lower = message.to_lowercase();
    let limits = "skill files are limited in nesting depth (64), size and alias expansion; simplify the document";
    let (message, help) = if lower.contains("budget breached: depth") || lower.contains("recursion limit") {
        (format!("the document is nested too deeply (more than {MAX_DEPTH} levels)"), limits.to_string())
    } else if lower.contains("budget breached: nodes")
        || lower.contains("budget breached: events")
        || lower.contains("alias") && (lower.contains("limit") || lower.contains("budget"))
    {
        (
            "the document expands to too many values through aliases (an alias bomb?)".to_string(),
            "skill files may use anchors and aliases, but not to expand into hundreds of thousands of values".into(),
        )
    } else if lower.contains("budget breached") {
        ("the document exceeds a size limit of the parser".to_string(), limits.to_string())
    } else if lower.contains("duplicate mapping key") {
        let key = message.split("duplicate mapping key:").nth(1).and_then(|r| r.split(',').next()).unwrap_or("").trim();
        (format!("duplicate key `{key}`"), "each key may appear once in a map; remove or rename one of them".into())
    } else if lower.contains("multiple yaml documents") {
        (
            "the file holds more than one YAML document".to_string(),
            "a skill file is one document: remove the `---` line and what follows, or split it into two files".into(),
        )
    } else {
        (
            format!("invalid YAML: {message}"),
            "check the YAML syntax near this point (indentation, quotes, `:` after keys)".into(),
        )
    };
    Diagnostic::error("yaml", message).at_opt(span).with_help(help)
}

/// Strips the `error: line L column C:` prefix and the location suffix serde-saphyr adds,
/// since our renderer shows the location itself.
fn clean_message(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or("").trim();
    let mut msg = first.strip_prefix("error:").unwrap_or(first).trim();
    if let Some(rest) = msg.strip_prefix("line ")
        && let Some(idx) = rest.find(": ")
        && rest[..idx].contains("column")
    {
        msg = &rest[idx + 2..];
    }
    let msg = msg.trim();
    let msg = match msg.rfind(" at line ") {
        Some(idx) if msg[idx..].contains("column") => &msg[..idx],
        _ => msg,
    };
    msg.to_string()
}

/// The byte span of a serde-saphyr location. Its `Span` counts *characters* (`offset`,
/// `len`) and carries byte offsets only when the parser had them: values have both, but
/// scanner errors (an unclosed quote, a stray `“`) have a character offset and length
/// only. Then the start comes from the line and column (in characters) and the length is
/// counted in characters from there, so the span never ends inside a character.
fn location_span(file: &SourceFile, loc: &Location) -> Option<Span> {
    if loc.line() == 0 {
        return None;
    }
    let span = loc.span();
    let bytes = match (span.byte_offset(), span.byte_len()) {
        (Some(start), Some(len)) if start as usize <= file.text().len() => {
            let start = start as usize;
            Some(file.snap(&(start..start.saturating_add(len as usize))))
        }
        _ => None,
    };
    Some(bytes.unwrap_or_else(|| {
        let start = file.offset_of(loc.line() as usize, loc.column() as usize);
        // A location without a span (line and column only) marks one character.
        let chars = if span == serde_saphyr::Span::UNKNOWN { 1 } else { span.len() as usize };
        file.chars_from(start, chars)
    }))
}

/// serde-saphyr's `Spanned` around our recursive value: deserializing through the YAML
/// deserializer (never a buffered `Content`) keeps every position.
struct SpannedNode(Spanned<RawValue>);

enum RawValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<SpannedNode>),
    Map(Vec<(SpannedNode, SpannedNode)>),
}

impl SpannedNode {
    fn into_node(self, file: &SourceFile) -> Node {
        let spanned = self.0;
        let span = location_span(file, &spanned.referenced).unwrap_or(0..0);
        let value = match spanned.value {
            RawValue::Null => Value::Null,
            RawValue::Bool(b) => Value::Bool(b),
            RawValue::Number(n) => Value::Number(n),
            RawValue::String(s) => Value::String(s),
            // Fresh vectors of exact size: `collect()` would reuse the parser's buffers in
            // place, which are sized for its larger items and would stay that big.
            RawValue::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                out.extend(items.into_iter().map(|n| n.into_node(file)));
                Value::Seq(out)
            }
            RawValue::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                out.extend(entries.into_iter().map(|(k, v)| (k.into_node(file), v.into_node(file))));
                Value::Map(out)
            }
        };
        Node { span, value }
    }
}

impl<'de> Deserialize<'de> for SpannedNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::<RawValue>::deserialize(d).map(SpannedNode)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawValue, E> {
        Ok(RawValue::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(|v| RawValue::Number(v.into()))
            .or_else(|_| u64::try_from(v).map(|v| RawValue::Number(v.into())))
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
        u64::try_from(v).map(|v| RawValue::Number(v.into())).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
        // JSON has no NaN or infinity; keep YAML's `.nan` / `.inf` as their text.
        Ok(serde_json::Number::from_f64(v).map_or_else(|| RawValue::String(v.to_string()), RawValue::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawValue, E> {
        String::from_utf8(v.to_vec()).map(RawValue::String).map_err(|_| E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(RawValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Node, Diagnostic> {
        parse(&SourceFile::new("t.yaml", s))
    }

    #[test]
    fn keeps_positions_and_yaml_1_2_scalars() {
        let src = "name: x\nflag: yes\nzip: 010\nn: 3\nb: true\n";
        let root = parse_str(src).unwrap();
        let flag = root.get("flag").unwrap();
        assert_eq!(flag.value, Value::String("yes".into()));
        assert_eq!(&src[flag.span.clone()], "yes");
        assert_eq!(root.get("zip").unwrap().value, Value::String("010".into()));
        assert_eq!(root.get("b").unwrap().value, Value::Bool(true));
        let (key, _) = root.pointer("/n").unwrap();
        assert_eq!(&src[key.unwrap()], "n");
    }

    #[test]
    fn scanner_error_spans_cover_whole_characters() {
        // serde-saphyr reports this error with a length in characters and no byte
        // offsets; one byte from the line start would end inside the `“` (3 bytes).
        let src = "name: x\nnodes:\n  a:\n    uses: template\n    with: { value: 1 }\n\u{201c}{{ a\n";
        let err = parse_str(src).unwrap_err();
        let span = err.span.clone().expect("located");
        let line = src.find('\u{201c}').unwrap();
        assert_eq!(span, line..line + '\u{201c}'.len_utf8(), "{err:?}");
    }

    #[test]
    fn hostile_documents_fail_cleanly() {
        let deep = format!("a: {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
        assert!(parse_str(&deep).unwrap_err().message.contains("nested too deeply"));
        let dup = parse_str("a: 1\na: 2\n").unwrap_err();
        assert!(dup.message.contains("duplicate"), "{}", dup.message);
        assert_eq!(dup.span.unwrap().start, 5);
    }
}
