//! Multi-byte characters anywhere in a skill or in config.yaml never crash Pyra (issue
//! #22: a YAML error whose span ended inside a `“` panicked the snippet renderer).
//!
//! A seeded property test inserts multi-byte text (`é`, `“`, `😀`, `日本`, …, alone or
//! next to YAML and template punctuation) at random character boundaries, line starts,
//! line ends and the end of the file of every example skill, every built-in skill and a
//! full config.yaml. In process, through the engine, every validation must end, every
//! diagnostic's span and related spans must lie inside the file on character
//! boundaries, and rendering them (text and JSON) must not panic. Then a few hundred
//! mutated files go through the real binary (`skill validate`, `run --dry-run`,
//! `config get`), whose exit code must be 0, 1 or 2.
//!
//! `PYRA_MUTATIONS=N` sets how many mutated inputs the in-process tests make (the binary
//! gets a fifth of it as skill files and a thirtieth as configs), `PYRA_MUTATION_SEED=S`
//! the seed; a failure prints both and the input. Each test prints how many inputs it ran
//! and how long that took (shown with `--nocapture`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use config::{Config, ConfigError};
use runtime::{RunError, SkillText};
use syntax::source::floor_char_boundary;
use syntax::{Diagnostic, SourceFile};

use crate::harness::{Pyra, repo_root};

/// Mutated inputs per in-process test by default: a few seconds in a debug build.
const DEFAULT_MUTATIONS: usize = 1500;
const DEFAULT_SEED: u64 = 22;

/// What gets inserted: characters of 2, 3 and 4 bytes, a combining accent, two CJK
/// characters.
const MULTI_BYTE: &[&str] = &["é", "“", "”", "‘", "’", "😀", "日本", "ß", "€", "\u{301}", "Ω", "\u{a0}"];

/// Put next to a multi-byte insertion half of the time, so it also lands in keys,
/// quoted strings, templates, comments and broken syntax.
const PUNCTUATION: &[&str] =
    &["{{ ", " }}", "{{", "}}", "{%", "\"", "'", ":", ": ", "\n", "# ", "- ", "[", "{", " ", "|\n", "\t", "nodes."];

fn mutations() -> usize {
    std::env::var("PYRA_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MUTATIONS)
}

fn seed() -> u64 {
    std::env::var("PYRA_MUTATION_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SEED)
}

/// The skills to mutate: `examples/*.yaml` and `skills/*.yaml`, as (name, text).
fn skill_corpus() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["examples", "skills"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).expect("folder exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
                files.push((name, std::fs::read_to_string(&path).expect("readable")));
            }
        }
    }
    files.sort();
    assert!(files.len() >= 10, "the corpus is the examples and built-in skills: {}", files.len());
    files
}

/// A valid config.yaml using every section and field.
const CONFIG: &str = "\
# My models. Keys are in the vault.
default_model: local   # used when a skill names none
models:
  - name: local
    provider: ollama
    model: llama3.2
    base_url: http://localhost:11434
    options: { temperature: 0.2, max_tokens: 2048, context_window: 8192, first_token_timeout: 30 }
  # the paid one
  - name: cloud
    provider: anthropic
    model: claude-sonnet-4-5
    key: ANTHROPIC_API_KEY
    options:
      idle_timeout: 60
    prices: { prompt: 3, completion: 15, cached: 0.3 }
  - name: router
    provider: openrouter
    model: \"openai/gpt-4.1-mini\"
chat:
  recall: 5
  recall_category: 'notes'
  tools: [recall, remember]
";

/// One mutated copy of `text`: one to three insertions (or replacements of one
/// character) of multi-byte text.
fn mutate(rng: &mut fastrand::Rng, text: &str) -> String {
    let mut text = text.to_string();
    for _ in 0..rng.usize(1..=3) {
        let mut piece = MULTI_BYTE[rng.usize(..MULTI_BYTE.len())].to_string();
        if rng.bool() {
            let punct = PUNCTUATION[rng.usize(..PUNCTUATION.len())];
            piece = if rng.bool() { format!("{punct}{piece}") } else { format!("{piece}{punct}") };
        }
        let at = position(rng, &text);
        if rng.u8(..5) == 0 && at < text.len() {
            // Replace the character there (a quote, a colon, a brace…).
            let len = text[at..].chars().next().map_or(0, char::len_utf8);
            text.replace_range(at..at + len, &piece);
        } else {
            text.insert_str(at, &piece);
        }
    }
    text
}

/// A character boundary: anywhere, at a line start, at a line end, or the end.
fn position(rng: &mut fastrand::Rng, text: &str) -> usize {
    let any = floor_char_boundary(text, rng.usize(..=text.len()));
    match rng.u8(..10) {
        0..=3 => any,
        4 | 5 => text[..any].rfind('\n').map_or(0, |i| i + 1),
        6 | 7 => text[any..].find('\n').map_or(text.len(), |i| any + i),
        8 => text.len(),
        _ => text.trim_end().len(),
    }
}

