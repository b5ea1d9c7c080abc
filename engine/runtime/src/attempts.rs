//! One node's work once the scheduler has started it: its attempts (timeouts, retries
//! with exponential backoff and jitter, each attempt's cancellation token), or, with
//! `for_each`, its items (at most `concurrency` at a time, each recorded as `node[i]`,
//! results in item order, items that succeeded before a resume reused).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Event;
use super::executor::{NodeCtx, NodeError, Outcome, Output};
use super::program::{Program, RunData, Scope};
use super::record::{Change, LogLevel, NodeStatus};
use super::scheduler::{Finish, Job, Work, status_of};
use super::services::Services;
use lang::model::OnError;

/// How long a node gets to stop after its token fires before it is abandoned.
const GRACE: Duration = Duration::from_secs(5);

pub(crate) fn node_task(job: &Job, i: usize, work: Work) -> super::executor::BoxFuture<'static, Finish> {
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
                        syntax::duration::format(delay)
                    ),
                );
                self.services.observer.event(&Event::NodeRetrying {
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
                call: None,
                ask: false,
            };
            // A span per attempt at `debug` (a 10,000-node run makes 10,000 of them): the
            // daemon's `info` log does not pay for them, and the events below name the
            // node themselves.
            // Fields as `&str`, not `Display`: formatting them cost a span about a third
            // of what the OpenTelemetry export spends on it.
            let span = tracing::debug_span!(
                "node",
                run_id = &*self.run_id,
                skill = &*self.program.name,
                node = key.as_str(),
                kind = spec.uses.as_str(),
                attempt,
            );
            let mut fut = tracing::Instrument::instrument(executor.execute(ctx, with.clone()), span.clone());
            let result = match spec.timeout {
                Some(timeout) => tokio::select! {
                    r = &mut fut => r,
                    () = tokio::time::sleep(timeout.0) => {
                        token.cancel();
                        let _ = tokio::time::timeout(GRACE, &mut fut).await;
                        Err(NodeError::Retryable(format!("timed out after {}", syntax::duration::format(timeout.0))))
                    }
                },
                None => fut.await,
            };
            span.in_scope(|| match &result {
                Ok(Outcome::Done(_)) => tracing::debug!("node attempt succeeded"),
                Ok(Outcome::Rejected(_)) => tracing::info!(node = %key, kind = %spec.uses, "node rejected"),
                Ok(Outcome::Waiting(_)) => tracing::info!(node = %key, kind = %spec.uses, "node waits"),
                Err(e) => tracing::warn!(
                    node = %key,
                    kind = %spec.uses,
                    attempt,
                    error = %self.services.runtime.masker.mask(&e.message()),
                    "node attempt failed"
                ),
            });
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
            set.spawn(tracing::Instrument::in_current_span(async move {
                let finish = unit.item(index, &item_scope).await;
                let tolerated = continue_on_error && matches!(finish, Finish::Failed(_));
                if !matches!(finish, Finish::Done(_)) && !tolerated {
                    stop.cancel();
                }
                drop(permit);
                (index, finish)
            }));
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
        let rendered = super::secrets::with_broker(&self.services.broker, &node.name, || {
            self.program.render(&node.with, scope, &mut tainted)
        })
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
pub fn backoff(retry: Option<&lang::model::Retry>, attempt: u32) -> Duration {
    let base = retry.and_then(|r| r.backoff).map_or(Duration::from_secs(1), |d| d.0);
    let cap = retry.and_then(|r| r.max_backoff).map_or(Duration::from_secs(60), |d| d.0);
    let exp = attempt.saturating_sub(2).min(30);
    let delay = base.saturating_mul(1u32 << exp).min(cap);
    if retry.and_then(|r| r.jitter).unwrap_or(true) { delay.mul_f64(0.5 + fastrand::f64()).min(cap) } else { delay }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lang::model::Retry;
    use syntax::duration::Duration as D;

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
