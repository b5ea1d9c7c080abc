//! Executors for `llm` (one completion, optionally as schema-checked JSON with one repair
//! attempt) and `agent` (a tool-use loop whose tools are skills).
//!
//! Prompts are inline or in prompt files (`prompt_file`, `system_file`), which validation
//! has loaded into `with:` already; a Handlebars file is rendered here.
//!
//! What goes to a model: secret values are masked out of every message; text rendered
//! from untrusted data (an HTTP response, a file, a tool's result) is scanned for prompt
//! injection and wrapped in `<untrusted>` tags, with a note in the system prompt. What
//! comes back is untrusted. Streamed text reaches the progress view as it arrives; every
//! call's token usage is recorded on the node (unknown stays unknown).

use std::sync::OnceLock;

use paths::Access;
use runtime::{
    ApprovalRequest, ApprovalState, Asked, BoxFuture, Executor, NodeCtx, NodeError, Outcome, Output, SkillTool,
};
use serde_json::{Map, Value, json};

use ::llm::client::{self, Completion, LlmError, Policy};
use ::llm::target::{Target, TargetError, target_for};
use ::llm::{ChatRequest, Message, Role, ToolCall, ToolSpec, UNTRUSTED_NOTE, Usage, wrap_untrusted};

/// One HTTP client for every model call of the process.
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| client::http_client(&Policy::default()))
}

/// The model for `selector` (`NAME`, `NAME/model-id`, or none for the default entry) in
/// this node's home: its config entry, provider and key from the vault.
fn resolve(ctx: &NodeCtx, selector: Option<&str>) -> Result<Target, NodeError> {
    let home = ctx.home().ok_or_else(|| NodeError::Fatal("language models need a Pyra home (config.yaml)".into()))?;
    let config = config::Config::load(home).map_err(|e| NodeError::Fatal(e.render(false)))?;
    let model = config.resolve(selector).map_err(|e| NodeError::Fatal(e.to_string()))?;
    target_for(&model, |name| ctx.provider_key(name)).map_err(|e| match e {
        TargetError::Entry(message) => NodeError::Fatal(message),
        TargetError::Key(e) => e,
    })
}

/// The text of `prompt` or `system` (`key`) and the pointer its taint is recorded
/// under: inline or from a Jinja file (rendered by the runtime like any template: the
/// file's text is in `key`), or from a Handlebars file, rendered here over the data the
/// runtime rendered for it (`<key>_file.data`). A prompt file's path passes the path
/// policy first, as every path a node touches does.
fn prompt_text(ctx: &NodeCtx, with: &Value, key: &str) -> Result<Option<(String, String)>, NodeError> {
    let file_key = format!("{key}_file");
    if let Some(file) = with.get(&file_key) {
        let path = file.as_str().or_else(|| file.get("path").and_then(Value::as_str)).unwrap_or_default();
        let checked = ctx
            .check_path(path, Access::Read)
            .map_err(|e| NodeError::Fatal(format!("`{file_key}`: {}", e.message())))?;
        if let Some(pieces) = file.get("handlebars").and_then(Value::as_array) {
            let text: String = pieces.iter().filter_map(Value::as_str).collect();
            let data = file.get("data").cloned().unwrap_or_else(|| json!({}));
            let rendered = lang::hbs::render(&checked.display().to_string(), &text, &data)
                .map_err(|e| NodeError::Fatal(format!("`{file_key}`: {e}")))?;
            return Ok(Some((rendered, format!("/{file_key}"))));
        }
    }
    Ok(with.get(key).and_then(Value::as_str).map(|s| (s.to_string(), format!("/{key}"))))
}

