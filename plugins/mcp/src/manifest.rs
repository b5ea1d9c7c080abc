//! `plugin.yaml`: what a plugin is and how it starts, as Rust types (the single source of
//! `schemas/plugin.schema.json`), read with located errors like a skill.
//!
//! The file is checked in two passes that both report everything they find: the JSON
//! Schema generated from [`Manifest`] (types, unknown keys with "did you mean"), then the
//! rules a schema cannot say (a name without dots that matches its folder, exactly one of
//! `command` and `url`, durations, globs, no secret-shaped literal, no variable that
//! changes how programs load).

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use syntax::diag::Diagnostic;
use syntax::source::SourceFile;
use syntax::yaml::Node;

use crate::checked;

/// The largest manifest read (a manifest is a few hundred bytes).
pub const MAX_BYTES: usize = 256 << 10;

/// Environment variables a manifest may not set or inherit: they change how every
/// program loads, which is code execution by configuration.
pub const DISALLOWED_ENV: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "NODE_OPTIONS",
    "PYTHONSTARTUP",
    "BASH_ENV",
    "ENV",
    "PYRA_HOME",
    "PYRA_PASSPHRASE",
];

/// A plugin's manifest, `$PYRA_HOME/plugins/NAME/plugin.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Pyra plugin manifest")]
pub struct Manifest {
    /// The plugin's name, `[a-z][a-z0-9-]*` (no dots: its tools are `NAME.TOOL`); the same as
    /// its folder under `$PYRA_HOME/plugins/`.
    pub name: String,
    /// `mcp`: an external server speaking the Model Context Protocol; `builtin`: a plugin
    /// compiled into Pyra.
    pub kind: PluginKind,
    /// What the plugin is for, shown by `pyra plugin list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `kind: builtin`: which built-in (`pyra plugin add NAME --builtin ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// `kind: builtin`: the plain settings it declares (its secrets go in `secrets:`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub settings: IndexMap<String, String>,
    /// A disabled plugin keeps its approvals; its tools are not offered.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// stdio servers: the program (a name looked up on `PATH`, or an absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments, passed as they are (no shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The working folder, relative to the plugin's folder (default: the plugin's `work/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Plain environment variables (no secrets: those go in `secrets:`). `${env:VAR}` takes
    /// a value from Pyra's own environment.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Secrets from the vault: an environment variable (stdio) or a header (HTTP) → the vault
    /// key that holds its value. Values are never written anywhere else.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, SecretRef>,
    /// Variables passed on from Pyra's environment; nothing else is (default: `PATH`,
    /// `HOME`, `LANG`, `TMPDIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit_env: Option<Vec<String>>,
    /// Streamable HTTP servers: the endpoint (`https://`, or `http://` on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Plain HTTP headers (secret ones go in `secrets:`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Timeouts::is_default")]
    pub timeouts: Timeouts,
    /// The most bytes of one tool result passed on; the rest is cut with a marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_result_bytes: Option<u64>,
    /// Which of the server's tools Pyra uses at all (globs).
    #[serde(default, skip_serializing_if = "ToolFilter::is_default")]
    pub tools: ToolFilter,
    /// Who decides whether a tool call runs.
    #[serde(default, skip_serializing_if = "Policy::is_default")]
    pub policy: Policy,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Mcp,
    Builtin,
}

/// A vault key, or a vault key and the text around the value (`format: "Bearer {}"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SecretRef {
    Key(String),
    Formatted {
        key: String,
        /// `{}` stands for the secret, e.g. `Bearer {}`.
        format: String,
    },
}

impl SecretRef {
    pub fn key(&self) -> &str {
        match self {
            SecretRef::Key(k) | SecretRef::Formatted { key: k, .. } => k,
        }
    }

    /// The value to send, given the secret.
    pub fn apply(&self, secret: &str) -> String {
        match self {
            SecretRef::Key(_) => secret.to_string(),
            SecretRef::Formatted { format, .. } => format.replacen("{}", secret, 1),
        }
    }
}

/// Durations like `30s`, `10m`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// From the start of the process to its list of tools (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<String>,
    /// One tool call without news from the server (default 60s); progress notifications
    /// start it again, up to `max_call`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The most one call may take, progress or not (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_call: Option<String>,
    /// A server nobody called for this long is stopped (in the daemon; default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_shutdown: Option<String>,
}

