//! The `memory:` section's checks: `embeddings` — a known `provider` (`none` keeps memory
//! search as bm25 alone), what that provider needs (`model` for a server, `path` for the
//! local model), a `base_url`, a vault `key` name, numbers in range, `fusion` and
//! `quantize` from their lists, `exclude_categories` — each finding located, like the rest.

use syntax::suggest;
use syntax::yaml::{Node, Value};

use super::Findings;
use crate::model::EmbeddingSettings;

/// The keys under `memory:`.
pub(crate) const MEMORY_KEYS: &[&str] = &["embeddings"];
/// The keys under `memory.embeddings:`.
pub(crate) const EMBEDDING_KEYS: &[&str] = &[
    "provider",
    "model",
    "path",
    "base_url",
    "key",
    "dimensions",
    "batch",
    "timeout",
    "fusion",
    "rrf_k",
    "vector_weight",
    "min_similarity",
    "quantize",
    "exclude_categories",
];

const PROVIDER_HELP: &str = "`none` (bm25 alone), `local` (a model folder on disk), `openai` (or any server with \
                             /v1/embeddings), `ollama` or `gemini`";

impl Findings {
    pub(super) fn memory(&mut self, key: &Node, value: &Node) {
        if value.value == Value::Null {
            return;
        }
        self.map(key, value, "memory", MEMORY_KEYS, |f, k, v| f.embeddings(k, v));
    }

    fn choice(&mut self, field: &str, key: &Node, value: &Node, allowed: &[&str], help: &str) -> Option<String> {
        let text = self.string(field, key, value)?.to_string();
        if allowed.contains(&text.as_str()) {
            return Some(text);
        }
        let suggestion = suggest::help(&text, allowed.iter().copied()).unwrap_or_else(|| format!("use {help}"));
        self.error(
            "config-value",
            format!("`{field}` is not one of {}: `{text}`", allowed.join(", ")),
            value.span.clone(),
        )
        .help = Some(suggestion);
        None
    }

    fn embeddings(&mut self, key: &Node, value: &Node) {
        if value.value == Value::Null {
            return;
        }
        let mut provider = None;
        let mut fusion = None;
        let mut weight_span = None;
        self.map(key, value, "memory.embeddings", EMBEDDING_KEYS, |f, k, v| match k.key_text().as_str() {
            "provider" => provider = f.choice("provider", k, v, EmbeddingSettings::PROVIDERS, PROVIDER_HELP),
            "model" | "path" => {
                f.string(&k.key_text(), k, v);
            }
            "base_url" => {
                if let Some(url) = f.string("base_url", k, v) {
                    f.url("base_url", url, v.span.clone());
                }
            }
            "key" => f.key(k, v),
            "dimensions" => f.number("dimensions", k, v, 1.0, 16_384.0, true),
            "batch" => f.number("batch", k, v, 1.0, 2048.0, true),
            "timeout" => f.number("timeout", k, v, 1.0, 3600.0, false),
            "fusion" => fusion = f.choice("fusion", k, v, &["rrf", "weighted"], "`rrf` (the default) or `weighted`"),
            "rrf_k" => f.number("rrf_k", k, v, 1.0, 10_000.0, false),
            "vector_weight" => {
                weight_span = Some(k.span.clone());
                f.number("vector_weight", k, v, 0.0, 1.0, false);
            }
            "min_similarity" => f.number("min_similarity", k, v, -1.0, 1.0, false),
            "quantize" => {
                f.choice("quantize", k, v, &["f32", "int8"], "`f32` (the default) or `int8` (a quarter of the memory)");
            }
            _ => f.list("exclude_categories", "a category", k, v),
        });
        let Value::Map(entries) = &value.value else { return };
        let has = |name: &str| entries.iter().any(|(k, _)| k.key_text() == name);
        match provider.as_deref() {
            None if !has("provider") => {
                self.error("missing-key", "`memory.embeddings` has no `provider`", key.span.clone()).help =
                    Some(format!("add `provider:` with one of {PROVIDER_HELP}"));
            }
            Some("local") if !has("path") => {
                self.error(
                    "missing-key",
                    "the local embedder needs `path`, the folder of its model files",
                    key.span.clone(),
                )
                .help = Some(
                    "e.g. `path: ~/.cache/pyra-embed-model` holding a .safetensors file and its tokenizer JSON \
                     (WordLlama's l2_supercat_256 from the `wordllama` PyPI wheel, or a model2vec folder)"
                        .into(),
                );
            }
            Some(p @ ("openai" | "ollama" | "gemini")) if !has("model") => {
                let example = match p {
                    "openai" => "text-embedding-3-small",
                    "ollama" => "nomic-embed-text",
                    _ => "gemini-embedding-001",
                };
                self.error("missing-key", format!("the {p} embedder needs `model`"), key.span.clone()).help =
                    Some(format!("e.g. `model: {example}`"));
            }
            _ => {}
        }
        if let Some(span) = weight_span
            && fusion.as_deref() != Some("weighted")
        {
            self.error("config-value", "`vector_weight` applies only to `fusion: weighted`", span).help =
                Some("add `fusion: weighted`, or remove `vector_weight` (RRF, the default, needs no weights)".into());
        }
    }
}
