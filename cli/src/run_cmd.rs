//! `pyra run SKILL|FILE`: inputs from `--input` and `--inputs-file`, coerced to the
//! declared types and checked; `--dry-run` prints the plan; otherwise the run is driven
//! with a progress view and its outputs printed.

use std::io::Read;
use std::sync::Arc;

use runtime::SkillText;
use serde_json::{Map, Value};

use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::runner::{self, Session};
use crate::skills;
use term::output;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A skill name (`pyra skill list`) or a skill file.
    #[arg(value_name = "SKILL|FILE")]
    pub skill: String,

    /// An input value, `name=value`; repeatable. Numbers, booleans, lists and objects are
    /// read according to the input's declared type (lists and objects as JSON).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// Read inputs from a JSON or YAML object in a file, or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    pub inputs_file: Option<String>,

    /// Print the skill's outputs as JSON on standard output (progress stays on stderr).
    #[arg(long)]
    pub json: bool,

    /// Print the plan (order, conditions, what would run) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(home: &Home, args: RunArgs) -> Result<u8, Failure> {
    let source = skills::resolve(home, &args.skill)?;
    let text = source.text()?;
    // Checked before anything is opened: an invalid skill or bad inputs touch no store,
    // and a dry run leaves nothing behind.
    let registry = Arc::new(crate::plugin_host::registry(home));
    let program = runtime::compile(&registry, &text).map_err(runner::run_failure)?;
    let given = gather_inputs(&program.skill, &args)?;
    if args.dry_run {
        let inputs = runtime::inputs::resolve(&program.skill, given)
            .map_err(|e| runner::run_failure(runtime::RunError::Inputs(e)))?;
        output::out(&plan(&program, &text, &inputs));
        return Ok(exit::OK);
    }
    let session = Session::with_registry(home, false, registry)?;
    let report = session.block_on(session.runtime.start(program, &text, given)).map_err(runner::run_failure)?;
    Ok(runner::report(&report, args.json, &session.progress))
}

fn gather_inputs(skill: &lang::Skill, args: &RunArgs) -> Result<Map<String, Value>, Failure> {
    let mut given = Map::new();
    if let Some(file) = &args.inputs_file {
        let text = if file == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
            s
        } else {
            std::fs::read_to_string(file).map_err(|e| Failure::usage(format!("cannot read {file}: {e}")))?
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => serde_saphyr::from_str(&text)
                .map_err(|e| Failure::usage(format!("--inputs-file {file}: neither JSON nor YAML: {e}")))?,
        };
        let Value::Object(map) = value else {
            return Err(Failure::usage(format!("--inputs-file {file}: expected an object of input values")));
        };
        given.extend(map);
    }
    for pair in &args.inputs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(Failure::usage(format!("--input `{pair}`: expected NAME=VALUE")));
        };
        let value = runtime::inputs::coerce(skill, name.trim(), value).map_err(Failure::usage)?;
        given.insert(name.trim().to_string(), value);
    }
    Ok(given)
}

/// The plan: nodes in the order they can start, what they wait for, their conditions.
fn plan(program: &runtime::program::Program, text: &SkillText, inputs: &Map<String, Value>) -> String {
    let skill = &program.skill;
    let mut out = format!("plan for {} ({})\n", skill.name, text.display);
    if !inputs.is_empty() {
        out.push_str("inputs:\n");
        for (k, v) in inputs {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    let limit = skill.concurrency.map_or_else(|| "default".to_string(), |c| c.to_string());
    out.push_str(&format!("concurrency: {limit}"));
    if let Some(t) = skill.timeout {
        out.push_str(&format!(", timeout: {}", syntax::duration::format(t.0)));
    }
    out.push_str("\nsteps (a step starts once the ones it waits for have ended):\n");
    let mut done = vec![false; program.nodes.len()];
    let mut step = 0;
    while done.iter().any(|d| !d) {
        let layer: Vec<usize> =
            (0..program.nodes.len()).filter(|&i| !done[i] && program.nodes[i].deps.iter().all(|&d| done[d])).collect();
        if layer.is_empty() {
            break;
        }
        step += 1;
        for &i in &layer {
            let node = &program.nodes[i];
            let spec = program.spec(i);
            let mut line = format!("  {step}. {} [{}]", node.id, spec.uses);
            if !node.deps.is_empty() {
                let deps: Vec<&str> = node.deps.iter().map(|&d| program.nodes[d].id.as_str()).collect();
                line.push_str(&format!(" after {}", deps.join(", ")));
            }
            match &spec.condition {
                Some(lang::model::Condition::Expression(e)) => line.push_str(&format!(" if {e}")),
                Some(lang::model::Condition::Literal(b)) => line.push_str(&format!(" if {b}")),
                None => {}
            }
            if spec.for_each.is_some() {
                line.push_str(" for each item");
            }
            let mut extras = Vec::new();
            if let Some(r) = &spec.retry {
                extras.push(format!("{} attempts", r.attempts));
            }
            if let Some(t) = spec.timeout {
                extras.push(format!("timeout {}", syntax::duration::format(t.0)));
            }
            if spec.on_error == lang::model::OnError::Continue {
                extras.push("continues on error".into());
            }
            if !extras.is_empty() {
                line.push_str(&format!(" ({})", extras.join(", ")));
            }
            if let Some(d) = &spec.description {
                line.push_str(&format!(" — {d}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
        for i in layer {
            done[i] = true;
        }
    }
    out.push_str("dry run: nothing was run\n");
    out
}
