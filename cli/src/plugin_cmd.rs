//! `pyra plugin …`: add, import, list, tools, review, enable, disable, setup, restart,
//! logs, doctor, rm. Installing and reviewing (which start servers) are in
//! `plugin_cmd/install.rs`; this file has the grammar and the commands that only read or
//! edit files.

mod install;

use std::io::IsTerminal;

use clap::Subcommand;
use config::fields::Field;
use mcp::builtin::{self, Builtin};
use mcp::lock::{Lock, Standing};
use mcp::manifest::{Decision, Manifest};
use mcp::policy::{self, Facts};
use serde_json::{Value, json};

use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::plugin_host;
use term::output;

pub const PLUGIN_HELP: &str = "\
A plugin lives in $PYRA_HOME/plugins/NAME/: plugin.yaml (what it is, how it starts, its
policy) and lock.json (the tools Pyra saw, pinned by hash, and what you approved).

  pyra plugin add time -- uvx mcp-server-time@2026.10.19
  pyra plugin add docs --url https://mcp.example.com/mcp --secret Authorization=plugin:docs:token
  pyra plugin add browser --preset playwright   # also fetch, git, filesystem, time, memory
  pyra plugin add mail --builtin email      # built in: email, nextcloud, websearch, ssh, server, docker, cloud
  pyra plugin import ~/.cursor/mcp.json     # Claude Desktop/Code, Cursor, VS Code, Zed, Goose, OpenClaw
  pyra plugin review time                   # approve new or changed tools
  pyra plugin tools time                    # descriptions, annotations, policy, token estimates

