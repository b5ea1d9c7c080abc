//! What the scheduler hands every node: the runtime (store, observer, terminal, skill
//! loader, path policy) and the environment variables this skill declared.

use std::sync::Arc;

use super::Runtime;
use super::store::LogLevel;

/// Per-run services shared by all nodes of one run. The store and observer here mask
/// secrets; nodes never see the unmasked ones of the runtime.
pub struct Services {
    pub runtime: Runtime,
    pub store: Arc<dyn super::store::Store>,
    pub observer: Arc<dyn super::Observer>,
    /// What `secret()` uses while this run's values render.
    pub broker: Arc<super::secrets::Broker>,
    /// What an injection finding does in this skill.
    pub on_injection: lang::model::OnInjection,
    pub paths: Arc<paths::PathPolicy>,
    pub interaction: Option<Arc<dyn super::Interaction>>,
    /// `NAME=value` for each variable in the skill's `env:` that is set.
    pub declared_env: Vec<(String, String)>,
}

impl Services {
    pub fn new(runtime: &Runtime, skill: &lang::model::Skill, run_id: &str) -> Self {
        let declared_env =
            skill.env.iter().filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value))).collect();
        let masker = runtime.masker.clone();
        let broker = super::secrets::Broker {
            declared: skill.secrets.clone(),
            source: runtime.secrets.clone(),
            masker: masker.clone(),
            log: runtime.security_log.clone(),
            skill: skill.name.clone(),
            run_id: run_id.to_string(),
        };
        Self {
            runtime: runtime.clone(),
            store: Arc::new(super::secrets::MaskingStore { inner: runtime.store.clone(), masker: masker.clone() }),
            observer: Arc::new(super::secrets::MaskingObserver { inner: runtime.observer.clone(), masker }),
            broker: Arc::new(broker),
            on_injection: skill.on_injection.unwrap_or_default(),
            paths: runtime.paths.clone(),
            interaction: runtime.interaction.clone(),
            declared_env,
        }
    }

    /// Appends to the run's log; a store failure here is reported, not fatal.
    pub fn log(&self, run_id: &str, node: Option<&str>, level: LogLevel, message: &str) {
        // The same line as a tracing event (inside the node's span when a node logs),
        // masked as everything the store keeps is — only when a subscriber records it:
        // the message is formatted lazily.
        let shown = || self.runtime.masker.mask(message);
        let field = node.unwrap_or("");
        match level {
            LogLevel::Error => tracing::error!(run_id, node = field, "{}", shown()),
            LogLevel::Warn => tracing::warn!(run_id, node = field, "{}", shown()),
            LogLevel::Info => tracing::info!(run_id, node = field, "{}", shown()),
        }
        if let Err(err) = self.store.log(run_id, node, level, message) {
            self.observer.event(&super::Event::StoreTrouble { message: err.to_string() });
        }
    }
}
