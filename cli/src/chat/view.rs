//! What a chat turn shows while it runs: the reply streamed through the markdown styler
//! as tokens arrive (stdout), tool runs and retries as dim notes (stderr), and the inline
//! tool-approval prompt (approve once, always for this session, or deny).

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use engine::run::{ApprovalPrompt, ApprovalState, BoxFuture, Event, Interaction, Observer};

use crate::markdown::MarkdownStream;

/// The observer of one chat turn.
pub struct View {
    color: bool,
    state: Mutex<State>,
}

struct State {
    md: MarkdownStream,
    /// Something of the reply was written.
    wrote: bool,
    /// The last byte written to stdout was a newline (or nothing was written).
    line_start: bool,
}

impl View {
    /// `color`: style the reply (a terminal); otherwise it is written as it comes.
    pub fn new(color: bool, width: usize) -> Arc<View> {
        Arc::new(View {
            color,
            state: Mutex::new(State { md: MarkdownStream::new(color, width), wrote: false, line_start: true }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(state: &mut State, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        state.wrote = true;
        state.line_start = text.ends_with('\n');
    }

    /// Ends the reply's current line (before a note or a prompt on the terminal).
    pub fn break_line(&self) {
        let mut state = self.lock();
        let held = state.md.finish();
        Self::write(&mut state, &held);
        if !state.line_start {
            Self::write(&mut state, "\n");
        }
    }

    /// The reply ended: flushes what the styler held back and ends the line.
    pub fn finish(&self) {
        self.break_line();
    }

    /// Whether any of the reply was shown.
    pub fn wrote(&self) -> bool {
        self.lock().wrote
    }

    /// A dim note on stderr, on its own line.
    pub fn note(&self, text: &str) {
        self.break_line();
        let line = if self.color { format!("\x1b[2m{text}\x1b[0m\n") } else { format!("{text}\n") };
        crate::output::err(&line);
    }
}

impl Observer for View {
    fn event(&self, event: &Event) {
        match event {
            Event::NodeText { text, .. } => {
                let mut state = self.lock();
                let styled = state.md.push(text);
                Self::write(&mut state, &styled);
            }
            Event::RunStarted { skill, depth, .. } if *depth > 0 => self.note(&format!("  ⚙ {skill}")),
            Event::NodeRetrying { error, .. } => self.note(&format!("  (retrying: {error})")),
            Event::StoreTrouble { message } => self.note(&format!("warning: {message}")),
            _ => {}
        }
    }
}

/// Tool-call approvals asked inline: once, always (for this chat session), or deny.
pub struct ChatPrompt {
    pub view: Arc<View>,
    /// Tools approved for the rest of the session (`*`: every tool).
    pub always: Arc<Mutex<BTreeSet<String>>>,
}

/// What an answer line means.
pub(crate) fn parse_answer(line: &str) -> Option<(ApprovalState, Option<String>, bool)> {
    let (word, reason) = match line.split_once(':') {
        Some((w, r)) => (w.trim(), Some(r.trim().to_string()).filter(|r| !r.is_empty())),
        None => (line.trim(), None),
    };
    match word.to_ascii_lowercase().as_str() {
        "y" | "yes" | "o" | "once" => Some((ApprovalState::Approved, reason, false)),
        "a" | "always" => Some((ApprovalState::Approved, reason, true)),
        "n" | "no" | "d" | "deny" => Some((ApprovalState::Rejected, reason, false)),
        _ => None,
    }
}

impl Interaction for ChatPrompt {
    fn ask(&self, prompt: ApprovalPrompt) -> BoxFuture<'static, Option<(ApprovalState, Option<String>)>> {
        let view = self.view.clone();
        let always = self.always.clone();
        Box::pin(async move {
            let tool = prompt.details.as_ref().and_then(|d| d.get("tool")).and_then(|t| t.as_str()).map(str::to_string);
            if let Some(tool) = &tool {
                let set = always.lock().unwrap_or_else(|p| p.into_inner());
                if set.contains(tool) || set.contains("*") {
                    return Some((ApprovalState::Approved, Some("approved for this chat session".into())));
                }
            }
            view.break_line();
            let arguments = prompt
                .details
                .as_ref()
                .and_then(|d| d.get("arguments").or(Some(d)))
                .map(|a| serde_json::to_string_pretty(a).unwrap_or_default())
                .unwrap_or_default();
            crate::output::err(&format!(
                "\n┌ approval needed: {}\n│ {}\n└ [y] once, [a] always for this session, [n] deny (n: reason) > ",
                prompt.message,
                arguments.replace('\n', "\n│ ")
            ));
            loop {
                let line = tokio::task::spawn_blocking(|| {
                    let mut line = String::new();
                    match std::io::stdin().read_line(&mut line) {
                        Ok(0) | Err(_) => None,
                        Ok(_) => Some(line),
                    }
                })
                .await
                .ok()
                .flatten()?;
                match parse_answer(&line) {
                    Some((state, reason, remember)) => {
                        if remember && let Some(tool) = &tool {
                            always.lock().unwrap_or_else(|p| p.into_inner()).insert(tool.clone());
                        }
                        return Some((state, reason));
                    }
                    None => crate::output::err("  please answer y, a or n > "),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_leniently() {
        assert_eq!(parse_answer("y\n"), Some((ApprovalState::Approved, None, false)));
        assert_eq!(parse_answer("\n"), None, "Enter alone approves nothing");
        assert_eq!(parse_answer("always"), Some((ApprovalState::Approved, None, true)));
        assert_eq!(parse_answer("n: not now"), Some((ApprovalState::Rejected, Some("not now".into()), false)));
        assert_eq!(parse_answer("maybe"), None);
    }
}