/// The conversation a node's `with:` describes: masked, untrusted parts scanned and
/// wrapped, the untrusted-content note added to the system prompt when needed.
fn conversation(ctx: &NodeCtx, with: &Value, tools: bool) -> Result<Vec<Message>, NodeError> {
    // Tool results always come back wrapped, so an agent's model always gets the note.
    let untrusted = std::cell::Cell::new(tools);
    let text_at = |pointer: &str, text: &str, source: &str| -> Result<String, NodeError> {
        let masked = ctx.mask(text);
        if ctx.tainted_under(pointer).is_empty() {
            return Ok(masked);
        }
        ctx.scan_untrusted(source, text)?;
        untrusted.set(true);
        Ok(wrap_untrusted(source, &masked))
    };
    let mut messages = Vec::new();
    let mut system = match prompt_text(ctx, with, "system")? {
        Some((s, pointer)) => text_at(&pointer, &s, "the system prompt")?,
        None => String::new(),
    };
    if let Some(context) = with.get("context").and_then(Value::as_str).filter(|c| !c.trim().is_empty()) {
        // Reference material is data whatever its source: always scanned and marked.
        ctx.scan_untrusted("the context", context)?;
        untrusted.set(true);
        let block = wrap_untrusted("context", &ctx.mask(context));
        system = if system.is_empty() { block } else { format!("{system}\n\n{block}") };
    }
    if let Some(list) = with.get("messages").and_then(Value::as_array) {
        for (i, m) in list.iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).and_then(Role::parse).unwrap_or(Role::User);
            let content = m.get("content").and_then(Value::as_str).unwrap_or_default();
            let content = text_at(&format!("/messages/{i}/content"), content, &format!("message {i}"))?;
            if role == Role::System {
                system = if system.is_empty() { content } else { format!("{system}\n\n{content}") };
            } else {
                messages.push(Message::text(role, content));
            }
        }
    }
    if let Some((prompt, pointer)) = prompt_text(ctx, with, "prompt")? {
        messages.push(Message::user(text_at(&pointer, &prompt, "the prompt")?));
    }
    if untrusted.get() {
        system = if system.is_empty() { UNTRUSTED_NOTE.to_string() } else { format!("{system}\n\n{UNTRUSTED_NOTE}") };
    }
    if !system.is_empty() {
        messages.insert(0, Message::system(system));
    }
    Ok(messages)
}

fn request(target: &Target, with: &Value, messages: Vec<Message>, tools: Vec<ToolSpec>) -> ChatRequest {
    ChatRequest {
        model: target.model.clone(),
        messages,
        tools,
        temperature: with.get("temperature").and_then(Value::as_f64).or(target.temperature),
        max_tokens: with
            .get("max_tokens")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .or(target.max_tokens),
        response_schema: None,
    }
}

/// One model call: streamed to the progress view, its usage recorded — also the usage
/// of attempts that failed after the server began answering (they may be billed).
async fn call(ctx: &NodeCtx, target: &Target, req: &ChatRequest) -> Result<Completion, NodeError> {
    let streamer = ctx.clone();
    let mut on_text = move |t: &str| streamer.stream_text(t);
    let (recorder, model) = (ctx.clone(), target.clone());
    let mut on_incomplete = move |u: &Usage| recorder.record_usage(model.usage_entry(u, true));
    let (noter, label) = (ctx.clone(), target.label.clone());
    let mut on_retry = move |why: &str| noter.note(&format!("model `{label}`: {why}"));
    let hooks = client::Hooks { on_text: &mut on_text, on_incomplete: &mut on_incomplete, on_retry: &mut on_retry };
    let result = client::complete(http(), &target.endpoint, req, &target.policy, &ctx.cancel, hooks).await;
    match result {
        Ok(done) => {
            ctx.record_usage(target.usage_entry(&done.usage, false));
            Ok(done)
        }
        Err(LlmError::Cancelled) => Err(NodeError::Cancelled),
        Err(LlmError::Transient(m)) => Err(NodeError::Retryable(format!("model `{}`: {m}", target.label))),
        Err(LlmError::Fatal(m)) => Err(NodeError::Fatal(format!("model `{}`: {m}", target.label))),
    }
}

/// The JSON in a reply: the whole text, or the inside of a ```json fence.
fn json_in(text: &str) -> Result<Value, String> {
    let t = text.trim();
    let inner = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(t);
    serde_json::from_str(inner.trim()).map_err(|e| format!("the reply is not JSON ({e})"))
}

fn check_reply(text: &str, schema: &Value) -> Result<Value, String> {
    let value = json_in(text)?;
    lang::schema::check(schema, &value).map_err(|problems| problems.join("; "))?;
    Ok(value)
}

/// `llm`: one completion.
pub struct Llm;

impl Executor for Llm {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let target = resolve(&ctx, with.get("model").and_then(Value::as_str))?;
            let messages = conversation(&ctx, &with, false)?;
            let mut req = request(&target, &with, messages, Vec::new());
            let Some(schema) = with.get("response_schema").cloned() else {
                let done = call(&ctx, &target, &req).await?;
                return Ok(Outcome::Done(Output::untrusted(Value::String(done.text))));
            };
            req.response_schema = Some(schema.clone());
            let first = call(&ctx, &target, &req).await?;
            let problem = match check_reply(&first.text, &schema) {
                Ok(value) => return Ok(Outcome::Done(Output::untrusted(value))),
                Err(problem) => problem,
            };
            // One repair attempt: the model sees its reply and what is wrong with it.
            req.messages.push(Message::assistant(first.text));
            req.messages.push(Message::user(format!(
                "Your reply does not match the required JSON Schema: {problem}. Reply again with only the corrected \
                 JSON, no other text. The schema: {schema}"
            )));
            let second = call(&ctx, &target, &req).await?;
            match check_reply(&second.text, &schema) {
                Ok(value) => Ok(Outcome::Done(Output::untrusted(value))),
                Err(problem) => Err(NodeError::Fatal(format!(
                    "model `{}` did not return JSON matching `response_schema`, also after one repair: {problem}",
                    target.label
                ))),
            }
        })
    }
}

