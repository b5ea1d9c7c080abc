//! Memory: markdown notes under `$PYRA_HOME/memory/`, searchable through an SQLite FTS5 index.
//!
//! The files are canonical; the index (`memory/.index.db`) is a cache that [`Memory::reconcile`]
//! brings up to date with a cheap mtime/size scan and [`Memory::reindex`] rebuilds from scratch.
//! A note named `X` is `memory/X.md`, `cat/X` is `memory/cat/X.md` (categories are folders).
//! Every write takes the exclusive lock `memory/.lock`, replaces the file atomically, updates
//! the index in the same step and regenerates `memory/MEMORY_INDEX.md`, a readable table of
//! contents. A reconcile that finds nothing changed takes no lock, so readers never queue
//! behind a writer. Search text goes through [`query`] and is never handed to FTS5 as is.
//!
//! **Architecture invariant:** the markdown files are the truth and the index can always
//! be rebuilt from them (its schema migrates through `STEPS` in `index.rs`; a step that changes
//! what is indexed empties it for the next reconcile); user text never reaches FTS5 raw;
//! every file and folder written is owner-only. The only `unsafe` of the workspace is in
//! `rank.rs` (FTS5's C extension API), each block with its reason.

mod chunk;
pub mod embed;
pub mod frontmatter;
mod hybrid;
mod index;
#[cfg(feature = "local")]
pub mod local;
pub mod query;
mod rank;
mod scan;
mod store;
mod vectors;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

pub use embed::{EmbedError, Embedder, Fusion, Identity, Purpose, Quantize, VectorSettings};
use frontmatter::FrontMatter;
use index::{Entry, Index};
use query::{Join, Query};
pub use vectors::CHUNK_CHARS;

/// Marks the start of a matched term in [`Hit::snippet`].
pub const MARK_START: &str = "**";
/// Marks the end of a matched term in [`Hit::snippet`].
pub const MARK_END: &str = "**";
/// The generated table of contents, `memory/MEMORY_INDEX.md` (a reserved name).
pub const INDEX_NOTE: &str = "MEMORY_INDEX";
/// From this many notes indexed in one reconcile the index is merged into one segment.
const OPTIMIZE_FROM: usize = 500;
/// The most hits one search returns.
pub const MAX_LIMIT: usize = 1000;

/// Why a memory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("invalid note name {0:?}: {1}")]
    InvalidName(String, &'static str),
    #[error("no note named {0:?}\n  help: `pyra memory list` shows the notes")]
    NotFound(String),
    #[error("note {0:?} ({path}) is not UTF-8 text\n  help: {NOT_UTF8_HELP}", path = .1.display())]
    NotUtf8(String, PathBuf),
    #[error("note {0:?}: {1}\n  help: {FRONT_MATTER_HELP}")]
    FrontMatter(String, String),
    #[error("memory: {0}")]
    Io(String),
    #[error("memory index: {0}")]
    Index(String),
}

/// How to fix a note that is not UTF-8 (an error's and a warning's `help:` line).
const NOT_UTF8_HELP: &str =
    "convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > NEW`) or move it out of the memory folder";
/// How to fix front matter that is not valid YAML.
const FRONT_MATTER_HELP: &str =
    "fix the YAML between the two `---` lines (quote values that contain `: `, `#`, `[` or `{`)";

/// What to search and how much to return.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// At most this many hits (capped at [`MAX_LIMIT`]).
    pub limit: usize,
    /// Only this category and its subcategories (`work` includes `work/projects`).
    pub category: Option<String>,
    /// Only notes changed at or after this instant (`updated`, else the file's mtime).
    pub since: Option<DateTime<Utc>>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { limit: 10, category: None, since: None }
    }
}

