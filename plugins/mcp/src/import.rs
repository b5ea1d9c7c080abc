//! Import of the MCP server configurations other clients keep: the file a user already has
//! (Claude Desktop's `claude_desktop_config.json`, Claude Code's `~/.claude.json`, Cursor's
//! `mcp.json`, VS Code's `.vscode/mcp.json`, Zed's `settings.json`, OpenClaw's
//! `openclaw.json`, Goose's `config.yaml`) becomes a neutral list of [`ImportedServer`]s,
//! which `pyra plugin import` turns into plugin manifests, moving literal secrets into
//! the vault.
//!
//! Pure: text in, servers or located diagnostics out. Every format goes through the
//! project's YAML front end (`syntax::yaml`), YAML 1.2 being a superset of JSON; JSONC and
//! JSON5 comments and trailing commas are blanked first ([`jsonc`]), keeping offsets, so
//! every span points into the file as the user wrote it. The shape is recognised by its
//! top-level key ([`Shape`]); an entry is a local (stdio) server when it has `command`
//! (Goose: `cmd`) and a remote one when it has `url` (Goose: `uri`). Keys of an entry that
//! Pyra does not use are warnings, since every client adds its own.

mod entry;
mod jsonc;
#[cfg(test)]
mod tests;
mod values;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use syntax::yaml::{self, Node, Value};
use syntax::{Diagnostic, SourceFile, Span};

/// The servers found in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// In file order; each name is unique.
    pub servers: Vec<ImportedServer>,
    /// Located warnings (severity `Warning`, each carrying the file): keys not imported,
    /// entries skipped, references Pyra cannot resolve, secrets left in arguments.
    pub warnings: Vec<Diagnostic>,
    /// Which client's shape was recognised.
    pub shape: Shape,
}

/// The client whose configuration shape the file has, told by its top-level key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `mcpServers` (Claude Desktop, Claude Code, Cursor, Cline, Windsurf), with Claude
    /// Code's per-project `projects.<path>.mcpServers` of `~/.claude.json`.
    ClaudeDesktop,
    /// `servers` (`.vscode/mcp.json`), or `mcp.servers` with `mcp.inputs` (user settings).
    VsCode,
    /// `context_servers` (Zed's `settings.json`).
    Zed,
    /// `mcp.servers` (OpenClaw's `openclaw.json`, JSON5). VS Code's user `settings.json`
    /// without `mcp.inputs` looks the same and is read the same.
    OpenClaw,
    /// `extensions` (Goose's `config.yaml`).
    Goose,
    /// A map from names to servers, with no key around it.
    Bare,
}

impl Shape {
    /// Where the servers are, as the user would write it.
    pub fn key(self) -> &'static str {
        match self {
            Shape::ClaudeDesktop => "mcpServers",
            Shape::VsCode => "servers",
            Shape::Zed => "context_servers",
            Shape::OpenClaw => "mcp.servers",
            Shape::Goose => "extensions",
            Shape::Bare => "(top level)",
        }
    }
}

/// One MCP server, as another client described it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedServer {
    /// A valid plugin name (`[a-z][a-z0-9-]{0,39}`) derived from the key: lowercased, `_`,
    /// `.` and spaces turned into `-`, other characters dropped. No dots: tools are
    /// `NAME.TOOL`.
    pub name: String,
    /// The key as written in the file.
    pub original_name: String,
    pub transport: ImportedTransport,
    /// The environment of a local server (Goose also allows it on remote ones).
    pub env: IndexMap<String, EnvValue>,
    /// The HTTP headers of a remote server.
    pub headers: IndexMap<String, EnvValue>,
    /// `false` when the client had it switched off (`enabled: false`, `disabled: true`).
    pub enabled: bool,
    /// Startup/connection timeout (OpenClaw's `connectionTimeoutMs`).
    pub timeout_ms: Option<u64>,
    /// Timeout of each request (OpenClaw's `requestTimeoutMs`, Goose's `timeout`, given in
    /// seconds, and the `timeout` some `mcpServers` clients add).
    pub call_timeout_ms: Option<u64>,
    /// Tools offered (OpenClaw's `toolFilter.include`, Goose's `available_tools`); empty:
    /// all of them.
    pub include: Vec<String>,
    /// Tools hidden (OpenClaw's `toolFilter.exclude`).
    pub exclude: Vec<String>,
    /// The entry's key in the file, for messages.
    pub span: Span,
}

/// How Pyra reaches the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportedTransport {
    /// A local process speaking MCP on its standard input and output. `${VAR}`
    /// references in these strings are written `${env:VAR}`.
    Stdio { command: String, args: Vec<String>, cwd: Option<String> },
    /// A remote server. `legacy_sse`: the deprecated HTTP+SSE transport (`type: sse`),
    /// parsed so it can be refused with a clear message.
    Http { url: String, legacy_sse: bool },
}

