//! The plugin commands that start servers or write secrets: `add` (writes the manifest,
//! starts the server once with a generous timeout so `npx`/`uvx` fetch their package
//! now, not inside the first call's startup window), `import`, `review`, `setup`,
//! `restart` and `doctor`.

use std::io::IsTerminal;
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use clap::Args;
use config::fields::Kind;
use indexmap::IndexMap;
use mcp::import::{EnvValue, ImportedTransport};
use mcp::lock::{Lock, Standing};
use mcp::manifest::{Manifest, PluginKind, SecretRef};
use serde_json::Value;

use super::{confirm, decision_line, existing, render, token_estimate};
use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::plugin_host;
use term::output;

#[path = "presets.rs"]
mod presets;
#[path = "setup.rs"]
mod setup;

pub use setup::setup;

/// The first start of a freshly added server may download its package.
const INSTALL_STARTUP: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("with_settings").args(["builtin", "preset"])))]
pub struct AddArgs {
    /// The plugin's name: lowercase letters, digits, `-` (its tools are `NAME.TOOL`).
    pub name: String,
    /// A streamable HTTP server instead of a command.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// A plugin built into Pyra instead of a server (`websearch`).
    #[arg(long, value_name = "ID", conflicts_with = "url")]
    pub builtin: Option<String>,
    /// A known MCP server, installed into the plugin's folder with its shipped policy:
    /// `playwright` (a headless browser), `fetch`, `git`, `filesystem`, `time`, `memory`.
    #[arg(long, value_name = "ID", conflicts_with_all = ["url", "builtin"])]
    pub preset: Option<String>,
    /// With `--preset`: the server installed under DIR already (`node_modules/.bin/` or
    /// `venv/bin/`, as tests/peers/install-mcp-peers.sh lays out; also `PYRA_PRESET_FROM`)
    /// instead of installing it from the registry.
    #[arg(long, value_name = "DIR", requires = "preset")]
    pub preset_from: Option<std::path::PathBuf>,
    /// A built-in plugin's or a preset's setting (repeatable).
    #[arg(long = "setting", value_name = "KEY=VALUE", requires = "with_settings")]
    pub settings: Vec<String>,
    /// A plain environment variable for the server (repeatable).
    #[arg(long = "env", value_name = "VAR=VALUE")]
    pub env: Vec<String>,
    /// A plain HTTP header (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
    /// An environment variable or header whose value comes from the vault (repeatable).
    #[arg(long = "secret", value_name = "VAR=VAULT_KEY")]
    pub secrets: Vec<String>,
    /// Approve the tools it lists now without asking.
    #[arg(long)]
    pub yes: bool,
    /// Write the manifest without starting the server.
    #[arg(long)]
    pub no_start: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The other client's config file (JSON, JSONC or YAML).
    pub file: std::path::PathBuf,
    /// Import only these servers (by their name in the file or as a plugin).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
}

fn pairs(list: &[String], what: &str) -> Result<IndexMap<String, String>, Failure> {
    let mut out = IndexMap::new();
    for item in list {
        let (k, v) =
            item.split_once('=').ok_or_else(|| Failure::usage(format!("`{item}`: {what} are written NAME=VALUE")))?;
        out.insert(k.trim().to_string(), v.to_string());
    }
    Ok(out)
}