A skill calls a tool as a node (`uses: time.get_current_time`) or lists it for an agent
(`tools: [time.get_current_time, \"fs.*\"]`). A tool whose definition or launch command
changed since you approved it is blocked until `pyra plugin review` approves it again.";

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Add a plugin: `pyra plugin add NAME -- COMMAND ARGS…` (an MCP server on stdio),
    /// `--url URL` (streamable HTTP), `--preset ID` (a known MCP server, installed into the
    /// plugin's folder) or `--builtin ID` (built into Pyra).
    Add(install::AddArgs),
    /// Import the MCP servers of another client's config file (literal secrets move into
    /// the vault).
    Import(install::ImportArgs),
    /// Every plugin: state, protocol, tools approved / waiting for review.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A plugin's tools: standing, policy, annotations, a token estimate each.
    Tools {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Start the server, show what is new or changed (tools and launch command), approve.
    Review {
        name: String,
        /// Approve without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Offer the plugin's tools again.
    Enable { name: String },
    /// Stop offering the plugin's tools (approvals are kept).
    Disable { name: String },
    /// Ask for the secrets the manifest maps (`secrets:`) and store them in the vault; for
    /// a built-in plugin, first ask for each setting it declares (on a terminal), then for
    /// its declared secrets, mapping each one given under `secrets:`.
    Setup {
        name: String,
        /// Ask again for keys the vault already holds.
        #[arg(long)]
        force: bool,
        /// Set a built-in plugin's declared setting without asking (repeatable); secrets
        /// are never given here.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Stop the plugin's server in the daemon (and clear `broken`); the next call starts it.
    Restart { name: String },
    /// The plugin server's stderr (masked), as kept in plugins/NAME/stderr.log.
    Logs {
        name: String,
        /// Lines from the end.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
    },
    /// Start the plugin and report: manifest, command, protocol, tools, problems and fixes.
    Doctor { name: String },
    /// Print the JSON Schema of plugin.yaml (`schemas/plugin.schema.json`).
    Schema,
    /// Remove a plugin (its folder; vault keys are listed for `pyra vault rm`).
    Rm {
        name: String,
        #[arg(long)]
        yes: bool,
    },
}

pub fn run(home: &Home, command: PluginCommand) -> Result<u8, Failure> {
    match command {
        PluginCommand::Add(args) => install::add(home, args),
        PluginCommand::Import(args) => install::import(home, args),
        PluginCommand::List { json } => list(home, json),
        PluginCommand::Tools { name, json } => tools(home, &name, json),
        PluginCommand::Review { name, yes } => install::review(home, &name, yes),
        PluginCommand::Enable { name } => set_enabled(home, &name, true),
        PluginCommand::Disable { name } => set_enabled(home, &name, false),
        PluginCommand::Setup { name, force, set } => install::setup(home, &name, force, &set),
        PluginCommand::Restart { name } => install::restart(home, &name),
        PluginCommand::Logs { name, lines } => logs(home, &name, lines),
        PluginCommand::Doctor { name } => install::doctor(home, &name),
        PluginCommand::Rm { name, yes } => rm(home, &name, yes),
        PluginCommand::Schema => {
            output::out(&lang::schema::to_pretty(&mcp::manifest::schema()));
            Ok(exit::OK)
        }
    }
}

/// The plugin's folder, or a failure naming the installed ones.
pub(crate) fn existing(home: &Home, name: &str) -> Result<std::path::PathBuf, Failure> {
    let host = plugin_host::host(home);
    let dir = host.dir(name);
    if dir.join("plugin.yaml").is_file() {
        return Ok(dir);
    }
    let names = host.names();
    let known =
        if names.is_empty() { "none is installed".to_string() } else { format!("installed: {}", names.join(", ")) };
    Err(Failure::failed(format!("no plugin `{name}` ({known}); `pyra plugin add` installs one")))
}

/// Renders a broken manifest's diagnostics.
pub(crate) fn render(file: &syntax::source::SourceFile, diags: &[syntax::diag::Diagnostic]) -> String {
    let color = output::color_stderr();
    diags.iter().map(|d| d.render(file, color)).collect::<Vec<_>>().join("\n")
}

/// Whether a person at a terminal says yes.
pub(crate) fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    output::err(&format!("{question} [y/N] "));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}

fn counts(lock: &Lock) -> (usize, usize) {
    let approved = lock.tools.keys().filter(|t| lock.standing(t) == Some(Standing::Approved)).count();
    (approved, lock.tools.len() - approved)
}

fn list(home: &Home, json_out: bool) -> Result<u8, Failure> {
    let host = plugin_host::host(home);
    let mut rows = Vec::new();
    for name in host.names() {
        let lock = host.lock(&name).unwrap_or_default();
        let (approved, waiting) = counts(&lock);
        let (state, transport, problem) = match host.load(&name) {
            Ok(l) => {
                let m = l.manifest;
                let transport = match (&m.command, &m.url) {
                    (Some(c), _) => format!("stdio: {c} {}", m.args.join(" ")),
                    (_, Some(u)) => format!("http: {u}"),
                    _ => "builtin".into(),
                };
                (if m.enabled { "enabled" } else { "disabled" }, transport, None)
            }
            Err((file, diags)) => ("broken", String::new(), Some(render(&file, &diags))),
        };
        rows.push(json!({
            "name": name, "state": state, "transport": transport, "protocol": lock.protocol,
            "server": lock.server, "tools": lock.tools.len(), "approved": approved, "to_review": waiting,
            "removed": lock.removed.len(), "cold_start_ms": lock.cold_start_ms, "problem": problem,
        }));
    }
    if json_out {
        output::out(&format!("{}\n", Value::Array(rows)));
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        output::err("no plugins; `pyra plugin add NAME -- COMMAND…` or `pyra plugin import FILE` adds one\n");
        return Ok(exit::OK);
    }
    for r in &rows {
        let review = match r["to_review"].as_u64() {
            Some(0) | None => String::new(),
            Some(n) => format!(", {n} to review (`pyra plugin review {}`)", r["name"].as_str().unwrap_or("")),
        };
        output::out(&format!(
            "{}  {}  {}  {} tools, {} approved{review}{}\n",
            r["name"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or(""),
            r["transport"].as_str().unwrap_or(""),
            r["tools"],
            r["approved"],
            r["protocol"].as_str().map(|p| format!("; MCP {p}")).unwrap_or_default(),
        ));
        if let Some(p) = r["problem"].as_str() {
            output::err(&format!("{p}\n"));
        }
    }
    Ok(exit::OK)
}

/// About 4 characters per token for JSON-ish text: what a tool's definition costs in
/// every request that offers it.
pub(crate) fn token_estimate(definition: &Value) -> usize {
    definition.to_string().chars().count().div_ceil(4)
}

fn tools(home: &Home, name: &str, json_out: bool) -> Result<u8, Failure> {
    let dir = existing(home, name)?;
    let host = plugin_host::host(home);
    let lock = Lock::read(&dir).map_err(Failure::failed)?;
    let manifest = host.load(name).ok().map(|l| l.manifest);
    if lock.tools.is_empty() {
        output::err(&format!(
            "`{name}` has no tools recorded yet: `pyra plugin review {name}` starts it and lists them\n"
        ));
    }
    let mut rows = Vec::new();
    for (tool, pinned) in &lock.tools {
        let d = &pinned.definition;
        let read_only = d.pointer("/annotations/readOnlyHint").and_then(Value::as_bool).unwrap_or(false);
        let included = manifest.as_ref().is_none_or(|m| m.includes(tool));
        let policy = manifest
            .as_ref()
            .map(|m| policy::decide(&m.policy, tool, Facts { read_only_hint: read_only, untrusted: false }));
        let standing = lock.standing(tool).unwrap_or(Standing::New);
        rows.push(json!({
            "tool": format!("{name}.{tool}"),
            "standing": standing.label(),
            "included": included,
            "policy": policy.as_ref().map(|p| p.decision.as_str()),
            "policy_why": policy.as_ref().map(|p| p.why.clone()),
            "annotations": d.get("annotations"),
            "description": d.get("description"),
            "tokens": token_estimate(d),
            "diff": match &standing { Standing::Changed(diff) | Standing::LaunchChanged(diff) => Some(diff.clone()), _ => None },
        }));
    }
    if json_out {
        output::out(&format!("{}\n", Value::Array(rows)));
        return Ok(exit::OK);
    }
    let total: u64 = rows.iter().filter(|r| r["included"] == true).filter_map(|r| r["tokens"].as_u64()).sum();
    for r in &rows {
        let hints = r["annotations"]
            .as_object()
            .map(|a| {
                a.iter()
                    .filter(|(_, v)| v.as_bool() == Some(true))
                    .map(|(k, _)| k.trim_end_matches("Hint"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let first = r["description"].as_str().unwrap_or("").lines().next().unwrap_or("");
        let excluded = if r["included"] == true { "" } else { " (excluded by tools.include/exclude)" };
        output::out(&format!(
            "{}  [{}]  policy: {}  {}~{} tokens{excluded}\n    {}\n",
            r["tool"].as_str().unwrap_or(""),
            r["standing"].as_str().unwrap_or(""),
            r["policy"].as_str().unwrap_or("?"),
            if hints.is_empty() { String::new() } else { format!("hints: {hints}  ") },
            r["tokens"],
            runtime::secrets::process_masker().mask(first),
        ));
        if let Some(diff) = r["diff"].as_str() {
            output::out(&format!("{}\n", diff.lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")));
        }
    }
    output::out(&format!(
        "{} tools, ~{total} tokens for all the included ones in every request that offers them\n",
        rows.len()
    ));
    Ok(exit::OK)
}

/// Flips `enabled:` in plugin.yaml with a minimal edit (comments and order kept).
fn set_enabled(home: &Home, name: &str, on: bool) -> Result<u8, Failure> {
    let dir = existing(home, name)?;
    let path = dir.join("plugin.yaml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let line = if on { "enabled: true" } else { "enabled: false" };
    match lines.iter().position(|l| l.starts_with("enabled:")) {
        Some(i) => lines[i] = line.to_string(),
        None => lines.push(line.to_string()),
    }
    replace_manifest(&path, name, &format!("{}\n", lines.join("\n")))?;
    output::err(&format!("plugin `{name}` {}\n", if on { "enabled" } else { "disabled: its tools are not offered" }));
    Ok(exit::OK)
}

/// Replaces plugin.yaml with `new` if it loads (the same check as every load), atomically
/// and privately (0600); otherwise nothing changes.
pub(crate) fn replace_manifest(path: &std::path::Path, name: &str, new: &str) -> Result<(), Failure> {
    let file = syntax::source::SourceFile::new(format!("plugins/{name}/plugin.yaml"), new.to_string());
    let loaded = mcp::manifest::parse(file, Some(name)).map_err(|(file, diags)| {
        Failure::failed(format!("plugin.yaml would not be valid; nothing changed:\n{}", render(&file, &diags)))
    })?;
    // A built-in's settings must fit its declarations (kinds, choices, required ones).
    if let Some(b) = loaded.manifest.builtin.as_deref().and_then(builtin::find) {
        builtin::resolve_settings(&*b, name, &loaded.manifest.settings)
            .map_err(|why| Failure::failed(format!("{why}; nothing changed")))?;
    }
    crate::home::write_private(path, new.as_bytes()).map_err(|e| Failure::failed(e.to_string()))
}

/// Sets `section.key` (`settings.backend`, `secrets.api_key`) in plugin.yaml for each
/// edit, minimally (comments and order kept), checks the result and writes it.
pub(crate) fn edit_manifest(home: &Home, name: &str, edits: &[(&str, &str, String)]) -> Result<(), Failure> {
    if edits.is_empty() {
        return Ok(());
    }
    let path = existing(home, name)?.join("plugin.yaml");
    let mut text =
        std::fs::read_to_string(&path).map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
    for (section, key, value) in edits {
        text = config::edit_yaml(&text, &[section, key], Some(Value::String(value.clone())))
            .map_err(|e| Failure::failed(format!("plugins/{name}/plugin.yaml: {e}; nothing changed")))?;
    }
    replace_manifest(&path, name, &text)
}

/// Why `value` cannot be `field` of plugin `name` (its kind, its choices, a secret's
/// shape), said without repeating a secret-shaped value.
pub(crate) fn refused(name: &str, field: &Field, value: &str) -> Option<String> {
    if !security::redact::find_key_shaped(value).is_empty() {
        return Some(format!(
            "the value for `{}` looks like a secret, and settings are plain text in plugins/{name}/plugin.yaml; \
             a secret belongs in the vault",
            field.key
        ));
    }
    builtin::check_value(field, value).err().map(|why| format!("`{}: {}` {why}", field.key, builtin::shown(value)))
}

/// The settings of `pyra plugin setup NAME --set KEY=VALUE…`, checked against the
/// built-in's declarations; any problem is a usage error and nothing is written.
pub(crate) fn settings_from_args(
    name: &str,
    b: &dyn Builtin,
    sets: &[String],
) -> Result<Vec<(&'static str, String)>, Failure> {
    let mut out = Vec::new();
    for item in sets {
        let Some((key, value)) = item.split_once('=') else {
            return Err(Failure::usage(format!("`--set {item}`: give KEY=VALUE; nothing was written")));
        };
        let field =
            builtin::setting(b, name, key.trim()).map_err(|e| Failure::usage(format!("{e}; nothing was written")))?;
        if let Some(why) = refused(name, field, value) {
            return Err(Failure::usage(format!("plugin `{name}`: {why}; nothing was written")));
        }
        out.retain(|(k, _)| *k != field.key);
        out.push((field.key, value.to_string()));
    }
    Ok(out)
}

/// Asks for each declared setting on the terminal, in order, showing the current value
/// (or the default) and what it may be: Enter keeps it, a bad answer is explained and
/// asked again. Returns the changed ones.
pub(crate) fn ask_settings(m: &Manifest, b: &dyn Builtin) -> Result<Vec<(&'static str, String)>, Failure> {
    let mut out = Vec::new();
    for f in b.fields().iter().filter(|f| !f.kind.is_secret()) {
        let set = m.settings.get(f.key).map(String::as_str);
        let mut prompt = f.label.to_string();
        if !f.label.eq_ignore_ascii_case(f.key) {
            prompt.push_str(&format!(" ({})", f.key));
        }
        prompt.push_str(&format!(" — {}", f.description));
        if let Some(current) = set.or(f.default) {
            prompt.push_str(&format!(" [{}]", builtin::shown(current)));
        }
        if let Some(hint) = builtin::hint(f) {
            prompt.push_str(&format!(" ({hint})"));
        }
        loop {
            output::err(&format!("{prompt}: "));
            let mut line = String::new();
            let read = std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::failed(format!("cannot read the answer: {e}")))?;
            if read == 0 {
                return Err(Failure::usage("no answer (end of input); nothing was written"));
            }
            let answer = line.trim();
            if answer.is_empty() {
                break;
            }
            match refused(&m.name, f, answer) {
                Some(why) => output::err(&format!("  {why}; try again, or Enter to keep it\n")),
                None => {
                    if set != Some(answer) {
                        out.push((f.key, answer.to_string()));
                    }
                    break;
                }
            }
        }
    }
    Ok(out)
}

fn logs(home: &Home, name: &str, lines: usize) -> Result<u8, Failure> {
    let dir = existing(home, name)?;
    let mut text = String::new();
    for file in ["stderr.log.1", "stderr.log"] {
        if let Ok(t) = std::fs::read_to_string(dir.join(file)) {
            text.push_str(&t);
        }
    }
    if text.is_empty() {
        output::err(&format!("`{name}` has written nothing to stderr yet\n"));
        return Ok(exit::OK);
    }
    let all: Vec<&str> = text.lines().collect();
    let masker = runtime::secrets::process_masker();
    for line in &all[all.len().saturating_sub(lines)..] {
        output::out(&format!("{}\n", output::printable(&masker.mask(line))));
    }
    Ok(exit::OK)
}

fn rm(home: &Home, name: &str, yes: bool) -> Result<u8, Failure> {
    let dir = existing(home, name)?;
    let keys: Vec<String> = plugin_host::host(home)
        .load(name)
        .map(|l| l.manifest.secrets.values().map(|s| s.key().to_string()).collect())
        .unwrap_or_default();
    if !yes && !confirm(&format!("remove plugin `{name}` ({})?", dir.display())) {
        output::err("nothing removed (`--yes` removes without asking)\n");
        return Ok(exit::USAGE);
    }
    std::fs::remove_dir_all(&dir).map_err(|e| Failure::failed(format!("cannot remove {}: {e}", dir.display())))?;
    output::err(&format!("removed plugin `{name}`\n"));
    if !keys.is_empty() {
        output::err(&format!("its vault keys stay: {} (`pyra vault rm KEY`)\n", keys.join(", ")));
    }
    Ok(exit::OK)
}

/// `allow` for read-only tools? A line for the review screen.
pub(crate) fn decision_line(m: &mcp::manifest::Manifest, tool: &str, definition: &Value) -> String {
    let read_only = definition.pointer("/annotations/readOnlyHint").and_then(Value::as_bool).unwrap_or(false);
    let v = policy::decide(&m.policy, tool, Facts { read_only_hint: read_only, untrusted: false });
    let marker = match v.decision {
        Decision::Allow => "runs without asking",
        Decision::Ask => "asks before each call",
        Decision::Deny => "never runs",
    };
    format!("{marker} ({})", v.why)
}
