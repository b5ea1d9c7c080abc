//! Approval prompts on the terminal: approve, reject (with an optional reason) or show
//! the details. Lines come from one reader thread, so a prompt abandoned because the
//! approval was answered elsewhere (or timed out) leaves nothing half-read.

use std::io::BufRead;
use std::sync::{Arc, Mutex, OnceLock};

use runtime::{ApprovalPrompt, ApprovalState, BoxFuture, Interaction};
use tokio::sync::mpsc;

use crate::progress::Progress;

pub struct TerminalPrompt {
    progress: Arc<Progress>,
    /// One question at a time.
    turn: Arc<tokio::sync::Mutex<()>>,
}

type Lines = Arc<Mutex<Option<mpsc::UnboundedReceiver<String>>>>;

fn lines() -> Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            std::thread::spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Arc::new(Mutex::new(Some(rx)))
        })
        .clone()
}

impl TerminalPrompt {
    pub fn new(progress: Arc<Progress>) -> Self {
        Self { progress, turn: Arc::new(tokio::sync::Mutex::new(())) }
    }
}

struct Held {
    rx: Option<mpsc::UnboundedReceiver<String>>,
    slot: Lines,
}

impl Drop for Held {
    fn drop(&mut self) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = self.rx.take();
    }
}

struct Restore(Arc<Progress>);

impl Drop for Restore {
    fn drop(&mut self) {
        self.0.hide(false);
    }
}

impl Interaction for TerminalPrompt {
    fn ask(&self, prompt: ApprovalPrompt) -> BoxFuture<'static, Option<(ApprovalState, Option<String>)>> {
        let progress = self.progress.clone();
        let turn = self.turn.clone();
        Box::pin(async move {
            let _turn = turn.lock().await;
            let source = lines();
            let taken = source.lock().unwrap_or_else(|p| p.into_inner()).take()?;
            // Put the line reader back even when this question is abandoned midway.
            let mut held = Held { rx: Some(taken), slot: source.clone() };
            let rx = held.rx.as_mut()?;
            progress.hide(true);
            let _restore = Restore(progress.clone());
            let deadline = chrono::DateTime::from_timestamp_millis(prompt.deadline)
                .map(|t| t.with_timezone(&chrono::Local).format("%H:%M:%S").to_string())
                .unwrap_or_default();
            term::output::err(&format!(
                "\n? approval needed — {} (run {})\n  {}\n  (answer before {deadline}; `pyra approve {} {}` works too)\n",
                prompt.node,
                prompt.run_id,
                prompt.message.replace('\n', "\n  "),
                prompt.run_id,
                prompt.node
            ));
            loop {
                term::output::err("  [a]pprove, [r]eject (r: reason), [d]etails > ");
                let Some(line) = rx.recv().await else { break None };
                let line = line.trim();
                let (word, reason) = match line.split_once(':') {
                    Some((w, r)) => (w.trim(), Some(r.trim().to_string()).filter(|r| !r.is_empty())),
                    None => (line, None),
                };
                match word.to_ascii_lowercase().as_str() {
                    "a" | "approve" | "y" | "yes" => break Some((ApprovalState::Approved, reason)),
                    "r" | "reject" | "n" | "no" => break Some((ApprovalState::Rejected, reason)),
                    "d" | "details" => {
                        let text = match &prompt.details {
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
                            None => "(no details)".to_string(),
                        };
                        term::output::err(&format!("  {}\n", text.replace('\n', "\n  ")));
                    }
                    _ => term::output::err("  please answer a, r or d\n"),
                }
            }
        })
    }
}
