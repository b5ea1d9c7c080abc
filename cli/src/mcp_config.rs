//! `pyra mcp config --client NAME`: the snippet that adds Pyra to an MCP client's
//! configuration, on stdout (where to paste it on stderr). The stdio form launches this
//! very binary (`std::env::current_exe`) with `mcp serve`, `PYRA_HOME` set when it is set
//! here or the home is not the default one; `--http` gives the daemon's streamable HTTP
//! endpoint instead, with its bearer token (`$PYRA_HOME/run/mcp.token`), for the clients
//! that take one.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use term::output;

use crate::failure::{Failure, exit};
use crate::home::Home;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Client {
    #[value(alias = "claude")]
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
    #[value(alias = "vs-code")]
    Vscode,
    Zed,
    Goose,
    Openclaw,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The client to configure.
    #[arg(long, value_enum)]
    client: Client,
    /// The daemon's HTTP endpoint instead of a server the client launches (the daemon must
    /// serve it: `mcp.serve.http` in config.yaml).
    #[arg(long)]
    http: bool,
    /// Expose only this skill to this client (repeatable), as `pyra mcp serve --skill`.
    #[arg(long = "skill", value_name = "NAME")]
    skills: Vec<String>,
}

/// The daemon's endpoint, when it serves one: its URL and token.
struct Endpoint {
    url: String,
    token: String,
}

fn endpoint(home: &Home) -> Option<Endpoint> {
    crate::daemon_client::running(home)?;
    let run = home.root.join("run");
    let addr = std::fs::read_to_string(run.join(serve::ADDR_FILE)).ok()?;
    let token = std::fs::read_to_string(run.join(serve::TOKEN_FILE)).ok()?;
    let (addr, token) = (addr.trim(), token.trim());
    (!addr.is_empty() && !token.is_empty())
        .then(|| Endpoint { url: format!("http://{addr}{}", serve::HTTP_PATH), token: token.to_string() })
}

/// Whether the home is the one `pyra` finds without being told.
fn is_default_home(home: &Home) -> bool {
    std::env::var_os("HOME").is_some_and(|h| PathBuf::from(h).join(".pyra") == home.root)
}

