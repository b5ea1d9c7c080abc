//! The provider registry, as pure data: every language-model service Pyra knows, with the
//! wire format it speaks (and the [`Dialect`] of it: request fields its server takes), its
//! default base URL and model, and the vault key its API key is stored under. `pyra setup`
//! lists these; `config.yaml` entries name one by `id`.
//!
//! Default models are a starting point that works today, not a recommendation that ages
//! well: `pyra setup` asks the server for its models, and every entry can name another.

use super::wire::{Dialect, Format, MaxTokensField};

/// One provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// What `config.yaml` names (`provider: openai`).
    pub id: &'static str,
    /// The display name.
    pub name: &'static str,
    pub format: Format,
    /// The default base URL (no trailing slash). Empty for `openai-compatible`: the user
    /// must give one.
    pub base_url: &'static str,
    /// The vault key the API key is read from (`pyra vault set NAME`), if the service can
    /// take one at all.
    pub key_name: Option<&'static str>,
    /// The model used when the user names none. Empty when it depends on what the server
    /// has loaded (local servers, `openai-compatible`): `pyra setup` asks the server.
    pub default_model: &'static str,
    /// Whether requests fail without a key (hosted services). Local servers take one
    /// optionally (behind a proxy, or started with `--api-key`).
    pub needs_key: bool,
    /// Where to get a key, or how to run the server.
    pub docs: &'static str,
    /// How its server differs from others of its format (request fields it takes).
    pub dialect: Dialect,
}

/// The id of the provider that takes any base URL.
pub const OPENAI_COMPATIBLE: &str = "openai-compatible";

/// Every provider, hosted ones first, then local servers, then the catch-all.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        id: "openai",
        name: "OpenAI",
        format: Format::OpenAi,
        base_url: "https://api.openai.com/v1",
        key_name: Some("OPENAI_API_KEY"),
        default_model: "gpt-4.1-mini",
        needs_key: true,
        docs: "create a key at https://platform.openai.com/api-keys",
        // `max_tokens` is deprecated and rejected by the reasoning models.
        dialect: Dialect { stream_usage: true, max_tokens: MaxTokensField::MaxCompletionTokens },
    },
    Provider {
        id: "anthropic",
        name: "Anthropic",
        format: Format::Anthropic,
        base_url: "https://api.anthropic.com",
        key_name: Some("ANTHROPIC_API_KEY"),
        default_model: "claude-sonnet-4-5",
        needs_key: true,
        docs: "create a key at https://console.anthropic.com/settings/keys",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "gemini",
        name: "Google Gemini",
        format: Format::Gemini,
        base_url: "https://generativelanguage.googleapis.com",
        key_name: Some("GEMINI_API_KEY"),
        default_model: "gemini-2.5-flash",
        needs_key: true,
        docs: "create a key in Google AI Studio: https://aistudio.google.com/apikey",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "openrouter",
        name: "OpenRouter",
        format: Format::OpenAi,
        base_url: "https://openrouter.ai/api/v1",
        key_name: Some("OPENROUTER_API_KEY"),
        default_model: "openai/gpt-4.1-mini",
        needs_key: true,
        docs: "create a key at https://openrouter.ai/keys; model ids are `vendor/model` (https://openrouter.ai/models)",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "groq",
        name: "Groq",
        format: Format::OpenAi,
        base_url: "https://api.groq.com/openai/v1",
        key_name: Some("GROQ_API_KEY"),
        default_model: "llama-3.3-70b-versatile",
        needs_key: true,
        docs: "create a key at https://console.groq.com/keys",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "mistral",
        name: "Mistral AI",
        format: Format::OpenAi,
        base_url: "https://api.mistral.ai/v1",
        key_name: Some("MISTRAL_API_KEY"),
        default_model: "mistral-small-latest",
        needs_key: true,
        docs: "create a key at https://console.mistral.ai/api-keys",
        // Unknown fields are a 422 (`extra_forbidden`); usage is in the stream anyway.
        dialect: Dialect { stream_usage: false, max_tokens: MaxTokensField::MaxTokens },
    },
    Provider {
        id: "deepseek",
        name: "DeepSeek",
        format: Format::OpenAi,
        base_url: "https://api.deepseek.com/v1",
        key_name: Some("DEEPSEEK_API_KEY"),
        default_model: "deepseek-chat",
        needs_key: true,
        docs: "create a key at https://platform.deepseek.com/api_keys",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "together",
        name: "Together AI",
        format: Format::OpenAi,
        base_url: "https://api.together.xyz/v1",
        key_name: Some("TOGETHER_API_KEY"),
        default_model: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        needs_key: true,
        docs: "create a key at https://api.together.ai/settings/api-keys",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "xai",
        name: "xAI",
        format: Format::OpenAi,
        base_url: "https://api.x.ai/v1",
        key_name: Some("XAI_API_KEY"),
        default_model: "grok-4.3",
        needs_key: true,
        docs: "create a key at https://console.x.ai",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "ollama",
        name: "Ollama",
        format: Format::Ollama,
        base_url: "http://localhost:11434",
        // Only for a server behind an authenticating proxy, or Ollama's hosted API.
        key_name: Some("OLLAMA_API_KEY"),
        default_model: "llama3.2",
        needs_key: false,
        docs: "install from https://ollama.com, then `ollama pull llama3.2`; the server listens on port 11434",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "lmstudio",
        name: "LM Studio",
        format: Format::OpenAi,
        base_url: "http://localhost:1234/v1",
        key_name: None,
        default_model: "",
        needs_key: false,
        docs: "install from https://lmstudio.ai, load a model and start the server (Developer tab, or `lms server start`); port 1234",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "llamacpp",
        name: "llama.cpp server",
        format: Format::OpenAi,
        base_url: "http://localhost:8080/v1",
        key_name: None,
        default_model: "",
        needs_key: false,
        docs: "run `llama-server -m MODEL.gguf` (https://github.com/ggml-org/llama.cpp); port 8080",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: "vllm",
        name: "vLLM",
        format: Format::OpenAi,
        base_url: "http://localhost:8000/v1",
        key_name: Some("VLLM_API_KEY"),
        default_model: "",
        needs_key: false,
        docs: "run `vllm serve MODEL` (https://docs.vllm.ai); port 8000; a key only if started with `--api-key`",
        dialect: Dialect::STANDARD,
    },
    Provider {
        id: OPENAI_COMPATIBLE,
        name: "Any OpenAI-compatible server",
        format: Format::OpenAi,
        base_url: "",
        key_name: Some("OPENAI_COMPATIBLE_API_KEY"),
        default_model: "",
        needs_key: false,
        docs: "give the server's base URL (the part before `/chat/completions`, e.g. http://host:port/v1)",
        dialect: Dialect::STANDARD,
    },
];

