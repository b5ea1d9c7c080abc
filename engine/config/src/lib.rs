//! `$PYRA_HOME/config.yaml`: the language models Pyra may use, as a typed model checked on
//! load with located errors, resolved from a selector (`NAME` or `NAME/model-id`), and
//! edited without losing what a person wrote.
//!
//! ```yaml
//! # Pyra configuration. Secrets never go here: keys live in the vault (`pyra vault set`).
//! default_model: local          # the entry used when a node names none
//! models:
//!   - name: local               # what skills and `with.model` refer to
//!     provider: ollama          # a provider id (`pyra setup` lists them)
//!     model: llama3.2           # the provider's model id
//!     base_url: http://localhost:11434   # optional; the provider's default otherwise
//!     key: OLLAMA_API_KEY       # optional: the vault key name, default: the provider's
//!     options: { temperature: 0.2, max_tokens: 2048, context_window: 8192 }
//!     # also: first_token_timeout (default 300) and idle_timeout (default 120), in seconds
//!     prices: { prompt: 0.15, completion: 0.60, cached: 0.075 }   # USD per million tokens
//! chat:                         # optional: what `pyra chat` brings to each turn
//!   recall: 5                   # notes recalled from memory per turn (0: none)
//!   recall_category: work       # only notes of this category and its subcategories
//!   tools: [weather]            # skills the assistant may call (each call asks first)
//! ```
//!
//! The file is parsed like a skill ([`syntax::yaml`]: strict booleans, leading-zero numbers
//! as strings, duplicate keys rejected) and checked by [`check`]: every error is a
//! [`Diagnostic`] pointing into the file. Secrets never live here (DESIGN §11): anything
//! key-shaped, credentials in a URL, or a `key:` that is not an UPPER_SNAKE vault key name
//! is an error, and those spans are masked when the error is shown. Provider ids are not
//! known to the engine; [`Config::validate_with`] lets the caller check them, located too.
//!
//! Edits ([`Config::set`], [`Config::set_entry`]) return the new configuration, checked, and
//! do not write: the caller writes [`Config::text`] privately (the CLI's `write_private`,
//! 0600 in a 0700 home). See [`edit`] for what an edit preserves.

mod check;
mod edit;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use edit::{Op, Step};
use syntax::diag::Diagnostic;
use syntax::source::{SourceFile, Span};
use syntax::suggest;
use syntax::yaml::{self, Node};

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
    path: PathBuf,
    file: SourceFile,
    root: Node,
    exists: bool,
}

/// The `chat:` section: what `pyra chat` brings to each turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Notes recalled from memory per turn (default [`ChatSettings::DEFAULT_RECALL`]; 0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<u32>,
    /// Recall only from this category (and its subcategories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_category: Option<String>,
    /// Skills enabled as tools in every conversation (besides `--tool`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

impl ChatSettings {
    /// Notes recalled per turn when `recall` is not set.
    pub const DEFAULT_RECALL: u32 = 5;

    /// Notes recalled per turn.
    pub fn recall(&self) -> u32 {
        self.recall.unwrap_or(Self::DEFAULT_RECALL)
    }
}

/// One entry under `models:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// What skills and `with.model` refer to: letters, digits, `_`, `.`, `-`.
    pub name: String,
    /// A provider id (`openai`, `ollama`, …), checked by the caller.
    pub provider: String,
    /// The provider's model id (may contain `/`).
    pub model: String,
    /// The server's base URL; the provider's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The vault key holding the API key; the provider's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "ModelOptions::is_empty")]
    pub options: ModelOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<Prices>,
}

/// Request options of an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    /// 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The model's context window in tokens, for history budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Seconds to wait for the first token of a reply (a local model may be loading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_timeout: Option<f64>,
    /// Seconds of silence allowed between two pieces of a streamed reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<f64>,
}

impl ModelOptions {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<f64>,
    /// Prompt tokens served from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<f64>,
}

/// What a selector resolves to. `base_url` and `key` are `None` when the entry gives none:
/// the provider registry supplies the defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedModel {
    /// The entry's name.
    pub entry: String,
    pub provider: String,
    /// The model id to send: the entry's, or the one after `NAME/`.
    pub model: String,
    pub base_url: Option<String>,
    pub key: Option<String>,
    pub options: ModelOptions,
    /// The entry's prices; `None` when the selector picked another model than the entry's.
    pub prices: Option<Prices>,
}

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

