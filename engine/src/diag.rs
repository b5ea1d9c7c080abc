//! Diagnostics: what went wrong, where (a byte span into the skill file), what was
//! expected and how to fix it, rendered as a snippet with a caret or as JSON for tools.

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

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic like a compiler does: title, `--> file:line:col`, the source
    /// line with a caret under the span, then `expected` and `help` lines.
    pub fn render(&self, file: &SourceFile, color: bool) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = level.primary_title(self.message.as_str()).id(self.code);
        let text = file.text();
        let clamp = |s: &Span| {
            let start = s.start.min(text.len());
            let end = s.end.clamp(start, text.len());
            start..end
        };
        let mut group = match &self.span {
            Some(span) => {
                let mut snippet = Snippet::source(text).path(file.name()).fold(true);
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

    /// The machine-readable form used by `--format json`.
    pub fn to_json(&self, file: &SourceFile) -> serde_json::Value {
        let position = |offset: usize| {
            let (line, column) = file.line_col(offset);
            serde_json::json!({ "line": line, "column": column, "offset": offset })
        };
        serde_json::json!({
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": file.name(),
            "start": self.span.as_ref().map(|s| position(s.start)),
            "end": self.span.as_ref().map(|s| position(s.end)),
            "label": self.label,
            "expected": self.expected,
            "help": self.help,
        })
    }
}
