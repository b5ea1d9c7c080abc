//! The view of a valid draft, shown before anything is saved: its YAML, its DAG, its
//! triggers with their next fire times, the secrets and tools it would use, which nodes
//! would ask for approval, and — flagged — every node that would act on the world
//! (send, write, run a program, a tool that is not read-only) with no approval before it.

use std::collections::BTreeSet;

use lang::Checked;
use mcp::manifest::Decision;
use serde_json::Value;

/// What is known of a plugin tool: read-only by its hint, and its policy's decision.
pub type ToolFacts<'a> = &'a dyn Fn(&str) -> Option<(bool, Decision)>;

/// The review: the text to show, and the nodes that act without asking.
pub struct Review {
    pub text: String,
    pub unguarded: Vec<String>,
}

/// Secret names a skill reads (`secret('NAME')` or `secret("NAME")`).
pub fn secrets_in(yaml: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    let mut rest = yaml;
    while let Some(at) = rest.find("secret(") {
        rest = &rest[at + 7..];
        let quote = rest.chars().next();
        if let Some(q @ ('\'' | '"')) = quote
            && let Some(end) = rest[1..].find(q)
        {
            names.insert(rest[1..1 + end].to_string());
        }
    }
    names.into_iter().collect()
}

/// Whether a node acts on the world, and how (`None`: it only reads or computes).
fn acts(kind: &str, with: &indexmap::IndexMap<String, Value>, tool: ToolFacts<'_>) -> Option<String> {
    match kind {
        "exec" => Some("runs a program".into()),
        "file.write" => Some("writes a file".into()),
        "message.send" => Some("sends a message".into()),
        "http" => {
            let method = with.get("method").and_then(Value::as_str).unwrap_or("GET").to_ascii_uppercase();
            (!matches!(method.as_str(), "GET" | "HEAD")).then(|| format!("sends an HTTP {method}"))
        }
        _ => match tool(kind) {
            Some((false, decision)) if decision != Decision::Ask => {
                Some(format!("calls `{kind}`, which is not read-only"))
            }
            _ => None,
        },
    }
}

pub fn review(checked: &Checked, yaml: &str, tool: ToolFacts<'_>, findings: &[String]) -> Review {
    let skill = &checked.skill;
    let mut text = format!("── the draft of `{}` (valid) ──\n{yaml}", skill.name);
    if !yaml.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("\n── its graph ──\n");
    text.push_str(&crate::graph_render::ascii(checked));
    text.push_str("\n── when it runs ──\n");
    let fires = crate::schedule_cmd::next_fires(skill, 3);
    let others = skill.triggers.len() - fires.len();
    if skill.triggers.is_empty() {
        text.push_str("  only when you run it (no triggers)\n");
    }
    for line in &fires {
        text.push_str(&format!("  {line}\n"));
    }
    if others > 0 && !skill.triggers.is_empty() {
        text.push_str(&format!("  {others} event or watch trigger(s) (the daemon runs it when they fire)\n"));
    }
    let secrets = secrets_in(yaml);
    text.push_str(&format!(
        "\n── secrets it reads ──\n  {}\n",
        if secrets.is_empty() { "none".to_string() } else { secrets.join(", ") }
    ));
    let mut tools: BTreeSet<String> = BTreeSet::new();
    let mut asks = Vec::new();
    let mut unguarded = Vec::new();
    let approvals: BTreeSet<&str> =
        skill.nodes.iter().filter(|(_, n)| n.uses == "approval").map(|(id, _)| id.as_str()).collect();
    for (id, node) in &skill.nodes {
        if tool(&node.uses).is_some() {
            tools.insert(node.uses.clone());
        }
        if node.uses == "agent" {
            for t in node.with.get("tools").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                tools.insert(t.to_string());
            }
        }
        if node.uses == "approval" {
            asks.push(format!("{id} (an approval node)"));
        } else if let Some((_, Decision::Ask)) = tool(&node.uses) {
            asks.push(format!("{id} (`{}`: its plugin's policy asks)", node.uses));
        }
        if let Some(how) = acts(&node.uses, &node.with, tool)
            && !guarded(checked, id, &approvals)
        {
            unguarded.push(format!("{id}: {how}"));
        }
    }
    text.push_str(&format!(
        "── tools it uses ──\n  {}\n",
        if tools.is_empty() { "none".to_string() } else { tools.into_iter().collect::<Vec<_>>().join(", ") }
    ));
    text.push_str(&format!(
        "── asks for approval ──\n  {}\n",
        if asks.is_empty() { "nothing".to_string() } else { asks.join("\n  ") }
    ));
    if !unguarded.is_empty() {
        text.push_str("\n⚠ acts on the world without asking first:\n");
        for line in &unguarded {
            text.push_str(&format!("  {line}\n"));
        }
        text.push_str(
            "  add an `approval` node before it (or a plugin policy that asks) unless that is what you want\n",
        );
    }
    if !findings.is_empty() {
        text.push_str(&format!(
            "\n⚠ the model's draft contains text that looks like prompt injection ({}); read it before saving\n",
            findings.join(", ")
        ));
    }
    Review { text, unguarded }
}

/// Whether an approval node comes before `id` (among its dependencies, transitively).
fn guarded(checked: &Checked, id: &str, approvals: &BTreeSet<&str>) -> bool {
    let mut stack = vec![id.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(node) = stack.pop() {
        for dep in checked.graph.dependencies(&node) {
            if approvals.contains(dep) {
                return true;
            }
            if seen.insert(dep.to_string()) {
                stack.push(dep.to_string());
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_found() {
        assert_eq!(secrets_in("a: \"{{ secret('SMTP') }}\"\nb: '{{ secret(\"TOKEN\") }}'"), vec!["SMTP", "TOKEN"]);
    }

    #[test]
    fn an_unguarded_program_is_flagged_and_a_guarded_one_not() {
        let kinds = plugins::builtin_registry();
        let check = |yaml: &str| {
            let v = lang::validate_source(syntax::source::SourceFile::new("d.yaml", yaml.to_string()), &kinds);
            let checked = v.checked.expect("valid");
            review(&checked, yaml, &|_| None, &[]).unguarded
        };
        let bare = "name: d\nnodes:\n  run:\n    uses: exec\n    with: { argv: [rm, -rf, /tmp/x] }\n";
        assert_eq!(check(bare), vec!["run: runs a program"]);
        let asked = "name: d\nnodes:\n  ok:\n    uses: approval\n    with: { message: go? }\n  run:\n    uses: exec\n    needs: ok\n    with: { argv: [rm, -rf, /tmp/x] }\n";
        assert!(check(asked).is_empty());
    }
}