/// Writes a new plugin's folder (0700) and manifest (0600); refuses to overwrite.
fn write_manifest(home: &Home, m: &Manifest) -> Result<std::path::PathBuf, Failure> {
    let host = plugin_host::host(home);
    home.ensure_dir(&host.plugins_dir()).map_err(|e| Failure::failed(e.to_string()))?;
    let dir = host.dir(&m.name);
    if dir.join("plugin.yaml").exists() {
        return Err(Failure::failed(format!(
            "plugin `{}` exists already ({}); `pyra plugin rm {}` first, or edit its plugin.yaml",
            m.name,
            dir.display(),
            m.name
        )));
    }
    home.ensure_dir(&dir).map_err(|e| Failure::failed(e.to_string()))?;
    let text = m.to_yaml();
    let file = syntax::source::SourceFile::new(format!("plugins/{}/plugin.yaml", m.name), text.clone());
    if let Err((file, diags)) = mcp::manifest::parse(file, Some(&m.name)) {
        let _ = std::fs::remove_dir(&dir);
        return Err(Failure::failed(render(&file, &diags)));
    }
    crate::home::write_private(&dir.join("plugin.yaml"), text.as_bytes())
        .map_err(|e| Failure::failed(e.to_string()))?;
    Ok(dir)
}

fn blank(name: &str) -> Manifest {
    Manifest {
        name: name.to_string(),
        kind: PluginKind::Mcp,
        description: None,
        builtin: None,
        settings: IndexMap::new(),
        enabled: true,
        command: None,
        args: Vec::new(),
        cwd: None,
        env: IndexMap::new(),
        secrets: IndexMap::new(),
        inherit_env: None,
        url: None,
        headers: IndexMap::new(),
        timeouts: Default::default(),
        max_result_bytes: None,
        tools: Default::default(),
        policy: Default::default(),
    }
}

pub fn add(home: &Home, args: AddArgs) -> Result<u8, Failure> {
    if !mcp::manifest::valid_name(&args.name) {
        return Err(Failure::usage(format!(
            "`{}` is not a plugin name: lowercase letters, digits and `-`, starting with a letter (no dots: tools are NAME.TOOL)",
            args.name
        )));
    }
    if let Some(id) = args.preset.clone() {
        return presets::add(home, args, &id);
    }
    let mut m = blank(&args.name);
    if let Some(id) = &args.builtin {
        if !args.command.is_empty() {
            return Err(Failure::usage("give `--builtin ID` or `-- COMMAND ARGS…`, not both"));
        }
        m.kind = PluginKind::Builtin;
        m.builtin = Some(id.clone());
        m.settings = pairs(&args.settings, "settings")?;
        // The built-in's shipped policy, written out for the user to read and change.
        if let Some(b) = mcp::builtin::find(id) {
            m.policy.tools = b.policy().iter().map(|(tool, d)| (tool.to_string(), *d)).collect();
        }
    }
    match (&args.url, args.command.split_first()) {
        _ if args.builtin.is_some() => {}
        (Some(url), None) => m.url = Some(url.clone()),
        (None, Some((command, rest))) => {
            m.command = Some(command.clone());
            m.args = rest.to_vec();
        }
        (Some(_), Some(_)) => return Err(Failure::usage("give `--url URL` or `-- COMMAND ARGS…`, not both")),
        (None, None) => {
            return Err(Failure::usage(format!(
                "what does `{}` start? `pyra plugin add {} -- COMMAND ARGS…` or `--url URL`",
                args.name, args.name
            )));
        }
    }
    m.env = pairs(&args.env, "environment variables")?;
    m.headers = pairs(&args.headers, "headers")?;
    m.secrets = pairs(&args.secrets, "secrets")?.into_iter().map(|(k, v)| (k, SecretRef::Key(v))).collect();
    write_manifest(home, &m)?;
    output::err(&format!("wrote plugins/{}/plugin.yaml\n", m.name));
    if args.no_start {
        output::err(&format!(
            "`pyra plugin review {}` starts it, lists its tools and asks you to approve them\n",
            m.name
        ));
        return Ok(exit::OK);
    }
    review_with(home, &m.name, args.yes, Some(INSTALL_STARTUP))
}

