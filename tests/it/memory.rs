//! `pyra memory`: notes written and appended from standard input, searched with hostile
//! query text, edited and deleted outside Pyra and picked up, removed.

use std::io::Write;
use std::process::Stdio;

use crate::harness::{Output, Pyra};

fn with_stdin(pyra: &Pyra, args: &[&str], text: &str) -> Output {
    let mut child =
        pyra.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    Output::from(child.wait_with_output().unwrap())
}

#[test]
fn notes_are_written_searched_reconciled_and_removed() {
    let pyra = Pyra::new();
    with_stdin(
        &pyra,
        &["memory", "write", "work/standup", "--summary", "Daily standup"],
        "Standup at 9:30 in room Kepler\n",
    )
    .success();
    with_stdin(&pyra, &["memory", "append", "work/standup"], "Bring the release checklist\n").success();
    with_stdin(&pyra, &["memory", "write", "recipes/bread"], "Sourdough: 500g flour, 350g water\n").success();
    pyra.run(["memory", "list"]).success().stdout_has("work/standup").stdout_has("Daily standup");
    let hits = pyra.run(["memory", "search", "checklist", "--json"]);
    hits.success();
    assert_eq!(hits.json()[0]["name"], "work/standup");
    for hostile in ["\"unbalanced", "NEAR(a b", "-", "*", "title:x", "a AND OR NOT", "don't (", "flour)"] {
        pyra.run(["memory", "search", hostile]).success();
    }
    pyra.run(["memory", "search", "flour", "--category", "work", "--json"]).success().stdout_has("[]");

    // Edited and deleted outside Pyra: the next command sees it.
    let dir = pyra.home_path().join("memory");
    std::fs::write(dir.join("recipes/bread.md"), "Rye bread: caraway seeds\n").unwrap();
    let rye = pyra.run(["memory", "search", "caraway", "--json"]);
    assert_eq!(rye.json()[0]["name"], "recipes/bread");
    std::fs::remove_file(dir.join("work/standup.md")).unwrap();
    pyra.run(["memory", "search", "checklist", "--json"]).success().stdout_has("[]");
    pyra.run(["memory", "rm", "recipes/bread"]).success();
    pyra.run(["memory", "stats"]).success().stdout_has("notes       0");
    pyra.run(["memory", "write", "../escape"]).code(1).stderr_has("escape");
}

#[test]
fn twenty_processes_appending_at_once_lose_no_line() {
    let pyra = Pyra::new();
    with_stdin(&pyra, &["memory", "write", "log"], "start\n").success();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut child = pyra
                .command(["memory", "append", "log"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(format!("line from process {i}\n").as_bytes()).unwrap();
            child
        })
        .collect();
    for child in children {
        Output::from(child.wait_with_output().unwrap()).success();
    }
    let note = pyra.run(["memory", "show", "log"]);
    note.success();
    for i in 0..20 {
        assert!(note.stdout.contains(&format!("line from process {i}\n")), "line {i} lost:\n{}", note.stdout);
    }
    let hits = pyra.run(["memory", "search", "process", "--json"]);
    assert_eq!(hits.json()[0]["name"], "log", "the index follows the file");
}