impl Timeouts {
    fn is_default(&self) -> bool {
        *self == Timeouts::default()
    }
}

/// The timeouts in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub startup: Duration,
    pub call: Duration,
    pub max_call: Duration,
    pub idle_shutdown: Duration,
    pub max_result_bytes: usize,
}

pub const DEFAULT_MAX_RESULT: usize = 256 << 10;

/// Which tools of the server are used: matching `include` and no `exclude` glob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolFilter {
    #[serde(default = "everything")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

fn everything() -> Vec<String> {
    vec!["*".into()]
}

impl Default for ToolFilter {
    fn default() -> Self {
        Self { include: everything(), exclude: Vec::new() }
    }
}

impl ToolFilter {
    fn is_default(&self) -> bool {
        *self == ToolFilter::default()
    }
}

/// What happens when a tool is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Runs without asking.
    Allow,
    /// Asks a person first (durably: a daemon run waits for `pyra approve`).
    Ask,
    /// Never runs, and is never offered to a model.
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Ask => "ask",
            Decision::Deny => "deny",
        }
    }

    /// The stricter of two decisions (deny > ask > allow).
    pub fn stricter(self, other: Decision) -> Decision {
        self.max(other)
    }
}

impl PartialOrd for Decision {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decision {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |d: &Decision| match d {
            Decision::Allow => 0,
            Decision::Ask => 1,
            Decision::Deny => 2,
        };
        rank(self).cmp(&rank(other))
    }
}

/// Per-tool decisions: the most specific matching rule wins, deny beats everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// For tools no rule names.
    #[serde(default = "ask")]
    pub default: Decision,
    /// Lets a tool the server marks read-only (`readOnlyHint`) run without asking when no
    /// rule names it. Annotations are the server's claims, so this is off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trust_read_only_hints: bool,
    /// Tool name or glob → decision.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tools: IndexMap<String, Decision>,
}

fn ask() -> Decision {
    Decision::Ask
}

impl Default for Policy {
    fn default() -> Self {
        Self { default: Decision::Ask, trust_read_only_hints: false, tools: IndexMap::new() }
    }
}

impl Policy {
    fn is_default(&self) -> bool {
        *self == Policy::default()
    }
}

/// A manifest that passed its checks, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    pub file: SourceFile,
    pub doc: Node,
}

impl Manifest {
    /// Whether the plugin is a stdio server (else HTTP or built-in).
    pub fn is_stdio(&self) -> bool {
        self.command.is_some()
    }

    pub fn limits(&self) -> Limits {
        let d = |v: &Option<String>, default: u64| {
            v.as_deref().and_then(syntax::duration::parse).unwrap_or(Duration::from_secs(default))
        };
        Limits {
            startup: d(&self.timeouts.startup, 30),
            call: d(&self.timeouts.call, 60),
            max_call: d(&self.timeouts.max_call, 600),
            idle_shutdown: d(&self.timeouts.idle_shutdown, 600),
            max_result_bytes: self.max_result_bytes.map(|n| n as usize).unwrap_or(DEFAULT_MAX_RESULT),
        }
    }

    /// The variables inherited from Pyra's environment.
    pub fn inherited(&self) -> Vec<String> {
        self.inherit_env
            .clone()
            .unwrap_or_else(|| ["PATH", "HOME", "LANG", "TMPDIR"].iter().map(|s| s.to_string()).collect())
    }

    /// Whether a tool passes `tools.include` / `tools.exclude`.
    pub fn includes(&self, tool: &str) -> bool {
        let any = |globs: &[String]| globs.iter().any(|g| crate::policy::glob_matches(g, tool));
        any(&self.tools.include) && !any(&self.tools.exclude)
    }

    /// Writes the manifest as YAML with a schema comment, for `pyra plugin add|import`.
    pub fn to_yaml(&self) -> String {
        let body = serde_saphyr::to_string(self).unwrap_or_default();
        format!("# yaml-language-server: $schema=../../schemas/plugin.schema.json\n{body}")
    }
}

/// Whether `name` is a valid plugin name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 40
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
        && !name.ends_with('-')
}

