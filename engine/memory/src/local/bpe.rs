//! A byte-pair-encoding tokenizer read from a Hugging Face `tokenizer.json` of the
//! SentencePiece kind (LLaMA's, which WordLlama ships): the normalizer prepends `▁` and turns
//! spaces into `▁`, there is no pre-tokenizer, characters missing from the vocabulary fall
//! back to `<0xXX>` byte tokens, and merges apply lowest rank first (leftmost on ties), as the
//! `tokenizers` crate does. Only what such a file says is implemented; anything else is
//! refused by [`Bpe::from_json`] with the reason, never approximated.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use rustc_hash::FxHashMap;
use serde_json::Value;

/// Words kept in the cache before it is emptied (a note's words repeat: most are found).
const CACHE_WORDS: usize = 100_000;

/// The tokenizer: vocabulary and merges by token id.
pub struct Bpe {
    /// Single characters' ids (most symbols start as one).
    chars: FxHashMap<char, u32>,
    /// (left id, right id) → (rank, merged id).
    merges: FxHashMap<(u32, u32), (u32, u32)>,
    /// No token has `▁` after another character: merges never cross the start of a word,
    /// so words are encoded (and cached) one at a time with the same result.
    by_word: bool,
    cache: Mutex<FxHashMap<String, Vec<u32>>>,
    /// `<0x00>`..`<0xFF>` ids, when the model falls back to bytes.
    bytes: Option<Box<[u32; 256]>>,
    unk: Option<u32>,
    /// The normalizer's prefix (`▁`) and what a space becomes (`▁`).
    prepend: Option<String>,
    space: Option<String>,
}

/// One symbol of the word being merged (a doubly linked list over a vector).
#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: isize,
    next: isize,
    /// 0 once merged into its left neighbour.
    len: usize,
}