/// How long a tool-call approval waits before it counts as denied.
const TOOL_APPROVAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The most tool results' text handed back to a model, per call.
const MAX_TOOL_RESULT: usize = 64 << 10;

/// `agent`: a model with tools, until it answers without calling one.
pub struct Agent;

impl Executor for Agent {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let target = resolve(&ctx, with.get("model").and_then(Value::as_str))?;
            let max = with.get("max_iterations").and_then(Value::as_u64).unwrap_or(10);
            let approve = with.get("approve_tools").and_then(Value::as_bool).unwrap_or(false);
            let mut tools: Vec<AgentTool> = Vec::new();
            let mut plugin_kinds: Vec<lang::KindSpec> = Vec::new();
            for name in with.get("tools").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if ctx.is_plugin_tool(name) {
                    for spec in ctx.plugin_tools(name)? {
                        if !plugin_kinds.iter().any(|k| k.name == spec.name) {
                            plugin_kinds.push(spec);
                        }
                    }
                } else {
                    tools.push(AgentTool::Skill(ctx.skill_tool(name)?));
                }
            }
            // The node's `tool_policy` narrows: a denied tool is never offered; `ask` asks.
            let narrowing: Vec<(String, String)> = with
                .get("tool_policy")
                .and_then(Value::as_object)
                .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
                .unwrap_or_default();
            let decided =
                |kind: &str, what: &str| narrowing.iter().any(|(glob, d)| d == what && glob_matches(glob, kind));
            plugin_kinds.retain(|k| !decided(&k.name, "deny"));
            let asks: Vec<String> =
                plugin_kinds.iter().filter(|k| decided(&k.name, "ask")).map(|k| k.name.clone()).collect();
            let skill_names: Vec<String> = tools.iter().map(|t| t.function().to_string()).collect();
            let qualified: Vec<String> = plugin_kinds.iter().map(|k| k.name.clone()).collect();
            let (functions, _) = ::llm::names::assign(&qualified, &skill_names);
            for (spec, function) in plugin_kinds.into_iter().zip(functions) {
                tools.push(AgentTool::Plugin { function, spec });
            }
            let specs: Vec<ToolSpec> = tools.iter().map(AgentTool::spec).collect();
            // The conversation so far survives a restart (an approval inside a tool parks
            // the run): model calls and tool runs already made are not made again.
            let (mut messages, mut turns) = match ctx.durable_state() {
                Some(state) => {
                    restore(&state).ok_or_else(|| NodeError::Fatal("the saved conversation is damaged".into()))?
                }
                None => (conversation(&ctx, &with, !specs.is_empty())?, 0),
            };
            loop {
                if let Some(last) = messages.last().filter(|m| m.role == Role::Assistant && m.tool_calls.is_empty()) {
                    return Ok(Outcome::Done(Output::untrusted(Value::String(last.content.clone()))));
                }
                let pending: Vec<ToolCall> = pending_calls(&messages);
                if pending.is_empty() {
                    if turns >= max {
                        return Err(NodeError::Fatal(format!(
                            "the agent made {max} model calls without a final answer (`max_iterations: {max}`)"
                        )));
                    }
                    let req = request(&target, &with, messages.clone(), specs.clone());
                    let done = call(&ctx, &target, &req).await?;
                    turns += 1;
                    let mut reply = Message::assistant(done.text);
                    reply.tool_calls = done.tool_calls;
                    messages.push(reply);
                } else {
                    for call in pending {
                        let key = tool_key(turns, &call);
                        let untrusted = !ctx.tainted.is_empty() || messages.iter().any(|m| m.role == Role::Tool);
                        let result = match run_tool(&ctx, &tools, &call, &key, approve, untrusted, &asks).await {
                            Ok(Some(text)) => text,
                            Ok(None) => {
                                save(&ctx, &messages, turns)?;
                                return Ok(Outcome::Waiting(format!("tool `{}` waits for an approval", call.name)));
                            }
                            Err(e) => return Err(e),
                        };
                        messages.push(Message::tool_result(&call, result));
                    }
                }
                save(&ctx, &messages, turns)?;
            }
        })
    }
}

