//! Hybrid search: the bm25 arm (FTS5) and the vector arm (a scan of the chunk vectors),
//! each filtered before ranking, fused by reciprocal rank (or weighted, normalised per
//! query), each hit saying which arm found it and at which rank.
//!
//! Fusion never adds raw bm25 to a similarity: FTS5's bm25 is negative, and a fusion that
//! took it as a positive score silently turned OpenClaw's hybrid search into vector-only
//! search (their issue #5767). RRF needs no scores at all; the weighted fusion negates and
//! min-max normalises bm25 over each query's candidates.

use std::collections::{HashMap, HashSet};

use rusqlite::OptionalExtension;

use super::embed::{Fusion, Purpose, VectorSettings};
use super::scan::VectorSet;
use super::{Hit, Matched, Memory, MemoryError, vectors};

/// The vector arm ranks this many times the hits asked for before fusion.
pub(crate) const CANDIDATES: usize = 4;
/// The bm25 arm ranks this many times the hits asked for: fewer than the vector arm, since
/// its cost grows with the number kept (fewer rows can be skipped by their upper bound) and a
/// note past its 20th place adds little to a reciprocal rank.
pub(crate) const BM25_CANDIDATES: usize = 2;
/// How much a bm25 ranking counts when the note matched only some of the query's words:
/// matches on a few common words ("where", "the") say little about meaning, and at full
/// weight they drown a paraphrase the vectors found. Measured on the evaluation set
/// (`tests/it/memory_eval.rs`, RRF, overall nDCG@10): 1 → 0.750, 0.25 → 0.779, 0.1 → 0.825,
/// 0 → 0.863; 0 would throw away a rare word matched beside common ones, so 0.1.
pub(crate) const PARTIAL_WEIGHT: f64 = 0.1;
/// Characters of a chunk shown as a vector-only hit's snippet.
const SNIPPET_CHARS: usize = 200;

/// The bm25 arm's answer: the FTS5 expression that matched (for snippets), the ranked
/// (rowid, bm25) pairs, and whether only some of the query's terms had to match.
pub(crate) type Bm25Arm = (Option<String>, Vec<(i64, f64)>, bool);

/// The in-memory vectors of one model at one generation of the index.
pub(crate) struct Loaded {
    key: String,
    generation: i64,
    pub(crate) set: VectorSet,
}

/// A note found by the vector arm: its best chunk.
struct VectorHit {
    note: i64,
    chunk: i64,
    similarity: f32,
    lines: (u32, u32),
}

