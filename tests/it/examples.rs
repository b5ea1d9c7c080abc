//! Every file in `examples/` validates, has the header the README promises, and draws.

use crate::harness::{Pyra, repo_root};

fn example_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_validates() {
    let files = example_files();
    assert!(files.len() >= 6, "at least six examples, found {}", files.len());
    let out = Pyra::new().run(["skill", "validate", "examples"]);
    out.success().stdout_has(&format!("{} files checked: {} valid, 0 invalid", files.len(), files.len()));
}

#[test]
fn every_example_says_what_it_shows_and_how_to_run_it() {
    for file in example_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(header.iter().any(|l| l.contains("$schema=")), "{} lacks the schema header", file.display());
        assert!(header.iter().any(|l| l.contains("pyra ")), "{} does not say how to run it", file.display());
        assert!(header.len() >= 3, "{} needs a header saying what it shows", file.display());
    }
}

#[test]
fn every_example_draws_in_all_formats() {
    let pyra = Pyra::new();
    for file in example_files() {
        let path = file.to_string_lossy().to_string();
        for format in ["ascii", "dot", "mermaid"] {
            pyra.run(["skill", "graph", &path, "--format", format]).success();
        }
        pyra.run(["skill", "show", &path]).success().stdout_has("Nodes (execution order):");
    }
}
