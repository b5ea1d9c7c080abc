//! Templates and `if:` expressions: one minijinja environment with strict undefined, and
//! static analysis that finds every variable a template reads by *parsing* it.
//!
//! The graph builder uses [`Analysis::refs`] to draw `nodes.<id>` edges; the validator uses
//! it to check `inputs.<name>` and friends. Errors carry a byte range inside the template
//! text, which [`map_offset`] turns into a position in the skill file.

use std::ops::Range;

use minijinja::{Environment, UndefinedBehavior};

use syntax::source::{SourceFile, Span, floor_char_boundary};

/// Names every template may use besides the ones a skill declares.
pub const GLOBALS: &[&str] = &[
    "inputs",
    "nodes",
    "item",
    "index",
    "run",
    "env",
    "event",
    "trigger",
    "secret",
    "now",
    "loop",
    "range",
    "dict",
    "namespace",
    "debug",
];

/// The environment all of Pyra renders with: strict undefined, so a missing value is an
/// error and never an empty string. Runtime functions are added by the scheduler; here
/// they exist so that templates calling them parse and analyse.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Python's string, list and dict methods (`text.startswith("/")`, `s.split()`), which
    // people who know Jinja expect.
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env
}

/// Whether a string contains template syntax at all (fast path: most strings do not).
pub fn has_template_syntax(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// What a template reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Dotted variable paths read from the outside, e.g. `nodes.fetch.output`.
    pub refs: Vec<String>,
}

/// A syntax error inside a template or expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    /// Byte range inside the template text.
    pub range: Option<Range<usize>>,
}

fn convert_error(err: &minijinja::Error) -> TemplateError {
    let message = err.detail().map_or_else(|| err.kind().to_string(), str::to_string);
    TemplateError { message, range: err.range() }
}

fn sorted(set: std::collections::HashSet<String>) -> Vec<String> {
    let mut refs: Vec<String> = set.into_iter().collect();
    refs.sort();
    refs
}

/// Parses a template and lists the variables it reads.
pub fn analyze_template(env: &Environment<'_>, text: &str) -> Result<Analysis, TemplateError> {
    if !has_template_syntax(text) {
        return Ok(Analysis::default());
    }
    let template = env.template_from_str(text).map_err(|e| convert_error(&e))?;
    Ok(Analysis { refs: sorted(template.undeclared_variables(true)) })
}

/// Parses a bare expression (an `if:`) and lists the variables it reads.
pub fn analyze_expression(env: &Environment<'_>, text: &str) -> Result<Analysis, TemplateError> {
    let expr = env.compile_expression(text).map_err(|e| convert_error(&e))?;
    Ok(Analysis { refs: sorted(expr.undeclared_variables(true)) })
}

/// The root name and first attribute of a dotted reference: `nodes.a.output` →
/// (`nodes`, Some(`a`)).
pub fn split_ref(reference: &str) -> (&str, Option<&str>) {
    let mut parts = reference.splitn(3, '.');
    let root = parts.next().unwrap_or_default();
    (root, parts.next())
}

/// A `secret(...)` call found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCall {
    /// The quoted name, or `None` when the argument is not a literal.
    pub name: Option<String>,
    /// Byte range of the call in the template text.
    pub range: Range<usize>,
}

/// The `secret(...)` calls inside `{{ }}` / `{% %}` blocks of a template. The argument
/// must be a quoted literal, so a scan of the text is exact for the calls that matter.
pub fn secret_calls(text: &str) -> Vec<SecretCall> {
    let mut calls = Vec::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find("secret") {
        let start = rest + found;
        rest = start + "secret".len();
        let before_ok =
            text[..start].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        let after = text[rest..].trim_start();
        if !before_ok || !after.starts_with('(') || !inside_block(text, start) {
            continue;
        }
        let open = text.len() - after.len();
        let Some(close) = text[open..].find(')') else { continue };
        let arg = text[open + 1..open + close].trim();
        let quoted = (arg.starts_with('\'') && arg.ends_with('\'')) || (arg.starts_with('"') && arg.ends_with('"'));
        let name = (quoted && arg.len() >= 2).then(|| arg[1..arg.len() - 1].to_string());
        calls.push(SecretCall { name, range: start..open + close + 1 });
        rest = open + close + 1;
    }
    calls
}

