//! One server entry: the union of the keys the clients use, read into an
//! [`ImportedServer`], with an error for what cannot be imported and a warning for what is
//! left out.

use indexmap::IndexMap;
use syntax::Diagnostic;
use syntax::yaml::{Node, Value};

use super::values::{self, MAX_NAME};
use super::{Cx, EnvValue, ImportedServer, ImportedTransport, Shape};

/// Keys read from an entry.
const KNOWN: &[&str] = &[
    "command",
    "cmd",
    "args",
    "cwd",
    "workingDirectory",
    "env",
    "envs",
    "env_keys",
    "url",
    "uri",
    "headers",
    "type",
    "transport",
    "enabled",
    "disabled",
    "timeout",
    "connectionTimeoutMs",
    "requestTimeoutMs",
    "toolFilter",
    "available_tools",
];

/// Keys that only describe the entry, skipped without a word.
const COSMETIC: &[&str] = &["name", "display_name", "displayName", "description", "title", "bundled", "source", "icon"];

/// What each accepted `type`/`transport` means.
#[derive(Clone, Copy)]
enum Kind {
    Stdio,
    Http { legacy_sse: bool },
}

const TYPES: &str = "`stdio`, `http`, `streamable-http`, `streamable_http` or `sse`";

/// Reads one entry. `None` when it has errors (all reported) or is skipped (warned about).
pub(super) fn read(cx: &mut Cx, shape: Shape, key: &Node, value: &Node) -> Option<ImportedServer> {
    let original = key.key_text();
    let Value::Map(fields) = &value.value else {
        cx.error(
            Diagnostic::error(
                "mcp-import-value",
                format!("server `{original}` must be a map, not {}", value.type_name()),
            )
            .at(value.span.clone())
            .with_help("write its settings as `{\"command\": …, \"args\": […]}` or `{\"url\": …}`"),
        );
        return None;
    };
    let name = values::sanitise_name(&original);
    if name.is_empty() {
        cx.error(
            Diagnostic::error("mcp-import-name", format!("`{original}` gives no usable plugin name"))
                .at(key.span.clone())
                .with_label("no letter to start a name with")
                .with_help(format!(
                    "rename the key: plugin names start with a letter and use a-z, 0-9 and `-` (at most {MAX_NAME})"
                )),
        );
        return None;
    }
    let errors_before = cx.errors.len();
    let kind = kind(cx, value, &original)?;
    let mut server = ImportedServer {
        name,
        original_name: original.clone(),
        transport: ImportedTransport::Http { url: String::new(), legacy_sse: false },
        env: IndexMap::new(),
        headers: IndexMap::new(),
        enabled: true,
        timeout_ms: None,
        call_timeout_ms: None,
        include: Vec::new(),
        exclude: Vec::new(),
        span: key.span.clone(),
    };
    // Zed's older shape nests the process: `command: {path, args, env}`.
    let nested = get(value, "command").filter(|c| matches!(c.value, Value::Map(_)));
    let process = nested.unwrap_or(value);
    let command = get(value, "command").filter(|_| nested.is_none()).or_else(|| get(value, "cmd"));
    let command = command.or_else(|| nested.and_then(|n| get(n, "path")));
    let url = get(value, "url").or_else(|| get(value, "uri"));
    server.transport = match (command, url, kind) {
        (Some(c), Some(u), _) => {
            cx.error(
                Diagnostic::error("mcp-import-transport", format!("server `{original}` has both a command and a URL"))
                    .at(key.span.clone())
                    .with_related(c.span.clone(), "a local server")
                    .with_related(u.span.clone(), "a remote one")
                    .with_help("keep `command` for a server Pyra starts, or `url` for one it connects to"),
            );
            return None;
        }
        (Some(c), None, None | Some(Kind::Stdio)) => {
            // Each field reports its own error and the entry goes on, so all are seen.
            let command = text(cx, &original, "command", c).unwrap_or_default();
            let args = get(process, "args").and_then(|node| strings(cx, &original, "args", node)).unwrap_or_default();
            let cwd = get(value, "cwd").or_else(|| get(value, "workingDirectory"));
            let cwd = cwd.and_then(|node| text(cx, &original, "cwd", node));
            ImportedTransport::Stdio { command, args, cwd }
        }
        (None, Some(u), None | Some(Kind::Http { .. })) => {
            let legacy_sse = matches!(kind, Some(Kind::Http { legacy_sse: true }));
            let url = text(cx, &original, "url", u).unwrap_or_default();
            if !legacy_sse && kind.is_none() && url.trim_end_matches('/').ends_with("/sse") {
                cx.warn(
                    Diagnostic::warning("mcp-import-sse", format!("`{original}`'s URL looks like a legacy SSE endpoint"))
                        .at(u.span.clone())
                        .with_help("if the server speaks the old HTTP+SSE transport, set `\"type\": \"sse\"`; Pyra needs Streamable HTTP"),
                );
            }
            ImportedTransport::Http { url, legacy_sse }
        }
        (Some(c), None, Some(Kind::Http { .. })) | (None, Some(c), Some(Kind::Stdio)) => {
            cx.error(
                Diagnostic::error(
                    "mcp-import-transport",
                    format!("server `{original}`'s type does not match its settings"),
                )
                .at(c.span.clone())
                .with_help("a `stdio` server needs `command`, an `http` or `sse` one `url`"),
            );
            return None;
        }
        (None, None, _) => {
            let extension = get(value, "source").and_then(Node::as_str) == Some("extension");
            if shape == Shape::Zed && (extension || get(value, "settings").is_some()) {
                cx.warn(
                    Diagnostic::warning(
                        "mcp-import-skipped",
                        format!("`{original}` is provided by a Zed extension; skipped"),
                    )
                    .at(key.span.clone())
                    .with_help("Pyra cannot start Zed extensions: add the server's own command or URL instead"),
                );
                return None;
            }
            cx.error(
                Diagnostic::error("mcp-import-transport", format!("server `{original}` has neither `command` nor `url`"))
                    .at(key.span.clone())
                    .with_expected("`command` (Goose: `cmd`) with `args`, `env`, `cwd` for a local server, or `url` (Goose: `uri`) with `headers` for a remote one"),
            );
            return None;
        }
    };
    let mut launch: Vec<&Node> = command.into_iter().chain(url).collect();
    if let Some(Value::Seq(items)) = get(process, "args").map(|a| &a.value) {
        launch.extend(items);
    }
    launch.extend(get(value, "cwd").or_else(|| get(value, "workingDirectory")));
    check_launch(cx, &original, &launch);
    server.env = env_map(cx, &original, get(process, "env").or_else(|| get(value, "envs")));
    if let Some(keys) = get(value, "env_keys").and_then(|node| strings(cx, &original, "env_keys", node)) {
        for var in keys {
            server.env.entry(var).or_insert(EnvValue::AskUser);
        }
    }
    server.headers = env_map(cx, &original, get(value, "headers"));
    if let Some(enabled) = get(value, "enabled").and_then(|node| boolean(cx, &original, "enabled", node)) {
        server.enabled = enabled;
    }
    if let Some(disabled) = get(value, "disabled").and_then(|node| boolean(cx, &original, "disabled", node)) {
        server.enabled = !disabled;
    }
    server.timeout_ms = get(value, "connectionTimeoutMs").and_then(|n| number(cx, &original, "connectionTimeoutMs", n));
    server.call_timeout_ms = get(value, "requestTimeoutMs").and_then(|n| number(cx, &original, "requestTimeoutMs", n));
    if let Some(node) = get(value, "timeout")
        && let Some(n) = number(cx, &original, "timeout", node)
    {
        server.call_timeout_ms = Some(timeout(cx, shape, &original, node, n));
    }
    if let Some(filter) = get(value, "toolFilter") {
        for (field, list) in [("include", &mut server.include), ("exclude", &mut server.exclude)] {
            if let Some(node) = get(filter, field) {
                *list = strings(cx, &original, &format!("toolFilter.{field}"), node).unwrap_or_default();
            }
        }
    }
    if let Some(node) = get(value, "available_tools") {
        server.include = strings(cx, &original, "available_tools", node).unwrap_or_default();
    }
    unknown_keys(cx, &original, fields, nested);
    (cx.errors.len() == errors_before).then_some(server)
}

