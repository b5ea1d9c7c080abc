//! The in-memory run store: the same records as the durable store, kept in maps, for
//! benchmarks (so the store's cost is visible) and for embedding Pyra without a disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::record::*;
use super::store::{Store, StoreResult};

/// Records kept in memory only: what the durable store keeps, minus the disk.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    runs: FxHashMap<String, RunRecord>,
    /// Run ids in creation order.
    order: Vec<String>,
    cancel: HashMap<String, bool>,
    nodes: FxHashMap<String, RunNodes>,
    logs: HashMap<String, Vec<LogLine>>,
    approvals: Vec<ApprovalRecord>,
}

#[derive(Default, Clone)]
struct RunNodes {
    list: Vec<NodeRecord>,
    index: FxHashMap<Arc<str>, usize>,
}

impl RunNodes {
    fn get_mut(&mut self, node: &Arc<str>) -> &mut NodeRecord {
        let i = match self.index.get(node) {
            Some(&i) => i,
            None => {
                self.list.push(NodeRecord {
                    node: node.clone(),
                    status: NodeStatus::Pending,
                    attempts: 0,
                    started_at: None,
                    finished_at: None,
                    input: None,
                    output: None,
                    error: None,
                    untrusted: false,
                    state: None,
                    findings: None,
                    usage: None,
                });
                self.index.insert(node.clone(), self.list.len() - 1);
                self.list.len() - 1
            }
        };
        &mut self.list[i]
    }

    fn forget(&mut self, node: &str) {
        let prefix = format!("{node}[");
        self.list.retain(|n| &*n.node != node && !n.node.starts_with(&prefix));
        self.index = self.list.iter().enumerate().map(|(i, n)| (n.node.clone(), i)).collect();
    }
}

impl Memory {
    fn run_mut(&mut self, id: &str) -> Option<&mut RunRecord> {
        self.runs.get_mut(id)
    }

    fn run_nodes(&mut self, run_id: &str) -> &mut RunNodes {
        if !self.nodes.contains_key(run_id) {
            self.nodes.insert(run_id.to_string(), RunNodes::default());
        }
        self.nodes.get_mut(run_id).expect("inserted above")
    }

    fn node_mut(&mut self, run_id: &str, node: &Arc<str>) -> &mut NodeRecord {
        self.run_nodes(run_id).get_mut(node)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> StoreResult<T> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut inner))
    }
}