/// What a tool call's run and approval are recorded under (`agent#t2.call_…`): the
/// model turn that made it and its id. A server may repeat ids across turns (some number
/// calls per reply), and the id alone would then hand a later call an earlier call's
/// result or approval; both parts come from the saved conversation, so a resumed run
/// finds the same keys.
fn tool_key(turn: u64, call: &ToolCall) -> String {
    format!("t{turn}.{}", call.id)
}

/// The calls of the last assistant message that have no result yet.
fn pending_calls(messages: &[Message]) -> Vec<ToolCall> {
    let Some(at) = messages.iter().rposition(|m| m.role == Role::Assistant) else { return Vec::new() };
    let answered: Vec<&str> = messages[at + 1..].iter().filter_map(|m| m.tool_call_id.as_deref()).collect();
    messages[at].tool_calls.iter().filter(|c| !answered.contains(&c.id.as_str())).cloned().collect()
}

fn save(ctx: &NodeCtx, messages: &[Message], turns: u64) -> Result<(), NodeError> {
    let list: Vec<Value> = messages.iter().map(Message::to_json).collect();
    ctx.set_durable_state(&json!({ "messages": list, "turns": turns }))
}

fn restore(state: &Value) -> Option<(Vec<Message>, u64)> {
    let messages = state.get("messages")?.as_array()?.iter().map(Message::from_json).collect::<Option<Vec<_>>>()?;
    Some((messages, state.get("turns")?.as_u64()?))
}

/// Runs one tool call. `Ok(Some(text))` is what goes back to the model — a result, or an
/// error the model can act on (bad arguments, a failed tool); `Ok(None)`: the tool waits
/// for an approval.
async fn run_tool(
    ctx: &NodeCtx,
    tools: &[AgentTool],
    call: &ToolCall,
    key: &str,
    approve: bool,
    untrusted: bool,
    asks: &[String],
) -> Result<Option<String>, NodeError> {
    let Some(tool) = tools.iter().find(|t| t.function() == call.name) else {
        let names: Vec<&str> = tools.iter().map(AgentTool::function).collect();
        return Ok(Some(format!("error: there is no tool `{}`; the tools are: {}", call.name, names.join(", "))));
    };
    match tool {
        AgentTool::Skill(skill) => {
            let span = tracing::info_span!("tool.call", gen_ai.tool.name = %call.name, tool_key = key);
            tracing::Instrument::instrument(run_tool_in_span(ctx, skill, call, key, approve), span).await
        }
        AgentTool::Plugin { spec, .. } => {
            let ask = approve || asks.contains(&spec.name);
            run_plugin_tool(ctx, &spec.name, call, key, ask, untrusted).await
        }
    }
}

/// A plugin tool call: its own executor decides (policy, approval, pinning) and
/// already masked, capped and scanned the result; `ask` (the agent's `approve_tools: true`
/// or its `tool_policy`) makes it ask whatever the plugin's policy allows.
async fn run_plugin_tool(
    ctx: &NodeCtx,
    kind: &str,
    call: &ToolCall,
    key: &str,
    ask: bool,
    untrusted: bool,
) -> Result<Option<String>, NodeError> {
    let raw = if call.arguments.trim().is_empty() { "{}" } else { call.arguments.as_str() };
    let args: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => return Ok(Some(format!("error: the arguments are not valid JSON ({e}); send a JSON object"))),
    };
    let text = match ctx.run_plugin_tool(kind, args, key, untrusted, ask).await {
        Ok(Outcome::Done(output)) => {
            let text = output.value.get("text").and_then(Value::as_str).unwrap_or("").to_string();
            if output.value.get("is_error").and_then(Value::as_bool) == Some(true) {
                format!("error: the tool reported an error: {text}")
            } else {
                text
            }
        }
        Ok(Outcome::Rejected(_)) => "the user denied this tool call".to_string(),
        Ok(Outcome::Waiting(_)) => return Ok(None),
        Err(NodeError::Cancelled) => return Err(NodeError::Cancelled),
        Err(e) => format!("error: {}", ctx.mask(&e.message())),
    };
    Ok(Some(wrap_untrusted(&format!("tool {kind}"), &text)))
}

/// `fs.*`-style globs over `<plugin>.<tool>` names (`*` crosses dots).
fn glob_matches(glob: &str, name: &str) -> bool {
    globset::GlobBuilder::new(glob).literal_separator(false).build().is_ok_and(|g| g.compile_matcher().is_match(name))
}