/// The JSON Schema of `plugin.yaml` (`schemas/plugin.schema.json`).
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<Manifest>();
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// Reads and checks a manifest file; `folder` is the name of the folder it is in.
pub fn load(path: &Path, display: &str, folder: Option<&str>) -> Result<Loaded, (SourceFile, Vec<Diagnostic>)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let file = SourceFile::new(display, "");
            return Err((file, vec![Diagnostic::error("read", format!("cannot read {display}: {e}"))]));
        }
    };
    if bytes.len() > MAX_BYTES {
        let file = SourceFile::new(display, "");
        let d = Diagnostic::error(
            "too-large",
            format!("{display} is {} bytes; a manifest may have {MAX_BYTES}", bytes.len()),
        );
        return Err((file, vec![d]));
    }
    let file = match SourceFile::from_bytes(display, &bytes) {
        Ok(f) => f,
        Err((f, d)) => return Err((f, vec![d])),
    };
    parse(file, folder)
}

/// Checks a manifest's text.
pub fn parse(file: SourceFile, folder: Option<&str>) -> Result<Loaded, (SourceFile, Vec<Diagnostic>)> {
    let (doc, json) = match checked::parse_against(&file, &schema(), &schema_validator()) {
        Ok(v) => v,
        Err(diags) => return Err((file, diags)),
    };
    let manifest: Manifest = match serde_json::from_value(json) {
        Ok(m) => m,
        Err(e) => return Err((file, vec![Diagnostic::error("manifest", format!("{e}"))])),
    };
    let mut diags = Vec::new();
    rules(&manifest, &doc, folder, &mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err((file, diags));
    }
    Ok(Loaded { manifest, file, doc })
}

fn schema_validator() -> std::sync::Arc<jsonschema::Validator> {
    static V: std::sync::OnceLock<std::sync::Arc<jsonschema::Validator>> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let compiled = lang::schema::compile(&schema()).expect("the manifest schema compiles");
        std::sync::Arc::new(compiled)
    })
    .clone()
}

