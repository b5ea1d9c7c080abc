//! Selectors: `NAME`, `NAME/model-id` or none (the default entry) resolved to the model to
//! call, [`ResolvedModel`], or a [`ResolveError`] that says what to do.

use serde::Serialize;

use syntax::suggest;

use crate::Config;
use crate::model::{ModelOptions, Prices};

/// What a selector resolves to. `base_url` and `key` are `None` when the entry gives none:
/// the provider registry supplies the defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedModel {
    /// The entry's name.
    pub entry: String,
    pub provider: String,
    /// The model id to send: the entry's, or the one after `NAME/`.
    pub model: String,
    pub base_url: Option<String>,
    pub key: Option<String>,
    pub options: ModelOptions,
    /// The entry's prices; `None` when the selector picked another model than the entry's.
    pub prices: Option<Prices>,
}

/// Why a selector does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no language model is configured: run `pyra setup`")]
    NoModels,
    #[error(
        "no default model is set: `pyra config set default_model NAME` picks one of {}, or run `pyra setup`",
        .0.join(", ")
    )]
    NoDefault(Vec<String>),
    #[error("no model named `{name}` in config.yaml{}", .help.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    Unknown { name: String, help: Option<String> },
    #[error("`{0}` is not a model selector: use NAME or NAME/model-id")]
    Selector(String),
}

impl Config {
    /// The model for `selector`: `NAME`, `NAME/model-id` (everything after the first `/`
    /// replaces the entry's model id, so `router/meta-llama/llama-3.1-8b` works), or the
    /// default entry for `None`.
    pub fn resolve(&self, selector: Option<&str>) -> Result<ResolvedModel, ResolveError> {
        let names = || self.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        let (name, model) = match selector.map(str::trim) {
            None | Some("") => {
                if self.models.is_empty() {
                    return Err(ResolveError::NoModels);
                }
                (self.default_model.clone().ok_or_else(|| ResolveError::NoDefault(names()))?, None)
            }
            Some(s) => match s.split_once('/') {
                Some((name, model)) if !name.is_empty() && !model.trim().is_empty() => {
                    (name.to_string(), Some(model.trim().to_string()))
                }
                Some(_) => return Err(ResolveError::Selector(s.to_string())),
                None => (s.to_string(), None),
            },
        };
        let Some(entry) = self.entry(&name) else {
            if self.models.is_empty() {
                return Err(ResolveError::NoModels);
            }
            let help = suggest::help(&name, self.models.iter().map(|m| m.name.as_str()))
                .unwrap_or_else(|| format!("the models are {}", names().join(", ")));
            return Err(ResolveError::Unknown { name, help: Some(help) });
        };
        let same_model = model.as_deref().is_none_or(|m| m == entry.model);
        Ok(ResolvedModel {
            entry: entry.name.clone(),
            provider: entry.provider.clone(),
            model: model.unwrap_or_else(|| entry.model.clone()),
            base_url: entry.base_url.clone(),
            key: entry.key.clone(),
            options: entry.options,
            prices: if same_model { entry.prices } else { None },
        })
    }
}
