//! The event log of `pyra.db` (`run_events`): one row per change, written by the change's
//! own transaction; read back after an id (a Server-Sent Events stream resumed with
//! `Last-Event-ID`), and folded into the attempt spans of a run's timeline.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};

use super::{SqliteStore, StoreError, StoreResult};
use crate::record::*;

/// An event row about to be written (borrowing the change it describes).
pub(super) struct Ev<'a> {
    pub kind: EventKind,
    pub node: Option<&'a str>,
    pub attempt: Option<u32>,
    pub status: Option<&'a str>,
    pub detail: Option<&'a str>,
}

impl<'a> Ev<'a> {
    pub fn run(status: &'a str) -> Self {
        Ev { kind: EventKind::Run, node: None, attempt: None, status: Some(status), detail: None }
    }

    pub fn node(kind: EventKind, node: &'a str, status: &'a str) -> Self {
        Ev { kind, node: Some(node), attempt: None, status: Some(status), detail: None }
    }

    pub fn detail(self, detail: Option<&'a str>) -> Self {
        Ev { detail, ..self }
    }

    /// The event a change writes: for node changes `status` is the node's status after it.
    pub fn of_change(change: &'a Change) -> Self {
        use NodeStatus as N;
        match change {
            Change::RunStatus { status, error, .. } => Ev::run(status.as_str()).detail(error.as_deref()),
            Change::NodeStarted { node, attempt, .. } => {
                Ev { attempt: Some(*attempt), ..Ev::node(EventKind::NodeStarted, node, N::Running.as_str()) }
            }
            Change::NodeRetrying { node, attempt, error } => Ev {
                attempt: Some(*attempt),
                detail: Some(error),
                ..Ev::node(EventKind::NodeRetrying, node, N::Running.as_str())
            },
            Change::NodeWaiting { node, reason } => {
                Ev::node(EventKind::NodeWaiting, node, N::Waiting.as_str()).detail(Some(reason))
            }
            Change::NodeFinished { node, status, error, .. } => {
                Ev::node(EventKind::NodeFinished, node, status.as_str()).detail(error.as_deref())
            }
            Change::NodeSkipped { node, reason } => {
                Ev::node(EventKind::NodeSkipped, node, N::Skipped.as_str()).detail(Some(reason))
            }
            Change::NodeReset { node, forget } => {
                Ev::node(EventKind::NodeReset, node, N::Pending.as_str()).detail(forget.then_some("forget"))
            }
        }
    }
}

/// Writes one event inside the caller's transaction.
pub(super) fn write(conn: &Connection, run_id: &str, at: i64, ev: &Ev<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO run_events (run_id, at, kind, node, attempt, status, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![run_id, at, ev.kind.as_str(), ev.node, ev.attempt, ev.status, ev.detail])
    .map(drop)
}

