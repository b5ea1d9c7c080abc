//! The executor of every plugin tool (`uses: NAME.TOOL`, and an agent's tool calls,
//! which come through the same code): pinned standing, arguments against the pinned
//! schema, the policy, a durable approval bound to the run, node, call and the hash of the
//! arguments, then the call. Results are untrusted: capped with a marker, masked, scanned
//! for prompt injection. A call to a tool that is not read-only whose server died in
//! flight is never made again automatically.

use std::sync::Arc;
use std::time::Duration;

use runtime::{
    ApprovalRequest, ApprovalState, Asked, BoxFuture, Executor, LogLevel, NodeCtx, NodeError, Outcome, Output,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::conn::{CallError, Elicit};
use crate::host::Host;
use crate::lock::{self, Standing};
use crate::manifest::Decision;
use crate::policy::{self, Facts};

/// An unanswered approval of a tool call is a rejection after this long.
pub const APPROVAL_DEADLINE: Duration = Duration::from_secs(24 * 3600);

pub struct ToolExec {
    pub host: Arc<Host>,
    pub plugin: String,
    pub tool: String,
}

impl Executor for ToolExec {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        let host = self.host.clone();
        let plugin = self.plugin.clone();
        let tool = self.tool.clone();
        Box::pin(async move {
            let span =
                tracing::info_span!("tool.call", gen_ai.tool.name = %format!("{plugin}.{tool}"), plugin = %plugin);
            tracing::Instrument::instrument(run(host, plugin, tool, ctx, with), span).await
        })
    }
}

fn fatal(m: impl Into<String>) -> NodeError {
    NodeError::Fatal(m.into())
}

