//! Supervised tasks: every long-lived part of the daemon (a trigger source, later a channel)
//! runs under the [`Supervisor`], which catches its error or panic, records it for `pyra
//! daemon status` and starts it again after an exponential [`Backoff`], so that no one task
//! can end the daemon.

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a task may take to end once shutdown is asked before it is aborted: long enough
/// to finish a write, short enough that stopping the daemon feels prompt.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The wait before a failed task is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure in a row.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// A task that ran at least this long before failing was healthy: its failures in a row
    /// count from zero again, so a task that fails once a day waits `initial`, not `max`.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_secs(1), max: Duration::from_secs(60), reset_after: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row (counting from 1): `initial`,
    /// doubled for each further failure, capped at `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// What happened to a supervised task, for the daemon's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEvent {
    /// The task returned an error or panicked. It starts again after `restart_in`, or never
    /// (`None`) because the supervisor is shutting down.
    Failed { task: String, error: String, restart_in: Option<Duration> },
    /// The task was started again after its wait; `restarts` counts every restart so far.
    Restarted { task: String, restarts: u32 },
    /// The task returned `Ok(())`: it ended on purpose and is not restarted.
    Finished { task: String },
    /// The task was still running [`SHUTDOWN_GRACE`] after shutdown was asked, and was aborted.
    Aborted { task: String },
}

/// Receives every [`TaskEvent`]. It runs on the task's supervising loop, so it should be
/// quick and must not panic (a panic would end that task's supervision, not the daemon).
pub type Reporter = Arc<dyn Fn(&TaskEvent) + Send + Sync>;

/// One task's line in `pyra daemon status`. Durations serialize as seconds (an `f64`, or
/// `null`), so readers of the JSON need no unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStatus {
    pub name: String,
    /// The task is running now: false while it waits for a restart and once it has ended.
    pub running: bool,
    /// How many times the task was started again after failing.
    pub restarts: u32,
    /// The last error or panic message, kept after the task recovers.
    pub last_error: Option<String>,
    /// How long ago `last_error` happened.
    #[serde(serialize_with = "serialize_secs")]
    pub last_error_ago: Option<Duration>,
    /// How long until the task starts again, while it waits to.
    #[serde(serialize_with = "serialize_secs")]
    pub next_restart_in: Option<Duration>,
}

fn serialize_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|d| d.as_secs_f64()).serialize(s)
}

/// Runs tasks, restarts them when they fail, and stops them all on [`shutdown`](Self::shutdown).
/// Clones share the same tasks.
#[derive(Clone)]
pub struct Supervisor {
    shared: Arc<Shared>,
}

struct Shared {
    backoff: Backoff,
    reporter: Option<Reporter>,
    shutdown: CancellationToken,
    /// In the order tasks were spawned, which is the order `status` shows.
    tasks: Mutex<Vec<Entry>>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct Entry {
    name: String,
    running: bool,
    restarts: u32,
    last_error: Option<(String, Instant)>,
    restart_at: Option<Instant>,
}

impl Supervisor {
    /// A supervisor with no tasks yet; `reporter` hears of every failure, restart and end.
    pub fn new(backoff: Backoff, reporter: Option<Reporter>) -> Self {
        let shared = Shared {
            backoff,
            reporter,
            shutdown: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            loops: Mutex::new(Vec::new()),
        };
        Self { shared: Arc::new(shared) }
    }

    /// Runs `make(token)` as a supervised task named `name`. The task should return when
    /// `token` is cancelled (at shutdown); `Ok(())` ends it for good, while `Err(message)` or
    /// a panic is recorded and the task is made again with `make` after the backoff wait.
    /// After [`shutdown`](Self::shutdown) the task is listed but never started.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, make: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let name = name.into();
        let id = {
            let mut tasks = locked(&self.shared.tasks);
            tasks.push(Entry { name: name.clone(), ..Entry::default() });
            tasks.len() - 1
        };
        let handle = tokio::spawn(supervise(Arc::clone(&self.shared), id, name, Arc::new(make)));
        let mut loops = locked(&self.shared.loops);
        loops.retain(|h| !h.is_finished());
        loops.push(handle);
    }