/// The rules the schema cannot express.
fn rules(m: &Manifest, doc: &Node, folder: Option<&str>, diags: &mut Vec<Diagnostic>) {
    let span = |ptr: &str| doc.pointer(ptr).map(|(_, n)| n.span.clone());
    let key_span = |ptr: &str| doc.pointer(ptr).and_then(|(k, n)| k.or(Some(n.span.clone())));
    if !valid_name(&m.name) {
        diags.push(
            Diagnostic::error("plugin-name", format!("`{}` is not a plugin name", m.name))
                .at_opt(span("/name"))
                .with_label("not a plugin name")
                .with_help("lowercase letters, digits and `-`, starting with a letter, at most 40; no dots (tools are `NAME.TOOL`)"),
        );
    } else if let Some(folder) = folder.filter(|f| *f != m.name) {
        diags.push(
            Diagnostic::error("plugin-name", format!("the manifest says `{}` but its folder is `{folder}`", m.name))
                .at_opt(span("/name"))
                .with_help(format!("rename one: the name and the folder under plugins/ must be the same (`{folder}`)")),
        );
    }
    match (m.kind, &m.command, &m.url) {
        (PluginKind::Mcp, None, None) => diags.push(
            Diagnostic::error("plugin-transport", "an `mcp` plugin needs `command` (stdio) or `url` (streamable HTTP)")
                .at_opt(span("/kind"))
                .with_help(
                    "e.g. `command: npx` with `args: [\"-y\", \"@modelcontextprotocol/server-memory@2026.8.31\"]`",
                ),
        ),
        (PluginKind::Mcp, Some(_), Some(_)) => diags.push(
            Diagnostic::error("plugin-transport", "give `command` or `url`, not both")
                .at_opt(span("/url"))
                .with_help("a plugin is one server: a program Pyra starts, or an address it connects to"),
        ),
        (PluginKind::Builtin, c, u) if c.is_some() || u.is_some() => diags.push(
            Diagnostic::error("plugin-transport", "a `builtin` plugin has no `command` or `url`")
                .at_opt(span(if c.is_some() { "/command" } else { "/url" })),
        ),
        _ => {}
    }
    builtin_rules(m, doc, diags);
    if let Some(url) = &m.url {
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
        if !url.starts_with("https://") && !loopback.iter().any(|p| url.starts_with(p)) {
            diags.push(
                Diagnostic::error("plugin-url", format!("`{url}` is neither https nor loopback"))
                    .at_opt(span("/url"))
                    .with_help(
                        "secrets travel in headers: use `https://`, or `http://127.0.0.1:PORT` for a local server",
                    ),
            );
        }
    }
    for (field, map) in [("env", &m.env), ("headers", &m.headers)] {
        for (name, value) in map {
            let ptr = format!("/{field}/{}", syntax::yaml::escape_segment(name));
            if field == "env" && DISALLOWED_ENV.contains(&name.as_str()) {
                diags.push(
                    Diagnostic::error("plugin-env", format!("`{name}` may not be set for a plugin"))
                        .at_opt(key_span(&ptr))
                        .with_help("it changes how programs load or where Pyra keeps its secrets"),
                );
            }
            if !security::redact::find_key_shaped(value).is_empty() || looks_secret(name) && !is_reference(value) {
                diags.push(
                    Diagnostic::error(
                        "plugin-secret",
                        format!("`{field}.{name}` looks like a secret written in plain text"),
                    )
                    .at_opt(span(&ptr))
                    .with_label("secret-shaped")
                    .with_help(format!(
                        "store it in the vault (`pyra vault set plugin:{}:{name}`) and map it under `secrets:` \
                             (`{name}: plugin:{}:{name}`)",
                        m.name, m.name
                    )),
                );
            }
        }
    }
    for name in m.inherit_env.iter().flatten() {
        if DISALLOWED_ENV.contains(&name.as_str()) {
            diags.push(
                Diagnostic::error("plugin-env", format!("`{name}` may not be inherited by a plugin"))
                    .at_opt(span("/inherit_env"))
                    .with_help("it changes how programs load or where Pyra keeps its secrets"),
            );
        }
    }
    for (name, secret) in &m.secrets {
        let ptr = format!("/secrets/{}", syntax::yaml::escape_segment(name));
        if let SecretRef::Formatted { format, .. } = secret
            && format.matches("{}").count() != 1
        {
            diags.push(
                Diagnostic::error("plugin-secret", format!("`secrets.{name}.format` must hold `{{}}` once"))
                    .at_opt(span(&ptr))
                    .with_help("`{}` is where the secret goes, e.g. `Bearer {}`"),
            );
        }
        if secret.key().trim().is_empty() {
            diags.push(
                Diagnostic::error("plugin-secret", format!("`secrets.{name}` names no vault key")).at_opt(span(&ptr)),
            );
        }
    }
    for (key, value) in [
        ("startup", &m.timeouts.startup),
        ("call", &m.timeouts.call),
        ("max_call", &m.timeouts.max_call),
        ("idle_shutdown", &m.timeouts.idle_shutdown),
    ] {
        if let Some(v) = value
            && syntax::duration::parse(v).is_none_or(|d| d.is_zero())
        {
            diags.push(
                Diagnostic::error("plugin-timeout", format!("`timeouts.{key}: {v}` is not a duration"))
                    .at_opt(span(&format!("/timeouts/{key}")))
                    .with_help("e.g. `500ms`, `30s`, `10m`, `1h`"),
            );
        }
    }
    let limits = m.limits();
    if limits.max_call < limits.call {
        diags.push(
            Diagnostic::error("plugin-timeout", "`timeouts.max_call` is shorter than `timeouts.call`")
                .at_opt(span("/timeouts/max_call"))
                .with_help("progress notifications extend a call up to `max_call`, so it must be at least `call`"),
        );
    }
    for (list, globs) in [("include", &m.tools.include), ("exclude", &m.tools.exclude)] {
        for (i, g) in globs.iter().enumerate() {
            if let Err(e) = crate::policy::compile_glob(g) {
                diags.push(
                    Diagnostic::error("plugin-glob", format!("`tools.{list}[{i}]`: {e}"))
                        .at_opt(span(&format!("/tools/{list}/{i}"))),
                );
            }
        }
    }
    for name in m.policy.tools.keys() {
        if let Err(e) = crate::policy::compile_glob(name) {
            let ptr = format!("/policy/tools/{}", syntax::yaml::escape_segment(name));
            diags.push(Diagnostic::error("plugin-glob", format!("policy rule `{name}`: {e}")).at_opt(key_span(&ptr)));
        }
    }
}

