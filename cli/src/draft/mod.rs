//! `pyra skill new NAME --describe "…"`: a skill drafted by the configured model, checked,
//! repaired, shown, then saved. The built-in `draft-skill` skill asks the model (one run
//! per round: the first draft, then a repair with the validator's located diagnostics);
//! every draft is validated here against this machine's kinds and plugin tools. A draft
//! that never validates is kept aside with its last diagnostics; a valid one is shown
//! (YAML, DAG, triggers, secrets, tools, approvals, what acts without asking) and saved,
//! edited in `$EDITOR` (validated again) or discarded. Nothing the model wrote runs before
//! it is saved: drafts are only parsed and checked, and the drafting node has no tools.

mod context;
mod view;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use mcp::manifest::Decision;
use runtime::RunStatus;
use serde_json::{Map, Value, json};
use syntax::source::SourceFile;

use crate::failure::{Failure, exit};
use crate::home::{Home, write_private};
use crate::runner::{self, Session};
use term::output;

/// How `pyra skill new --describe` goes.
pub struct Options {
    pub describe: String,
    pub model: Option<String>,
    pub rounds: u32,
    pub yes: bool,
    pub json: bool,
    /// Replace an existing skill file (only once a draft is saved).
    pub force: bool,
    pub target: PathBuf,
    pub schema_ref: String,
}

