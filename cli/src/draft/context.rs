//! What the drafting model is told: the skill language in brief, every node kind of this
//! build and every usable plugin tool on this machine with its `with:` fields, the vault's
//! key names (never values), and two example skills. Tools are described, never callable:
//! the drafting node has none.

use std::fmt::Write as _;

use serde_json::Value;

/// The language in brief: what the schema says, in the words a model follows best.
const LANGUAGE: &str = r#"A Pyra skill is one YAML file:

name: lowercase-with-dashes          # required; the file's name without .yaml
description: One sentence.           # what it does
inputs:                              # optional; each: type (string|integer|number|boolean|array|object),
  city: { type: string, default: Berlin, description: … }   # default, description, enum, minimum, maximum, min_length, pattern
triggers:                            # optional; when it runs by itself (the daemon)
  - cron: "30 7 * * MON-FRI"         # 5-field cron; timezone: Europe/Berlin (IANA); catch_up: once|skip|all; overlap: skip|queue|allow
  - event: email.received            # an event name; with: { input: "{{ event.data.x }}" }
  - watch: ~/Inbox                   # files; glob: "*.md"
nodes:                               # required; a DAG of nodes by id
  fetch:
    uses: http                       # the node kind (see the list below)
    with: { url: "https://…" }       # the kind's fields
  summarize:
    uses: llm
    needs: fetch                     # optional: explicit order; referencing nodes.fetch also orders
    with:
      prompt: "Summarize: {{ nodes.fetch.output.body }}"
    retry: { attempts: 3, backoff: 5s }
    timeout: 2m
    if: "{{ inputs.send }}"          # optional condition
    on_error: continue               # optional: fail (default) | continue
outputs:
  summary: "{{ nodes.summarize.output }}"

Templates are Jinja ({{ … }}): inputs.NAME, nodes.ID.output (or nodes.ID.output.FIELD), event.data, now(), secret('VAULT_KEY').
A node's output is untrusted data when it comes from outside (http, files, models, tools):
never put it in a program's arguments without an `approval` node before; prefer plugin tools.
Anything that acts on the world (sends, writes, deletes, runs a program) comes after an
`approval` node (uses: approval, with: { message: "…" }) unless the user said otherwise.
Use only the node kinds and tools listed below, with only their listed fields."#;

/// Example skills shipped with Pyra (the repository's `examples/`).
const EXAMPLES: &[(&str, &str)] = &[
    ("morning-brief.yaml", include_str!("../../../examples/morning-brief.yaml")),
    ("disk-report.yaml", include_str!("../../../examples/disk-report.yaml")),
];

/// One line per `with:` field: `name (type, required): description`.
fn fields(schema: &Value) -> String {
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = String::new();
    for (name, field) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
        let kind = field.get("type").map(|t| t.to_string().replace('"', "")).unwrap_or_else(|| "any".into());
        let description = field.get("description").and_then(Value::as_str).unwrap_or("");
        let first = description.lines().next().unwrap_or("");
        let req = if required.contains(&name.as_str()) { ", required" } else { "" };
        let _ = writeln!(out, "      {name} ({kind}{req}): {first}");
    }
    out
}

/// The system prompt for a draft.
pub fn system_prompt(
    kinds: &runtime::Kinds,
    secret_names: Option<&[String]>,
    read_only: &dyn Fn(&str) -> bool,
) -> String {
    let mut out = String::from("You write Pyra skills: YAML files that Pyra validates and runs.\n\n");
    out.push_str(LANGUAGE);
    // The format's JSON Schema itself (without the kinds, listed below field by field).
    let _ = write!(out, "\n\nThe JSON Schema of a skill file:\n{}\n", lang::schema::base_schema());
    out.push_str("\n\nNode kinds (uses:) and their with: fields:\n");
    for spec in kinds.kinds().filter(|k| !k.tool) {
        let _ = writeln!(out, "  {}: {}", spec.name, spec.summary.lines().next().unwrap_or(""));
        out.push_str(&fields(&spec.with_schema));
    }
    let tools: Vec<&lang::KindSpec> = kinds.kinds().filter(|k| k.tool && k.blocked.is_none()).collect();
    if tools.is_empty() {
        out.push_str("\nNo plugin tools are installed on this machine.\n");
    } else {
        out.push_str("\nPlugin tools on this machine (use as a node kind, `uses: PLUGIN.TOOL`, or list in an agent's `tools:`):\n");
        for spec in tools {
            let hint = if read_only(&spec.name) { " [read-only]" } else { " [acts: put an approval before it]" };
            let _ = writeln!(out, "  {}{hint}: {}", spec.name, spec.summary.lines().next().unwrap_or(""));
            out.push_str(&fields(&spec.with_schema));
        }
    }
    match secret_names {
        Some([]) => out.push_str("\nThe vault holds no keys yet: a secret the skill needs is read with secret('NAME'); say which NAME the user must store.\n"),
        Some(names) => {
            let _ = writeln!(out, "\nVault keys (read with secret('NAME'); values are never shown): {}", names.join(", "));
        }
        None => out.push_str("\nThe vault's key names are not known (it is locked); a secret is read with secret('NAME').\n"),
    }
    out.push_str("\nExamples:\n");
    for (name, text) in EXAMPLES {
        let _ = writeln!(out, "--- {name}\n{text}");
    }
    out.push_str(
        "\nAnswer with the skill's YAML only, in one ```yaml fenced block, no other text. \
         Do not invent kinds, tools or fields.",
    );
    out
}

/// The first request.
pub fn first_request(name: &str, describe: &str) -> String {
    format!("Write the skill `{name}` (name: {name}).\nWhat it should do:\n{describe}\n")
}

/// A repair request: the last draft and what the validator said about it.
pub fn repair_request(name: &str, describe: &str, draft: &str, diagnostics: &str) -> String {
    format!(
        "Write the skill `{name}` (name: {name}).\nWhat it should do:\n{describe}\n\n\
         Your last draft:\n```yaml\n{draft}\n```\n\nPyra's validator found these errors (with line:column):\n{diagnostics}\n\
         Fix every error and answer with the whole corrected YAML in one ```yaml block."
    )
}

/// The YAML in a reply: the first fenced block (```yaml or ```), else the whole reply.
pub fn extract_yaml(reply: &str) -> String {
    if let Some(start) = reply.find("```") {
        let after = &reply[start + 3..];
        let body = after.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
        if let Some(end) = body.find("```") {
            return body[..end].trim_end().to_string() + "\n";
        }
    }
    reply.trim().to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_taken_from_the_fence() {
        assert_eq!(extract_yaml("Here:\n```yaml\nname: a\n```\nbye"), "name: a\n");
        assert_eq!(extract_yaml("```\nname: b\n```"), "name: b\n");
        assert_eq!(extract_yaml("name: c"), "name: c\n");
    }

    #[test]
    fn the_prompt_lists_kinds_tools_and_secret_names_only() {
        let kinds = plugins::builtin_registry();
        let text = system_prompt(&kinds, Some(&["SMTP_PASSWORD".to_string()]), &|_| true);
        assert!(text.contains("  http:") && text.contains("url (string, required)"), "{text}");
        assert!(text.contains("Vault keys (read with secret('NAME'); values are never shown): SMTP_PASSWORD"));
        assert!(text.contains("No plugin tools are installed"));
        assert!(text.contains("--- morning-brief.yaml"));
        assert!(text.contains("The JSON Schema of a skill file:\n{"), "the schema itself is given");
        // About 4 characters a token: the whole context stays far below a model's window.
        assert!(text.len() < 40_000, "{} characters", text.len());
    }
}
