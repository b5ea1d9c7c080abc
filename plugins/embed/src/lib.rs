//! Embedding providers for memory search, built from `config.yaml`'s `memory.embeddings`:
//! the OpenAI-compatible `/v1/embeddings` (OpenAI, vLLM, LM Studio, llama.cpp, LiteLLM, …),
//! Ollama's `/api/embed`, Gemini's `batchEmbedContents` (`RETRIEVAL_DOCUMENT` for notes,
//! `RETRIEVAL_QUERY` for queries), and the local static model read from disk (memory's
//! `local` feature). Each is a [`memory::Embedder`].
//!
//! **Architecture invariant:** the one place memory reaches the network. An API key is read
//! from the vault by the caller, travels only in a request header (never a URL, never a
//! log or an error message), and the HTTP embedders batch, retry (429, 5xx, connection
//! failures; `Retry-After` honoured up to a limit) and time out on their own worker thread,
//! so memory, which runs on blocking threads, stays free of tokio and reqwest.

mod http;
mod wire;

use std::path::Path;
use std::sync::Arc;

use config::EmbeddingSettings;
use memory::{Embedder, Fusion, Quantize, VectorSettings};
use secrecy::SecretString;

pub use http::HttpEmbedder;
pub use wire::Wire;

/// The vault key read by default for each provider (none for Ollama or `local`).
pub fn default_key(provider: &str) -> Option<&'static str> {
    match provider {
        "openai" => Some("OPENAI_API_KEY"),
        "gemini" => Some("GEMINI_API_KEY"),
        _ => None,
    }
}

/// The vault key a configuration reads, if any: `key:`, else the provider's default.
/// An OpenAI-compatible server elsewhere than OpenAI may need none: a missing default key
/// is then no error (see [`build`]).
pub fn key_name(settings: &EmbeddingSettings) -> Option<String> {
    settings.key.clone().or_else(|| default_key(&settings.provider).map(str::to_string))
}

/// The embedder `settings` describe; `home` resolves a relative local `path`, `key` is the
/// API key read from the vault (when [`key_name`] names one and it is set).
pub fn build(
    settings: &EmbeddingSettings,
    home: &Path,
    key: Option<SecretString>,
) -> Result<Arc<dyn Embedder>, String> {
    let dims = settings.dimensions.map(|d| d as usize);
    match settings.provider.as_str() {
        "local" => local(settings, home, dims),
        provider => {
            let wire = Wire::for_provider(provider)
                .ok_or_else(|| format!("`memory.embeddings.provider` {provider:?} is not an embedding provider"))?;
            let model = settings.model.clone().ok_or_else(|| format!("the {provider} embedder needs `model`"))?;
            if key.is_none() && wire == Wire::Gemini {
                return Err(format!(
                    "the Gemini embedder needs an API key: `pyra vault set {}`",
                    key_name(settings).unwrap_or_default()
                ));
            }
            let base = settings.base_url.clone().unwrap_or_else(|| wire.default_base().to_string());
            Ok(Arc::new(HttpEmbedder::new(wire, &base, &model, dims, key, settings.batch(), settings.timeout())))
        }
    }
}

#[cfg(feature = "local")]
fn local(settings: &EmbeddingSettings, home: &Path, dims: Option<usize>) -> Result<Arc<dyn Embedder>, String> {
    let dir = settings.path_in(home).ok_or("the local embedder needs `path`, the folder of its model files")?;
    let model = memory::local::StaticEmbedder::load(&dir, dims).map_err(|e| {
        format!(
            "{e}\n  help: fetch WordLlama's files with `tests/fixtures/embed-model/fetch.sh {}` (pip, from PyPI), or \
             point `memory.embeddings.path` at a folder with a .safetensors file and its tokenizer JSON",
            dir.display()
        )
    })?;
    Ok(Arc::new(model))
}

#[cfg(not(feature = "local"))]
fn local(_: &EmbeddingSettings, _: &Path, _: Option<usize>) -> Result<Arc<dyn Embedder>, String> {
    Err("this build of Pyra has no local embedder (built without the `local-embeddings` feature)".into())
}

/// Whether `home`'s config.yaml has a top-level `memory:` section (read as text, so an
/// invalid file can be told apart: without the section, its errors are not memory's).
pub fn configures_memory(home: &Path) -> bool {
    std::fs::read_to_string(config::Config::file_path(home))
        .is_ok_and(|text| text.lines().any(|l| l.starts_with("memory:") || l.starts_with("\"memory\":")))
}

/// The vector arm of a home's memory as `config.yaml` describes it: `Ok(None)` without
/// `memory.embeddings` (or with `provider: none`). `read_key` reads a vault key; a key the
/// configuration names (`key:`), the Gemini key and the OpenAI key for OpenAI's own server
/// are required, while an OpenAI-compatible server elsewhere is tried without one when the
/// default key is absent (local servers need none).
pub fn for_home(
    config: &config::Config,
    home: &Path,
    read_key: impl FnOnce(&str) -> Result<SecretString, String>,
) -> Result<Option<VectorSettings>, String> {
    let Some(settings) = config.memory.embedder() else { return Ok(None) };
    let key = match key_name(settings) {
        None => None,
        Some(name) => {
            let required = settings.key.is_some()
                || settings.provider == "gemini"
                || settings.base_url.as_deref().is_none_or(|b| b.contains("api.openai.com"));
            match read_key(&name) {
                Ok(k) => Some(k),
                Err(_) if !required => None,
                Err(e) => return Err(format!("the {} embedder needs the key `{name}`: {e}", settings.provider)),
            }
        }
    };
    let embedder = build(settings, home, key)?;
    Ok(Some(vector_settings(settings, embedder)))
}

/// The vector arm's settings for `embedder`, with the fusion and the rest from `settings`.
pub fn vector_settings(settings: &EmbeddingSettings, embedder: Arc<dyn Embedder>) -> VectorSettings {
    let mut out = VectorSettings::new(embedder);
    if settings.fusion.as_deref() == Some("weighted") {
        out.fusion = Fusion::Weighted {
            vector_weight: settings.vector_weight.unwrap_or(EmbeddingSettings::DEFAULT_VECTOR_WEIGHT),
        };
    } else if let Some(k) = settings.rrf_k {
        out.fusion = Fusion::Rrf { k };
    }
    if settings.quantize.as_deref() == Some("int8") {
        out.quantize = Quantize::Int8;
    }
    if let Some(min) = settings.min_similarity {
        out.min_similarity = min as f32;
    }
    out.exclude_categories = settings.exclude_categories.clone();
    out
}
