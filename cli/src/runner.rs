//! Builds the engine's [`Runtime`] for a command (store under `$PYRA_HOME`, registry,
//! skill loader, progress view, terminal prompts) and drives a run on a tokio runtime
//! with Ctrl-C handling: the first Ctrl-C cancels cleanly, a second one records the run
//! as cancelled, kills child processes and exits at once.

use std::io::IsTerminal;
use std::sync::Arc;

use paths::PathPolicy;
use runtime::{RunError, RunReport, RunStatus, Runtime, SkillLoader, SkillText, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::progress::Progress;
use crate::skills;
use term::output;

/// The run database under the home, opened (and created 0600 on first use).
pub fn open_store(home: &Home) -> Result<Arc<SqliteStore>, Failure> {
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(format!("cannot create {}: {e}", home.root.display())))?;
    home.warn_permissions();
    let store = SqliteStore::open(&home.root.join("pyra.db")).map_err(|e| Failure::failed(e.to_string()))?;
    Ok(Arc::new(store))
}

pub(crate) struct Loader(pub(crate) Home);

impl SkillLoader for Loader {
    fn load(&self, name: &str, near: Option<&std::path::Path>) -> Result<SkillText, String> {
        if let Some(dir) = near.and_then(std::path::Path::parent) {
            for ext in ["yaml", "yml"] {
                let sibling = dir.join(format!("{name}.{ext}"));
                if sibling.is_file() {
                    return skills::SkillSource::from_path(&sibling, skills::Origin::File)
                        .text()
                        .map_err(|f| f.message);
                }
            }
        }
        let source = skills::resolve(&self.0, name).map_err(|f| f.message)?;
        source.text().map_err(|f| f.message)
    }
}

/// A runtime for this process.
pub struct Session {
    pub runtime: Runtime,
    pub store: Arc<SqliteStore>,
    pub progress: Arc<Progress>,
}

impl Session {
    pub fn open(home: &Home, quiet: bool) -> Result<Self, Failure> {
        Self::with_registry(home, quiet, Arc::new(crate::plugin_host::registry(home)))
    }

    /// A session over a registry the caller already built (and compiled with).
    pub fn with_registry(home: &Home, quiet: bool, registry: Arc<runtime::Kinds>) -> Result<Self, Failure> {
        let store = open_store(home)?;
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let progress = Arc::new(Progress::new(std::io::stderr().is_terminal(), quiet));
        let interaction: Option<Arc<dyn runtime::Interaction>> =
            if interactive { Some(Arc::new(crate::prompt::TerminalPrompt::new(progress.clone()))) } else { None };
        let runs_dir = home.root.join("runs");
        home.ensure_dir(&runs_dir)
            .map_err(|e| Failure::failed(format!("cannot create {}: {e}", runs_dir.display())))?;
        let runtime = Runtime {
            registry,
            store: store.clone() as Arc<dyn Store>,
            observer: progress.clone(),
            interaction,
            loader: Arc::new(Loader(home.clone())),
            paths: Arc::new(PathPolicy::new(&home.root)),
            locks: Some(runs_dir),
            cancel: CancellationToken::new(),
            secrets: Some(Arc::new(crate::vault_cmd::VaultSource::new(home, progress.clone()))),
            masker: runtime::secrets::process_masker(),
            security_log: Some(security::audit::SecurityLog::new(&home.root)),
            home: Some(home.root.clone()),
        };
        // A run whose process died (a crash, `kill -9`) is found here and recorded.
        if let Ok(found) = runtime.detect_interrupted(&store) {
            for id in found {
                output::err(&format!(
                    "note: run {id} was interrupted (its process stopped); `pyra runs retry {id}` resumes it\n"
                ));
            }
        }
        Ok(Self { runtime, store, progress })
    }

    /// Drives a run to its end (or pause) on a fresh tokio runtime, handling Ctrl-C.
    pub fn block_on<F>(&self, work: F) -> Result<RunReport, RunError>
    where
        F: std::future::Future<Output = Result<RunReport, RunError>>,
    {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let cancel = self.runtime.cancel.clone();
        let store = self.store.clone();
        let progress = self.progress.clone();
        rt.block_on(async move {
            let signals = watch_signals(cancel, store, progress);
            let report = tokio::select! {
                report = work => report,
                () = signals => unreachable_exit(),
            };
            // The plugin servers this run started stop with it.
            crate::plugin_host::shutdown().await;
            report
        })
    }
}

