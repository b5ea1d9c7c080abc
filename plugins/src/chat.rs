//! Slash commands that plugins add to `pyra chat`, in one registry ([`chat_commands`]).
//! A command is terminal-free: it gets the Pyra home and the text after its name and
//! returns text and any prompt-injection findings; the REPL shows them (and a warning
//! panel for findings), the same way a channel could later.
//!
//! The memory plugin's `/memory` and `/remember` are the first entries.

use std::path::Path;

use memory::{Memory, SearchOptions};

/// Reads a vault key (the memory embedder's API key), or says why it cannot.
pub type ReadKey<'a> = &'a dyn Fn(&str) -> Result<secrecy::SecretString, String>;

/// What a command is given.
pub struct CommandCtx<'a> {
    /// The Pyra home (`$PYRA_HOME`).
    pub home: &'a Path,
    /// The vault, for keys the command needs.
    pub read_key: ReadKey<'a>,
}

/// What a command answers.
#[derive(Debug, Default, PartialEq)]
pub struct CommandReply {
    /// Shown as it is (the REPL makes it printable).
    pub text: String,
    /// Prompt-injection categories found in what the text shows.
    pub findings: Vec<String>,
}

/// A command's code; an `Err` is a message for the user (what went wrong, how to fix it).
pub type CommandFn = fn(&CommandCtx<'_>, &str) -> Result<CommandReply, String>;

/// One slash command contributed by a plugin.
#[derive(Clone, Copy)]
pub struct ChatCommand {
    /// The name after `/`.
    pub name: &'static str,
    /// How its arguments are written (`QUERY`, `[NAME]`).
    pub usage: &'static str,
    pub summary: &'static str,
    pub run: CommandFn,
}

/// Every plugin's chat commands.
pub fn chat_commands() -> Vec<ChatCommand> {
    vec![
        ChatCommand { name: "memory", usage: "QUERY", summary: "search the memory", run: memory_search },
        ChatCommand {
            name: "remember",
            usage: "TEXT",
            summary: "add TEXT to the memory note `chat/remembered`",
            run: remember,
        },
    ]
}

fn memory_search(ctx: &CommandCtx<'_>, query: &str) -> Result<CommandReply, String> {
    if query.is_empty() {
        return Err("usage: /memory QUERY".into());
    }
    let (vectors, warning) = crate::exec::memory::vectors_for(ctx.home, ctx.read_key);
    let memory = Memory::open(ctx.home).map_err(|e| e.to_string())?.with_vectors(vectors);
    // Notes edited outside Pyra count; a failed scan still leaves the index to search.
    let _ = memory.reconcile();
    let hits = memory.search(query, &SearchOptions::default()).map_err(|e| e.to_string())?;
    let mut reply = CommandReply::default();
    for w in warning.into_iter().chain(memory.take_warnings()) {
        reply.text.push_str(&format!("warning: {}\n", w.lines().next().unwrap_or_default()));
    }
    if hits.is_empty() {
        reply.text.push_str("no notes match\n");
        return Ok(reply);
    }
    for h in &hits {
        reply.text.push_str(&format!("{}\n  {}\n", h.name, h.snippet.replace('\n', " ")));
        reply.findings.extend(h.injection.iter().cloned());
    }
    reply.findings.sort();
    reply.findings.dedup();
    Ok(reply)
}

fn remember(ctx: &CommandCtx<'_>, text: &str) -> Result<CommandReply, String> {
    if text.is_empty() {
        return Err("usage: /remember TEXT".into());
    }
    let memory = Memory::open(ctx.home).map_err(|e| e.to_string())?;
    let line = format!("- {} ({})", text, chrono::Local::now().format("%Y-%m-%d"));
    memory.append("chat/remembered", &line).map_err(|e| e.to_string())?;
    Ok(CommandReply { text: "remembered (memory note chat/remembered)\n".into(), findings: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_memory_commands_work() {
        let commands = chat_commands();
        let mut names: Vec<&str> = commands.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), commands.len());

        let home = tempfile::tempdir().unwrap();
        let no_vault = |_: &str| -> Result<secrecy::SecretString, String> { Err("no vault".into()) };
        let ctx = CommandCtx { home: home.path(), read_key: &no_vault };
        let run = |name: &str, args: &str| (commands.iter().find(|c| c.name == name).unwrap().run)(&ctx, args);
        assert_eq!(run("memory", "").unwrap_err(), "usage: /memory QUERY");
        assert_eq!(run("memory", "kettle").unwrap().text, "no notes match\n");
        run("remember", "the kettle descaler is in the garage").unwrap();
        let found = run("memory", "kettle").unwrap();
        assert!(found.text.starts_with("chat/remembered\n") && found.text.contains("**kettle**"), "{found:?}");
        assert!(found.findings.is_empty());
    }
}
