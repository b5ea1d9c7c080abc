//! The contract between the scheduler and a node kind: an [`Executor`] gets the node's
//! rendered `with:` value and a [`NodeCtx`] (cancellation, logging, durable approvals,
//! child skills, path checks) and returns an [`Outcome`].
//!
//! Executors live in the `plugins` crate and are attached to their [`crate::KindSpec`];
//! the engine never names a kind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::approval::{Answer, ApprovalRequest};
use super::services::Services;
use super::store::LogLevel;

/// A boxed, sendable future: executors return one so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs one node kind.
pub trait Executor: Send + Sync {
    /// Runs one attempt. `with` has been rendered and checked against the kind's schema.
    /// The future must return soon after `ctx.cancel` fires (a timeout or a cancelled
    /// run), stopping whatever it started (child processes included).
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>>;

    /// Whether the kind is pure computation that finishes without waiting (`template`):
    /// the scheduler then runs it in place and it takes no concurrency slot.
    fn is_inline(&self) -> bool {
        false
    }

    /// For inline kinds: the whole work, synchronously (no context, no future). An inline
    /// kind must return `Some`.
    fn run_inline(&self, with: Value) -> Option<Result<Outcome, NodeError>> {
        let _ = with;
        None
    }
}

/// A node's value, with its trust: `untrusted` marks data that came from outside (an HTTP
/// response, file content, a model, a message). Templates that read it carry the mark on.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub value: Value,
    pub untrusted: bool,
}

impl Output {
    pub fn trusted(value: Value) -> Self {
        Self { value, untrusted: false }
    }

    pub fn untrusted(value: Value) -> Self {
        Self { value, untrusted: true }
    }
}

/// How an attempt ended, when it did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The node finished; dependents may start.
    Done(Output),
    /// A person said no (an approval, or an approval-gated `exec`); the output says why.
    Rejected(Output),
    /// The node waits for something outside this process (an approval answered later);
    /// the run parks durably and resumes when it arrives.
    Waiting(String),
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// A failure worth retrying (a network error, a non-zero exit, a 5xx).
    Retryable(String),
    /// A failure that would fail again (bad arguments, a refused path).
    Fatal(String),
    /// The attempt stopped because its cancellation token fired.
    Cancelled,
}

impl NodeError {
    pub fn message(&self) -> String {
        match self {
            NodeError::Retryable(m) | NodeError::Fatal(m) => m.clone(),
            NodeError::Cancelled => "cancelled".to_string(),
        }
    }
}

/// What an executor can see and do while it runs.
#[derive(Clone)]
pub struct NodeCtx {
    pub run_id: Arc<str>,
    pub node_id: Arc<str>,
    pub skill: Arc<str>,
    /// With `for_each`, the item's position.
    pub index: Option<usize>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Fires on a timeout or when the run is cancelled.
    pub cancel: CancellationToken,
    /// JSON pointers into `with` (e.g. `/argv/2`) whose values were rendered from untrusted
    /// data.
    pub tainted: Arc<[String]>,
    pub(crate) services: Arc<Services>,
    pub(crate) depth: u32,
    /// Inside an `agent`, the model's tool call this executor runs for (`t2.call_1`):
    /// approvals it asks for are recorded under it, so each call asks for itself.
    pub call: Option<Arc<str>>,
    /// The caller wants a person asked before this tool call whatever the plugin's policy
    /// says (an agent's `approve_tools: true`, or its `tool_policy` narrowing to `ask`).
    pub ask: bool,
}

impl NodeCtx {
    /// The key this node (or for-each item) is recorded under: `id` or `id[3]`.
    pub fn key(&self) -> String {
        match self.index {
            Some(i) => format!("{}[{i}]", self.node_id),
            None => self.node_id.to_string(),
        }
    }

    /// Whether any value under `pointer` (`/argv`, `/env`, or `` for everything) was
    /// rendered from untrusted data.
    pub fn is_tainted(&self, pointer: &str) -> bool {
        self.tainted.iter().any(|t| t == pointer || t.starts_with(&format!("{pointer}/")) || pointer.is_empty())
    }

    /// The tainted pointers under `pointer`.
    pub fn tainted_under(&self, pointer: &str) -> Vec<&str> {
        self.tainted
            .iter()
            .filter(|t| *t == pointer || t.starts_with(&format!("{pointer}/")))
            .map(String::as_str)
            .collect()
    }

