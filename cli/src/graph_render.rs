//! Drawing a skill's graph: a layered picture for the terminal, Graphviz dot, Mermaid.

use lang::Checked;
use lang::graph::EdgeKind;
use lang::model::{Condition, Node};

/// Most columns the terminal picture uses before wrapping a layer onto a new row.
const MAX_WIDTH: usize = 100;

fn badges(node: &Node) -> Vec<String> {
    let mut b = Vec::new();
    if node.condition.is_some() && !matches!(node.condition, Some(Condition::Literal(true))) {
        b.push("if".to_string());
    }
    if node.for_each.is_some() {
        b.push("for_each".into());
    }
    if node.retry.is_some() {
        b.push("retry".into());
    }
    if node.timeout.is_some() {
        b.push("timeout".into());
    }
    b
}

/// A picture in layers: each layer a row of boxes, each box naming the node, its kind and
/// the nodes it waits for (`◀ a`).
pub fn ascii(checked: &Checked) -> String {
    let skill = &checked.skill;
    let layers = checked.graph.layers();
    let mut out = format!(
        "{} · {} node{} in {} layer{}\n",
        skill.name,
        skill.nodes.len(),
        if skill.nodes.len() == 1 { "" } else { "s" },
        layers.len(),
        if layers.len() == 1 { "" } else { "s" }
    );
    for (depth, layer) in layers.iter().enumerate() {
        let boxes: Vec<Vec<String>> = layer
            .iter()
            .map(|id| {
                let node = &skill.nodes[id];
                let mut lines = vec![id.clone()];
                let b = badges(node);
                lines.push(if b.is_empty() { node.uses.clone() } else { format!("{} [{}]", node.uses, b.join(",")) });
                for dep in checked.graph.dependencies(id) {
                    lines.push(format!("◀ {dep}"));
                }
                lines
            })
            .collect();
        out.push('\n');
        let label = format!("{:>2} ", depth + 1);
        let pad = " ".repeat(label.chars().count());
        let mut row: Vec<&Vec<String>> = Vec::new();
        let mut width = 0;
        let mut first_row = true;
        let flush = |row: &mut Vec<&Vec<String>>, out: &mut String, first: &mut bool| {
            if row.is_empty() {
                return;
            }
            let lead = if *first { label.clone() } else { pad.clone() };
            *first = false;
            out.push_str(&draw_row(row, &lead, &pad));
            row.clear();
        };
        for b in &boxes {
            let w = box_width(b) + 2;
            if width + w > MAX_WIDTH && !row.is_empty() {
                flush(&mut row, &mut out, &mut first_row);
                width = 0;
            }
            row.push(b);
            width += w;
        }
        flush(&mut row, &mut out, &mut first_row);
    }
    out
}

fn box_width(lines: &[String]) -> usize {
    lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 4
}

fn draw_row(boxes: &[&Vec<String>], lead: &str, pad: &str) -> String {
    let height = boxes.iter().map(|b| b.len()).max().unwrap_or(0);
    let mut out = String::new();
    let widths: Vec<usize> = boxes.iter().map(|b| box_width(b)).collect();
    let line = |out: &mut String, first: &str, f: &dyn Fn(usize) -> String| {
        out.push_str(first);
        let parts: Vec<String> = (0..boxes.len()).map(f).collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut out, lead, &|i| format!("╭{}╮", "─".repeat(widths[i] - 2)));
    for row in 0..height {
        line(&mut out, pad, &|i| {
            let text = boxes[i].get(row).cloned().unwrap_or_default();
            let fill = widths[i] - 4 - text.chars().count();
            format!("│ {text}{} │", " ".repeat(fill))
        });
    }
    line(&mut out, pad, &|i| format!("╰{}╯", "─".repeat(widths[i] - 2)));
    out
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz: `pyra skill graph X --format dot | dot -Tsvg > x.svg`. Dashed edges come
/// from `needs:`, solid ones from template references.
pub fn dot(checked: &Checked) -> String {
    let skill = &checked.skill;
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n",
        esc(&skill.name)
    );
    for (id, node) in &skill.nodes {
        let b = badges(node);
        let extra = if b.is_empty() { String::new() } else { format!("\\n[{}]", esc(&b.join(", "))) };
        out.push_str(&format!("  \"{}\" [label=\"{}\\n{}{extra}\"];\n", esc(id), esc(id), esc(&node.uses)));
    }
    for (from, to, kind) in checked.graph.edges() {
        let style = if kind == EdgeKind::Needs { " [style=dashed]" } else { "" };
        out.push_str(&format!("  \"{}\" -> \"{}\"{style};\n", esc(from), esc(to)));
    }
    out.push_str("}\n");
    out
}

/// Mermaid, for markdown: paste between ```mermaid fences.
pub fn mermaid(checked: &Checked) -> String {
    let skill = &checked.skill;
    let mut out = format!("flowchart TD\n  %% {}\n", skill.name.replace('\n', " "));
    for (id, node) in &skill.nodes {
        let b = badges(node);
        let extra = if b.is_empty() { String::new() } else { format!("<br/>[{}]", b.join(", ")) };
        out.push_str(&format!("  {id}[\"{id}<br/><small>{}</small>{extra}\"]\n", node.uses.replace('"', "#quot;")));
    }
    for (from, to, kind) in checked.graph.edges() {
        let arrow = if kind == EdgeKind::Needs { "-.->" } else { "-->" };
        out.push_str(&format!("  {from} {arrow} {to}\n"));
    }
    out
}