pub fn print(home: &Home, args: ConfigArgs) -> Result<u8, Failure> {
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::failed(format!("cannot find this program's path: {e}")))?;
    let mut env = Map::new();
    if std::env::var_os("PYRA_HOME").is_some() || !is_default_home(home) {
        let root = std::path::absolute(&home.root).unwrap_or_else(|_| home.root.clone());
        env.insert("PYRA_HOME".into(), Value::String(root.display().to_string()));
    }
    let mut serve_args = vec![json!("mcp"), json!("serve")];
    for skill in &args.skills {
        serve_args.extend([json!("--skill"), json!(skill)]);
    }
    let live = endpoint(home);
    let (text, note) = if args.http {
        let Some(live) = live else {
            return Err(Failure::failed(
                "the daemon serves no MCP endpoint: add `mcp: { serve: { http: { listen: 127.0.0.1:8788 } } }` to \
                 config.yaml and start it (`pyra daemon start`), or leave out --http for a server the client launches",
            ));
        };
        if !args.skills.is_empty() {
            return Err(Failure::usage(
                "--skill applies to a server the client launches; the daemon's endpoint \
                 exposes what config.yaml lists",
            ));
        }
        http_snippet(args.client, &live)?
    } else {
        stdio_snippet(args.client, &exe.display().to_string(), serve_args, env)
    };
    output::out(&text);
    output::err(&format!("{note}\n"));
    if !args.http
        && let Some(live) = endpoint(home)
        && args.client != Client::ClaudeDesktop
    {
        output::err(&format!(
            "the daemon also serves MCP at {} (`pyra mcp config --client {} --http` prints that form)\n",
            live.url,
            args.client.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
        ));
    }
    Ok(exit::OK)
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// A JSON string, which YAML reads as a double-quoted scalar.
fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn stdio_snippet(client: Client, exe: &str, args: Vec<Value>, env: Map<String, Value>) -> (String, String) {
    let plain = json!({ "command": exe, "args": args, "env": env });
    let typed = json!({ "type": "stdio", "command": exe, "args": args, "env": env });
    match client {
        Client::ClaudeDesktop => (
            pretty(&json!({ "mcpServers": { "pyra": plain } })),
            "paste under `mcpServers` in claude_desktop_config.json (Claude Desktop: Settings → Developer → Edit \
             Config; ~/.config/Claude/ on Linux, ~/Library/Application Support/Claude/ on macOS), then restart it"
                .into(),
        ),
        Client::ClaudeCode => (
            pretty(&json!({ "mcpServers": { "pyra": typed } })),
            format!(
                "paste into the project's .mcp.json (or ~/.claude.json), or run: claude mcp add-json pyra '{}'",
                serde_json::to_string(&typed).unwrap_or_default()
            ),
        ),
        Client::Cursor => (
            pretty(&json!({ "mcpServers": { "pyra": plain } })),
            "paste under `mcpServers` in ~/.cursor/mcp.json (or the project's .cursor/mcp.json)".into(),
        ),
        Client::Vscode => (
            pretty(&json!({ "servers": { "pyra": typed } })),
            "paste under `servers` in .vscode/mcp.json (or the user mcp.json: `MCP: Open User Configuration`)".into(),
        ),
        Client::Zed => (
            pretty(&json!({ "context_servers": { "pyra": plain } })),
            "paste under `context_servers` in Zed's settings.json (~/.config/zed/settings.json)".into(),
        ),
        Client::Openclaw => (
            pretty(&json!({ "mcp": { "servers": { "pyra": plain } } })),
            "paste under `mcp.servers` in OpenClaw's configuration".into(),
        ),
        Client::Goose => {
            let args: Vec<String> = args.iter().filter_map(Value::as_str).map(quoted).collect();
            let envs: Vec<String> =
                env.iter().map(|(k, v)| format!("{}: {}", quoted(k), quoted(v.as_str().unwrap_or("")))).collect();
            let text = format!(
                "extensions:\n  pyra:\n    name: pyra\n    enabled: true\n    type: stdio\n    cmd: {}\n    args: [{}]\n    \
                 envs: {{{}}}\n    timeout: 600\n",
                quoted(exe),
                args.join(", "),
                envs.join(", ")
            );
            (text, "paste under `extensions` in ~/.config/goose/config.yaml".into())
        }
    }
}

fn http_snippet(client: Client, live: &Endpoint) -> Result<(String, String), Failure> {
    let bearer = format!("Bearer {}", live.token);
    let headers = json!({ "Authorization": bearer });
    let plain = json!({ "url": live.url, "headers": headers });
    let typed = json!({ "type": "http", "url": live.url, "headers": headers });
    let secret = "it holds the daemon's token (`$PYRA_HOME/run/mcp.token`): keep the file private";
    Ok(match client {
        Client::ClaudeDesktop => {
            return Err(Failure::usage(
                "Claude Desktop's config file takes servers it launches only; leave out --http",
            ));
        }
        Client::ClaudeCode => (
            pretty(&json!({ "mcpServers": { "pyra": typed } })),
            format!("paste into .mcp.json (or `claude mcp add-json pyra '…'`); {secret}"),
        ),
        Client::Cursor => {
            (pretty(&json!({ "mcpServers": { "pyra": plain } })), format!("paste into ~/.cursor/mcp.json; {secret}"))
        }
        Client::Vscode => {
            (pretty(&json!({ "servers": { "pyra": typed } })), format!("paste into .vscode/mcp.json; {secret}"))
        }
        Client::Zed => (
            pretty(&json!({ "context_servers": { "pyra": plain } })),
            format!("paste into Zed's settings.json; {secret}"),
        ),
        Client::Openclaw => {
            let entry = json!({ "url": live.url, "transport": "streamable-http", "headers": headers });
            (
                pretty(&json!({ "mcp": { "servers": { "pyra": entry } } })),
                format!("paste under `mcp.servers`; {secret}"),
            )
        }
        Client::Goose => (
            format!(
                "extensions:\n  pyra:\n    name: pyra\n    enabled: true\n    type: streamable_http\n    uri: {}\n    \
                 headers: {{\"Authorization\": {}}}\n    timeout: 600\n",
                quoted(&live.url),
                quoted(&bearer)
            ),
            format!("paste under `extensions` in ~/.config/goose/config.yaml; {secret}"),
        ),
    })
}
