//! The scheduler: runs a compiled skill as tokio tasks. A node starts the moment the
//! nodes it waits for have finished, up to the skill's `concurrency`.
//!
//! Each turn of the loop collects what happened (finished nodes, decisions to skip or
//! start), commits it to the store in one transaction, and only then starts tasks. So
//! the store is never behind reality, and a chain of nodes costs one commit per node.
//!
//! The dependents rule (ARCHITECTURE.md): once every dependency of a node has ended,
//! - a dependency that failed (without `on_error: continue`) or was cancelled skips it;
//! - otherwise, if the node has `if:`, the condition decides (it may read `status`);
//! - otherwise, a dependency that was skipped or rejected skips it too;
//! - otherwise it runs. A failed `on_error: continue` node counts as done, output null.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::attempts::node_task;
use super::executor::{NodeError, Outcome, Output};
use super::program::{NodeResult, Program, RunData, Scope};
use super::record::{Change, NodeStatus, RunStatus};
use super::secrets;
use super::services::Services;
use super::{Event, RunReport};
use lang::model::OnError;

/// How a node (or a for-each item) ended.
#[derive(Debug)]
pub(crate) enum Finish {
    Done(Output),
    Rejected(Output),
    Waiting(String),
    Failed(String),
    Cancelled,
}

/// Most decisions in one turn: a bounded batch keeps a turn's records in cache while
/// still committing many nodes at once.
const BATCH: usize = 128;

pub(crate) struct Job {
    pub program: Arc<Program>,
    pub data: Arc<RunData>,
    pub services: Arc<Services>,
    pub run_id: Arc<str>,
    pub cancel: CancellationToken,
    pub depth: u32,
    pub deadline: Option<(Instant, Duration)>,
}

pub(crate) enum Work {
    Single { with: Value, tainted: Vec<String> },
    Items(Vec<Value>),
}

pub(crate) fn status_of(finish: &Finish) -> NodeStatus {
    match finish {
        Finish::Done(_) => NodeStatus::Succeeded,
        Finish::Rejected(_) => NodeStatus::Rejected,
        Finish::Waiting(_) => NodeStatus::Waiting,
        Finish::Failed(_) => NodeStatus::Failed,
        Finish::Cancelled => NodeStatus::Cancelled,
    }
}

