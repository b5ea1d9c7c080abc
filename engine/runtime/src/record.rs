//! The records a run leaves behind: run and node-run rows, their statuses, log lines,
//! approvals and the event log (with the attempt spans folded from it and the run list's
//! pages). Plain data shared by the scheduler, both stores, the CLI and the web UI.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    /// Parked until a person answers an approval.
    Waiting,
    Succeeded,
    Failed,
    /// An approval was rejected (or timed out with `on_timeout: reject`).
    Rejected,
    Cancelled,
    /// The process running it died (a crash, `kill -9`); `pyra runs retry` resumes it.
    Interrupted,
}

/// Where a node run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Pending,
    Running,
    Waiting,
    Succeeded,
    Failed,
    Skipped,
    Rejected,
    Cancelled,
    Interrupted,
}

macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &[$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($name => Some($ty::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(RunStatus {
    Running => "running",
    Waiting => "waiting",
    Succeeded => "succeeded",
    Failed => "failed",
    Rejected => "rejected",
    Cancelled => "cancelled",
    Interrupted => "interrupted",
});

names!(NodeStatus {
    Pending => "pending",
    Running => "running",
    Waiting => "waiting",
    Succeeded => "succeeded",
    Failed => "failed",
    Skipped => "skipped",
    Rejected => "rejected",
    Cancelled => "cancelled",
    Interrupted => "interrupted",
});

impl RunStatus {
    /// Whether the run will not change again by itself.
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::Waiting)
    }
}

impl NodeStatus {
    /// Whether dependents may be decided (the node will not change in this run).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NodeStatus::Succeeded
                | NodeStatus::Failed
                | NodeStatus::Skipped
                | NodeStatus::Rejected
                | NodeStatus::Cancelled
        )
    }
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub skill: String,
    /// The file the skill was read from, when it was a file.
    pub source_path: Option<String>,
    /// The skill text as it was run: retries run exactly this.
    #[serde(skip)]
    pub source: String,
    pub inputs: Value,
    /// The inputs came from untrusted data (a model's tool call): templates that read
    /// them are tainted, so an `exec` using them needs an approval.
    pub untrusted_inputs: bool,
    pub status: RunStatus,
    pub error: Option<String>,
    pub outputs: Option<Value>,
    pub parent_run: Option<String>,
    pub parent_node: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub pid: Option<u32>,
    /// How many times the run was resumed (`pyra runs retry`, `pyra approve`).
    pub resumes: u32,
    /// What started it, for a run the daemon started: `cron`, `event`, `webhook` or
    /// `manual` (`pyra schedule run`); `None` for a command's own run.
    #[serde(rename = "trigger", skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// The cron slot it runs for (milliseconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<i64>,
}

/// One node (or for-each item) of a run.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRecord {
    /// The node id, or `id[i]` for a for-each item.
    pub node: Arc<str>,
    pub status: NodeStatus,
    pub attempts: u32,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The rendered `with:` value.
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub untrusted: bool,
    #[serde(skip)]
    pub state: Option<Value>,
    /// Prompt-injection findings in what the node read (category, span, excerpt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Value>,
    /// Token usage, one entry per model call (model, prompt, completion, cached, cost;
    /// `null` where the provider did not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
}

/// The list-valued fields of a node record that executors add to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeList {
    /// Prompt-injection findings.
    Findings,
    /// Model-call usage.
    Usage,
}

impl NodeList {
    pub(crate) fn column(self) -> &'static str {
        match self {
            NodeList::Findings => "findings",
            NodeList::Usage => "usage",
        }
    }
}

impl NodeRecord {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }
}

/// How loud a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

names!(LogLevel { Info => "info", Warn => "warn", Error => "error" });

/// One line of a run's log.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub at: i64,
    pub node: Option<String>,
    pub level: LogLevel,
    pub message: String,
}

/// What happened to an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
}

names!(ApprovalState { Pending => "pending", Approved => "approved", Rejected => "rejected" });

/// A durable approval: bound to one run and one node, answered once.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRecord {
    pub run_id: String,
    pub node: String,
    pub message: String,
    pub details: Option<Value>,
    pub created_at: i64,
    /// The absolute deadline (ms since the epoch).
    pub deadline: i64,
    /// `approve` or `reject`: what a timeout means.
    pub on_timeout: ApprovalState,
    pub state: ApprovalState,
    /// Who answered: `terminal`, `cli`, `timeout`.
    pub answered_by: Option<String>,
    pub reason: Option<String>,
    pub answered_at: Option<i64>,
}

/// A state change, committed before the scheduler acts on it.
#[derive(Debug, Clone)]
pub enum Change {
    RunStatus {
        status: RunStatus,
        error: Option<String>,
        outputs: Option<Value>,
    },
    NodeStarted {
        node: Arc<str>,
        attempt: u32,
        input: Value,
    },
    NodeRetrying {
        node: Arc<str>,
        attempt: u32,
        error: String,
    },
    NodeWaiting {
        node: Arc<str>,
        reason: String,
    },
    NodeFinished {
        node: Arc<str>,
        status: NodeStatus,
        output: Option<Value>,
        error: Option<String>,
        untrusted: bool,
    },
    NodeSkipped {
        node: Arc<str>,
        reason: String,
    },
    /// Makes a node pending again so a resumed run runs it. `forget` also drops its
    /// for-each items, its executor state and its approval (for `retry --from`).
    NodeReset {
        node: Arc<str>,
        forget: bool,
    },
}

