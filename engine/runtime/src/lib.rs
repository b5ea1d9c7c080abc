//! Running skills: [`Runtime::start`] turns a validated skill into a run, [`Runtime::resume`]
//! continues one (after `pyra approve`, a crash, or `pyra runs retry --from`).
//!
//! Data flow: skill text → [`lang::validate_source`] → [`program::Program`] (templates
//! compiled once) → [`scheduler`] (tokio tasks, one commit per turn) → [`store::Store`].
//! Node kinds are [`executor::Executor`]s attached to the language's registry ([`Kinds`]); the terminal is an
//! [`Interaction`] and progress goes to an [`Observer`], both supplied by the CLI.
//!
//! **Architecture invariant:** every state change is committed to the [`Store`] before it
//! is acted on, and a node that succeeded is never executed again; everything written or
//! shown passes the masker ([`secrets`]); no terminal IO (the CLI supplies the
//! [`Interaction`] and the [`Observer`]) and no network (executors that reach the world
//! live in `plugins/`).

pub mod approval;
mod attempts;
mod child;
pub mod executor;
pub mod inputs;
mod kinds;
pub mod lock;
mod memory_store;
pub mod procs;
pub mod program;
pub mod record;
mod scheduler;
pub mod secrets;
mod services;
pub mod store;
#[cfg(test)]
mod store_tests;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub use approval::{Answer, ApprovalPrompt, ApprovalRequest};
pub use attempts::backoff;
pub use executor::{Asked, BoxFuture, Executor, NodeCtx, NodeError, Outcome, Output, SkillTool};
pub use kinds::Kinds;
pub use memory_store::MemoryStore;
pub use record::*;
pub use store::{SqliteStore, Store, StoreError};

use paths::PathPolicy;
use program::{NodeResult, Program, RunData};
use services::Services;
use syntax::diag::Diagnostic;
use syntax::source::SourceFile;

/// Something that happened in a run, for progress views and tools.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        run_id: String,
        skill: String,
        nodes: Vec<String>,
        depth: u32,
        resumed: bool,
    },
    NodeStarted {
        run_id: Arc<str>,
        node: Arc<str>,
        attempt: u32,
    },
    NodeRetrying {
        run_id: Arc<str>,
        node: Arc<str>,
        attempt: u32,
        error: String,
    },
    NodeFinished {
        run_id: Arc<str>,
        node: Arc<str>,
        status: NodeStatus,
        error: Option<String>,
    },
    NodeSkipped {
        run_id: Arc<str>,
        node: Arc<str>,
        reason: String,
    },
    /// Text a node produces as it goes (a model's streamed reply), to show as it arrives.
    /// `node` is the record key (`id` or `id[i]`).
    NodeText {
        run_id: Arc<str>,
        node: Arc<str>,
        text: String,
    },
    RunFinished {
        run_id: String,
        status: RunStatus,
        error: Option<String>,
        depth: u32,
    },
    /// A remark of a node's worth showing as it happens (a model call waiting to retry);
    /// also in the run's log.
    NodeNote {
        run_id: Arc<str>,
        node: Arc<str>,
        message: String,
    },
    /// The store could not record something (a full disk); shown, never swallowed.
    StoreTrouble {
        message: String,
    },
}

/// Receives [`Event`]s (the CLI's progress view).
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);

    /// Whether node events are wanted at all (an embedder without a view says no, and
    /// the scheduler does not build them). Run-level events are always sent.
    fn wants_events(&self) -> bool {
        true
    }
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: &Event) {}

    fn wants_events(&self) -> bool {
        false
    }
}

/// A person at a terminal.
pub trait Interaction: Send + Sync {
    /// Asks for an approval; `None` when nobody can answer after all (input closed).
    /// Dropping the future abandons the question.
    fn ask(&self, prompt: ApprovalPrompt) -> BoxFuture<'static, Option<(ApprovalState, Option<String>)>>;
}

/// A skill's text, as read from a file or embedded in the binary.
#[derive(Debug, Clone)]
pub struct SkillText {
    pub name: String,
    /// The file it came from (absolute), if any.
    pub path: Option<String>,
    /// How diagnostics name it.
    pub display: String,
    pub source: String,
}

/// Finds skills by name (for `skill` nodes).
pub trait SkillLoader: Send + Sync {
    /// `near` is the calling skill's file: a skill next to it wins over the others, so a
    /// folder of skills that call each other works wherever it is.
    fn load(&self, name: &str, near: Option<&std::path::Path>) -> Result<SkillText, String>;
}