/// One search result, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub category: String,
    pub title: String,
    /// An excerpt with the matched terms between [`MARK_START`] and [`MARK_END`].
    pub snippet: String,
    /// bm25 relevance (negated: higher is better); with embeddings, the fused score.
    pub score: f64,
    /// Prompt-injection categories recorded with the note (front matter `injection`).
    pub injection: Vec<String>,
    /// Which arm found the note.
    pub matched: Matched,
    /// The note's rank in the bm25 arm (from 1), when it found it.
    pub bm25_rank: Option<usize>,
    /// The note's rank in the vector arm (from 1), when it found it.
    pub vector_rank: Option<usize>,
    /// Cosine similarity of the note's best chunk to the query (vector arm).
    pub similarity: Option<f32>,
    /// Lines of the note's best chunk (vector arm).
    pub lines: Option<(u32, u32)>,
}

/// Which arm of a search found a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    Bm25,
    Vector,
    Both,
}

impl Matched {
    pub fn as_str(self) -> &'static str {
        match self {
            Matched::Bm25 => "bm25",
            Matched::Vector => "vector",
            Matched::Both => "both",
        }
    }
}

/// What the index knows about a note (see [`Memory::list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteInfo {
    pub name: String,
    pub category: String,
    pub title: String,
    pub summary: String,
    pub keywords: Vec<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub injection: Vec<String>,
}

/// A note read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub name: String,
    pub category: String,
    pub title: String,
    pub meta: FrontMatter,
    /// The text after the front matter.
    pub body: String,
    /// The whole file.
    pub text: String,
}

/// What [`Memory::reconcile`] or [`Memory::reindex`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Markdown files found (those with names that are not UTF-8 included).
    pub scanned: usize,
    /// Notes indexed that were not before (every note, for a reindex).
    pub added: usize,
    /// Notes indexed again because their file changed.
    pub updated: usize,
    pub removed: usize,
    /// Files not indexed (not UTF-8, an unusable name).
    pub skipped: usize,
    /// Chunk texts sent to the embedder (those already in the cache are not).
    pub embedded: usize,
    /// One line per skipped file, unreadable front matter or fixed permission (a line
    /// may carry a `help:` line after a newline).
    pub warnings: Vec<String>,
}

/// Parses a search's `since` as people write it: a date (`2026-01-31`, midnight local
/// time), a date and time (RFC 3339, `2026-01-31T09:00:00Z`), or an age counted back from
/// `now` (`7d`, `12h`, `1h30m`). The error says what is accepted (the caller names the
/// value).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = |naive: chrono::NaiveDateTime| chrono::Local.from_local_datetime(&naive).earliest();
    if let Some(t) =
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).and_then(local)
    {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok().and_then(local) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(age) = syntax::duration::parse(text)
        && let Some(t) = chrono::Duration::from_std(age).ok().and_then(|d| now.checked_sub_signed(d))
    {
        return Ok(t);
    }
    Err("use a date (2026-01-31), a date and time (2026-01-31T09:00:00Z) or an age (7d, 12h: changed in the \
         last 7 days, 12 hours)"
        .to_string())
}

/// A checked note name.
#[derive(Debug, Clone)]
struct NoteName {
    name: String,
    category: String,
    rel: PathBuf,
}

/// Checks a note name. Every name must stay inside the memory folder (no `..`, no absolute
/// path, no hidden segment, no control character, no backslash); `strict` names (those Pyra
/// creates) are also limited to `[A-Za-z0-9_-]` segments separated by `/`. A trailing `.md`
/// is ignored.
fn check_name(given: &str, strict: bool) -> Result<NoteName, MemoryError> {
    let bad = |why| MemoryError::InvalidName(given.to_string(), why);
    let name = given.strip_suffix(".md").unwrap_or(given);
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > 1024 {
        return Err(bad("it is too long"));
    }
    if name.starts_with('/') || name.contains('\\') || name.contains(':') {
        return Err(bad("it must be a relative name inside the memory folder"));
    }
    let segments: Vec<&str> = name.split('/').collect();
    for segment in &segments {
        if segment.is_empty() {
            return Err(bad("it has an empty segment"));
        }
        if *segment == ".." || *segment == "." {
            return Err(bad("it must not contain `.` or `..`"));
        }
        if segment.starts_with('.') {
            return Err(bad("hidden names are not allowed"));
        }
        if segment.len() > 200 {
            return Err(bad("a segment is too long"));
        }
        if segment.chars().any(char::is_control) {
            return Err(bad("it contains a control character"));
        }
        if strict && !segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(bad("use letters, digits, `_` and `-`, with `/` between categories"));
        }
    }
    if name == INDEX_NOTE {
        return Err(bad("it is reserved for the generated table of contents"));
    }
    let (category, _) = name.rsplit_once('/').unwrap_or(("", name));
    Ok(NoteName { name: name.to_string(), category: category.to_string(), rel: PathBuf::from(format!("{name}.md")) })
}