impl Store for MemoryStore {
    fn create_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.with(|m| {
            m.order.push(run.id.clone());
            m.runs.insert(run.id.clone(), run.clone());
        })
    }

    fn apply(&self, run_id: &str, changes: Vec<Change>) -> StoreResult<()> {
        let now = now_ms();
        self.with(|m| {
            for change in changes {
                match change {
                    Change::RunStatus { status, error, outputs } => {
                        if let Some(run) = m.run_mut(run_id) {
                            run.status = status;
                            run.error = error;
                            run.outputs = outputs;
                            run.finished_at = status.is_final().then_some(now);
                        }
                    }
                    Change::NodeStarted { node, attempt, input } => {
                        let n = m.node_mut(run_id, &node);
                        n.status = NodeStatus::Running;
                        n.attempts = attempt;
                        n.started_at = Some(now);
                        n.input = Some(input);
                        (n.finished_at, n.output, n.error) = (None, None, None);
                    }
                    Change::NodeRetrying { node, attempt, error } => {
                        let n = m.node_mut(run_id, &node);
                        n.attempts = attempt;
                        n.error = Some(error);
                    }
                    Change::NodeWaiting { node, reason } => {
                        let n = m.node_mut(run_id, &node);
                        n.status = NodeStatus::Waiting;
                        n.error = Some(reason);
                    }
                    Change::NodeFinished { node, status, output, error, untrusted } => {
                        let n = m.node_mut(run_id, &node);
                        n.status = status;
                        n.output = output;
                        n.error = error;
                        n.untrusted = untrusted;
                        n.finished_at = Some(now);
                    }
                    Change::NodeSkipped { node, reason } => {
                        let n = m.node_mut(run_id, &node);
                        n.status = NodeStatus::Skipped;
                        n.error = Some(reason);
                        (n.started_at, n.finished_at) = (Some(now), Some(now));
                    }
                    Change::NodeReset { node, forget: false } => {
                        let n = m.node_mut(run_id, &node);
                        n.status = NodeStatus::Pending;
                        (n.output, n.finished_at) = (None, None);
                    }
                    Change::NodeReset { node, forget: true } => {
                        let prefix = format!("{node}[");
                        m.approvals
                            .retain(|a| a.run_id != run_id || (*a.node != *node && !a.node.starts_with(&prefix)));
                        m.run_nodes(run_id).forget(&node);
                    }
                }
            }
        })
    }

    fn resume_run(&self, run_id: &str, pid: u32) -> StoreResult<()> {
        self.with(|m| {
            if let Some(run) = m.run_mut(run_id) {
                run.status = RunStatus::Running;
                run.resumes += 1;
                run.pid = Some(pid);
                run.finished_at = None;
                run.error = None;
            }
            m.cancel.remove(run_id);
        })
    }

    fn run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        self.with(|m| m.runs.get(run_id).cloned())
    }

    fn find_runs(&self, prefix: &str) -> StoreResult<Vec<String>> {
        self.with(|m| m.order.iter().rev().filter(|id| id.starts_with(prefix)).take(10).cloned().collect())
    }

    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        self.with(|m| {
            m.order
                .iter()
                .rev()
                .filter_map(|id| m.runs.get(id))
                .filter(|r| filter.skill.as_ref().is_none_or(|s| *s == r.skill))
                .filter(|r| filter.status.is_none_or(|s| s == r.status))
                .filter(|r| filter.since.is_none_or(|s| r.created_at >= s))
                .take(filter.limit.unwrap_or(usize::MAX))
                .cloned()
                .collect()
        })
    }

    fn nodes(&self, run_id: &str) -> StoreResult<Vec<NodeRecord>> {
        self.with(|m| m.nodes.get(run_id).map(|n| n.list.clone()).unwrap_or_default())
    }

    fn node_state(&self, run_id: &str, key: &str) -> StoreResult<Option<Value>> {
        self.with(|m| {
            let nodes = m.nodes.get(run_id)?;
            nodes.index.get(key).and_then(|&i| nodes.list[i].state.clone())
        })
    }

    fn set_node_state(&self, run_id: &str, key: &str, state: &Value) -> StoreResult<()> {
        self.with(|m| m.node_mut(run_id, &Arc::from(key)).state = Some(state.clone()))
    }

    fn log(&self, run_id: &str, node: Option<&str>, level: LogLevel, message: &str) -> StoreResult<()> {
        let line = LogLine { at: now_ms(), node: node.map(str::to_string), level, message: message.to_string() };
        self.with(|m| m.logs.entry(run_id.to_string()).or_default().push(line))
    }

    fn append_list(&self, run_id: &str, key: &str, field: NodeList, items: &[Value]) -> StoreResult<()> {
        self.with(|m| {
            let record = m.node_mut(run_id, &Arc::from(key));
            let slot = match field {
                NodeList::Findings => &mut record.findings,
                NodeList::Usage => &mut record.usage,
            };
            let mut all = slot.take().and_then(|v| v.as_array().cloned()).unwrap_or_default();
            all.extend(items.iter().cloned());
            *slot = Some(Value::Array(all));
        })
    }

    fn logs(&self, run_id: &str, node: Option<&str>) -> StoreResult<Vec<LogLine>> {
        self.with(|m| {
            let all = m.logs.get(run_id).cloned().unwrap_or_default();
            all.into_iter()
                .filter(|l| {
                    node.is_none_or(|n| l.node.as_deref().is_some_and(|ln| ln == n || ln.starts_with(&format!("{n}["))))
                })
                .collect()
        })
    }

    fn approval(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRecord>> {
        self.with(|m| m.approvals.iter().find(|a| a.run_id == run_id && a.node == key).cloned())
    }

    fn approvals(&self, run_id: &str) -> StoreResult<Vec<ApprovalRecord>> {
        self.with(|m| m.approvals.iter().filter(|a| a.run_id == run_id).cloned().collect())
    }

    fn insert_approval(&self, approval: &ApprovalRecord) -> StoreResult<()> {
        self.with(|m| {
            if !m.approvals.iter().any(|a| a.run_id == approval.run_id && a.node == approval.node) {
                m.approvals.push(approval.clone());
            }
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
        self.with(|m| {
            let Some(a) = m.approvals.iter_mut().find(|a| a.run_id == run_id && a.node == key) else {
                return false;
            };
            if a.state != ApprovalState::Pending {
                return false;
            }
            a.state = state;
            a.answered_by = Some(by.to_string());
            a.reason = reason.map(str::to_string);
            a.answered_at = Some(now_ms());
            true
        })
    }

    fn child_run(&self, parent_run: &str, parent_node: &str) -> StoreResult<Option<String>> {
        self.with(|m| {
            m.order
                .iter()
                .rev()
                .filter_map(|id| m.runs.get(id))
                .find(|r| r.parent_run.as_deref() == Some(parent_run) && r.parent_node.as_deref() == Some(parent_node))
                .map(|r| r.id.clone())
        })
    }

    fn request_cancel(&self, run_id: &str) -> StoreResult<()> {
        self.with(|m| {
            m.cancel.insert(run_id.to_string(), true);
        })
    }

    fn cancel_requested(&self, run_id: &str) -> StoreResult<bool> {
        self.with(|m| m.cancel.get(run_id).copied().unwrap_or(false))
    }
}
