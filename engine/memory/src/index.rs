//! The SQLite FTS5 index over the memory notes: schema, upserts, listing and ranked search.
//!
//! `notes` holds one row per file (name, category, path, mtime, size, and the front matter
//! fields); `notes_fts` is an FTS5 table over title, summary, keywords and body with the
//! `porter unicode61` tokenizer, sharing its rowid with `notes`. The schema changes through
//! [`STEPS`] (`db::migrate`); the index is a cache, so a step that changes what is indexed
//! empties it and the next reconcile fills it again from the files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Hit, MARK_END, MARK_START, MemoryError, NoteInfo, store};

/// The index's schema, oldest first; only ever appended to.
pub const STEPS: &[db::Step] = &[
    db::Step {
        summary: "notes, notes_fts",
        sql: "CREATE TABLE notes(
                  id INTEGER PRIMARY KEY,
                  name TEXT NOT NULL UNIQUE,
                  category TEXT NOT NULL,
                  path TEXT NOT NULL,
                  mtime INTEGER NOT NULL,
                  size INTEGER NOT NULL,
                  title TEXT NOT NULL,
                  summary TEXT NOT NULL,
                  keywords TEXT NOT NULL,
                  created TEXT,
                  updated TEXT,
                  changed INTEGER NOT NULL
              );
              CREATE INDEX notes_category ON notes(category);
              CREATE VIRTUAL TABLE notes_fts USING fts5(
                  title, summary, keywords, body, tokenize = 'porter unicode61'
              );",
    },
    db::Step {
        // Prefix indexes for 2-4 characters; FTS5 builds them only as rows are inserted.
        summary: "notes_fts with prefix indexes (emptied: refilled from the files)",
        sql: "DELETE FROM notes;
              DROP TABLE notes_fts;
              CREATE VIRTUAL TABLE notes_fts USING fts5(
                  title, summary, keywords, body, tokenize = 'porter unicode61', prefix = '2 3 4'
              );",
    },
    db::Step {
        // The findings recorded in a note's front matter are read when it is indexed.
        summary: "notes.injection (emptied: refilled from the files)",
        sql: "DELETE FROM notes;
              DELETE FROM notes_fts;
              ALTER TABLE notes ADD COLUMN injection TEXT NOT NULL DEFAULT '[]';",
    },
    db::Step {
        // Chunks for the vector arm, the embedding cache and the vectors' identity
        // (`vectors.rs`); every note is chunked, so the index is emptied and refilled.
        summary: "chunks, embed_cache, embed_meta, notes.embed (emptied: refilled from the files)",
        sql: "DELETE FROM notes;
              DELETE FROM notes_fts;
              ALTER TABLE notes ADD COLUMN embed INTEGER NOT NULL DEFAULT 1;
              CREATE TABLE chunks(
                  id INTEGER PRIMARY KEY,
                  note_id INTEGER NOT NULL,
                  start_line INTEGER NOT NULL,
                  end_line INTEGER NOT NULL,
                  hash BLOB NOT NULL,
                  text TEXT NOT NULL
              );
              CREATE INDEX chunks_note ON chunks(note_id);
              CREATE INDEX chunks_hash ON chunks(hash);
              CREATE TABLE embed_cache(
                  model TEXT NOT NULL,
                  hash BLOB NOT NULL,
                  vec BLOB NOT NULL,
                  PRIMARY KEY (model, hash)
              );
              CREATE TABLE embed_meta(
                  id INTEGER PRIMARY KEY CHECK (id = 1),
                  model TEXT NOT NULL,
                  generation INTEGER NOT NULL,
                  dirty INTEGER NOT NULL
              );
              INSERT INTO embed_meta VALUES (1, '', 0, 1);",
    },
    db::Step {
        // Chunks are made when embeddings are on, from the body FTS5 stores and the line
        // it starts on: an index without embeddings holds none (as before them).
        summary: "notes.body_line (emptied: refilled from the files)",
        sql: "DELETE FROM notes;
              DELETE FROM notes_fts;
              DELETE FROM chunks;
              ALTER TABLE notes ADD COLUMN body_line INTEGER NOT NULL DEFAULT 1;",
    },
];

/// bm25 weights for title, summary, keywords and body.
const WEIGHTS: &str = "10.0, 5.0, 5.0, 1.0";

