//! `pyra config`'s full-screen editor through the real binary on a pseudo-terminal, its
//! screens played on a terminal emulator (vt100) and kept as snapshots: tabs, a model
//! option changed (the file's comment kept), an invalid value refused with the located
//! error (the file untouched), a secret typed masked into the vault (never the file, never
//! the screen), a built-in plugin's declared fields rendered with no code for them.

use crate::harness::Pyra;
use crate::pty::Terminal;

const PASS: &str = "correct horse battery staple";
const SECRET: &str = "sk-editor-test-0123456789abcdef";
const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";

const CONFIG: &str = "# Written by hand: this comment stays.\ndefault_model: local\nmodels:\n  - name: local\n    provider: ollama\n    model: llama3.2\n    base_url: http://127.0.0.1:9\n";

fn env() -> [(&'static str, &'static str); 2] {
    [("PYRA_VAULT_PASSPHRASE", PASS), ("PYRA_VAULT_SCRYPT_LOG_N", "10")]
}

/// The screen with this home's path (which differs per run) replaced.
fn snapshot_text(pyra: &Pyra, screen: &str) -> String {
    screen.replace(&pyra.home_path().display().to_string(), "$PYRA_HOME")
}

#[test]
fn without_a_terminal_it_prints_the_help_and_exits_2() {
    let pyra = Pyra::new();
    let out = pyra.run(["config"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("needs a terminal") && out.stderr.contains("Usage: pyra config"), "{}", out.stderr);
}

#[test]
fn the_editor_edits_validates_and_keeps_secrets_in_the_vault() {
    let pyra = Pyra::new();
    let config_path = pyra.home_path().join("config.yaml");
    std::fs::write(&config_path, CONFIG).unwrap();
    pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    pyra.run(["plugin", "add", "web", "--builtin", "websearch", "--yes"]).success();

    let mut t = Terminal::start_sized(&pyra, &["config"], &env(), Some((30, 100)));
    let screen = t.expect_rendered("local — ollama / llama3.2  [default]");
    insta::assert_snapshot!("models_tab", snapshot_text(&pyra, &screen));

    // Down to the temperature: default model, provider, model, server, key, temperature.
    t.keys(&DOWN.repeat(6));
    t.expect_rendered("sampling temperature");
    t.keys("\r");
    t.expect_rendered(" Temperature ");
    t.keys("0.3\r");
    t.expect_rendered("saved models.local.options.temperature");
    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(text.starts_with("# Written by hand: this comment stays.\n"), "{text}");
    assert!(text.contains("temperature: 0.3"), "{text}");

    // An invalid value: the located error, nothing written.
    t.keys("\r\x15");
    t.keys("9\r");
    let screen = t.expect_rendered("not saved");
    insta::assert_snapshot!("invalid_value", snapshot_text(&pyra, &screen));
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), text);

    // The API key: typed masked, stored in the vault, only its name in the file.
    t.keys(UP);
    t.expect_rendered("the vault key that holds the API key");
    t.keys("\r");
    t.expect_rendered("kept in the vault as `LOCAL_API_KEY`");
    t.keys(&format!("{SECRET}\r"));
    t.expect_rendered("saved `LOCAL_API_KEY` in the vault");
    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(text.contains("key: LOCAL_API_KEY") && !text.contains(SECRET), "{text}");

    // The plugins tab: the built-in's declared fields, with no editor code for them.
    t.keys("6");
    let screen = t.expect_rendered("web — built-in websearch");
    insta::assert_snapshot!("plugins_tab", snapshot_text(&pyra, &screen));

    // The vault tab: names only.
    t.keys("7");
    let screen = t.expect_rendered("LOCAL_API_KEY");
    insta::assert_snapshot!("vault_tab", snapshot_text(&pyra, &screen));

    t.keys("q");
    let (code, raw) = t.wait();
    assert_eq!(code, 0, "{raw}");
    assert!(!raw.contains(SECRET), "the secret reached the screen");
    let listed = pyra.run_unlocked(PASS, ["vault", "list"], None);
    listed.success();
    assert!(listed.stdout.contains("LOCAL_API_KEY"), "{}", listed.stdout);
    let stored = pyra.run_unlocked(PASS, ["vault", "get", "LOCAL_API_KEY", "--reveal"], None);
    assert_eq!(stored.stdout.trim(), SECRET);
}

#[test]
fn tabs_are_navigated_and_a_locked_vault_is_unlocked_in_place() {
    let pyra = Pyra::new();
    std::fs::write(pyra.home_path().join("config.yaml"), CONFIG).unwrap();
    pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    // No passphrase in the environment: the Vault tab asks for it.
    let mut t = Terminal::start_sized(&pyra, &["config"], &[("PYRA_VAULT_SCRYPT_LOG_N", "10")], Some((30, 100)));
    t.expect_rendered("1 Models");
    t.keys("\x1b[C");
    t.expect_rendered("Recall category");
    t.keys("\x1b[C");
    t.expect_rendered("Quantize");
    t.keys("\x1b[C");
    t.expect_rendered("Rate per minute");
    t.keys("\x1b[C");
    let screen = t.expect_rendered("Bot API URL");
    insta::assert_snapshot!("channels_tab", snapshot_text(&pyra, &screen));
    t.keys("7");
    t.expect_rendered("Unlock the vault");
    t.keys("\r");
    t.expect_rendered("Vault passphrase");
    t.keys(&format!("{PASS}\r"));
    t.expect_rendered("the vault is unlocked");
    t.keys("\x03");
    let (code, _) = t.wait();
    assert_eq!(code, 0);
}
