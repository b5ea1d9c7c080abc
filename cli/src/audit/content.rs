//! What is stored under the home: prompt injection in memory notes, chat history and
//! untrusted run outputs (the scanner), notes whose recorded findings were never reviewed,
//! key-shaped strings anywhere outside the vault (the redactor's patterns), and the vault's
//! own values in plaintext anywhere (the masker, with its encoded variants). Text files are
//! read line by line (`path:line`); `pyra.db` is read by row (`run R node N`, `chat S
//! message K`). A finding never quotes a secret, only its kind or its key name.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use runtime::secrets::Masker;

use super::{Finding, Report, Severity};
use crate::home::Home;

/// Files larger than this are not read (they are not Pyra's text).
const MAX_FILE: u64 = 8 << 20;

/// The vault's values as a masker, when the vault can be opened here without asking
/// (PYRA_VAULT_PASSPHRASE, PYRA_VAULT_IDENTITY) or on a terminal.
pub fn vault_values(home: &Home, report: &mut Report) -> Option<Masker> {
    let vault = vault::Vault::new(&home.root);
    if !vault.exists() {
        return None;
    }
    let unlock = match crate::vault_cmd::unlock(&vault, None) {
        Ok(u) => u,
        Err(_) => {
            report.skipped(
                "vault values in plaintext: not checked (the vault is locked; set PYRA_VAULT_PASSPHRASE or \
                 PYRA_VAULT_IDENTITY, or run on a terminal)",
            );
            return None;
        }
    };
    match vault.open(&unlock) {
        Ok(open) => {
            let masker = Masker::default();
            for name in open.names() {
                if let Some(value) = open.get(name) {
                    masker.add(name, value.expose_secret());
                }
            }
            Some(masker)
        }
        Err(e) => {
            report.skipped(format!("vault values in plaintext: not checked ({e})"));
            None
        }
    }
}

pub fn check(home: &Home, vault: Option<&Masker>, report: &mut Report) {
    let root = &home.root;
    for (rel, text) in text_files(root) {
        let in_memory = rel.starts_with("memory/") && rel.ends_with(".md");
        for (i, line) in text.lines().enumerate() {
            secrets_in(&format!("{rel}:{}", i + 1), line, vault, report);
        }
        if in_memory {
            injection_in(&rel, &text, Severity::High, "a memory note is recalled into prompts", report);
            unreviewed(&rel, &text, report);
        }
    }
    database(root, vault, report);
}

/// Key-shaped strings and vault values in one piece of stored text.
fn secrets_in(location: &str, text: &str, vault: Option<&Masker>, report: &mut Report) {
    for (_, kind) in security::redact::find_key_shaped(text) {
        report.add(
            Finding::new(Severity::High, "secret", location, format!("a key-shaped string ({kind}) in plaintext")).fix(
                "put it in the vault (`pyra vault set NAME`), refer to it as `secret('NAME')`, and delete it here",
            ),
        );
    }
    if let Some(masker) = vault {
        let masked = masker.mask(text);
        if masked != text {
            let names = secret_names(&masked);
            report.add(
                Finding::new(
                    Severity::High,
                    "vault-plaintext",
                    location,
                    format!("the value of vault key {} in plaintext", names.join(", ")),
                )
                .fix("delete it here, and rotate the secret at its provider: it has left the vault"),
            );
        }
    }
}

/// The `NAME`s of `[secret:NAME]` markers the masker wrote.
fn secret_names(masked: &str) -> Vec<String> {
    let mut names: Vec<String> = masked
        .split("[secret:")
        .skip(1)
        .filter_map(|rest| rest.split_once(']').map(|(name, _)| format!("`{name}`")))
        .collect();
    names.dedup();
    names
}

