//! [`RuntimeHost`]: the [`SkillHost`] over the engine's [`Runtime`], shared by `pyra mcp
//! serve` and the daemon. A call is an ordinary run (recorded, masked, resumable) whose
//! inputs are untrusted (another agent's model chose them: an `exec` reading them asks); an
//! approval it asks for is recorded before anyone is asked and answered by `pyra approve`
//! (the runtime polls the store), while the call waits — until the client cancels or the
//! wait's limit passes, when the run parks as `waiting` and `pyra approve` finishes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use runtime::{ApprovalPrompt, ApprovalState, Interaction, RunError, RunStatus, Runtime, SkillText};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::expose::Exposure;
use crate::host::{BoxFuture, Call, CallOutcome, ExposedSkill, SkillHost};

/// Every skill the host may pick from (read at each list and call, so an edited or new
/// skill file shows without a restart). The host keeps those the [`Exposure`] allows.
pub trait Catalog: Send + Sync + 'static {
    fn skills(&self) -> Vec<SkillText>;
}

impl<F: Fn() -> Vec<SkillText> + Send + Sync + 'static> Catalog for F {
    fn skills(&self) -> Vec<SkillText> {
        self()
    }
}

/// Runs exposed skills with a [`Runtime`].
pub struct RuntimeHost {
    runtime: Runtime,
    catalog: Box<dyn Catalog>,
    exposure: Exposure,
    /// How long a call waits for an approval's answer before the run parks (the
    /// approval's own deadline still applies, whichever comes first).
    pub approval_wait: Duration,
}

impl RuntimeHost {
    /// The default [`RuntimeHost::approval_wait`].
    pub const DEFAULT_APPROVAL_WAIT: Duration = Duration::from_secs(600);

    pub fn new(runtime: Runtime, catalog: impl Catalog, exposure: Exposure) -> Self {
        Self { runtime, catalog: Box::new(catalog), exposure, approval_wait: Self::DEFAULT_APPROVAL_WAIT }
    }

    /// The exposed skills' texts.
    fn exposed(&self) -> Vec<SkillText> {
        let mut texts: Vec<SkillText> =
            self.catalog.skills().into_iter().filter(|t| self.exposure.allows(&t.name)).collect();
        texts.sort_by(|a, b| a.name.cmp(&b.name));
        texts.dedup_by(|a, b| a.name == b.name);
        texts
    }

    fn mask(&self, text: &str) -> String {
        self.runtime.masker.mask(text).into_owned()
    }
}