/// The value of `key` in a map, a `null` counting as absent (Goose writes `bundled: null`).
fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    node.get(key).filter(|v| v.value != Value::Null)
}

/// The entry's `type` (or `transport`), if it has one; `None` inside `Some` for no type.
/// Goose's built-in kinds are skipped with a warning (outer `None`).
fn kind(cx: &mut Cx, value: &Node, original: &str) -> Option<Option<Kind>> {
    let Some(node) = get(value, "type").or_else(|| get(value, "transport")) else { return Some(None) };
    let raw = text(cx, original, "type", node)?;
    match raw.to_ascii_lowercase().as_str() {
        "stdio" => Some(Some(Kind::Stdio)),
        "http" | "streamable-http" | "streamable_http" | "streamablehttp" => {
            Some(Some(Kind::Http { legacy_sse: false }))
        }
        "sse" => Some(Some(Kind::Http { legacy_sse: true })),
        "builtin" | "platform" | "frontend" | "inline_python" => {
            cx.warn(
                Diagnostic::warning(
                    "mcp-import-skipped",
                    format!("`{original}` is a Goose `{raw}` extension; skipped"),
                )
                .at(node.span.clone())
                .with_help("it runs inside Goose and is no MCP server Pyra can start"),
            );
            None
        }
        _ => {
            cx.error(
                Diagnostic::error("mcp-import-value", format!("server `{original}` has an unknown type `{raw}`"))
                    .at(node.span.clone())
                    .with_expected(TYPES),
            );
            None
        }
    }
}

