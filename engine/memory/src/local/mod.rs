//! The local static embedder: a table of token vectors read from a safetensors file and a
//! tokenizer read from its JSON file, both on disk (no hub, no download). A text's vector is
//! the mean of its tokens' rows (model2vec's `weights` and `mapping` applied when present),
//! cut to the configured dimensions (Matryoshka models) and normalised.
//!
//! Made for WordLlama's files (`l2_supercat_256.safetensors` and
//! `l2_supercat_tokenizer_config.json` in the `wordllama` PyPI wheel) and for model2vec
//! folders (`model.safetensors`, `tokenizer.json`) whose tokenizer is SentencePiece-style BPE.

mod bpe;

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::embed::{EmbedError, Embedder, Identity, Purpose, normalize};

/// The embedder over one model folder.
pub struct StaticEmbedder {
    identity: Identity,
    tokenizer: bpe::Bpe,
    /// rows × `width` f32s.
    table: Vec<f32>,
    width: usize,
    rows: usize,
    /// model2vec: a weight per token id, and the row of each token id.
    weights: Option<Vec<f32>>,
    mapping: Option<Vec<usize>>,
}

/// The files of a model folder: one `.safetensors` file and one tokenizer JSON.
fn find_files(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read the model folder {}: {e}", dir.display()))?;
    let (mut weights, mut tokenizers) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".safetensors") {
            weights.push(path);
        } else if name.ends_with(".json") && name.contains("tokenizer") {
            tokenizers.push(path);
        }
    }
    let one = |mut found: Vec<PathBuf>, what: &str| match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!("the model folder {} has no {what}", dir.display())),
        _ => {
            found.sort();
            let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(format!("the model folder {} has several {what}s: {}", dir.display(), names.join(", ")))
        }
    };
    Ok((one(weights, ".safetensors file")?, one(tokenizers, "tokenizer JSON file (`tokenizer.json`)")?))
}

/// A tensor's values as f32s.
fn floats(t: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f32>, String> {
    let data = t.data();
    Ok(match t.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
        Dtype::BF16 => {
            data.chunks_exact(2).map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)).collect()
        }
        other => return Err(format!("its tensors are {other:?}; F32, F16 and BF16 are read")),
    })
}

/// IEEE half precision to single.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the fraction.
            let shift = frac.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | ((frac << shift) & 0x3ff) << 13
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000,
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

impl StaticEmbedder {
    /// Loads the model in `dir`; `dims` keeps only the first dimensions (at most the model's).
    pub fn load(dir: &Path, dims: Option<usize>) -> Result<StaticEmbedder, EmbedError> {
        let fail = |why: String| EmbedError(format!("cannot load the local embedding model: {why}"));
        let (weights_path, tokenizer_path) = find_files(dir).map_err(fail)?;
        let json: serde_json::Value = std::fs::read(&tokenizer_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| fail(format!("{}: {e}", tokenizer_path.display())))?;
        let tokenizer = bpe::Bpe::from_json(&json).map_err(|e| fail(format!("{}: {e}", tokenizer_path.display())))?;
        let bytes = std::fs::read(&weights_path).map_err(|e| fail(format!("{}: {e}", weights_path.display())))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| fail(format!("{}: {e}", weights_path.display())))?;
        let names = file.names();
        let main = ["embedding.weight", "embeddings"]
            .into_iter()
            .find(|n| names.contains(n))
            .or_else(|| (names.len() == 1).then(|| names[0]))
            .ok_or_else(|| fail(format!("{}: no `embeddings` tensor among {names:?}", weights_path.display())))?;
        let tensor = file.tensor(main).map_err(|e| fail(e.to_string()))?;
        let [rows, width] = tensor.shape() else {
            return Err(fail(format!("{}: `{main}` is not a matrix", weights_path.display())));
        };
        let (rows, width) = (*rows, *width);
        let table = floats(&tensor).map_err(|e| fail(format!("{}: {e}", weights_path.display())))?;
        let weights = match file.tensor("weights") {
            Ok(t) => Some(floats(&t).map_err(fail)?),
            Err(_) => None,
        };
        let mapping = match file.tensor("mapping") {
            Ok(t) if t.dtype() == Dtype::I64 => Some(
                t.data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])).max(0) as usize)
                    .collect(),
            ),
            Ok(t) if t.dtype() == Dtype::I32 => Some(
                t.data()
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4])).max(0) as usize)
                    .collect(),
            ),
            Ok(_) => return Err(fail("its `mapping` tensor is not integers".into())),
            Err(_) => None,
        };
        let dims = match dims {
            None => width,
            Some(d) if (1..=width).contains(&d) => d,
            Some(d) => return Err(EmbedError(format!("`dimensions: {d}` is more than the local model's {width}"))),
        };
        let model = weights_path.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().to_string());
        Ok(StaticEmbedder {
            identity: Identity { provider: "local".into(), model, dims },
            tokenizer,
            table,
            width,
            rows,
            weights,
            mapping,
        })
    }

    /// The vector of one text (normalised; zero for a text with no token).
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let dims = self.identity.dims;
        let mut sum = vec![0f32; dims];
        let mut total = 0f32;
        for id in self.tokenizer.encode(text) {
            let id = id as usize;
            let row = self.mapping.as_ref().map_or(Some(id), |m| m.get(id).copied()).unwrap_or(0).min(self.rows - 1);
            let w = self.weights.as_ref().map_or(1.0, |w| w.get(id).copied().unwrap_or(1.0));
            let values = &self.table[row * self.width..row * self.width + dims];
            sum.iter_mut().zip(values).for_each(|(s, v)| *s += w * v);
            total += 1.0;
        }
        if total > 0.0 {
            sum.iter_mut().for_each(|s| *s /= total);
        }
        normalize(&mut sum);
        sum
    }
}

impl Embedder for StaticEmbedder {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn embed(&self, texts: &[&str], _purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
}

#[cfg(test)]
mod tests;
