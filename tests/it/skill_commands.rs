//! `pyra skill …` as a user drives it: new, validate (text and JSON, files, dirs, names),
//! list, show, graph, usage errors.

use crate::harness::Pyra;

#[test]
fn new_skill_validates_and_is_private() {
    let pyra = Pyra::new();
    pyra.run(["skill", "new", "morning"]).success().stdout_has("created ");
    let file = pyra.home_path().join("skills/morning.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=../schemas/skill.schema.json\n"));
    assert!(pyra.home_path().join("schemas/skill.schema.json").is_file());
    pyra.run(["skill", "validate", "morning"]).success().stdout_has("1 file checked: 1 valid");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&pyra.home_path().join("skills")), 0o700);
    }
    // A second `new` refuses to overwrite, and loses nothing.
    pyra.run(["skill", "new", "morning"]).code(1).stderr_has("already exists");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    pyra.run(["skill", "new", "Bad Name"]).code(2).stderr_has("not a valid skill name");
}

#[test]
fn validate_reports_json_for_tools() {
    let out = Pyra::new().run([
        "skill",
        "validate",
        "--format",
        "json",
        "examples/hello.yaml",
        "tests/fixtures/invalid/50-many-errors.yaml",
    ]);
    out.code(1);
    let report = out.json();
    assert_eq!(report["summary"]["files"], 2);
    assert_eq!(report["summary"]["invalid"], 1);
    let bad = &report["files"][1];
    assert_eq!(bad["valid"], false);
    let first = &bad["diagnostics"][0];
    for key in ["severity", "code", "message", "file", "start", "end", "help", "expected"] {
        assert!(first.get(key).is_some(), "diagnostic has `{key}`: {first}");
    }
    assert!(first["start"]["line"].as_u64().unwrap() >= 1);
}

#[test]
fn validate_takes_files_dirs_and_names() {
    let pyra = Pyra::new();
    pyra.run(["skill", "validate", "chat"]).success().stdout_has("<builtin>/skills/chat.yaml");
    pyra.run(["skill", "validate"]).success().stdout_has("5 files checked: 5 valid");
    // A folder (the examples that use plugins need them added: tests/it/examples.rs).
    pyra.run(["skill", "validate", "skills"]).success();
    pyra.run(["skill", "validate", "caht"]).code(2).stderr_has("did you mean `chat`?");
    pyra.run(["skill", "validate", "nope/missing.yaml"]).code(2).stderr_has("no such file");
    pyra.run(["skill", "frobnicate"]).code(2);
}

#[test]
fn list_shows_builtin_home_and_dirs() {
    let pyra = Pyra::new();
    pyra.run(["skill", "new", "chat"]).success();
    pyra.run(["skill", "new", "zeta"]).success();
    let out = pyra.run(["skill", "list", "--dir", "examples"]);
    out.success().stdout_has("NAME").stdout_has("zeta").stdout_has("home*").stdout_has("hello");
    let rows = pyra.run(["skill", "list", "--json"]).json();
    let chat = rows.as_array().unwrap().iter().find(|r| r["name"] == "chat").unwrap();
    assert_eq!(chat["origin"], "home");
    assert_eq!(chat["overrides_builtin"], true);
}

#[test]
fn show_lists_nodes_in_execution_order() {
    let out = Pyra::new().run(["skill", "show", "chat"]);
    out.success().stdout_has("Inputs:").stdout_has("message: string (required)");
    let recall = out.stdout.find("1. recall").expect("recall first");
    let answer = out.stdout.find("2. answer").expect("answer second");
    assert!(recall < answer);
    assert!(out.stdout.contains("after recall"));
}

#[test]
fn show_and_graph_refuse_invalid_skills_with_diagnostics() {
    let out = Pyra::new().run(["skill", "graph", "tests/fixtures/invalid/50-many-errors.yaml"]);
    out.code(1).stderr_has("error[").stderr_has("is not a valid skill");
}

#[test]
fn graph_formats() {
    let pyra = Pyra::new();
    let ascii = pyra.run(["skill", "graph", "chat"]);
    ascii.success().stdout_has("chat · 2 nodes in 2 layers").stdout_has("◀ recall");
    let dot = pyra.run(["skill", "graph", "chat", "--format", "dot"]);
    dot.success().stdout_has("digraph \"chat\"").stdout_has("\"recall\" -> \"answer\";");
    let mermaid = pyra.run(["skill", "graph", "chat", "--format", "mermaid"]);
    mermaid.success().stdout_has("flowchart TD").stdout_has("recall --> answer");
}

#[test]
fn profiles_use_separate_homes() {
    let pyra = Pyra::new();
    pyra.run(["--profile", "work", "skill", "new", "report"]).success();
    assert!(pyra.home_path().join("profiles/work/skills/report.yaml").is_file());
    pyra.run(["skill", "validate", "report"]).code(2);
    pyra.run(["--profile", "work", "skill", "validate", "report"]).success();
}
