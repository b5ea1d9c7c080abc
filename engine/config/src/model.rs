//! The typed model of `config.yaml`: model entries with their request options and prices,
//! the `chat:` section and its defaults. What [`crate::check`] accepts deserialises into
//! these types; [`Config::set_entry`](crate::Config::set_entry) serialises an entry back.

use serde::{Deserialize, Serialize};

/// The `chat:` section: what `pyra chat` brings to each turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Notes recalled from memory per turn (default [`ChatSettings::DEFAULT_RECALL`]; 0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<u32>,
    /// Recall only from this category (and its subcategories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_category: Option<String>,
    /// Skills enabled as tools in every conversation (besides `--tool`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

impl ChatSettings {
    /// Notes recalled per turn when `recall` is not set.
    pub const DEFAULT_RECALL: u32 = 5;

    /// Notes recalled per turn.
    pub fn recall(&self) -> u32 {
        self.recall.unwrap_or(Self::DEFAULT_RECALL)
    }
}

/// One entry under `models:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// What skills and `with.model` refer to: letters, digits, `_`, `.`, `-`.
    pub name: String,
    /// A provider id (`openai`, `ollama`, …), checked by the caller.
    pub provider: String,
    /// The provider's model id (may contain `/`).
    pub model: String,
    /// The server's base URL; the provider's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The vault key holding the API key; the provider's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "ModelOptions::is_empty")]
    pub options: ModelOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<Prices>,
}

/// Request options of an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    /// 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The model's context window in tokens, for history budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Seconds to wait for the first token of a reply (a local model may be loading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_timeout: Option<f64>,
    /// Seconds of silence allowed between two pieces of a streamed reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<f64>,
}

impl ModelOptions {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<f64>,
    /// Prompt tokens served from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<f64>,
}

/// The deserialised form of a checked file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Typed {
    #[serde(default)]
    pub default_model: Option<String>,
    #[serde(default)]
    pub models: Option<Vec<ModelEntry>>,
    #[serde(default)]
    pub chat: Option<ChatSettings>,
}
