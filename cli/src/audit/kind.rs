//! The `security.audit` node kind: runs the same checks as `pyra security audit` and writes
//! the same report, so that the daemon can audit on a schedule (the built-in
//! `security-audit` skill). Its output is counts only — the report's path and how many
//! findings of each severity — never a finding's text: the assistant does not read its own
//! audit (the path policy refuses the report to every node, template, tool and model).

use std::sync::Arc;

use lang::KindSpec;
use runtime::{BoxFuture, Executor, NodeCtx, NodeError, Outcome, Output};
use serde_json::{Value, json};

use super::{Severity, audit};
use crate::home::Home;

/// The kind's name in `uses:`.
pub const NAME: &str = "security.audit";

/// Its declaration (the `with:` schema).
pub fn spec() -> KindSpec {
    KindSpec::new(
        NAME,
        "Audit Pyra's home for security problems (as `pyra security audit`); outputs counts, never findings.",
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "offline": {
                    "type": ["boolean", "string"],
                    "description": "Skip the known-vulnerability lookup (OSV) (default false)."
                },
                "model": {
                    "type": "string",
                    "description": "A model from config.yaml that judges what the scanner flagged, with no tools and no memory (default: no model pass)."
                }
            }
        }),
    )
}

/// Registers the kind with its executor.
pub fn register(kinds: &mut runtime::Kinds) {
    let _ = kinds.register(spec(), Some(Arc::new(Audit)));
}

struct Audit;

impl Executor for Audit {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let root =
                ctx.home().ok_or_else(|| NodeError::Fatal("`security.audit` needs a Pyra home".into()))?.to_path_buf();
            let offline = matches!(&with["offline"], Value::Bool(true)) || with["offline"].as_str() == Some("true");
            let model = with["model"].as_str().map(str::trim).filter(|m| !m.is_empty()).map(str::to_string);
            // The checks block (files, and their own runtime for OSV and the model): a
            // thread of their own, so that nothing else in the daemon waits.
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("security-audit".into())
                .spawn(move || {
                    let _ = tx.send(audit(&Home::at(root), offline, model.as_deref()));
                })
                .map_err(|e| NodeError::Fatal(format!("cannot start the audit: {e}")))?;
            let result = tokio::select! {
                () = ctx.cancel.cancelled() => return Err(NodeError::Cancelled),
                result = rx => result.map_err(|_| NodeError::Fatal("the audit stopped without an answer".into()))?,
            };
            let (report, path) = result.map_err(|f| NodeError::Fatal(f.message))?;
            let n = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
            let (high, medium, low) = (n(Severity::High), n(Severity::Medium), n(Severity::Low));
            let worst = report.findings.first().map_or("none", |f| f.severity.as_str());
            Ok(Outcome::Done(Output::trusted(json!({
                "report": path.display().to_string(),
                "total": report.findings.len(),
                "high": high,
                "medium": medium,
                "low": low,
                "worst": worst,
                "not_checked": report.not_checked.len(),
                "summary": format!("{high} high, {medium} medium, {low} low"),
            }))))
        })
    }
}
