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

use super::executor::{NodeCtx, NodeError, Outcome, Output};
use super::program::{NodeResult, Program, RunData, Scope};
use super::record::{Change, LogLevel, NodeStatus, RunStatus};
use super::services::Services;
use super::{Event, RunReport};
use crate::model::OnError;

/// How long a node gets to stop after its token fires before it is abandoned.
const GRACE: Duration = Duration::from_secs(5);

/// How a node (or a for-each item) ended.
#[derive(Debug)]
pub(crate) enum Finish {
    Done(Output),
    Rejected(Output),
    Waiting(String),
    Failed(String),
    Cancelled,
}

pub(crate) struct Job {
    pub program: Arc<Program>,
    pub data: Arc<RunData>,
    pub services: Arc<Services>,
    pub run_id: Arc<str>,
    pub cancel: CancellationToken,
    pub depth: u32,
    pub deadline: Option<(Instant, Duration)>,
}

enum Work {
    Single { with: Value, tainted: Vec<String> },
    Items(Vec<Value>),
}

fn status_of(finish: &Finish) -> NodeStatus {
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
    let observer = job.services.runtime.observer.clone();
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
        while !job.cancel.is_cancelled() {
            let Some(i) = ready.next(running + slots_taken < limit) else { break };
            let node = &program.nodes[i];
            match decide(&program, &data, &scope, i) {
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
                    let result = program.nodes[i].executor.as_ref().and_then(|e| e.run_inline(with));
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
                    let handle = tasks.spawn(async move { (i, task.await) });
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
        match render_outputs(&program, &data) {
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
    RunReport { run_id: job.run_id.to_string(), status, outputs, outputs_untrusted, error, waiting: approvals }
}

fn cancel_reason(timed_out: bool, deadline: Option<(Instant, Duration)>) -> String {
    match (timed_out, deadline) {
        (true, Some((_, d))) => format!("the skill timed out after {}", crate::duration::format(d)),
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

fn node_task(job: &Job, i: usize, work: Work) -> super::executor::BoxFuture<'static, Finish> {
    let program = job.program.clone();
    let data = job.data.clone();
    let services = job.services.clone();
    let run_id = job.run_id.clone();
    let cancel = job.cancel.clone();
    let depth = job.depth;
    Box::pin(async move {
        let unit = Unit { program: program.clone(), services, run_id, cancel, depth, node: i };
        match work {
            Work::Single { with, tainted } => unit.attempts(None, with, tainted).await,
            Work::Items(items) => unit.items(&data, items).await,
        }
    })
}

/// One node's work: its attempts, or its for-each items.
#[derive(Clone)]
struct Unit {
    program: Arc<Program>,
    services: Arc<Services>,
    run_id: Arc<str>,
    cancel: CancellationToken,
    depth: u32,
    node: usize,
}

impl Unit {
    async fn attempts(&self, index: Option<usize>, with: Value, tainted: Vec<String>) -> Finish {
        let node = &self.program.nodes[self.node];
        let spec = self.program.spec(self.node);
        let Some(executor) = node.executor.clone() else {
            return Finish::Failed(format!(
                "node kind `{}` cannot run in this build of Pyra yet (it has a schema, not an executor)",
                spec.uses
            ));
        };
        let key = match index {
            Some(i) => format!("{}[{i}]", node.id),
            None => node.id.clone(),
        };
        let retry = spec.retry.as_ref();
        let attempts = retry.map_or(1, |r| r.attempts.max(1));
        let tainted: Arc<[String]> = if tainted.is_empty() { no_taint() } else { tainted.into() };
        let mut last_error = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                let delay = backoff(retry, attempt);
                let change = Change::NodeRetrying { node: Arc::from(key.as_str()), attempt, error: last_error.clone() };
                if let Err(e) = self.services.store.apply(&self.run_id, vec![change]) {
                    return Finish::Failed(e.to_string());
                }
                self.services.log(
                    &self.run_id,
                    Some(&key),
                    LogLevel::Warn,
                    &format!(
                        "attempt {} failed: {last_error}; retrying in {}",
                        attempt - 1,
                        crate::duration::format(delay)
                    ),
                );
                self.services.runtime.observer.event(&Event::NodeRetrying {
                    run_id: self.run_id.clone(),
                    node: Arc::from(key.as_str()),
                    attempt,
                    error: last_error.clone(),
                });
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.cancel.cancelled() => return Finish::Cancelled,
                }
            }
            // A child token only when a timeout may fire it; otherwise the run's own.
            let token = if spec.timeout.is_some() { self.cancel.child_token() } else { self.cancel.clone() };
            let ctx = NodeCtx {
                run_id: self.run_id.clone(),
                node_id: node.name.clone(),
                skill: self.program.name.clone(),
                index,
                attempt,
                cancel: token.clone(),
                tainted: tainted.clone(),
                services: self.services.clone(),
                depth: self.depth,
            };
            let mut fut = executor.execute(ctx, with.clone());
            let result = match spec.timeout {
                Some(timeout) => tokio::select! {
                    r = &mut fut => r,
                    () = tokio::time::sleep(timeout.0) => {
                        token.cancel();
                        let _ = tokio::time::timeout(GRACE, &mut fut).await;
                        Err(NodeError::Retryable(format!("timed out after {}", crate::duration::format(timeout.0))))
                    }
                },
                None => fut.await,
            };
            match result {
                Ok(Outcome::Done(o)) => return Finish::Done(o),
                Ok(Outcome::Rejected(o)) => return Finish::Rejected(o),
                Ok(Outcome::Waiting(why)) => return Finish::Waiting(why),
                Err(_) if self.cancel.is_cancelled() => return Finish::Cancelled,
                Err(NodeError::Cancelled) => return Finish::Cancelled,
                Err(NodeError::Retryable(e)) if attempt < attempts => last_error = e,
                Err(e) => {
                    let message = e.message();
                    return Finish::Failed(if attempts > 1 {
                        format!("{message} (after {attempt} attempts)")
                    } else {
                        message
                    });
                }
            }
        }
        Finish::Failed(last_error)
    }

    async fn items(&self, data: &Arc<RunData>, items: Vec<Value>) -> Finish {
        let node = &self.program.nodes[self.node];
        let spec = self.program.spec(self.node);
        let limit = spec.concurrency.unwrap_or(4).max(1) as usize;
        let continue_on_error = spec.on_error == OnError::Continue;
        // Items that finished in an earlier attempt of this run are not run again.
        let done: std::collections::HashMap<Arc<str>, (Value, bool)> = self
            .services
            .store
            .nodes(&self.run_id)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.status == NodeStatus::Succeeded && r.node.starts_with(&format!("{}[", node.id)))
            .map(|r| (r.node, (r.output.unwrap_or(Value::Null), r.untrusted)))
            .collect();
        let semaphore = Arc::new(tokio::sync::Semaphore::new(limit));
        let stop = CancellationToken::new();
        let mut set: JoinSet<(usize, Finish)> = JoinSet::new();
        for (index, item) in items.iter().enumerate() {
            let key = format!("{}[{index}]", node.id);
            if let Some((value, untrusted)) = done.get(key.as_str()) {
                let finish = Finish::Done(Output { value: value.clone(), untrusted: *untrusted });
                set.spawn(async move { (index, finish) });
                continue;
            }
            let permit = tokio::select! {
                p = semaphore.clone().acquire_owned() => p,
                () = stop.cancelled() => break,
                () = self.cancel.cancelled() => break,
            };
            let Ok(permit) = permit else { break };
            let unit = self.clone();
            let item_scope = Scope::with_item(data.clone(), item, index);
            let stop = stop.clone();
            set.spawn(async move {
                let finish = unit.item(index, &item_scope).await;
                let tolerated = continue_on_error && matches!(finish, Finish::Failed(_));
                if !matches!(finish, Finish::Done(_)) && !tolerated {
                    stop.cancel();
                }
                drop(permit);
                (index, finish)
            });
        }
        let mut results: Vec<Option<Finish>> = (0..items.len()).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((index, finish)) => results[index] = Some(finish),
                Err(err) => return Finish::Failed(format!("internal error in an item: {err}")),
            }
        }
        if self.cancel.is_cancelled() {
            return Finish::Cancelled;
        }
        let mut values = Vec::with_capacity(items.len());
        let mut untrusted = false;
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Some(Finish::Done(o)) => {
                    untrusted |= o.untrusted;
                    values.push(o.value);
                }
                // With `on_error: continue`, a failed item leaves a null in its slot (its
                // error stays on the item's record) and the others still count.
                Some(Finish::Failed(_)) if continue_on_error => values.push(Value::Null),
                Some(Finish::Failed(e)) => return Finish::Failed(format!("item {index}: {e}")),
                Some(Finish::Rejected(o)) => return Finish::Rejected(o),
                Some(Finish::Waiting(why)) => return Finish::Waiting(format!("item {index}: {why}")),
                Some(Finish::Cancelled) => return Finish::Cancelled,
                None => return Finish::Failed(format!("item {index} did not run because an earlier item failed")),
            }
        }
        Finish::Done(Output { value: Value::Array(values), untrusted })
    }

    async fn item(&self, index: usize, scope: &Scope) -> Finish {
        let node = &self.program.nodes[self.node];
        let key = format!("{}[{index}]", node.id);
        let mut tainted = Vec::new();
        let rendered = self
            .program
            .render(&node.with, scope, &mut tainted)
            .map_err(|e| format!("with.{e}"))
            .and_then(|with| self.program.check_with(node, &with).map(|()| with));
        let input = rendered.as_ref().map_or(Value::Null, Clone::clone);
        let key: Arc<str> = Arc::from(key.as_str());
        let start = Change::NodeStarted { node: key.clone(), attempt: 1, input };
        if let Err(e) = self.services.store.apply(&self.run_id, vec![start]) {
            return Finish::Failed(e.to_string());
        }
        let finish = match rendered {
            Ok(with) => self.attempts(Some(index), with, tainted).await,
            Err(e) => Finish::Failed(e),
        };
        let (output, error, untrusted) = match &finish {
            Finish::Done(o) | Finish::Rejected(o) => (Some(o.value.clone()), None, o.untrusted),
            Finish::Waiting(w) => (None, Some(w.clone()), false),
            Finish::Failed(e) => (None, Some(e.clone()), false),
            Finish::Cancelled => (None, Some("cancelled".to_string()), false),
        };
        let change = if let Finish::Waiting(reason) = &finish {
            Change::NodeWaiting { node: key, reason: reason.clone() }
        } else {
            Change::NodeFinished { node: key, status: status_of(&finish), output, error, untrusted }
        };
        if let Err(e) = self.services.store.apply(&self.run_id, vec![change]) {
            return Finish::Failed(e.to_string());
        }
        finish
    }
}

