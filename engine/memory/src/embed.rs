//! The one interface every embedder implements ([`Embedder`]), and the settings of the vector
//! arm ([`VectorSettings`]): which embedder, how its ranking is fused with bm25's, and which
//! notes a remote provider may never see.
//!
//! The interface is synchronous: memory runs on blocking threads, and an HTTP embedder (in
//! the `embed` crate, where the HTTP client lives) blocks on its own runtime. An embedder
//! says whether it sends text off the machine ([`Embedder::is_remote`]); notes marked
//! `embed: false` and excluded categories are then never given to it.

use std::sync::Arc;

/// What a text is embedded for (asymmetric models embed notes and questions differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Document,
    Query,
}

/// What made a set of vectors: two sets compare only when their identities are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `openai`, `ollama`, `gemini`, `local`, …
    pub provider: String,
    /// The provider's model id, or the local model's file name.
    pub model: String,
    /// 0: whatever size the model gives (a server asked for no `dimensions`).
    pub dims: usize,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.dims {
            0 => write!(f, "{}/{} (model's size)", self.provider, self.model),
            d => write!(f, "{}/{} ({d} dims)", self.provider, self.model),
        }
    }
}

impl Identity {
    /// The key the embedding cache and the index's metadata store.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.provider, self.model, self.dims)
    }
}

/// Why an embedder failed: a message for the user, saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmbedError(pub String);

/// Turns texts into vectors of [`Identity::dims`] numbers.
pub trait Embedder: Send + Sync {
    fn identity(&self) -> &Identity;
    /// Whether texts leave this machine (a remote provider). Local servers on loopback are
    /// still remote here: the rule is about what the user marked private, not about trust.
    fn is_remote(&self) -> bool;
    /// One vector per text, in order. Implementations batch, retry and time out themselves.
    fn embed(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// How the two arms' rankings become one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: Σ 1/(k + rank) over the arms that found a note.
    Rrf { k: f64 },
    /// `w·cosine + (1−w)·bm25`, bm25 negated and min-max normalised over each query's
    /// candidates (raw FTS5 bm25 is negative: never add it as it is).
    Weighted { vector_weight: f64 },
}

/// How vectors are held in memory for the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantize {
    F32,
    /// One byte per dimension with a scale per vector: a quarter of the memory, rankings
    /// nearly unchanged (slower to scan than f32 on a baseline x86-64 build).
    Int8,
}

/// The vector arm's configuration (`memory.embeddings` in config.yaml).
#[derive(Clone)]
pub struct VectorSettings {
    pub embedder: Arc<dyn Embedder>,
    pub fusion: Fusion,
    pub quantize: Quantize,
    /// A note found only by the vector arm needs a cosine similarity above this.
    pub min_similarity: f32,
    /// Categories (and their subcategories) never sent to a remote embedder.
    pub exclude_categories: Vec<String>,
}

impl VectorSettings {
    pub const DEFAULT_RRF_K: f64 = 60.0;

    /// RRF with k = 60, f32, no similarity floor, no excluded category. f32 is the default
    /// because it scans faster on a default (baseline x86-64) build: measured at 100,000 ×
    /// 256, the f32 scan takes about 6 ms and the int8 one about 10 (without SSE4.1/AVX2
    /// the integer products do not vectorise); int8 is for a quarter of the memory.
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        VectorSettings {
            embedder,
            fusion: Fusion::Rrf { k: Self::DEFAULT_RRF_K },
            quantize: Quantize::F32,
            min_similarity: 0.0,
            exclude_categories: Vec::new(),
        }
    }

    /// Whether a note of `category` may be given to the embedder (`embed` is the note's
    /// front matter flag): always for a local embedder; for a remote one, not when the note
    /// says `embed: false` or its category is excluded.
    pub fn may_embed(&self, category: &str, embed: bool) -> bool {
        if !self.embedder.is_remote() {
            return true;
        }
        embed && !self.exclude_categories.iter().any(|c| in_category(category, c))
    }
}

/// `category` is `parent` or one of its subcategories.
pub fn in_category(category: &str, parent: &str) -> bool {
    let parent = parent.trim_matches('/');
    category == parent || category.strip_prefix(parent).is_some_and(|rest| rest.starts_with('/'))
}

/// A vector scaled to length 1 (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
