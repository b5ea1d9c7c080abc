//! The fuzz corpora replayed on stable: every file of `tests/fuzz/corpus/TARGET/` through
//! the same body the cargo-fuzz target runs (`tests/fuzz/harness/`), so the seeds and every
//! crash found (kept there as a regression test) stay green without nightly.

#[path = "../fuzz/harness/mod.rs"]
mod targets;

use crate::harness::repo_root;

#[test]
fn every_corpus_file_passes_its_target() {
    let corpus = repo_root().join("tests/fuzz/corpus");
    let mut total = 0;
    for (name, target) in targets::TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seed in {}", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} fails (replay: cargo +nightly fuzz run --fuzz-dir tests/fuzz {name} {})",
                file.display(),
                file.display()
            );
            total += 1;
        }
    }
    assert!(total >= targets::TARGETS.len());
}

#[test]
fn every_target_has_a_corpus_and_a_binary() {
    let root = repo_root().join("tests/fuzz");
    for (name, _) in targets::TARGETS {
        assert!(root.join("corpus").join(name).is_dir(), "tests/fuzz/corpus/{name}/ is missing");
        assert!(root.join("fuzz_targets").join(format!("{name}.rs")).is_file(), "fuzz_targets/{name}.rs is missing");
    }
}
