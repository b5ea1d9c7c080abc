//! The prompt-file phase: files read beside the skill, folded into `with:`, their
//! references checked and drawn as edges, their diagnostics located inside them.

use std::path::Path;

use serde_json::json;

use super::prompts::split_text;
use super::{Folder, Validation, validate_in, validate_source};
use crate::graph::EdgeKind;
use crate::registry::{KindSpec, Registry};
use syntax::SourceFile;

/// `template` and an `llm` with the prompt options of the real one.
fn registry() -> Registry {
    let file = json!({ "anyOf": [{ "type": "string" }, { "type": "object" }] });
    let mut r = Registry::new();
    let template = json!({ "type": "object", "properties": { "value": {} }, "additionalProperties": false });
    r.register(KindSpec::new("template", "t", template)).unwrap();
    let llm = json!({
        "type": "object",
        "properties": {
            "prompt": { "type": "string" }, "system": { "type": "string" },
            "prompt_file": file, "system_file": file
        },
        "additionalProperties": false,
        "anyOf": [{ "required": ["prompt"] }, { "required": ["prompt_file"] }]
    });
    r.register(KindSpec::new("llm", "l", llm)).unwrap();
    r
}

const SKILL: &str = "\
name: t
inputs:
  city: { type: string }
nodes:
  facts:
    uses: template
    with: { value: \"{{ inputs.city }}\" }
  ask:
    uses: llm
    with:
      prompt_file: prompts/ask.PROMPT_EXT
      system_file: prompts/system.hbs
";

/// A folder with the skill and its prompt files; validated as `shown/skill.yaml`.
fn check(skill: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, Validation) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let folder = Folder { dir: Some(dir.path().to_path_buf()), shown: Some("shown".into()) };
    let v = validate_in(SourceFile::new("shown/skill.yaml", skill), &registry(), &folder);
    (dir, v)
}

fn rendered(v: &Validation) -> String {
    v.diagnostics.iter().map(|d| d.render(&v.file, false)).collect::<Vec<_>>().join("\n")
}

fn skill(ext: &str) -> String {
    SKILL.replace("PROMPT_EXT", ext)
}

#[test]
fn a_jinja_file_becomes_the_prompt_and_its_nodes_become_edges() {
    let prompt = "Tell me about {{ inputs.city }}.\nFacts: {{ nodes.facts.output }}\n";
    let system = "You speak to someone in {{inputs.city}} ({{run.id}}).";
    let text = skill("j2");
    let (dir, v) = check(&text, &[("prompts/ask.j2", prompt), ("prompts/system.hbs", system)]);
    assert!(v.is_valid(), "{}", rendered(&v));
    let checked = v.checked.unwrap();
    let with = &checked.skill.nodes["ask"].with;
    assert_eq!(with["prompt"], prompt, "the file's text is the prompt template");
    let abs = std::path::absolute(dir.path().join("prompts/ask.j2")).unwrap();
    assert_eq!(with["prompt_file"], abs.to_string_lossy().as_ref(), "the absolute path, for the path policy");
    assert_eq!(checked.graph.dependencies("ask"), vec!["facts"]);
    assert_eq!(checked.graph.edges(), vec![("facts", "ask", EdgeKind::Reference)]);
    let span = checked.graph.edge_span("ask", "facts").unwrap();
    assert_eq!(&text[span], "prompts/ask.j2", "the edge is located at `prompt_file:`");
}