/// Why a selector does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no language model is configured: run `pyra setup`")]
    NoModels,
    #[error(
        "no default model is set: `pyra config set default_model NAME` picks one of {}, or run `pyra setup`",
        .0.join(", ")
    )]
    NoDefault(Vec<String>),
    #[error("no model named `{name}` in config.yaml{}", .help.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    Unknown { name: String, help: Option<String> },
    #[error("`{0}` is not a model selector: use NAME or NAME/model-id")]
    Selector(String),
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

    /// The model for `selector`: `NAME`, `NAME/model-id` (everything after the first `/`
    /// replaces the entry's model id, so `router/meta-llama/llama-3.1-8b` works), or the
    /// default entry for `None`.
    pub fn resolve(&self, selector: Option<&str>) -> Result<ResolvedModel, ResolveError> {
        let names = || self.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        let (name, model) = match selector.map(str::trim) {
            None | Some("") => {
                if self.models.is_empty() {
                    return Err(ResolveError::NoModels);
                }
                (self.default_model.clone().ok_or_else(|| ResolveError::NoDefault(names()))?, None)
            }
            Some(s) => match s.split_once('/') {
                Some((name, model)) if !name.is_empty() && !model.trim().is_empty() => {
                    (name.to_string(), Some(model.trim().to_string()))
                }
                Some(_) => return Err(ResolveError::Selector(s.to_string())),
                None => (s.to_string(), None),
            },
        };
        let Some(entry) = self.entry(&name) else {
            if self.models.is_empty() {
                return Err(ResolveError::NoModels);
            }
            let help = suggest::help(&name, self.models.iter().map(|m| m.name.as_str()))
                .unwrap_or_else(|| format!("the models are {}", names().join(", ")));
            return Err(ResolveError::Unknown { name, help: Some(help) });
        };
        let same_model = model.as_deref().is_none_or(|m| m == entry.model);
        Ok(ResolvedModel {
            entry: entry.name.clone(),
            provider: entry.provider.clone(),
            model: model.unwrap_or_else(|| entry.model.clone()),
            base_url: entry.base_url.clone(),
            key: entry.key.clone(),
            options: entry.options,
            prices: if same_model { entry.prices } else { None },
        })
    }

    /// The value at a dotted key (`default_model`, `models.local.model`,
    /// `models.local.options.temperature`, `models.local`, `models`), as written in the file.
    pub fn get(&self, key: &str) -> Result<Json, ConfigError> {
        let steps = self.parse_key(key)?;
        if let [Step::Key(_), Step::Entry(name), ..] = steps.as_slice()
            && self.entry(name).is_none()
        {
            return Err(self.no_entry(name));
        }
        let mut node = self.root.to_json();
        for step in &steps {
            let next = match step {
                Step::Key(k) => node.get(k).cloned(),
                Step::Entry(name) => node
                    .as_array()
                    .and_then(|items| items.iter().find(|i| i.get("name").and_then(Json::as_str) == Some(name)))
                    .cloned(),
            };
            node = next.ok_or_else(|| ConfigError::NotSet(key.to_string()))?;
        }
        Ok(node)
    }

    /// The configuration with one value changed, checked (not written). `raw` is typed by
    /// the key: text for names, ids, URLs and keys; a YAML number for options and prices
    /// (`0.2`, `2048`), so numbers stay numbers. Values that look like secrets are refused
    /// before anything else, and never echoed.
    pub fn set(&self, key: &str, raw: &str) -> Result<Config, ConfigError> {
        let steps = self.parse_key(key)?;
        let field = match steps.last() {
            Some(Step::Key(f)) => f.as_str(),
            _ => "",
        };
        let secret = !security::redact::find_key_shaped(raw).is_empty()
            || (field == "key" && !check::is_key_name(raw) && check::looks_like_secret(raw));
        if secret {
            return Err(ConfigError::Secret {
                help: "store it in the vault with `pyra vault set NAME` (it asks for the value, so it never \
                       appears on a command line; if this was a real key, it is now in your shell history), \
                       then `pyra config set models.ENTRY.key NAME`"
                    .into(),
            });
        }
        let leaf = match steps.as_slice() {
            [Step::Key(k)] if k == "default_model" => true,
            [Step::Key(k), Step::Key(_)] if k == "chat" => true,
            [Step::Key(_), Step::Entry(name), rest @ ..] => {
                if self.entry(name).is_none() {
                    return Err(self.no_entry(name));
                }
                matches!(rest, [Step::Key(f)] if !["options", "prices"].contains(&f.as_str())) || rest.len() == 2
            }
            _ => false,
        };
        if !leaf {
            return Err(ConfigError::Key {
                message: format!("`{key}` is not a single value"),
                help: Some("set one value at a time, e.g. `models.NAME.options.temperature`".into()),
            });
        }
        let value = match steps.as_slice() {
            [_, _, _, _] => typed_scalar(raw),
            [Step::Key(chat), Step::Key(f)] if chat == "chat" && f == "recall" => typed_scalar(raw),
            // A list on the command line: comma-separated names (`weather,notes`; empty: none).
            [Step::Key(chat), Step::Key(f)] if chat == "chat" && f == "tools" => Json::Array(
                raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| Json::String(t.into())).collect(),
            ),
            _ => Json::String(raw.to_string()),
        };
        self.edited(&[Op::Set(steps, value)])
    }

    /// The configuration with `entry` added, or replacing the entry of the same name
    /// (fields it lacks are removed), and made the default when `make_default`; checked,
    /// not written.
    pub fn set_entry(&self, entry: &ModelEntry, make_default: bool) -> Result<Config, ConfigError> {
        let mut new = serde_json::to_value(entry).map_err(|e| ConfigError::Io(e.to_string()))?;
        let old = self.entry(&entry.name).and_then(|e| serde_json::to_value(e).ok());
        let at = |rest: &[&str]| {
            let mut steps = vec![Step::Key("models".into()), Step::Entry(entry.name.clone())];
            steps.extend(rest.iter().map(|k| Step::Key(k.to_string())));
            steps
        };
        let mut ops = Vec::new();
        let new_map = new.as_object_mut().map(std::mem::take).unwrap_or_default();
        let old_map = old.as_ref().and_then(Json::as_object).cloned().unwrap_or_default();
        for (k, v) in &new_map {
            match v {
                Json::Object(inner) => {
                    let old_inner = old_map.get(k).and_then(Json::as_object);
                    for (ik, iv) in inner {
                        if old_inner.and_then(|m| m.get(ik)) != Some(iv) {
                            ops.push(Op::Set(at(&[k, ik]), iv.clone()));
                        }
                    }
                    for ik in old_inner.into_iter().flat_map(Map::keys).filter(|ik| !inner.contains_key(*ik)) {
                        ops.push(Op::Remove(at(&[k, ik])));
                    }
                }
                _ if k == "name" => {}
                _ if old_map.get(k) != Some(v) => ops.push(Op::Set(at(&[k]), v.clone())),
                _ => {}
            }
        }
        for k in old_map.keys().filter(|k| !new_map.contains_key(*k)) {
            ops.push(Op::Remove(at(&[k])));
        }
        if make_default && self.default_model.as_deref() != Some(entry.name.as_str()) {
            ops.push(Op::Set(vec![Step::Key("default_model".into())], Json::String(entry.name.clone())));
        }
        self.edited(&ops)
    }

    /// Applies `ops` to the text and checks the result.
    fn edited(&self, ops: &[Op]) -> Result<Config, ConfigError> {
        let json = self.root.to_json();
        let text = edit::apply(self.text(), &json, ops, HEADER);
        Self::from_text(&self.path, &text, self.exists)
    }

    fn no_entry(&self, name: &str) -> ConfigError {
        let help = suggest::help(name, self.models.iter().map(|m| m.name.as_str()))
            .or_else(|| Some("`pyra setup` adds a model".to_string()));
        ConfigError::Key { message: format!("no model entry named `{name}`"), help }
    }

    /// Splits a dotted key into steps. Entry names may contain dots, so the known field
    /// names are matched from the right.
    fn parse_key(&self, key: &str) -> Result<Vec<Step>, ConfigError> {
        let k = |s: &str| Step::Key(s.to_string());
        if check::ROOT_KEYS.contains(&key) {
            return Ok(vec![k(key)]);
        }
        let unknown = |help: Option<String>| ConfigError::Key { message: format!("unknown config key `{key}`"), help };
        if let Some(field) = key.strip_prefix("chat.") {
            if check::CHAT_KEYS.contains(&field) {
                return Ok(vec![k("chat"), k(field)]);
            }
            let help = suggest::did_you_mean(field, check::CHAT_KEYS.iter().copied())
                .map(|f| format!("did you mean `chat.{f}`?"))
                .or_else(|| Some("`chat` takes `recall`, `recall_category` and `tools`".into()));
            return Err(unknown(help));
        }
        let Some(rest) = key.strip_prefix("models.") else {
            let first = key.split('.').next().unwrap_or(key);
            let help = suggest::help(first, check::ROOT_KEYS.iter().copied())
                .or_else(|| Some("keys are `default_model`, `models.NAME.FIELD` and `chat.FIELD`".into()));
            return Err(unknown(help));
        };
        let entry = |name: &str| Step::Entry(name.to_string());
        if self.entry(rest).is_some() {
            return Ok(vec![k("models"), entry(rest)]);
        }
        for (group, fields) in [("options", check::OPTION_KEYS), ("prices", check::PRICE_KEYS)] {
            for field in fields {
                if let Some(name) = rest.strip_suffix(&format!(".{group}.{field}"))
                    && !name.is_empty()
                {
                    return Ok(vec![k("models"), entry(name), k(group), k(field)]);
                }
            }
        }
        for field in check::ENTRY_KEYS {
            if let Some(name) = rest.strip_suffix(&format!(".{field}"))
                && !name.is_empty()
            {
                return Ok(vec![k("models"), entry(name), k(field)]);
            }
        }
        if !rest.contains('.') {
            return Err(self.no_entry(rest));
        }
        // A misspelt field: suggest from the last segment.
        let (head, last) = rest.rsplit_once('.').unwrap_or(("", rest));
        let (name, group) = match head.rsplit_once('.') {
            Some((name, g)) if ["options", "prices"].contains(&g) => (name, Some(g)),
            _ => (head, None),
        };
        let fields = match group {
            Some("options") => check::OPTION_KEYS,
            Some(_) => check::PRICE_KEYS,
            None => check::ENTRY_KEYS,
        };
        let help = suggest::did_you_mean(last, fields.iter().copied()).map(|f| {
            let group = group.map(|g| format!("{g}.")).unwrap_or_default();
            format!("did you mean `models.{name}.{group}{f}`?")
        });
        let help = help.or_else(|| {
            let list: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            Some(format!("an entry's keys are {}", list.join(", ")))
        });
        Err(unknown(help))
    }
}

