//! The run store: every run, node run, log line and approval. [`SqliteStore`] is the
//! durable one (one database under `$PYRA_HOME`, WAL); [`super::memory_store::MemoryStore`]
//! keeps the same records in memory for benchmarks and embedding.
//!
//! Invariant: the scheduler calls [`Store::apply`] with a batch of changes and acts on
//! them only after it returns, so what the store says happened is never behind what did.
//! The durable store also writes one `run_events` row per change, in the change's own
//! transaction (`events.rs`), which the web UI reads with the queries of `pages.rs`.

mod events;
mod pages;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use events::Ev;
pub use events::{SPAN_RETRYING, fold_spans};

pub use super::record::*;

/// A store error: the database could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("run store: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What the scheduler, the executors and the CLI need from a run store.
pub trait Store: Send + Sync {
    fn create_run(&self, run: &RunRecord) -> StoreResult<()>;
    /// Commits a batch of changes to one run in one transaction (taken by value, so a
    /// store that keeps them need not copy).
    fn apply(&self, run_id: &str, changes: Vec<Change>) -> StoreResult<()>;
    /// Marks a run as resumed: status running, one more resume, this process's pid.
    fn resume_run(&self, run_id: &str, pid: u32) -> StoreResult<()>;
    fn run(&self, run_id: &str) -> StoreResult<Option<RunRecord>>;
    /// Runs whose id starts with `prefix` (newest first, at most 10).
    fn find_runs(&self, prefix: &str) -> StoreResult<Vec<String>>;
    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>>;
    fn nodes(&self, run_id: &str) -> StoreResult<Vec<NodeRecord>>;
    fn node_state(&self, run_id: &str, key: &str) -> StoreResult<Option<Value>>;
    fn set_node_state(&self, run_id: &str, key: &str, state: &Value) -> StoreResult<()>;
    fn log(&self, run_id: &str, node: Option<&str>, level: LogLevel, message: &str) -> StoreResult<()>;
    /// Adds items to a list field of a node (or item) record: prompt-injection findings,
    /// model-call usage.
    fn append_list(&self, run_id: &str, key: &str, field: NodeList, items: &[Value]) -> StoreResult<()>;
    fn logs(&self, run_id: &str, node: Option<&str>) -> StoreResult<Vec<LogLine>>;
    fn approval(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRecord>>;
    fn approvals(&self, run_id: &str) -> StoreResult<Vec<ApprovalRecord>>;
    fn insert_approval(&self, approval: &ApprovalRecord) -> StoreResult<()>;
    /// Answers a pending approval. Single use: returns false when it was already answered.
    fn answer_approval(
        &self,
        run_id: &str,
        key: &str,
        state: ApprovalState,
        by: &str,
        reason: Option<&str>,
    ) -> StoreResult<bool>;
    /// The child run a `skill` node started, if any.
    fn child_run(&self, parent_run: &str, parent_node: &str) -> StoreResult<Option<String>>;
    /// Records that someone asked for the run to stop.
    fn request_cancel(&self, run_id: &str) -> StoreResult<()>;
    fn cancel_requested(&self, run_id: &str) -> StoreResult<bool>;
}

/// The durable store: SQLite in WAL mode with `synchronous = NORMAL`, so a commit
/// survives the process being killed (the WAL is in the OS cache); a power cut may lose
/// the last commits but never corrupts the database.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// The database file (none in memory), to fold its WAL back when it has grown.
    path: Option<std::path::PathBuf>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        let Some(path) = &self.path else { return };
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        db::pyra::checkpoint_if_large(&conn, path);
    }
}

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn parse_json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl SqliteStore {
    /// Opens (creating with mode 0600) the database at `path`, its schema migrated
    /// ([`db::pyra`]); a database written by a newer Pyra is refused.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = db::pyra::open(path).map_err(|e| StoreError(e.to_string()))?;
        Ok(Self::init(conn, Some(path.to_path_buf())))
    }

    /// A store in an in-memory SQLite database (same SQL, no file).
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = db::pyra::open_in_memory().map_err(|e| StoreError(e.to_string()))?;
        Ok(Self::init(conn, None))
    }

    fn init(conn: Connection, path: Option<std::path::PathBuf>) -> Self {
        conn.set_prepared_statement_cache_capacity(64);
        Self { conn: Mutex::new(conn), path }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(StoreError::from)
    }

    /// Runs whose status says running but whose process is gone; see
    /// [`super::lock::RunLock`].
    pub fn running_runs(&self) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT id FROM runs WHERE status = 'running'")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Records a run and its unfinished nodes as cancelled at once (the second Ctrl-C,
    /// when there is no time to let nodes stop by themselves).
    pub fn force_cancel(&self, run_id: &str) -> StoreResult<()> {
        self.end_unfinished(run_id, RunStatus::Cancelled, NodeStatus::Cancelled, "cancelled (forced)")
    }

    /// Marks a run and its unfinished nodes as interrupted (its process died).
    pub fn mark_interrupted(&self, run_id: &str) -> StoreResult<()> {
        let why = "the process running it stopped unexpectedly";
        self.end_unfinished(run_id, RunStatus::Interrupted, NodeStatus::Interrupted, why)
    }

    /// Ends a run that is running or waiting, and its unfinished nodes, in one commit
    /// (with an event for each node it ended, then one for the run).
    fn end_unfinished(&self, run_id: &str, run: RunStatus, node: NodeStatus, why: &str) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let now = now_ms();
            let ended = tx.execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, error = ?4
                 WHERE id = ?1 AND status IN ('running', 'waiting')",
                params![run_id, run.as_str(), now, why],
            )?;
            let nodes: Vec<String> = tx
                .prepare(
                    "UPDATE node_runs SET status = ?2, finished_at = ?3, error = ?4
                     WHERE run_id = ?1 AND status IN ('running', 'waiting', 'pending') RETURNING node",
                )?
                .query_map(params![run_id, node.as_str(), now, why], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for key in &nodes {
                let ev = Ev::node(EventKind::NodeFinished, key, node.as_str()).detail(Some(why));
                events::write(&tx, run_id, now, &ev)?;
            }
            if ended == 1 {
                events::write(&tx, run_id, now, &Ev::run(run.as_str()).detail(Some(why)))?;
            }
            tx.commit()
        })
    }
}

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = r.get("status")?;
    Ok(RunRecord {
        id: r.get("id")?,
        skill: r.get("skill")?,
        source_path: r.get("source_path")?,
        source: r.get("source")?,
        inputs: parse_json(r.get("inputs")?).unwrap_or(Value::Null),
        untrusted_inputs: r.get("untrusted_inputs")?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        error: r.get("error")?,
        outputs: parse_json(r.get("outputs")?),
        parent_run: r.get("parent_run")?,
        parent_node: r.get("parent_node")?,
        created_at: r.get("created_at")?,
        finished_at: r.get("finished_at")?,
        pid: r.get("pid")?,
        resumes: r.get("resumes")?,
        started_by: r.get("started_by")?,
        scheduled_for: r.get("scheduled_for")?,
    })
}

