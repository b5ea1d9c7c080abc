//! `pyra profile list|new|rm`: separate homes under `<home>/profiles/NAME` — work and
//! personal — each with its own config, vault, memory, runs and daemon. A profile is
//! chosen with `--profile NAME` or `PYRA_PROFILE=NAME`; the base home is the profile
//! `default`. `rm` asks first (or `--yes`), and refuses the active profile and one whose
//! daemon runs.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use serde_json::json;
use term::output;

use crate::failure::{Failure, exit};
use crate::home::Home;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// The profiles, the active one marked `*`, with whether its daemon runs.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a profile (an empty, private home); `pyra --profile NAME setup` fills it.
    New { name: String },
    /// Delete a profile and everything in it (its vault, memory, runs), after asking.
    Rm {
        name: String,
        /// Do not ask (needed without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

pub fn run(home: &Home, command: ProfileCommand) -> Result<u8, Failure> {
    let base = home.base();
    match command {
        ProfileCommand::List { json } => list(home, &base, json),
        ProfileCommand::New { name } => {
            let profile = Home::resolve(Some(&base), Some(&name))?;
            if name == "default" {
                return Err(Failure::usage("`default` is the base home; choose another name"));
            }
            if profile.root.exists() {
                return Err(Failure::usage(format!("profile `{name}` exists ({})", profile.root.display())));
            }
            profile.ensure_dir(&base.join("profiles")).map_err(|e| Failure::failed(e.to_string()))?;
            profile.ensure_dir(&profile.root).map_err(|e| Failure::failed(e.to_string()))?;
            output::out(&format!(
                "profile `{name}` created at {}\nuse it with `pyra --profile {name} …` or `PYRA_PROFILE={name}`; \
                 start with `pyra --profile {name} setup`\n",
                profile.root.display()
            ));
            Ok(exit::OK)
        }
        ProfileCommand::Rm { name, yes } => rm(home, &base, &name, yes),
    }
}

/// Every profile: `default` (the base home) and those under `profiles/`.
fn profiles(base: &std::path::Path) -> Vec<(String, Home)> {
    let mut all = vec![("default".to_string(), Home::at(base.to_path_buf()))];
    let mut named: Vec<(String, Home)> = std::fs::read_dir(base.join("profiles"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Home::resolve(Some(base), Some(&name)).ok().map(|h| (name, h))
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    all.extend(named);
    all
}

fn list(home: &Home, base: &std::path::Path, as_json: bool) -> Result<u8, Failure> {
    let active = home.profile().unwrap_or_else(|| "default".into());
    let rows: Vec<_> = profiles(base)
        .into_iter()
        .map(|(name, h)| {
            let daemon = crate::daemon_client::running(&h).is_some();
            json!({ "name": name, "active": name == active, "home": h.root.display().to_string(), "daemon": daemon })
        })
        .collect();
    if as_json {
        output::out(&format!("{}\n", serde_json::Value::Array(rows)));
        return Ok(exit::OK);
    }
    let mut text = String::new();
    for r in &rows {
        text.push_str(&format!(
            "{} {:<16} {}{}\n",
            if r["active"] == true { "*" } else { " " },
            r["name"].as_str().unwrap_or("?"),
            r["home"].as_str().unwrap_or("?"),
            if r["daemon"] == true { "  (daemon running)" } else { "" }
        ));
    }
    output::out(&text);
    Ok(exit::OK)
}

fn rm(home: &Home, base: &std::path::Path, name: &str, yes: bool) -> Result<u8, Failure> {
    if name == "default" {
        return Err(Failure::usage("`default` is the base home, not a profile: it cannot be removed here"));
    }
    let profile = Home::resolve(Some(base), Some(name))?;
    if !profile.root.is_dir() {
        return Err(Failure::usage(format!("no profile `{name}` (`pyra profile list` shows them)")));
    }
    if home.profile().as_deref() == Some(name) {
        return Err(Failure::usage(format!(
            "`{name}` is the active profile (--profile or PYRA_PROFILE): switch to another one to remove it"
        )));
    }
    if crate::daemon_client::running(&profile).is_some() {
        return Err(Failure::usage(format!(
            "the daemon of `{name}` runs: stop it first (`pyra --profile {name} daemon stop`)"
        )));
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage(format!(
                "removing `{name}` deletes its vault, memory and runs: confirm with --yes"
            )));
        }
        output::err(&format!(
            "This deletes {} — its vault, memory, runs and config. Type the profile's name to confirm: ",
            profile.root.display()
        ));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map_err(|e| Failure::failed(e.to_string()))?;
        if answer.trim() != name {
            return Err(Failure::failed("not confirmed: nothing was removed"));
        }
    }
    std::fs::remove_dir_all(&profile.root)
        .map_err(|e| Failure::failed(format!("cannot remove {}: {e}", profile.root.display())))?;
    output::out(&format!("profile `{name}` removed\n"));
    Ok(exit::OK)
}