impl Bpe {
    /// Reads a `tokenizer.json` whose model is BPE with a `Prepend`/`Replace` normalizer (or
    /// none) and no pre-tokenizer. The error says what the file has that is not supported.
    pub fn from_json(json: &Value) -> Result<Bpe, String> {
        let model = &json["model"];
        if model["type"] != "BPE" {
            return Err(format!("its model is {}, and only BPE tokenizers are read", model["type"]));
        }
        if !json["pre_tokenizer"].is_null() {
            return Err("it has a pre-tokenizer, and only SentencePiece-style BPE tokenizers (none) are read".into());
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix", "dropout"] {
            if !model[key].is_null() {
                return Err(format!("its BPE model sets `{key}`, which is not supported"));
            }
        }
        let (prepend, space) = normalizer(&json["normalizer"])?;
        let vocab: HashMap<String, u32> = model["vocab"]
            .as_object()
            .ok_or("its model has no vocabulary")?
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("a vocabulary id is not a number")?,
                ))
            })
            .collect::<Result<_, &str>>()?;
        let mut merges = FxHashMap::default();
        for (rank, m) in model["merges"].as_array().ok_or("its model has no merges")?.iter().enumerate() {
            let (a, b) = match m {
                Value::String(s) => s.split_once(' ').ok_or("a merge is not two tokens")?,
                Value::Array(pair) if pair.len() == 2 => (
                    pair[0].as_str().ok_or("a merge is not two tokens")?,
                    pair[1].as_str().ok_or("a merge is not two tokens")?,
                ),
                _ => return Err("a merge is not two tokens".into()),
            };
            let (Some(&ia), Some(&ib), Some(&merged)) = (vocab.get(a), vocab.get(b), vocab.get(&format!("{a}{b}")))
            else {
                return Err(format!("the merge `{a} {b}` names tokens missing from the vocabulary"));
            };
            merges.entry((ia, ib)).or_insert((u32::try_from(rank).unwrap_or(u32::MAX), merged));
        }
        let bytes = if model["byte_fallback"] == true {
            let mut ids = Box::new([0u32; 256]);
            for (b, id) in ids.iter_mut().enumerate() {
                *id = *vocab
                    .get(&format!("<0x{b:02X}>"))
                    .ok_or("byte fallback is on but the vocabulary lacks byte tokens")?;
            }
            Some(ids)
        } else {
            None
        };
        let unk = model["unk_token"].as_str().and_then(|u| vocab.get(u).copied());
        let chars = vocab
            .iter()
            .filter_map(|(t, id)| {
                let mut it = t.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => Some((c, *id)),
                    _ => None,
                }
            })
            .collect();
        let mark = space.as_deref().and_then(|s| s.chars().next()).unwrap_or('\u{2581}');
        let by_word = vocab.keys().all(|t| !t.trim_start_matches(mark).contains(mark));
        Ok(Bpe { chars, merges, by_word, cache: Mutex::new(FxHashMap::default()), bytes, unk, prepend, space })
    }

    /// The token ids of `text` (no special tokens).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut normalized = String::with_capacity(text.len() + 3);
        if let Some(p) = &self.prepend {
            normalized.push_str(p);
        }
        match &self.space {
            Some(s) => normalized.push_str(&text.replace(' ', s)),
            None => normalized.push_str(text),
        }
        if !self.by_word {
            return self.merge(&normalized);
        }
        let mark = self.space.as_deref().and_then(|s| s.chars().next()).unwrap_or('\u{2581}');
        let mut out = Vec::with_capacity(normalized.len() / 3);
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut start = 0;
        let mut previous = mark;
        let mut flush = |word: &str, out: &mut Vec<u32>| {
            if let Some(ids) = cache.get(word) {
                out.extend_from_slice(ids);
                return;
            }
            let ids = self.merge(word);
            out.extend_from_slice(&ids);
            if cache.len() >= CACHE_WORDS {
                cache.clear();
            }
            cache.insert(word.to_string(), ids);
        };
        for (i, c) in normalized.char_indices() {
            // A word: a run of `▁` and the characters after it, up to the next `▁`.
            if c == mark && previous != mark && i > start {
                flush(&normalized[start..i], &mut out);
                start = i;
            }
            previous = c;
        }
        if start < normalized.len() {
            flush(&normalized[start..], &mut out);
        }
        out
    }

    /// BPE over one piece of normalised text.
    pub(super) fn merge(&self, normalized: &str) -> Vec<u32> {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(normalized.len());
        let mut buf = [0u8; 4];
        for c in normalized.chars() {
            let s = c.encode_utf8(&mut buf);
            if let Some(&id) = self.chars.get(&c) {
                symbols.push(Symbol { id, prev: 0, next: 0, len: s.len() });
            } else if let Some(bytes) = &self.bytes {
                symbols.extend(s.bytes().map(|b| Symbol { id: bytes[b as usize], prev: 0, next: 0, len: 1 }));
            } else if let Some(unk) = self.unk {
                symbols.push(Symbol { id: unk, prev: 0, next: 0, len: s.len() });
            }
        }
        let n = symbols.len() as isize;
        for (i, s) in symbols.iter_mut().enumerate() {
            s.prev = i as isize - 1;
            s.next = if i as isize + 1 < n { i as isize + 1 } else { -1 };
        }
        // Lowest rank first, then leftmost: (Reverse(rank), Reverse(pos)) in a max-heap.
        let mut heap: BinaryHeap<(Reverse<u32>, Reverse<usize>, u32)> = BinaryHeap::new();
        for i in 0..symbols.len().saturating_sub(1) {
            if let Some(&(rank, new)) = self.merges.get(&(symbols[i].id, symbols[i + 1].id)) {
                heap.push((Reverse(rank), Reverse(i), new));
            }
        }
        while let Some((Reverse(_), Reverse(pos), new)) = heap.pop() {
            let left = symbols[pos];
            if left.len == 0 || left.next < 0 {
                continue;
            }
            let right_pos = left.next as usize;
            let right = symbols[right_pos];
            if self.merges.get(&(left.id, right.id)).is_none_or(|&(_, id)| id != new) {
                continue;
            }
            symbols[pos].id = new;
            symbols[pos].len += right.len;
            symbols[pos].next = right.next;
            symbols[right_pos].len = 0;
            if right.next >= 0 {
                symbols[right.next as usize].prev = pos as isize;
            }
            if left.prev >= 0 {
                let p = left.prev as usize;
                if let Some(&(rank, id)) = self.merges.get(&(symbols[p].id, new)) {
                    heap.push((Reverse(rank), Reverse(p), id));
                }
            }
            if symbols[pos].next >= 0 {
                let nx = symbols[pos].next as usize;
                if let Some(&(rank, id)) = self.merges.get(&(new, symbols[nx].id)) {
                    heap.push((Reverse(rank), Reverse(pos), id));
                }
            }
        }
        symbols.iter().filter(|s| s.len > 0).map(|s| s.id).collect()
    }
}

