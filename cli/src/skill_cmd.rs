//! `pyra skill …`: validate, list, show, graph, new, schema.

use std::path::{Path, PathBuf};

use lang::model::{CatchUp, Condition, ForEach, Overlap, Trigger};
use lang::{Registry, Validation};
use serde_json::json;

use crate::failure::{Failure, exit};
use crate::graph_render;
use crate::home::{Home, write_private};
use crate::skills::{self, Origin, SkillSource};
use clap::{Subcommand, ValueEnum};
use term::output::{color_stderr, err, out};

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Check skill files and report every error with its line and column.
    ///
    /// Takes files, directories (every .yaml/.yml inside) and skill names. Without
    /// arguments, checks the built-in skills and every skill in `$PYRA_HOME/skills`.
    Validate {
        /// Skill files, directories or names.
        #[arg(value_name = "FILE|DIR|NAME")]
        targets: Vec<String>,

        /// Output format: `text` for people, `json` for editors and CI.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the skills Pyra knows: built-in, `$PYRA_HOME/skills`, and directories given.
    List {
        /// Also list the skills in this directory.
        #[arg(long = "dir", value_name = "DIR")]
        dirs: Vec<PathBuf>,

        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a skill: inputs, secrets, triggers (with next fire times), nodes in
    /// execution order, outputs.
    Show {
        /// A skill name or file.
        #[arg(value_name = "NAME|FILE")]
        skill: String,

        /// Print the checked skill as JSON.
        #[arg(long, conflicts_with = "source")]
        json: bool,

        /// Print the skill's YAML as it is (a built-in one's too, to save an overriding
        /// copy in `$PYRA_HOME/skills`).
        #[arg(long)]
        source: bool,
    },
    /// Draw a skill's graph: a picture in the terminal, Graphviz dot, or Mermaid.
    Graph {
        /// A skill name or file.
        #[arg(value_name = "NAME|FILE")]
        skill: String,

        #[arg(long, value_enum, default_value_t = GraphFormat::Ascii)]
        format: GraphFormat,
    },
    /// Create a commented starter skill that validates.
    New {
        /// The new skill's name (lowercase letters, digits, `-`, `_`).
        name: String,

        /// Write into this directory instead of `$PYRA_HOME/skills`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,

        /// Replace an existing file.
        #[arg(long)]
        force: bool,

        /// Draft the skill from a sentence with the configured model: checked, repaired
        /// (the validator's errors go back to the model), shown, then saved on your word.
        #[arg(long, value_name = "TEXT")]
        describe: Option<String>,

        /// The model entry to draft with (`NAME` or `NAME/model-id`; default: the default entry).
        #[arg(long, value_name = "NAME", requires = "describe")]
        model: Option<String>,

        /// Most model rounds (the first draft and its repairs).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10), requires = "describe")]
        rounds: u32,

        /// Save a valid draft without asking.
        #[arg(long, requires = "describe")]
        yes: bool,

        /// Print the outcome as JSON (valid, rounds, the YAML, what acts without asking).
        #[arg(long, requires = "describe")]
        json: bool,
    },
    /// Print the JSON Schema of skill files (for editors).
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Ascii,
    Dot,
    Mermaid,
}

pub fn run(home: &Home, command: SkillCommand) -> Result<u8, Failure> {
    let registry = crate::plugin_host::registry(home);
    match command {
        SkillCommand::Validate { targets, format } => validate(home, &registry, &targets, format),
        SkillCommand::List { dirs, json } => list(home, &registry, &dirs, json),
        SkillCommand::Show { skill, source: true, .. } => {
            out(&skills::resolve(home, &skill)?.text()?.source);
            Ok(exit::OK)
        }
        SkillCommand::Show { skill, json, .. } => show(home, &registry, &skill, json),
        SkillCommand::Graph { skill, format } => graph(home, &registry, &skill, format),
        SkillCommand::New { name, dir, force, describe, model, rounds, yes, json } => {
            let described = describe.map(|describe| (describe, model, rounds, yes, json));
            new(home, &registry, &name, dir.as_deref(), force, described)
        }
        SkillCommand::Schema => {
            out(&lang::schema::to_pretty(&lang::schema::skill_schema(&registry)));
            Ok(exit::OK)
        }
    }
}

/// Expands the targets of `validate` into skill sources, or a usage error.
fn collect_targets(home: &Home, targets: &[String]) -> Result<Vec<SkillSource>, Failure> {
    if targets.is_empty() {
        return Ok(skills::known(home).into_values().collect());
    }
    let mut sources = Vec::new();
    for target in targets {
        let path = Path::new(target);
        if path.is_dir() {
            let files =
                skills::files_in(path).map_err(|e| Failure::usage(format!("cannot read directory {target}: {e}")))?;
            if files.is_empty() {
                return Err(Failure::usage(format!("no .yaml or .yml files in {target}")));
            }
            sources.extend(files.iter().map(|f| SkillSource::from_path(f, Origin::Dir)));
        } else {
            sources.push(skills::resolve(home, target)?);
        }
    }
    Ok(sources)
}

fn validate(home: &Home, registry: &Registry, targets: &[String], format: Format) -> Result<u8, Failure> {
    let sources = collect_targets(home, targets)?;
    let results: Vec<Validation> = sources.iter().map(|s| s.validate(registry)).collect();
    let invalid = results.iter().filter(|v| !v.is_valid()).count();
    let errors: usize = results.iter().map(|v| v.errors().count()).sum();
    let warnings: usize = results.iter().map(|v| v.diagnostics.len()).sum::<usize>() - errors;
    match format {
        Format::Json => {
            let files: Vec<_> = results
                .iter()
                .map(|v| {
                    json!({
                        "file": v.file.name(),
                        "valid": v.is_valid(),
                        "diagnostics": v.diagnostics.iter().map(|d| d.to_json(&v.file)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let report = json!({
                "files": files,
                "summary": { "files": results.len(), "valid": results.len() - invalid, "invalid": invalid, "errors": errors, "warnings": warnings },
            });
            out(&format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()));
        }
        Format::Text => {
            let color = color_stderr();
            for v in &results {
                for d in &v.diagnostics {
                    err(&format!("{}\n\n", d.render(&v.file, color)));
                }
                if v.is_valid() {
                    let nodes = v.checked.as_ref().map_or(0, |c| c.skill.nodes.len());
                    out(&format!("ok: {} ({} node{})\n", v.file.name(), nodes, plural(nodes)));
                }
            }
            let summary = format!(
                "{} file{} checked: {} valid, {} invalid ({} error{}, {} warning{})\n",
                results.len(),
                plural(results.len()),
                results.len() - invalid,
                invalid,
                errors,
                plural(errors),
                warnings,
                plural(warnings)
            );
            out(&summary);
        }
    }
    Ok(if invalid > 0 { exit::INVALID } else { exit::OK })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Validates one skill for show/graph; prints its diagnostics and fails if invalid.
/// One line of `pyra skill list`, also its `--json` form.
#[derive(serde::Serialize)]
struct ListRow {
    name: String,
    origin: &'static str,
    overrides_builtin: bool,
    file: String,
    valid: bool,
    errors: usize,
    nodes: usize,
    triggers: usize,
    description: String,
}

fn list(home: &Home, registry: &Registry, dirs: &[PathBuf], as_json: bool) -> Result<u8, Failure> {
    let mut sources: Vec<SkillSource> = skills::known(home).into_values().collect();
    for dir in dirs {
        let files = skills::files_in(dir)
            .map_err(|e| Failure::usage(format!("cannot read directory {}: {e}", dir.display())))?;
        sources.extend(files.iter().map(|f| SkillSource::from_path(f, Origin::Dir)));
    }
    let builtin_names: Vec<&str> = crate::builtin::SKILLS.iter().map(|(n, _, _)| *n).collect();
    let rows: Vec<ListRow> = sources
        .iter()
        .map(|source| {
            let v = source.validate(registry);
            let skill = v.checked.as_ref().map(|c| &c.skill);
            ListRow {
                name: skill.map_or_else(|| source.name.clone(), |s| s.name.clone()),
                origin: source.origin.label(),
                overrides_builtin: source.origin == Origin::Home && builtin_names.contains(&source.name.as_str()),
                file: source.display.clone(),
                valid: v.is_valid(),
                errors: v.errors().count(),
                nodes: skill.map_or(0, |s| s.nodes.len()),
                triggers: skill.map_or(0, |s| s.triggers.len()),
                description: skill.and_then(|s| s.description.clone()).unwrap_or_default(),
            }
        })
        .collect();
    if as_json {
        out(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap_or_default()));
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        out("no skills found\n");
        return Ok(exit::OK);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut text = format!("{:<width$}  {:<8}  {:>5}  {:>8}  DESCRIPTION\n", "NAME", "ORIGIN", "NODES", "TRIGGERS");
    for r in &rows {
        let description = if r.valid {
            let d = r.description.lines().next().unwrap_or_default();
            if d.chars().count() > 60 {
                format!("{}…", d.chars().take(59).collect::<String>())
            } else {
                d.to_string()
            }
        } else {
            format!("INVALID ({} errors): pyra skill validate {}", r.errors, r.file)
        };
        let origin = if r.overrides_builtin { format!("{}*", r.origin) } else { r.origin.to_string() };
        text.push_str(&format!(
            "{:<width$}  {:<8}  {:>5}  {:>8}  {}\n",
            r.name, origin, r.nodes, r.triggers, description
        ));
    }
    if rows.iter().any(|r| r.overrides_builtin) {
        text.push_str("\n* overrides the built-in skill of the same name\n");
    }
    out(&text);
    Ok(exit::OK)
}

fn show(home: &Home, registry: &Registry, arg: &str, as_json: bool) -> Result<u8, Failure> {
    let (source, checked) = skills::load_checked(home, registry, arg)?;
    let skill = &checked.skill;
    if as_json {
        let value = json!({
            "file": source.display,
            "skill": skill,
            "execution_order": checked.graph.execution_order(),
        });
        out(&format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default()));
        return Ok(exit::OK);
    }
    let mut t = String::new();
    t.push_str(&format!("{}  ({})\n", skill.name, source.display));
    if let Some(d) = &skill.description {
        t.push_str(&format!("{}\n", d.trim_end()));
    }
    t.push_str("\nInputs:\n");
    if skill.inputs.is_empty() {
        t.push_str("  (none)\n");
    }
    for (name, input) in &skill.inputs {
        let req = match (&input.default, input.is_required()) {
            (Some(d), _) => format!("default {}", d),
            (None, true) => "required".into(),
            (None, false) => "optional".into(),
        };
        let desc = input.description.as_deref().map(|d| format!("  {d}")).unwrap_or_default();
        let mut limits = Vec::new();
        if let Some(allowed) = &input.allowed {
            let opts: Vec<String> =
                allowed.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
            limits.push(format!("one of {}", opts.join("|")));
        }
        if let Some(min) = input.minimum {
            limits.push(format!(">= {min}"));
        }
        if let Some(max) = input.maximum {
            limits.push(format!("<= {max}"));
        }
        if let Some(p) = &input.pattern {
            limits.push(format!("matches {p}"));
        }
        let limits = if limits.is_empty() { String::new() } else { format!(", {}", limits.join(", ")) };
        t.push_str(&format!("  {name}: {} ({req}{limits}){desc}\n", input.ty.as_str()));
    }
    if !skill.secrets.is_empty() {
        t.push_str("\nSecrets:\n");
        for s in &skill.secrets {
            t.push_str(&format!("  {s}\n"));
        }
    }
    if !skill.env.is_empty() {
        t.push_str(&format!("\nEnvironment: {}\n", skill.env.join(", ")));
    }
    t.push_str("\nTriggers:\n");
    if skill.triggers.is_empty() {
        t.push_str("  (none: runs on demand)\n");
    }
    for trigger in &skill.triggers {
        t.push_str(&describe_trigger(trigger));
    }
    t.push_str("\nNodes (execution order):\n");
    let order = checked.graph.execution_order();
    let width = order.iter().map(String::len).max().unwrap_or(0);
    for (i, id) in order.iter().enumerate() {
        let node = &skill.nodes[id];
        let mut line = format!("  {:>2}. {id:<width$}  {}", i + 1, node.uses);
        let deps = checked.graph.dependencies(id);
        if !deps.is_empty() {
            line.push_str(&format!("  after {}", deps.join(", ")));
        }
        t.push_str(&line);
        t.push('\n');
        let mut extras = Vec::new();
        match &node.condition {
            Some(Condition::Expression(e)) => extras.push(format!("if {e}")),
            Some(Condition::Literal(b)) => extras.push(format!("if {b}")),
            None => {}
        }
        match &node.for_each {
            Some(ForEach::Template(tmpl)) => extras.push(format!("for each of {tmpl}")),
            Some(ForEach::Items(items)) => extras.push(format!("for each of {} items", items.len())),
            None => {}
        }
        if let Some(c) = node.concurrency {
            extras.push(format!("concurrency {c}"));
        }
        if let Some(r) = &node.retry {
            extras.push(format!("retry {} attempts", r.attempts));
        }
        if let Some(d) = &node.timeout {
            extras.push(format!("timeout {d}"));
        }
        if node.on_error == lang::model::OnError::Continue {
            extras.push("continues on error".into());
        }
        if !extras.is_empty() {
            t.push_str(&format!("      {:width$}  {}\n", "", extras.join(" · ")));
        }
    }
    if !skill.outputs.is_empty() {
        t.push_str("\nOutputs:\n");
        for (name, value) in &skill.outputs {
            let v = value.as_str().map_or_else(|| value.to_string(), str::to_string);
            t.push_str(&format!("  {name}: {}\n", v.trim_end()));
        }
    }
    out(&t);
    Ok(exit::OK)
}

fn describe_trigger(trigger: &Trigger) -> String {
    if !trigger.enabled() {
        // The first line says so; no next fire times for a trigger that never fires.
        let described = describe_enabled(trigger);
        let mut lines = described.lines();
        let first = lines.next().unwrap_or_default();
        let rest: String = lines.filter(|l| !l.trim_start().starts_with("next:")).map(|l| format!("{l}\n")).collect();
        return format!("{first} — disabled (`enabled: false`)\n{rest}");
    }
    describe_enabled(trigger)
}

fn describe_enabled(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Cron(c) => {
            let tz_name = c.timezone.clone().unwrap_or_else(|| "local time".into());
            let catch_up = match c.catch_up.unwrap_or(CatchUp::Once) {
                CatchUp::Skip => "skip",
                CatchUp::Once => "once",
                CatchUp::All => "all",
            };
            let overlap = match c.overlap.unwrap_or(Overlap::Skip) {
                Overlap::Skip => "skip",
                Overlap::Queue => "queue",
                Overlap::Allow => "allow",
            };
            let window = c.catch_up_window.map(|w| format!(" within {w}")).unwrap_or_default();
            let mut s = format!("  cron \"{}\" ({tz_name}; catch-up {catch_up}{window}, overlap {overlap})\n", c.cron);
            s.push_str(&trigger_inputs(&c.with));
            if let Ok(expr) = lang::cron::parse(&c.cron) {
                let next: Vec<String> = match c.timezone.as_deref().map(str::parse::<chrono_tz::Tz>) {
                    Some(Ok(tz)) => expr
                        .upcoming(&chrono::Utc::now().with_timezone(&tz), 3)
                        .iter()
                        .map(|t| t.format("%a %Y-%m-%d %H:%M %Z").to_string())
                        .collect(),
                    _ => expr
                        .upcoming(&chrono::Local::now(), 3)
                        .iter()
                        .map(|t| t.format("%a %Y-%m-%d %H:%M %:z").to_string())
                        .collect(),
                };
                if !next.is_empty() {
                    s.push_str(&format!("    next: {}\n", next.join(", ")));
                }
            }
            s
        }
        Trigger::Watch(w) => {
            let glob =
                w.watch.glob.as_ref().map(|g| format!(" matching {}", g.as_slice().join(", "))).unwrap_or_default();
            let debounce = w.watch.debounce.map(|d| format!(", debounce {d}")).unwrap_or_default();
            let cond = w.condition.as_ref().map(|c| format!(" if {c}")).unwrap_or_default();
            let events = if w.watch.events.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = w.watch.events.iter().map(|e| format!("{e:?}").to_lowercase()).collect();
                format!(" on {}", names.join("/"))
            };
            let poll = w.watch.poll.map(|p| format!(", polling every {p}")).unwrap_or_default();
            format!("  watch {}{glob}{events}{debounce}{poll}{cond}\n", w.watch.paths.join(", "))
                + &trigger_inputs(&w.with)
        }
        Trigger::Event(e) => {
            let cond = e.condition.as_ref().map(|c| format!(" if {c}")).unwrap_or_default();
            format!("  event {}{cond}\n", e.event) + &trigger_inputs(&e.with)
        }
    }
}

fn trigger_inputs(with: &indexmap::IndexMap<String, serde_json::Value>) -> String {
    with.iter()
        .map(|(k, v)| format!("    with {k} = {}\n", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect()
}

fn graph(home: &Home, registry: &Registry, arg: &str, format: GraphFormat) -> Result<u8, Failure> {
    let (_, checked) = skills::load_checked(home, registry, arg)?;
    let text = match format {
        GraphFormat::Ascii => graph_render::ascii(&checked),
        GraphFormat::Dot => graph_render::dot(&checked),
        GraphFormat::Mermaid => graph_render::mermaid(&checked),
    };
    out(&text);
    Ok(exit::OK)
}

/// The starter skill written by `pyra skill new`.
pub fn starter(name: &str, schema_ref: &str) -> String {
    include_str!("starter.yaml").replace("{{SCHEMA}}", schema_ref).replace("{{NAME}}", name)
}

/// `--describe TEXT`, `--model`, `--rounds`, `--yes`, `--json`.
type Described = (String, Option<String>, u32, bool, bool);

fn new(
    home: &Home,
    registry: &Registry,
    name: &str,
    dir: Option<&Path>,
    force: bool,
    described: Option<Described>,
) -> Result<u8, Failure> {
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid_name {
        return Err(Failure::usage(format!(
            "`{name}` is not a valid skill name: use lowercase letters, digits, `-` and `_`, starting with a letter or digit"
        )));
    }
    // The schema goes into the home so the header works offline and in any editor.
    let schema_file = home.schema_file();
    let schema_text = lang::schema::to_pretty(&lang::schema::skill_schema(registry));
    let io = |what: &str, p: &Path, e: std::io::Error| Failure::failed(format!("cannot {what} {}: {e}", p.display()));
    if let Some(parent) = schema_file.parent() {
        home.ensure_dir(parent).map_err(|e| io("create", parent, e))?;
    }
    write_private(&schema_file, schema_text.as_bytes()).map_err(|e| io("write", &schema_file, e))?;
    let (target_dir, schema_ref) = match dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| io("create", d, e))?;
            (d.to_path_buf(), schema_file.display().to_string())
        }
        None => {
            let d = home.skills_dir();
            home.ensure_dir(&d).map_err(|e| io("create", &d, e))?;
            (d, "../schemas/skill.schema.json".to_string())
        }
    };
    let path = target_dir.join(format!("{name}.yaml"));
    if let Some((describe, model, rounds, yes, json)) = described {
        let opts = crate::draft::Options { describe, model, rounds, yes, json, force, target: path, schema_ref };
        return crate::draft::new_described(home, name, opts);
    }
    if path.exists() && !force {
        return Err(Failure::failed(format!("{} already exists; pass --force to replace it", path.display())));
    }
    let text = starter(name, &schema_ref);
    write_private(&path, text.as_bytes()).map_err(|e| io("write", &path, e))?;
    out(&format!(
        "created {}\n  check it:  pyra skill validate {}\n  draw it:   pyra skill graph {}\n",
        path.display(),
        path.display(),
        path.display()
    ));
    Ok(exit::OK)
}
