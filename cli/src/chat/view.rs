//! What a chat turn shows while it runs: the reply streamed through the markdown styler
//! as tokens arrive (stdout), tool runs and retries as dim notes (stderr), and the inline
//! tool-approval prompt (approve once, always for this session, or deny).

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use runtime::{ApprovalPrompt, ApprovalState, BoxFuture, Event, Interaction, Observer};

use term::markdown::MarkdownStream;

/// The observer of one chat turn.
pub struct View {
    color: bool,
    state: Mutex<State>,
}

struct State {
    md: MarkdownStream,
    /// The reply as received (unstyled), kept for a reply that is stopped part-way.
    raw: String,
    /// A `\r` held back from the last piece: it may be the first half of `\r\n`.
    held_cr: bool,
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
            state: Mutex::new(State {
                md: MarkdownStream::new(color, width),
                raw: String::new(),
                held_cr: false,
                wrote: false,
                line_start: true,
            }),
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
        if std::mem::take(&mut state.held_cr) {
            let shown = state.md.push(&term::output::printable("\r"));
            Self::write(&mut state, &shown);
        }
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

    /// The reply's text received so far (what a stopped reply had said).
    pub fn received(&self) -> String {
        self.lock().raw.clone()
    }

    /// A dim note on stderr, on its own line.
    pub fn note(&self, text: &str) {
        self.break_line();
        let text = term::output::printable(text);
        let line = if self.color { format!("\x1b[2m{text}\x1b[0m\n") } else { format!("{text}\n") };
        term::output::err(&line);
    }
}

impl Observer for View {
    fn event(&self, event: &Event) {
        match event {
            Event::NodeText { text, .. } => {
                let mut state = self.lock();
                state.raw.push_str(text);
                // The model's text is shown, never obeyed: no escape sequence reaches the
                // terminal (a `\r` at the end of a piece waits to see if `\n` follows).
                let mut piece = String::with_capacity(text.len() + 1);
                if std::mem::take(&mut state.held_cr) {
                    piece.push('\r');
                }
                piece.push_str(text);
                if piece.ends_with('\r') {
                    piece.pop();
                    state.held_cr = true;
                }
                let safe = term::output::printable(&piece).into_owned();
                let styled = state.md.push(&safe);
                Self::write(&mut state, &styled);
            }
            Event::RunStarted { skill, depth, .. } if *depth > 0 => self.note(&format!("  ⚙ {skill}")),
            Event::NodeRetrying { error, .. } => self.note(&format!("  (retrying: {error})")),
            Event::NodeNote { message, .. } => self.note(&format!("  ({message})")),
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
            // The tool and its arguments, once (long arguments cut to what a screen holds).
            let head = match &tool {
                Some(tool) => format!("run the tool `{tool}`"),
                None => prompt.message.clone(),
            };
            let arguments = prompt
                .details
                .as_ref()
                .and_then(|d| d.get("arguments").or(Some(d)))
                .map(|a| shorten(&serde_json::to_string_pretty(a).unwrap_or_default()))
                .unwrap_or_default();
            term::output::err(&format!(
                "\n┌ approval needed: {}\n│ {}\n└ [y] once, [a] always for this session, [n] deny (n: reason) > ",
                term::output::printable(&head),
                term::output::printable(&arguments).replace('\n', "\n│ ")
            ));
            // Read the answer on a thread that stops when the turn does (Ctrl-C drops this
            // future): a reader left behind would swallow the next lines typed at the REPL.
            let stop = Arc::new(AtomicBool::new(false));
            let _stop_on_drop = StopOnDrop(stop.clone());
            loop {
                let stop = stop.clone();
                let line = tokio::task::spawn_blocking(move || read_line_unless(&stop)).await.ok().flatten()?;
                match parse_answer(&line) {
                    Some((state, reason, remember)) => {
                        if remember && let Some(tool) = &tool {
                            always.lock().unwrap_or_else(|p| p.into_inner()).insert(tool.clone());
                        }
                        return Some((state, reason));
                    }
                    None => term::output::err("  please answer y, a or n > "),
                }
            }
        })
    }
}

/// The most lines of a tool's arguments an approval prompt shows.
const PROMPT_LINES: usize = 30;
/// The most characters of one argument line an approval prompt shows.
const PROMPT_WIDTH: usize = 200;

/// Arguments cut to [`PROMPT_LINES`] lines of [`PROMPT_WIDTH`] characters, saying how much
/// was left out (`pyra runs show` has them whole).
fn shorten(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines
        .iter()
        .take(PROMPT_LINES)
        .map(|l| match l.char_indices().nth(PROMPT_WIDTH) {
            Some((at, _)) => format!("{}… ({} more characters)", &l[..at], l[at..].chars().count()),
            None => l.to_string(),
        })
        .collect();
    if lines.len() > PROMPT_LINES {
        out.push(format!("… ({} more lines)", lines.len() - PROMPT_LINES));
    }
    out.join("\n")
}

/// Sets the flag when the prompt's future is dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One line from stdin, waiting in short polls so that `stop` ends the wait; `None` at
/// end of input, on an error, or once `stop` is set.
fn read_line_unless(stop: &AtomicBool) -> Option<String> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let tick = Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&tick)) {
            Ok(0) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
            // Stopped while the poll waited: the line typed now is the REPL's.
            Ok(_) if stop.load(Ordering::Relaxed) => return None,
            Ok(_) => break,
        }
    }
    let mut line = String::new();
    match stdin.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
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

    #[test]
    fn long_arguments_are_cut_with_a_count() {
        assert_eq!(shorten("{\n  \"city\": \"Berlin\"\n}"), "{\n  \"city\": \"Berlin\"\n}");
        let long = format!("{}\n{}", "x".repeat(250), "y\n".repeat(40));
        let cut = shorten(&long);
        assert!(cut.starts_with(&format!("{}… (50 more characters)\n", "x".repeat(200))), "{cut}");
        assert!(cut.ends_with("… (11 more lines)"), "{cut}");
    }
}
