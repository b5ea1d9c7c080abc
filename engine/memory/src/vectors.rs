//! Chunks and their vectors in the index: the rows a reconcile writes, the embedding pass
//! that fills the cache, and the identity check that pauses the vector arm when the model
//! changes.
//!
//! `chunks` holds the notes' chunks, made by the embedding pass from the body FTS5 stores
//! (so an index without embeddings holds none and costs what it did before them; turning
//! them on needs no reindex), each with the SHA-256 of the text that is embedded (the
//! note's title, a blank line, the chunk). A changed note's chunks are dropped by the
//! upsert and made again by the next pass. `embed_cache` maps (model identity, hash) to a
//! vector, so a reindex or an edit embeds only text never seen before by that model, and a
//! switch back to an earlier model re-embeds nothing. `embed_meta` is one row: the identity
//! the index's vectors belong to, a generation bumped on every change (the in-memory copy
//! reloads when it moves), and whether chunks may be waiting for vectors.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::MemoryError;
use super::chunk;
use super::embed::{EmbedError, Identity, Purpose, VectorSettings};
use super::index::Index;

/// Chunks are at most this many characters (about 300 tokens: inside every embedding model's
/// context, so nothing is truncated by a provider).
pub const CHUNK_CHARS: usize = 1200;
/// Texts per embedding pass written in one transaction (a failure keeps what was done).
const PASS: usize = 256;
/// Cached vectors of other models kept beyond those the chunks use.
const CACHE_SPARE: i64 = 50_000;

/// The text embedded for a chunk: the note's title gives a paragraph its subject.
pub fn embedded_text(title: &str, chunk: &str) -> String {
    format!("{title}\n\n{chunk}")
}

fn hash(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// Chunks every note that has none (new or changed since the last pass), from the body
/// FTS5 stores; returns how many notes were chunked.
fn chunk_missing(index: &Index) -> Result<usize, MemoryError> {
    let notes: Vec<(i64, String, String, u32)> = {
        let mut stmt = index.conn().prepare(
            "SELECT n.id, n.title, f.body, n.body_line FROM notes n JOIN notes_fts f ON f.rowid = n.id
             WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.note_id = n.id)",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    if notes.is_empty() {
        return Ok(0);
    }
    index.transaction(|conn| {
        let mut insert = conn.prepare_cached(
            "INSERT INTO chunks(note_id, start_line, end_line, hash, text) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (id, title, body, first_line) in &notes {
            for c in chunk::split(body, *first_line, CHUNK_CHARS) {
                insert.execute(params![id, c.start_line, c.end_line, hash(&embedded_text(title, &c.text)), c.text])?;
            }
        }
        conn.execute("UPDATE embed_meta SET generation = generation + 1", [])?;
        Ok(notes.len())
    })
}

/// Drops the chunks of note `id`.
pub fn drop_chunks(conn: &Connection, id: i64) -> Result<(), MemoryError> {
    conn.execute("DELETE FROM chunks WHERE note_id = ?1", [id])?;
    changed(conn)
}

/// Records that chunks changed: a new generation, and chunks possibly waiting for vectors.
pub fn changed(conn: &Connection) -> Result<(), MemoryError> {
    conn.execute("UPDATE embed_meta SET generation = generation + 1, dirty = 1", [])?;
    Ok(())
}

/// (identity key of the vectors, generation, dirty).
pub fn meta(conn: &Connection) -> Result<(String, i64, bool), MemoryError> {
    Ok(conn
        .query_row("SELECT model, generation, dirty FROM embed_meta", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}

/// The identity written by a key ("provider|model|dims"), for messages.
pub fn describe(key: &str) -> String {
    let mut parts = key.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(m), Some("0")) => format!("{p}/{m} (model's size)"),
        (Some(p), Some(m), Some(d)) => format!("{p}/{m} ({d} dims)"),
        _ => key.to_string(),
    }
}

/// The warning of a paused vector arm.
pub fn paused_warning(stored: &str, current: &Identity) -> String {
    format!(
        "the memory's vectors were made by {}, but config.yaml's memory.embeddings now gives {current}: search \
         uses bm25 alone until the notes are embedded again\n  help: run `pyra memory reindex` (texts already \
         embedded by {current} are taken from the cache)",
        describe(stored)
    )
}

/// Whether the index's vectors belong to `current`. An index that never had vectors takes
/// the identity on (`adopt`); one made by another model is left as it is (`false`).
pub fn check_identity(conn: &Connection, current: &Identity, adopt: bool) -> Result<bool, MemoryError> {
    let (stored, _, _) = meta(conn)?;
    let key = current.key();
    if stored == key {
        return Ok(true);
    }
    if stored.is_empty() || adopt {
        conn.execute("UPDATE embed_meta SET model = ?1, generation = generation + 1, dirty = 1", [key])?;
        return Ok(true);
    }
    Ok(false)
}

/// A chunk waiting for its vector.
struct Pending {
    hash: Vec<u8>,
    text: String,
}

/// What an embedding pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// Texts sent to the embedder.
    pub texts: usize,
    /// Chunks left out: their note says `embed: false` or its category is excluded, and the
    /// embedder is remote.
    pub withheld: usize,
}

