//! The progress view: on a terminal, a live line per running node (spinner, name,
//! elapsed time) with finished nodes printed above; otherwise plain lines. Both on
//! stderr, so stdout carries only outputs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use runtime::{Event, NodeStatus, Observer, RunStatus};

use term::output;

pub struct Progress {
    live: Option<MultiProgress>,
    quiet: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    bars: HashMap<(String, String), (ProgressBar, Instant)>,
    started: HashMap<(String, String), Instant>,
    active: Vec<String>,
    /// How deep each run is (child runs of `skill` nodes are indented).
    depth: HashMap<String, usize>,
}

fn symbol(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Succeeded => "✓",
        NodeStatus::Failed => "✗",
        NodeStatus::Skipped => "–",
        NodeStatus::Rejected => "⊘",
        NodeStatus::Waiting => "…",
        NodeStatus::Cancelled => "⨯",
        _ => " ",
    }
}

fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

impl Progress {
    pub fn new(tty: bool, quiet: bool) -> Self {
        let live = (tty && !quiet).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self { live, quiet, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A line for people, above any live bars.
    pub fn note(&self, text: &str) {
        match &self.live {
            Some(mp) => {
                let _ = mp.println(text);
            }
            None => output::err(&format!("{text}\n")),
        }
    }

    /// Hides the live view while a prompt is on screen.
    pub fn hide(&self, hidden: bool) {
        if let Some(mp) = &self.live {
            mp.set_draw_target(if hidden { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
        }
    }

    /// Top-level runs in flight (for the second Ctrl-C).
    pub fn active_runs(&self) -> Vec<String> {
        self.lock().active.clone()
    }

    fn line(&self, text: String) {
        if !self.quiet {
            self.note(&text);
        }
    }
}

impl Progress {
    fn indent(&self, run_id: &str) -> String {
        "  ".repeat(self.lock().depth.get(run_id).copied().unwrap_or(0) + 1)
    }
}

impl Observer for Progress {
    fn event(&self, event: &Event) {
        match event {
            Event::RunStarted { run_id, skill, nodes, depth, resumed } => {
                let mut state = self.lock();
                state.active.push(run_id.clone());
                state.depth.insert(run_id.clone(), *depth as usize);
                drop(state);
                let indent = "  ".repeat(*depth as usize);
                let verb = if *resumed { "resuming" } else { "running" };
                self.line(format!("{indent}{verb} {skill} (run {run_id}, {} nodes)", nodes.len()));
            }
            Event::NodeStarted { run_id, node, attempt: _ } => {
                let key = (run_id.to_string(), node.to_string());
                let now = Instant::now();
                let mut state = self.lock();
                state.started.insert(key.clone(), now);
                if let Some(mp) = &self.live {
                    let bar = mp.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {prefix} {elapsed:.dim} {wide_msg:.dim}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(node.to_string());
                    bar.enable_steady_tick(Duration::from_millis(100));
                    state.bars.insert(key, (bar, now));
                } else if !self.quiet {
                    drop(state);
                    self.line(format!("{}{node}: started", self.indent(run_id)));
                }
            }
            Event::NodeRetrying { run_id, node, attempt, error } => {
                self.line(format!("{}{node}: attempt {} failed ({error}); retrying", self.indent(run_id), attempt - 1));
            }
            Event::NodeFinished { run_id, node, status, error } => {
                let key = (run_id.to_string(), node.to_string());
                let mut state = self.lock();
                if let Some((bar, _)) = state.bars.remove(&key) {
                    bar.finish_and_clear();
                    if let Some(mp) = &self.live {
                        mp.remove(&bar);
                    }
                }
                let took = state.started.remove(&key).map(|t| fmt_duration(t.elapsed())).unwrap_or_default();
                drop(state);
                let detail = match (status, error) {
                    (NodeStatus::Succeeded, _) => String::new(),
                    (_, Some(e)) => format!(": {e}"),
                    _ => String::new(),
                };
                self.line(format!("{}{} {node} {status} {took}{detail}", self.indent(run_id), symbol(*status)));
            }
            Event::NodeSkipped { run_id, node, reason } => {
                self.line(format!("{}{} {node} skipped ({reason})", self.indent(run_id), symbol(NodeStatus::Skipped)));
            }
            Event::RunFinished { run_id, status, depth, .. } => {
                let mut state = self.lock();
                state.active.retain(|r| r != run_id);
                state.depth.remove(run_id);
                drop(state);
                if *depth > 0 && *status != RunStatus::Succeeded {
                    self.line(format!("  child run {run_id} {status}"));
                }
            }
            Event::NodeText { run_id, node, text } => {
                // The live line shows the tail of what the node streams (a model's reply);
                // the whole text is the node's output.
                let key = (run_id.to_string(), node.to_string());
                let state = self.lock();
                if let Some((bar, _)) = state.bars.get(&key) {
                    let mut tail = bar.message();
                    // Shown, never obeyed: no escape sequence from a model reaches the terminal.
                    tail.push_str(&term::output::printable(&text.replace(['\n', '\r', '\t'], " ")));
                    let chars = tail.chars().count();
                    if chars > 200 {
                        tail = tail.chars().skip(chars - 200).collect();
                    }
                    bar.set_message(tail);
                }
                drop(state);
            }
            Event::NodeNote { run_id, node, message } => {
                self.line(format!("{}{node}: {}", self.indent(run_id), term::output::printable(message)));
            }
            Event::StoreTrouble { message } => self.note(&format!("warning: {message}")),
        }
    }
}