#[test]
fn a_handlebars_file_reads_its_data_through_templates() {
    let system = "{{#each nodes.facts.output as |f|}}- {{f}}\n{{/each}}{{inputs.city}} {{inputs.city}} {{run}}";
    let (dir, v) = check(&skill("md"), &[("prompts/ask.md", "Hi"), ("prompts/system.hbs", system)]);
    assert!(v.is_valid(), "{}", rendered(&v));
    let checked = v.checked.unwrap();
    let file = &checked.skill.nodes["ask"].with["system_file"];
    let abs = std::path::absolute(dir.path().join("prompts/system.hbs")).unwrap();
    assert_eq!(file["path"], abs.to_string_lossy().as_ref());
    assert_eq!(
        file["data"],
        json!({
            "nodes": { "facts": { "output": "{{ nodes.facts.output }}" } },
            "inputs": { "city": "{{ inputs.city }}" },
            "run": "{{ run }}"
        })
    );
    let pieces: Vec<&str> = file["handlebars"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(pieces.concat(), system);
    assert!(pieces.iter().all(|p| !crate::template::has_template_syntax(p)), "{pieces:?}");
    assert_eq!(checked.graph.dependencies("ask"), vec!["facts"]);
    assert!(!checked.skill.nodes["ask"].with.contains_key("system"), "rendered by the executor, not the runtime");
}

#[test]
fn unknown_references_are_located_inside_each_kind_of_file() {
    let prompt = "About {{ inputs.cty }}:\n{{ nodes.fact.output }}\n";
    let system = "Hello\n  {{inputs.city}} and {{nodes.facs.output}} {{#if inputs.tone}}{{/if}} {{input.x}}";
    let (_dir, v) = check(&skill("txt"), &[("prompts/ask.txt", prompt), ("prompts/system.hbs", system)]);
    let out = rendered(&v);
    let codes: Vec<&str> = v.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["unknown-input", "unknown-node", "unknown-node", "unknown-input", "unknown-variable"], "{out}");
    let names: Vec<&str> = v.diagnostics.iter().map(|d| d.file.as_ref().unwrap().name()).collect();
    assert_eq!(names[0], "shown/prompts/ask.txt");
    assert_eq!(names[4], "shown/prompts/system.hbs");
    assert!(out.contains("--> shown/prompts/ask.txt:1:17\n"), "{out}");
    assert!(out.contains("help: did you mean `city`?"), "{out}");
    assert!(out.contains("--> shown/prompts/ask.txt:2:10\n"), "{out}");
    assert!(out.contains("--> shown/prompts/system.hbs:2:31\n"), "{out}");
    assert!(out.contains("2 |   {{inputs.city}} and {{nodes.facs.output}}"), "{out}");
    assert!(out.contains("--> shown/prompts/system.hbs:2:58\n"), "{out}");
    assert!(out.contains("--> shown/prompts/system.hbs:2:74\n"), "{out}");
}

#[test]
fn syntax_errors_are_located_inside_each_kind_of_file() {
    let (_dir, v) = check(
        &skill("jinja"),
        &[("prompts/ask.jinja", "ok\n{% if inputs.city %}\nno end"), ("prompts/system.hbs", "a\n{{#each x}}{{/if}}")],
    );
    let out = rendered(&v);
    assert_eq!(v.diagnostics.len(), 2, "{out}");
    assert!(out.contains("error[template-syntax]: template syntax error in `shown/prompts/ask.jinja`"), "{out}");
    assert!(out.contains("--> shown/prompts/ask.jinja:2:21\n"), "{out}");
    assert!(out.contains("error[template-syntax]: Handlebars syntax error: helper \"each\" was opened"), "{out}");
    assert!(out.contains("--> shown/prompts/system.hbs:2:12\n"), "{out}");
}

#[test]
fn secrets_in_a_jinja_file_must_be_declared() {
    let (_dir, v) = check(&skill("j2"), &[("prompts/ask.j2", "key: {{ secret('api') }}"), ("prompts/system.hbs", "")]);
    let out = rendered(&v);
    assert_eq!(v.diagnostics[0].code, "undeclared-secret", "{out}");
    assert!(out.contains("--> shown/prompts/ask.j2:1:9"), "{out}");
}

#[test]
fn a_cycle_through_a_prompt_file_is_located_at_the_file() {
    let text = "name: t\nnodes:\n  a:\n    uses: template\n    with: { value: \"{{ nodes.b.output }}\" }\n  b:\n    uses: llm\n    with: { prompt_file: p.j2 }\n";
    let (_dir, v) = check(text, &[("p.j2", "{{ nodes.a.output }}")]);
    let cycle = v.diagnostics.iter().find(|d| d.code == "cycle").expect("a cycle");
    assert!(cycle.file.is_none());
    assert!(rendered(&v).contains("dependency cycle"), "{}", rendered(&v));
    let spans: Vec<&str> = std::iter::once(cycle.span.clone().unwrap())
        .chain(cycle.related.iter().map(|r| r.0.clone()))
        .map(|s| &text[s])
        .collect();
    assert!(spans.contains(&"p.j2"), "{spans:?}");
}