fn unreachable_exit() -> Result<RunReport, RunError> {
    std::process::exit(exit::CANCELLED as i32)
}

/// Waits for Ctrl-C / SIGTERM. The first cancels the runs (they stop cleanly and are
/// recorded as cancelled); a second records them as cancelled now, kills every child
/// process group and exits with 130. Never returns otherwise.
async fn watch_signals(cancel: CancellationToken, store: Arc<SqliteStore>, progress: Arc<Progress>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    let mut count = 0;
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        count += 1;
        if count == 1 {
            progress.note("cancelling… (press Ctrl-C again to stop at once)");
            cancel.cancel();
            continue;
        }
        for run_id in progress.active_runs() {
            let _ = store.force_cancel(&run_id);
        }
        runtime::procs::kill_all();
        mcp::reaper::kill_all();
        progress.note("stopped.");
        std::process::exit(exit::CANCELLED as i32);
    }
}

/// The exit code a run's end maps to.
pub fn exit_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Succeeded => exit::OK,
        RunStatus::Waiting => exit::WAITING,
        RunStatus::Cancelled => exit::CANCELLED,
        _ => exit::INVALID,
    }
}

/// Turns an engine error about a run into a failure with the right exit code.
pub fn run_failure(err: RunError) -> Failure {
    match err {
        RunError::Invalid { file, diagnostics } => {
            let color = output::color_stderr();
            let mut text = String::new();
            for d in &diagnostics {
                text.push_str(&d.render(&file, color));
                text.push('\n');
            }
            output::err(&text);
            Failure::failed(format!("{} is not a valid skill; nothing was run", file.name()))
        }
        RunError::Inputs(errors) => {
            let mut message = String::from("the inputs do not fit the skill:");
            for e in errors {
                message.push_str(&format!("\n  - {e}"));
            }
            Failure::usage(message)
        }
        RunError::NotFound(m) | RunError::Refused(m) => Failure::usage(m),
        RunError::Store(e) => Failure::failed(e.to_string()),
    }
}

/// Prints how a run ended: outputs on stdout (JSON with `--json`), a summary on stderr.
pub fn report(report: &RunReport, json: bool, progress: &Progress) -> u8 {
    let outputs = report.outputs.clone().unwrap_or(serde_json::Value::Null);
    if json {
        output::out(&format!("{}\n", serde_json::to_string_pretty(&outputs).unwrap_or_default()));
    } else if let Some(map) = outputs.as_object() {
        for (k, v) in map {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => serde_json::to_string_pretty(other).unwrap_or_default(),
            };
            if text.contains('\n') {
                output::out(&format!("{k}:\n{}\n", text.trim_end()));
            } else {
                output::out(&format!("{k}: {text}\n"));
            }
        }
    }
    let id = &report.run_id;
    match report.status {
        RunStatus::Succeeded => progress.note(&format!("run {id} succeeded")),
        RunStatus::Waiting => {
            progress.note(&format!("run {id} is waiting for approval:"));
            for a in &report.waiting {
                progress.note(&format!("  {}: {}", a.node, a.message.lines().next().unwrap_or_default()));
                progress.note(&format!("    pyra approve {id} {}    pyra reject {id} {}", a.node, a.node));
            }
        }
        status => {
            let why = report.error.as_deref().unwrap_or("");
            progress.note(&format!("run {id} {status}{}{why}", if why.is_empty() { "" } else { ": " }));
            if matches!(status, RunStatus::Failed | RunStatus::Cancelled) {
                progress.note(&format!("  `pyra runs show {id}` shows what happened; `pyra runs retry {id}` runs it again from where it stopped"));
            }
        }
    }
    exit_code(report.status)
}

/// Runs matching an id or a unique prefix.
pub fn find_run(store: &SqliteStore, arg: &str) -> Result<String, Failure> {
    let found = store.find_runs(arg).map_err(|e| Failure::failed(e.to_string()))?;
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::usage(format!("no run `{arg}`; `pyra runs list` shows the runs"))),
        many if many.iter().any(|id| id == arg) => Ok(arg.to_string()),
        many => Err(Failure::usage(format!("`{arg}` matches several runs: {}; give more of the id", many.join(", ")))),
    }
}
