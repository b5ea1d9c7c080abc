//! Why the configuration could not be loaded or changed, and how that is shown: an invalid
//! file's findings are rendered against a copy of its text with every secret-looking span
//! masked, so no rendering ever shows a secret.

use syntax::diag::Diagnostic;
use syntax::source::{SourceFile, Span};

/// The located findings of an invalid file, with the text they point into (secret-looking
/// spans masked, so rendering never shows them).
#[derive(Debug, Clone)]
pub struct Invalid {
    pub file: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
}

/// Why the configuration could not be loaded, read or changed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Io(String),
    /// The file (or the file an edit would make) is invalid.
    #[error("{} is invalid ({} error(s))", .0.file.name(), .0.diagnostics.len())]
    Invalid(Box<Invalid>),
    /// A `get`/`set` key that names nothing in the file's format, or an entry that does
    /// not exist.
    #[error("{message}")]
    Key { message: String, help: Option<String> },
    /// The key is valid but has no value in the file.
    #[error("`{0}` is not set")]
    NotSet(String),
    /// A value refused because it looks like a secret (never echoed).
    #[error("refusing to put what looks like a secret into config.yaml")]
    Secret { help: String },
}

impl ConfigError {
    /// Every diagnostic rendered as a snippet (for [`ConfigError::Invalid`]), or the
    /// message and its help.
    pub fn render(&self, color: bool) -> String {
        match self {
            ConfigError::Invalid(invalid) => {
                invalid.diagnostics.iter().map(|d| d.render(&invalid.file, color)).collect::<Vec<_>>().join("\n\n")
            }
            ConfigError::Key { message, help: Some(help) } => format!("{message}\nhelp: {help}"),
            ConfigError::Secret { help } => format!("{self}\nhelp: {help}"),
            other => other.to_string(),
        }
    }
}

/// Where `text` holds something key-shaped (hidden from every rendering of the file).
pub(crate) fn secret_spans(text: &str) -> Vec<Span> {
    security::redact::find_key_shaped(text).into_iter().map(|(s, _)| s).collect()
}

/// A [`ConfigError::Invalid`] pointing into `file`, shown with the `hidden` spans masked.
pub(crate) fn invalid(file: SourceFile, diagnostics: Vec<Diagnostic>, hidden: &[Span]) -> ConfigError {
    let file = if hidden.is_empty() { file } else { masked(&file, hidden) };
    ConfigError::Invalid(Box::new(Invalid { file, diagnostics }))
}

/// The file with every byte of `spans` replaced by `*` (same length, so spans still fit).
fn masked(file: &SourceFile, spans: &[Span]) -> SourceFile {
    let mut bytes = file.text().as_bytes().to_vec();
    for span in spans {
        let end = span.end.min(bytes.len());
        for b in &mut bytes[span.start.min(end)..end] {
            if *b != b'\n' {
                *b = b'*';
            }
        }
    }
    let text = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    SourceFile::new(file.name(), text)
}