/// Every span and related span lies inside the file, on character boundaries, and the
/// diagnostics render (text and JSON) without panicking.
fn check_diagnostics(file: &SourceFile, diagnostics: &[Diagnostic]) -> Result<(), String> {
    let text = file.text();
    for d in diagnostics {
        let spans = d.span.iter().chain(d.related.iter().map(|(s, _)| s));
        for span in spans {
            let fits = span.start <= span.end && span.end <= text.len();
            if !fits || !text.is_char_boundary(span.start) || !text.is_char_boundary(span.end) {
                return Err(format!("[{}] {}: span {span:?} is not on character boundaries", d.code, d.message));
            }
        }
        catch_unwind(AssertUnwindSafe(|| (d.render(file, false), d.render(file, true), d.to_json(file))))
            .map_err(|_| format!("[{}] {}: rendering panicked", d.code, d.message))?;
    }
    Ok(())
}

/// Validates (and, when valid, compiles) one skill text in process.
fn check_skill(registry: &runtime::Kinds, name: &str, text: &str) -> Result<(), String> {
    let validation = catch_unwind(AssertUnwindSafe(|| lang::validate_source(SourceFile::new(name, text), registry)))
        .map_err(|_| "validation panicked".to_string())?;
    check_diagnostics(&validation.file, &validation.diagnostics)?;
    if validation.is_valid() {
        let skill = SkillText { name: "m".into(), path: None, display: name.into(), source: text.into() };
        match catch_unwind(AssertUnwindSafe(|| runtime::compile(registry, &skill))) {
            Err(_) => return Err("compiling panicked".into()),
            Ok(Err(RunError::Invalid { file, diagnostics })) => check_diagnostics(&file, &diagnostics)?,
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Loads one config text in process, checks provider ids like `pyra config` does, and
/// tries an edit with a multi-byte value.
fn check_config(rng: &mut fastrand::Rng, text: &str) -> Result<(), String> {
    let invalid = |e: ConfigError| match e {
        ConfigError::Invalid(i) => check_diagnostics(&i.file, &i.diagnostics),
        _ => Ok(()),
    };
    let path = Path::new("/home/u/.pyra/config.yaml");
    let loaded = catch_unwind(AssertUnwindSafe(|| Config::from_text(path, text, true)))
        .map_err(|_| "loading panicked".to_string())?;
    let config = match loaded {
        Ok(config) => config,
        Err(e) => return invalid(e),
    };
    let known = |id: &str| {
        if llm::providers::get(id).is_some() { Ok(()) } else { Err("unknown".to_string()) }
    };
    if let Err(e) = config.validate_with(known) {
        invalid(e)?;
    }
    const KEYS: &[&str] = &["default_model", "models.local.model", "models.cloud.key", "chat.recall_category"];
    let key = KEYS[rng.usize(..KEYS.len())];
    let value = mutate(rng, "value");
    let edited = catch_unwind(AssertUnwindSafe(|| config.set(key, &value)))
        .map_err(|_| format!("setting {key} to {value:?} panicked"))?;
    match edited {
        Ok(_) => Ok(()),
        Err(e) => invalid(e),
    }
}

#[track_caller]
fn fail(what: &str, seed: u64, index: usize, problem: &str, input: &str) -> ! {
    panic!(
        "{what} #{index} (PYRA_MUTATION_SEED={seed}): {problem}\n--- input ({} bytes)\n{input}\n--- end",
        input.len()
    );
}

#[allow(clippy::print_stderr, reason = "the count and time go into the test's output")]
fn report(what: &str, count: usize, started: Instant) {
    eprintln!("multibyte: {count} {what} in {:.2?} (seed {})", started.elapsed(), seed());
}

#[test]
fn mutated_skills_validate_with_spans_on_char_boundaries() {
    let registry = plugins::builtin_registry();
    let corpus = skill_corpus();
    for (name, text) in &corpus {
        check_skill(&registry, name, text).unwrap_or_else(|e| panic!("{name} unmutated: {e}"));
    }
    let (seed, count) = (seed(), mutations());
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    for i in 0..count {
        let (name, text) = &corpus[rng.usize(..corpus.len())];
        let mutated = mutate(&mut rng, text);
        if let Err(problem) = check_skill(&registry, name, &mutated) {
            fail(name, seed, i, &problem, &mutated);
        }
    }
    report("mutated skills validated in process", count, started);
}

#[test]
fn mutated_configs_load_with_spans_on_char_boundaries() {
    check_config(&mut fastrand::Rng::with_seed(0), CONFIG).expect("the config is valid");
    Config::from_text(Path::new("/c.yaml"), CONFIG, true).expect("the config is valid");
    let (seed, count) = (seed(), mutations());
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    for i in 0..count {
        let mutated = mutate(&mut rng, CONFIG);
        if let Err(problem) = check_config(&mut rng, &mutated) {
            fail("config.yaml", seed, i, &problem, &mutated);
        }
    }
    report("mutated configs loaded in process", count, started);
}

/// The file of the issue: every command that reads it shows the error with a caret
/// under the whole `“` (bytes 197..200), and JSON offsets are on character boundaries.
#[test]
fn a_stray_typographic_quote_at_the_end_is_located_everywhere() {
    let pyra = Pyra::new();
    let path = "tests/fixtures/invalid/56-multibyte-stray-quote-at-eof.yaml";
    let shown = format!("--> {path}:7:1\n  |\n7 | “{{{{ a\n  | ^\n");
    for args in [vec!["skill", "validate", path], vec!["run", path], vec!["run", path, "--dry-run"]] {
        let out = pyra.run(&args);
        out.code(1).stderr_has("error[yaml]: invalid YAML").stderr_has(&shown);
        assert!(!out.stderr.contains("panicked"), "{args:?}:\n{}", out.stderr);
    }
    let out = pyra.run(["skill", "validate", "--format", "json", path]);
    out.code(1);
    let diag = &out.json()["files"][0]["diagnostics"][0];
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let (start, end) =
        (diag["start"]["offset"].as_u64().unwrap() as usize, diag["end"]["offset"].as_u64().unwrap() as usize);
    assert_eq!(&text[start..end], "“", "{diag:#}");
    assert_eq!((diag["start"]["column"].as_u64(), diag["end"]["column"].as_u64()), (Some(1), Some(2)));

    // config.yaml shares the parser and the renderer.
    std::fs::write(pyra.home_path().join("config.yaml"), "default_model: local\nmodels: []\n“{{ a\n").unwrap();
    pyra.run(["config", "get", "default_model"]).code(1).stderr_has("3 | “{{ a\n  | ^\n");
}

/// The binary must end with 0, 1 or 2 and never print a panic.
#[track_caller]
fn assert_clean_exit(out: &crate::harness::Output, what: &str) {
    let ok = matches!(out.code, 0..=2) && !out.stderr.contains("panicked");
    assert!(ok, "{what}: exit {}\n--- stdout\n{}--- stderr\n{}", out.code, out.stdout, out.stderr);
}

#[test]
fn mutated_skills_never_crash_the_binary() {
    let pyra = Pyra::new();
    let corpus = skill_corpus();
    let (seed, count) = (seed(), (mutations() / 5).max(20));
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xb1);
    let dir = pyra.work();
    let started = Instant::now();
    let files: Vec<PathBuf> = (0..count)
        .map(|i| {
            let (_, text) = &corpus[rng.usize(..corpus.len())];
            let path = dir.join(format!("m{i:04}.yaml"));
            std::fs::write(&path, mutate(&mut rng, text)).expect("write");
            path
        })
        .collect();
    // Many files per `skill validate`; a crash is then narrowed down to its file.
    for (batch, chunk) in files.chunks(25).enumerate() {
        let format = if batch % 2 == 0 { "text" } else { "json" };
        let mut args = vec!["skill".to_string(), "validate".into(), "--format".into(), format.into()];
        args.extend(chunk.iter().map(|p| p.display().to_string()));
        let out = pyra.run(&args);
        if !matches!(out.code, 0..=2) || out.stderr.contains("panicked") {
            for path in chunk {
                let one = pyra.run(["skill", "validate", "--format", format, &path.display().to_string()]);
                let input = std::fs::read_to_string(path).unwrap();
                assert_clean_exit(&one, &format!("skill validate {} (seed {seed}):\n{input}", path.display()));
            }
            assert_clean_exit(&out, &format!("skill validate, batch {batch} (seed {seed})"));
        }
    }
    // `pyra run --dry-run` renders through the runner, one file per process.
    for path in files.iter().step_by(5) {
        let out = pyra.run(["run", &path.display().to_string(), "--dry-run"]);
        let input = std::fs::read_to_string(path).unwrap();
        assert_clean_exit(&out, &format!("run --dry-run {} (seed {seed}):\n{input}", path.display()));
    }
    report("mutated skill files through `pyra skill validate` (a fifth through `run --dry-run`)", count, started);
}

#[test]
fn mutated_configs_never_crash_the_binary() {
    let pyra = Pyra::new();
    let (seed, count) = (seed(), (mutations() / 30).max(10));
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xc0);
    let path = pyra.home_path().join("config.yaml");
    let started = Instant::now();
    for _ in 0..count {
        let mutated = mutate(&mut rng, CONFIG);
        std::fs::write(&path, &mutated).expect("write");
        let out = pyra.run(["config", "get", "default_model"]);
        assert_clean_exit(&out, &format!("config get with (seed {seed}):\n{mutated}"));
    }
    report("mutated config files through `pyra config get`", count, started);
}
