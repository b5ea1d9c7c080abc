//! The malformed-skill corpus: every file in `tests/fixtures/invalid/` is rejected with
//! exit code 1 and the exact diagnostics in `tests/it/snapshots/` (insta; review changes
//! with `cargo insta review` or accept them with `INSTA_UPDATE=always`).

use crate::harness::{Output, Pyra, repo_root};

fn render(out: &Output) -> String {
    format!("exit: {}\n--- stdout\n{}--- stderr\n{}", out.code, out.stdout, out.stderr)
}

#[test]
fn malformed_skills_are_reported_exactly() {
    let pyra = Pyra::new();
    insta::glob!("../fixtures", "invalid/*.yaml", |path| {
        let rel = path.strip_prefix(repo_root()).expect("fixture under the repo").to_string_lossy().to_string();
        let out = pyra.run(["skill", "validate", &rel]);
        assert_eq!(out.code, 1, "{rel} must be invalid:\n{}", render(&out));
        assert!(!out.stderr.contains("panicked"), "{rel} panicked:\n{}", out.stderr);
        assert!(out.stderr.contains(&format!("--> {rel}")), "{rel}: diagnostics must name the file:\n{}", out.stderr);
        insta::assert_snapshot!(render(&out));
    });
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let out = Pyra::new().run(["skill", "validate", "tests/fixtures/invalid/50-many-errors.yaml"]);
    out.code(1);
    let count = out.stderr.matches("\nerror[").count() + usize::from(out.stderr.starts_with("error["));
    assert!(count >= 8, "expected at least 8 errors, got {count}:\n{}", out.stderr);
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut text = String::from("name: huge\nnodes:\n");
    let mut i = 0;
    while text.len() <= 17 * 1024 * 1024 {
        text.push_str(&format!("  n{i}:\n    uses: template\n    with: {{ value: \"{}\" }}\n", "x".repeat(200)));
        i += 1;
    }
    std::fs::write(&path, text).unwrap();
    let out = Pyra::new().in_dir(dir.path()).run(["skill", "validate", "huge.yaml"]);
    out.code(1).stderr_has("error[file-too-large]").stderr_has("skill files are limited to 16777216 bytes");
}

#[test]
fn a_large_valid_file_parses_within_budget() {
    // 20,000 nodes (about 1.6 MB) is far beyond any hand-written skill but must work.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("name: wide\nnodes:\n");
    for i in 0..20_000 {
        text.push_str(&format!("  n{i}:\n    uses: template\n    with: {{ value: \"{{{{ inputs }}}} {i}\" }}\n"));
    }
    std::fs::write(dir.path().join("wide.yaml"), text).unwrap();
    Pyra::new().in_dir(dir.path()).run(["skill", "validate", "wide.yaml"]).success().stdout_has("(20000 nodes)");
}