impl From<rusqlite::Error> for MemoryError {
    fn from(e: rusqlite::Error) -> Self {
        MemoryError::Index(e.to_string())
    }
}

/// Everything the index stores about one note.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub category: String,
    pub path: String,
    pub mtime: i64,
    pub size: i64,
    pub title: String,
    pub summary: String,
    pub keywords: Vec<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub injection: Vec<String>,
    /// Unix seconds of the last change: `updated` when it parses, else the file's mtime.
    pub changed: i64,
    pub body: String,
    /// The note's `embed:` front matter flag (absent: true).
    pub embed: bool,
    /// The file's line (from 1) on which the body starts, after the front matter.
    pub body_line: u32,
}

pub struct Index {
    conn: Connection,
    path: PathBuf,
    /// A second connection for ranking half of a large index in parallel; opened on first use.
    helper: Mutex<Option<Connection>>,
    /// The highest rowid from which a search ranks in two halves ([`PARALLEL_FROM`]).
    pub(super) split_from: i64,
}

fn when_not_busy<T>(f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    db::when_not_busy(BUSY_TIMEOUT, f)
}

/// How long a connection waits for another one's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn open_connection(path: &Path) -> Result<Connection, MemoryError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // An index written by a newer Pyra is refused before anything here writes to it.
    db::refuse_newer(&conn, &path.display().to_string(), STEPS).map_err(|e| MemoryError::Index(e.to_string()))?;
    let _mode: String = when_not_busy(|| conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)))?;
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;")?;
    super::rank::register(&conn)?;
    Ok(conn)
}

impl Index {
    pub fn open(path: &Path) -> Result<Index, MemoryError> {
        store::private_file(path)?;
        let conn = open_connection(path)?;
        db::migrate(&conn, &path.display().to_string(), STEPS, BUSY_TIMEOUT)
            .map_err(|e| MemoryError::Index(e.to_string()))?;
        Ok(Index { conn, path: path.to_path_buf(), helper: Mutex::new(None), split_from: PARALLEL_FROM })
    }

