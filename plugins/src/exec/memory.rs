//! Executors for the memory kinds: `memory.search`, `memory.read`, `memory.write`,
//! `memory.append`, over `memory` (markdown notes under `$PYRA_HOME/memory` with
//! an FTS5 index). What comes back from memory is untrusted (it may hold web content);
//! content, summary and keywords rendered from untrusted data are scanned for injection
//! before they are written. Memory's warnings (a file skipped, a permission fixed, the
//! vector arm paused or off) go to the run's log. With `memory.embeddings` configured the
//! search is hybrid (`matched` says which arm found a hit); the embedder's API key comes
//! from the vault like a model's.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use memory::{Memory, SearchOptions};
use runtime::{BoxFuture, Executor, LogLevel, NodeCtx, NodeError, Outcome, Output};
use serde_json::{Value, json};

fn field<'a>(with: &'a Value, name: &str) -> &'a str {
    with.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// `name`, or `category/name` when a category is given.
fn note_name(with: &Value) -> String {
    match with.get("category").and_then(Value::as_str).filter(|c| !c.is_empty()) {
        Some(category) => format!("{}/{}", category.trim_matches('/'), field(with, "name")),
        None => field(with, "name").to_string(),
    }
}

/// The vector arm `config.yaml`'s `memory.embeddings` describes for `home`, or `None` with
/// the reason as a warning: memory search then stays bm25 alone, as without embeddings
/// (an invalid config.yaml or an embedder that cannot be built must not stop a search).
pub(crate) fn vectors_for(
    home: &std::path::Path,
    read_key: impl FnOnce(&str) -> Result<secrecy::SecretString, String>,
) -> (Option<memory::VectorSettings>, Option<String>) {
    let config = match config::Config::load(home) {
        Ok(c) => c,
        // Without a `memory:` section memory never read config.yaml (as before embeddings).
        Err(_) if !embed::configures_memory(home) => return (None, None),
        Err(e) => return (None, Some(format!("memory search uses bm25 alone: {}", e.render(false)))),
    };
    match embed::for_home(&config, home, read_key) {
        Ok(settings) => (settings, None),
        Err(e) => (None, Some(format!("memory search uses bm25 alone: {e}"))),
    }
}

/// A memory handle shared by the nodes of this process.
type Shared = Arc<Mutex<Memory>>;

/// The memory of the run's home, opened once per process and kept: a chat recalls every
/// turn, and opening the index anew each time would create and delete its WAL files each
/// time (on ext4, most of what a turn costs before its request leaves).
fn open(ctx: &NodeCtx) -> Result<Shared, NodeError> {
    static OPEN: OnceLock<Mutex<Vec<(PathBuf, Shared)>>> = OnceLock::new();
    let home = ctx.home().ok_or_else(|| NodeError::Fatal("this runtime has no memory".into()))?;
    let mut open = OPEN.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, memory)) = open.iter().find(|(h, _)| h == home) {
        return Ok(memory.clone());
    }
    let (vectors, warning) = vectors_for(home, |name| ctx.provider_key(name).map_err(|e| e.message()));
    if let Some(w) = warning {
        ctx.log(LogLevel::Warn, w);
    }
    let memory =
        Arc::new(Mutex::new(Memory::open(home).map_err(|e| NodeError::Fatal(e.to_string()))?.with_vectors(vectors)));
    open.push((home.to_path_buf(), memory.clone()));
    Ok(memory)
}

fn lock(memory: &Shared) -> std::sync::MutexGuard<'_, Memory> {
    memory.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Puts memory's warnings in the run's log (`pyra runs logs`).
fn log_warnings(ctx: &NodeCtx, warnings: &[String]) {
    for w in warnings {
        ctx.log(LogLevel::Warn, format!("memory: {w}"));
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| NodeError::Fatal(format!("internal error: {e}")))?
}

/// `memory.search`: ranked hits (name, category, title, snippet, score, injection).
pub struct Search;