impl Memory {
    /// The vector arm's ranking of notes for `query`, best first (at most `limit`), or `None`
    /// when the arm is off (no embedder, no vectors yet, a changed model, a failed query
    /// embedding: the reason is kept as a warning for [`Memory::take_warnings`]); and what
    /// `alongside` returned. The query's embedding and the scan run on a thread of their own
    /// while `alongside` (the bm25 arm) runs on this one: the two arms take the time of the
    /// slower, not their sum.
    fn vector_arm<R>(
        &self,
        settings: &VectorSettings,
        query: &str,
        category: Option<&str>,
        since: Option<i64>,
        limit: usize,
        alongside: impl FnOnce() -> R,
    ) -> Result<(Option<Vec<VectorHit>>, R), MemoryError> {
        let conn = self.index.conn();
        let identity = settings.embedder.identity();
        let (stored, generation, _) = vectors::meta(conn)?;
        if stored.is_empty() {
            return Ok((None, alongside()));
        }
        if stored != identity.key() {
            if !self.paused_told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                self.notice(Some(vectors::paused_warning(&stored, identity)));
            }
            return Ok((None, alongside()));
        }
        let mut loaded = self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if loaded.as_ref().is_none_or(|l| l.generation != generation || l.key != stored) {
            let (refs, data, dims) = vectors::load(conn, &stored, identity.dims)?;
            let set = VectorSet::new(dims, refs, data, settings.quantize);
            *loaded = Some(Loaded { key: stored, generation, set });
        }
        let set = &loaded.as_ref().expect("loaded above").set;
        if set.is_empty() {
            return Ok((None, alongside()));
        }
        let allowed: Option<HashSet<i64>> = if category.is_some() || since.is_some() {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM notes WHERE (?1 IS NULL OR category = ?1 OR substr(category, 1, length(?1) + 1) = ?1 || '/')
                   AND (?2 IS NULL OR changed >= ?2)",
            )?;
            let ids = stmt.query_map(rusqlite::params![category, since], |r| r.get(0))?;
            Some(ids.collect::<Result<_, _>>()?)
        } else {
            None
        };
        let embedder = &*settings.embedder;
        let allowed = &allowed;
        let (scanned, other) = std::thread::scope(|scope| {
            let scan = scope.spawn(move || -> Result<Vec<(usize, f32)>, String> {
                let vector = match embedder.embed(&[query], Purpose::Query) {
                    Ok(v) => v.into_iter().next().filter(|v| v.len() == set.dims).ok_or_else(|| {
                        "the embedder's answer for the query has the wrong size; searched with bm25 alone".to_string()
                    })?,
                    Err(e) => return Err(format!("the query could not be embedded ({e}); searched with bm25 alone")),
                };
                // Several chunks of a note may be near the top: more chunks than notes wanted.
                Ok(set.top(&vector, limit * 3, |i| allowed.as_ref().is_none_or(|a| a.contains(&set.refs[i].note))))
            });
            let other = alongside();
            (scan.join().unwrap_or_else(|e| std::panic::resume_unwind(e)), other)
        });
        let top = match scanned {
            Ok(top) => top,
            Err(why) => {
                self.notice(Some(why));
                return Ok((None, other));
            }
        };
        let mut seen = HashSet::new();
        let mut hits = Vec::new();
        for (i, similarity) in top {
            let r = set.refs[i];
            if seen.insert(r.note) {
                hits.push(VectorHit { note: r.note, chunk: r.chunk, similarity, lines: (r.start_line, r.end_line) });
            }
            if hits.len() == limit {
                break;
            }
        }
        Ok((Some(hits), other))
    }

    /// The vector arm alone (for comparisons: the evaluation and `--explain`-like tools);
    /// empty when it cannot run, the reason in [`Memory::take_warnings`].
    pub fn search_vectors(&self, query: &str, opts: &super::SearchOptions) -> Result<Vec<Hit>, MemoryError> {
        let Some(settings) = &self.vectors else { return Ok(Vec::new()) };
        let limit = opts.limit.min(super::MAX_LIMIT);
        let category = opts.category.as_deref().map(|c| c.trim_matches('/')).filter(|c| !c.is_empty());
        let since = opts.since.map(|t| t.timestamp());
        if query.trim().is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let (Some(found), ()) = self.vector_arm(settings, query, category, since, limit, || ())? else {
            return Ok(Vec::new());
        };
        let mut hits = Vec::with_capacity(found.len());
        for (rank, v) in found.iter().enumerate() {
            if let Some(mut hit) = self.vector_only_hit(v)? {
                hit.score = f64::from(v.similarity);
                hit.vector_rank = Some(rank + 1);
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// (chunks, bytes) of the in-memory vectors loaded by the last hybrid search.
    pub fn loaded_vectors(&self) -> Option<(usize, usize)> {
        let loaded = self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loaded.as_ref().map(|l| (l.set.len(), l.set.bytes()))
    }

    /// Fuses the bm25 arm's ranking with the vector arm's and builds the hits that are
    /// returned (snippets only for those). A bm25 ranking that matched only some of the
    /// query's terms (the all-terms query found nothing) counts [`PARTIAL_WEIGHT`] as much.
    pub(crate) fn hybrid(
        &self,
        settings: &VectorSettings,
        query: &str,
        parsed: &super::query::Query,
        category: Option<&str>,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Hit>, MemoryError> {
        let (vector, bm25) = self.vector_arm(settings, query, category, since, limit * CANDIDATES, || {
            self.bm25(parsed, category, since, limit * BM25_CANDIDATES)
        })?;
        let (expr, ranked, partial) = bm25?;
        let Some(vector) = vector else {
            let top: Vec<_> = ranked.into_iter().take(limit).enumerate().map(|(i, (id, r))| (id, r, i + 1)).collect();
            return Ok(match expr {
                Some(expr) => self.index.hits(&expr, &top)?.into_iter().map(|(_, h)| h).collect(),
                None => Vec::new(),
            });
        };
        let by_bm25: HashMap<i64, (usize, f64)> =
            ranked.iter().enumerate().map(|(i, (id, rank))| (*id, (i + 1, -rank))).collect();
        let vector: Vec<VectorHit> = vector
            .into_iter()
            .filter(|v| v.similarity > settings.min_similarity || by_bm25.contains_key(&v.note))
            .collect();
        let by_vector: HashMap<i64, (usize, &VectorHit)> =
            vector.iter().enumerate().map(|(i, v)| (v.note, (i + 1, v))).collect();
        // bm25 negated (higher is better), for the weighted fusion's per-query normalisation.
        let (lo, hi) =
            by_bm25.values().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, s)| (lo.min(*s), hi.max(*s)));
        let weight = if partial { PARTIAL_WEIGHT } else { 1.0 };
        let score = |id: i64| -> f64 {
            let b = by_bm25.get(&id);
            let v = by_vector.get(&id);
            match settings.fusion {
                Fusion::Rrf { k } => {
                    weight * b.map_or(0.0, |(r, _)| 1.0 / (k + *r as f64))
                        + v.map_or(0.0, |(r, _)| 1.0 / (k + *r as f64))
                }
                Fusion::Weighted { vector_weight } => {
                    let b = b.map_or(0.0, |(_, s)| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 });
                    let c = v.map_or(0.0, |(_, h)| f64::from(h.similarity));
                    vector_weight * c + (1.0 - vector_weight) * weight * b
                }
            }
        };
        let mut ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
        ids.extend(vector.iter().map(|v| v.note).filter(|id| !by_bm25.contains_key(id)));
        let mut fused: Vec<(f64, i64)> = ids.into_iter().map(|id| (score(id), id)).collect();
        // Best first; ties by bm25 rank, then vector rank (both deterministic).
        let ranks = |id: &i64| {
            (by_bm25.get(id).map_or(usize::MAX, |(r, _)| *r), by_vector.get(id).map_or(usize::MAX, |(r, _)| *r))
        };
        fused.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| ranks(&a.1).cmp(&ranks(&b.1))));
        fused.truncate(limit);
        let mut hits = Vec::with_capacity(fused.len());
        for (score, id) in fused {
            let hit = match (by_bm25.get(&id), &expr) {
                (Some((rank, s)), Some(expr)) => self.index.hits(expr, &[(id, -s, *rank)])?.pop().map(|(_, h)| h),
                _ => match by_vector.get(&id) {
                    Some((_, v)) => self.vector_only_hit(v)?,
                    None => None,
                },
            };
            let Some(mut hit) = hit else { continue };
            hit.score = score;
            if let Some((rank, v)) = by_vector.get(&id) {
                hit.matched = if hit.bm25_rank.is_some() { Matched::Both } else { Matched::Vector };
                hit.vector_rank = Some(*rank);
                hit.similarity = Some(v.similarity);
                hit.lines = Some(v.lines);
            }
            hits.push(hit);
        }
        Ok(hits)
    }

    fn vector_only_hit(&self, v: &VectorHit) -> Result<Option<Hit>, MemoryError> {
        let conn = self.index.conn();
        let row = conn
            .prepare_cached("SELECT name, category, title, injection FROM notes WHERE id = ?1")?
            .query_row([v.note], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .optional()?;
        let Some((name, category, title, injection)) = row else { return Ok(None) };
        let text = vectors::chunk_text(conn, v.chunk)?.unwrap_or_default();
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet = match flat.char_indices().nth(SNIPPET_CHARS) {
            Some((i, _)) => format!("{}…", &flat[..i]),
            None => flat,
        };
        Ok(Some(Hit {
            name,
            category,
            title,
            snippet,
            score: 0.0,
            injection: serde_json::from_str(&injection).unwrap_or_default(),
            matched: Matched::Vector,
            bm25_rank: None,
            vector_rank: None,
            similarity: Some(v.similarity),
            lines: Some(v.lines),
        }))
    }
}