/// A skill's tool definition: its description, its inputs' schema and, when it declares
/// outputs, theirs (each output may hold any JSON value).
fn describe(name: &str, skill: &lang::Skill) -> ExposedSkill {
    let object = |v: Value| match v {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let output_schema = (!skill.outputs.is_empty()).then(|| {
        let properties: Map<String, Value> =
            skill.outputs.keys().map(|k| (k.clone(), Value::Object(Map::new()))).collect();
        let required: Vec<Value> = skill.outputs.keys().map(|k| Value::String(k.clone())).collect();
        object(serde_json::json!({ "type": "object", "properties": properties, "required": required }))
    });
    ExposedSkill {
        name: name.to_string(),
        description: skill.description.clone().unwrap_or_else(|| format!("Runs the Pyra skill `{name}`.")),
        input_schema: object(runtime::executor::inputs_schema(skill)),
        output_schema,
    }
}

impl SkillHost for RuntimeHost {
    fn tools(&self) -> Vec<ExposedSkill> {
        let mut tools = Vec::new();
        for text in self.exposed() {
            match runtime::compile(&self.runtime.registry, &text) {
                Ok(program) => tools.push(describe(&text.name, &program.skill)),
                Err(e) => {
                    tracing::warn!(skill = %text.name, error = %e, "an exposed skill does not validate; not listed")
                }
            }
        }
        tools
    }

    fn exposes(&self, name: &str) -> bool {
        self.exposed().iter().any(|t| t.name == name)
    }

    fn call(&self, name: &str, inputs: Map<String, Value>, call: Call) -> BoxFuture<'static, CallOutcome> {
        let Some(text) = self.exposed().into_iter().find(|t| t.name == name) else {
            return Box::pin(std::future::ready(CallOutcome::Failed(format!("`{name}` is not an exposed skill"))));
        };
        let program = match runtime::compile(&self.runtime.registry, &text) {
            Ok(program) => program,
            Err(e) => return Box::pin(std::future::ready(CallOutcome::Failed(self.mask(&e.to_string())))),
        };
        // The process's cancel (a signal) stops this run too.
        let run_cancel = self.runtime.cancel.child_token();
        let park = CancellationToken::new();
        let asking = Arc::new(AtomicUsize::new(0));
        let mut runtime = self.runtime.clone();
        runtime.cancel = run_cancel.clone();
        runtime.interaction = Some(Arc::new(WaitHere {
            park: park.clone(),
            asking: asking.clone(),
            notify: call.notify.clone(),
            limit: self.approval_wait,
        }));
        let masker = self.runtime.masker.clone();
        Box::pin(async move {
            // The inputs come from another agent's model: untrusted, like a tool call's.
            let run = runtime.start_untrusted(program, &text, inputs, runtime::Origin::default());
            tokio::pin!(run);
            let mut cancelled = false;
            let report = loop {
                tokio::select! {
                    report = &mut run => break report,
                    () = call.cancel.cancelled(), if !cancelled => {
                        cancelled = true;
                        // An approval being waited for parks durably (`pyra approve` can
                        // still finish the run); anything else stops.
                        park.cancel();
                        if asking.load(Ordering::SeqCst) == 0 {
                            run_cancel.cancel();
                        }
                    }
                }
            };
            let mask = |t: &str| masker.mask(t).into_owned();
            let report = match report {
                Ok(report) => report,
                Err(RunError::Inputs(errors)) => {
                    return CallOutcome::Failed(mask(&format!(
                        "the inputs do not fit the skill: {}",
                        errors.join("; ")
                    )));
                }
                Err(e) => return CallOutcome::Failed(mask(&e.to_string())),
            };
            let id = &report.run_id;
            match report.status {
                RunStatus::Succeeded => {
                    let outputs = report.outputs.map(|o| masker.mask_value(o)).filter(|o| !o.is_null());
                    let mut text = match &outputs {
                        Some(o) => serde_json::to_string_pretty(o).unwrap_or_default(),
                        None => format!("run {id} succeeded"),
                    };
                    if report.outputs_untrusted {
                        text.push_str("\n(these outputs were rendered from untrusted data)");
                    }
                    CallOutcome::Done { run_id: id.clone(), outputs, text }
                }
                RunStatus::Waiting => {
                    let nodes: Vec<String> = report.waiting.iter().map(|a| format!("`{}`", a.node)).collect();
                    CallOutcome::Failed(format!(
                        "run {id} waits for an approval ({}); it is recorded: `pyra approve {id}` (or `pyra reject \
                         {id}`) answers it and finishes the run",
                        nodes.join(", ")
                    ))
                }
                status => {
                    let why = report.error.as_deref().map(|e| format!(": {}", mask(e))).unwrap_or_default();
                    CallOutcome::Failed(format!("run {id} {status}{why}"))
                }
            }
        })
    }
}

/// The "terminal" of a call: nobody answers here; the runtime polls the store for `pyra
/// approve`'s answer meanwhile. The question parks (`None`) when the call is cancelled or
/// the wait's limit passes.
struct WaitHere {
    park: CancellationToken,
    asking: Arc<AtomicUsize>,
    notify: Arc<dyn Fn(String) + Send + Sync>,
    limit: Duration,
}

/// Counts a question as open while it lives.
struct Asking(Arc<AtomicUsize>);

impl Drop for Asking {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Interaction for WaitHere {
    fn ask(&self, prompt: ApprovalPrompt) -> runtime::BoxFuture<'static, Option<(ApprovalState, Option<String>)>> {
        // The prompt's message is masked by the runtime.
        let (run, node) = (&prompt.run_id, &prompt.node);
        (self.notify)(format!(
            "run {run} waits for approval `{node}`: {} — answer with `pyra approve {run} {node}` or `pyra reject \
             {run} {node}`",
            prompt.message
        ));
        self.asking.fetch_add(1, Ordering::SeqCst);
        let guard = Asking(self.asking.clone());
        let park = self.park.clone();
        let limit = self.limit;
        Box::pin(async move {
            let _guard = guard;
            tokio::select! {
                () = park.cancelled() => {}
                () = tokio::time::sleep(limit) => {}
            }
            None
        })
    }
}