#[test]
fn file_problems_are_located_at_the_path() {
    let both = "name: t\nnodes:\n  a:\n    uses: llm\n    with:\n      prompt: hi\n      prompt_file: p.j2\n";
    let (_dir, v) = check(both, &[("p.j2", "x")]);
    assert_eq!(v.diagnostics[0].code, "conflicting-fields", "{}", rendered(&v));
    assert!(rendered(&v).contains("node `a` gives both `prompt` and `prompt_file`"));

    let cases: &[(&str, &str, &str)] = &[
        ("missing.j2", "prompt-file-missing", "prompt file `shown/missing.j2` does not exist"),
        ("p.yaml", "prompt-file-type", "`p.yaml` is not a prompt file Pyra knows"),
        ("\"{{ inputs.x }}.j2\"", "prompt-file-path", "`prompt_file` takes the path of a file"),
        ("prompts", "prompt-file-type", "is not a prompt file"),
        ("prompts.j2", "prompt-file-missing", "`shown/prompts.j2` is a folder"),
    ];
    for (path, code, message) in cases {
        let text = format!("name: t\nnodes:\n  a:\n    uses: llm\n    with:\n      prompt_file: {path}\n");
        let (dir, v) = check(&text, &[]);
        std::fs::create_dir_all(dir.path().join("prompts.j2")).unwrap();
        let v = if *path == "prompts.j2" {
            validate_in(
                SourceFile::new("shown/skill.yaml", text.clone()),
                &registry(),
                &Folder { dir: Some(dir.path().to_path_buf()), shown: Some("shown".into()) },
            )
        } else {
            v
        };
        let d = &v.diagnostics[0];
        assert_eq!(d.code, *code, "{path}: {}", rendered(&v));
        assert!(d.message.contains(message), "{path}: {}", d.message);
        assert_eq!(&text[d.span.clone().unwrap()], *path);
    }
}

#[test]
fn a_skill_without_a_folder_cannot_name_a_relative_file() {
    let text = "name: t\nnodes:\n  a:\n    uses: llm\n    with: { prompt_file: p.j2 }\n";
    let v = validate_source(SourceFile::new("<builtin>/skills/t.yaml", text), &registry());
    assert_eq!(v.diagnostics[0].code, "prompt-file-no-folder", "{}", rendered(&v));
    assert!(rendered(&v).contains("this skill has no folder"));
}

#[test]
fn a_file_that_is_not_utf8_is_located_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.j2"), b"ok\nbad \xff byte").unwrap();
    let text = "name: t\nnodes:\n  a:\n    uses: llm\n    with: { prompt_file: p.j2 }\n";
    let v =
        validate_in(SourceFile::new("s.yaml", text), &registry(), &Folder::of(&dir.path().join("s.yaml"), "s.yaml"));
    let out = rendered(&v);
    assert_eq!(v.diagnostics[0].code, "not-utf8", "{out}");
    assert!(out.contains("--> p.j2:2:5"), "{out}");
}

#[test]
fn folders_name_files_as_the_skill_was_named() {
    let f = Folder::of(Path::new("/abs/skills/a.yaml"), "skills/a.yaml");
    assert_eq!(f.dir.as_deref(), Some(Path::new("/abs/skills")));
    assert_eq!(f.shown.as_deref(), Some(Path::new("skills")));
    assert_eq!(Folder::of(Path::new("a.yaml"), "a.yaml").dir.as_deref(), Some(Path::new(".")));
}

#[test]
fn handlebars_text_is_split_out_of_jinja_syntax() {
    assert_eq!(split_text("a {{b}} {%c {#d} {x"), ["a {", "{b}} {", "%c {", "#d} {x"]);
    assert_eq!(split_text(""), [""]);
    let text = "é{{{x}}}{{";
    assert_eq!(split_text(text).concat(), text);
}