async fn run(host: Arc<Host>, plugin: String, tool: String, ctx: NodeCtx, with: Value) -> Result<Outcome, NodeError> {
    let qualified = format!("{plugin}.{tool}");
    let (m, lock) = host.current(&plugin).map_err(fatal)?;
    if !m.enabled {
        return Err(fatal(format!("plugin `{plugin}` is disabled (`pyra plugin enable {plugin}`)")));
    }
    check_standing(&lock, &plugin, &tool)?;
    let definition = lock.definition(&tool).cloned().unwrap_or(Value::Null);
    // A node's `with:` was checked against the pinned schema by the runtime (its kind's
    // schema); an agent's call comes from a model and is checked here.
    if ctx.call.is_some()
        && let Some(schema) = definition.get("inputSchema")
        && let Err(problems) = lang::schema::check(schema, &with)
    {
        return Err(fatal(format!(
            "`{qualified}`: the arguments do not match the tool's schema: {}",
            problems.join("; ")
        )));
    }
    let read_only = definition.pointer("/annotations/readOnlyHint").and_then(Value::as_bool).unwrap_or(false);
    let untrusted = !ctx.tainted.is_empty();
    let mut verdict = policy::decide(&m.policy, &tool, Facts { read_only_hint: read_only, untrusted });
    if ctx.ask && verdict.decision == Decision::Allow {
        verdict = policy::Verdict { decision: Decision::Ask, why: "the agent node asks for every tool call".into() };
    }
    // A built-in may narrow further by the call's arguments (`ssh.exec` outside its allowlist).
    if verdict.decision == Decision::Allow
        && m.kind == crate::manifest::PluginKind::Builtin
        && let Some(builtin) = m.builtin.as_deref().and_then(crate::builtin::find)
    {
        let settings = crate::builtin::resolve_settings(builtin.as_ref(), &m.name, &m.settings).map_err(fatal)?;
        if let Some(why) = builtin.asks(&tool, &with, &settings) {
            verdict = policy::Verdict { decision: Decision::Ask, why: format!("{}, but {why}", verdict.why) };
        }
    }
    match verdict.decision {
        Decision::Deny => return Err(fatal(format!("`{qualified}` is denied ({})", verdict.why))),
        Decision::Ask => {
            let args_hash = lock::hash(&with);
            let sub = match &ctx.call {
                Some(call) => format!("{call}:{}", &args_hash[..16]),
                None => format!("tool:{}", &args_hash[..16]),
            };
            let description = definition.get("description").and_then(Value::as_str).unwrap_or("");
            let request = ApprovalRequest {
                message: format!("Call `{qualified}` with {}? ({})", ctx.mask(&with.to_string()), verdict.why),
                details: Some(json!({
                    "tool": qualified,
                    "arguments": runtime::secrets::process_masker().mask_value(with.clone()),
                    "why": verdict.why,
                    "read_only_hint": read_only,
                    "description": ctx.mask(description),
                })),
                timeout: APPROVAL_DEADLINE,
                on_timeout: ApprovalState::Rejected,
                sub: Some(sub),
            };
            let asked = tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => return Err(NodeError::Cancelled),
                asked = ctx.request_approval(request) => asked?,
            };
            match asked {
                Asked::Parked => return Ok(Outcome::Waiting(format!("`{qualified}` waits for an approval"))),
                Asked::Answered(answer) if !answer.approved => {
                    return Ok(Outcome::Rejected(Output::trusted(answer.to_output())));
                }
                Asked::Answered(_) => {}
            }
        }
        Decision::Allow => {}
    }
    let secret = |key: &str| -> Result<String, String> {
        ctx.pyra_secret(key, &format!("plugin {plugin}"), &format!("plugin `{plugin}` needs the vault key `{key}`"))
            .map(|s| s.expose_secret().to_string())
            .map_err(|e| e.message())
    };
    let limits = m.limits();
    if m.kind == crate::manifest::PluginKind::Builtin {
        let result = call_builtin(&host, &m, &tool, &with, &ctx, &secret).await?;
        return finish(&ctx, &qualified, &plugin, &result, limits.max_result_bytes);
    }
    // A server that asks for input during the call (elicitation): answered now by a
    // person, or recorded durably and the call made again once `pyra approve --with`
    // answers it.
    let waiting: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let ask = |e: Elicit| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let (ctx, qualified, waiting) = (&ctx, &qualified, &waiting);
        Box::pin(async move {
            let result = answer_elicitation(ctx, qualified, &e.message, &e.schema, waiting).await;
            let _ = e.reply.send(result);
        })
    };
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let conn = host.connect(&m, &secret).await.map_err(fatal)?;
        // The start listed the tools again: a definition that changed since the check
        // above is caught before the call.
        check_standing(&host.current(&plugin).map_err(fatal)?.1, &plugin, &tool)?;
        ctx.log(LogLevel::Info, format!("calling `{qualified}`"));
        match conn.call_asking(&tool, with.clone(), &limits, &ctx.cancel, &ask).await {
            Ok(v) => break v,
            Err(CallError::Cancelled) => return Err(NodeError::Cancelled),
            Err(CallError::Died(why)) => {
                host.forget(&plugin).await;
                if read_only && attempt == 1 {
                    ctx.note(&format!(
                        "the server of `{plugin}` died during a read-only call; starting it again: {why}"
                    ));
                    continue;
                }
                return Err(fatal(format!(
                    "`{qualified}`: {why}\n  the tool is not marked read-only, so the call is not made again \
                     automatically: it may or may not have taken effect"
                )));
            }
            Err(e @ (CallError::Timeout(_) | CallError::Protocol(_))) => {
                return Err(fatal(format!("`{qualified}`: {}", e.message())));
            }
        }
    };
    if let Some(message) = waiting.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Ok(Outcome::Waiting(format!("`{qualified}` asks for input: {message}")));
    }
    finish(&ctx, &qualified, &plugin, &result, limits.max_result_bytes)
}

/// A result, rendered, scanned and returned: an `isError` result fails a node and goes
/// back to an agent's model as a tool error.
fn finish(ctx: &NodeCtx, qualified: &str, plugin: &str, result: &Value, cap: usize) -> Result<Outcome, NodeError> {
    let (text, structured, is_error) = render_result(ctx, result, cap, plugin);
    ctx.scan_untrusted(&format!("the result of tool `{qualified}`"), &text)?;
    if is_error && ctx.call.is_none() {
        return Err(fatal(format!("`{qualified}` returned an error: {text}")));
    }
    Ok(Outcome::Done(Output::untrusted(json!({ "text": text, "structured": structured, "is_error": is_error }))))
}