    /// The connection (for reads outside a transaction).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one immediate transaction (rolled back when `f` fails).
    pub fn transaction<T>(&self, f: impl FnOnce(&Connection) -> Result<T, MemoryError>) -> Result<T, MemoryError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let out = f(&self.conn).and_then(|v| self.conn.execute_batch("COMMIT").map(|()| v).map_err(Into::into));
        if out.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        out
    }

    /// name → (mtime, size) of every indexed note.
    pub fn known(&self) -> Result<HashMap<String, (i64, i64)>, MemoryError> {
        let mut stmt = self.conn.prepare("SELECT name, mtime, size FROM notes")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every indexed note, by category then name.
    pub fn list(&self) -> Result<Vec<NoteInfo>, MemoryError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, category, title, summary, keywords, created, updated, injection FROM notes
             ORDER BY category, name",
        )?;
        let rows = stmt.query_map([], |r| {
            let keywords: String = r.get(4)?;
            Ok(NoteInfo {
                name: r.get(0)?,
                category: r.get(1)?,
                title: r.get(2)?,
                summary: r.get(3)?,
                keywords: json_list(&keywords),
                created: r.get(5)?,
                updated: r.get(6)?,
                injection: json_list(&r.get::<_, String>(7)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The best `limit` (rowid, bm25) pairs for an FTS5 expression (already made safe by
    /// [`super::query`]), best first, without snippets: [`Index::hits`] builds those for
    /// the notes a search returns only (a hybrid search ranks four times as many), since
    /// building them inside the ranking query would tokenise the text of every match.
    pub fn rank_ids(
        &self,
        expr: &str,
        category: Option<&str>,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, MemoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let max_id: i64 = self.conn.query_row("SELECT coalesce(max(id), 0) FROM notes", [], |r| r.get(0))?;
        let mut ranked = if max_id < self.split_from {
            rank(&self.conn, expr, category, since, (i64::MIN, i64::MAX), limit)?
        } else {
            // Two halves of the rowid range, ranked at once on two connections. bm25's
            // IDF comes from the whole table, so the scores of both halves compare.
            let mid = max_id / 2;
            let mut helper = self.helper.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if helper.is_none() {
                *helper = Some(open_connection(&self.path)?);
            }
            let second = helper.as_mut().expect("opened above");
            let (low, high) = std::thread::scope(|scope| {
                let high = scope.spawn(move || rank(second, expr, category, since, (mid + 1, i64::MAX), limit));
                let low = rank(&self.conn, expr, category, since, (i64::MIN, mid), limit);
                (low, high.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            });
            let mut all = low?;
            all.extend(high?);
            all.sort_by(|a, b| a.1.total_cmp(&b.1));
            all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            all
        };
        ranked.dedup_by_key(|r| r.0);
        Ok(ranked)
    }

    /// The hits of ranked notes (rowid, bm25, rank in the bm25 arm) with their snippets for
    /// `expr`, in the order given.
    pub fn hits(&self, expr: &str, ranked: &[(i64, f64, usize)]) -> Result<Vec<(i64, Hit)>, MemoryError> {
        // Snippets for the hits only, one seek per hit: FTS5 takes `rowid = ?` as a seek in
        // each term's doclist (prefixes of 2–4 characters have their own doclists).
        let mut stmt = self.conn.prepare_cached(
            "SELECT n.name, n.category, n.title, snippet(notes_fts, 3, ?3, ?4, '…', 16), n.injection
             FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid
             WHERE notes_fts MATCH ?1 AND notes_fts.rowid = ?2",
        )?;
        let mut hits = Vec::with_capacity(ranked.len());
        for &(id, rank, bm25_rank) in ranked {
            let bm25_rank = Some(bm25_rank);
            let hit = stmt
                .query_row(params![expr, id, MARK_START, MARK_END], |r| {
                    Ok(Hit {
                        name: r.get(0)?,
                        category: r.get(1)?,
                        title: r.get(2)?,
                        snippet: r.get(3)?,
                        score: -rank,
                        injection: json_list(&r.get::<_, String>(4)?),
                        matched: super::Matched::Bm25,
                        bm25_rank,
                        vector_rank: None,
                        similarity: None,
                        lines: None,
                    })
                })
                .optional()?;
            hits.extend(hit.map(|h| (id, h)));
        }
        Ok(hits)
    }
}

/// A JSON list of strings stored in a column (empty when it is not one).
fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// From this many notes (by highest rowid) a search ranks two halves of the index at once.
const PARALLEL_FROM: i64 = 20_000;

/// The best `limit` (rowid, bm25) pairs for `expr` within the rowid range `ids`.
fn rank(
    conn: &Connection,
    expr: &str,
    category: Option<&str>,
    since: Option<i64>,
    ids: (i64, i64),
    limit: i64,
) -> Result<Vec<(i64, f64)>, MemoryError> {
    let mut stmt = if category.is_none() && since.is_none() {
        conn.prepare_cached(&format!(
            "SELECT rowid, pyra_bm25(notes_fts, ?4, {WEIGHTS}) AS rank FROM notes_fts
             WHERE notes_fts MATCH ?1 AND rowid >= ?5 AND rowid <= ?6 AND ?2 IS NULL AND ?3 IS NULL
             ORDER BY rank LIMIT ?4"
        ))?
    } else {
        conn.prepare_cached(&format!(
            "SELECT notes_fts.rowid, pyra_bm25(notes_fts, ?4, {WEIGHTS}) AS rank
             FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid
             WHERE notes_fts MATCH ?1 AND notes_fts.rowid >= ?5 AND notes_fts.rowid <= ?6
               AND (?2 IS NULL OR n.category = ?2 OR substr(n.category, 1, length(?2) + 1) = ?2 || '/')
               AND (?3 IS NULL OR n.changed >= ?3)
             ORDER BY rank LIMIT ?4"
        ))?
    };
    let rows = stmt.query_map(params![expr, category, since, limit, ids.0, ids.1], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts or replaces `entry` (by name).
pub fn upsert(conn: &Connection, e: &Entry) -> Result<(), MemoryError> {
    upsert_all(conn, std::slice::from_ref(e))
}

/// Inserts or replaces `entries` (by name), in two passes: the `notes` rows (and the
/// removal of their old text) first, then the full-text rows. FTS5 flushes the terms it
/// holds in memory to a new segment at every statement savepoint, and each statement on a
/// table with a UNIQUE key opens one: interleaved, a bulk load wrote a tiny segment per
/// note and spent most of its time merging them.
pub fn upsert_all(conn: &Connection, entries: &[Entry]) -> Result<(), MemoryError> {
    let mut ids = Vec::with_capacity(entries.len());
    for e in entries {
        ids.push(upsert_row(conn, e)?);
    }
    let mut delete = conn.prepare_cached("DELETE FROM notes_fts WHERE rowid = ?1")?;
    for &(id, existed) in &ids {
        if existed {
            delete.execute([id])?;
        }
    }
    let mut insert = conn
        .prepare_cached("INSERT INTO notes_fts(rowid, title, summary, keywords, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for ((id, _), e) in ids.into_iter().zip(entries) {
        insert.execute(params![id, e.title, e.summary, e.keywords.join(" "), e.body])?;
    }
    if !entries.is_empty() {
        super::vectors::changed(conn)?;
    }
    Ok(())
}

/// Writes the `notes` row of `e` and drops its chunks (the next embedding pass makes them
/// again; none without embeddings); returns its id and whether it was indexed before.
fn upsert_row(conn: &Connection, e: &Entry) -> Result<(i64, bool), MemoryError> {
    let keywords = serde_json::to_string(&e.keywords).unwrap_or_else(|_| "[]".into());
    let injection = serde_json::to_string(&e.injection).unwrap_or_else(|_| "[]".into());
    let id: Option<i64> =
        conn.prepare_cached("SELECT id FROM notes WHERE name = ?1")?.query_row([&e.name], |r| r.get(0)).optional()?;
    let fields = params![
        e.category,
        e.path,
        e.mtime,
        e.size,
        e.title,
        e.summary,
        keywords,
        e.created,
        e.updated,
        e.changed,
        injection,
        e.embed,
        e.body_line
    ];
    Ok(match id {
        Some(id) => {
            let mut update = conn.prepare_cached(
                "UPDATE notes SET category=?1, path=?2, mtime=?3, size=?4, title=?5, summary=?6, keywords=?7,
                     created=?8, updated=?9, changed=?10, injection=?11, embed=?12, body_line=?13 WHERE id=?14",
            )?;
            let mut values: Vec<&dyn rusqlite::ToSql> = fields.to_vec();
            values.push(&id);
            update.execute(values.as_slice())?;
            conn.prepare_cached("DELETE FROM chunks WHERE note_id = ?1")?.execute([id])?;
            (id, true)
        }
        None => {
            let mut insert = conn.prepare_cached(
                "INSERT INTO notes(category, path, mtime, size, title, summary, keywords, created, updated,
                     changed, injection, embed, body_line, name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            let mut values: Vec<&dyn rusqlite::ToSql> = fields.to_vec();
            values.push(&e.name);
            insert.execute(values.as_slice())?;
            (conn.last_insert_rowid(), false)
        }
    })
}

/// Drops the note `name`; returns whether it was indexed.
pub fn delete(conn: &Connection, name: &str) -> Result<bool, MemoryError> {
    let id: Option<i64> = conn.query_row("SELECT id FROM notes WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    if let Some(id) = id {
        conn.execute("DELETE FROM notes_fts WHERE rowid = ?1", [id])?;
        conn.execute("DELETE FROM notes WHERE id = ?1", [id])?;
        super::vectors::drop_chunks(conn, id)?;
    }
    Ok(id.is_some())
}

/// Merges the full-text index into one segment (after a full rebuild). A prefix term's
/// doclist is assembled from every segment at each query, and a bulk insert leaves many:
/// merged, a prefix query reads one.
pub fn optimize(conn: &Connection) -> Result<(), MemoryError> {
    conn.execute("INSERT INTO notes_fts(notes_fts) VALUES ('optimize')", [])?;
    Ok(())
}

/// Empties the index (before a full rebuild). The full-text table is dropped and made
/// again from its own recorded definition: FTS5 deletes row by row, tokenising each text
/// again, which cost a rebuild of 10,000 notes about a second.
pub fn clear(conn: &Connection) -> Result<(), MemoryError> {
    let sql: String = conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'notes_fts'", [], |r| r.get(0))?;
    conn.execute_batch("DROP TABLE notes_fts; DELETE FROM notes; DELETE FROM chunks;")?;
    conn.execute_batch(&sql)?;
    super::vectors::changed(conn)
}