/// An environment variable's or header's value, sorted by where it must live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Not a secret: kept in the manifest.
    Plain(String),
    /// A literal that looks like a secret (by its name or its shape): goes to the vault
    /// (under a key the caller decides) and is written nowhere else.
    Secret(String),
    /// The whole value is one reference to the process environment: `${VAR}`,
    /// `${VAR:-default}` or `${env:VAR}`.
    FromEnv { var: String, default: Option<String> },
    /// References inside text (`Bearer ${TOKEN}`), written `${env:VAR}`
    /// (`${env:VAR:-default}`); references Pyra cannot resolve are kept as they were and
    /// warned about.
    Template(String),
    /// The user must give it at setup: a VS Code `${input:id}`, a Goose `env_keys` name
    /// (kept in Goose's keyring), or a secret left empty or as a placeholder
    /// (`<YOUR_TOKEN>`, `your-api-key`, `ghp_...`, `sk-xxxx`).
    AskUser,
}

/// The top-level keys recognised, for the "nothing recognisable" error.
const TOP_KEYS: &[&str] = &["mcpServers", "servers", "context_servers", "mcp", "extensions", "projects"];

/// Reads the servers of one configuration file. `origin` names the file in diagnostics;
/// every diagnostic carries the file (`Diagnostic::file`), so it renders on its own.
/// Errors are all reported at once; warnings come with the result.
pub fn parse(text: &str, origin: &str) -> Result<Imported, Vec<Diagnostic>> {
    let file = Arc::new(SourceFile::new(origin, text));
    let json = jsonc::looks_like_json(text);
    let blanked;
    let parsed = if json {
        blanked = jsonc::blank(text).map_err(|d| vec![d.in_file(file.clone())])?;
        SourceFile::new(origin, blanked)
    } else {
        SourceFile::new(origin, text)
    };
    let root = yaml::parse(&parsed).map_err(|d| vec![syntax_error(d, json).in_file(file.clone())])?;
    let mut cx = Cx { file, errors: Vec::new(), warnings: Vec::new() };
    let Some((shape, containers)) = detect(&mut cx, &root) else {
        return Err(cx.errors);
    };
    let mut servers: Vec<ImportedServer> = Vec::new();
    let mut by_original: HashMap<String, Span> = HashMap::new();
    let mut by_name: HashMap<String, (Span, String)> = HashMap::new();
    for container in containers {
        let entries = match &container.node.value {
            Value::Map(entries) => entries.as_slice(),
            Value::Null => &[],
            _ => {
                cx.error(
                    Diagnostic::error(
                        "mcp-import-value",
                        format!(
                            "`{}` must be a map of server names to servers, not {}",
                            container.path,
                            container.node.type_name()
                        ),
                    )
                    .at(container.node.span.clone())
                    .with_help(format!("write it as `\"{}\": {{\"NAME\": {{\"command\": …}}}}`", container.path)),
                );
                continue;
            }
        };
        for (key, value) in entries {
            let original = key.key_text();
            if let Some(first) = by_original.get(&original) {
                // Claude Code repeats a server in several projects: the first one is kept.
                cx.warn(
                    Diagnostic::warning(
                        "mcp-import-duplicate",
                        format!("`{original}` is defined again; the first one is kept"),
                    )
                    .at(key.span.clone())
                    .with_related(first.clone(), "kept"),
                );
                continue;
            }
            by_original.insert(original.clone(), key.span.clone());
            let Some(server) = entry::read(&mut cx, shape, key, value) else { continue };
            if let Some((first, first_original)) = by_name.get(&server.name) {
                cx.error(
                    Diagnostic::error(
                        "mcp-import-name",
                        format!("`{original}` and `{first_original}` both become the plugin name `{}`", server.name),
                    )
                    .at(key.span.clone())
                    .with_related(first.clone(), "the other one")
                    .with_help("rename one of them: names are lowercased and `_`, `.` and spaces become `-`"),
                );
                continue;
            }
            by_name.insert(server.name.clone(), (key.span.clone(), original));
            servers.push(server);
        }
    }
    // In file order, whatever order the fields were read in.
    let at = |d: &Diagnostic| d.span.as_ref().map_or(0, |s| s.start);
    cx.errors.sort_by_key(at);
    cx.warnings.sort_by_key(at);
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    if servers.is_empty() && cx.warnings.is_empty() {
        cx.warn(Diagnostic::warning("mcp-import-empty", format!("`{}` holds no servers", shape.key())));
    }
    Ok(Imported { servers, warnings: cx.warnings, shape })
}