/// Where a new run sits: its parent (run, node key) if it is a child, how deep, and
/// whether a model chose its inputs.
pub(crate) struct Lineage {
    pub parent: Option<(String, String)>,
    pub depth: u32,
    pub untrusted_inputs: bool,
    pub origin: Origin,
}

/// What started a top-level run, recorded with it: the daemon names its trigger (and a
/// cron slot), and picks the id itself when it claims a slot for the run before starting it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The run's id (`None`: a new one).
    pub id: Option<String>,
    /// `cron`, `event`, `webhook`, `manual`.
    pub started_by: Option<String>,
    /// The cron slot, milliseconds since the epoch.
    pub scheduled_for: Option<i64>,
}

/// What went wrong before or around a run (not inside it: node failures are results).
#[derive(Debug)]
pub enum RunError {
    /// The skill does not validate.
    Invalid {
        file: SourceFile,
        diagnostics: Vec<Diagnostic>,
    },
    /// The inputs do not fit the skill.
    Inputs(Vec<String>),
    Store(StoreError),
    NotFound(String),
    /// The run cannot be resumed (it is running elsewhere, or it succeeded).
    Refused(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Invalid { file, diagnostics } => {
                write!(f, "{} is not a valid skill ({} errors)", file.name(), diagnostics.len())
            }
            RunError::Inputs(errors) => f.write_str(&errors.join("; ")),
            RunError::Store(e) => write!(f, "{e}"),
            RunError::NotFound(m) | RunError::Refused(m) => f.write_str(m),
        }
    }
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        RunError::Store(e)
    }
}

/// How a run ended (or paused).
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub status: RunStatus,
    pub outputs: Option<Value>,
    /// Whether any output was rendered from untrusted data.
    pub outputs_untrusted: bool,
    pub error: Option<String>,
    /// Pending approvals, when the run waits.
    pub waiting: Vec<ApprovalRecord>,
}

/// Everything runs need, shared (cheap to clone).
#[derive(Clone)]
pub struct Runtime {
    pub registry: Arc<Kinds>,
    pub store: Arc<dyn Store>,
    pub observer: Arc<dyn Observer>,
    pub interaction: Option<Arc<dyn Interaction>>,
    pub loader: Arc<dyn SkillLoader>,
    pub paths: Arc<PathPolicy>,
    /// Where run lock files live; `None` for an in-memory store.
    pub locks: Option<PathBuf>,
    /// Cancels every run of this process (Ctrl-C).
    pub cancel: CancellationToken,
    /// Where `secret('NAME')` reads from (`None`: no vault).
    pub secrets: Option<Arc<dyn secrets::SecretSource>>,
    /// Values to hide in everything written or shown (shared by all runs of the process).
    pub masker: Arc<secrets::Masker>,
    /// The security log (vault access, refusals).
    pub security_log: Option<security::audit::SecurityLog>,
    /// `$PYRA_HOME`, where the memory lives (`None`: no memory).
    pub home: Option<PathBuf>,
}

/// Compiles a skill text: validation with all diagnostics, then the program.
pub fn compile(registry: &Kinds, text: &SkillText) -> Result<Arc<Program>, RunError> {
    let file = SourceFile::new(&text.display, text.source.clone());
    // Prompt files are found beside the skill file; a skill without one has no folder.
    let folder =
        text.path.as_deref().map_or_else(lang::Folder::default, |p| lang::Folder::of(p.as_ref(), &text.display));
    let validation = lang::validate_in(file, registry, &folder);
    let checked = match validation.checked {
        Some(checked) if validation.is_valid() => checked,
        _ => {
            let diagnostics = validation.diagnostics.clone();
            return Err(RunError::Invalid { file: validation.file, diagnostics });
        }
    };
    let program = Program::new(Arc::new(checked.skill), &checked.graph, registry).map_err(|e| RunError::Invalid {
        file: SourceFile::new(&text.display, text.source.clone()),
        diagnostics: vec![Diagnostic::error("compile", e)],
    })?;
    Ok(Arc::new(program))
}

/// A new run id: sortable by time, short enough to type (a unique prefix is enough).
pub use db::new_id as new_run_id;

impl Runtime {
    /// Starts a new run of a compiled skill.
    pub async fn start(
        &self,
        program: Arc<Program>,
        text: &SkillText,
        inputs: Map<String, Value>,
    ) -> Result<RunReport, RunError> {
        self.start_as(program, text, inputs, Origin::default()).await
    }

    /// Starts a new top-level run recorded with its origin (the daemon's triggered runs).
    pub async fn start_as(
        &self,
        program: Arc<Program>,
        text: &SkillText,
        inputs: Map<String, Value>,
        origin: Origin,
    ) -> Result<RunReport, RunError> {
        let top = Lineage { parent: None, depth: 0, untrusted_inputs: false, origin };
        self.start_at(program, text, inputs, top, self.cancel.clone()).await
    }

