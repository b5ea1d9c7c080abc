//! From a node's `with.model` (`NAME`, `NAME/model-id`, or nothing for the default entry)
//! to a [`Target`]: the config entry, its provider from the registry, the base URL and the
//! key from the vault.

use std::time::Duration;

use config::ResolvedModel;
use serde_json::{Value, json};

use super::Usage;
use super::client::{Endpoint, Policy};
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
    /// Timeouts and retries: the defaults, with the entry's `first_token_timeout` and
    /// `idle_timeout`.
    pub policy: Policy,
}

impl Target {
    /// One call's usage as recorded on the node: counts the provider did not give are
    /// `null`, and so is the cost unless every count it needs is known.
    /// `incomplete`: the reply did not finish (an error, a cut, a cancel); the counts are
    /// what the server reported before.
    pub fn usage_entry(&self, usage: &Usage, incomplete: bool) -> Value {
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
            "incomplete": incomplete,
        })
    }
}

/// Why a config entry gives no target: the entry itself (an unknown provider, no
/// `base_url`), or reading its key (the caller's error, passed through).
#[derive(Debug)]
pub enum TargetError<E> {
    Entry(String),
    Key(E),
}

/// The target of a resolved config entry; `key` reads a vault key by name.
pub fn target_for<E>(
    model: &ResolvedModel,
    key: impl FnOnce(&str) -> Result<secrecy::SecretString, E>,
) -> Result<Target, TargetError<E>> {
    let provider = providers::get(&model.provider).ok_or_else(|| {
        let hint = providers::suggest(&model.provider).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
        TargetError::Entry(format!("model entry `{}`: unknown provider `{}`{hint}", model.entry, model.provider))
    })?;
    let base_url = model.base_url.clone().unwrap_or_else(|| provider.base_url.to_string());
    if base_url.is_empty() {
        return Err(TargetError::Entry(format!(
            "model entry `{}` (provider `{}`) needs a `base_url` in config.yaml",
            model.entry, provider.id
        )));
    }
    let key_name = model.key.clone().or_else(|| provider.key_name.map(str::to_string));
    let key = match key_name {
        // A key the provider needs, or one the entry names, must be in the vault.
        Some(name) if provider.needs_key || model.key.is_some() => Some(key(name.as_str()).map_err(TargetError::Key)?),
        _ => None,
    };
    Ok(Target {
        label: format!("{}/{}", model.entry, model.model),
        endpoint: Endpoint { format: provider.format, base_url, key, dialect: provider.dialect },
        model: model.model.clone(),
        temperature: model.options.temperature,
        max_tokens: model.options.max_tokens,
        prices: model.prices.and_then(|p| Some((p.prompt?, p.completion?, p.cached))),
        policy: policy(&model.options),
    })
}

/// The call policy of an entry: the defaults, with the timeouts it sets (seconds; the
/// config check keeps them positive and finite).
fn policy(options: &config::ModelOptions) -> Policy {
    let seconds = |s: Option<f64>| s.and_then(|s| Duration::try_from_secs_f64(s).ok());
    let default = Policy::default();
    Policy {
        first_token: seconds(options.first_token_timeout).unwrap_or(default.first_token),
        idle: seconds(options.idle_timeout).unwrap_or(default.idle),
        ..default
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use config::ModelOptions;

    #[test]
    fn an_entry_sets_its_timeouts_in_seconds() {
        let options = ModelOptions { first_token_timeout: Some(0.5), ..ModelOptions::default() };
        let p = policy(&options);
        assert_eq!(p.first_token, Duration::from_millis(500));
        assert_eq!(p.idle, Policy::default().idle);
        assert_eq!(p.attempts, Policy::default().attempts);
    }

    #[test]
    fn usage_entries_keep_unknown_counts_unknown() {
        let target = Target {
            label: "oa/gpt-4o-mini".into(),
            endpoint: Endpoint {
                format: super::super::wire::Format::OpenAi,
                base_url: "http://h/v1".into(),
                key: None,
                dialect: super::super::wire::Dialect::STANDARD,
            },
            model: "gpt-4o-mini".into(),
            temperature: None,
            max_tokens: None,
            prices: Some((0.15, 0.60, None)),
            policy: Policy::default(),
        };
        let cut = target.usage_entry(&Usage { prompt: Some(38), completion: None, cached: None }, true);
        assert_eq!(
            cut,
            json!({"model": "oa/gpt-4o-mini", "prompt": 38, "completion": null, "cached": null, "cost": null, "incomplete": true})
        );
        let done = target.usage_entry(&Usage { prompt: Some(1000), completion: Some(100), cached: None }, false);
        assert!((done["cost"].as_f64().unwrap() - (1000.0 * 0.15 + 100.0 * 0.60) / 1e6).abs() < 1e-15);
        assert_eq!(done["incomplete"], false);
    }
}
