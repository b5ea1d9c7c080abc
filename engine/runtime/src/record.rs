//! The records a run leaves behind: run and node-run rows, their statuses, log lines and
//! approvals. Plain data shared by the scheduler, both stores and the CLI.

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

/// Milliseconds since the Unix epoch, now.
pub use db::now_ms;