/// What the parse collects besides the servers.
struct Cx {
    file: Arc<SourceFile>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Cx {
    fn error(&mut self, d: Diagnostic) {
        self.errors.push(d.in_file(self.file.clone()));
    }
    fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d.in_file(self.file.clone()));
    }
}

/// A map of servers in the file, and how to name it in messages.
struct Container<'a> {
    node: &'a Node,
    path: String,
}

/// The shape of the file and the maps of servers it holds, or an error saying what is
/// accepted.
fn detect<'a>(cx: &mut Cx, root: &'a Node) -> Option<(Shape, Vec<Container<'a>>)> {
    let container = |node, path: &str| Container { node, path: path.to_string() };
    let found = match &root.value {
        Value::Map(_) => {
            let mut claude = Vec::new();
            if let Some(node) = root.get("mcpServers") {
                claude.push(container(node, "mcpServers"));
            }
            if let Some(Value::Map(projects)) = root.get("projects").map(|p| &p.value) {
                for (path, project) in projects {
                    if let Some(node) = project.get("mcpServers") {
                        claude.push(container(node, &format!("projects.{}.mcpServers", path.key_text())));
                    }
                }
            }
            let mcp = root.get("mcp").filter(|m| m.get("servers").is_some());
            if !claude.is_empty() {
                Some((Shape::ClaudeDesktop, claude))
            } else if let Some(node) = root.get("servers") {
                Some((Shape::VsCode, vec![container(node, "servers")]))
            } else if let Some(node) = root.get("context_servers") {
                Some((Shape::Zed, vec![container(node, "context_servers")]))
            } else if let Some(mcp) = mcp {
                let shape = if mcp.get("inputs").is_some() { Shape::VsCode } else { Shape::OpenClaw };
                mcp.get("servers").map(|node| (shape, vec![container(node, "mcp.servers")]))
            } else if let Some(node) = root.get("extensions") {
                Some((Shape::Goose, vec![container(node, "extensions")]))
            } else if is_bare(root) {
                Some((Shape::Bare, vec![container(root, "(top level)")]))
            } else {
                None
            }
        }
        _ => None,
    };
    if found.is_none() {
        cx.error(unrecognised(root));
    }
    found
}

/// Whether the root is itself a map of servers: every value a map, one at least with a
/// command or a URL.
fn is_bare(root: &Node) -> bool {
    let Value::Map(entries) = &root.value else { return false };
    let server = |n: &Node| ["command", "cmd", "url", "uri"].iter().any(|k| n.get(k).is_some());
    entries.iter().all(|(_, v)| matches!(v.value, Value::Map(_))) && entries.iter().any(|(_, v)| server(v))
}

fn unrecognised(root: &Node) -> Diagnostic {
    let accepted = "`mcpServers` (Claude Desktop, Claude Code, Cursor), `servers` (VS Code), `context_servers` (Zed), \
                    `mcp.servers` (OpenClaw), `extensions` (Goose), or a map of server names to servers";
    let d = Diagnostic::error("mcp-import-unrecognised", "no MCP servers found in this file")
        .with_expected(format!("a top-level key among {accepted}"));
    match &root.value {
        Value::Map(entries) => {
            let typo = entries.iter().find_map(|(k, _)| {
                syntax::suggest::help(&k.key_text(), TOP_KEYS.iter().copied()).map(|h| (k.span.clone(), h))
            });
            let single = root.get("command").or_else(|| root.get("url")).is_some();
            match typo {
                Some((span, help)) => d.at(span).with_help(help),
                None if single => d.at(root.span.clone()).with_help(
                    "this looks like one server: put it under a name, as in `{\"mcpServers\": {\"NAME\": {…}}}`",
                ),
                None => {
                    let keys: Vec<String> =
                        entries.iter().take(8).map(|(k, _)| format!("`{}`", k.key_text())).collect();
                    d.at(root.span.clone()).with_help(format!("the file's top-level keys are {}", keys.join(", ")))
                }
            }
        }
        Value::Null => d.with_help("the file is empty"),
        _ => d.at(root.span.clone()).with_help(format!("the file holds {}, not a map", root.type_name())),
    }
}

/// A parse error of a JSON file said in JSON's terms (the YAML front end speaks YAML).
fn syntax_error(mut d: Diagnostic, json: bool) -> Diagnostic {
    if json && let Some(rest) = d.message.strip_prefix("invalid YAML: ") {
        d.message = format!("invalid JSON: {rest}");
        d.help = Some("check the JSON syntax near this point (a missing comma, quote or bracket?)".into());
    }
    d
}