impl Executor for Search {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let query = field(&with, "query").to_string();
            let since = match with.get("since").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()) {
                Some(text) => Some(
                    memory::parse_since(text, chrono::Utc::now())
                        .map_err(|e| NodeError::Fatal(format!("`with.since` {text:?} is not a date or an age: {e}")))?,
                ),
                None => None,
            };
            let options = SearchOptions {
                limit: with.get("limit").and_then(Value::as_u64).unwrap_or(5) as usize,
                category: with.get("category").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string),
                since,
            };
            if options.limit == 0 {
                // Recall turned off (`chat.recall: 0`): nothing to search, not even the files.
                return Ok(Outcome::Done(Output::untrusted(json!([]))));
            }
            let memory = open(&ctx)?;
            let (hits, warnings) = blocking(move || {
                // Notes edited outside Pyra (an editor, a sync tool) count: a cheap
                // mtime/size scan first (it takes no lock when nothing changed).
                let memory = lock(&memory);
                let mut report = memory.reconcile().map_err(|e| NodeError::Fatal(e.to_string()))?;
                let hits = memory.search(&query, &options).map_err(|e| NodeError::Fatal(e.to_string()))?;
                report.warnings.extend(memory.take_warnings());
                Ok((hits, report.warnings))
            })
            .await?;
            log_warnings(&ctx, &warnings);
            let list: Vec<Value> = hits
                .into_iter()
                .map(|h| {
                    json!({
                        "name": h.name, "category": h.category, "title": h.title, "snippet": h.snippet,
                        "score": h.score, "injection": h.injection, "matched": h.matched.as_str(),
                    })
                })
                .collect();
            Ok(Outcome::Done(Output::untrusted(Value::Array(list))))
        })
    }
}

/// `memory.read`: one note (title, summary, keywords, body, injection).
pub struct Read;

impl Executor for Read {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let memory = open(&ctx)?;
            let name = note_name(&with);
            let note = blocking(move || lock(&memory).read(&name).map_err(|e| NodeError::Fatal(e.to_string()))).await?;
            Ok(Outcome::Done(Output::untrusted(json!({
                "name": note.name,
                "category": note.category,
                "title": note.title,
                "summary": note.meta.summary,
                "keywords": note.meta.keywords,
                "body": note.body,
                "injection": note.meta.injection,
            }))))
        })
    }
}

/// `memory.write` and `memory.append`.
pub struct Write {
    pub append: bool,
}

impl Executor for Write {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        let append = self.append;
        Box::pin(async move {
            let content = field(&with, "content").to_string();
            let summary = with.get("summary").and_then(Value::as_str).map(str::to_string);
            let keywords: Vec<String> = with
                .get("keywords")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            // Untrusted text (from the web, a file, a model) is checked before it lands in
            // memory, where later prompts would read it: the summary and keywords too, as
            // searches and the table of contents show them. Findings that do not block the
            // write are recorded with the note.
            let mut untrusted: Vec<(&str, String)> = Vec::new();
            if !ctx.tainted_under("/content").is_empty() {
                untrusted.push(("content written to memory", content.clone()));
            }
            if let Some(summary) = summary.as_ref().filter(|_| !ctx.tainted_under("/summary").is_empty()) {
                untrusted.push(("a note's summary written to memory", summary.clone()));
            }
            if !ctx.tainted_under("/keywords").is_empty() {
                untrusted.push(("a note's keywords written to memory", keywords.join("\n")));
            }
            let mut injection: Vec<String> = Vec::new();
            for (source, text) in &untrusted {
                for finding in ctx.scan_untrusted(source, text)? {
                    let category = finding.category.as_str().to_string();
                    if !injection.contains(&category) {
                        injection.push(category);
                    }
                }
            }
            let memory = open(&ctx)?;
            let name = note_name(&with);
            let shown = name.clone();
            let warnings = blocking(move || {
                let memory = lock(&memory);
                let result = if append {
                    memory.append_flagged(&name, &content, &injection)
                } else {
                    memory.write_flagged(&name, &content, summary.as_deref(), &keywords, &injection)
                };
                result.map(|()| memory.take_warnings()).map_err(|e| NodeError::Fatal(e.to_string()))
            })
            .await?;
            log_warnings(&ctx, &warnings);
            Ok(Outcome::Done(Output::trusted(json!({ "name": shown }))))
        })
    }
}
