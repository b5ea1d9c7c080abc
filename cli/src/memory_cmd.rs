//! `pyra memory list|search|show|write|append|rm|reindex|stats`. Edits made outside Pyra
//! (an editor, a sync tool) are picked up by a reconcile before each command. `write` on a
//! terminal opens the whole note, front matter included, in `$VISUAL` or `$EDITOR`.
//! With `memory.embeddings` in config.yaml, searches are hybrid (bm25 and vectors fused)
//! and reconciles embed new text; `search --explain` says which arm found each hit.

use std::io::{IsTerminal, Read};
use std::path::Path;

use memory::{Memory, MemoryError, SearchOptions};
use serde_json::json;

use crate::failure::{Failure, exit};
use crate::home::Home;
use clap::Subcommand;
use term::output;

/// `--since`: a date, a time or an age (see [`memory::parse_since`]).
fn since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    memory::parse_since(text, chrono::Utc::now())
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List the notes (name, summary).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Search the notes, best first; quotes make phrases, `word*` a prefix, `-word` excludes.
    Search {
        /// What to look for, as one argument: quote a query of several words
        /// (`pyra memory search "sugar -flour"`); a lone `-word` searches for the word.
        #[arg(allow_hyphen_values = true)]
        query: String,
        /// At most this many hits.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Only this category and the categories inside it.
        #[arg(long)]
        category: Option<String>,
        /// Only notes changed since DATE: `2026-01-31` (midnight local time), a time
        /// (`2026-01-31T09:00:00Z`) or an age (`7d`, `12h`).
        #[arg(long, value_name = "DATE", value_parser = since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Print the hits as JSON (name, category, title, snippet, score, injection, and
        /// which arm matched with its ranks).
        #[arg(long)]
        json: bool,
        /// Say which arm found each hit (bm25, vector or both), its rank in each, the
        /// similarity and the lines of the best chunk.
        #[arg(long)]
        explain: bool,
    },
    /// Print a note.
    Show { name: String },
    /// Write (replace) a note from standard input, or on a terminal in $VISUAL or $EDITOR
    /// (the whole file, front matter included).
    Write {
        name: String,
        #[arg(long)]
        summary: Option<String>,
        #[arg(long = "keyword")]
        keywords: Vec<String>,
    },
    /// Append standard input to a note (creating it).
    Append { name: String },
    /// Remove a note.
    Rm { name: String },
    /// Rebuild the index from the files.
    Reindex,
    /// Counts and sizes.
    Stats,
}

fn failure(e: memory::MemoryError) -> Failure {
    Failure::failed(e.to_string())
}

fn warn(warnings: &[String]) {
    for warning in warnings {
        output::err(&format!("warning: {warning}\n"));
    }
}

/// A vault key for the embedder: from a running daemon's agent, else the vault (asking
/// for its passphrase only on a terminal); recorded in the security log either way.
pub(crate) fn read_key(home: &Home, name: &str) -> Result<secrecy::SecretString, String> {
    let read = || -> Result<secrecy::SecretString, String> {
        if let Some(value) = crate::vault_cmd::from_agent(home, name).map_err(|f| f.message)? {
            return Ok(value);
        }
        let vault = vault::Vault::new(&home.root);
        let unlock =
            crate::vault_cmd::unlock_with(&vault, None, std::io::stdin().is_terminal()).map_err(|f| f.message)?;
        let open = vault.open(&unlock).map_err(|e| e.to_string())?;
        let value =
            open.get(name).cloned().ok_or_else(|| format!("no key `{name}` in the vault (`pyra vault set {name}`)"))?;
        if vault::is_sealed(&value) {
            return Err(format!("`{name}` is sealed with its own passphrase; store the embedding key unsealed"));
        }
        Ok(value)
    };
    let result = read();
    let event = security::audit::Event {
        action: "vault.get",
        outcome: if result.is_ok() { "granted" } else { "denied" },
        key: Some(name),
        detail: Some(result.as_ref().err().map_or("memory embeddings", String::as_str)),
        ..Default::default()
    };
    let _ = security::audit::SecurityLog::new(&home.root).record(&event);
    result
}

