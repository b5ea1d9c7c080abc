//! From a node's `with.model` (`NAME`, `NAME/model-id`, or nothing for the default entry)
//! to a [`Target`]: the config entry, its provider from the registry, the base URL and the
//! key from the vault.

use engine::config::{Config, ResolvedModel};
use engine::run::{NodeCtx, NodeError};
use serde_json::{Value, json};

use super::Usage;
use super::client::Endpoint;
use super::providers;

/// A model ready to call.
#[derive(Clone)]
pub struct Target {
    /// `entry/model-id`, as shown in errors and usage.
    pub label: String,
    pub endpoint: Endpoint,
    /// The provider's model id.
    pub model: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// USD per million tokens: prompt, completion, cached prompt.
    pub prices: Option<(f64, f64, Option<f64>)>,
}

impl Target {
    /// One call's usage as recorded on the node: counts the provider did not give are
    /// `null`, and so is the cost unless every count it needs is known.
    pub fn usage_entry(&self, usage: &Usage) -> Value {
        let cost = self.prices.and_then(|(prompt, completion, cached)| {
            let (p, c) = (usage.prompt? as f64, usage.completion? as f64);
            let hits = usage.cached.unwrap_or(0) as f64;
            let cached_price = cached.unwrap_or(prompt);
            Some(((p - hits) * prompt + hits * cached_price + c * completion) / 1e6)
        });
        json!({
            "model": self.label,
            "prompt": usage.prompt,
            "completion": usage.completion,
            "cached": usage.cached,
            "cost": cost,
        })
    }
}

/// The target for `selector` in this node's home.
pub fn resolve(ctx: &NodeCtx, selector: Option<&str>) -> Result<Target, NodeError> {
    let home = ctx.home().ok_or_else(|| NodeError::Fatal("language models need a Pyra home (config.yaml)".into()))?;
    let config = Config::load(home).map_err(|e| NodeError::Fatal(e.render(false)))?;
    let model = config.resolve(selector).map_err(|e| NodeError::Fatal(e.to_string()))?;
    target_for(&model, |name| ctx.provider_key(name))
}

/// The target of a resolved config entry; `key` reads a vault key by name.
pub fn target_for(
    model: &ResolvedModel,
    key: impl FnOnce(&str) -> Result<secrecy::SecretString, NodeError>,
) -> Result<Target, NodeError> {
    let provider = providers::get(&model.provider).ok_or_else(|| {
        let hint = providers::suggest(&model.provider).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
        NodeError::Fatal(format!("model entry `{}`: unknown provider `{}`{hint}", model.entry, model.provider))
    })?;
    let base_url = model.base_url.clone().unwrap_or_else(|| provider.base_url.to_string());
    if base_url.is_empty() {
        return Err(NodeError::Fatal(format!(
            "model entry `{}` (provider `{}`) needs a `base_url` in config.yaml",
            model.entry, provider.id
        )));
    }
    let key_name = model.key.clone().or_else(|| provider.key_name.map(str::to_string));
    let key = match key_name {
        // A key the provider needs, or one the entry names, must be in the vault.
        Some(name) if provider.needs_key || model.key.is_some() => Some(key(name.as_str())?),
        _ => None,
    };
    Ok(Target {
        label: format!("{}/{}", model.entry, model.model),
        endpoint: Endpoint { format: provider.format, base_url, key },
        model: model.model.clone(),
        temperature: model.options.temperature,
        max_tokens: model.options.max_tokens,
        prices: model.prices.and_then(|p| Some((p.prompt?, p.completion?, p.cached))),
    })
}