/// Filters for `pyra runs list`.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub skill: Option<String>,
    pub status: Option<RunStatus>,
    /// Only runs created at or after this time (ms since the epoch).
    pub since: Option<i64>,
    pub limit: Option<usize>,
}

/// What a [`RunEvent`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventKind {
    /// The run's status changed (`status`: the new one, or `cancelling` when a cancel
    /// was asked for); also written when the run is created.
    #[serde(rename = "run")]
    Run,
    /// A node (or for-each item) started its first attempt.
    #[serde(rename = "node.started")]
    NodeStarted,
    /// An attempt failed and attempt `attempt` follows after a backoff (`detail`: the error).
    #[serde(rename = "node.retrying")]
    NodeRetrying,
    /// The node waits (for an approval; `detail`: why).
    #[serde(rename = "node.waiting")]
    NodeWaiting,
    /// The node ended (`status`, `detail`: the error if any).
    #[serde(rename = "node.finished")]
    NodeFinished,
    #[serde(rename = "node.skipped")]
    NodeSkipped,
    /// The node is pending again, to run again when the run resumes (`detail` is
    /// `forget` when its items, state and approval were dropped too).
    #[serde(rename = "node.reset")]
    NodeReset,
    /// An approval was asked (`status` pending) or answered (`detail`: who answered).
    #[serde(rename = "approval")]
    Approval,
    /// A log line (`status`: its level, `detail`: the message).
    #[serde(rename = "log")]
    Log,
}

names!(EventKind {
    Run => "run",
    NodeStarted => "node.started",
    NodeRetrying => "node.retrying",
    NodeWaiting => "node.waiting",
    NodeFinished => "node.finished",
    NodeSkipped => "node.skipped",
    NodeReset => "node.reset",
    Approval => "approval",
    Log => "log",
});

/// One row of the event log: a change, recorded in the same transaction as the change.
/// For node events `status` is the node's status after it (`running` for a retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunEvent {
    /// Grows with every event in the database and is never reused: an SSE event id.
    pub id: i64,
    pub run_id: String,
    /// Milliseconds since the Unix epoch: the time the change itself recorded.
    pub at: i64,
    pub kind: EventKind,
    /// The node key (`id`, `id[i]` for an item, `id#sub` for an approval).
    pub node: Option<String>,
    pub attempt: Option<u32>,
    pub status: Option<String>,
    pub detail: Option<String>,
}

/// One attempt of a node on a timeline, folded from the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptSpan {
    pub node: String,
    pub attempt: u32,
    pub started_at: i64,
    /// `None` while it runs or waits.
    pub ended_at: Option<i64>,
    /// `running` or `waiting` while open; how it ended otherwise: a node status
    /// (`succeeded`, `failed`, …, the run's status for one its run's end closed), or
    /// `retrying` for an attempt that failed and was tried again.
    pub state: String,
    /// The error or the reason to wait.
    pub detail: Option<String>,
}

/// Which runs by what started them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerFilter {
    /// Runs a command started itself (`started_by` empty): `none` on the command line.
    Command,
    /// Runs the daemon started for this trigger: `cron`, `event`, `webhook`, `watch`,
    /// `manual`.
    By(String),
}

impl TriggerFilter {
    /// `none` is [`TriggerFilter::Command`]; any other name a trigger.
    pub fn parse(text: &str) -> Self {
        if text == "none" { TriggerFilter::Command } else { TriggerFilter::By(text.to_string()) }
    }
}

/// A page of the run list: filters, where the previous page ended, and its size.
#[derive(Debug, Clone, Default)]
pub struct RunPage {
    pub status: Option<RunStatus>,
    pub skill: Option<String>,
    pub trigger: Option<TriggerFilter>,
    /// Only runs created at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Only runs created before this time (ms since the epoch, exclusive).
    pub until: Option<i64>,
    /// The cursor the previous page returned (`None`: the first page).
    pub after: Option<Cursor>,
    /// Runs per page: 0 means [`RunPage::DEFAULT_LIMIT`], more than
    /// [`RunPage::MAX_LIMIT`] means that.
    pub limit: usize,
}

impl RunPage {
    pub const DEFAULT_LIMIT: usize = 50;
    pub const MAX_LIMIT: usize = 1000;

    pub(crate) fn page_size(&self) -> usize {
        if self.limit == 0 { Self::DEFAULT_LIMIT } else { self.limit.min(Self::MAX_LIMIT) }
    }
}

/// Where a page of the run list ended (runs are listed newest first, by creation time
/// then id): opaque text for a URL, `{created_at}-{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub(crate) created_at: i64,
    pub(crate) id: String,
}

impl Cursor {
    pub(crate) fn after(run: &RunRecord) -> Self {
        Cursor { created_at: run.created_at, id: run.id.clone() }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.created_at, self.id)
    }
}

/// Text that is not a cursor a page returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a page cursor (expected one a previous page returned)")]
pub struct CursorError(pub String);

impl std::str::FromStr for Cursor {
    type Err = CursorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || CursorError(text.chars().take(80).collect());
        let (time, id) = text.split_once('-').ok_or_else(bad)?;
        if time.is_empty() || time.len() > 19 || !time.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        let created_at = time.parse().map_err(|_| bad())?;
        Ok(Cursor { created_at, id: id.to_string() })
    }
}

/// Milliseconds since the Unix epoch, now.
pub use db::now_ms;
