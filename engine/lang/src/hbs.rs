//! Handlebars prompt files (`.hbs`, the format of Semantic Kernel's prompt libraries):
//! what a template reads, found by walking its parsed element tree, and rendering in
//! strict mode over the JSON data the runtime rendered for it.
//!
//! A template sees `inputs`, `nodes.<id>.output|status|error`, `item`, `index`, `run` and
//! `env` as plain data: no `secret()`, no `now()`. Paths inside an `#each` or `#with`
//! block are relative to the block's value (data, not checked); paths at the top level,
//! in `#if`/`#unless` blocks, in an `{{else}}` of an `#each`, or written `@root.…` /
//! `../…` back to the top are references, checked like those of inline templates. Output
//! is not HTML-escaped: a prompt is not a web page.

use std::ops::Range;

use handlebars::template::{BlockParam, HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg};
use serde_json::Value;

use syntax::source::SourceFile;

/// The variables a Handlebars prompt may read at its top level.
pub const ROOTS: &[&str] = &["inputs", "nodes", "item", "index", "run", "env"];

/// The helpers handlebars-rust registers (every other helper name is an error).
pub const HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not",
    "len",
];

/// A path the template reads from the top-level data: `inputs.city` → `["inputs", "city"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: Vec<String>,
    /// Where the path is written, in bytes.
    pub span: Range<usize>,
}

/// Something wrong in a template: a syntax error, an unknown variable or helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub span: Range<usize>,
}

/// What a template reads, and what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Top-level references in the order they are written (repeats included).
    pub refs: Vec<Reference>,
    pub problems: Vec<Problem>,
}

/// Parses `text` and lists what it reads. A syntax error is the one problem of an `Err`.
pub fn analyze(text: &str) -> Result<Analysis, Problem> {
    let file = SourceFile::new("", text);
    let template = Template::compile(text).map_err(|e| {
        let at = e.pos().map_or(0, |(line, col)| file.offset_of(line, col));
        let reason = e.reason().to_string();
        let reason = reason.strip_prefix("invalid handlebars syntax: ").unwrap_or(&reason).to_string();
        let help = if reason.contains("was opened") {
            "every `{{#helper}}` block is closed by `{{/helper}}` of the same name"
        } else {
            "Handlebars syntax: `{{ path }}`, `{{#if x}}…{{/if}}`, `{{#each xs}}…{{/each}}`"
        };
        Problem {
            code: "template-syntax",
            message: format!("Handlebars syntax error: {reason}"),
            label: reason,
            help: Some(help.to_string()),
            span: file.char_at(at),
        }
    })?;
    let mut walker = Walker { file: &file, analysis: Analysis::default() };
    walker.template(&template, &Context::default());
    Ok(walker.analysis)
}

/// Where the walker is: how many blocks deep the context is (0: the top-level data) and
/// which block parameters (`as |x i|`) are in scope.
#[derive(Debug, Clone, Default)]
struct Context {
    depth: usize,
    params: Vec<String>,
}

impl Context {
    fn inner(&self, block_param: Option<&BlockParam>) -> Context {
        let mut params = self.params.clone();
        match block_param {
            Some(BlockParam::Single(p)) => params.extend(param_name(p)),
            Some(BlockParam::Pair((a, b))) => params.extend(param_name(a).into_iter().chain(param_name(b))),
            _ => {}
        }
        Context { depth: self.depth + 1, params }
    }
}

fn param_name(p: &Parameter) -> Option<String> {
    match p {
        Parameter::Name(n) => Some(n.clone()),
        Parameter::Path(Path::Relative((_, raw))) => Some(raw.clone()),
        _ => None,
    }
}

struct Walker<'a> {
    file: &'a SourceFile,
    analysis: Analysis,
}