/// Runs every node that is not already decided in `job.data` and records the result.
pub(crate) async fn drive(job: Job) -> RunReport {
    let program = job.program.clone();
    let data = job.data.clone();
    let n = program.nodes.len();
    let store = job.services.store.clone();
    let observer = job.services.observer.clone();
    let limit = program.skill.concurrency.map_or_else(default_concurrency, |c| c as usize).max(1);

    let mut remaining = vec![0usize; n];
    let mut ready = Ready::default();
    // One scope for the whole run: it reads results as they land.
    let scope = Scope::new(data.clone());
    let mut waiting = 0usize;
    for (i, node) in program.nodes.iter().enumerate() {
        if data.result(i).is_some() {
            continue;
        }
        remaining[i] = node.deps.iter().filter(|d| data.result(**d).is_none()).count();
        if remaining[i] == 0 {
            ready.push(&program, i);
        }
    }

    let mut tasks: JoinSet<(usize, Finish)> = JoinSet::new();
    let mut task_nodes: std::collections::HashMap<tokio::task::Id, usize> = std::collections::HashMap::new();
    let mut running = 0usize;
    let mut changes: Vec<Change> = Vec::new();
    let mut events = Events { on: observer.wants_events(), list: Vec::new() };
    let mut to_start: Vec<(usize, Work)> = Vec::new();
    let mut timed_out = false;
    let mut store_error: Option<String> = None;
    let mut cancel_poll = tokio::time::interval(Duration::from_millis(250));
    cancel_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = job.deadline.map(|(at, _)| tokio::time::Instant::from_std(at));

    loop {
        // Decide every ready node we have room for. Inline kinds (pure computation, done
        // right here) take no slot: the limit bounds work that waits on the world.
        let mut slots_taken = 0;
        let mut decided = 0;
        while !job.cancel.is_cancelled() && decided < BATCH {
            let Some(i) = ready.next(running + slots_taken < limit) else { break };
            decided += 1;
            let node = &program.nodes[i];
            let decision =
                secrets::with_broker(&job.services.broker, &node.name, || decide(&program, &data, &scope, i));
            match decision {
                Decision::Skip(reason) => {
                    changes.push(Change::NodeSkipped { node: node.name.clone(), reason: reason.clone() });
                    events.push(|| Event::NodeSkipped { run_id: job.run_id.clone(), node: node.name.clone(), reason });
                    settle(
                        &program,
                        &data,
                        &mut remaining,
                        &mut ready,
                        i,
                        NodeResult::new(NodeStatus::Skipped, None, None, false),
                    );
                }
                Decision::Fail(error) => {
                    changes.push(Change::NodeStarted { node: node.name.clone(), attempt: 1, input: Value::Null });
                    changes.push(Change::NodeFinished {
                        node: node.name.clone(),
                        status: NodeStatus::Failed,
                        output: None,
                        error: Some(error.clone()),
                        untrusted: false,
                    });
                    events.push(|| Event::NodeFinished {
                        run_id: job.run_id.clone(),
                        node: node.name.clone(),
                        status: NodeStatus::Failed,
                        error: Some(error.clone()),
                    });
                    settle(
                        &program,
                        &data,
                        &mut remaining,
                        &mut ready,
                        i,
                        NodeResult::new(NodeStatus::Failed, None, Some(error), false),
                    );
                }
                Decision::Run(work) => {
                    let input = match &work {
                        Work::Single { with, .. } => with.clone(),
                        Work::Items(items) => json!({ "for_each": items }),
                    };
                    changes.push(Change::NodeStarted { node: node.name.clone(), attempt: 1, input });
                    events.push(|| Event::NodeStarted {
                        run_id: job.run_id.clone(),
                        node: node.name.clone(),
                        attempt: 1,
                    });
                    if !node.inline {
                        slots_taken += 1;
                    }
                    to_start.push((i, work));
                }
            }
        }

        // Commit, then act.
        if !changes.is_empty() {
            if let Err(err) = store.apply(&job.run_id, std::mem::take(&mut changes)) {
                store_error = Some(err.to_string());
                job.cancel.cancel();
                to_start.clear();
            }
            changes.clear();
        }
        for event in events.list.drain(..) {
            observer.event(&event);
        }
        // Each node is polled once right here: kinds that finish without waiting (most
        // `template` nodes) never pay for a task; the others continue as tasks.
        let mut finished: Vec<Result<(usize, Finish), tokio::task::JoinError>> = Vec::new();
        for (i, work) in to_start.drain(..) {
            // Pure kinds compute right here, without a context or a future.
            let work = match (program.nodes[i].inline, work) {
                (true, Work::Single { with, .. }) => {
                    // Its one attempt is a `node` span like any other's (`debug`: free
                    // unless a reader wants it, such as the OpenTelemetry export).
                    let node = &program.nodes[i];
                    let kind = program.spec(i).uses.as_str();
                    let span = tracing::debug_span!(
                        "node",
                        run_id = &*job.run_id,
                        skill = &*program.name,
                        node = &*node.name,
                        kind,
                        attempt = 1u32,
                    );
                    let result = span.in_scope(|| node.executor.as_ref().and_then(|e| e.run_inline(with)));
                    if let Some(Err(e)) = &result {
                        span.in_scope(|| {
                            let error = job.services.runtime.masker.mask(&e.message()).into_owned();
                            tracing::warn!(node = %node.name, kind, attempt = 1u32, error, "node attempt failed");
                        });
                    }
                    let finish = match result {
                        Some(Ok(Outcome::Done(o))) => Finish::Done(o),
                        Some(Ok(Outcome::Rejected(o))) => Finish::Rejected(o),
                        Some(Ok(Outcome::Waiting(w))) => Finish::Waiting(w),
                        Some(Err(NodeError::Cancelled)) => Finish::Cancelled,
                        Some(Err(e)) => Finish::Failed(e.message()),
                        None => Finish::Failed("internal error: an inline kind did not run inline".into()),
                    };
                    finished.push(Ok((i, finish)));
                    continue;
                }
                (_, work) => work,
            };
            let mut task = node_task(&job, i, work);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match task.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(finish) => finished.push(Ok((i, finish))),
                std::task::Poll::Pending => {
                    running += 1;
                    // Still inside the run's span when polled by the runtime later.
                    let handle = tasks.spawn(tracing::Instrument::in_current_span(async move { (i, task.await) }));
                    task_nodes.insert(handle.id(), i);
                }
            }
        }

        if finished.is_empty() {
            if running == 0 && (ready.is_empty() || job.cancel.is_cancelled()) {
                break;
            }
            // Wait for something to happen.
            let joined = tokio::select! {
                joined = tasks.join_next() => joined,
                () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } }, if !timed_out => {
                    timed_out = true;
                    job.cancel.cancel();
                    continue;
                }
                _ = cancel_poll.tick() => {
                    if store.cancel_requested(&job.run_id).unwrap_or(false) {
                        job.cancel.cancel();
                    }
                    continue;
                }
            };
            if let Some(joined) = joined {
                running -= 1;
                finished.push(joined);
            }
        }
        while let Some(joined) = tasks.try_join_next() {
            running -= 1;
            finished.push(joined);
        }
        for joined in finished {
            let (i, finish) = match joined {
                Ok(pair) => pair,
                Err(err) => {
                    // A panicking executor is a bug; the run records it instead of dying.
                    let i = task_nodes.get(&err.id()).copied().unwrap_or(0);
                    (i, Finish::Failed(format!("internal error: {err}")))
                }
            };
            let node = &program.nodes[i];
            let status = status_of(&finish);
            let (output, error, untrusted) = match finish {
                Finish::Done(o) | Finish::Rejected(o) => (Some(o.value), None, o.untrusted),
                Finish::Waiting(reason) => (None, Some(reason), false),
                Finish::Failed(e) => (None, Some(e), false),
                Finish::Cancelled => (None, Some(cancel_reason(timed_out, job.deadline)), false),
            };
            events.push(|| Event::NodeFinished {
                run_id: job.run_id.clone(),
                node: node.name.clone(),
                status,
                error: error.clone(),
            });
            if status == NodeStatus::Waiting {
                waiting += 1;
                changes.push(Change::NodeWaiting { node: node.name.clone(), reason: error.unwrap_or_default() });
                continue;
            }
            let result = NodeResult::new(status, output.as_ref(), error.clone(), untrusted);
            changes.push(Change::NodeFinished { node: node.name.clone(), status, output, error, untrusted });
            settle(&program, &data, &mut remaining, &mut ready, i, result);
        }
    }

    // The run's end.
    let mut failed = None;
    let mut rejected = false;
    for (i, node) in program.nodes.iter().enumerate() {
        match data.result(i).map(|r| (r.status, r.error.clone())) {
            Some((NodeStatus::Failed, error)) if program.spec(i).on_error == OnError::Fail => {
                failed.get_or_insert_with(|| format!("node `{}` failed: {}", node.id, error.unwrap_or_default()));
            }
            Some((NodeStatus::Rejected, _)) => rejected = true,
            _ => {}
        }
    }
    let mut outputs = None;
    let mut outputs_untrusted = false;
    let (status, error) = if let Some(err) = store_error {
        (RunStatus::Failed, Some(err))
    } else if timed_out {
        (RunStatus::Failed, Some(cancel_reason(true, job.deadline)))
    } else if job.cancel.is_cancelled() {
        (RunStatus::Cancelled, Some("cancelled".to_string()))
    } else if let Some(err) = failed {
        (RunStatus::Failed, Some(err))
    } else if waiting > 0 {
        (RunStatus::Waiting, None)
    } else {
        let rendered = secrets::with_broker(&job.services.broker, &program.name, || render_outputs(&program, &data));
        match rendered {
            Ok((value, untrusted)) => {
                outputs = Some(value);
                outputs_untrusted = untrusted;
                (if rejected { RunStatus::Rejected } else { RunStatus::Succeeded }, None)
            }
            Err(err) => (RunStatus::Failed, Some(err)),
        }
    };
    changes.push(Change::RunStatus { status, error: error.clone(), outputs: outputs.clone() });
    if let Err(err) = store.apply(&job.run_id, std::mem::take(&mut changes)) {
        observer.event(&Event::StoreTrouble { message: err.to_string() });
    }
    for event in events.list.drain(..) {
        observer.event(&event);
    }
    observer.event(&Event::RunFinished {
        run_id: job.run_id.to_string(),
        status,
        error: error.clone(),
        depth: job.depth,
    });
    let approvals = if status == RunStatus::Waiting {
        store
            .approvals(&job.run_id)
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.state == super::record::ApprovalState::Pending)
            .collect()
    } else {
        Vec::new()
    };
    // What leaves the engine is masked like what it records.
    let masker = &job.services.runtime.masker;
    let outputs = outputs.map(|o| masker.mask_value(o));
    let error = masker.mask_opt(error);
    RunReport { run_id: job.run_id.to_string(), status, outputs, outputs_untrusted, error, waiting: approvals }
}