    /// Every task, in the order they were spawned.
    pub fn status(&self) -> Vec<TaskStatus> {
        let now = Instant::now();
        locked(&self.shared.tasks)
            .iter()
            .map(|e| TaskStatus {
                name: e.name.clone(),
                running: e.running,
                restarts: e.restarts,
                last_error: e.last_error.as_ref().map(|(message, _)| message.clone()),
                last_error_ago: e.last_error.as_ref().map(|(_, at)| now.saturating_duration_since(*at)),
                next_restart_in: e.restart_at.map(|at| at.saturating_duration_since(now)),
            })
            .collect()
    }

    /// Cancels every task's token, ends the waits for restarts at once, and returns when every
    /// task has ended; a task still running [`SHUTDOWN_GRACE`] later is aborted.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        let loops = std::mem::take(&mut *locked(&self.shared.loops));
        for handle in loops {
            // Each loop bounds its own wait by the grace; an error here can only be a
            // panicking reporter, and that loop is already gone.
            let _ = handle.await;
        }
    }
}

impl Shared {
    fn update<R>(&self, id: usize, f: impl FnOnce(&mut Entry) -> R) -> R {
        f(&mut locked(&self.tasks)[id])
    }

    fn report(&self, event: TaskEvent) {
        if let Some(reporter) = &self.reporter {
            reporter(&event);
        }
    }
}

/// One task's life: start it, wait for its end, and start it again after a failure until it
/// finishes on purpose or the supervisor shuts down.
async fn supervise<F, Fut>(shared: Arc<Shared>, id: usize, name: String, make: Arc<F>)
where
    F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let shutdown = &shared.shutdown;
    let mut failures_in_a_row = 0u32;
    while !shutdown.is_cancelled() {
        shared.update(id, |e| {
            e.running = true;
            e.restart_at = None;
        });
        let started = Instant::now();
        let (make, token) = (Arc::clone(&make), shutdown.clone());
        // A task of its own, so that a panic (even in `make`) unwinds into its JoinHandle
        // instead of through this loop.
        let mut run = tokio::spawn(async move { make(token).await });
        let joined = tokio::select! {
            biased;
            joined = &mut run => joined,
            () = shutdown.cancelled() => match tokio::time::timeout(SHUTDOWN_GRACE, &mut run).await {
                Ok(joined) => joined,
                Err(_) => {
                    // Not awaited: a task stuck outside an await point would hold up
                    // shutdown for good.
                    run.abort();
                    shared.update(id, |e| e.running = false);
                    shared.report(TaskEvent::Aborted { task: name });
                    return;
                }
            },
        };
        shared.update(id, |e| e.running = false);
        let error = match joined {
            Ok(Ok(())) => {
                shared.report(TaskEvent::Finished { task: name });
                return;
            }
            Ok(Err(message)) => message,
            Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
            // Cancelled: only the runtime going away does that, since the abort above returns.
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= shared.backoff.reset_after {
            failures_in_a_row = 0;
        }
        failures_in_a_row = failures_in_a_row.saturating_add(1);
        let wait = (!shutdown.is_cancelled()).then(|| shared.backoff.delay(failures_in_a_row));
        let now = Instant::now();
        shared.update(id, |e| {
            e.last_error = Some((error.clone(), now));
            e.restart_at = wait.map(|wait| now + wait);
        });
        shared.report(TaskEvent::Failed { task: name.clone(), error, restart_in: wait });
        let Some(wait) = wait else { return };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                shared.update(id, |e| e.restart_at = None);
                return;
            }
            () = tokio::time::sleep(wait) => {}
        }
        let restarts = shared.update(id, |e| {
            e.restarts += 1;
            e.restarts
        });
        shared.report(TaskEvent::Restarted { task: name.clone(), restarts });
    }
}

/// `panic!` carries a `&str` when given a literal and a `String` when it formats.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast_ref::<&str>() {
            Some(message) => (*message).to_owned(),
            None => "a panic without a message".to_owned(),
        },
    }
}