/// `timeout` in milliseconds: Goose gives seconds; other clients seconds (Cline) or
/// milliseconds (Gemini CLI), told apart by size and said in a warning.
fn timeout(cx: &mut Cx, shape: Shape, original: &str, node: &Node, n: u64) -> u64 {
    if shape == Shape::Goose {
        return n.saturating_mul(1000);
    }
    let (ms, unit) = if n < 1000 { (n.saturating_mul(1000), "seconds") } else { (n, "milliseconds") };
    cx.warn(
        Diagnostic::warning("mcp-import-timeout", format!("`{original}`'s `timeout: {n}` is read as {unit} per call"))
            .at(node.span.clone())
            .with_help(format!("the plugin's call timeout is {ms} ms; change it in the manifest if that is wrong")),
    );
    ms
}

/// Warnings for the strings of the launch that Pyra cannot resolve, or that hold what
/// looks like a key (they are written into the manifest as they are).
fn check_launch(cx: &mut Cx, original: &str, nodes: &[&Node]) {
    for node in nodes {
        let Some(s) = node.as_str() else { continue };
        for r in values::normalise(s).1 {
            cx.warn(
                Diagnostic::warning(
                    "mcp-import-unresolved",
                    format!("`{original}` uses `{r}`, which Pyra cannot resolve"),
                )
                .at(node.span.clone())
                .with_help("replace it in the manifest with a value or an environment variable (`${env:NAME}`)"),
            );
        }
        if let Some((_, kind)) = security::redact::find_key_shaped(s).first() {
            cx.warn(
                Diagnostic::warning(
                    "mcp-import-secret",
                    format!("`{original}`'s launch holds what looks like a key ({kind})"),
                )
                .at(node.span.clone())
                .with_help(
                    "it would be written into the manifest: pass it through `env` instead, where it goes to the vault",
                ),
            );
        }
    }
}

/// Reads `env`/`envs`/`headers`: a map of names to strings (numbers and booleans taken as
/// their text).
fn env_map(cx: &mut Cx, original: &str, node: Option<&Node>) -> IndexMap<String, EnvValue> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    let entries = match &node.value {
        Value::Map(entries) => entries.as_slice(),
        Value::Null => &[],
        _ => {
            cx.error(
                Diagnostic::error(
                    "mcp-import-value",
                    format!("`{original}`'s environment or headers must be a map, not {}", node.type_name()),
                )
                .at(node.span.clone())
                .with_help("write it as `{\"NAME\": \"value\"}`"),
            );
            return out;
        }
    };
    for (k, v) in entries {
        let key = k.key_text();
        let raw = match &v.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                cx.error(
                    Diagnostic::error("mcp-import-value", format!("`{key}` must be a string, not {}", v.type_name()))
                        .at(v.span.clone())
                        .with_help("quote the value"),
                );
                continue;
            }
        };
        let (value, unresolved) = values::env_value(&key, &raw);
        for r in unresolved {
            cx.warn(
                Diagnostic::warning(
                    "mcp-import-unresolved",
                    format!("`{key}` of `{original}` uses `{r}`, which Pyra cannot resolve"),
                )
                .at(v.span.clone())
                .with_help("replace it in the manifest with a value or an environment variable (`${env:NAME}`)"),
            );
        }
        if let EnvValue::Template(t) = &value
            && let Some((_, kind)) = security::redact::find_key_shaped(t).first()
        {
            cx.warn(
                Diagnostic::warning(
                    "mcp-import-secret",
                    format!("`{key}` of `{original}` holds what looks like a key ({kind})"),
                )
                .at(v.span.clone())
                .with_help(
                    "it sits next to a reference and would be written into the manifest: move it into the vault",
                ),
            );
        }
        if value == EnvValue::AskUser && raw.contains("${input:") {
            cx.warn(
                Diagnostic::warning("mcp-import-input", format!("`{key}` of `{original}` is a VS Code input ({raw})"))
                    .at(v.span.clone())
                    .with_help("Pyra cannot read VS Code's inputs: it will be asked for when the plugin is set up, and kept in the vault"),
            );
        }
        out.insert(key, value);
    }
    out
}