fn cancel_reason(timed_out: bool, deadline: Option<(Instant, Duration)>) -> String {
    match (timed_out, deadline) {
        (true, Some((_, d))) => format!("the skill timed out after {}", syntax::duration::format(d)),
        _ => "cancelled".to_string(),
    }
}

/// Events for the observer, built only when it listens.
struct Events {
    on: bool,
    list: Vec<Event>,
}

impl Events {
    fn push(&mut self, event: impl FnOnce() -> Event) {
        if self.on {
            self.list.push(event());
        }
    }
}

/// Nodes whose dependencies have all ended, in the order they became ready; inline kinds
/// apart, since they need no slot.
#[derive(Default)]
struct Ready {
    inline: VecDeque<usize>,
    other: VecDeque<usize>,
}

impl Ready {
    fn push(&mut self, program: &Program, i: usize) {
        if program.nodes[i].inline { self.inline.push_back(i) } else { self.other.push_back(i) }
    }

    fn next(&mut self, slot_free: bool) -> Option<usize> {
        self.inline.pop_front().or_else(|| if slot_free { self.other.pop_front() } else { None })
    }

    fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.other.is_empty()
    }
}

/// Records a node's end and readies dependents whose dependencies have all ended.
fn settle(program: &Program, data: &RunData, remaining: &mut [usize], ready: &mut Ready, i: usize, result: NodeResult) {
    let _ = data.results[i].set(result);
    for &d in &program.nodes[i].dependents {
        if data.result(d).is_some() {
            continue;
        }
        remaining[d] -= 1;
        if remaining[d] == 0 {
            ready.push(program, d);
        }
    }
}