/// A panic never happens while the lock is held (the closures only assign), but a poisoned
/// table must not take `status` down with it.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use tokio::time::sleep;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn millis(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// A supervisor with the default backoff and the events it reports.
    fn supervisor() -> (Supervisor, Arc<Mutex<Vec<TaskEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let reporter: Reporter = Arc::new(move |e: &TaskEvent| sink.lock().unwrap().push(e.clone()));
        (Supervisor::new(Backoff::default(), Some(reporter)), events)
    }

    /// Records the instant of each start and returns its number, counting from 1.
    #[derive(Clone, Default)]
    struct Starts(Arc<Mutex<Vec<Instant>>>);

    impl Starts {
        fn record(&self) -> usize {
            let mut starts = self.0.lock().unwrap();
            starts.push(Instant::now());
            starts.len()
        }

        fn count(&self) -> usize {
            self.0.lock().unwrap().len()
        }

        fn gaps(&self) -> Vec<Duration> {
            self.0.lock().unwrap().windows(2).map(|w| w[1] - w[0]).collect()
        }
    }

    fn restart_waits(events: &Mutex<Vec<TaskEvent>>) -> Vec<Option<Duration>> {
        let events = events.lock().unwrap();
        events
            .iter()
            .filter_map(|e| if let TaskEvent::Failed { restart_in, .. } = e { Some(*restart_in) } else { None })
            .collect()
    }

    fn status_of(sup: &Supervisor, name: &str) -> TaskStatus {
        sup.status().into_iter().find(|s| s.name == name).unwrap()
    }

    fn boom(n: usize) -> Result<(), String> {
        panic!("boom {n}")
    }

    async fn until_cancelled(token: CancellationToken) -> Result<(), String> {
        token.cancelled().await;
        Ok(())
    }

    #[test]
    fn the_wait_doubles_from_initial_up_to_max() {
        let backoff = Backoff::default();
        let waits: Vec<_> = (1..=9).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.delay(u32::MAX), secs(60));
    }

    #[test]
    fn the_panic_message_is_taken_from_a_str_or_a_string() {
        assert_eq!(panic_message(Box::new("literal")), "literal");
        assert_eq!(panic_message(Box::new(String::from("formatted"))), "formatted");
        assert_eq!(panic_message(Box::new(42)), "a panic without a message");
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_restarts_after_doubling_waits_while_the_others_keep_running() {
        let (sup, events) = supervisor();
        let starts = Starts::default();
        let s = starts.clone();
        sup.spawn("flaky", move |_| {
            let s = s.clone();
            async move { boom(s.record()) }
        });
        let ticks = Arc::new(AtomicU32::new(0));
        let t = Arc::clone(&ticks);
        sup.spawn("ticker", move |token| {
            let t = Arc::clone(&t);
            async move {
                loop {
                    tokio::select! {
                        () = token.cancelled() => return Ok(()),
                        () = sleep(secs(1)) => { t.fetch_add(1, Ordering::Relaxed); }
                    }
                }
            }
        });

        // Starts at 0, 1, 3, 7, 15, 31, 63, 123 and 183 s; the ninth failure waits 60 s.
        sleep(millis(183_500)).await;
        assert_eq!(starts.gaps(), [1, 2, 4, 8, 16, 32, 60, 60].map(secs));
        assert_eq!(restart_waits(&events), [1, 2, 4, 8, 16, 32, 60, 60, 60].map(|s| Some(secs(s))));
        assert_eq!(ticks.load(Ordering::Relaxed), 183);
        assert_eq!(
            status_of(&sup, "flaky"),
            TaskStatus {
                name: "flaky".into(),
                running: false,
                restarts: 8,
                last_error: Some("panicked: boom 9".into()),
                last_error_ago: Some(millis(500)),
                next_restart_in: Some(millis(59_500)),
            }
        );
        let ticker = status_of(&sup, "ticker");
        assert!(ticker.running);
        assert_eq!((ticker.restarts, ticker.last_error), (0, None));
        sup.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_is_recorded_with_its_message_and_kept_after_the_restart() {
        let (sup, events) = supervisor();
        let starts = Starts::default();
        let s = starts.clone();
        sup.spawn("mail", move |token| {
            let first = s.record() == 1;
            async move { if first { Err("disk full".to_owned()) } else { until_cancelled(token).await } }
        });

        sleep(millis(500)).await;
        let waiting = status_of(&sup, "mail");
        assert_eq!(
            serde_json::to_value(&waiting).unwrap(),
            serde_json::json!({
                "name": "mail",
                "running": false,
                "restarts": 0,
                "last_error": "disk full",
                "last_error_ago": 0.5,
                "next_restart_in": 0.5,
            })
        );

        sleep(secs(1)).await;
        let restarted = status_of(&sup, "mail");
        assert!(restarted.running);
        assert_eq!(restarted.restarts, 1);
        assert_eq!(restarted.last_error.as_deref(), Some("disk full"));
        assert_eq!(restarted.next_restart_in, None);
        assert_eq!(
            *events.lock().unwrap(),
            [
                TaskEvent::Failed { task: "mail".into(), error: "disk full".into(), restart_in: Some(secs(1)) },
                TaskEvent::Restarted { task: "mail".into(), restarts: 1 },
            ]
        );
        sup.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ran_healthily_for_ten_minutes_waits_the_initial_second_again() {
        let (sup, events) = supervisor();
        let starts = Starts::default();
        let s = starts.clone();
        sup.spawn("feed", move |token| {
            let start = s.record();
            async move {
                // Two quick failures, then one just short of healthy, then one healthy.
                match start {
                    1 | 2 => Err(format!("quick {start}")),
                    3 => {
                        sleep(secs(599)).await;
                        Err("after 599 s".to_owned())
                    }
                    4 => {
                        sleep(secs(600)).await;
                        Err("after 600 s".to_owned())
                    }
                    _ => until_cancelled(token).await,
                }
            }
        });

        sleep(secs(1300)).await;
        assert_eq!(restart_waits(&events), [1, 2, 4, 1].map(|s| Some(secs(s))));
        // Each gap is the previous run's length plus the wait after it.
        assert_eq!(starts.gaps(), [1, 2, 599 + 4, 600 + 1].map(secs));
        assert!(status_of(&sup, "feed").running);
        sup.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_returns_ok_is_not_restarted() {
        let (sup, events) = supervisor();
        let starts = Starts::default();
        let s = starts.clone();
        sup.spawn("once", move |_| {
            s.record();
            async { Ok(()) }
        });

        sleep(secs(3600)).await;
        assert_eq!(starts.count(), 1);
        let status = status_of(&sup, "once");
        assert!(!status.running);
        assert_eq!((status.restarts, status.last_error, status.next_restart_in), (0, None, None));
        assert_eq!(*events.lock().unwrap(), [TaskEvent::Finished { task: "once".into() }]);
        sup.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_running_and_waiting_tasks_at_once() {
        let (sup, events) = supervisor();
        sup.spawn("polite", until_cancelled);
        let starts = Starts::default();
        let s = starts.clone();
        sup.spawn("failing", move |_| {
            s.record();
            async { Err("down".to_owned()) }
        });
        // Starts at 0, 1, 3, 7, 15, 31 and 63 s; at 100 s it waits for the one at 123 s.
        sleep(secs(100)).await;
        assert_eq!(starts.count(), 7);

        let asked = Instant::now();
        sup.shutdown().await;
        assert_eq!(asked.elapsed(), Duration::ZERO);
        for status in sup.status() {
            assert!(!status.running, "{status:?}");
            assert_eq!(status.next_restart_in, None, "{status:?}");
        }
        assert!(events.lock().unwrap().contains(&TaskEvent::Finished { task: "polite".into() }));

        // No restart comes later, and a task spawned now never starts.
        let s = starts.clone();
        sup.spawn("late", move |_| {
            s.record();
            async { Ok(()) }
        });
        sleep(secs(3600)).await;
        assert_eq!(starts.count(), 7);
        assert!(!status_of(&sup, "late").running);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_cancellation_is_aborted_after_the_grace() {
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }

        let (sup, events) = supervisor();
        let dropped = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&dropped);
        sup.spawn("stubborn", move |_| {
            let guard = SetOnDrop(Arc::clone(&d));
            async move {
                let _guard = guard;
                std::future::pending::<Result<(), String>>().await
            }
        });
        sup.spawn("polite", until_cancelled);
        sleep(secs(1)).await;

        let asked = Instant::now();
        sup.shutdown().await;
        assert_eq!(asked.elapsed(), SHUTDOWN_GRACE);
        // The abort lands when the runtime next polls the task; time only moves once it has.
        sleep(millis(1)).await;
        assert!(dropped.load(Ordering::Relaxed));
        let events = events.lock().unwrap();
        assert!(events.contains(&TaskEvent::Aborted { task: "stubborn".into() }), "{events:?}");
        assert!(events.contains(&TaskEvent::Finished { task: "polite".into() }), "{events:?}");
        assert!(sup.status().iter().all(|s| !s.running));
    }
}