/// A built-in's call: its definitions pinned first (a changed one is blocked like a
/// server's), its settings and vault secrets resolved, then the call. An error of the
/// built-in is the tool's error (`isError`), with what to fix.
async fn call_builtin(
    host: &Host,
    m: &crate::manifest::Manifest,
    tool: &str,
    with: &Value,
    ctx: &NodeCtx,
    secret: &(dyn Fn(&str) -> Result<String, String> + Sync),
) -> Result<Value, NodeError> {
    let builtin = host.refresh_builtin(m).map_err(fatal)?;
    check_standing(&host.current(&m.name).map_err(fatal)?.1, &m.name, tool)?;
    let settings = crate::builtin::resolve_settings(builtin.as_ref(), &m.name, &m.settings).map_err(fatal)?;
    let mut secrets = std::collections::BTreeMap::new();
    let mut secret_keys = std::collections::BTreeMap::new();
    for (key, r) in &m.secrets {
        secrets.insert(key.clone(), r.apply(&secret(r.key()).map_err(fatal)?));
        secret_keys.insert(key.clone(), r.key().to_string());
    }
    let dir = host.dir(&m.name);
    ctx.log(LogLevel::Info, format!("calling `{}.{tool}` (built-in {})", m.name, builtin.id()));
    let call = crate::builtin::Call {
        plugin: &m.name,
        dir: &dir,
        settings: &settings,
        secrets: &secrets,
        secret_keys: &secret_keys,
        cancel: &ctx.cancel,
    };
    match builtin.call(tool, with.clone(), call).await {
        Ok(result) => Ok(result),
        Err(_) if ctx.cancel.is_cancelled() => Err(NodeError::Cancelled),
        Err(why) => Ok(json!({ "content": [{ "type": "text", "text": why }], "isError": true })),
    }
}

/// One elicitation: a durable question keyed by the call and the question's hash (so the
/// same question when the call is made again finds its answer), never for a secret.
async fn answer_elicitation(
    ctx: &NodeCtx,
    qualified: &str,
    message: &str,
    schema: &Value,
    waiting: &std::sync::Mutex<Option<String>>,
) -> rmcp::model::ElicitResult {
    use rmcp::model::{ElicitResult, ElicitationAction};
    let fields: Vec<String> =
        schema.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default();
    if let Some(secret) = fields.iter().find(|f| crate::manifest::looks_secret(f)) {
        ctx.note(&format!(
            "`{qualified}` asked for `{secret}` by elicitation; declined: secrets never go through a form — \
             store it in the vault and map it under `secrets:` in its plugin.yaml"
        ));
        return ElicitResult::new(ElicitationAction::Decline);
    }
    let key = lock::hash(&json!({ "message": message, "schema": schema }));
    let sub = match &ctx.call {
        Some(call) => format!("{call}:ask:{}", &key[..12]),
        None => format!("ask:{}", &key[..12]),
    };
    let example = match fields.as_slice() {
        [one] => format!("'\"…\"' (the {one})"),
        _ => format!("'{{{}}}'", fields.iter().map(|f| format!("\"{f}\": …")).collect::<Vec<_>>().join(", ")),
    };
    let request = ApprovalRequest {
        message: format!(
            "`{qualified}` asks: {}  Answer with `pyra approve {} {}#{sub} --with {example}` (at a prompt: `a: VALUE`); reject to decline.",
            ctx.mask(message),
            ctx.run_id,
            ctx.key()
        ),
        details: Some(json!({ "tool": qualified, "elicitation": { "message": ctx.mask(message), "schema": schema } })),
        timeout: APPROVAL_DEADLINE,
        on_timeout: ApprovalState::Rejected,
        sub: Some(sub),
    };
    match ctx.request_approval(request).await {
        Ok(Asked::Answered(a)) if a.approved => {
            let given = a.reason.as_deref().unwrap_or("").trim();
            if given.is_empty() && !fields.is_empty() {
                ctx.note(&format!("`{qualified}` asked for {} and no value was given; declined", fields.join(", ")));
                return ElicitResult::new(ElicitationAction::Decline);
            }
            let parsed: Value = serde_json::from_str(given).unwrap_or_else(|_| Value::String(given.to_string()));
            let content = match (&parsed, fields.as_slice()) {
                (Value::Object(_), _) => parsed,
                (_, [one]) => json!({ one.clone(): parsed }),
                _ => parsed,
            };
            match lang::schema::check(schema, &content) {
                Ok(()) => ElicitResult::new(ElicitationAction::Accept).with_content(content),
                Err(problems) => {
                    ctx.note(&format!(
                        "the answer does not fit what `{qualified}` asked ({}); declined",
                        problems.join("; ")
                    ));
                    ElicitResult::new(ElicitationAction::Decline)
                }
            }
        }
        Ok(Asked::Answered(_)) => ElicitResult::new(ElicitationAction::Decline),
        Ok(Asked::Parked) => {
            *waiting.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.to_string());
            ElicitResult::new(ElicitationAction::Cancel)
        }
        Err(_) => ElicitResult::new(ElicitationAction::Cancel),
    }
}

