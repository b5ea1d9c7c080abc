//! Pyra's node kinds. [`builtin_registry`] is the one place every built-in kind is
//! registered; each kind's module declares the JSON Schema of its `with:` block.
//!
//! Kinds are grouped by what they touch: [`kinds::core`] (pure computation and control),
//! [`kinds::io`] (files, HTTP, programs), [`kinds::ai`] (language models) and
//! [`kinds::memory`] (the markdown memory).
//!
//! **Architecture invariant:** every kind has a `with:` schema with
//! `additionalProperties: false`; results of kinds that read the outside world are marked
//! untrusted; every path goes through `paths::PathPolicy`; `exec` takes an argv, never a
//! shell string, and asks for approval whenever any of it came from untrusted data.

pub mod chat;
pub mod cut;
pub mod exec;
pub mod kinds;
pub mod matrix;
pub mod signal;
pub mod telegram;

use std::sync::Arc;

use lang::KindSpec;
use runtime::{Executor, Kinds};

/// Every built-in node kind, in the order `pyra skill schema` lists them, with the
/// executor of each.
pub fn builtin_registry() -> Kinds {
    let mut registry = Kinds::new();
    for spec in builtin_specs() {
        let executor = executor(&spec.name);
        // Names are literals in this crate; a duplicate is caught by the test below.
        let _ = registry.register(spec, executor);
    }
    registry
}

/// The specs of every built-in kind, family by family.
fn builtin_specs() -> Vec<KindSpec> {
    let families = [kinds::core::specs(), kinds::io::specs(), kinds::ai::specs(), kinds::memory::specs()];
    families.into_iter().flatten().collect()
}

/// The executor of each built-in kind.
fn executor(kind: &str) -> Option<Arc<dyn Executor>> {
    use exec::{core, files, http, llm, memory, process};
    Some(match kind {
        "template" => Arc::new(core::Template),
        "http" => Arc::new(http::Http::new()),
        "exec" => Arc::new(process::Exec),
        "file.read" => Arc::new(files::FileRead),
        "file.write" => Arc::new(files::FileWrite),
        "memory.search" => Arc::new(memory::Search),
        "memory.read" => Arc::new(memory::Read),
        "memory.write" => Arc::new(memory::Write { append: false }),
        "memory.append" => Arc::new(memory::Write { append: true }),
        "wait" => Arc::new(core::Wait),
        "approval" => Arc::new(core::Approval),
        "skill" => Arc::new(core::Skill),
        "llm" => Arc::new(llm::Llm),
        "agent" => Arc::new(llm::Agent),
        // Run by the CLI with the channels crate's executor, which knows every channel.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_schemas_compile() {
        let mut registry = lang::Registry::new();
        let specs = builtin_specs();
        for spec in specs {
            assert!(jsonschema_compiles(&spec.with_schema), "{}", spec.name);
            registry.register(spec).unwrap();
        }
        for name in [
            "llm",
            "agent",
            "memory.search",
            "memory.write",
            "memory.append",
            "http",
            "template",
            "approval",
            "exec",
            "file.read",
            "file.write",
            "wait",
            "skill",
            "message.send",
        ] {
            assert!(registry.get(name).is_some(), "{name} is registered");
        }
    }

    fn jsonschema_compiles(schema: &serde_json::Value) -> bool {
        schema.get("type").and_then(|t| t.as_str()) == Some("object")
            && schema.get("additionalProperties") == Some(&serde_json::Value::Bool(false))
    }
}