/// A `kind: builtin` manifest names a built-in of this build, gives it settings it
/// declares, and maps only its declared secrets.
fn builtin_rules(m: &Manifest, doc: &Node, diags: &mut Vec<Diagnostic>) {
    let span = |ptr: &str| doc.pointer(ptr).map(|(_, n)| n.span.clone());
    match (m.kind, &m.builtin) {
        (PluginKind::Builtin, None) => {
            let ids = crate::builtin::ids();
            diags.push(
                Diagnostic::error("plugin-builtin", "a `builtin` plugin needs `builtin:` (which one)")
                    .at_opt(span("/kind"))
                    .with_help(format!(
                        "this build's built-ins: {}",
                        if ids.is_empty() { "none".into() } else { ids.join(", ") }
                    )),
            );
        }
        (PluginKind::Mcp, Some(_)) => diags
            .push(Diagnostic::error("plugin-builtin", "`builtin:` is for `kind: builtin`").at_opt(span("/builtin"))),
        (PluginKind::Builtin, Some(id)) => match crate::builtin::find(id) {
            None => {
                let ids = crate::builtin::ids();
                let help = syntax::suggest::help(id, ids.iter().copied()).unwrap_or_else(|| {
                    format!(
                        "this build's built-ins: {} (each is a cargo feature, `plugin-NAME`)",
                        if ids.is_empty() { "none".into() } else { ids.join(", ") }
                    )
                });
                diags.push(
                    Diagnostic::error("plugin-builtin", format!("this build has no built-in plugin `{id}`"))
                        .at_opt(span("/builtin"))
                        .with_help(help),
                );
            }
            Some(b) => {
                if let Err(e) = crate::builtin::resolve_settings(b.as_ref(), &m.name, &m.settings) {
                    diags.push(Diagnostic::error("plugin-settings", e).at_opt(span("/settings").or(span("/builtin"))));
                }
                for key in m.secrets.keys() {
                    if !b.fields().iter().any(|f| f.kind.is_secret() && f.key == key) {
                        let secrets: Vec<&str> =
                            b.fields().iter().filter(|f| f.kind.is_secret()).map(|f| f.key).collect();
                        diags.push(
                            Diagnostic::error("plugin-secret", format!("`{id}` declares no secret `{key}`"))
                                .at_opt(span(&format!("/secrets/{}", syntax::yaml::escape_segment(key))))
                                .with_help(format!(
                                    "its secrets: {}",
                                    if secrets.is_empty() { "none".into() } else { secrets.join(", ") }
                                )),
                        );
                    }
                }
            }
        },
        (PluginKind::Mcp, None) => {
            if !m.settings.is_empty() {
                diags.push(
                    Diagnostic::error(
                        "plugin-settings",
                        "`settings:` is for built-in plugins; an MCP server takes `env:`",
                    )
                    .at_opt(span("/settings")),
                );
            }
        }
    }
}

/// Header or variable names that carry credentials.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "CREDENTIAL",
        "AUTHORIZATION",
        "COOKIE",
        "PRIVATE_KEY",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Whether a value takes its secret part from Pyra's environment (`${env:VAR}`,
/// `Bearer ${env:TOKEN}`): then the file holds no secret.
pub fn is_reference(value: &str) -> bool {
    value.contains("${env:")
}

/// Checks that every rule of the policy names a tool the server has (`tools` from the
/// lock): a rule that matches nothing is a typo that would silently do nothing.
pub fn check_policy_names(loaded: &Loaded, tools: &[&str]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    if tools.is_empty() {
        return diags;
    }
    for name in loaded.manifest.policy.tools.keys() {
        if tools.iter().any(|t| crate::policy::glob_matches(name, t)) {
            continue;
        }
        let ptr = format!("/policy/tools/{}", syntax::yaml::escape_segment(name));
        let at = loaded.doc.pointer(&ptr).and_then(|(k, n)| k.or(Some(n.span.clone())));
        let help = syntax::suggest::help(name, tools.iter().copied())
            .unwrap_or_else(|| format!("the server's tools: {}", tools.join(", ")));
        diags.push(
            Diagnostic::error(
                "policy-unknown-tool",
                format!("policy rule `{name}` matches no tool of `{}`", loaded.manifest.name),
            )
            .at_opt(at)
            .with_label("matches no tool")
            .with_help(help),
        );
    }
    diags
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