fn check_standing(lock: &lock::Lock, plugin: &str, tool: &str) -> Result<(), NodeError> {
    match lock.standing(tool) {
        Some(Standing::Approved) => Ok(()),
        Some(standing) => Err(fatal(crate::registry::blocked_reason(plugin, tool, &standing))),
        None if lock.removed.contains_key(tool) => {
            Err(fatal(format!("`{plugin}.{tool}` was removed by the server (`pyra plugin tools {plugin}`)")))
        }
        None => Err(fatal(format!("`{plugin}` has no tool `{tool}` (`pyra plugin tools {plugin}` lists them)"))),
    }
}

/// The text of a result (text blocks joined; other blocks described), capped and masked,
/// its structured content masked, and whether it is an error.
pub fn render_result(ctx: &NodeCtx, result: &Value, cap: usize, plugin: &str) -> (String, Value, bool) {
    let mut parts = Vec::new();
    for block in result.get("content").and_then(Value::as_array).into_iter().flatten() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(block.get("text").and_then(Value::as_str).unwrap_or("").to_string()),
            Some("image") | Some("audio") => parts.push(format!(
                "[{} {}]",
                block.get("type").and_then(Value::as_str).unwrap_or(""),
                block.get("mimeType").and_then(Value::as_str).unwrap_or("")
            )),
            Some("resource") => {
                let r = block.get("resource").cloned().unwrap_or(Value::Null);
                match r.get("text").and_then(Value::as_str) {
                    Some(t) => parts.push(t.to_string()),
                    None => parts.push(format!("[resource {}]", r.get("uri").and_then(Value::as_str).unwrap_or(""))),
                }
            }
            Some("resource_link") => {
                parts.push(format!("[link {}]", block.get("uri").and_then(Value::as_str).unwrap_or("")))
            }
            _ => {}
        }
    }
    let mut text = parts.join("\n");
    let structured = result.get("structuredContent").cloned().unwrap_or(Value::Null);
    if text.is_empty() && !structured.is_null() {
        text = structured.to_string();
    }
    let text = cap_text(ctx.mask(&text), cap, plugin);
    let structured = runtime::secrets::process_masker().mask_value(structured);
    let structured = if structured.to_string().len() > cap { Value::Null } else { structured };
    let is_error = result.get("isError").and_then(Value::as_bool).unwrap_or(false);
    (text, structured, is_error)
}

/// Cuts `text` at `cap` bytes (on a character boundary) with a marker saying how much
/// was left out and which setting allows more.
pub fn cap_text(mut text: String, cap: usize, plugin: &str) -> String {
    if text.len() <= cap {
        return text;
    }
    let total = text.len();
    let mut cut = cap;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!(
        "\n…[cut: {} of {total} bytes not shown; `max_result_bytes` in plugins/{plugin}/plugin.yaml]",
        total - cut
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_marks_what_was_cut_on_a_char_boundary() {
        let t = cap_text("ééééé".into(), 3, "fs");
        assert!(t.starts_with('é') && t.contains("[cut: 8 of 10 bytes"), "{t}");
        assert_eq!(cap_text("short".into(), 10, "fs"), "short");
    }
}