/// The provider with this id.
pub fn get(id: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.id == id)
}

/// Every provider id, in registry order.
pub fn ids() -> impl Iterator<Item = &'static str> {
    PROVIDERS.iter().map(|p| p.id)
}

/// The id closest to a misspelt one (`opneai` → `openai`), if any is close enough. Also
/// accepts a different case or spelling of a known id (`OpenAI`, `llama.cpp`, `lm-studio`).
pub fn suggest(id: &str) -> Option<&'static str> {
    let squashed: String = id.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    if let Some(p) = PROVIDERS.iter().find(|p| p.id.replace('-', "") == squashed && p.id != id) {
        return Some(p.id);
    }
    syntax::suggest::did_you_mean(id, ids())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for p in PROVIDERS {
            assert!(seen.insert(p.id), "duplicate provider id {}", p.id);
            assert!(p.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{}", p.id);
            assert!(!p.name.is_empty() && !p.docs.is_empty(), "{}", p.id);
        }
        assert!(PROVIDERS.len() >= 14);
    }

    #[test]
    fn urls_and_keys_are_well_formed() {
        for p in PROVIDERS {
            if p.id == OPENAI_COMPATIBLE {
                assert!(p.base_url.is_empty(), "the catch-all has no default URL");
            } else {
                assert!(
                    p.base_url.starts_with("https://") || p.base_url.starts_with("http://localhost:"),
                    "{}: {}",
                    p.id,
                    p.base_url
                );
                assert!(!p.base_url.ends_with('/'), "{}: no trailing slash", p.id);
            }
            if p.base_url.starts_with("https://") {
                assert!(p.needs_key, "{}: hosted services need a key", p.id);
                assert!(!p.default_model.is_empty(), "{}: hosted services have a default model", p.id);
            }
            if p.needs_key {
                assert!(p.key_name.is_some(), "{}: needs a key but names none", p.id);
            }
            if let Some(key) = p.key_name {
                let upper_snake = key.starts_with(|c: char| c.is_ascii_uppercase())
                    && key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                assert!(upper_snake, "{}: key name {key} is not UPPER_SNAKE", p.id);
            }
        }
    }

    #[test]
    fn dialects() {
        let dialect = |id: &str| get(id).unwrap().dialect;
        assert_eq!(dialect("openai").max_tokens, MaxTokensField::MaxCompletionTokens);
        assert!(dialect("openai").stream_usage);
        assert_eq!(dialect("mistral"), Dialect { stream_usage: false, max_tokens: MaxTokensField::MaxTokens });
        for id in
            ["openrouter", "groq", "deepseek", "together", "xai", "lmstudio", "llamacpp", "vllm", OPENAI_COMPATIBLE]
        {
            assert_eq!(dialect(id), Dialect::STANDARD, "{id}");
        }
        assert_eq!(get("deepseek").unwrap().default_model, "deepseek-chat");
    }

    #[test]
    fn get_and_suggest() {
        assert_eq!(get("openai").map(|p| p.format), Some(Format::OpenAi));
        assert_eq!(get("anthropic").map(|p| p.format), Some(Format::Anthropic));
        assert_eq!(get("ollama").map(|p| p.base_url), Some("http://localhost:11434"));
        assert_eq!(get(OPENAI_COMPATIBLE).and_then(|p| p.key_name), Some("OPENAI_COMPATIBLE_API_KEY"));
        assert!(get("nope").is_none());
        assert!(ids().any(|id| id == "lmstudio"));
        assert_eq!(suggest("opneai"), Some("openai"));
        assert_eq!(suggest("antropic"), Some("anthropic"));
        assert_eq!(suggest("olama"), Some("ollama"));
        assert_eq!(suggest("OpenAI"), Some("openai"));
        assert_eq!(suggest("llama.cpp"), Some("llamacpp"));
        assert_eq!(suggest("lm-studio"), Some("lmstudio"));
        assert_eq!(suggest("openai_compatible"), Some(OPENAI_COMPATIBLE));
        assert_eq!(suggest("zzzzzz"), None);
    }
}