pub fn import(home: &Home, args: ImportArgs) -> Result<u8, Failure> {
    let display = args.file.display().to_string();
    let text =
        std::fs::read_to_string(&args.file).map_err(|e| Failure::failed(format!("cannot read {display}: {e}")))?;
    let imported = mcp::import::parse(&text, &display).map_err(|diags| {
        let file = syntax::source::SourceFile::new(display.clone(), text.clone());
        Failure::failed(render(&file, &diags))
    })?;
    let file = syntax::source::SourceFile::new(display.clone(), text.clone());
    for w in &imported.warnings {
        output::err(&format!("{}\n", w.render(&file, output::color_stderr())));
    }
    output::err(&format!("{display}: {} server(s) in `{}`\n", imported.servers.len(), imported.shape.key()));
    let mut secrets_to_store: Vec<(String, SecretString)> = Vec::new();
    let mut made = Vec::new();
    let mut ask_later = Vec::new();
    for server in &imported.servers {
        if !args.only.is_empty() && !args.only.iter().any(|o| *o == server.name || *o == server.original_name) {
            continue;
        }
        let mut m = blank(&server.name);
        m.enabled = server.enabled;
        match &server.transport {
            ImportedTransport::Stdio { command, args, cwd } => {
                m.command = Some(command.clone());
                m.args = args.clone();
                m.cwd = cwd.clone();
            }
            ImportedTransport::Http { url, legacy_sse: true } => {
                output::err(&format!(
                    "skipped `{}`: {url} uses the HTTP+SSE transport, deprecated since MCP 2025-03-26; \
                     most servers also serve streamable HTTP (often at /mcp): `pyra plugin add {} --url URL`\n",
                    server.original_name, server.name
                ));
                continue;
            }
            ImportedTransport::Http { url, .. } => m.url = Some(url.clone()),
        }
        for (field, values) in [("env", &server.env), ("headers", &server.headers)] {
            for (k, v) in values {
                let vault_key = format!("plugin:{}:{k}", server.name);
                let plain = match v {
                    EnvValue::Plain(p) => Some(p.clone()),
                    EnvValue::FromEnv { var, .. } => Some(format!("${{env:{var}}}")),
                    EnvValue::Template(t) => Some(t.clone()),
                    EnvValue::Secret(s) => {
                        secrets_to_store.push((vault_key.clone(), SecretString::from(s.clone())));
                        m.secrets.insert(k.clone(), SecretRef::Key(vault_key));
                        None
                    }
                    EnvValue::AskUser => {
                        ask_later.push(server.name.clone());
                        m.secrets.insert(k.clone(), SecretRef::Key(vault_key));
                        None
                    }
                };
                if let Some(p) = plain {
                    if field == "env" {
                        m.env.insert(k.clone(), p)
                    } else {
                        m.headers.insert(k.clone(), p)
                    };
                }
            }
        }
        if let Some(ms) = server.timeout_ms {
            m.timeouts.startup = Some(format!("{ms}ms"));
        }
        if let Some(ms) = server.call_timeout_ms {
            m.timeouts.call = Some(format!("{ms}ms"));
            m.timeouts.max_call = Some(format!("{}ms", ms.max(600_000)));
        }
        if !server.include.is_empty() {
            m.tools.include = server.include.clone();
        }
        m.tools.exclude = server.exclude.clone();
        made.push(m);
    }
    if !secrets_to_store.is_empty() {
        store_secrets(home, &secrets_to_store)?;
    }
    let mut written = 0;
    for m in &made {
        match write_manifest(home, m) {
            Ok(_) => {
                written += 1;
                output::err(&format!("added plugin `{}` (plugins/{}/plugin.yaml)\n", m.name, m.name));
            }
            Err(f) => output::err(&format!("skipped `{}`: {}\n", m.name, f.message)),
        }
    }
    for name in ask_later {
        output::err(&format!("`{name}` needs values you give at setup: `pyra plugin setup {name}`\n"));
    }
    if written > 0 {
        output::err("next: `pyra plugin review NAME` starts each, lists its tools and asks you to approve them\n");
    }
    Ok(if written == made.len() { exit::OK } else { exit::INVALID })
}