impl Walker<'_> {
    fn template(&mut self, template: &Template, cx: &Context) {
        for (i, element) in template.elements.iter().enumerate() {
            let at = template.mapping.get(i).map_or(0, |m| self.file.offset_of(m.0, m.1));
            self.element(element, at, cx);
        }
    }

    fn element(&mut self, element: &TemplateElement, at: usize, cx: &Context) {
        match element {
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                if h.params.is_empty() && h.hash.is_empty() && !h.block {
                    // `{{name}}`: a path (a helper without arguments reads nothing).
                    if let Parameter::Path(path) = &h.name {
                        self.path(path, at, cx);
                    }
                } else {
                    self.helper(h, at, cx);
                }
            }
            TemplateElement::HelperBlock(h) => {
                self.helper(h, at, cx);
                let name = h.name.as_name().unwrap_or_default();
                let inner = if matches!(name, "each" | "with") { cx.inner(h.block_param.as_ref()) } else { cx.clone() };
                if let Some(t) = &h.template {
                    self.template(t, &inner);
                }
                if let Some(t) = &h.inverse {
                    self.template(t, cx);
                }
            }
            TemplateElement::DecoratorExpression(_)
            | TemplateElement::DecoratorBlock(_)
            | TemplateElement::PartialExpression(_)
            | TemplateElement::PartialBlock(_) => {
                let span = self.file.char_at(at);
                self.analysis.problems.push(Problem {
                    code: "hbs-unsupported",
                    message: "partials and decorators are not supported in prompt files".into(),
                    label: "a partial (`{{> …}}`) or decorator (`{{* …}}`)".into(),
                    help: Some("write the text into the file itself; a prompt file is one template".into()),
                    span: span.start..span.start + 3.min(self.file.text().len() - span.start),
                });
            }
            // Text and comments read nothing.
            _ => {}
        }
    }

    /// A helper call: its name must be a known helper; its arguments are read here.
    fn helper(&mut self, h: &HelperTemplate, at: usize, cx: &Context) {
        match &h.name {
            Parameter::Name(name) if !HELPERS.contains(&name.as_str()) => {
                let span = self.find(at, name);
                self.analysis.problems.push(Problem {
                    code: "hbs-unknown-helper",
                    message: format!("unknown Handlebars helper `{name}`"),
                    label: "no such helper".into(),
                    help: Some(syntax::suggest::help(name, HELPERS.iter().copied()).unwrap_or_else(|| {
                        format!(
                            "the helpers are {}",
                            HELPERS.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
                        )
                    })),
                    span,
                });
            }
            Parameter::Subexpression(sub) => self.element(sub.as_element(), at, cx),
            _ => {}
        }
        for p in h.params.iter().chain(h.hash.values()) {
            self.param(p, at, cx);
        }
    }

    fn param(&mut self, p: &Parameter, at: usize, cx: &Context) {
        match p {
            Parameter::Path(path) => self.path(path, at, cx),
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(h) = sub.as_element() {
                    self.helper(h, at, cx);
                }
            }
            // Literals and names read nothing.
            _ => {}
        }
    }

    fn path(&mut self, path: &Path, at: usize, cx: &Context) {
        // `@index`, `@key`…: block-local values, not data.
        let Path::Relative((segs, raw)) = path else { return };
        let rooted = segs.iter().any(|s| matches!(s, PathSeg::Ruled(_)) && raw.starts_with("@root"));
        let ups = segs.iter().filter(|s| matches!(s, PathSeg::Ruled(_))).count() - usize::from(rooted);
        let names: Vec<String> = segs
            .iter()
            .filter_map(|s| match s {
                PathSeg::Named(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        let depth = if rooted { 0 } else { cx.depth.saturating_sub(ups) };
        // Inside `#each`/`#with` a path reads the block's value, or a block parameter.
        let Some(first) = names.first() else { return };
        if depth > 0 || (!rooted && ups == 0 && cx.params.contains(first)) {
            return;
        }
        let span = self.find(at, raw);
        if !ROOTS.contains(&first.as_str()) {
            let focus = self.find(span.start, first);
            self.analysis.problems.push(Problem {
                code: "unknown-variable",
                message: format!("unknown variable `{first}`"),
                label: "not defined in Handlebars prompts".into(),
                help: syntax::suggest::help(first, ROOTS.iter().copied()).or_else(|| {
                    Some("a Handlebars prompt reads `inputs`, `nodes`, `item`, `index`, `run` and `env`".into())
                }),
                span: focus,
            });
            return;
        }
        self.analysis.refs.push(Reference { path: names, span });
    }

    /// Where `needle` is first written at or after byte `at` (the element's start); the
    /// character at `at` when it cannot be found.
    fn find(&self, at: usize, needle: &str) -> Range<usize> {
        let text = self.file.text();
        let at = syntax::source::floor_char_boundary(text, at);
        match text[at..].find(needle) {
            Some(i) if !needle.is_empty() => at + i..at + i + needle.len(),
            _ => self.file.char_at(at),
        }
    }
}

/// Renders a template in strict mode (a missing value is an error) without HTML
/// escaping. `name` is how errors name the template (its file).
pub fn render(name: &str, text: &str, data: &Value) -> Result<String, String> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_template_string(name, text).map_err(|e| match e.pos() {
        Some((line, col)) => format!("{name}:{line}:{col}: {}", e.reason()),
        None => format!("{name}: {}", e.reason()),
    })?;
    hb.render(name, data).map_err(|e| {
        let reason = e.reason().to_string();
        match (e.line_no, e.column_no) {
            (Some(line), Some(col)) => format!("{name}:{line}:{col}: {reason}"),
            _ => format!("{name}: {reason}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refs(text: &str) -> Vec<String> {
        analyze(text).unwrap().refs.iter().map(|r| r.path.join(".")).collect()
    }

    #[test]
    fn top_level_paths_are_references_and_block_paths_are_data() {
        let text = "Hi {{inputs.name}}!\n{{#each nodes.list.output as |x i|}}{{x}} {{name}} {{@index}} \
                    {{../inputs.sep}}{{@root.nodes.a.output}}{{else}}{{inputs.empty}}{{/each}}\
                    {{#if (eq run.id inputs.id)}}{{env.LANG}}{{/if}}{{#with inputs.user}}{{first}}{{/with}}";
        assert_eq!(
            refs(text),
            [
                "inputs.name",
                "nodes.list.output",
                "inputs.sep",
                "nodes.a.output",
                "inputs.empty",
                "run.id",
                "inputs.id",
                "env.LANG",
                "inputs.user"
            ]
        );
    }

    #[test]
    fn references_are_located() {
        let text = "é\n  {{#if x}}{{ inputs.city }}{{/if}}";
        let a = analyze(text).unwrap();
        let city = a.refs.iter().find(|r| r.path[0] == "inputs").unwrap();
        assert_eq!(&text[city.span.clone()], "inputs.city");
        let x = &a.problems[0];
        assert_eq!((x.code, &text[x.span.clone()]), ("unknown-variable", "x"));
    }

    #[test]
    fn unknown_roots_helpers_and_partials_are_problems() {
        let a = analyze("{{input.name}} {{shout inputs.a}} {{> header}}").unwrap();
        let codes: Vec<&str> = a.problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, ["unknown-variable", "hbs-unknown-helper", "hbs-unsupported"]);
        assert_eq!(a.problems[0].help.as_deref(), Some("did you mean `inputs`?"));
        assert_eq!(refs("{{shout inputs.a}}"), ["inputs.a"], "arguments are read even so");
    }

    #[test]
    fn syntax_errors_are_located() {
        let text = "line one\n{{#each inputs.xs}}x{{/if}}\n";
        let e = analyze(text).unwrap_err();
        assert_eq!(e.code, "template-syntax");
        assert!(e.message.contains("\"each\" was opened"), "{}", e.message);
        assert_eq!(SourceFile::new("", text).line_col(e.span.start), (2, 21));
        let e = analyze("ok\n  é {{ inputs.name }").unwrap_err();
        assert_eq!(SourceFile::new("", "ok\n  é {{ inputs.name }").line_col(e.span.start).0, 2);
    }

    #[test]
    fn renders_strictly_without_escaping() {
        let data = json!({ "inputs": { "name": "<Ada & \"Grace\">", "xs": [1, 2] } });
        let out = render("p.hbs", "{{inputs.name}}: {{#each inputs.xs}}{{this}},{{/each}}", &data).unwrap();
        assert_eq!(out, "<Ada & \"Grace\">: 1,2,");
        let err = render("p.hbs", "a\n{{inputs.nope}}", &data).unwrap_err();
        assert!(err.starts_with("p.hbs:2:") && err.contains("inputs.nope"), "{err}");
    }
}