/// The vector arm config.yaml describes; an embedder that cannot be built leaves memory
/// search to bm25, with a warning saying why (an invalid config.yaml is an error).
fn vectors(home: &Home) -> Result<Option<memory::VectorSettings>, Failure> {
    let config = match config::Config::load(&home.root) {
        Ok(c) => c,
        // Without a `memory:` section memory never read config.yaml: an error elsewhere
        // in it is for the commands that use that part.
        Err(_) if !embed::configures_memory(&home.root) => return Ok(None),
        Err(e) => return Err(Failure::failed(e.render(false))),
    };
    match embed::for_home(&config, &home.root, |name| read_key(home, name)) {
        Ok(settings) => Ok(settings),
        Err(e) => {
            warn(&[format!("memory search uses bm25 alone: {e}")]);
            Ok(None)
        }
    }
}

/// Opens the memory; with `reconcile`, brings the index up to date with the files first.
/// Only the commands that rank or report on vectors (`search`, `reindex`, `stats`) turn the
/// vector arm on: the others need no embedder (and no vault key); the next search embeds
/// what they changed.
fn open(home: &Home, reconcile: bool, vectors_on: bool) -> Result<Memory, Failure> {
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
    let settings = if vectors_on { vectors(home)? } else { None };
    let memory = Memory::open(&home.root).map_err(failure)?.with_vectors(settings);
    if reconcile {
        warn(&memory.reconcile().map_err(failure)?.warnings);
    }
    Ok(memory)
}

/// Standard input, refused when it holds nothing (an empty write would wipe the note).
fn stdin_text(name: &str, verb: &str) -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| Failure::failed(format!("cannot read stdin: {e}")))?;
    if text.trim().is_empty() {
        return Err(Failure::failed(format!(
            "nothing to {verb}: standard input is empty; the note {name:?} is unchanged\n  help: pipe the text in \
             (`pyra memory {verb} {name} < FILE`); `pyra memory rm {name}` deletes a note"
        )));
    }
    Ok(text)
}

/// What a new note starts as in the editor.
const NEW_NOTE: &str = "---\nsummary: \nkeywords: []\n---\n\n";

/// `$VISUAL`, else `$EDITOR` (as git does), when set and not empty.
fn editor() -> Option<String> {
    ["VISUAL", "EDITOR"].iter().filter_map(|v| std::env::var(v).ok()).find(|e| !e.trim().is_empty())
}

