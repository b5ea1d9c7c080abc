//! [`PyraServer`]: rmcp's `ServerHandler` over a [`SkillHost`] — `tools/list` lists the
//! exposed skills, `tools/call` runs one. A call of anything else is a JSON-RPC error
//! (`-32602`, "unknown tool"), the same whether or not a skill of that name exists; a run
//! that fails, or inputs that do not fit, are `isError` results the caller reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tokio::sync::Notify;

use crate::host::{Call, CallOutcome, ExposedSkill, SkillHost};

/// What a client is told at `initialize`.
const INSTRUCTIONS: &str = "Each tool runs one of the user's Pyra skills as a recorded run. A skill that asks for an \
     approval waits until the user answers it with `pyra approve RUN` (the call stays open meanwhile).";

/// The MCP server: tools are the host's exposed skills.
#[derive(Clone)]
pub struct PyraServer {
    host: Arc<dyn SkillHost>,
    inflight: Arc<Inflight>,
}

/// Calls still running, so a closing server lets them record their end.
#[derive(Default)]
struct Inflight {
    count: AtomicUsize,
    idle: Notify,
}

struct InflightGuard(Arc<Inflight>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl PyraServer {
    pub fn new(host: Arc<dyn SkillHost>) -> Self {
        Self { host, inflight: Arc::default() }
    }

    /// Waits until no call is running (each records its run's end first).
    pub async fn idle(&self) {
        loop {
            let notified = self.inflight.idle.notified();
            if self.inflight.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn tool(skill: ExposedSkill) -> Tool {
        let tool = Tool::new(skill.name, skill.description, Arc::new(skill.input_schema));
        match skill.output_schema {
            Some(schema) => tool.with_raw_output_schema(Arc::new(schema)),
            None => tool,
        }
    }
}

impl ServerHandler for PyraServer {
    fn get_info(&self) -> ServerConfig {
        let mut implementation = Implementation::new("pyra", env!("CARGO_PKG_VERSION"));
        implementation.title = Some("Pyra skills".into());
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(implementation)
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let host = self.host.clone();
        let tools = tokio::task::spawn_blocking(move || host.tools())
            .await
            .map_err(|e| ErrorData::internal_error(format!("listing the skills failed: {e}"), None))?;
        Ok(ListToolsResult::with_all_items(tools.into_iter().map(Self::tool).collect()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.host.tools().into_iter().find(|t| t.name == name).map(Self::tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let host = self.host.clone();
        let check = name.clone();
        let exposed = tokio::task::spawn_blocking(move || host.exposes(&check)).await.unwrap_or(false);
        if !exposed {
            return Err(ErrorData::invalid_params(format!("unknown tool `{}`", printable(&name)), None));
        }
        let inputs = request.arguments.unwrap_or_default();
        let peer = context.peer.clone();
        let token = context.meta.get_progress_token();
        // Progress must increase from one notification to the next.
        let step = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let notify = Arc::new(move |message: String| {
            tracing::info!(%message, "mcp call note");
            if let Some(token) = token.clone() {
                let peer = peer.clone();
                let progress = f64::from(step.fetch_add(1, Ordering::SeqCst) + 1);
                tokio::spawn(async move {
                    let note = ProgressNotificationParam::new(token, progress).with_message(message);
                    let _ = peer.notify_progress(note).await;
                });
            }
        });
        self.inflight.count.fetch_add(1, Ordering::SeqCst);
        let _guard = InflightGuard(self.inflight.clone());
        let call = Call { cancel: context.ct.clone(), notify };
        let result = match self.host.call(&name, inputs, call).await {
            CallOutcome::Done { run_id, outputs, text } => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = outputs;
                let mut meta = rmcp::model::MetaObject::new();
                meta.insert("pyra/run".into(), serde_json::Value::String(run_id));
                result.meta = Some(meta);
                result
            }
            CallOutcome::Failed(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
        };
        Ok(result.into())
    }
}

/// A name from a client, safe to echo: control characters shown escaped, at most 200
/// characters.
fn printable(name: &str) -> String {
    let mut out: String = name.chars().take(200).flat_map(char::escape_debug).collect();
    if name.chars().count() > 200 {
        out.push('…');
    }
    out
}
