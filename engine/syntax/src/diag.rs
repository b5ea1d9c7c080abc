//! Diagnostics: what went wrong, where (a byte span into the skill file), what was
//! expected and how to fix it, rendered as a snippet with a caret or as JSON for tools.

use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;

use crate::source::{SourceFile, Span};

/// How bad a diagnostic is. Errors make a skill invalid; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a skill file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable, greppable identifier such as `unknown-field` or `cycle`.
    pub code: &'static str,
    pub message: String,
    /// Where in the file; `None` for problems with the file as a whole.
    pub span: Option<Span>,
    /// Text shown at the caret.
    pub label: Option<String>,
    /// What would have been valid here.
    pub expected: Option<String>,
    /// How to fix it, or a "did you mean".
    pub help: Option<String>,
    /// Other places that explain the error (the rest of a cycle, say).
    pub related: Vec<(Span, String)>,
    /// The file the spans point into when it is not the one being checked: a prompt
    /// file a skill names. `None`: the file the caller renders with.
    pub file: Option<Arc<SourceFile>>,
}

impl Diagnostic {
    /// A new error with no location yet.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: None,
            expected: None,
            help: None,
            related: Vec::new(),
            file: None,
        }
    }

    /// A new warning with no location yet.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, message) }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// Locates the diagnostic in another file than the one being checked.
    pub fn in_file(mut self, file: Arc<SourceFile>) -> Self {
        self.file = Some(file);
        self
    }

    /// The file the spans point into: its own, or else `checked`.
    pub fn file_or<'a>(&'a self, checked: &'a SourceFile) -> &'a SourceFile {
        self.file.as_deref().unwrap_or(checked)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic like a compiler does: title, `--> file:line:col`, the source
    /// line with a caret under the span, then `expected` and `help` lines. `file` is the
    /// file being checked; a diagnostic located in another one renders that one.
    pub fn render(&self, file: &SourceFile, color: bool) -> String {
        let file = self.file_or(file);
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = level.primary_title(self.message.as_str()).id(self.code);
        // The renderer slices the text with every span and panics off a character
        // boundary: each span is clamped to the text and widened to whole characters.
        let clamp = |s: &Span| file.snap(s);
        let mut group = match &self.span {
            Some(span) => {
                let mut snippet = Snippet::source(file.text()).path(file.name()).fold(true);
                let primary = AnnotationKind::Primary.span(clamp(span));
                snippet = snippet.annotation(match &self.label {
                    Some(label) => primary.label(label.as_str()),
                    None => primary,
                });
                for (span, label) in &self.related {
                    snippet = snippet.annotation(AnnotationKind::Context.span(clamp(span)).label(label.as_str()));
                }
                title.element(snippet)
            }
            None => title.element(Level::NOTE.message(format!("in {}", file.name()))),
        };
        if let Some(expected) = &self.expected {
            group = group.element(Level::NOTE.message(format!("expected {expected}")));
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let report: [Group<'_>; 1] = [group];
        let renderer = if color { Renderer::styled() } else { Renderer::plain() };
        renderer.render(&report).to_string()
    }

    /// The machine-readable form used by `--format json`. Offsets are bytes, on
    /// character boundaries (the span widened to whole characters, as when rendered).
    pub fn to_json(&self, file: &SourceFile) -> serde_json::Value {
        let file = self.file_or(file);
        let position = |offset: usize| {
            let (line, column) = file.line_col(offset);
            serde_json::json!({ "line": line, "column": column, "offset": offset })
        };
        let span = self.span.as_ref().map(|s| file.snap(s));
        serde_json::json!({
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": file.name(),
            "start": span.as_ref().map(|s| position(s.start)),
            "end": span.as_ref().map(|s| position(s.end)),
            "label": self.label,
            "expected": self.expected,
            "help": self.help,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_inside_characters_render_as_whole_characters() {
        // `“` is bytes 0..3 and `é` 11..13: spans that start or end inside them must not
        // reach the renderer as they are (it slices the text and would panic).
        let file = SourceFile::new("t.yaml", "“{{ a\nb: é\n");
        let diag = Diagnostic::error("yaml", "bad").at(0..1).with_label("here").with_related(12..13, "and here");
        let out = diag.render(&file, false);
        assert!(out.contains("--> t.yaml:1:1"), "{out}");
        assert!(out.contains("1 | “{{ a\n  | ^ here"), "a one-character caret under `“`:\n{out}");
        assert!(out.contains("2 | b: é\n  |    - and here"), "the related span under `é`:\n{out}");
        // Spans reaching past the text, or inverted, are clamped.
        let out = Diagnostic::error("yaml", "bad")
            .at(Span { start: 40, end: 2 })
            .with_related(2..40, "past the end")
            .render(&file, false);
        assert!(out.contains("past the end"), "{out}");
        let json = diag.to_json(&file);
        assert_eq!(json["start"]["offset"], 0);
        assert_eq!(json["end"]["offset"], 3);
        assert_eq!(json["end"]["column"], 2);
    }

    #[test]
    fn a_diagnostic_in_another_file_renders_that_file() {
        let skill = SourceFile::new("skill.yaml", "prompt_file: p.j2\n");
        let prompt = Arc::new(SourceFile::new("p.j2", "Hi\n{{ inputs.nme }}\n"));
        let diag = Diagnostic::error("unknown-input", "bad").at(13..16).with_label("here").in_file(prompt);
        let out = diag.render(&skill, false);
        assert!(out.contains("--> p.j2:2:11"), "{out}");
        assert!(out.contains("2 | {{ inputs.nme }}"), "{out}");
        let json = diag.to_json(&skill);
        assert_eq!((json["file"].as_str(), json["start"]["line"].as_u64()), (Some("p.j2"), Some(2)));
    }
}
