//! [`Kinds`]: the language's registry of node kinds with the executor that runs each one
//! attached — what a run needs; validation needs only the registry it derefs to.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use lang::{KindSpec, Registry};

use crate::executor::Executor;

/// Every kind this build knows, and how to run those it can.
#[derive(Default, Clone)]
pub struct Kinds {
    registry: Registry,
    executors: HashMap<String, Arc<dyn Executor>>,
}

impl Kinds {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind, run by `executor` (`None`: this build can check the kind but not run
    /// it; a run fails at that node, saying so). A name registered twice is an error.
    pub fn register(&mut self, spec: KindSpec, executor: Option<Arc<dyn Executor>>) -> Result<(), String> {
        let name = spec.name.clone();
        self.registry.register(spec)?;
        if let Some(executor) = executor {
            self.executors.insert(name, executor);
        }
        Ok(())
    }

    /// Runs a registered kind with `executor` (a crate above the one that declared the
    /// kind supplies how to run it); `false` for a kind that is not registered.
    pub fn set_executor(&mut self, kind: &str, executor: Arc<dyn Executor>) -> bool {
        if self.registry.get(kind).is_none() {
            return false;
        }
        self.executors.insert(kind.to_string(), executor);
        true
    }

    /// The executor of a kind, if this build can run it.
    pub fn executor(&self, kind: &str) -> Option<Arc<dyn Executor>> {
        self.executors.get(kind).cloned()
    }
}

impl Deref for Kinds {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        &self.registry
    }
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kinds").field("kinds", &self.registry.names().collect::<Vec<_>>()).finish()
    }
}