fn node_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NodeRecord> {
    let status: String = r.get("status")?;
    Ok(NodeRecord {
        node: r.get("node")?,
        status: NodeStatus::parse(&status).unwrap_or(NodeStatus::Failed),
        attempts: r.get("attempts")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
        input: parse_json(r.get("input")?),
        output: parse_json(r.get("output")?),
        error: r.get("error")?,
        untrusted: r.get("untrusted")?,
        state: parse_json(r.get("state")?),
        findings: parse_json(r.get("findings")?),
        usage: parse_json(r.get("usage")?),
    })
}

fn approval_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRecord> {
    let parse_state = |s: String| ApprovalState::parse(&s).unwrap_or(ApprovalState::Rejected);
    Ok(ApprovalRecord {
        run_id: r.get("run_id")?,
        node: r.get("node")?,
        message: r.get("message")?,
        details: parse_json(r.get("details")?),
        created_at: r.get("created_at")?,
        deadline: r.get("deadline")?,
        on_timeout: parse_state(r.get("on_timeout")?),
        state: parse_state(r.get("state")?),
        answered_by: r.get("answered_by")?,
        reason: r.get("reason")?,
        answered_at: r.get("answered_at")?,
    })
}

const UPSERT_STARTED: &str = "INSERT INTO node_runs (run_id, node, status, attempts, started_at, input)
     VALUES (?1, ?2, 'running', ?3, ?4, ?5)
     ON CONFLICT(run_id, node) DO UPDATE SET status = 'running', attempts = ?3, started_at = ?4, input = ?5,
         finished_at = NULL, output = NULL, error = NULL";