/// Prompt injection found by the scanner in `text` (line numbers from 1).
fn injection_in(location: &str, text: &str, severity: Severity, why: &str, report: &mut Report) {
    let found = security::scan::scan(text);
    if found.is_empty() {
        // Unflagged untrusted texts, for the model pass to sample.
        if report.samples.iter().filter(|s| !s.2).count() < 10 {
            report.samples.push((location.to_string(), text.chars().take(2000).collect(), false));
        }
        return;
    }
    let line = text[..found[0].span.start].matches('\n').count() + 1;
    let categories: Vec<&str> = {
        let mut c: Vec<&str> = found.iter().map(|f| f.category.as_str()).collect();
        c.dedup();
        c
    };
    let located = if location.contains(':') || location.starts_with("run ") || location.starts_with("chat ") {
        location.to_string()
    } else {
        format!("{location}:{line}")
    };
    report.samples.push((located.clone(), text.chars().take(2000).collect(), true));
    report.add(
        Finding::new(
            severity,
            "injection",
            located,
            format!("prompt injection ({}): {}", categories.join(", "), found[0].excerpt),
        )
        .fix(format!("{why}: read it, and delete or rewrite the passage if it is not yours")),
    );
}

/// A note whose front matter still lists the findings recorded when it was written.
fn unreviewed(rel: &str, text: &str, report: &mut Report) {
    let Some(front) = text.strip_prefix("---\n").and_then(|rest| rest.split_once("\n---").map(|(f, _)| f)) else {
        return;
    };
    if let Some((i, _)) =
        front.lines().enumerate().find(|(_, l)| l.starts_with("injection:") && l.trim() != "injection: []")
    {
        report.add(
            Finding::new(
                Severity::Low,
                "injection",
                format!("{rel}:{}", i + 2),
                "the note's recorded injection findings were never reviewed",
            )
            .fix("read the note; once it is safe, delete the `injection:` line from its front matter"),
        );
    }
}

/// Text files under the home, outside the vault, Pyra's databases and the report, as
/// (path relative to the home, text). Symlinks are not followed (`perms.rs` reports those
/// that point out of the home).
fn text_files(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if !matches!(rel.as_str(), "vault" | "runs" | "run") {
                    stack.push(path);
                }
                continue;
            }
            let skip = !kind.is_file()
                || rel == super::REPORT
                || rel.contains(".db")
                || rel.ends_with(".age")
                || entry.metadata().map_or(true, |m| m.len() > MAX_FILE);
            if skip {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if bytes.iter().take(8192).any(|b| *b == 0) {
                continue;
            }
            out.push((rel, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out.sort();
    out
}

/// `pyra.db`: runs' inputs, outputs, errors and logs, and chat messages.
fn database(root: &Path, vault: Option<&Masker>, report: &mut Report) {
    let path = root.join("pyra.db");
    if !path.is_file() {
        return;
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match rusqlite::Connection::open_with_flags(&path, flags) {
        Ok(c) => c,
        Err(e) => {
            report.skipped(format!("runs and chats in pyra.db: not checked ({e})"));
            return;
        }
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    let rows = |sql: &str| -> Vec<(String, String, bool)> {
        let Ok(mut stmt) = conn.prepare(sql) else { return Vec::new() };
        stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default(), r.get::<_, bool>(2)?))
        })
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
    };
    let units = [
        "SELECT 'run ' || id || ' (inputs)', inputs, 0 FROM runs",
        "SELECT 'run ' || id || ' (outputs)', outputs, 0 FROM runs",
        "SELECT 'run ' || id || ' (error)', error, 0 FROM runs",
        "SELECT 'run ' || run_id || ' node ' || node || ' (input)', input, 0 FROM node_runs",
        "SELECT 'run ' || run_id || ' node ' || node || ' (output)', output, untrusted FROM node_runs",
        "SELECT 'run ' || run_id || ' node ' || node || ' (error)', error, 0 FROM node_runs",
        "SELECT 'run ' || run_id || coalesce(' node ' || node, '') || ' (log ' || id || ')', message, 0 FROM logs",
        "SELECT 'chat ' || coalesce(s.name, m.session) || ' message ' || m.seq, m.content, 1
             FROM chat_messages m LEFT JOIN chat_sessions s ON s.id = m.session",
    ];
    for sql in units {
        for (location, text, untrusted) in rows(sql) {
            if text.is_empty() {
                continue;
            }
            secrets_in(&location, &text, vault, report);
            if untrusted {
                let why = if location.starts_with("chat ") {
                    "chat history is sent back to the model with every turn"
                } else {
                    "an untrusted output is kept with the run and may be read again"
                };
                injection_in(&location, &text, Severity::Medium, why, report);
            }
        }
    }
}