/// A value given on the command line for a numeric key: a YAML number when it is one
/// (with the file's rules, so `010` is not), the text otherwise (the checks then say what
/// was expected).
fn typed_scalar(raw: &str) -> Json {
    let file = SourceFile::new("value", format!("v: {raw}\n"));
    match yaml::parse(&file).ok().and_then(|root| root.get("v").map(|v| v.value.clone())) {
        Some(yaml::Value::Number(n)) => Json::Number(n),
        _ => Json::String(raw.to_string()),
    }
}

/// Where `text` holds something key-shaped (hidden from every rendering of the file).
fn secret_spans(text: &str) -> Vec<Span> {
    security::redact::find_key_shaped(text).into_iter().map(|(s, _)| s).collect()
}

fn invalid(file: SourceFile, diagnostics: Vec<Diagnostic>, hidden: &[Span]) -> ConfigError {
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

/// The deserialised form of a checked file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Typed {
    #[serde(default)]
    default_model: Option<String>,
    #[serde(default)]
    models: Option<Vec<ModelEntry>>,
    #[serde(default)]
    chat: Option<ChatSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
# Pyra configuration. Secrets never go here.
default_model: local          # the entry used when a node names none
models:
  - name: local               # what skills refer to
    provider: ollama
    model: llama3.2
    base_url: http://localhost:11434
    key: OLLAMA_API_KEY
    options: { temperature: 0.2, max_tokens: 2048, context_window: 8192 }
    prices: { prompt: 0.15, completion: 0.60, cached: 0.075 }
  - name: router
    provider: openrouter
    model: openai/gpt-4.1-mini
";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_text(Path::new("/home/u/.pyra/config.yaml"), text, true)
    }

    /// The rendered errors of an invalid text.
    fn errors(text: &str) -> String {
        match parse(text) {
            Err(e @ ConfigError::Invalid(_)) => e.render(false),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    fn invalid_codes(text: &str) -> Vec<&'static str> {
        match parse(text) {
            Err(ConfigError::Invalid(i)) => i.diagnostics.iter().map(|d| d.code).collect(),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let config = parse(EXAMPLE).unwrap();
        assert_eq!(config.default_model.as_deref(), Some("local"));
        let local = config.entry("local").unwrap();
        assert_eq!(local.provider, "ollama");
        assert_eq!(local.key.as_deref(), Some("OLLAMA_API_KEY"));
        assert_eq!(local.options.temperature, Some(0.2));
        assert_eq!(local.options.max_tokens, Some(2048));
        assert_eq!(local.prices.unwrap().cached, Some(0.075));
        assert_eq!(config.entry("router").unwrap().options, ModelOptions::default());
        let span = config.entry_span("router", "provider").unwrap();
        assert_eq!(&EXAMPLE[span], "openrouter");
        // An empty file, or comments only, is an empty configuration.
        assert!(parse("").unwrap().models.is_empty());
        assert!(parse("# nothing yet\n").unwrap().default_model.is_none());
    }

    #[test]
    fn timeouts_are_seconds_with_fractions() {
        let text = "models:\n  - name: local\n    provider: ollama\n    model: x\n    options: { first_token_timeout: 0.5, idle_timeout: 30 }\n";
        let options = parse(text).unwrap().entry("local").unwrap().options;
        assert_eq!((options.first_token_timeout, options.idle_timeout), (Some(0.5), Some(30.0)));
        let out = errors(&text.replace("0.5", "0").replace("30", "\"1m\""));
        assert!(out.contains("`first_token_timeout` must be a number from 0.1 to 86400, found 0"), "{out}");
        assert!(out.contains("`idle_timeout` must be a number, found"), "{out}");
    }

    #[test]
    fn errors_are_located_with_did_you_mean() {
        let text = "defualt_model: local\nmodels:\n  - name: local\n    provider: ollama\n    model: x\n    options: { temprature: 0.2, max_tokens: 0 }\n    modle: y\n";
        let out = errors(text);
        assert!(out.contains("unknown key `defualt_model` in config.yaml"), "{out}");
        assert!(out.contains("--> /home/u/.pyra/config.yaml:1:1"), "{out}");
        assert!(out.contains("did you mean `default_model`?"), "{out}");
        assert!(out.contains("config.yaml:6:16") && out.contains("did you mean `temperature`?"), "{out}");
        assert!(out.contains("`max_tokens` must be a whole number at least 1, found 0"), "{out}");
        assert!(out.contains("config.yaml:7:5") && out.contains("did you mean `model`?"), "{out}");
        // Types, YAML 1.2 scalars and required keys.
        let codes = invalid_codes("models:\n  - name: a/b\n    provider: 3\n    options: { temperature: yes }\n");
        assert_eq!(codes, ["missing-key", "config-name", "config-type", "config-type"]);
        let out = errors("models: [{ name: a, provider: p }]\n");
        assert!(out.contains("model entry `a` has no `model`"), "{out}");
        let out = errors("models:\n  - name: a\n    provider: p\n    model: m\n  model: x\n");
        assert!(out.contains("invalid YAML") || out.contains("config.yaml:"), "{out}");
    }

    #[test]
    fn duplicates_and_a_default_that_names_nothing() {
        let text = "default_model: locl\nmodels:\n  - { name: local, provider: ollama, model: a }\n  - { name: local, provider: ollama, model: b }\n";
        let out = errors(text);
        assert!(out.contains("duplicate model name `local`"), "{out}");
        assert!(out.contains("config.yaml:4:13") && out.contains("first defined here"), "{out}");
        assert!(out.contains("`default_model` names no entry: `locl`"), "{out}");
        assert!(out.contains("did you mean `local`?"), "{out}");
        let out = errors("default_model: x\n");
        assert!(out.contains("`pyra setup` adds one"), "{out}");
        let out =
            errors("default_model: x\nmodels:\n  - name: x\n    provider: p\n    model: m\n    bogus: 1\nbogus: 2\n");
        assert!(!out.contains("names no entry"), "an entry with an error still counts: {out}");
    }

    #[test]
    fn secrets_are_refused_and_never_shown() {
        let secret = "sk-proj-Abcdefghijklmnop1234567890XYZ";
        let text = format!("models:\n  - name: a\n    provider: openai\n    model: m\n    key: {secret}\n");
        let out = errors(&text);
        assert!(out.contains("looks like a secret") && out.contains("pyra vault set"), "{out}");
        assert!(out.contains("config.yaml:5:10"), "{out}");
        assert!(!out.contains("Abcdefghijklmnop"), "the secret is masked: {out}");
        // Anywhere in the file, comments and unknown keys included.
        let out = errors(&format!("# old key: {secret}\nmodels: []\n"));
        assert!(out.contains("secret") && !out.contains("Abcdefghijklmnop"), "{out}");
        let out = errors(&format!("models:\n  - name: a\n    provider: openai\n    model: m\n    api_key: {secret}\n"));
        assert!(out.contains("unknown key `api_key`") && out.contains("vault"), "{out}");
        assert!(!out.contains("Abcdefghijklmnop"), "{out}");
        // A random-looking key value that no known shape matches, a name in the wrong
        // case, credentials in a URL.
        let codes = invalid_codes(
            "models:\n  - name: a\n    provider: p\n    model: m\n    key: Zq8xv2LmN4pR7tYw9KcB\n    base_url: https://user:pw@example.com/v1\n  - name: b\n    provider: p\n    model: m\n    key: openai_api_key\n",
        );
        assert_eq!(codes, ["secret-in-config", "secret-in-config", "config-key-name"]);
        let out = errors(
            "models:\n  - name: a\n    provider: p\n    model: m\n    base_url: https://user:pw@example.com/v1\n",
        );
        assert!(!out.contains("user:pw"), "{out}");
    }

    #[test]
    fn resolves_names_and_model_overrides() {
        let config = parse(EXAMPLE).unwrap();
        let default = config.resolve(None).unwrap();
        assert_eq!((default.entry.as_str(), default.model.as_str()), ("local", "llama3.2"));
        assert_eq!(default.base_url.as_deref(), Some("http://localhost:11434"));
        assert!(default.prices.is_some());
        let other = config.resolve(Some("local/qwen3:8b")).unwrap();
        assert_eq!((other.provider.as_str(), other.model.as_str()), ("ollama", "qwen3:8b"));
        assert_eq!(other.options.temperature, Some(0.2));
        assert!(other.prices.is_none(), "the entry's prices are for its own model");
        let router = config.resolve(Some("router/meta-llama/llama-3.1-8b")).unwrap();
        assert_eq!(router.model, "meta-llama/llama-3.1-8b");
        assert_eq!(config.resolve(Some("router")).unwrap().model, "openai/gpt-4.1-mini");
        let err = config.resolve(Some("locl")).unwrap_err();
        assert_eq!(err.to_string(), "no model named `locl` in config.yaml; did you mean `local`?");
        assert!(matches!(config.resolve(Some("local/")), Err(ResolveError::Selector(_))));
        assert!(matches!(config.resolve(Some("/x")), Err(ResolveError::Selector(_))));
        assert_eq!(parse("").unwrap().resolve(None), Err(ResolveError::NoModels));
        let no_default = parse("models: [{ name: a, provider: p, model: m }]\n").unwrap();
        assert!(no_default.resolve(None).unwrap_err().to_string().contains("pyra config set default_model"));
    }

    #[test]
    fn provider_ids_are_checked_by_the_caller_and_located() {
        let config = parse(EXAMPLE.replace("provider: openrouter", "provider: opnerouter").as_str()).unwrap();
        let err = config
            .validate_with(|p| if p == "opnerouter" { Err("did you mean `openrouter`?".into()) } else { Ok(()) })
            .unwrap_err();
        let out = err.render(false);
        assert!(out.contains("unknown provider `opnerouter`") && out.contains("config.yaml:12:15"), "{out}");
        assert!(config.validate_with(|_| Ok(())).is_ok());
    }

    #[test]
    fn get_and_set_by_dotted_key() {
        let config = parse(EXAMPLE).unwrap();
        assert_eq!(config.get("default_model").unwrap(), "local");
        assert_eq!(config.get("models.local.options.temperature").unwrap(), 0.2);
        assert_eq!(config.get("models.router.model").unwrap(), "openai/gpt-4.1-mini");
        assert!(config.get("models.local").unwrap().is_object());
        assert!(matches!(config.get("models.router.base_url"), Err(ConfigError::NotSet(_))));
        let err = config.get("models.local.options.temprature").unwrap_err();
        assert!(err.render(false).contains("did you mean `models.local.options.temperature`?"), "{err:?}");
        assert!(matches!(config.get("default"), Err(ConfigError::Key { .. })));
        assert!(matches!(config.get("models.nope.model"), Err(ConfigError::Key { .. })));

        // Numbers stay numbers; comments stay.
        let set = config.set("models.local.options.temperature", "0.7").unwrap();
        assert_eq!(set.entry("local").unwrap().options.temperature, Some(0.7));
        assert_eq!(set.text(), EXAMPLE.replace("temperature: 0.2", "temperature: 0.7"));
        let set = config.set("models.router.prices.prompt", "3").unwrap();
        assert!(set.text().contains("  - name: router\n    provider: openrouter\n    model: openai/gpt-4.1-mini\n    prices:\n      prompt: 3\n"), "{}", set.text());
        // A model id that looks like a number stays text.
        let set = config.set("models.local.model", "010").unwrap();
        assert_eq!(set.entry("local").unwrap().model, "010");
        // An invalid result is an error located in the text it would have written.
        let err = config.set("models.local.options.temperature", "5").unwrap_err();
        assert!(err.render(false).contains("`temperature` must be a number from 0 to 2, found 5"), "{err:?}");
        let err = config.set("default_model", "nope").unwrap_err();
        assert!(err.render(false).contains("names no entry"), "{err:?}");
        // Secrets are refused without being echoed.
        let err = config.set("models.local.key", "sk-ant-api03-Abcdefghij1234567890KLMN").unwrap_err();
        assert!(matches!(err, ConfigError::Secret { .. }) && !err.render(false).contains("Abcdefghij"));
        assert!(config.set("models.local.key", "ANTHROPIC_API_KEY").is_ok());
        assert!(matches!(config.set("models.local.options", "1"), Err(ConfigError::Key { .. })));
        assert!(matches!(config.set("models.nope.model", "x"), Err(ConfigError::Key { .. })));
    }

    #[test]
    fn the_chat_section_is_checked_read_and_set() {
        let config = parse(EXAMPLE).unwrap();
        assert_eq!(config.chat, ChatSettings::default());
        assert_eq!(config.chat.recall(), ChatSettings::DEFAULT_RECALL);
        let text =
            format!("{EXAMPLE}chat:\n  recall: 0        # no recall\n  recall_category: work\n  tools: [weather]\n");
        let config = parse(&text).unwrap();
        assert_eq!(config.chat.recall(), 0);
        assert_eq!(config.chat.recall_category.as_deref(), Some("work"));
        assert_eq!(config.chat.tools, ["weather"]);
        assert_eq!(config.get("chat.recall").unwrap(), 0);

        let set = config.set("chat.recall", "8").unwrap();
        assert_eq!(set.chat.recall, Some(8));
        assert!(set.text().contains("  recall: 8        # no recall\n"), "{}", set.text());
        let set = config.set("chat.tools", "weather, notes").unwrap();
        assert_eq!(set.chat.tools, ["weather", "notes"]);
        assert_eq!(config.set("chat.tools", "").unwrap().chat.tools, Vec::<String>::new());
        let set = parse(EXAMPLE).unwrap().set("chat.recall_category", "home").unwrap();
        assert_eq!(set.chat.recall_category.as_deref(), Some("home"));
        assert!(set.text().starts_with(EXAMPLE), "{}", set.text());

        let err = config.set("chat.recall", "500").unwrap_err();
        assert!(err.render(false).contains("`recall` must be a whole number from 0 to 100, found 500"), "{err:?}");
        let err = config.get("chat.recal").unwrap_err();
        assert!(err.render(false).contains("did you mean `chat.recall`?"), "{err:?}");
        let out = errors("chat:\n  recall: many\n  tols: []\n");
        assert!(out.contains("`recall` must be a whole number, found a string"), "{out}");
        assert!(out.contains("unknown key `tols` in `chat`") && out.contains("did you mean `tools`?"), "{out}");
        let out = errors("chat:\n  tools: weather\n");
        assert!(out.contains("`tools` must be a list, found a string"), "{out}");
        let out = errors("chat:\n  tools: [weather, 3, '']\n");
        assert!(out.contains("each item of `tools` must be a name, found a number"), "{out}");
        assert!(out.contains("each item of `tools` must be a name, found an empty string"), "{out}");
    }

    #[test]
    fn entry_names_may_hold_dots() {
        let config = parse("models:\n  - { name: gpt-4.1, provider: openai, model: gpt-4.1 }\n").unwrap();
        assert_eq!(config.get("models.gpt-4.1.model").unwrap(), "gpt-4.1");
        assert_eq!(config.get("models.gpt-4.1").unwrap()["provider"], "openai");
        let set = config.set("models.gpt-4.1.options.max_tokens", "100").unwrap();
        assert_eq!(set.entry("gpt-4.1").unwrap().options.max_tokens, Some(100));
    }

    #[test]
    fn set_entry_keeps_comments_and_order() {
        let config = parse(EXAMPLE).unwrap();
        let entry = ModelEntry {
            name: "cloud".into(),
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            base_url: None,
            key: None,
            options: ModelOptions { max_tokens: Some(4096), ..ModelOptions::default() },
            prices: None,
        };
        let added = config.set_entry(&entry, true).unwrap();
        assert_eq!(added.default_model.as_deref(), Some("cloud"));
        assert_eq!(added.entry("cloud"), Some(&entry));
        let expected = EXAMPLE.replace("default_model: local ", "default_model: cloud ")
            + "  - name: cloud\n    provider: anthropic\n    model: claude-sonnet-4-5\n    options:\n      max_tokens: 4096\n";
        assert_eq!(added.text(), expected);

        // Replacing an entry: changed fields in place, missing ones removed, comments kept.
        let local = ModelEntry {
            name: "local".into(),
            provider: "ollama".into(),
            model: "qwen3:8b".into(),
            base_url: None,
            key: Some("OLLAMA_API_KEY".into()),
            options: ModelOptions { temperature: Some(0.2), ..ModelOptions::default() },
            prices: None,
        };
        let replaced = added.set_entry(&local, false).unwrap();
        assert_eq!(replaced.entry("local"), Some(&local));
        assert_eq!(replaced.default_model.as_deref(), Some("cloud"));
        let text = replaced.text();
        assert!(
            text.starts_with("# Pyra configuration. Secrets never go here.\ndefault_model: cloud          # the entry")
        );
        assert!(text.contains("  - name: local               # what skills refer to\n    provider: ollama\n    model: qwen3:8b\n    key: OLLAMA_API_KEY\n    options: { temperature: 0.2 }\n  - name: router\n"), "{text}");

        // A new file gets the header.
        let fresh = Config::from_text(Path::new("config.yaml"), "", false).unwrap().set_entry(&local, true).unwrap();
        assert!(fresh.text().starts_with(HEADER), "{}", fresh.text());
        assert!(fresh.text().ends_with("default_model: local\nmodels:\n  - name: local\n    provider: ollama\n    model: qwen3:8b\n    key: OLLAMA_API_KEY\n    options:\n      temperature: 0.2\n"), "{}", fresh.text());
        assert_eq!(fresh.resolve(None).unwrap().model, "qwen3:8b");
    }

    #[test]
    fn load_reads_the_home() {
        let home = tempfile::tempdir().unwrap();
        let empty = Config::load(home.path()).unwrap();
        assert!(!empty.exists() && empty.models.is_empty());
        std::fs::write(Config::file_path(home.path()), EXAMPLE).unwrap();
        let config = Config::load(home.path()).unwrap();
        assert!(config.exists());
        assert_eq!(config.path(), home.path().join("config.yaml"));
        std::fs::write(Config::file_path(home.path()), b"models: \xff\n").unwrap();
        assert!(Config::load(home.path()).unwrap_err().render(false).contains("not valid UTF-8"));
    }
}