/// Checks a name as [`Memory::write`] would (before asking someone to type a note's text).
pub fn check_note_name(name: &str) -> Result<(), MemoryError> {
    check_name(name, true).map(drop)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Unix seconds of a front matter date (RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`).
fn parse_date(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp())
}

/// The first `# ` heading of the body, else the front matter title, else the last name segment.
fn title_of(meta: &FrontMatter, body: &str, name: &str) -> String {
    if let Some(t) = &meta.title {
        return t.clone();
    }
    for line in body.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            let h = h.trim();
            if !h.is_empty() {
                return h.to_string();
            }
        }
    }
    name.rsplit('/').next().unwrap_or(name).to_string()
}

/// The index entry for a note's text; the second value is why its front matter could not
/// be read, when it could not.
fn entry_for(note: &NoteName, text: &str, mtime: i64, size: i64) -> (Entry, Option<String>) {
    let parsed = frontmatter::parse(text);
    let meta = parsed.meta;
    let changed = meta.updated.as_deref().and_then(parse_date).unwrap_or(mtime / 1_000_000_000);
    let warning = parsed.error;
    let entry = Entry {
        name: note.name.clone(),
        category: note.category.clone(),
        path: note.rel.to_string_lossy().into_owned(),
        mtime,
        size,
        title: title_of(&meta, parsed.body, &note.name),
        summary: meta.summary.clone().unwrap_or_default(),
        keywords: meta.keywords.clone(),
        created: meta.created.clone(),
        updated: meta.updated.clone(),
        injection: meta.injection.clone(),
        changed,
        body: parsed.body.to_string(),
        embed: meta.embed.unwrap_or(true),
        body_line: body_first_line(text, parsed.body),
    };
    (entry, warning)
}

/// The line number (from 1) at which `body`, a suffix of `text`, starts.
fn body_first_line(text: &str, body: &str) -> u32 {
    let before = &text[..text.len().saturating_sub(body.len())];
    u32::try_from(before.matches('\n').count()).unwrap_or(u32::MAX - 1) + 1
}

