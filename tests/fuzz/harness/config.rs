//! `config`: `config.yaml` as Pyra reads it (`config::Config`: UTF-8, YAML with spans,
//! every check, the typed model) and edits it (`Config::set`, the minimal text edit).
//!
//! Input: the file, then optionally a NUL byte and an edit `KEY=VALUE`. Properties: every
//! diagnostic lies inside the (masked) text it renders against; a file that loads loads
//! again from its own text; an edit that succeeds gives a file that loads and holds the key.

use std::path::Path;

use config::{Config, ConfigError};
use syntax::source::SourceFile;

/// Edits tried on every file that loads (the fuzzed one comes first).
const EDITS: &[(&str, &str)] = &[
    ("chat.recall", "3"),
    ("daemon.max_runs", "4"),
    ("default_model", "local"),
    ("daemon.webhook.listen", "127.0.0.1:8788"),
    ("models.local.options.temperature", "0.2"),
];

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_text(Path::new("config.yaml"), text, true)
}

fn check_error(error: &ConfigError) {
    if let ConfigError::Invalid(invalid) = error {
        assert!(!invalid.diagnostics.is_empty(), "an invalid file without a diagnostic");
        for d in &invalid.diagnostics {
            super::check_diagnostic(&invalid.file, d);
        }
    }
    let _ = error.render(false);
}

pub fn config(data: &[u8]) {
    let (file, edit) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(String::from_utf8_lossy(&data[i + 1..]).into_owned())),
        None => (data, None),
    };
    let file = match SourceFile::from_bytes("config.yaml", file) {
        Ok(file) => file,
        Err((file, diag)) => return super::check_diagnostic(&file, &diag),
    };
    let config = match load(file.text()) {
        Ok(config) => config,
        Err(e) => return check_error(&e),
    };
    assert_eq!(config.text(), file.text());
    let _ = config.resolve(None);
    let _ = config.validate_with(|p| if p == "openai" || p == "ollama" { Ok(()) } else { Err("no".into()) });
    let fuzzed = edit.as_deref().and_then(|e| e.split_once('='));
    for (key, value) in fuzzed.into_iter().chain(EDITS.iter().copied()) {
        let _ = config.get(key);
        match config.set(key, value) {
            Ok(edited) => {
                let reloaded = load(edited.text())
                    .unwrap_or_else(|e| panic!("`{key}={value}` gave a file that does not load: {}", e.render(false)));
                if let Err(e) = reloaded.get(key) {
                    panic!("`{key}={value}` is not set after the edit: {e}\n{}", edited.text());
                }
            }
            Err(e) => check_error(&e),
        }
    }
}
