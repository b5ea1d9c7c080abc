//! The `memory:` section's checks: `embeddings` — a known `provider` (`none` keeps memory
//! search as bm25 alone), what that provider needs (`model` for a server, `path` for the
//! local model), a `base_url`, a vault `key` name, numbers in range, `fusion` and
//! `quantize` from their lists, `exclude_categories` — each finding located, like the rest.
//! The keys, choices and ranges are the declared ones ([`crate::fields`]).

use syntax::yaml::{Node, Value};

use super::Findings;
use crate::fields;

const PROVIDER_HELP: &str = "`none` (bm25 alone), `local` (a model folder on disk), `openai` (or any server with \
                             /v1/embeddings), `ollama` or `gemini`";

impl Findings {
    pub(super) fn memory(&mut self, key: &Node, value: &Node) {
        if value.value == Value::Null {
            return;
        }
        self.map(key, value, "memory", |f, k, v| match k.key_text().as_str() {
            "embeddings" => f.embeddings(k, v),
            _ => f.declared("memory", k, v),
        });
    }

    fn embeddings(&mut self, key: &Node, value: &Node) {
        const PATH: &str = "memory.embeddings";
        let choices = |key: &str| fields::section(PATH).and_then(|s| s.field(key)).map_or(&[][..], |f| f.choices());
        if value.value == Value::Null {
            return;
        }
        let mut provider = None;
        let mut fusion = None;
        let mut weight_span = None;
        self.map(key, value, PATH, |f, k, v| match k.key_text().as_str() {
            "provider" => provider = f.choice("provider", k, v, choices("provider"), PROVIDER_HELP),
            "base_url" => {
                if let Some(url) = f.string("base_url", k, v) {
                    f.url("base_url", url, v.span.clone());
                }
            }
            "fusion" => fusion = f.choice("fusion", k, v, choices("fusion"), "`rrf` (the default) or `weighted`"),
            "vector_weight" => {
                weight_span = Some(k.span.clone());
                f.declared(PATH, k, v);
            }
            "quantize" => {
                f.choice(
                    "quantize",
                    k,
                    v,
                    choices("quantize"),
                    "`f32` (the default) or `int8` (a quarter of the memory)",
                );
            }
            "exclude_categories" => f.list("exclude_categories", "a category", k, v),
            _ => f.declared(PATH, k, v),
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