/// Escapes text for one cell of a markdown table.
fn cell(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// A handle on the memory of one Pyra home. Each handle has its own SQLite connection;
/// several handles (threads, processes) may write at once.
pub struct Memory {
    dir: PathBuf,
    index: Index,
    /// The vector arm; `None`: bm25 alone, exactly as without embeddings.
    vectors: Option<VectorSettings>,
    /// The in-memory copy of the vectors, reloaded when the index's generation moves.
    loaded: Mutex<Option<hybrid::Loaded>>,
    /// The paused vector arm was reported (once per handle is enough).
    paused_told: std::sync::atomic::AtomicBool,
    /// Warnings not yet reported (permissions fixed by `open` or a write); the next
    /// reconcile reports them, or [`Memory::take_warnings`] hands them over.
    notices: Mutex<Vec<String>>,
}

/// What a scan of the files says the index needs (see [`Memory::sync`]).
struct Plan {
    report: ReconcileReport,
    /// Folders made owner-only by the scan (already done, whatever happens next).
    fixed: Vec<String>,
    changes: Vec<Entry>,
    gone: Vec<String>,
}

impl Memory {
    /// Opens (creating if needed) `home/memory/` and its index. It does not scan the files:
    /// call [`Memory::reconcile`] at start-up.
    pub fn open(home: &Path) -> Result<Memory, MemoryError> {
        let dir = home.join("memory");
        let fixed = store::private_dir(&dir)?;
        let index = Index::open(&dir.join(".index.db"))?;
        Ok(Memory {
            dir,
            index,
            vectors: None,
            loaded: Mutex::new(None),
            paused_told: std::sync::atomic::AtomicBool::new(false),
            notices: Mutex::new(fixed.into_iter().collect()),
        })
    }

    /// Turns the vector arm on (or off with `None`): reconciles embed new chunks, searches
    /// are hybrid.
    pub fn with_vectors(mut self, settings: Option<VectorSettings>) -> Memory {
        self.vectors = settings;
        self
    }

    /// The vector arm's settings, when it is on.
    pub fn vectors(&self) -> Option<&VectorSettings> {
        self.vectors.as_ref()
    }

    /// Chunks in the index, and chunks with a vector of the configured model (for `pyra
    /// memory status`-like reports and tests).
    pub fn vector_counts(&self) -> Result<(usize, usize), MemoryError> {
        let conn = self.index.conn();
        let chunks: i64 = conn.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))?;
        let key = self.vectors.as_ref().map(|v| v.embedder.identity().key()).unwrap_or_default();
        let with: i64 = conn.query_row(
            "SELECT count(*) FROM chunks c WHERE EXISTS (SELECT 1 FROM embed_cache e WHERE e.model = ?1 AND e.hash = c.hash)",
            [key],
            |r| r.get(0),
        )?;
        Ok((usize::try_from(chunks).unwrap_or(0), usize::try_from(with).unwrap_or(0)))
    }

    /// Warnings gathered since the last reconcile (permissions fixed on the way), for
    /// callers that write without reconciling.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn notice(&self, warning: Option<String>) {
        if let Some(w) = warning {
            self.notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(w);
        }
    }

    /// The memory folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Refuses paths that pass through a symbolic link (it could lead outside the folder).
    fn path_of(&self, note: &NoteName) -> Result<PathBuf, MemoryError> {
        let mut path = self.dir.clone();
        for component in note.rel.components() {
            path.push(component);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(MemoryError::InvalidName(note.name.clone(), "it passes through a symbolic link"));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(self.dir.join(&note.rel))
    }

    fn read_text(&self, note: &NoteName, path: &Path) -> Result<Option<String>, MemoryError> {
        match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| MemoryError::NotUtf8(note.name.clone(), path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(MemoryError::Io(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Writes `text` atomically and indexes it.
    fn store(&self, note: &NoteName, path: &Path, text: &str) -> Result<(), MemoryError> {
        if let Some(parent) = path.parent() {
            self.notice(store::private_dir(parent)?);
        }
        store::write_atomic(path, text.as_bytes())?;
        let meta =
            std::fs::metadata(path).map_err(|e| MemoryError::Io(format!("cannot stat {}: {e}", path.display())))?;
        let size = i64::try_from(meta.len()).unwrap_or(i64::MAX);
        let (entry, _) = entry_for(note, text, store::mtime_ns(&meta), size);
        self.index.transaction(|conn| index::upsert(conn, &entry))
    }

    /// Reads a note.
    pub fn read(&self, name: &str) -> Result<Note, MemoryError> {
        let note = check_name(name, false)?;
        let path = self.path_of(&note)?;
        let text = self.read_text(&note, &path)?.ok_or_else(|| MemoryError::NotFound(note.name.clone()))?;
        let parsed = frontmatter::parse(&text);
        Ok(Note {
            title: title_of(&parsed.meta, parsed.body, &note.name),
            body: parsed.body.to_string(),
            meta: parsed.meta,
            name: note.name,
            category: note.category,
            text: text.clone(),
        })
    }

    /// Creates or replaces a note. `content` may carry its own front matter; `summary` and
    /// non-empty `keywords` override it. `created` is kept from the note being replaced.
    /// Front matter that is not valid YAML is refused (writing the note without it would
    /// lose it), and so is replacing a file that is not UTF-8 text (it may be the user's).
    pub fn write(
        &self,
        name: &str,
        content: &str,
        summary: Option<&str>,
        keywords: &[String],
    ) -> Result<(), MemoryError> {
        self.write_flagged(name, content, summary, keywords, &[])
    }

    /// [`Memory::write`], recording `injection` (categories of prompt-injection findings in
    /// `content`) in the note's front matter, where search hits and reads report them.
    pub fn write_flagged(
        &self,
        name: &str,
        content: &str,
        summary: Option<&str>,
        keywords: &[String],
        injection: &[String],
    ) -> Result<(), MemoryError> {
        let note = check_name(name, true)?;
        let _lock = store::lock(&self.dir)?;
        let path = self.path_of(&note)?;
        let old_created = self.read_text(&note, &path)?.and_then(|old| frontmatter::parse(&old).meta.created);
        let parsed = frontmatter::parse(content);
        if let Some(e) = parsed.error {
            return Err(MemoryError::FrontMatter(note.name, e));
        }
        let mut meta = parsed.meta;
        if let Some(s) = summary {
            meta.summary = Some(s.trim().to_string()).filter(|s| !s.is_empty());
        }
        if !keywords.is_empty() {
            meta.keywords = keywords.iter().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
        }
        let stamp = now();
        meta.created = old_created.or(meta.created).or_else(|| Some(stamp.clone()));
        meta.updated = Some(stamp);
        for c in injection {
            if !meta.injection.contains(c) {
                meta.injection.push(c.clone());
            }
        }
        let mut body = parsed.body.to_string();
        if !body.is_empty() && !body.ends_with('\n') {
            body.push('\n');
        }
        self.store(&note, &path, &frontmatter::render(&meta, &body))?;
        self.write_toc()
    }

    /// Appends `text` (as its own line or lines) to a note, creating it if needed. Appends
    /// from several handles or processes are serialised by the lock and lose nothing.
    pub fn append(&self, name: &str, text: &str) -> Result<(), MemoryError> {
        self.append_flagged(name, text, &[])
    }

    /// [`Memory::append`], adding `injection` (categories of prompt-injection findings in
    /// `text`) to the note's front matter.
    pub fn append_flagged(&self, name: &str, text: &str, injection: &[String]) -> Result<(), MemoryError> {
        let note = check_name(name, true)?;
        let _lock = store::lock(&self.dir)?;
        let path = self.path_of(&note)?;
        let stamp = now();
        let existing = self.read_text(&note, &path)?;
        let is_new = existing.is_none();
        let mut body = existing.unwrap_or_default();
        if !body.is_empty() && !body.ends_with('\n') {
            body.push('\n');
        }
        body.push_str(text);
        if !body.ends_with('\n') {
            body.push('\n');
        }
        let updated = frontmatter::touch(&body, &stamp, injection);
        self.store(&note, &path, &updated)?;
        if is_new { self.write_toc() } else { Ok(()) }
    }

    /// Deletes a note and drops it from the index.
    pub fn remove(&self, name: &str) -> Result<(), MemoryError> {
        let note = check_name(name, false)?;
        let _lock = store::lock(&self.dir)?;
        let path = self.path_of(&note)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.index.transaction(|conn| index::delete(conn, &note.name))?;
                return Err(MemoryError::NotFound(note.name));
            }
            Err(e) => return Err(MemoryError::Io(format!("cannot remove {}: {e}", path.display()))),
        }
        // Drop category folders left empty (fails harmlessly when they are not).
        let mut parent = path.parent();
        while let Some(dir) = parent {
            if dir == self.dir || std::fs::remove_dir(dir).is_err() {
                break;
            }
            parent = dir.parent();
        }
        self.index.transaction(|conn| index::delete(conn, &note.name))?;
        self.write_toc()
    }

    /// Every indexed note, by category then name.
    pub fn list(&self) -> Result<Vec<NoteInfo>, MemoryError> {
        self.index.list()
    }

    /// Ranked search. The bm25 arm: every term must match; when that finds nothing and there
    /// are several terms, any term may. With the vector arm on, its ranking is fused with
    /// bm25's (`hybrid.rs`); when it cannot run (a changed model, a failed query embedding)
    /// the search is bm25 alone and the reason waits in [`Memory::take_warnings`]. An empty
    /// query returns no hits.
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<Hit>, MemoryError> {
        let parsed = Query::parse(query);
        let limit = opts.limit.min(MAX_LIMIT);
        if parsed.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let category = opts.category.as_deref().map(|c| c.trim_matches('/')).filter(|c| !c.is_empty());
        let since = opts.since.map(|t| t.timestamp());
        let Some(settings) = &self.vectors else {
            let (expr, ranked, _) = self.bm25(&parsed, category, since, limit)?;
            let ranked: Vec<_> = ranked.into_iter().enumerate().map(|(i, (id, r))| (id, r, i + 1)).collect();
            return Ok(match expr {
                Some(expr) => self.index.hits(&expr, &ranked)?.into_iter().map(|(_, h)| h).collect(),
                None => Vec::new(),
            });
        };
        self.hybrid(settings, query, &parsed, category, since, limit)
    }

    /// The bm25 arm: the FTS5 expression that matched (for snippets) and the ranked (rowid,
    /// bm25) pairs. Every term must match; when that finds nothing and there are several
    /// terms, any term may (the third value says so: such a ranking is weaker evidence).
    pub(crate) fn bm25(
        &self,
        parsed: &Query,
        category: Option<&str>,
        since: Option<i64>,
        limit: usize,
    ) -> Result<hybrid::Bm25Arm, MemoryError> {
        let Some(all) = parsed.to_fts(Join::All) else { return Ok((None, Vec::new(), false)) };
        let ranked = self.index.rank_ids(&all, category, since, limit)?;
        if !ranked.is_empty() || parsed.terms.len() < 2 {
            return Ok((Some(all), ranked, false));
        }
        let Some(any) = parsed.to_fts(Join::Any) else { return Ok((Some(all), ranked, false)) };
        let ranked = self.index.rank_ids(&any, category, since, limit)?;
        Ok((Some(any), ranked, true))
    }

    /// Brings the index up to date with the files: re-indexes new and changed files (by
    /// mtime and size), drops the ones that are gone, skips non-UTF-8 files with a warning.
    pub fn reconcile(&self) -> Result<ReconcileReport, MemoryError> {
        self.sync(false)
    }

    /// Rebuilds the whole index from the files.
    pub fn reindex(&self) -> Result<ReconcileReport, MemoryError> {
        self.sync(true)
    }

    fn sync(&self, full: bool) -> Result<ReconcileReport, MemoryError> {
        let mut warnings = self.take_warnings();
        if !full {
            // Nearly every call (each command, each `memory.search`) finds nothing changed:
            // compare without the writers' lock so that readers never queue behind a writer.
            // A file being written shows as a change, and the comparison is redone under
            // the lock before anything is applied.
            let mut plan = self.plan(false)?;
            warnings.append(&mut plan.fixed);
            if plan.changes.is_empty() && plan.gone.is_empty() {
                let mut report = plan.report;
                self.embed(false, &mut report)?;
                warnings.append(&mut report.warnings);
                report.warnings = warnings;
                return Ok(report);
            }
        }
        let lock = store::lock(&self.dir)?;
        let Plan { mut report, mut fixed, changes, gone } = self.plan(full)?;
        warnings.append(&mut fixed);
        if full || !changes.is_empty() || !gone.is_empty() {
            self.index.transaction(|conn| {
                if full {
                    index::clear(conn)?;
                }
                for name in &gone {
                    index::delete(conn, name)?;
                }
                index::upsert_all(conn, &changes)?;
                // A bulk load (a rebuild, or a first reconcile of an existing folder)
                // leaves many segments; merged, a prefix query reads one.
                if full || changes.len() >= OPTIMIZE_FROM {
                    index::optimize(conn)?;
                }
                Ok(())
            })?;
            self.write_toc()?;
        }
        drop(lock);
        self.embed(full, &mut report)?;
        warnings.append(&mut report.warnings);
        report.warnings = warnings;
        Ok(report)
    }

    /// Embeds the chunks waiting for vectors, when the vector arm is on and the index's
    /// vectors belong to its model (`full`, a reindex, takes the configured model on).
    /// An embedder that fails leaves the rest for the next reconcile, with a warning: the
    /// notes stay searchable by bm25.
    fn embed(&self, full: bool, report: &mut ReconcileReport) -> Result<(), MemoryError> {
        let Some(settings) = &self.vectors else { return Ok(()) };
        let identity = settings.embedder.identity();
        let (stored, _, dirty) = vectors::meta(self.index.conn())?;
        if !full && !dirty && stored == identity.key() {
            return Ok(());
        }
        if !self.index.transaction(|conn| vectors::check_identity(conn, identity, full))? {
            if !self.paused_told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                report.warnings.push(vectors::paused_warning(&stored, identity));
            }
            return Ok(());
        }
        match vectors::embed_pending(&self.index, settings) {
            Ok(done) => report.embedded += done.texts,
            Err(vectors::EmbedFailure::Index(e)) => return Err(e),
            Err(vectors::EmbedFailure::Embedder(e)) => report.warnings.push(format!(
                "notes could not be embedded ({e}); search uses bm25 for them until the next reconcile succeeds"
            )),
        }
        Ok(())
    }

    /// Compares the files with the index (all of them when `full`) and reads the ones
    /// that changed; changes nothing.
    fn plan(&self, full: bool) -> Result<Plan, MemoryError> {
        let scan = store::scan(&self.dir)?;
        let mut report = ReconcileReport {
            scanned: scan.found.len() + scan.skipped,
            skipped: scan.skipped,
            warnings: scan.warnings,
            ..Default::default()
        };
        let mut known = if full { Default::default() } else { self.index.known()? };
        let mut changes = Vec::new();
        let mut unreadable = Vec::new();
        for f in scan.found {
            let previous = known.remove(&f.name);
            if previous == Some((f.mtime, f.size)) {
                continue;
            }
            let note = match check_name(&f.name, false) {
                Ok(note) => note,
                Err(e) => {
                    report.skipped += 1;
                    report.warnings.push(format!("skipped {}: {e}", f.path.display()));
                    continue;
                }
            };
            let text = match std::fs::read(&f.path).map(String::from_utf8) {
                Ok(Ok(text)) => text,
                Ok(Err(_)) => {
                    report.skipped += 1;
                    report
                        .warnings
                        .push(format!("skipped {}: not UTF-8 text\n  help: {NOT_UTF8_HELP}", f.path.display()));
                    if previous.is_some() {
                        unreadable.push(note.name);
                    }
                    continue;
                }
                Err(e) => {
                    report.skipped += 1;
                    report.warnings.push(format!("skipped {}: {e}", f.path.display()));
                    continue;
                }
            };
            let (entry, error) = entry_for(&note, &text, f.mtime, f.size);
            if let Some(e) = error {
                report.warnings.push(format!(
                    "{}: {e}; indexed without its summary and keywords\n  help: {FRONT_MATTER_HELP}",
                    f.path.display()
                ));
            }
            if previous.is_some() {
                report.updated += 1;
            } else {
                report.added += 1;
            }
            changes.push(entry);
        }
        let gone: Vec<String> = known.into_keys().chain(unreadable).collect();
        report.removed = gone.len();
        Ok(Plan { report, fixed: scan.fixed, changes, gone })
    }

    /// Regenerates `MEMORY_INDEX.md` from the index (only when its text changes).
    fn write_toc(&self) -> Result<(), MemoryError> {
        let notes = self.index.list()?;
        let mut out = String::from(
            "# Memory index\n\nGenerated by Pyra from the notes in this folder; edits here are overwritten.\n\n",
        );
        if notes.is_empty() {
            out.push_str("No notes yet.\n");
        } else {
            out.push_str("| Category | Note | Summary |\n|---|---|---|\n");
            for n in &notes {
                let category = if n.category.is_empty() { "-".to_string() } else { cell(&n.category) };
                let summary = if n.summary.is_empty() { cell(&n.title) } else { cell(&n.summary) };
                let link = n.name.replace(' ', "%20");
                out.push_str(&format!("| {category} | [{}]({link}.md) | {summary} |\n", cell(&n.name)));
            }
        }
        let path = self.dir.join(format!("{INDEX_NOTE}.md"));
        if std::fs::read_to_string(&path).is_ok_and(|old| old == out) {
            return Ok(());
        }
        store::write_atomic(&path, out.as_bytes())
    }
}

#[cfg(test)]
mod hybrid_tests;
#[cfg(test)]
mod tests;
