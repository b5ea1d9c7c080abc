//! `template`: minijinja rendering as the runtime does it (`runtime::program`: the one
//! environment, strict undefined, `Tpl` trees, `if:` and `for_each`), with hostile template
//! text and hostile values (an untrusted node output, the inputs, a `for_each` item), and
//! the validator's static analysis of the same text (`lang::template`).
//!
//! Input: template text, a NUL byte, then the values as JSON (any other bytes: a string).
//! Properties: never a panic; rendering twice gives the same result (unless the template
//! reads the clock); a template that never names `nodes` is never tainted, since only a
//! node's output is untrusted here.

use std::sync::{Arc, OnceLock};

use lang::graph::SkillGraph;
use runtime::NodeStatus;
use runtime::program::{NodeResult, Program, RunData, Scope, jvalue};
use serde_json::{Value, json};

/// Longer templates only make slower loops, not new paths.
const MAX_TEMPLATE: usize = 1024;

fn program(nodes: Value) -> Option<Arc<Program>> {
    let skill: lang::Skill = serde_json::from_value(json!({ "name": "fuzz", "nodes": nodes })).ok()?;
    let graph = SkillGraph::with_nodes(skill.nodes.keys().map(String::as_str));
    let kinds = super::skill_kinds();
    Program::new(Arc::new(skill), &graph, kinds).ok().map(Arc::new)
}

fn scope(program: &Arc<Program>, value: &Value) -> Scope {
    let results: Vec<OnceLock<NodeResult>> = program.nodes.iter().map(|_| OnceLock::new()).collect();
    let _ = results[0].set(NodeResult::new(NodeStatus::Succeeded, Some(value), None, true));
    let data = RunData {
        program: program.clone(),
        inputs: jvalue(&json!({ "x": value, "s": value.to_string() })),
        inputs_untrusted: false,
        run: jvalue(&json!({ "id": "r1", "skill": "fuzz" })),
        env: jvalue(&json!({ "HOME": "/home/fuzz" })),
        results,
    };
    Scope::with_item(Arc::new(data), value, 0)
}

pub fn template(data: &[u8]) {
    let (text, values) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if text.len() > MAX_TEMPLATE {
        return;
    }
    let text = String::from_utf8_lossy(text).into_owned();
    let value: Value = serde_json::from_slice(values).unwrap_or_else(|_| Value::from(String::from_utf8_lossy(values)));

    let env = lang::template::environment();
    let _ = lang::template::analyze_template(&env, &text);
    let _ = lang::template::analyze_expression(&env, &text);
    let _ = lang::template::secret_calls(&text);

    let clock = text.contains("now");
    let names_nodes = text.contains("nodes");
    let source = json!({ "uses": "template", "with": { "text": "source" } });
    if let Some(p) = program(json!({
        "a": source,
        "b": { "uses": "template", "with": { "text": text, "parts": [text, { "k": text }] } },
        "c": { "uses": "template", "with": { "text": "each" }, "for_each": text },
    })) {
        let scope = scope(&p, &value);
        for node in &p.nodes[1..] {
            for tpl in [Some(&node.with), node.for_each.as_ref()].into_iter().flatten() {
                let mut tainted = Vec::new();
                let first = p.render(tpl, &scope, &mut tainted);
                if let Ok(with) = &first {
                    let _ = p.check_with(node, with);
                }
                if !names_nodes {
                    assert!(tainted.is_empty(), "tainted {tainted:?} without reading `nodes`: {text:?}");
                }
                if !clock {
                    let second = p.render(tpl, &scope, &mut Vec::new());
                    assert_eq!(first, second, "rendered twice, two results: {text:?}");
                }
            }
        }
    }
    if let Some(p) = program(json!({ "a": source, "b": { "uses": "template", "with": { "text": "x" }, "if": text } })) {
        let scope = scope(&p, &value);
        if let Some(cond) = &p.nodes[1].cond {
            let first = p.condition(cond, &scope);
            if !clock {
                assert_eq!(first, p.condition(cond, &scope), "evaluated twice, two results: {text:?}");
            }
        }
    }
}
