//! The node-kind registry: one greppable list of every kind a skill may `uses:`, each
//! declaring the JSON Schema of its `with:` block.
//!
//! The language only knows the shape of a kind; the `plugins` crate fills the registry
//! with the built-in kinds (and plugins add `<plugin>.<tool>` kinds to it), and the
//! runtime's `Kinds` attaches the code that runs each one.

use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use serde_json::Value;

/// What the language needs to know about a node kind to check a skill that uses it.
#[derive(Clone)]
pub struct KindSpec {
    /// The name used in `uses:`, e.g. `http` or `memory.search`.
    pub name: String,
    /// One line for `pyra skill show` and the schema's completion list.
    pub summary: String,
    /// JSON Schema of the `with:` block.
    pub with_schema: Value,
    /// A plugin's tool (`<plugin>.<tool>`), which `agent` nodes may also list in `tools:`.
    pub tool: bool,
    /// Why the kind may not be used now (a tool whose definition changed since it was
    /// approved, a disabled plugin…): every `uses:` of it is an error with this text, and
    /// it is never offered to a model.
    pub blocked: Option<String>,
    /// The compiled `with:` schema, built on first use and shared by validation and runs.
    validator: OnceLock<Option<Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for KindSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindSpec").field("name", &self.name).finish()
    }
}

impl KindSpec {
    pub fn new(name: impl Into<String>, summary: impl Into<String>, with_schema: Value) -> Self {
        Self {
            name: name.into(),
            summary: summary.into(),
            with_schema,
            tool: false,
            blocked: None,
            validator: OnceLock::new(),
        }
    }

    /// A plugin's tool as a kind, blocked (with the reason) or not.
    pub fn plugin_tool(
        name: impl Into<String>,
        summary: impl Into<String>,
        with_schema: Value,
        blocked: Option<String>,
    ) -> Self {
        Self { tool: true, blocked, ..Self::new(name, summary, with_schema) }
    }

    /// The `with:` validator; `None` if the kind's schema does not compile (a bug in the
    /// kind, reported where it is used).
    pub fn validator(&self) -> Option<Arc<jsonschema::Validator>> {
        self.validator.get_or_init(|| crate::schema::compile(&self.with_schema).ok().map(Arc::new)).clone()
    }
}

/// All node kinds known to this build, in registration order.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    kinds: IndexMap<String, KindSpec>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind. Registering a name twice is a programming error in the caller, so the
    /// later registration replaces the earlier and the duplicate is reported.
    pub fn register(&mut self, spec: KindSpec) -> Result<(), String> {
        let name = spec.name.clone();
        match self.kinds.insert(name.clone(), spec) {
            Some(_) => Err(format!("node kind `{name}` registered twice")),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&KindSpec> {
        self.kinds.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &KindSpec> {
        self.kinds.values()
    }
}