/// Where drafts that are not saved are kept: `$PYRA_HOME/drafts/`.
fn drafts_dir(home: &Home) -> Result<PathBuf, Failure> {
    let dir = home.root.join("drafts");
    home.ensure_dir(&dir).map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Facts about a plugin tool for the view: read-only by its hint, and its policy's decision.
fn tool_facts(home: &Home, kinds: &runtime::Kinds, kind: &str) -> Option<(bool, Decision)> {
    let spec = kinds.get(kind).filter(|k| k.tool)?;
    let (plugin, tool) = spec.name.split_once('.')?;
    let (manifest, lock) = crate::plugin_host::host(home).current(plugin).ok()?;
    let read_only = lock
        .definition(tool)
        .and_then(|d| d.pointer("/annotations/readOnlyHint"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let facts = mcp::policy::Facts { read_only_hint: read_only, untrusted: false };
    Some((read_only, mcp::policy::decide(&manifest.policy, tool, facts).decision))
}

/// The vault's key names when it opens without asking (an identity, the environment).
fn secret_names(home: &Home) -> Option<Vec<String>> {
    let vault = vault::Vault::new(&home.root);
    if !vault.exists() {
        return Some(Vec::new());
    }
    let unlock = crate::vault_cmd::unlock_with(&vault, None, false).ok()?;
    let open = vault.open(&unlock).ok()?;
    Some(open.names().map(str::to_string).collect())
}

/// One validation of a draft: the checked skill, or the rendered diagnostics.
fn check(name: &str, round: u32, yaml: &str, kinds: &runtime::Kinds) -> Result<lang::Checked, String> {
    let file = SourceFile::new(format!("{name}.yaml (draft {round})"), yaml.to_string());
    let validation = lang::validate_source(file.clone(), kinds);
    match validation.checked {
        Some(checked) if validation.is_valid() => {
            if checked.skill.name != name {
                return Err(format!("the skill's `name:` is `{}`; it must be `{name}`", checked.skill.name));
            }
            Ok(checked)
        }
        _ => {
            Err(validation.diagnostics.iter().map(|d| d.render(d.file_or(&file), false)).collect::<Vec<_>>().join("\n"))
        }
    }
}

pub fn new_described(home: &Home, name: &str, opts: Options) -> Result<u8, Failure> {
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid_name {
        return Err(Failure::usage(format!(
            "`{name}` is not a valid skill name: use lowercase letters, digits, `-` and `_`, starting with a letter or digit"
        )));
    }
    if opts.target.exists() && !opts.force {
        return Err(Failure::failed(format!("{} already exists; pass --force to replace it", opts.target.display())));
    }
    let kinds = Arc::new(crate::plugin_host::registry(home));
    let read_only = |k: &str| tool_facts(home, &kinds, k).is_some_and(|(ro, _)| ro);
    let system = context::system_prompt(&kinds, secret_names(home).as_deref(), &read_only);
    let source = crate::skills::resolve(home, "draft-skill")?;
    let text = source.text()?;
    let program = runtime::compile(&kinds, &text).map_err(runner::run_failure)?;
    let session = Session::with_registry(home, true, kinds.clone())?;
    let mut last: Option<(String, String)> = None;
    let mut valid = None;
    let mut rounds_used = 0;
    for round in 1..=opts.rounds.max(1) {
        rounds_used = round;
        let request = match &last {
            None => context::first_request(name, &opts.describe),
            Some((draft, diagnostics)) => context::repair_request(name, &opts.describe, draft, diagnostics),
        };
        output::err(&format!(
            "round {round}: {} the model…\n",
            if last.is_none() { "drafting with" } else { "repairing with" }
        ));
        let mut inputs = Map::new();
        inputs.insert("system".into(), Value::String(system.clone()));
        inputs.insert("request".into(), Value::String(request));
        inputs.insert("model".into(), Value::String(opts.model.clone().unwrap_or_default()));
        let report =
            session.block_on(session.runtime.start(program.clone(), &text, inputs)).map_err(runner::run_failure)?;
        if report.status != RunStatus::Succeeded {
            let why = report.error.unwrap_or_else(|| format!("the drafting run {}", report.status));
            return Err(Failure::failed(format!("the model could not draft (run {}): {why}", report.run_id)));
        }
        let reply = report.outputs.as_ref().and_then(|o| o.get("draft")).and_then(Value::as_str).unwrap_or("");
        let yaml = context::extract_yaml(reply);
        match check(name, round, &yaml, &kinds) {
            Ok(checked) => {
                output::err(&format!("round {round}: the draft is valid\n"));
                valid = Some((checked, yaml));
                break;
            }
            Err(diagnostics) => {
                let count = diagnostics.matches("error[").count().max(1);
                output::err(&format!("round {round}: {count} error(s)\n{diagnostics}\n"));
                last = Some((yaml, diagnostics));
            }
        }
    }
    let Some((checked, yaml)) = valid else {
        let (yaml, diagnostics) = last.unwrap_or_default();
        let dir = drafts_dir(home)?;
        let kept = dir.join(format!("{name}.yaml"));
        write_private(&kept, yaml.as_bytes()).map_err(|e| Failure::failed(e.to_string()))?;
        write_private(&dir.join(format!("{name}.diagnostics.txt")), diagnostics.as_bytes())
            .map_err(|e| Failure::failed(e.to_string()))?;
        if opts.json {
            output::out(&format!("{}\n", json!({ "valid": false, "rounds": rounds_used, "kept": kept })));
        }
        return Err(Failure::failed(format!(
            "the draft did not validate after {rounds_used} round(s); nothing was saved as a skill. \
             It is kept at {} with its diagnostics beside it (fix it, then `pyra skill validate` it)",
            kept.display()
        )));
    };
    let findings: Vec<String> = {
        let mut c: Vec<String> = security::scan::scan(&yaml).iter().map(|f| f.category.as_str().to_string()).collect();
        c.sort();
        c.dedup();
        c
    };
    decide(home, name, &opts, &kinds, checked, yaml, &findings, rounds_used)
}

/// Shows the valid draft and saves, edits or discards it.
#[allow(clippy::too_many_arguments)]
fn decide(
    home: &Home,
    name: &str,
    opts: &Options,
    kinds: &runtime::Kinds,
    mut checked: lang::Checked,
    mut yaml: String,
    findings: &[String],
    rounds: u32,
) -> Result<u8, Failure> {
    let facts = |k: &str| tool_facts(home, kinds, k);
    loop {
        let shown = view::review(&checked, &yaml, &facts, findings);
        if opts.json {
            output::out(&format!(
                "{}\n",
                json!({ "valid": true, "rounds": rounds, "yaml": yaml, "unguarded": shown.unguarded, "saved": opts.yes.then(|| opts.target.clone()) })
            ));
        } else {
            output::out(&shown.text);
        }
        if opts.yes {
            return save(opts, &yaml);
        }
        if !std::io::stdin().is_terminal() {
            let kept = drafts_dir(home)?.join(format!("{name}.yaml"));
            write_private(&kept, yaml.as_bytes()).map_err(|e| Failure::failed(e.to_string()))?;
            output::err(&format!(
                "not saved (no terminal to ask): the draft is at {}; `--yes` saves without asking\n",
                kept.display()
            ));
            return Ok(exit::OK);
        }
        output::err("[s]ave, [e]dit in $EDITOR, [d]iscard > ");
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() || line.is_empty() {
            line = "d".into();
        }
        match line.trim() {
            "s" | "save" | "y" | "yes" => return save(opts, &yaml),
            "d" | "discard" | "n" | "no" => {
                output::err("discarded; nothing was saved\n");
                return Ok(exit::OK);
            }
            "e" | "edit" => {
                let edited = edit(home, name, &yaml)?;
                match check(name, 0, &edited, kinds) {
                    Ok(c) => {
                        checked = c;
                        yaml = edited;
                    }
                    Err(diagnostics) => {
                        output::err(&format!("the edited skill is not valid:\n{diagnostics}\n"));
                        yaml = edited;
                        // Edit again until it validates or is discarded.
                        loop {
                            output::err("[e]dit again, [d]iscard > ");
                            let mut again = String::new();
                            if std::io::stdin().read_line(&mut again).is_err() || again.trim() != "e" {
                                output::err("discarded; nothing was saved\n");
                                return Ok(exit::OK);
                            }
                            yaml = edit(home, name, &yaml)?;
                            match check(name, 0, &yaml, kinds) {
                                Ok(c) => {
                                    checked = c;
                                    break;
                                }
                                Err(d) => output::err(&format!("still not valid:\n{d}\n")),
                            }
                        }
                    }
                }
            }
            other => output::err(&format!("`{other}`: answer s, e or d\n")),
        }
    }
}

/// Opens the draft in `$EDITOR` (or `$VISUAL`, else `vi`) and returns what was saved.
fn edit(home: &Home, name: &str, yaml: &str) -> Result<String, Failure> {
    let path = drafts_dir(home)?.join(format!("{name}.yaml"));
    write_private(&path, yaml.as_bytes()).map_err(|e| Failure::failed(e.to_string()))?;
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    let editor = set("VISUAL").or_else(|| set("EDITOR")).unwrap_or_else(|| "vi".into());
    let mut argv = shlex::split(&editor).filter(|a| !a.is_empty()).unwrap_or_else(|| vec![editor.clone()]);
    let program = argv.remove(0);
    let status = std::process::Command::new(&program)
        .args(&argv)
        .arg(&path)
        .status()
        .map_err(|e| Failure::failed(format!("cannot start the editor `{program}`: {e} (set $EDITOR)")))?;
    if !status.success() {
        return Err(Failure::failed(format!(
            "the editor `{program}` failed ({status}); the draft is at {}",
            path.display()
        )));
    }
    std::fs::read_to_string(&path).map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))
}

fn save(opts: &Options, yaml: &str) -> Result<u8, Failure> {
    let header = format!("# yaml-language-server: $schema={}\n", opts.schema_ref);
    let text = if yaml.starts_with("# yaml-language-server") { yaml.to_string() } else { header + yaml };
    if let Some(dir) = opts.target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    write_private(&opts.target, text.as_bytes()).map_err(|e| Failure::failed(e.to_string()))?;
    output::err(&format!("saved {}\n  run it:  pyra run {}\n", opts.target.display(), opts.target.display()));
    Ok(exit::OK)
}
