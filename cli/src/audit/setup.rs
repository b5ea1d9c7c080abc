//! How Pyra is set up: plugins whose launch or tools changed since they were approved,
//! launch commands that fetch whatever version is newest, servers given the whole
//! environment, tools that run without asking though they may write; `config.yaml` read
//! as written (not through its validation, which would refuse the very values looked for)
//! for listeners beyond loopback and channels that let in more than listed people; a vault
//! sealed without a passphrase.

use std::net::SocketAddr;

use mcp::lock::{Lock, Standing};
use mcp::manifest::{Decision, Manifest};
use serde_json::Value;

use super::{Finding, Report, Severity};
use crate::home::Home;

pub fn check(home: &Home, report: &mut Report) {
    plugins(home, report);
    config(home, report);
    let status = vault::Vault::new(&home.root).status();
    if status.exists && status.unlocked_by == Some("identity") {
        report.add(
            Finding::new(
                Severity::Medium,
                "config",
                "vault/vault.age",
                "the vault is sealed by an identity file, not a passphrase: whoever can read that file reads every secret",
            )
            .fix("keep the identity file off this machine (a hardware key, a password manager), or `pyra vault rotate` to a passphrase"),
        );
    }
}

fn plugins(home: &Home, report: &mut Report) {
    let host = crate::plugin_host::host(home);
    for name in host.names() {
        let location = format!("plugins/{name}/plugin.yaml");
        let Ok(loaded) = host.load(&name) else { continue };
        let m = loaded.manifest;
        let lock = host.lock(&name).unwrap_or_default();
        launch(&host, &m, &lock, &location, report);
        for (tool, definition) in &lock.tools {
            match lock.standing(tool) {
                Some(Standing::Changed(diff)) => report.add(
                    Finding::new(
                        Severity::Medium,
                        "plugin",
                        &location,
                        format!("tool `{name}.{tool}` changed since it was approved:\n{diff}"),
                    )
                    .fix(format!("`pyra plugin review {name}`: read the change; it stays blocked until approved")),
                ),
                Some(Standing::Approved) => {
                    let read_only = definition
                        .definition
                        .pointer("/annotations/readOnlyHint")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let verdict = mcp::policy::decide(
                        &m.policy,
                        tool,
                        mcp::policy::Facts { read_only_hint: read_only, untrusted: false },
                    );
                    if verdict.decision == Decision::Allow && !read_only {
                        report.add(
                            Finding::new(
                                Severity::Medium,
                                "plugin",
                                &location,
                                format!(
                                    "tool `{name}.{tool}` runs without asking ({}), and it is not read-only",
                                    verdict.why
                                ),
                            )
                            .fix(format!("set `policy.tools.{tool}: ask` in {location}, unless it truly only reads")),
                        );
                    }
                }
                _ => {}
            }
        }
        if m.inherit_env.as_ref().is_some_and(|v| v.iter().any(|e| e == "*")) {
            report.add(
                Finding::new(Severity::Medium, "plugin", &location, "the server inherits Pyra's whole environment")
                    .fix("list the variables it needs under `inherit_env:` instead of `*`"),
            );
        }
    }
}

/// The launch command: changed since approval, or not pinned to a version.
fn launch(host: &mcp::host::Host, m: &Manifest, lock: &Lock, location: &str, report: &mut Report) {
    if let Some(approved) = &lock.launch.approved {
        // Changed at its last start, or in the manifest since (not started yet).
        let now = host.plan(m, &|_| Ok(String::new())).map(|(_, spec)| mcp::lock::hash(&spec));
        if lock.launch.hash != approved.hash || now.is_ok_and(|h| h != approved.hash) {
            report.add(
                Finding::new(
                    Severity::High,
                    "plugin",
                    location,
                    format!("plugin `{}`'s launch changed since it was approved", m.name),
                )
                .fix(format!("`pyra plugin review {}`: if you did not make the change, remove the plugin", m.name)),
            );
        }
    }
    let Some(command) = &m.command else { return };
    if let Some(package) = unpinned(command, &m.args) {
        report.add(
            Finding::new(
                Severity::Medium,
                "plugin",
                location,
                format!("`{command}` runs `{package}` at whatever version is newest when it starts"),
            )
            .fix("pin it: `name@1.2.3` for npx/bunx, `name==1.2.3` for uvx/pipx"),
        );
    }
}