/// Whether `at` is inside a `{{ }}` or `{% %}` block.
fn inside_block(text: &str, at: usize) -> bool {
    let before = &text[..at];
    let last_open = before.rfind("{{").max(before.rfind("{%"));
    let last_close = before.rfind("}}").max(before.rfind("%}"));
    match (last_open, last_close) {
        (Some(o), Some(c)) => o > c,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Maps a byte offset inside a string value to a byte offset in the file, given the span
/// where the YAML scalar starts. Plain scalars map one to one; for block and quoted
/// scalars the value's characters are matched in order against the source, skipping
/// indentation, quotes and escapes, so positions stay on the right line.
pub fn map_offset(file: &SourceFile, scalar: &Span, value: &str, offset: usize) -> usize {
    let text = file.text();
    let start = floor_char_boundary(text, scalar.start);
    let source = &text[start..];
    let offset = floor_char_boundary(value, offset);
    if source.starts_with(value) {
        return start + offset;
    }
    let mut src = source.char_indices().peekable();
    let mut last = 0;
    for (i, ch) in value.char_indices() {
        if i >= offset {
            break;
        }
        // Skip source characters until this value character appears.
        for (j, s) in src.by_ref() {
            if s == ch {
                last = j + s.len_utf8();
                break;
            }
        }
    }
    // Step past indentation so a caret lands on the next visible character.
    let rest = &source[last.min(source.len())..];
    let skip = rest.len() - rest.trim_start_matches([' ', '"', '\'']).len();
    let skip = if rest.starts_with(' ') || rest.starts_with('"') { skip } else { 0 };
    start + last + skip
}

/// Maps a byte range inside a string value to a span in the file (see [`map_offset`]):
/// from the first character of the range to the end of its last one, so the span covers
/// whole characters and no closing quote or indentation after them. An empty range (an
/// error at the end of a template) marks the one character at its position.
pub fn map_range(file: &SourceFile, scalar: &Span, value: &str, range: &Range<usize>) -> Span {
    let start = map_offset(file, scalar, value, range.start);
    let last = value.get(range.start..range.end).and_then(|inside| inside.char_indices().next_back());
    match last {
        Some((i, _)) => {
            let end = file.char_at(map_offset(file, scalar, value, range.start + i)).end;
            start..end.max(start)
        }
        None => file.char_at(start),
    }
}

/// Finds where a dotted reference is written inside a scalar, for pointing at it.
/// Falls back to the scalar's own span.
pub fn locate_ref(file: &SourceFile, scalar: &Span, reference: &str, focus: &str) -> Span {
    let text = file.text();
    let end = floor_char_boundary(text, scalar.end.max(scalar.start));
    let start = floor_char_boundary(text, scalar.start.min(end));
    // Block scalars' spans cover their content; plain ones too. Search a little past the
    // end in case the span only covers the first line.
    let window_end = if end > start { end } else { floor_char_boundary(text, start + 4096) };
    let hay = &text[start..window_end];
    if let Some(found) = hay.find(reference) {
        let at = start + found;
        if let Some(rel) = reference.find(focus) {
            return at + rel..at + rel + focus.len();
        }
        return at..at + reference.len();
    }
    scalar.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_refs_by_parsing() {
        let env = environment();
        let a = analyze_template(
            &env,
            "{{ nodes.a.output }} {% for x in nodes.b.output %}{{ x.name }}{% endfor %}{{ inputs.city|upper }}",
        )
        .unwrap();
        assert_eq!(a.refs, vec!["inputs.city", "nodes.a.output", "nodes.b.output"]);
        // Text that merely looks like a reference outside a tag is not one.
        assert!(analyze_template(&env, "nodes.a.output is plain text").unwrap().refs.is_empty());
    }

    #[test]
    fn syntax_errors_have_ranges() {
        let env = environment();
        let err = analyze_template(&env, "line1\n{{ nodes.a.output }\n").unwrap_err();
        assert!(err.message.contains("unexpected"), "{}", err.message);
        assert_eq!(err.range, Some(24..25));
        let expr = analyze_expression(&env, "nodes.a.output ==").unwrap_err();
        assert!(expr.range.is_some());
    }

    #[test]
    fn finds_secret_calls_in_blocks_only() {
        let calls =
            secret_calls("a secret(x) {{ secret('k:v') | upper }} {{ 'x' ~ secret(name) }} {{ my_secret('z') }}");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].name.as_deref(), Some("k:v"));
        assert_eq!(calls[1].name, None);
    }

    #[test]
    fn maps_ranges_to_whole_characters() {
        // A quoted scalar: the value differs from the source, so characters are matched.
        let src = "v: \"é {{ x }\"\n";
        let file = SourceFile::new("t", src);
        let value = "é {{ x }";
        let scalar = 3..src.len() - 1;
        let span = map_range(&file, &scalar, value, &(0..2));
        assert_eq!(&src[span], "é");
        let span = map_range(&file, &scalar, value, &(3..5));
        assert_eq!(&src[span], "{{", "no closing quote or space swallowed");
        let span = map_range(&file, &scalar, value, &(value.len()..value.len()));
        assert_eq!(span.len(), 1, "an empty range marks the one character after the value");
        assert!(span.start > src.find('}').unwrap(), "{span:?}");
        // A range that ends inside `é` still covers it whole.
        let span = map_range(&file, &scalar, value, &(0..1));
        assert!(src.is_char_boundary(span.start) && src.is_char_boundary(span.end), "{span:?}");
    }

    #[test]
    fn maps_offsets_in_block_scalars() {
        let src = "p: |\n  one\n  {{ x }\n";
        let file = SourceFile::new("t", src);
        let value = "one\n{{ x }\n";
        let at = map_offset(&file, &(7..src.len()), value, 4);
        assert_eq!(&src[at..at + 2], "{{");
    }
}
