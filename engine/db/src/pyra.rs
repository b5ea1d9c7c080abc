//! `pyra.db`: the runs (with their nodes, logs and approvals) and the chat conversations,
//! in one SQLite file under the home, opened by [`open`] in WAL mode and migrated through
//! [`STEPS`].
//!
//! Steps are only ever appended. Steps 1 to 4 are the schema versions the run store wrote
//! before this list existed (its hand-written `ALTER TABLE` checks); step 5 adds the chat
//! tables, which earlier versions created beside them without a version of their own
//! (hence `IF NOT EXISTS`); step 6 adds what the daemon records: what started a run, the
//! cron triggers it armed, one row per slot, and the events it delivers. `tests/fixtures/db/` holds a database of every earlier
//! version, made with that version's own schema SQL, and a test opens each.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::{MigrateError, Step};

/// How long a connection waits for another one's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema of `pyra.db`, oldest first.
pub const STEPS: &[Step] = &[
    Step {
        summary: "runs, node_runs, logs, approvals",
        sql: r"
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    skill TEXT NOT NULL,
    source_path TEXT,
    source TEXT NOT NULL,
    inputs TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    outputs TEXT,
    parent_run TEXT,
    parent_node TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    pid INTEGER,
    resumes INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
CREATE TABLE IF NOT EXISTS node_runs (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER,
    finished_at INTEGER,
    input TEXT,
    output TEXT,
    error TEXT,
    untrusted INTEGER NOT NULL DEFAULT 0,
    state TEXT,
    PRIMARY KEY (run_id, node)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    node TEXT,
    at INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_run ON logs(run_id, id);
CREATE TABLE IF NOT EXISTS approvals (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT,
    created_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    on_timeout TEXT NOT NULL,
    state TEXT NOT NULL,
    answered_by TEXT,
    reason TEXT,
    answered_at INTEGER,
    PRIMARY KEY (run_id, node)
) WITHOUT ROWID;
",
    },
    Step {
        // Only child runs (of `skill` nodes) are in this index, so a top-level run's
        // commits do not touch it; listing by status scans the time index, newest first.
        // Version 1 was written in three shapes of `node_runs` (with a `seq` column that
        // later code never fills, with a rowid, without one): the table is rebuilt in the
        // last shape, so a commit touches one B-tree and inserts do not fail on `seq`.
        summary: "node_runs without rowid, one partial index for child runs",
        sql: r"
CREATE TABLE node_runs_v2 (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER,
    finished_at INTEGER,
    input TEXT,
    output TEXT,
    error TEXT,
    untrusted INTEGER NOT NULL DEFAULT 0,
    state TEXT,
    PRIMARY KEY (run_id, node)
) WITHOUT ROWID;
INSERT INTO node_runs_v2
    SELECT run_id, node, status, attempts, started_at, finished_at, input, output, error, untrusted, state
    FROM node_runs;
DROP TABLE node_runs;
ALTER TABLE node_runs_v2 RENAME TO node_runs;
DROP INDEX IF EXISTS runs_status;
DROP INDEX IF EXISTS runs_parent;
CREATE INDEX IF NOT EXISTS runs_child ON runs(parent_run, parent_node) WHERE parent_run IS NOT NULL;
",
    },
    Step {
        summary: "node_runs.findings (prompt-injection findings)",
        sql: "ALTER TABLE node_runs ADD COLUMN findings TEXT;",
    },
    Step {
        summary: "node_runs.usage (model usage), runs.untrusted_inputs",
        sql: r"
ALTER TABLE node_runs ADD COLUMN usage TEXT;
ALTER TABLE runs ADD COLUMN untrusted_inputs INTEGER NOT NULL DEFAULT 0;
",
    },
    Step {
        summary: "chat_sessions, chat_messages, chat_pending",
        sql: r"
CREATE TABLE IF NOT EXISTS chat_sessions (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    model TEXT
);
CREATE INDEX IF NOT EXISTS chat_sessions_updated ON chat_sessions(updated_at);
CREATE TABLE IF NOT EXISTS chat_messages (
    session TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    at INTEGER NOT NULL,
    findings TEXT,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_pending (
    session TEXT PRIMARY KEY,
    run TEXT NOT NULL
);
",
    },
    Step {
        // A slot's row is its claim: the primary key makes a slot run at most once, across
        // restarts and even two daemons sharing the file (`INSERT … ON CONFLICT DO NOTHING
        // RETURNING`). `armed_at` is when a trigger's schedule (keyed by its spec, so an
        // edited schedule is a new key) was first armed: slots before it are never
        // replayed. An event's id makes its delivery idempotent.
        summary: "runs.started_by and scheduled_for, schedule_triggers, schedule_slots, events",
        sql: r"
ALTER TABLE runs ADD COLUMN started_by TEXT;
ALTER TABLE runs ADD COLUMN scheduled_for INTEGER;
CREATE TABLE schedule_triggers (
    skill TEXT NOT NULL,
    trigger_key TEXT NOT NULL,
    armed_at INTEGER NOT NULL,
    PRIMARY KEY (skill, trigger_key)
) WITHOUT ROWID;
CREATE TABLE schedule_slots (
    skill TEXT NOT NULL,
    trigger_key TEXT NOT NULL,
    slot INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    run_id TEXT,
    decided_at INTEGER NOT NULL,
    PRIMARY KEY (skill, trigger_key, slot)
) WITHOUT ROWID;
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    delivered_at INTEGER,
    runs TEXT
);
CREATE INDEX events_pending ON events(at) WHERE delivered_at IS NULL;
",
    },
    Step {
        // A watch trigger's batch is a slot row too (its claim; `inputs` are the rendered
        // inputs, so a crash before the run starts is recovered with the same ones), and
        // `watch_files` is each trigger's index of the files it has seen: what changed
        // while the daemon was down is the difference at start. The batch's claim and
        // its index changes commit together.
        summary: "schedule_slots.inputs, watch_files",
        sql: r"
ALTER TABLE schedule_slots ADD COLUMN inputs TEXT;
CREATE TABLE watch_files (
    skill TEXT NOT NULL,
    trigger_key TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (skill, trigger_key, path)
) WITHOUT ROWID;
",
    },
    Step {
        // Messaging channels (`cli/channels`): an incoming message's row is taken before it
        // is processed (its platform id is the key, so a crash between fetch and processing
        // neither loses nor doubles it); the outbox records every send and whether its
        // outcome is known; the rate log is exact and survives restarts; pairing codes and
        // the senders they admitted; each channel's cursor (Telegram's offset).
        summary: "channel_inbox, channel_outbox, channel_rate, channel_pairing, channel_state",
        sql: r"
CREATE TABLE channel_inbox (
    channel TEXT NOT NULL,
    id TEXT NOT NULL,
    sender TEXT NOT NULL,
    chat TEXT NOT NULL,
    at INTEGER NOT NULL,
    state TEXT NOT NULL,
    text TEXT,
    run_id TEXT,
    PRIMARY KEY (channel, id)
) WITHOUT ROWID;
CREATE TABLE channel_outbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    chat TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT,
    error TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE channel_rate (
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX channel_rate_sender ON channel_rate(channel, sender, at);
CREATE TABLE channel_pairing (
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    code TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (channel, sender)
) WITHOUT ROWID;
CREATE TABLE channel_state (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (channel, key)
) WITHOUT ROWID;
",
    },
    Step {
        // The run store's event log: one row per change, written in the change's own
        // transaction, so a reader polling `id > last` (the web UI's Server-Sent Events,
        // resumed with `Last-Event-ID`) sees every change of every process in commit order
        // (SQLite has one writer at a time, so ids become visible in increasing order).
        // AUTOINCREMENT: an id is never reused, even after the newest rows are deleted, so
        // a client's last id stays a valid bookmark. The `runs` indexes serve the run
        // list's keyset pages (newest first, by skill, status or trigger); the one on
        // `(created_at, id)` replaces `runs_created`, so a new run still updates as many
        // time indexes as before. Pending approvals are few: a partial index on deadline.
        summary: "run_events, runs indexes for paging, approvals_pending",
        sql: r"
CREATE TABLE run_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    node TEXT,
    attempt INTEGER,
    status TEXT,
    detail TEXT
);
CREATE INDEX run_events_run ON run_events(run_id, id);
DROP INDEX IF EXISTS runs_created;
CREATE INDEX runs_created_id ON runs(created_at, id);
CREATE INDEX runs_skill ON runs(skill, created_at, id);
CREATE INDEX runs_status ON runs(status, created_at, id);
CREATE INDEX runs_trigger ON runs(started_by, created_at, id);
CREATE INDEX approvals_pending ON approvals(deadline) WHERE state = 'pending';
",
    },
];

/// Why `pyra.db` could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Opens (creating with mode 0600) `pyra.db` at `path`, migrated to the last step.
pub fn open(path: &Path) -> Result<Connection, OpenError> {
    let shown = || path.display().to_string();
    if !path.exists() {
        crate::create_private(path).map_err(|source| OpenError::Create { path: shown(), source })?;
    }
    let conn = Connection::open(path).map_err(|source| OpenError::Open { path: shown(), source })?;
    setup(conn, &shown())
}

/// The same database in memory (same SQL, no file), for tests and benchmarks.
pub fn open_in_memory() -> Result<Connection, OpenError> {
    setup(Connection::open_in_memory()?, "pyra.db (in memory)")
}

fn setup(conn: Connection, name: &str) -> Result<Connection, OpenError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A newer Pyra's file is refused before anything here writes to it.
    crate::refuse_newer(&conn, name, STEPS)?;
    crate::when_not_busy(BUSY_TIMEOUT, || conn.pragma_update(None, "journal_mode", "WAL"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Committed pages are safe in the WAL; folding them into the database (with an
    // fsync) at every exit would cost a short command most of its time. SQLite
    // checkpoints on its own as the WAL grows, and the stores do once it is large.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    // Checkpoints (each with an fsync) every 32 MiB of WAL rather than every 4 MiB: a
    // big run is not slowed by them.
    conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    crate::migrate(&conn, name, STEPS, BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Above this size the WAL is folded back into the database when a store closes. Below
/// it, the next process reads the WAL back (cheap) instead of this one paying for an
/// fsync at exit.
pub const WAL_CHECKPOINT_BYTES: u64 = 1 << 20;

/// Folds the WAL of the database at `path` back when it has grown past
/// [`WAL_CHECKPOINT_BYTES`] (called when a store closes).
pub fn checkpoint_if_large(conn: &Connection, path: &Path) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_CHECKPOINT_BYTES) {
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}