fn unknown_keys(cx: &mut Cx, original: &str, fields: &[(Node, Node)], nested: Option<&Node>) {
    let nested_fields = match nested.map(|n| &n.value) {
        Some(Value::Map(fields)) => fields.as_slice(),
        _ => &[],
    };
    for (k, _) in fields.iter().chain(nested_fields) {
        let key = k.key_text();
        if KNOWN.contains(&key.as_str()) || COSMETIC.contains(&key.as_str()) || (key == "path" && nested.is_some()) {
            continue;
        }
        let (message, help) = match key.as_str() {
            "envFile" => (
                format!("`{original}`'s `envFile` is not read"),
                "add the variables it sets to the plugin's `env`".to_string(),
            ),
            "headersHelper" => (
                format!("`{original}`'s `headersHelper` is not imported"),
                "Pyra does not run a command for headers: put them (or their vault keys) in the manifest".to_string(),
            ),
            "alwaysAllow" | "autoApprove" => (
                format!("`{original}`'s `{key}` is not imported"),
                "approvals are set per tool in Pyra's tool policy".to_string(),
            ),
            "settings" => (
                format!("`{original}`'s `settings` are not imported"),
                "they configure a Zed extension; pass what the server needs through `args` or `env`".to_string(),
            ),
            _ => (
                format!("`{original}`'s `{key}` is not imported"),
                syntax::suggest::help(&key, KNOWN.iter().copied())
                    .unwrap_or_else(|| "Pyra does not use this setting; check the manifest it writes".into()),
            ),
        };
        cx.warn(Diagnostic::warning("mcp-import-unknown-key", message).at(k.span.clone()).with_help(help));
    }
}

fn text(cx: &mut Cx, original: &str, field: &str, node: &Node) -> Option<String> {
    match node.as_str() {
        Some(s) if s.trim().is_empty() && field != "cwd" => {
            cx.error(
                Diagnostic::error("mcp-import-value", format!("`{field}` of `{original}` is empty"))
                    .at(node.span.clone())
                    .with_help(if field == "url" { "give the server's endpoint" } else { "give the program to start" }),
            );
            None
        }
        Some(s) => Some(values::normalise(s).0),
        None => {
            cx.error(
                Diagnostic::error(
                    "mcp-import-value",
                    format!("`{field}` of `{original}` must be a string, not {}", node.type_name()),
                )
                .at(node.span.clone())
                .with_help("quote the value"),
            );
            None
        }
    }
}

fn strings(cx: &mut Cx, original: &str, field: &str, node: &Node) -> Option<Vec<String>> {
    let bad = |cx: &mut Cx, at: &Node, what: String| {
        cx.error(
            Diagnostic::error("mcp-import-value", format!("`{field}` of `{original}` must be a list of strings"))
                .at(at.span.clone())
                .with_label(what)
                .with_help(format!("write it as `\"{field}\": [\"--flag\", \"value\"]`, quoting numbers")),
        );
    };
    let Value::Seq(items) = &node.value else {
        bad(cx, node, format!("this is {}", node.type_name()));
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) => out.push(values::normalise(s).0),
            None => {
                bad(cx, item, format!("item {} is {}", i + 1, item.type_name()));
                return None;
            }
        }
    }
    Some(out)
}

fn boolean(cx: &mut Cx, original: &str, field: &str, node: &Node) -> Option<bool> {
    if let Value::Bool(b) = node.value {
        return Some(b);
    }
    cx.error(
        Diagnostic::error(
            "mcp-import-value",
            format!("`{field}` of `{original}` must be `true` or `false`, not {}", node.type_name()),
        )
        .at(node.span.clone()),
    );
    None
}

fn number(cx: &mut Cx, original: &str, field: &str, node: &Node) -> Option<u64> {
    if let Value::Number(n) = &node.value
        && let Some(n) = n.as_u64()
    {
        return Some(n);
    }
    cx.error(
        Diagnostic::error(
            "mcp-import-value",
            format!("`{field}` of `{original}` must be a whole number, not {}", node.type_name()),
        )
        .at(node.span.clone()),
    );
    None
}