enum Decision {
    Skip(String),
    Fail(String),
    Run(Work),
}

fn decide(program: &Program, data: &Arc<RunData>, scope: &Scope, i: usize) -> Decision {
    let node = &program.nodes[i];
    let mut skipped_dep = None;
    for &d in &node.deps {
        let Some(result) = data.result(d) else { continue };
        let dep = &program.nodes[d];
        match result.status {
            NodeStatus::Failed if program.spec(d).on_error == OnError::Fail => {
                return Decision::Skip(format!("`{}` failed", dep.id));
            }
            NodeStatus::Cancelled => return Decision::Skip(format!("`{}` was cancelled", dep.id)),
            NodeStatus::Skipped | NodeStatus::Rejected if skipped_dep.is_none() => {
                skipped_dep = Some(format!("`{}` was {}", dep.id, result.status));
            }
            _ => {}
        }
    }
    match &node.cond {
        Some(cond) => match program.condition(cond, scope) {
            Ok(true) => {}
            Ok(false) => return Decision::Skip("`if:` was false".to_string()),
            Err(e) => return Decision::Fail(e),
        },
        None => {
            if let Some(reason) = skipped_dep {
                return Decision::Skip(reason);
            }
        }
    }
    if let Some(for_each) = &node.for_each {
        let mut tainted = Vec::new();
        return match program.render(for_each, scope, &mut tainted) {
            Ok(Value::Array(items)) => Decision::Run(Work::Items(items)),
            Ok(other) => Decision::Fail(format!("`for_each` must give a list, but gave {}", short(&other))),
            Err(e) => Decision::Fail(format!("for_each: {e}")),
        };
    }
    let mut tainted = Vec::new();
    match program.render(&node.with, scope, &mut tainted) {
        Ok(with) => match program.check_with(node, &with) {
            Ok(()) => Decision::Run(Work::Single { with, tainted }),
            Err(e) => Decision::Fail(e),
        },
        Err(e) => Decision::Fail(format!("with.{e}")),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text }
}

fn render_outputs(program: &Program, data: &Arc<RunData>) -> Result<(Value, bool), String> {
    let scope = Scope::new(data.clone());
    let mut out = serde_json::Map::new();
    let mut tainted = Vec::new();
    for (name, tpl) in &program.outputs {
        let v = program.render(tpl, &scope, &mut tainted).map_err(|e| format!("output `{name}`: {e}"))?;
        out.insert(name.clone(), v);
    }
    Ok((Value::Object(out), !tainted.is_empty()))
}

fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get()).max(4)
}