/// Embeds every chunk that has no vector for the configured model (chunks that may not
/// be sent are skipped), writing the vectors as it goes. The caller checked the identity.
pub fn embed_pending(index: &Index, settings: &VectorSettings) -> Result<Embedded, EmbedFailure> {
    chunk_missing(index).map_err(EmbedFailure::Index)?;
    let conn = index.conn();
    let identity = settings.embedder.identity().clone();
    let key = identity.key();
    let mut stmt = conn
        .prepare(
            "SELECT c.hash, c.text, n.title, n.category, n.embed FROM chunks c JOIN notes n ON n.id = c.note_id
             WHERE NOT EXISTS (SELECT 1 FROM embed_cache e WHERE e.model = ?1 AND e.hash = c.hash)",
        )
        .map_err(EmbedFailure::index)?;
    let rows = stmt
        .query_map([&key], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })
        .map_err(EmbedFailure::index)?;
    let mut pending: Vec<Pending> = Vec::new();
    let mut done = Embedded::default();
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let (hash, text, title, category, embed) = row.map_err(EmbedFailure::index)?;
        if !settings.may_embed(&category, embed) {
            done.withheld += 1;
            continue;
        }
        if seen.insert(hash.clone()) {
            pending.push(Pending { hash, text: embedded_text(&title, &text) });
        }
    }
    drop(stmt);
    for batch in pending.chunks(PASS) {
        let texts: Vec<&str> = batch.iter().map(|p| p.text.as_str()).collect();
        let vectors = settings.embedder.embed(&texts, Purpose::Document).map_err(EmbedFailure::Embedder)?;
        check_vectors(&vectors, texts.len(), identity.dims).map_err(EmbedFailure::Embedder)?;
        index
            .transaction(|conn| {
                let mut insert =
                    conn.prepare_cached("INSERT OR REPLACE INTO embed_cache(model, hash, vec) VALUES (?1, ?2, ?3)")?;
                for (p, v) in batch.iter().zip(&vectors) {
                    insert.execute(params![key, p.hash, to_blob(v)])?;
                }
                conn.execute("UPDATE embed_meta SET generation = generation + 1", [])?;
                Ok(())
            })
            .map_err(EmbedFailure::Index)?;
        done.texts += batch.len();
    }
    index
        .transaction(|conn| {
            conn.execute("UPDATE embed_meta SET dirty = 0", [])?;
            prune(conn, &key)
        })
        .map_err(EmbedFailure::Index)?;
    Ok(done)
}

/// An embedder's answer has one vector per text, each of the model's size, all finite.
pub fn check_vectors(vectors: &[Vec<f32>], texts: usize, dims: usize) -> Result<(), EmbedError> {
    if vectors.len() != texts {
        return Err(EmbedError(format!("the embedder returned {} vectors for {texts} texts", vectors.len())));
    }
    // A model of its own size (0): all vectors alike, and not empty.
    let dims = if dims == 0 { vectors.first().map_or(0, Vec::len).max(1) } else { dims };
    if let Some(v) = vectors.iter().find(|v| v.len() != dims) {
        return Err(EmbedError(format!(
            "the embedder returned a vector of {} dimensions, but the model is configured with {dims}\n  help: set \
             `memory.embeddings.dimensions: {}` (or leave it out to take the model's size)",
            v.len(),
            v.len()
        )));
    }
    if vectors.iter().flatten().any(|x| !x.is_finite()) {
        return Err(EmbedError("the embedder returned a vector with a non-finite number".into()));
    }
    Ok(())
}

/// Why an embedding pass stopped.
#[derive(Debug)]
pub enum EmbedFailure {
    Embedder(EmbedError),
    Index(MemoryError),
}

impl EmbedFailure {
    fn index(e: rusqlite::Error) -> Self {
        EmbedFailure::Index(e.into())
    }
}

/// Keeps the cache bounded: vectors of other models beyond [`CACHE_SPARE`] go, oldest
/// first; those of `key` whose text no chunk has any more go too.
fn prune(conn: &Connection, key: &str) -> Result<(), MemoryError> {
    conn.execute(
        "DELETE FROM embed_cache WHERE model = ?1 AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.hash = embed_cache.hash)",
        [key],
    )?;
    let others: i64 = conn.query_row("SELECT count(*) FROM embed_cache WHERE model <> ?1", [key], |r| r.get(0))?;
    if others > CACHE_SPARE {
        conn.execute(
            "DELETE FROM embed_cache WHERE rowid IN (SELECT rowid FROM embed_cache WHERE model <> ?1 ORDER BY rowid LIMIT ?2)",
            params![key, others - CACHE_SPARE],
        )?;
    }
    Ok(())
}

/// Little-endian f32s.
pub fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One chunk of the in-memory set.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRef {
    pub note: i64,
    pub start_line: u32,
    pub end_line: u32,
    pub chunk: i64,
}

/// Every chunk that has a vector for `key`, with its vector (f32, as stored), and the
/// vectors' size: `dims`, or for 0 (the model's own size) that of the first vector.
pub fn load(conn: &Connection, key: &str, mut dims: usize) -> Result<(Vec<ChunkRef>, Vec<f32>, usize), MemoryError> {
    let mut stmt = conn.prepare(
        "SELECT c.id, c.note_id, c.start_line, c.end_line, e.vec FROM chunks c
         JOIN embed_cache e ON e.model = ?1 AND e.hash = c.hash ORDER BY c.id",
    )?;
    let mut refs = Vec::new();
    let mut data = Vec::new();
    let mut rows = stmt.query([key])?;
    while let Some(r) = rows.next()? {
        let blob = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
        if dims == 0 {
            dims = blob.len() / 4;
        }
        if blob.len() != dims * 4 {
            continue;
        }
        data.extend(blob.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        refs.push(ChunkRef { chunk: r.get(0)?, note: r.get(1)?, start_line: r.get(2)?, end_line: r.get(3)? });
    }
    Ok((refs, data, dims))
}

/// The text of chunk `id` (a vector-only hit's snippet).
pub fn chunk_text(conn: &Connection, id: i64) -> Result<Option<String>, MemoryError> {
    Ok(conn.query_row("SELECT text FROM chunks WHERE id = ?1", [id], |r| r.get(0)).optional()?)
}
