//! The `skill` node kind's engine side: runs another skill as a child run of this node
//! (recorded with its parent), and on a resume finds that child again instead of
//! starting a new one.

use serde_json::{Map, Value};

use super::executor::{NodeCtx, NodeError, Outcome, Output};
use super::record::RunStatus;

/// How deep skills may call skills (a skill calling itself would never end).
pub const MAX_DEPTH: u32 = 8;

pub(crate) async fn run_child(ctx: &NodeCtx, name: &str, inputs: Map<String, Value>) -> Result<Outcome, NodeError> {
    run_child_as(ctx, name, inputs, ctx.key(), false).await
}

/// Runs `name` as a child recorded under the parent key `key` (`node`, or `node#call` for
/// one of an agent's tool calls); `untrusted_inputs` when a model chose the inputs.
pub(crate) async fn run_child_as(
    ctx: &NodeCtx,
    name: &str,
    inputs: Map<String, Value>,
    key: String,
    untrusted_inputs: bool,
) -> Result<Outcome, NodeError> {
    if ctx.depth >= MAX_DEPTH {
        return Err(NodeError::Fatal(format!(
            "skills call skills more than {MAX_DEPTH} deep (does `{name}` call itself?)"
        )));
    }
    let runtime = &ctx.services.runtime;
    let store = &ctx.services.store;
    let existing = store.child_run(&ctx.run_id, &key).map_err(|e| NodeError::Fatal(e.to_string()))?;
    let report = match existing {
        Some(child) => {
            let record = store.run(&child).map_err(|e| NodeError::Fatal(e.to_string()))?;
            match record {
                Some(r) if r.status == RunStatus::Succeeded => {
                    return Ok(Outcome::Done(Output { value: r.outputs.unwrap_or(Value::Null), untrusted: false }));
                }
                _ => runtime.resume_child(&child, ctx.depth + 1, ctx.cancel.clone()).await,
            }
        }
        None => {
            let caller = store.run(&ctx.run_id).ok().flatten().and_then(|r| r.source_path);
            let near = caller.as_deref().map(std::path::Path::new);
            let text = runtime.loader.load(name, near).map_err(NodeError::Fatal)?;
            let parent = (ctx.run_id.to_string(), key);
            let lineage = super::Lineage {
                parent: Some(parent),
                depth: ctx.depth + 1,
                untrusted_inputs,
                origin: super::Origin::default(),
            };
            runtime.start_child(&text, inputs, lineage, ctx.cancel.clone()).await
        }
    }
    .map_err(|e| NodeError::Fatal(format!("skill `{name}`: {e}")))?;
    let output = Output { value: report.outputs.clone().unwrap_or(Value::Null), untrusted: report.outputs_untrusted };
    match report.status {
        RunStatus::Succeeded => Ok(Outcome::Done(output)),
        RunStatus::Rejected => Ok(Outcome::Rejected(output)),
        RunStatus::Waiting => {
            Ok(Outcome::Waiting(format!("skill `{name}` (run {}) waits for an approval", report.run_id)))
        }
        RunStatus::Cancelled => Err(NodeError::Cancelled),
        _ => Err(NodeError::Fatal(format!(
            "skill `{name}` (run {}) failed: {}",
            report.run_id,
            report.error.unwrap_or_else(|| "unknown error".into())
        ))),
    }
}
