//! The chat REPL (rustyline): a line ending in `\` continues on the next one (pasted
//! multi-line text stays whole), history in `$PYRA_HOME/chat_history` (0600), `/`
//! commands, Ctrl-C at the prompt clears the line, Ctrl-C during a reply stops the reply
//! and keeps the conversation, Ctrl-D leaves.

use std::io::IsTerminal;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Config, Editor, Helper};

use super::commands::{Commands, Flow, show_end};
use super::{Chat, View, width};
use crate::failure::{Failure, exit};
use term::output;

/// Line editing: only the continuation rule.
struct Lines;

impl Completer for Lines {
    type Candidate = String;
}
impl Hinter for Lines {
    type Hint = String;
}
impl Highlighter for Lines {}
impl Helper for Lines {}

impl Validator for Lines {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if ctx.input().ends_with('\\') { ValidationResult::Incomplete } else { ValidationResult::Valid(None) })
    }
}

/// The text of an entered line: `\` + newline continuations joined by newlines.
pub(crate) fn entered(line: &str) -> String {
    line.replace("\\\n", "\n").trim().to_string()
}

pub fn repl(chat: &mut Chat) -> Result<u8, Failure> {
    let config = Config::builder().auto_add_history(false).max_history_size(2000).map_err(readline)?.build();
    let mut editor: Editor<Lines, FileHistory> = Editor::with_config(config).map_err(readline)?;
    editor.set_helper(Some(Lines));
    let history = chat.home.root.join("chat_history");
    if history.exists() {
        let _ = editor.load_history(&history);
    }
    let commands = Commands::all();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let name = chat.conv.name.clone().unwrap_or_else(|| chat.conv.id.clone());
    let model = chat.conv.model.clone().unwrap_or_else(|| "the default model".into());
    let earlier = chat.messages()?.len();
    let resumed = if earlier > 0 { format!(", {earlier} earlier messages") } else { String::new() };
    // A profile is named in the banner and the prompt, so work and personal never mix.
    let (profile, prompt) = match chat.home.profile() {
        Some(p) => (format!(", profile {p}"), format!("[{p}] › ")),
        None => (String::new(), "› ".to_string()),
    };
    output::err(&format!(
        "Pyra chat — conversation {name} ({model}{resumed}{profile}). /help for commands, Ctrl-D to leave.\n"
    ));
    loop {
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(readline(e)),
        };
        let text = entered(&line);
        if text.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        save_history(&mut editor, &history);
        if text.starts_with('/') {
            match commands.dispatch(chat, &text) {
                Ok(Flow::Exit) => break,
                Ok(Flow::Continue) => continue,
                Err(f) => {
                    output::err(&format!("{}\n", f.message));
                    continue;
                }
            }
        }
        let view = View::new(color, width());
        match chat.turn(&text, &view) {
            Ok(end) => show_end(&end, &view),
            Err(f) => output::err(&format!("error: {}\n", f.message)),
        }
    }
    Ok(exit::OK)
}

/// Saves the history file, private (0600).
fn save_history(editor: &mut Editor<Lines, FileHistory>, path: &std::path::Path) {
    if !path.exists() {
        let _ = crate::home::write_private(path, b"");
    }
    let _ = editor.save_history(path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

fn readline(e: impl std::fmt::Display) -> Failure {
    Failure::failed(format!("the line editor failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continued_lines_join() {
        assert_eq!(entered("first\\\nsecond  "), "first\nsecond");
        assert_eq!(entered("  /help "), "/help");
    }
}