/// The `Prepend` prefix and the `Replace` of spaces, from a normalizer that has only those.
fn normalizer(n: &Value) -> Result<(Option<String>, Option<String>), String> {
    let steps: Vec<&Value> = match n["type"].as_str() {
        None if n.is_null() => Vec::new(),
        Some("Sequence") => n["normalizers"].as_array().map(|a| a.iter().collect()).unwrap_or_default(),
        Some(_) => vec![n],
        None => return Err("its normalizer is not understood".into()),
    };
    let (mut prepend, mut space) = (None, None);
    for step in steps {
        match step["type"].as_str() {
            Some("Prepend") => prepend = step["prepend"].as_str().map(str::to_string),
            Some("Replace") if step["pattern"]["String"] == " " => space = step["content"].as_str().map(str::to_string),
            other => return Err(format!("its normalizer step {} is not supported", other.unwrap_or("?"))),
        }
    }
    Ok((prepend, space))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small SentencePiece-style tokenizer: merges build `▁the`, `▁ca`, `▁cat`.
    fn tiny() -> Bpe {
        let json = serde_json::json!({
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
            "pre_tokenizer": null,
            "model": {
                "type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "dropout": null,
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "vocab": (0..256).map(|b| (format!("<0x{b:02X}>"), b)).chain(
                    ["<unk>", "▁", "t", "h", "e", "c", "a", "▁t", "▁th", "▁the", "▁c", "▁ca", "▁cat"]
                        .iter().zip(256..).map(|(t, i)| (t.to_string(), i)))
                    .map(|(t, i)| (t, Value::from(i))).collect::<serde_json::Map<String, Value>>(),
                "merges": ["▁ t", "▁t h", "▁th e", "▁ c", "▁c a", "▁ca t"]
            }
        });
        Bpe::from_json(&json).unwrap()
    }

    #[test]
    fn merges_by_rank_and_falls_back_to_bytes() {
        let bpe = tiny();
        assert_eq!(bpe.encode("the cat"), vec![265, 268]);
        // `é` is not in the vocabulary: its two UTF-8 bytes.
        assert_eq!(bpe.encode("the é"), vec![265, 257, 0xC3, 0xA9]);
        assert_eq!(bpe.encode("tac"), vec![263, 262, 261]);
        assert!(bpe.encode("").is_empty());
    }

    #[test]
    fn word_by_word_equals_the_whole_text_at_once() {
        let bpe = tiny();
        assert!(bpe.by_word);
        for text in ["the cat", "  the  cat ", "thecat the", "é the", "cat\nthe\tcat", ""] {
            let normalized = format!("▁{}", text.replace(' ', "▁"));
            let whole = if text.is_empty() { Vec::new() } else { bpe.merge(&normalized) };
            assert_eq!(bpe.encode(text), whole, "{text:?}");
            assert_eq!(bpe.encode(text), whole, "{text:?} (cached)");
        }
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        let wordpiece = serde_json::json!({"model": {"type": "WordPiece"}});
        assert!(Bpe::from_json(&wordpiece).err().unwrap().contains("only BPE"));
        let split = serde_json::json!({"model": {"type": "BPE"}, "pre_tokenizer": {"type": "ByteLevel"}});
        assert!(Bpe::from_json(&split).err().unwrap().contains("pre-tokenizer"));
    }
}