/// Stores values in the vault (unlocking it), each access in the security log.
fn store_secrets(home: &Home, values: &[(String, SecretString)]) -> Result<(), Failure> {
    let vault = vault::Vault::new(&home.root);
    let log = security::audit::SecurityLog::new(&home.root);
    let unlock = crate::vault_cmd::unlock(&vault, None)?;
    let result = vault.update(&unlock, |v| {
        for (key, value) in values {
            v.set(key, value.clone());
        }
        Ok(())
    });
    for (key, _) in values {
        crate::vault_cmd::audit(&log, "vault.set", Some(key), &result);
    }
    result.map_err(crate::vault_cmd::vault_failure)?;
    let names: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    output::err(&format!("moved {} secret value(s) into the vault: {}\n", values.len(), names.join(", ")));
    Ok(())
}

/// Reads a secret for a server started from the CLI: the daemon's agent or the vault.
fn cli_secret(home: &Home) -> impl Fn(&str) -> Result<String, String> + Sync + use<> {
    let source = std::sync::Mutex::new(crate::vault_cmd::VaultSource::new(
        home,
        std::sync::Arc::new(crate::progress::Progress::new(false, true)),
    ));
    move |key: &str| {
        use runtime::secrets::SecretSource;
        let value = source.lock().unwrap_or_else(|e| e.into_inner()).get(key)?;
        runtime::secrets::process_masker().add(key, value.expose_secret());
        Ok(value.expose_secret().to_string())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

pub fn review(home: &Home, name: &str, yes: bool) -> Result<u8, Failure> {
    review_with(home, name, yes, None)
}

fn review_with(home: &Home, name: &str, yes: bool, startup: Option<Duration>) -> Result<u8, Failure> {
    let dir = existing(home, name)?;
    let host = plugin_host::host(home);
    let mut m = host.load(name).map_err(|(f, d)| Failure::failed(render(&f, &d)))?.manifest;
    if let Some(s) = startup {
        m.timeouts.startup = Some(syntax::duration::format(s));
    }
    let (protocol, server, cold) = if m.kind == PluginKind::Builtin {
        let b = host.refresh_builtin(&m).map_err(Failure::failed)?;
        ("builtin".to_string(), format!("the built-in `{}`", b.id()), Duration::ZERO)
    } else {
        let secret = cli_secret(home);
        let rt = runtime();
        let started = rt.block_on(async {
            let r = host.start(&m, &secret).await;
            if let Ok(conn) = &r {
                conn.stop().await;
            }
            r.map(|c| (c.protocol.clone(), c.server.clone(), c.cold_start))
        });
        started.map_err(Failure::failed)?
    };
    let mut lock = Lock::read(&dir).map_err(Failure::failed)?;
    output::err(&format!(
        "`{name}`: {server} speaks MCP {protocol}; started in {} ms; {} tools\n",
        cold.as_millis(),
        lock.tools.len()
    ));
    let launch_new = lock.launch.approved.as_ref().is_none_or(|a| a.hash != lock.launch.hash);
    if launch_new {
        output::out(&format!("launch: {}\n", serde_json::to_string_pretty(&lock.launch.spec).unwrap_or_default()));
        if let Some(a) = &lock.launch.approved {
            output::out(&format!("changed since approved:\n{}\n", mcp::lock::diff(&a.definition, &lock.launch.spec)));
        }
    }
    let mut pending = Vec::new();
    for (tool, pinned) in &lock.tools {
        let standing = lock.standing(tool).unwrap_or(Standing::New);
        if standing == Standing::Approved {
            continue;
        }
        let d = &pinned.definition;
        output::out(&format!(
            "\n{name}.{tool}  [{}]  ~{} tokens; {}\n  {}\n  annotations: {}\n",
            standing.label(),
            token_estimate(d),
            decision_line(&m, tool, d),
            d.get("description").and_then(Value::as_str).unwrap_or("(no description)").replace('\n', "\n  "),
            d.get("annotations").map(Value::to_string).unwrap_or_else(|| "none".into()),
        ));
        if let Standing::Changed(diff) = &standing {
            output::out(&format!(
                "  changed since approved:\n{}\n",
                diff.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
            ));
        }
        pending.push(tool.clone());
    }
    for name_removed in lock.removed.keys() {
        output::out(&format!("\n{name}.{name_removed}  [removed by the server]\n"));
    }
    if pending.is_empty() && !launch_new {
        output::err("nothing to review: every tool is approved\n");
        return Ok(exit::OK);
    }
    if !yes && !confirm(&format!("approve the launch command and these {} tool(s)?", pending.len())) {
        output::err(&format!(
            "nothing approved; the tools stay blocked (`pyra plugin review {name} --yes` approves)\n"
        ));
        return Ok(exit::WAITING);
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let done = lock.approve(None, &now);
    lock.write(&dir).map_err(Failure::failed)?;
    output::err(&format!("approved {} tool(s) of `{name}`\n", done.len()));
    let loaded = host.load(name).map_err(|(f, d)| Failure::failed(render(&f, &d)))?;
    let tools: Vec<&str> = lock.tools.keys().map(String::as_str).collect();
    let problems = mcp::manifest::check_policy_names(&loaded, &tools);
    if !problems.is_empty() {
        output::err(&format!("{}\n", render(&loaded.file, &problems)));
        return Ok(exit::INVALID);
    }
    Ok(exit::OK)
}

pub fn restart(home: &Home, name: &str) -> Result<u8, Failure> {
    existing(home, name)?;
    match crate::daemon_client::ask(home, "plugin.restart", serde_json::json!({ "name": name })) {
        Ok(reply) => {
            let was = reply["was_running"] == true;
            output::err(&format!(
                "{}; the next call starts it again\n",
                if was {
                    format!("stopped `{name}` in the daemon")
                } else {
                    format!("`{name}` was not running in the daemon")
                }
            ));
            Ok(exit::OK)
        }
        Err(crate::daemon_client::AskError::NotRunning) => {
            output::err(&format!("no daemon runs; `{name}` starts with the next run that calls it\n"));
            Ok(exit::OK)
        }
        Err(e) => Err(e.into_failure()),
    }
}

pub fn doctor(home: &Home, name: &str) -> Result<u8, Failure> {
    let dir = existing(home, name)?;
    let host = plugin_host::host(home);
    let loaded = match host.load(name) {
        Ok(l) => l,
        Err((file, diags)) => {
            output::err(&format!("manifest: {} problem(s)\n{}\n", diags.len(), render(&file, &diags)));
            return Ok(exit::INVALID);
        }
    };
    output::err("manifest: valid\n");
    let m = &loaded.manifest;
    let mut problems = 0;
    if !m.enabled {
        output::err(&format!("note: the plugin is disabled (`pyra plugin enable {name}`)\n"));
    }
    if m.kind == PluginKind::Builtin {
        return doctor_builtin(home, name, &loaded);
    }
    let secret = cli_secret(home);
    let rt = runtime();
    let outcome = rt.block_on(async {
        let r = host.start(m, &secret).await;
        if let Ok(conn) = &r {
            let tail = conn.tail.for_error();
            conn.stop().await;
            return Ok((conn.protocol.clone(), conn.server.clone(), conn.cold_start, tail));
        }
        r.map(|_| unreachable_tuple())
    });
    match outcome {
        Ok((protocol, server, cold, tail)) => {
            let era = if protocol == "2026-07-28" { "stateless, server/discover" } else { "the initialize handshake" };
            output::err(&format!("server: {server}; MCP {protocol} ({era}); started in {} ms\n", cold.as_millis()));
            if !tail.is_empty() {
                output::err(&format!("stderr at start:{tail}\n"));
            }
        }
        Err(why) => {
            output::err(&format!("start: failed\n  {why}\n"));
            return Ok(exit::INVALID);
        }
    }
    let lock = Lock::read(&dir).map_err(Failure::failed)?;
    let blocked: Vec<String> =
        lock.tools.keys().filter(|t| lock.standing(t) != Some(Standing::Approved)).cloned().collect();
    output::err(&format!("tools: {} listed, {} approved\n", lock.tools.len(), lock.tools.len() - blocked.len()));
    if !blocked.is_empty() {
        problems += 1;
        output::err(&format!(
            "problem: {} tool(s) are blocked until reviewed: {} — fix: `pyra plugin review {name}`\n",
            blocked.len(),
            blocked.join(", ")
        ));
    }
    let tools: Vec<&str> = lock.tools.keys().map(String::as_str).collect();
    let policy = mcp::manifest::check_policy_names(&loaded, &tools);
    if !policy.is_empty() {
        problems += policy.len();
        output::err(&format!("{}\n", render(&loaded.file, &policy)));
    }
    if m.args.iter().any(|a| a.ends_with("@latest"))
        || (m.command.as_deref() == Some("npx")
            && !m.args.iter().any(|a| a.contains('@') && !a.starts_with('@') || a.matches('@').count() > 1))
    {
        output::err(
            "note: the package version is not pinned (`pkg@1.2.3`): an update could change the server under you\n",
        );
    }
    if problems == 0 {
        output::err("no problems found\n");
        Ok(exit::OK)
    } else {
        Ok(exit::INVALID)
    }
}

/// `doctor` of a built-in: its settings and secrets, its tools and their standing.
fn doctor_builtin(home: &Home, name: &str, loaded: &mcp::manifest::Loaded) -> Result<u8, Failure> {
    let m = &loaded.manifest;
    let host = plugin_host::host(home);
    let b = host.refresh_builtin(m).map_err(Failure::failed)?;
    output::err(&format!("built-in: `{}` — {}\n", b.id(), b.description()));
    let mut problems = 0;
    for f in b.fields() {
        let state = if f.kind.is_secret() {
            match m.secrets.get(f.key) {
                Some(r) => format!("from the vault key `{}`", r.key()),
                None => format!("not mapped (`pyra plugin setup {name}` asks for it)"),
            }
        } else {
            match (m.settings.get(f.key), f.default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => format!("{d} (the default)"),
                (None, None) => "not set".into(),
            }
        };
        let kind = match (f.kind, mcp::builtin::hint(f)) {
            (Kind::Choice(_) | Kind::Integer { .. } | Kind::Number { .. }, Some(h)) => {
                format!("{}: {h}", f.kind.word())
            }
            _ => f.kind.word().to_string(),
        };
        output::err(&format!("  {} ({}, {kind}): {state} — {}\n", f.label, f.key, f.description));
    }
    let lock = Lock::read(&host.dir(name)).map_err(Failure::failed)?;
    let blocked: Vec<String> =
        lock.tools.keys().filter(|t| lock.standing(t) != Some(Standing::Approved)).cloned().collect();
    output::err(&format!("tools: {} listed, {} approved\n", lock.tools.len(), lock.tools.len() - blocked.len()));
    if !blocked.is_empty() {
        problems += 1;
        output::err(&format!(
            "problem: blocked until reviewed: {} — fix: `pyra plugin review {name}`\n",
            blocked.join(", ")
        ));
    }
    let tools: Vec<&str> = lock.tools.keys().map(String::as_str).collect();
    let policy = mcp::manifest::check_policy_names(loaded, &tools);
    if !policy.is_empty() {
        problems += policy.len();
        output::err(&format!("{}\n", render(&loaded.file, &policy)));
    }
    if problems == 0 {
        output::err("no problems found\n");
        Ok(exit::OK)
    } else {
        Ok(exit::INVALID)
    }
}

fn unreachable_tuple() -> (String, String, Duration, String) {
    (String::new(), String::new(), Duration::ZERO, String::new())
}