    /// Starts a new top-level run whose inputs another agent chose (an MCP client's
    /// model, through `pyra mcp serve`): they count as untrusted, as the inputs of a
    /// model's tool call do, so what reads them is tainted (an `exec` asks first).
    pub async fn start_untrusted(
        &self,
        program: Arc<Program>,
        text: &SkillText,
        inputs: Map<String, Value>,
        origin: Origin,
    ) -> Result<RunReport, RunError> {
        let top = Lineage { parent: None, depth: 0, untrusted_inputs: true, origin };
        self.start_at(program, text, inputs, top, self.cancel.clone()).await
    }

    pub(crate) async fn start_child(
        &self,
        text: &SkillText,
        inputs: Map<String, Value>,
        lineage: Lineage,
        cancel: CancellationToken,
    ) -> Result<RunReport, RunError> {
        let program = compile(&self.registry, text)?;
        self.start_at(program, text, inputs, lineage, cancel).await
    }

    fn start_at(
        &self,
        program: Arc<Program>,
        text: &SkillText,
        inputs: Map<String, Value>,
        lineage: Lineage,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, Result<RunReport, RunError>> {
        let runtime = self.clone();
        let text = text.clone();
        let Lineage { parent, depth, untrusted_inputs, origin } = lineage;
        Box::pin(async move {
            let inputs = inputs::resolve(&program.skill, inputs).map_err(RunError::Inputs)?;
            let record = RunRecord {
                id: origin.id.unwrap_or_else(new_run_id),
                skill: program.skill.name.clone(),
                source_path: text.path.clone(),
                source: text.source.clone(),
                inputs: Value::Object(inputs.clone()),
                untrusted_inputs,
                status: RunStatus::Running,
                error: None,
                outputs: None,
                parent_run: parent.as_ref().map(|p| p.0.clone()),
                parent_node: parent.as_ref().map(|p| p.1.clone()),
                created_at: now_ms(),
                finished_at: None,
                pid: Some(std::process::id()),
                resumes: 0,
                started_by: origin.started_by,
                scheduled_for: origin.scheduled_for,
            };
            let lock = runtime.lock(&record.id)?;
            runtime.store.create_run(&record)?;
            let results = (0..program.nodes.len()).map(|_| OnceLock::new()).collect();
            let report = runtime.drive(program, &record, results, depth, cancel, false).await;
            drop(lock);
            Ok(report)
        })
    }

    fn lock(&self, run_id: &str) -> Result<Option<lock::RunLock>, RunError> {
        let Some(dir) = &self.locks else { return Ok(None) };
        std::fs::create_dir_all(dir).map_err(|e| RunError::Store(StoreError(format!("{}: {e}", dir.display()))))?;
        match lock::RunLock::acquire(dir, run_id) {
            Ok(Some(lock)) => Ok(Some(lock)),
            Ok(None) => Err(RunError::Refused(format!("run {run_id} is being run by another process"))),
            Err(e) => Err(RunError::Store(StoreError(format!("cannot lock run {run_id}: {e}")))),
        }
    }

    /// Whether the process running `run_id` is alive.
    pub fn is_alive(&self, run_id: &str) -> bool {
        self.locks.as_ref().is_some_and(|dir| lock::is_held(dir, run_id))
    }

    async fn drive(
        &self,
        program: Arc<Program>,
        record: &RunRecord,
        results: Vec<OnceLock<NodeResult>>,
        depth: u32,
        cancel: CancellationToken,
        resumed: bool,
    ) -> RunReport {
        let services = Arc::new(Services::new(self, &program.skill, &record.id));
        let env: serde_json::Map<String, Value> =
            services.declared_env.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let started = chrono::DateTime::from_timestamp_millis(record.created_at).map(|t| t.to_rfc3339());
        let data = Arc::new(RunData {
            program: program.clone(),
            inputs: program::jvalue(&record.inputs),
            inputs_untrusted: record.untrusted_inputs,
            run: program::jvalue(&serde_json::json!({
                "id": record.id,
                "skill": record.skill,
                "started_at": started,
            })),
            env: program::jvalue(&Value::Object(env)),
            results,
        });
        self.observer.event(&Event::RunStarted {
            run_id: record.id.clone(),
            skill: record.skill.clone(),
            nodes: program.nodes.iter().map(|n| n.id.clone()).collect(),
            depth,
            resumed,
        });
        let deadline = program.skill.timeout.map(|t| (Instant::now() + t.0, t.0));
        let job =
            scheduler::Job { program, data, services, run_id: Arc::from(record.id.as_str()), cancel, depth, deadline };
        // The run's span: every node attempt, model call and log line of the run is inside
        // it (what a tracing subscriber or an exporter shows; nothing is shown without one).
        let span = tracing::info_span!(
            "run",
            run_id = %record.id,
            skill = %record.skill,
            depth,
            resumed,
            trigger = record.started_by.as_deref().unwrap_or("cli"),
        );
        let report = tracing::Instrument::instrument(scheduler::drive(job), span.clone()).await;
        span.in_scope(|| match &report.error {
            Some(error) => tracing::info!(status = %report.status, error = %self.masker.mask(error), "run ended"),
            None => tracing::info!(status = %report.status, "run ended"),
        });
        report
    }

    /// Continues a run: completed nodes keep their recorded outputs and are never run
    /// again; with `from`, that node and everything downstream of it run again.
    pub async fn resume(&self, run_id: &str, from: Option<&str>) -> Result<RunReport, RunError> {
        self.resume_at(run_id, from, 0, self.cancel.clone()).await
    }

    pub(crate) async fn resume_child(
        &self,
        run_id: &str,
        depth: u32,
        cancel: CancellationToken,
    ) -> Result<RunReport, RunError> {
        self.resume_at(run_id, None, depth, cancel).await
    }

    fn resume_at(
        &self,
        run_id: &str,
        from: Option<&str>,
        depth: u32,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, Result<RunReport, RunError>> {
        let runtime = self.clone();
        let run_id = run_id.to_string();
        let from = from.map(str::to_string);
        Box::pin(async move {
            let store = runtime.store.clone();
            let record = store.run(&run_id)?.ok_or_else(|| RunError::NotFound(format!("no run `{run_id}`")))?;
            if record.status == RunStatus::Running && runtime.is_alive(&run_id) {
                return Err(RunError::Refused(format!(
                    "run {run_id} is still running (pid {}); cancel it first with `pyra runs cancel {run_id}`",
                    record.pid.unwrap_or_default()
                )));
            }
            if record.status == RunStatus::Succeeded && from.is_none() {
                return Err(RunError::Refused(format!(
                    "run {run_id} already succeeded; to run part of it again, name a node with `--from NODE`"
                )));
            }
            let text = SkillText {
                name: record.skill.clone(),
                path: record.source_path.clone(),
                display: record.source_path.clone().unwrap_or_else(|| format!("<run {run_id}>/{}.yaml", record.skill)),
                source: record.source.clone(),
            };
            let program = compile(&runtime.registry, &text)?;
            let again: HashSet<usize> = match &from {
                Some(node) => {
                    let Some(&start) = program.index.get(node) else {
                        let names: Vec<&str> = program.nodes.iter().map(|n| n.id.as_str()).collect();
                        let hint = syntax::suggest::help(node, names.iter().copied()).unwrap_or_default();
                        return Err(RunError::NotFound(format!("run {run_id} has no node `{node}`. {hint}")));
                    };
                    downstream(&program, start)
                }
                None => HashSet::new(),
            };
            let lock = runtime.lock(&run_id)?;
            let records = store.nodes(&run_id)?;
            let results: Vec<OnceLock<NodeResult>> = (0..program.nodes.len()).map(|_| OnceLock::new()).collect();
            let mut changes = Vec::new();
            for rec in &records {
                let Some(&i) = program.index.get(&*rec.node) else { continue };
                if again.contains(&i) {
                    continue;
                }
                if rec.status == NodeStatus::Succeeded {
                    let _ = results[i].set(NodeResult::new(rec.status, rec.output.as_ref(), None, rec.untrusted));
                } else {
                    changes.push(Change::NodeReset { node: rec.node.clone(), forget: false });
                }
            }
            for i in &again {
                changes.push(Change::NodeReset { node: program.nodes[*i].name.clone(), forget: true });
            }
            store.apply(&run_id, changes)?;
            store.resume_run(&run_id, std::process::id())?;
            let report = runtime.drive(program, &record, results, depth, cancel, true).await;
            drop(lock);
            Ok(report)
        })
    }

    /// Finds runs whose process died and records them as interrupted.
    pub fn detect_interrupted(&self, sqlite: &SqliteStore) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for id in sqlite.running_runs()? {
            if !self.is_alive(&id) {
                sqlite.mark_interrupted(&id)?;
                found.push(id);
            }
        }
        Ok(found)
    }
}

/// A node and everything that depends on it, directly or not.
fn downstream(program: &Program, start: usize) -> HashSet<usize> {
    let mut seen = HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        for &d in &program.nodes[i].dependents {
            if seen.insert(d) {
                stack.push(d);
            }
        }
    }
    seen
}
