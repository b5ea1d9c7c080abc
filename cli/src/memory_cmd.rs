//! `pyra memory list|search|show|write|append|rm|reindex|stats`. Edits made outside Pyra
//! (an editor, a sync tool) are picked up by a reconcile before each command. `write` on a
//! terminal opens the whole note, front matter included, in `$VISUAL` or `$EDITOR`.

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
        /// Print the hits as JSON (name, category, title, snippet, score, injection).
        #[arg(long)]
        json: bool,
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

/// Opens the memory; with `reconcile`, brings the index up to date with the files first.
fn open(home: &Home, reconcile: bool) -> Result<Memory, Failure> {
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))?;
    let memory = Memory::open(&home.root).map_err(failure)?;
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

pub fn run(home: &Home, command: MemoryCommand) -> Result<u8, Failure> {
    // A reindex reads every file anyway (and reports what it finds itself).
    let memory = open(home, !matches!(command, MemoryCommand::Reindex))?;
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
        MemoryCommand::Search { query, limit, category, since, json } => {
            let hits = memory.search(&query, &SearchOptions { limit, category, since }).map_err(failure)?;
            if json {
                let list: Vec<_> = hits
                    .iter()
                    .map(|h| {
                        json!({
                            "name": h.name, "category": h.category, "title": h.title, "snippet": h.snippet,
                            "score": h.score, "injection": h.injection,
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
                        format!("{}  ({:.2}){flag}\n  {}\n", h.name, h.score, h.snippet.replace('\n', " "))
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
            output::err(&format!(
                "reindexed: {} note(s) indexed, {} file(s) skipped\n",
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
            output::out(&format!(
                "notes       {}\ncategories  {}\nflagged     {} (prompt-injection findings)\nindex       {} KiB\nfolder      {}\n",
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
