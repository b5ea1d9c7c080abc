//! What the scheduler hands every node: the runtime (store, observer, terminal, skill
//! loader, path policy) and the environment variables this skill declared.

use std::sync::Arc;

use super::Runtime;
use super::store::LogLevel;

/// Per-run services shared by all nodes of one run.
pub struct Services {
    pub runtime: Runtime,
    pub store: Arc<dyn super::store::Store>,
    pub paths: Arc<crate::paths::PathPolicy>,
    pub interaction: Option<Arc<dyn super::Interaction>>,
    /// `NAME=value` for each variable in the skill's `env:` that is set.
    pub declared_env: Vec<(String, String)>,
}

impl Services {
    pub fn new(runtime: &Runtime, declared: &[String]) -> Self {
        let declared_env =
            declared.iter().filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value))).collect();
        Self {
            runtime: runtime.clone(),
            store: runtime.store.clone(),
            paths: runtime.paths.clone(),
            interaction: runtime.interaction.clone(),
            declared_env,
        }
    }

    /// Appends to the run's log; a store failure here is reported, not fatal.
    pub fn log(&self, run_id: &str, node: Option<&str>, level: LogLevel, message: &str) {
        if let Err(err) = self.store.log(run_id, node, level, message) {
            self.runtime.observer.event(&super::Event::StoreTrouble { message: err.to_string() });
        }
    }
}