/// The shared empty taint list (most values are clean; no allocation for them).
fn no_taint() -> Arc<[String]> {
    static EMPTY: std::sync::OnceLock<Arc<[String]>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::from(Vec::new())).clone()
}

/// Exponential backoff: `backoff × 2^(attempt-2)`, capped at `max_backoff`, then (unless
/// `jitter: false`) spread over ±50% so retries of many runs do not arrive together.
pub fn backoff(retry: Option<&crate::model::Retry>, attempt: u32) -> Duration {
    let base = retry.and_then(|r| r.backoff).map_or(Duration::from_secs(1), |d| d.0);
    let cap = retry.and_then(|r| r.max_backoff).map_or(Duration::from_secs(60), |d| d.0);
    let exp = attempt.saturating_sub(2).min(30);
    let delay = base.saturating_mul(1u32 << exp).min(cap);
    if retry.and_then(|r| r.jitter).unwrap_or(true) { delay.mul_f64(0.5 + fastrand::f64()).min(cap) } else { delay }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration as D;
    use crate::model::Retry;

    #[test]
    fn backoff_doubles_is_capped_and_jitters_within_half() {
        let retry = Retry {
            attempts: 10,
            backoff: Some(D(Duration::from_millis(100))),
            max_backoff: Some(D(Duration::from_millis(500))),
            jitter: Some(false),
        };
        let waits: Vec<u128> = (2..=6).map(|a| backoff(Some(&retry), a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        let jittered = Retry { jitter: None, ..retry };
        for attempt in 2..=6 {
            let plain = backoff(Some(&Retry { jitter: Some(false), ..jittered.clone() }), attempt);
            let w = backoff(Some(&jittered), attempt);
            assert!(w >= plain / 2 && w <= Duration::from_millis(500), "{w:?} for attempt {attempt}");
        }
        // Defaults: 1s, jittered.
        let first = backoff(None, 2);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(1500), "{first:?}");
    }
}