/// A tool an agent offers its model: a skill, or a plugin's tool.
enum AgentTool {
    Skill(SkillTool),
    Plugin { function: String, spec: lang::KindSpec },
}

impl AgentTool {
    fn function(&self) -> &str {
        match self {
            AgentTool::Skill(s) => &s.name,
            AgentTool::Plugin { function, .. } => function,
        }
    }

    fn spec(&self) -> ToolSpec {
        match self {
            AgentTool::Skill(t) => {
                ToolSpec { name: t.name.clone(), description: t.description.clone(), parameters: t.parameters.clone() }
            }
            AgentTool::Plugin { function, spec } => ToolSpec {
                name: function.clone(),
                description: spec.summary.clone(),
                parameters: spec.with_schema.clone(),
            },
        }
    }
}

async fn run_tool_in_span(
    ctx: &NodeCtx,
    tool: &SkillTool,
    call: &ToolCall,
    key: &str,
    approve: bool,
) -> Result<Option<String>, NodeError> {
    let raw = if call.arguments.trim().is_empty() { "{}" } else { call.arguments.as_str() };
    let args: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => return Ok(Some(format!("error: the arguments are not valid JSON ({e}); send a JSON object"))),
    };
    if let Err(problems) = lang::schema::check(&tool.parameters, &args) {
        return Ok(Some(format!(
            "error: the arguments do not match the tool's schema: {}. The schema: {}",
            problems.join("; "),
            tool.parameters
        )));
    }
    if approve {
        let request = ApprovalRequest {
            message: format!("Run the tool `{}` with {}?", call.name, ctx.mask(&args.to_string())),
            details: Some(json!({ "tool": call.name, "arguments": args })),
            timeout: TOOL_APPROVAL_TIMEOUT,
            on_timeout: ApprovalState::Rejected,
            sub: Some(key.to_string()),
        };
        let asked = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return Err(NodeError::Cancelled),
            asked = ctx.request_approval(request) => asked?,
        };
        match asked {
            Asked::Parked => return Ok(None),
            Asked::Answered(answer) if !answer.approved => {
                let why = answer.reason.map(|r| format!(": {r}")).unwrap_or_default();
                return Ok(Some(format!("the user denied this tool call{why}")));
            }
            Asked::Answered(_) => {}
        }
    }
    let inputs: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
    ctx.log(runtime::LogLevel::Info, format!("tool call `{}` ({key})", call.name));
    let text = match ctx.run_skill_tool(&tool.reference, inputs, key).await {
        Ok(Outcome::Done(output)) => serde_json::to_string(&output.value).unwrap_or_default(),
        Ok(Outcome::Rejected(output)) => format!("the user rejected this tool call: {}", output.value),
        Ok(Outcome::Waiting(_)) => return Ok(None),
        Err(NodeError::Cancelled) => return Err(NodeError::Cancelled),
        Err(e) => format!("error: the tool failed: {}", e.message()),
    };
    let mut text = ctx.mask(&text);
    if text.len() > MAX_TOOL_RESULT {
        let mut cut = MAX_TOOL_RESULT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(" …[cut]");
    }
    ctx.scan_untrusted(&format!("the result of tool `{}`", call.name), &text)?;
    Ok(Some(wrap_untrusted(&format!("tool {}", call.name), &text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_in_fences_and_checked() {
        let schema = json!({"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}});
        assert_eq!(check_reply("```json\n{\"city\": \"Berlin\"}\n```", &schema).unwrap(), json!({"city": "Berlin"}));
        assert!(check_reply("{\"town\": 1}", &schema).unwrap_err().contains("city"));
        assert!(check_reply("Sure! Here it is", &schema).unwrap_err().contains("not JSON"));
    }

    #[test]
    fn pending_calls_are_those_without_results() {
        let a = ToolCall { id: "a".into(), name: "t".into(), arguments: "{}".into() };
        let b = ToolCall { id: "b".into(), name: "t".into(), arguments: "{}".into() };
        let mut reply = Message::assistant("");
        reply.tool_calls = vec![a.clone(), b.clone()];
        let messages = vec![Message::user("hi"), reply, Message::tool_result(&a, "1")];
        assert_eq!(pending_calls(&messages), vec![b]);
        let (back, turns) =
            restore(&json!({"messages": messages.iter().map(Message::to_json).collect::<Vec<_>>(), "turns": 2}))
                .unwrap();
        assert_eq!(back, messages);
        assert_eq!(turns, 2);
    }
}
