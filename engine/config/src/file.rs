//! The checked file: [`Config`] read from `$PYRA_HOME/config.yaml` (or checked from a
//! text), parsed with spans, checked, typed, and what callers ask of it (entries, spans,
//! the caller's own provider check).

use std::path::{Path, PathBuf};

use syntax::diag::Diagnostic;
use syntax::source::{SourceFile, Span};
use syntax::yaml::{self, Node};

use crate::check;
use crate::error::{ConfigError, invalid, secret_spans};
use crate::model::{
    ChannelsSettings, ChatSettings, DaemonSettings, McpSettings, MemorySettings, ModelEntry, TelemetrySettings, Typed,
};

/// The file's name under `$PYRA_HOME`.
pub const FILE_NAME: &str = "config.yaml";

/// The comment a new file starts with.
pub const HEADER: &str = concat!(
    "# Pyra configuration. Secrets never go here: keys live in the vault (`pyra vault set NAME`).\n",
    "# `pyra config set KEY VALUE` changes one value; `pyra setup` adds a model.\n",
);

/// A checked `config.yaml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The entry used when a node names no model.
    pub default_model: Option<String>,
    pub models: Vec<ModelEntry>,
    /// The `chat:` section (defaults when absent).
    pub chat: ChatSettings,
    /// The `daemon:` section (defaults when absent).
    pub daemon: DaemonSettings,
    /// The `telemetry:` section; `None` (absent): nothing is exported.
    pub telemetry: Option<TelemetrySettings>,
    /// The `mcp:` section (defaults when absent: no skill exposed, no HTTP endpoint).
    pub mcp: McpSettings,
    /// The `memory:` section (defaults when absent: bm25 alone).
    pub memory: MemorySettings,
    /// The `channels:` section (absent: no channel).
    pub channels: ChannelsSettings,
    pub(crate) path: PathBuf,
    file: SourceFile,
    pub(crate) root: Node,
    pub(crate) exists: bool,
}

impl Config {
    /// Where the file lives under `home`.
    pub fn file_path(home: &Path) -> PathBuf {
        home.join(FILE_NAME)
    }

    /// Reads and checks `home/config.yaml`. A missing file is an empty configuration.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = Self::file_path(home);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_bytes(&path, &bytes, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::from_text(&path, "", false),
            Err(e) => Err(ConfigError::Io(format!("cannot read {}: {e}", path.display()))),
        }
    }

    fn from_bytes(path: &Path, bytes: &[u8], exists: bool) -> Result<Config, ConfigError> {
        match SourceFile::from_bytes(path.display().to_string(), bytes) {
            Ok(file) => Self::from_file(path, file, exists),
            Err((file, diag)) => {
                let hidden = secret_spans(file.text());
                Err(invalid(file, vec![diag], &hidden))
            }
        }
    }

    /// Checks `text` as the contents of `path` (which is not read).
    pub fn from_text(path: &Path, text: &str, exists: bool) -> Result<Config, ConfigError> {
        Self::from_file(path, SourceFile::new(path.display().to_string(), text), exists)
    }

    fn from_file(path: &Path, file: SourceFile, exists: bool) -> Result<Config, ConfigError> {
        let root = match yaml::parse(&file) {
            Ok(root) => root,
            Err(diag) => {
                let hidden = secret_spans(file.text());
                return Err(invalid(file, vec![diag], &hidden));
            }
        };
        let findings = check::check(file.text(), &root);
        if !findings.diagnostics.is_empty() {
            return Err(invalid(file, findings.diagnostics, &findings.hidden));
        }
        let typed: Typed = match &root.value {
            yaml::Value::Null => Typed::default(),
            _ => serde_json::from_value(root.to_json()).map_err(|e| {
                // The checks accept only what deserialises; this is a bug, still located.
                invalid(file.clone(), vec![Diagnostic::error("config", e.to_string()).at(root.span.clone())], &[])
            })?,
        };
        Ok(Config {
            default_model: typed.default_model,
            models: typed.models.unwrap_or_default(),
            chat: typed.chat.unwrap_or_default(),
            daemon: typed.daemon.unwrap_or_default(),
            telemetry: typed.telemetry,
            mcp: typed.mcp.unwrap_or_default(),
            memory: typed.memory.unwrap_or_default(),
            channels: typed.channels.unwrap_or_default(),
            path: path.to_path_buf(),
            file,
            root,
            exists,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text (what to write after an edit).
    pub fn text(&self) -> &str {
        self.file.text()
    }

    /// Whether the file existed when read (edits report `false` until written).
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The entry named `name`.
    pub fn entry(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The span of the value at a JSON pointer into the file (`/models/0/provider`), so
    /// any later check can point at the line.
    pub fn span(&self, pointer: &str) -> Option<Span> {
        self.root.pointer(pointer).map(|(_, node)| node.span.clone())
    }

    /// The span of one field of an entry (`provider` of `local`).
    pub fn entry_span(&self, name: &str, field: &str) -> Option<Span> {
        let index = self.models.iter().position(|m| m.name == name)?;
        self.span(&format!("/models/{index}/{}", yaml::escape_segment(field)))
    }

    /// An error made of `diagnostics` located in this file.
    pub fn invalid(&self, diagnostics: Vec<Diagnostic>) -> ConfigError {
        invalid(self.file.clone(), diagnostics, &[])
    }

    /// Checks what the engine cannot: every entry's provider id, through `known_provider`
    /// (`Err(help)` for an unknown id, e.g. "did you mean `openai`?"). All unknown ids are
    /// reported, each at its line.
    pub fn validate_with(&self, known_provider: impl Fn(&str) -> Result<(), String>) -> Result<(), ConfigError> {
        let diagnostics: Vec<Diagnostic> = self
            .models
            .iter()
            .filter_map(|m| {
                let help = known_provider(&m.provider).err()?;
                Some(
                    Diagnostic::error("unknown-provider", format!("unknown provider `{}`", m.provider))
                        .at_opt(self.entry_span(&m.name, "provider"))
                        .with_help(help),
                )
            })
            .collect();
        if diagnostics.is_empty() { Ok(()) } else { Err(self.invalid(diagnostics)) }
    }
}
