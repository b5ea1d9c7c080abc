//! Installed plugins' tools as node kinds: `<plugin>.<tool>` with the tool's pinned
//! input schema as its `with:` schema, read from the lock files alone (no server is
//! started to validate a skill). Tools that may not be used now are registered
//! *blocked*, with the reason (and a diff for a changed definition), so every `uses:` of
//! one is a located error that says what to do, and no model is ever offered one.

use std::sync::Arc;

use lang::KindSpec;
use runtime::Kinds;
use serde_json::{Value, json};
use syntax::diag::Diagnostic;
use syntax::source::SourceFile;

use crate::exec::ToolExec;
use crate::host::Host;
use crate::lock::Standing;
use crate::manifest::Decision;
use crate::policy::{self, Facts};

/// A plugin whose manifest could not be read (its tools are registered blocked).
pub struct Broken {
    pub name: String,
    pub file: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a tool with this standing is blocked, and what to do.
pub fn blocked_reason(plugin: &str, tool: &str, standing: &Standing) -> String {
    match standing {
        Standing::Approved => String::new(),
        Standing::New => format!("`{plugin}.{tool}` has not been approved yet: `pyra plugin review {plugin}`"),
        Standing::Changed(diff) => format!(
            "the definition of `{plugin}.{tool}` changed since it was approved; review it with `pyra plugin review {plugin}`:\n{}",
            indent(diff)
        ),
        Standing::LaunchChanged(diff) => format!(
            "the launch command of plugin `{plugin}` changed since it was approved; review it with `pyra plugin review {plugin}`:\n{}",
            indent(diff)
        ),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// Registers every installed plugin's tools; returns the plugins whose manifests are
/// broken.
pub fn register(kinds: &mut Kinds, host: &Arc<Host>) -> Vec<Broken> {
    let mut broken = Vec::new();
    for name in host.names() {
        let lock = match host.lock(&name) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(plugin = %name, "{e}");
                continue;
            }
        };
        let (manifest, problem) = match host.load(&name) {
            Ok(loaded) => (Some(loaded.manifest), None),
            Err((file, diagnostics)) => {
                broken.push(Broken { name: name.clone(), file, diagnostics });
                (None, Some(format!("the manifest of plugin `{name}` has errors: `pyra plugin doctor {name}`")))
            }
        };
        for (tool, pinned) in &lock.tools {
            if let Some(m) = &manifest
                && !m.includes(tool)
            {
                continue;
            }
            let read_only =
                pinned.definition.pointer("/annotations/readOnlyHint").and_then(Value::as_bool) == Some(true);
            let standing = lock.standing(tool).unwrap_or(Standing::New);
            let blocked = if let Some(p) = &problem {
                Some(p.clone())
            } else if manifest.as_ref().is_some_and(|m| !m.enabled) {
                Some(format!("plugin `{name}` is disabled: `pyra plugin enable {name}`"))
            } else if standing != Standing::Approved {
                Some(blocked_reason(&name, tool, &standing))
            } else {
                let m = manifest.as_ref().map(|m| &m.policy).cloned().unwrap_or_default();
                let v = policy::decide(&m, tool, Facts { read_only_hint: read_only, untrusted: false });
                (v.decision == Decision::Deny).then(|| format!("`{name}.{tool}` is denied by {}", v.why))
            };
            let schema = pinned.definition.get("inputSchema").cloned().unwrap_or_else(|| json!({"type": "object"}));
            let description = pinned.definition.get("description").and_then(Value::as_str).unwrap_or("").to_string();
            let summary =
                if description.is_empty() { format!("Tool `{tool}` of plugin `{name}`.") } else { description };
            let spec = KindSpec::plugin_tool(format!("{name}.{tool}"), summary, schema, blocked);
            let exec = Arc::new(ToolExec { host: host.clone(), plugin: name.clone(), tool: tool.clone() });
            if let Err(e) = kinds.register(spec, Some(exec)) {
                tracing::warn!(plugin = %name, "{e}");
            }
        }
        for (tool, removed) in &lock.removed {
            let why = format!(
                "`{name}.{tool}` was removed by the server (noticed {}); change the skill, or `pyra plugin tools {name}` for what it has",
                removed.at
            );
            let _ = kinds.register(
                KindSpec::plugin_tool(format!("{name}.{tool}"), "removed", json!({"type": "object"}), Some(why)),
                None,
            );
        }
    }
    broken
}