    /// Appends a line to the run's log (`pyra runs logs`).
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.services.log(&self.run_id, Some(&self.key()), level, &message.into());
    }

    /// Asks a person, durably: an answer already recorded is returned without asking
    /// again; on a terminal the person is asked; otherwise the run parks
    /// ([`Asked::Parked`]) and `pyra approve` / `pyra reject` answer later.
    pub async fn request_approval(&self, request: ApprovalRequest) -> Result<Asked, NodeError> {
        let span = tracing::info_span!(
            "approval",
            run_id = %self.run_id,
            node = %self.key(),
            sub = request.sub.as_deref().unwrap_or(""),
            on_timeout = request.on_timeout.as_str(),
            outcome = tracing::field::Empty,
        );
        let asked = tracing::Instrument::instrument(super::approval::request(self, request), span.clone()).await;
        let outcome = match &asked {
            Ok(Asked::Answered(a)) if a.approved => "approved",
            Ok(Asked::Answered(_)) => "rejected",
            Ok(Asked::Parked) => "waiting",
            Err(_) => "error",
        };
        span.record("outcome", outcome);
        asked
    }

    /// Runs another skill as part of this node and returns its outputs.
    pub async fn run_skill(&self, name: &str, inputs: serde_json::Map<String, Value>) -> Result<Outcome, NodeError> {
        super::child::run_child(self, name, inputs).await
    }

    /// A skill as a model's tool: its description and the JSON Schema of its inputs.
    pub fn skill_tool(&self, name: &str) -> Result<SkillTool, NodeError> {
        let runtime = &self.services.runtime;
        let caller = self.services.store.run(&self.run_id).ok().flatten().and_then(|r| r.source_path);
        let text = runtime.loader.load(name, caller.as_deref().map(std::path::Path::new)).map_err(NodeError::Fatal)?;
        let program = super::compile(&runtime.registry, &text)
            .map_err(|e| NodeError::Fatal(format!("tool `{name}`: the skill does not validate: {e}")))?;
        let skill = &program.skill;
        Ok(SkillTool {
            name: skill.name.clone(),
            reference: name.to_string(),
            description: skill.description.clone().unwrap_or_else(|| format!("Runs the skill `{}`.", skill.name)),
            parameters: inputs_schema(skill),
        })
    }

    /// Runs a skill for one of a model's tool calls: a child run recorded under
    /// `node#call`, so a resumed run finds it again; its inputs count as untrusted.
    pub async fn run_skill_tool(
        &self,
        name: &str,
        inputs: serde_json::Map<String, Value>,
        call_id: &str,
    ) -> Result<Outcome, NodeError> {
        super::child::run_child_as(self, name, inputs, format!("{}#{call_id}", self.key()), true).await
    }

    /// Hides secret values (and text derived from them) in `text`: what goes to a model
    /// passes through here.
    pub fn mask(&self, text: &str) -> String {
        self.services.runtime.masker.mask(text).into_owned()
    }

    /// Executor-owned state that survives a restart (e.g. when a `wait` ends).
    pub fn durable_state(&self) -> Option<Value> {
        self.services.store.node_state(&self.run_id, &self.key()).ok().flatten()
    }

    /// Records executor-owned state, committed before this returns.
    pub fn set_durable_state(&self, state: &Value) -> Result<(), NodeError> {
        self.services
            .store
            .set_node_state(&self.run_id, &self.key(), state)
            .map_err(|e| NodeError::Fatal(format!("cannot record state: {e}")))
    }

    /// Resolves and checks a path a node wants to read or write.
    pub fn check_path(&self, path: &str, access: paths::Access) -> Result<std::path::PathBuf, NodeError> {
        self.services.paths.check(path, access).map_err(|e| NodeError::Fatal(e.to_string()))
    }

    /// The variables a node may pass to a program: only those the skill declares.
    pub fn declared_env(&self) -> &[(String, String)] {
        &self.services.declared_env
    }

    /// Scans untrusted text (an HTTP response, a file) for prompt injection. Findings go
    /// to the security log and the node's record, and a warning to the run log; with the
    /// skill's `on_injection: block`, any finding fails the node.
    pub fn scan_untrusted(&self, source: &str, text: &str) -> Result<Vec<security::scan::Finding>, NodeError> {
        let findings = security::scan::scan(text);
        if findings.is_empty() {
            return Ok(findings);
        }
        let key = self.key();
        let services = &self.services;
        let mut categories: Vec<&str> = findings.iter().map(|f| f.category.as_str()).collect();
        categories.sort_unstable();
        categories.dedup();
        if let Some(log) = &services.runtime.security_log {
            for finding in &findings {
                let excerpt = services.runtime.masker.mask(&finding.excerpt).into_owned();
                let detail = format!("{source}: {excerpt}");
                let _ = log.record(&security::audit::Event {
                    action: "injection",
                    outcome: finding.category.as_str(),
                    skill: Some(&self.skill),
                    run: Some(&self.run_id),
                    node: Some(&key),
                    detail: Some(&detail),
                    ..Default::default()
                });
            }
        }
        let values: Vec<serde_json::Value> = findings.iter().filter_map(|f| serde_json::to_value(f).ok()).collect();
        let _ = services.store.append_list(&self.run_id, &key, super::record::NodeList::Findings, &values);
        let summary = format!("{} prompt-injection finding(s) in {source}: {}", findings.len(), categories.join(", "));
        if services.on_injection == lang::model::OnInjection::Block {
            self.log(LogLevel::Error, format!("{summary}; blocked (on_injection: block)"));
            return Err(NodeError::Fatal(format!(
                "blocked: {summary} (the skill says `on_injection: block`; `pyra runs show {} --json` lists them)",
                self.run_id
            )));
        }
        self.log(LogLevel::Warn, format!("{summary}; treated as untrusted data"));
        Ok(findings)
    }

    /// A warning in the run's log that whoever watches the run also sees as it happens
    /// (a model call retrying after a rate limit). Masked like everything shown.
    pub fn note(&self, message: &str) {
        let message = self.services.runtime.masker.mask(message).into_owned();
        self.log(LogLevel::Warn, message.clone());
        let observer = &self.services.observer;
        if observer.wants_events() {
            observer.event(&super::Event::NodeNote {
                run_id: self.run_id.clone(),
                node: Arc::from(self.key()),
                message,
            });
        }
    }

    /// Shows text as the node produces it (a model's reply, token by token) to whoever
    /// watches the run: the progress view, a chat. Masked like everything shown.
    pub fn stream_text(&self, text: &str) {
        let observer = &self.services.observer;
        if observer.wants_events() {
            observer.event(&super::Event::NodeText {
                run_id: self.run_id.clone(),
                node: Arc::from(self.key()),
                text: text.to_string(),
            });
        }
    }

    /// Records one model call's token usage on this node's record.
    pub fn record_usage(&self, usage: serde_json::Value) {
        let _ = self.services.store.append_list(&self.run_id, &self.key(), super::record::NodeList::Usage, &[usage]);
    }

    /// A model provider's API key from the vault, for the provider entry the node uses
    /// (not a skill secret: Pyra itself sends it, in a header, to the configured server).
    /// The access goes to the security log and the value is masked from now on.
    pub fn provider_key(&self, name: &str) -> Result<secrecy::SecretString, NodeError> {
        self.pyra_secret(name, "model provider key", &format!("the model needs the key `{name}`"))
    }

    /// A secret Pyra itself hands on (a model's key, a plugin's token): read from the
    /// vault, logged to the security log with `purpose`, masked from now on. `needed` starts
    /// the error message when it cannot be read.
    pub fn pyra_secret(&self, name: &str, purpose: &str, needed: &str) -> Result<secrecy::SecretString, NodeError> {
        use secrecy::ExposeSecret;
        let runtime = &self.services.runtime;
        let key = self.key();
        let audit = |outcome: &str, detail: &str| {
            if let Some(log) = &runtime.security_log {
                let _ = log.record(&security::audit::Event {
                    action: "secret.read",
                    outcome,
                    key: Some(name),
                    skill: Some(&self.skill),
                    run: Some(&self.run_id),
                    node: Some(&key),
                    detail: Some(detail),
                });
            }
        };
        let Some(source) = &runtime.secrets else {
            audit("denied", &format!("{purpose}; no vault"));
            return Err(NodeError::Fatal(format!(
                "{needed}, and there is no vault: `pyra vault init`, then `pyra vault set {name}`"
            )));
        };
        match source.get(name) {
            Ok(value) => {
                audit("granted", purpose);
                runtime.masker.add(name, value.expose_secret());
                Ok(value)
            }
            Err(why) => {
                audit("denied", &format!("{purpose}; {why}"));
                Err(NodeError::Fatal(format!("{needed}: {why} (`pyra vault set {name}` stores it)")))
            }
        }
    }

    /// The plugin tools (`<plugin>.<tool>` kinds) a pattern names: one name, or
    /// `<plugin>.*`. Blocked tools are never returned; a name that is blocked or unknown
    /// is an error that says why.
    pub fn plugin_tools(&self, pattern: &str) -> Result<Vec<lang::KindSpec>, NodeError> {
        let registry = &self.services.runtime.registry;
        if let Some(plugin) = pattern.strip_suffix(".*") {
            let prefix = format!("{plugin}.");
            let all: Vec<&lang::KindSpec> =
                registry.kinds().filter(|k| k.tool && k.name.starts_with(&prefix)).collect();
            if all.is_empty() {
                return Err(NodeError::Fatal(format!("`{pattern}`: no plugin `{plugin}` with tools is installed")));
            }
            return Ok(all.into_iter().filter(|k| k.blocked.is_none()).cloned().collect());
        }
        match registry.get(pattern).filter(|k| k.tool) {
            Some(spec) => match &spec.blocked {
                Some(why) => Err(NodeError::Fatal(format!("tool `{pattern}` is blocked: {why}"))),
                None => Ok(vec![spec.clone()]),
            },
            None => Err(NodeError::Fatal(format!("there is no plugin tool `{pattern}`"))),
        }
    }

    /// Whether `name` names a plugin tool (or `<plugin>.*`) rather than a skill.
    pub fn is_plugin_tool(&self, name: &str) -> bool {
        let registry = &self.services.runtime.registry;
        match name.strip_suffix(".*") {
            Some(plugin) => registry.kinds().any(|k| k.tool && k.name.starts_with(&format!("{plugin}."))),
            None => registry.get(name).is_some_and(|k| k.tool),
        }
    }

    /// Runs a plugin tool for one of a model's tool calls, through the tool's own
    /// executor (so its policy and approvals apply exactly as for a node): `call` keys
    /// its approvals; `untrusted` marks every argument as coming from untrusted data.
    pub async fn run_plugin_tool(
        &self,
        kind: &str,
        arguments: Value,
        call: &str,
        untrusted: bool,
        ask: bool,
    ) -> Result<Outcome, NodeError> {
        let Some(executor) = self.services.runtime.registry.executor(kind) else {
            return Err(NodeError::Fatal(format!("tool `{kind}` cannot run in this build")));
        };
        let mut ctx = self.clone();
        ctx.call = Some(Arc::from(call));
        ctx.ask = ask;
        ctx.tainted = if untrusted { Arc::from(vec![String::new()]) } else { Arc::from(Vec::<String>::new()) };
        executor.execute(ctx, arguments).await
    }

    /// `$PYRA_HOME` (for the memory), if this runtime has one.
    pub fn home(&self) -> Option<&std::path::Path> {
        self.services.runtime.home.as_deref()
    }

    /// Whether a person is at a terminal to answer prompts.
    pub fn interactive(&self) -> bool {
        self.services.interaction.is_some()
    }
}

/// The JSON Schema of a skill's inputs, as a tool's parameters: an object with one
/// property per input (its description kept), the required ones listed, nothing else
/// allowed. What a model (`tools:`) and an MCP client (`pyra mcp serve`) see.
pub fn inputs_schema(skill: &lang::Skill) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for (input, spec) in &skill.inputs {
        let mut schema = spec.json_schema();
        if let (Some(d), Some(obj)) = (&spec.description, schema.as_object_mut()) {
            obj.insert("description".into(), Value::String(d.clone()));
        }
        properties.insert(input.clone(), schema);
        if spec.is_required() {
            required.push(Value::String(input.clone()));
        }
    }
    serde_json::json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A skill offered to a model as a tool ([`NodeCtx::skill_tool`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SkillTool {
    /// The skill's name, which the model calls it by.
    pub name: String,
    /// How the skill was named in `tools:` (a name or a file), to run it by.
    pub reference: String,
    pub description: String,
    /// The JSON Schema of the skill's inputs.
    pub parameters: Value,
}

/// The result of [`NodeCtx::request_approval`].
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    Answered(Answer),
    /// Nobody can answer now; the node should return [`Outcome::Waiting`].
    Parked,
}