fn apply_change(tx: &rusqlite::Transaction<'_>, run_id: &str, change: &Change, now: i64) -> rusqlite::Result<()> {
    events::write(tx, run_id, now, &Ev::of_change(change))?;
    match change {
        Change::RunStatus { status, error, outputs } => {
            let finished = if status.is_final() { Some(now) } else { None };
            tx.prepare_cached("UPDATE runs SET status = ?2, error = ?3, outputs = ?4, finished_at = ?5 WHERE id = ?1")?
                .execute(params![run_id, status.as_str(), error, outputs.as_ref().map(json_text), finished])?;
        }
        Change::NodeStarted { node, attempt, input } => {
            tx.prepare_cached(UPSERT_STARTED)?.execute(params![run_id, node, attempt, now, json_text(input)])?;
        }
        Change::NodeRetrying { node, attempt, error } => {
            tx.prepare_cached("UPDATE node_runs SET attempts = ?3, error = ?4 WHERE run_id = ?1 AND node = ?2")?
                .execute(params![run_id, node, attempt, error])?;
        }
        Change::NodeWaiting { node, reason } => {
            tx.prepare_cached("UPDATE node_runs SET status = 'waiting', error = ?3 WHERE run_id = ?1 AND node = ?2")?
                .execute(params![run_id, node, reason])?;
        }
        Change::NodeFinished { node, status, output, error, untrusted } => {
            tx.prepare_cached(
                "UPDATE node_runs SET status = ?3, output = ?4, error = ?5, untrusted = ?6, finished_at = ?7
                 WHERE run_id = ?1 AND node = ?2",
            )?
            .execute(params![
                run_id,
                node,
                status.as_str(),
                output.as_ref().map(json_text),
                error,
                untrusted,
                now
            ])?;
        }
        Change::NodeSkipped { node, reason } => {
            tx.prepare_cached(
                "INSERT INTO node_runs (run_id, node, status, started_at, finished_at, error)
                 VALUES (?1, ?2, 'skipped', ?3, ?3, ?4)
                 ON CONFLICT(run_id, node) DO UPDATE SET status = 'skipped', started_at = ?3, finished_at = ?3,
                     error = ?4, output = NULL, input = NULL, attempts = 0",
            )?
            .execute(params![run_id, node, now, reason])?;
        }
        Change::NodeReset { node, forget: false } => {
            tx.prepare_cached(
                "UPDATE node_runs SET status = 'pending', output = NULL, finished_at = NULL WHERE run_id = ?1 AND node = ?2",
            )?
            .execute(params![run_id, node])?;
        }
        Change::NodeReset { node, forget: true } => {
            tx.prepare_cached("DELETE FROM node_runs WHERE run_id = ?1 AND (node = ?2 OR node LIKE ?2 || '[%')")?
                .execute(params![run_id, node])?;
            tx.prepare_cached("DELETE FROM approvals WHERE run_id = ?1 AND (node = ?2 OR node LIKE ?2 || '[%')")?
                .execute(params![run_id, node])?;
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn create_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "INSERT INTO runs (id, skill, source_path, source, inputs, status, parent_run, parent_node, created_at,
                     pid, untrusted_inputs, started_by, scheduled_for)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                run.id,
                run.skill,
                run.source_path,
                run.source,
                json_text(&run.inputs),
                run.status.as_str(),
                run.parent_run,
                run.parent_node,
                run.created_at,
                run.pid,
                run.untrusted_inputs,
                run.started_by,
                run.scheduled_for
            ])?;
            events::write(&tx, &run.id, run.created_at, &Ev::run(run.status.as_str()))?;
            tx.commit()
        })
    }

    fn apply(&self, run_id: &str, changes: Vec<Change>) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            let now = now_ms();
            for change in &changes {
                apply_change(&tx, run_id, change, now)?;
            }
            tx.commit()
        })
    }

    fn resume_run(&self, run_id: &str, pid: u32) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let resumed = tx.execute(
                "UPDATE runs SET status = 'running', resumes = resumes + 1, pid = ?2, finished_at = NULL, error = NULL,
                 cancel_requested = 0 WHERE id = ?1",
                params![run_id, pid],
            )?;
            if resumed == 1 {
                let ev = Ev::run(RunStatus::Running.as_str()).detail(Some("resumed"));
                events::write(&tx, run_id, now_ms(), &ev)?;
            }
            tx.commit()
        })
    }

    fn run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        self.with(|c| {
            c.prepare_cached("SELECT * FROM runs WHERE id = ?1")?.query_row([run_id], run_from_row).optional()
        })
    }

    fn find_runs(&self, prefix: &str) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT id FROM runs WHERE id >= ?1 AND id < ?1 || x'ff' ORDER BY created_at DESC LIMIT 10")?;
            let rows = stmt.query_map([prefix], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT * FROM runs WHERE (?1 IS NULL OR skill = ?1) AND (?2 IS NULL OR status = ?2)
                 AND (?3 IS NULL OR created_at >= ?3) ORDER BY created_at DESC, id DESC LIMIT ?4",
            )?;
            let limit = filter.limit.map_or(-1, |l| l as i64);
            let rows = stmt.query_map(
                params![filter.skill, filter.status.map(RunStatus::as_str), filter.since, limit],
                run_from_row,
            )?;
            rows.collect()
        })
    }

    fn nodes(&self, run_id: &str) -> StoreResult<Vec<NodeRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT * FROM node_runs WHERE run_id = ?1 ORDER BY started_at, node")?;
            let rows = stmt.query_map([run_id], node_from_row)?;
            rows.collect()
        })
    }

    fn node_state(&self, run_id: &str, key: &str) -> StoreResult<Option<Value>> {
        self.with(|c| {
            c.prepare_cached("SELECT state FROM node_runs WHERE run_id = ?1 AND node = ?2")?
                .query_row([run_id, key], |r| r.get::<_, Option<String>>(0))
                .optional()
                .map(|s| parse_json(s.flatten()))
        })
    }

    fn set_node_state(&self, run_id: &str, key: &str, state: &Value) -> StoreResult<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO node_runs (run_id, node, status, state)
                 VALUES (?1, ?2, 'running', ?3)
                 ON CONFLICT(run_id, node) DO UPDATE SET state = ?3",
            )?
            .execute(params![run_id, key, json_text(state)])
            .map(drop)
        })
    }

    fn log(&self, run_id: &str, node: Option<&str>, level: LogLevel, message: &str) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let now = now_ms();
            tx.prepare_cached("INSERT INTO logs (run_id, node, at, level, message) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![run_id, node, now, level.as_str(), message])?;
            let ev =
                Ev { kind: EventKind::Log, node, attempt: None, status: Some(level.as_str()), detail: Some(message) };
            events::write(&tx, run_id, now, &ev)?;
            tx.commit()
        })
    }

    fn append_list(&self, run_id: &str, key: &str, field: NodeList, items: &[Value]) -> StoreResult<()> {
        let column = field.column();
        self.with(|c| {
            let tx = c.transaction()?;
            let existing: Option<String> = tx
                .query_row(
                    &format!("SELECT {column} FROM node_runs WHERE run_id = ?1 AND node = ?2"),
                    [run_id, key],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let mut all: Vec<Value> = parse_json(existing).and_then(|v| v.as_array().cloned()).unwrap_or_default();
            all.extend(items.iter().cloned());
            tx.execute(
                &format!(
                    "INSERT INTO node_runs (run_id, node, status, {column}) VALUES (?1, ?2, 'running', ?3)
                     ON CONFLICT(run_id, node) DO UPDATE SET {column} = ?3"
                ),
                params![run_id, key, json_text(&Value::Array(all))],
            )?;
            tx.commit()
        })
    }

    fn logs(&self, run_id: &str, node: Option<&str>) -> StoreResult<Vec<LogLine>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT at, node, level, message FROM logs WHERE run_id = ?1
                 AND (?2 IS NULL OR node = ?2 OR node LIKE ?2 || '[%') ORDER BY id",
            )?;
            let rows = stmt.query_map(params![run_id, node], |r| {
                let level: String = r.get(2)?;
                Ok(LogLine {
                    at: r.get(0)?,
                    node: r.get(1)?,
                    level: LogLevel::parse(&level).unwrap_or(LogLevel::Info),
                    message: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn approval(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRecord>> {
        self.with(|c| {
            c.prepare_cached("SELECT * FROM approvals WHERE run_id = ?1 AND node = ?2")?
                .query_row([run_id, key], approval_from_row)
                .optional()
        })
    }

    fn approvals(&self, run_id: &str) -> StoreResult<Vec<ApprovalRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT * FROM approvals WHERE run_id = ?1 ORDER BY created_at")?;
            let rows = stmt.query_map([run_id], approval_from_row)?;
            rows.collect()
        })
    }

    fn insert_approval(&self, a: &ApprovalRecord) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO approvals (run_id, node, message, details, created_at, deadline, on_timeout, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(run_id, node) DO NOTHING",
                params![
                    a.run_id,
                    a.node,
                    a.message,
                    a.details.as_ref().map(json_text),
                    a.created_at,
                    a.deadline,
                    a.on_timeout.as_str(),
                    a.state.as_str()
                ],
            )?;
            // Asked again (a resumed node asks once more): the first question stands.
            if inserted == 1 {
                let ev = Ev::node(EventKind::Approval, &a.node, a.state.as_str());
                events::write(&tx, &a.run_id, a.created_at, &ev)?;
            }
            tx.commit()
        })
    }

    fn answer_approval(
        &self,
        run_id: &str,
        key: &str,
        state: ApprovalState,
        by: &str,
        reason: Option<&str>,
    ) -> StoreResult<bool> {
        self.with(|c| {
            let tx = c.transaction()?;
            let now = now_ms();
            let n = tx.execute(
                "UPDATE approvals SET state = ?3, answered_by = ?4, reason = ?5, answered_at = ?6
                 WHERE run_id = ?1 AND node = ?2 AND state = 'pending'",
                params![run_id, key, state.as_str(), by, reason, now],
            )?;
            if n == 1 {
                let ev = Ev::node(EventKind::Approval, key, state.as_str()).detail(Some(by));
                events::write(&tx, run_id, now, &ev)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn child_run(&self, parent_run: &str, parent_node: &str) -> StoreResult<Option<String>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id FROM runs WHERE parent_run IS NOT NULL AND parent_run = ?1 AND parent_node = ?2
                 ORDER BY created_at DESC LIMIT 1",
            )?
            .query_row([parent_run, parent_node], |r| r.get(0))
            .optional()
        })
    }

    fn request_cancel(&self, run_id: &str) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            // `cancel_requested = 0`: a second request changes nothing, so it writes no event.
            let status: Option<String> = tx
                .query_row(
                    "UPDATE runs SET cancel_requested = 1 WHERE id = ?1 AND cancel_requested = 0 RETURNING status",
                    [run_id],
                    |r| r.get(0),
                )
                .optional()?;
            // Only a run that can still stop is `cancelling`; an ended one keeps its status.
            if status.and_then(|s| RunStatus::parse(&s)).is_some_and(|s| !s.is_final()) {
                events::write(&tx, run_id, now_ms(), &Ev::run("cancelling"))?;
            }
            tx.commit()
        })
    }

    fn cancel_requested(&self, run_id: &str) -> StoreResult<bool> {
        self.with(|c| {
            c.prepare_cached("SELECT cancel_requested FROM runs WHERE id = ?1")?
                .query_row([run_id], |r| r.get::<_, bool>(0))
                .optional()
                .map(|v| v.unwrap_or(false))
        })
    }
}