/// The package a launcher fetches without a version, if any.
pub fn unpinned(command: &str, args: &[String]) -> Option<String> {
    let program = command.rsplit('/').next().unwrap_or(command);
    let skip_flags = |args: &[String]| -> Option<String> {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if matches!(a.as_str(), "-p" | "--package" | "--from" | "--with" | "--python") {
                // The next word is the package (for -p/--from) or an option value.
                let value = it.next()?;
                if matches!(a.as_str(), "-p" | "--package" | "--from") {
                    return Some(value.clone());
                }
                continue;
            }
            if a.starts_with('-') {
                continue;
            }
            return Some(a.clone());
        }
        None
    };
    let (package, pinned) = match program {
        "npx" | "bunx" => {
            let p = skip_flags(args)?;
            // `@scope/name@1.2.3` or `name@1.2.3`; `@latest` is not a pin.
            let version = p.get(1..).and_then(|rest| rest.split_once('@')).map(|(_, v)| v.to_string());
            let pinned = version.is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()));
            (p, pinned)
        }
        "uvx" | "pipx" => {
            let rest: Vec<String> = if program == "pipx" && args.first().is_some_and(|a| a == "run") {
                args[1..].to_vec()
            } else {
                args.to_vec()
            };
            let p = skip_flags(&rest)?;
            let pinned =
                p.contains("==") || p.split_once('@').is_some_and(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()));
            (p, pinned)
        }
        _ => return None,
    };
    (!pinned).then_some(package)
}

/// Listeners in `config.yaml` beyond loopback.
fn config(home: &Home, report: &mut Report) {
    let Ok(text) = std::fs::read_to_string(home.root.join("config.yaml")) else { return };
    let Ok(value) = serde_saphyr::from_str::<Value>(&text) else {
        report.skipped("config.yaml: not checked (it does not parse; `pyra config path` shows where it is)");
        return;
    };
    for (pointer, what) in
        [("/daemon/webhook/listen", "the webhook"), ("/mcp/serve/http/listen", "the MCP HTTP endpoint")]
    {
        let Some(listen) = value.pointer(pointer).and_then(Value::as_str) else { continue };
        let open = match listen.parse::<SocketAddr>() {
            Ok(addr) => !addr.ip().is_loopback(),
            Err(_) => !listen.starts_with("localhost:"),
        };
        if open {
            report.add(
                Finding::new(
                    Severity::High,
                    "config",
                    format!("config.yaml {}", pointer.trim_start_matches('/').replace('/', ".")),
                    format!("{what} listens on {listen}, beyond loopback: other machines can reach it"),
                )
                .fix("listen on 127.0.0.1 and put a reverse proxy with TLS and authentication in front"),
            );
        }
    }
    channels(&value, report);
}

/// Channels that let in more than the people listed.
fn channels(config: &Value, report: &mut Report) {
    let Some(channels) = config.get("channels").and_then(Value::as_object) else { return };
    for (name, settings) in channels {
        let at = |key: &str| format!("config.yaml channels.{name}.{key}");
        if settings.get("challenge").and_then(Value::as_str) == Some("passphrase") {
            report.add(
                Finding::new(
                    Severity::Medium,
                    "config",
                    at("challenge"),
                    format!("anyone who learns the passphrase can talk to Pyra over {name}, without you seeing who"),
                )
                .fix(format!(
                    "prefer `challenge: pairing` (you approve each newcomer with `pyra channels pair`), or change the \
                     passphrase often (`pyra channels passphrase {name}`)"
                )),
            );
        }
        if let Some(open) = settings.get("allow").and_then(Value::as_array).and_then(|ids| {
            ids.iter().filter_map(Value::as_str).find(|id| id.contains('*') || *id == "all" || *id == "any")
        }) {
            report.add(
                Finding::new(
                    Severity::High,
                    "config",
                    at("allow"),
                    format!("`{open}` is not a person: it reads as everyone"),
                )
                .fix("list each person's id; strangers get a pairing code"),
            );
        }
        if name == "signal" && settings.get("address").is_some() {
            report.add(
                Finding::new(
                    Severity::Medium,
                    "config",
                    at("address"),
                    "signal-cli's daemon has no authentication: any program on this machine can send as the account \
                     through it",
                )
                .fix("leave `address` out: Pyra then runs signal-cli as its own child, which nothing else can reach"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unpinned;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn launchers_without_a_version_are_unpinned() {
        assert_eq!(
            unpinned("npx", &args(&["-y", "@modelcontextprotocol/server-memory"])).as_deref(),
            Some("@modelcontextprotocol/server-memory")
        );
        assert_eq!(unpinned("npx", &args(&["-y", "@modelcontextprotocol/server-memory@2025.4.25"])), None);
        assert!(unpinned("npx", &args(&["-y", "pkg@latest"])).is_some());
        assert_eq!(unpinned("/usr/bin/uvx", &args(&["mcp-server-time==0.6.2"])), None);
        assert!(unpinned("uvx", &args(&["--from", "mcp-server-git", "mcp-server-git"])).is_some());
        assert_eq!(unpinned("pipx", &args(&["run", "mcp-server-fetch==2025.4.7"])), None);
        assert_eq!(unpinned("node", &args(&["server.js"])), None);
    }
}