const COLUMNS: &str = "id, run_id, at, kind, node, attempt, status, detail";

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunEvent> {
    let kind: String = r.get(3)?;
    // Kinds only ever come with a schema step, and a newer schema is refused on open:
    // an unknown kind is a damaged row, said rather than skipped.
    let kind = EventKind::parse(&kind).ok_or_else(|| {
        let e = StoreError(format!("unknown event kind `{kind}`"));
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(RunEvent {
        id: r.get(0)?,
        run_id: r.get(1)?,
        at: r.get(2)?,
        kind,
        node: r.get(4)?,
        attempt: r.get(5)?,
        status: r.get(6)?,
        detail: r.get(7)?,
    })
}

/// A node's times as `node_runs` keeps them (the last attempt only).
struct NodeTimes {
    node: String,
    status: NodeStatus,
    attempts: u32,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    error: Option<String>,
}

impl SqliteStore {
    /// The events after `after_id` (0: from the first), oldest first, at most `limit`;
    /// of one run, or of every run with `None`. A reader that remembers the last id it
    /// got misses nothing: SQLite commits one writer at a time, so ids become visible in
    /// increasing order, and an id is never reused.
    pub fn events_since(&self, run_id: Option<&str>, after_id: i64, limit: usize) -> StoreResult<Vec<RunEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| match run_id {
            Some(run_id) => c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM run_events WHERE run_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
                ))?
                .query_map(params![run_id, after_id, limit], event_from_row)?
                .collect(),
            None => c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM run_events WHERE id > ?1 ORDER BY id LIMIT ?2"))?
                .query_map(params![after_id, limit], event_from_row)?
                .collect(),
        })
    }

    /// The newest event's id (0 when there is none): what a poller compares with the
    /// last id it has, one seek to the end of the table's B-tree.
    pub fn last_event_id(&self) -> StoreResult<i64> {
        self.with(|c| c.prepare_cached("SELECT coalesce(max(id), 0) FROM run_events")?.query_row([], |r| r.get(0)))
    }

    /// A run's node attempts for a timeline, oldest first, folded from its events (see
    /// [`fold_spans`]); nodes the events never mention (a run recorded before the event
    /// log) get one span from their `node_runs` row.
    pub fn attempts(&self, run_id: &str) -> StoreResult<Vec<AttemptSpan>> {
        self.with(|c| {
            // A read transaction (nothing to commit; dropping it ends it): the events and
            // the node rows are one snapshot.
            let tx = c.transaction()?;
            // Log lines and approvals do not move spans: left out in the query.
            let events: Vec<RunEvent> = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM run_events WHERE run_id = ?1 AND kind NOT IN ('log', 'approval') ORDER BY id"
                ))?
                .query_map([run_id], event_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let nodes: Vec<NodeTimes> = tx
                .prepare_cached(
                    "SELECT node, status, attempts, started_at, finished_at, error FROM node_runs WHERE run_id = ?1",
                )?
                .query_map([run_id], |r| {
                    let status: String = r.get(1)?;
                    Ok(NodeTimes {
                        node: r.get(0)?,
                        status: NodeStatus::parse(&status).unwrap_or(NodeStatus::Failed),
                        attempts: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        error: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut spans = fold_spans(&events);
            let mentioned: HashSet<&str> = events.iter().filter_map(|e| e.node.as_deref()).collect();
            spans.extend(nodes.into_iter().filter(|n| !mentioned.contains(n.node.as_str())).filter_map(from_record));
            spans.sort_by_key(|s| s.started_at);
            Ok(spans)
        })
    }
}

/// One span for a node recorded without events: its last attempt as `node_runs` has it.
fn from_record(n: NodeTimes) -> Option<AttemptSpan> {
    if matches!(n.status, NodeStatus::Pending | NodeStatus::Skipped) {
        return None;
    }
    let open = matches!(n.status, NodeStatus::Running | NodeStatus::Waiting);
    Some(AttemptSpan {
        node: n.node,
        attempt: n.attempts.max(1),
        started_at: n.started_at?,
        ended_at: if open { None } else { n.finished_at },
        state: n.status.as_str().to_string(),
        detail: n.error,
    })
}

/// The state of an attempt that failed and was tried again (not a node status: the
/// node kept running).
pub const SPAN_RETRYING: &str = "retrying";

/// Folds a run's events (oldest first) into attempt spans:
/// - `node.started` opens a span;
/// - `node.retrying` ends the open span as `retrying` with the error and opens attempt
///   `attempt` at the same time — the store is not told when the backoff ends, so a
///   retried attempt's bar includes its wait;
/// - `node.waiting` marks the open span `waiting` (it stays open);
/// - `node.finished` ends it with the node's status;
/// - `node.skipped`, `node.reset` and a new `node.started` end a span still open as it
///   was, except that one still `running` becomes `interrupted` (its process died before
///   anything said so; a resumed run then starts the node again);
/// - a run status that is final ends every open span at that time with the run's status.
pub fn fold_spans(events: &[RunEvent]) -> Vec<AttemptSpan> {
    let mut spans = Spans::default();
    for e in events {
        let Some(node) = e.node.as_deref() else {
            let ended = e.status.as_deref().and_then(RunStatus::parse).filter(|s| s.is_final());
            if let (EventKind::Run, Some(run)) = (e.kind, ended) {
                for (_, i) in spans.open.drain() {
                    (spans.list[i].ended_at, spans.list[i].state) = (Some(e.at), run.as_str().to_string());
                }
            }
            continue;
        };
        match e.kind {
            EventKind::NodeStarted => {
                spans.interrupt(node, e.at);
                spans.start(node, e.attempt.unwrap_or(1), e.at);
            }
            EventKind::NodeRetrying => {
                if let Some(span) = spans.take(node) {
                    (span.ended_at, span.state, span.detail) = (Some(e.at), SPAN_RETRYING.into(), e.detail.clone());
                }
                spans.start(node, e.attempt.unwrap_or(2), e.at);
            }
            EventKind::NodeWaiting => {
                if let Some(&i) = spans.open.get(node) {
                    (spans.list[i].state, spans.list[i].detail) = (NodeStatus::Waiting.to_string(), e.detail.clone());
                }
            }
            EventKind::NodeFinished => {
                let state = e.status.clone().unwrap_or_else(|| NodeStatus::Failed.to_string());
                if let Some(span) = spans.take(node) {
                    (span.ended_at, span.state, span.detail) = (Some(e.at), state, e.detail.clone());
                }
            }
            EventKind::NodeSkipped | EventKind::NodeReset => spans.interrupt(node, e.at),
            EventKind::Run | EventKind::Approval | EventKind::Log => {}
        }
    }
    spans.list
}

/// The spans folded so far and which of them are open, by node.
#[derive(Default)]
struct Spans {
    list: Vec<AttemptSpan>,
    open: HashMap<String, usize>,
}

impl Spans {
    fn start(&mut self, node: &str, attempt: u32, at: i64) {
        self.list.push(AttemptSpan {
            node: node.to_string(),
            attempt,
            started_at: at,
            ended_at: None,
            state: NodeStatus::Running.to_string(),
            detail: None,
        });
        self.open.insert(node.to_string(), self.list.len() - 1);
    }

    /// The node's open span, no longer open.
    fn take(&mut self, node: &str) -> Option<&mut AttemptSpan> {
        self.open.remove(node).map(|i| &mut self.list[i])
    }

    /// Ends the node's open span, if any, without news of how it ended.
    fn interrupt(&mut self, node: &str, at: i64) {
        if let Some(span) = self.take(node) {
            span.ended_at = Some(at);
            if span.state == NodeStatus::Running.as_str() {
                span.state = NodeStatus::Interrupted.to_string();
            }
        }
    }
}