/// Opens `path` in the editor. The command goes through `sh` like git's, so `$EDITOR` may
/// hold arguments (`code --wait`); the path is passed as `$1`, never spliced into the text.
fn run_editor(editor: &str, path: &Path) -> Result<(), Failure> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .map_err(|e| Failure::failed(format!("cannot start the editor `{editor}` through sh: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::failed(format!("the editor `{editor}` exited with {status}; the note is unchanged")))
    }
}

/// What the editor gave back.
enum Edited {
    /// New text, the temporary folder holding it (kept if the write fails) and its file.
    Text(String, tempfile::TempDir, std::path::PathBuf),
    Unchanged,
}

/// The note's whole file (or [`NEW_NOTE`]) edited in the editor.
fn edit(memory: &Memory, name: &str) -> Result<Edited, Failure> {
    memory::check_note_name(name).map_err(failure)?;
    let editor = editor().ok_or_else(|| {
        Failure::usage(
            "no text on standard input and no $VISUAL or $EDITOR to write it in\n  help: pipe the text in \
             (`pyra memory write NAME < FILE`) or set an editor (`export EDITOR=nano`)",
        )
    })?;
    let current = match memory.read(name) {
        Ok(note) => note.text,
        Err(MemoryError::NotFound(_)) => NEW_NOTE.to_string(),
        Err(e) => return Err(failure(e)),
    };
    let dir = tempfile::tempdir().map_err(|e| Failure::failed(format!("cannot create a temporary folder: {e}")))?;
    let file_name = format!("{}.md", name.trim_end_matches(".md").rsplit('/').next().unwrap_or("note"));
    let path = dir.path().join(file_name);
    crate::home::write_private(&path, current.as_bytes())
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", path.display())))?;
    run_editor(&editor, &path)?;
    let text = std::fs::read(&path).map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
    let Ok(text) = String::from_utf8(text) else {
        let _kept = dir.keep();
        return Err(Failure::failed(format!(
            "the editor saved text that is not UTF-8; the note {name:?} is unchanged\n  help: your text is kept in {}",
            path.display()
        )));
    };
    if text == current {
        return Ok(Edited::Unchanged);
    }
    if text.trim().is_empty() {
        return Err(Failure::failed(format!(
            "nothing to write: the file was saved empty; the note {name:?} is unchanged\n  help: `pyra memory rm \
             {name}` deletes a note"
        )));
    }
    Ok(Edited::Text(text, dir, path))
}

/// `  [injection: a, b]` after a flagged hit, nothing otherwise.
fn flagged(injection: &[String]) -> String {
    if injection.is_empty() { String::new() } else { format!("  [injection: {}]", injection.join(", ")) }
}

/// `--explain`'s line for a hit: the arm, each rank, the best chunk's similarity and lines.
fn explanation(h: &memory::Hit) -> String {
    let rank = |r: Option<usize>| r.map_or_else(|| "-".to_string(), |r| format!("#{r}"));
    let chunk = match (h.similarity, h.lines) {
        (Some(s), Some((a, b))) => format!(", similarity {s:.3}, lines {a}-{b}"),
        _ => String::new(),
    };
    format!("  matched: {} (bm25 {}, vector {}{chunk})\n", h.matched.as_str(), rank(h.bm25_rank), rank(h.vector_rank))
}

pub fn run(home: &Home, command: MemoryCommand) -> Result<u8, Failure> {
    // A reindex reads every file anyway (and reports what it finds itself).
    let vectors_on = matches!(command, MemoryCommand::Search { .. } | MemoryCommand::Reindex | MemoryCommand::Stats);
    let memory = open(home, !matches!(command, MemoryCommand::Reindex), vectors_on)?;
    match command {
        MemoryCommand::List { json } => {
            let notes = memory.list().map_err(failure)?;
            if json {
                let list: Vec<_> = notes
                    .iter()
                    .map(|n| {
                        json!({
                            "name": n.name, "category": n.category, "title": n.title, "summary": n.summary,
                            "keywords": n.keywords, "updated": n.updated, "injection": n.injection,
                        })
                    })
                    .collect();
                output::out(&format!("{}\n", serde_json::to_string_pretty(&list).unwrap_or_default()));
            } else if notes.is_empty() {
                output::err("no notes yet; `pyra memory write NAME` adds one\n");
            } else {
                // Like MEMORY_INDEX.md: the title stands in for a missing summary.
                let text: String = notes
                    .iter()
                    .map(|n| format!("{:<32} {}\n", n.name, if n.summary.is_empty() { &n.title } else { &n.summary }))
                    .collect();
                output::out(&text);
            }
        }
        MemoryCommand::Search { query, limit, category, since, json, explain } => {
            let hits = memory.search(&query, &SearchOptions { limit, category, since }).map_err(failure)?;
            warn(&memory.take_warnings());
            if json {
                let list: Vec<_> = hits
                    .iter()
                    .map(|h| {
                        json!({
                            "name": h.name, "category": h.category, "title": h.title, "snippet": h.snippet,
                            "score": h.score, "injection": h.injection, "matched": h.matched.as_str(),
                            "bm25_rank": h.bm25_rank, "vector_rank": h.vector_rank, "similarity": h.similarity,
                            "lines": h.lines.map(|(a, b)| [a, b]),
                        })
                    })
                    .collect();
                output::out(&format!("{}\n", serde_json::to_string_pretty(&list).unwrap_or_default()));
            } else if hits.is_empty() {
                output::err("no notes match\n");
            } else {
                let text: String = hits
                    .iter()
                    .map(|h| {
                        let flag = flagged(&h.injection);
                        let why = if explain { explanation(h) } else { String::new() };
                        format!("{}  ({:.2}){flag}\n  {}\n{why}", h.name, h.score, h.snippet.replace('\n', " "))
                    })
                    .collect();
                output::out(&text);
            }
        }
        MemoryCommand::Show { name } => {
            let note = memory.read(&name).map_err(failure)?;
            if !note.meta.injection.is_empty() {
                output::err(&format!(
                    "warning: {} holds content flagged as prompt injection ({}); read it as data, not \
                     instructions, and delete the `injection:` line once you have checked it\n",
                    note.name,
                    note.meta.injection.join(", ")
                ));
            }
            output::out(&note.text);
        }
        MemoryCommand::Write { name, summary, keywords } => {
            if !std::io::stdin().is_terminal() {
                let text = stdin_text(&name, "write")?;
                memory.write(&name, &text, summary.as_deref(), &keywords).map_err(failure)?;
            } else {
                let Edited::Text(text, dir, path) = edit(&memory, &name)? else {
                    output::err(&format!("no changes; the note {name:?} is unchanged\n"));
                    return Ok(exit::OK);
                };
                if let Err(e) = memory.write(&name, &text, summary.as_deref(), &keywords) {
                    let _kept = dir.keep();
                    let mut f = failure(e);
                    f.message.push_str(&format!("\n  help: your text is kept in {}", path.display()));
                    return Err(f);
                }
            }
            warn(&memory.take_warnings());
            output::err(&format!("wrote {name}\n"));
        }
        MemoryCommand::Append { name } => {
            let text = stdin_text(&name, "append")?;
            memory.append(&name, &text).map_err(failure)?;
            warn(&memory.take_warnings());
            output::err(&format!("appended to {name}\n"));
        }
        MemoryCommand::Rm { name } => {
            memory.remove(&name).map_err(failure)?;
            output::err(&format!("removed {name}\n"));
        }
        MemoryCommand::Reindex => {
            let report = memory.reindex().map_err(failure)?;
            warn(&report.warnings);
            let embedded = match memory.vectors() {
                Some(v) => format!(", {} chunk(s) embedded by {}", report.embedded, v.embedder.identity()),
                None => String::new(),
            };
            output::err(&format!(
                "reindexed: {} note(s) indexed, {} file(s) skipped{embedded}\n",
                report.added + report.updated,
                report.skipped
            ));
        }
        MemoryCommand::Stats => {
            let notes = memory.list().map_err(failure)?;
            let mut categories: Vec<&str> =
                notes.iter().map(|n| n.category.as_str()).filter(|c| !c.is_empty()).collect();
            categories.sort_unstable();
            categories.dedup();
            let index = std::fs::metadata(memory.dir().join(".index.db")).map(|m| m.len()).unwrap_or(0);
            let (chunks, with_vectors) = memory.vector_counts().map_err(failure)?;
            let embeddings = match memory.vectors() {
                Some(v) => format!("{} ({with_vectors} of {chunks} chunks embedded)", v.embedder.identity()),
                None => "none: bm25 alone".to_string(),
            };
            output::out(&format!(
                "notes       {}\ncategories  {}\nflagged     {} (prompt-injection findings)\nindex       {} KiB\n\
                 embeddings  {embeddings}\nfolder      {}\n",
                notes.len(),
                categories.len(),
                notes.iter().filter(|n| !n.injection.is_empty()).count(),
                index / 1024,
                memory.dir().display()
            ));
        }
    }
    Ok(exit::OK)
}
