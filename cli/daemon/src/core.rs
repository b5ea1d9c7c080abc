//! The daemon itself: the skills it armed, the triggers they declare, the runs it owns,
//! and the operations its socket serves.
//!
//! Data flow: the [`Catalog`] (the CLI's view of the skill folders) → [`Daemon::reload`]
//! compiles each skill (a broken edit keeps the last good version armed, its diagnostic in
//! `status` and the log) → cron triggers become [`CronArm`]s, event triggers a table by
//! name → the cron task wakes at the next slot (through the one [`Clock`], at most every
//! [`TICK`] so a suspended laptop or a clock jump is noticed within seconds), decides each
//! due slot ([`crate::slots`]), claims it in [`History`] and starts the run inside the
//! daemon (at most `max_runs` at once) as an ordinary run of `pyra.db`, recorded with what
//! started it.
//!
//! **Invariants:** a slot runs only after its claim committed, under a run id chosen
//! before the claim, so a crash anywhere leads to that run being started or resumed, never
//! to a second one; a changed schedule is a new trigger key armed from now, so no slot of
//! the old schedule is replayed; reload never touches a run in flight or a waiting run.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clock::Clock;
use lang::cron::CronExpr;
use lang::model::{CatchUp, EventTrigger, Overlap, Trigger};
use runtime::program::Program;
use runtime::{Origin, RunError, Runtime, SkillText, SqliteStore};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::history::{History, outcome};
use crate::log::Log;
use crate::slots::{self, Decision, OnTime};
use crate::supervisor::Supervisor;
use crate::watch::WatchDef;

mod catalog;
mod events;
mod resume;
mod status;

pub use events::{event_inputs, trigger_inputs};
pub use status::rss_bytes;

/// The longest the cron and deadline tasks sleep before looking at the wall clock again:
/// a slot fires at most this late after a suspend or a clock jump.
pub const TICK: Duration = Duration::from_secs(5);

/// A slot that comes at most this late (the daemon was up) still counts as on time.
const LATE: chrono::Duration = chrono::Duration::minutes(2);

/// How often the skill folders are looked at for changes.
pub const RESCAN: Duration = Duration::from_secs(2);

/// The default catch-up window.
pub const DEFAULT_WINDOW: chrono::Duration = chrono::Duration::days(1);

/// A skill the catalog found: its text, or why it could not be read.
pub struct Entry {
    pub name: String,
    pub text: Result<SkillText, String>,
}

/// Where the daemon's skills come from (the CLI knows the folders and the built-ins).
pub trait Catalog: Send + Sync {
    /// Every skill to arm, read now.
    fn skills(&self) -> Vec<Entry>;
    /// A cheap fingerprint of the folders and files [`Catalog::skills`] reads: when it
    /// changes, the daemon reloads.
    fn fingerprint(&self) -> u64;
}

/// What the daemon is made of; the CLI builds it.
/// `started_by` of runs a messaging channel's message started (their inputs are untrusted).
pub const CHANNEL: &str = "channel";

pub struct Setup {
    pub home: PathBuf,
    /// The runtime runs are started with (store, registry, loader, paths, masker…); the
    /// daemon supplies no terminal, so approvals park.
    pub runtime: Runtime,
    pub sqlite: Arc<SqliteStore>,
    pub history: Arc<History>,
    pub catalog: Arc<dyn Catalog>,
    pub agent: Arc<Agent>,
    pub clock: Clock,
    pub log: Arc<Log>,
    pub max_runs: usize,
    pub version: String,
    /// What `status` shows of the OpenTelemetry export (the CLI's exporter counts; this
    /// crate does not depend on it, which would bring reqwest).
    pub telemetry: Option<fn() -> serde_json::Value>,
    /// The plugin servers runs in the daemon start (`None`: no plugin host).
    pub plugins: Option<Arc<dyn crate::plugins::PluginControl>>,
}

/// A trigger's time zone.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Named(chrono_tz::Tz),
    Local,
}

impl Zone {
    pub fn parse(name: Option<&str>) -> Zone {
        match name.map(str::parse::<chrono_tz::Tz>) {
            Some(Ok(tz)) => Zone::Named(tz),
            _ => Zone::Local,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_string(),
            Zone::Local => "local".into(),
        }
    }

    /// The first slot after `after`.
    pub fn next_after(&self, expr: &CronExpr, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Zone::Named(tz) => expr.next_after(&after.with_timezone(tz)).map(|t| t.with_timezone(&Utc)),
            Zone::Local => expr.next_after(&after.with_timezone(&chrono::Local)).map(|t| t.with_timezone(&Utc)),
        }
    }

    fn missed(
        &self,
        expr: &CronExpr,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: CatchUp,
        window: chrono::Duration,
    ) -> (Vec<slots::Slot>, u64) {
        match self {
            Zone::Named(tz) => slots::missed(expr, tz, last, now, policy, window),
            Zone::Local => slots::missed(expr, &chrono::Local, last, now, policy, window),
        }
    }
}

/// A cron trigger armed.
pub struct CronArm {
    pub skill: String,
    /// `cron <expression> <zone>`: an edited schedule is another key.
    pub key: String,
    pub cron: String,
    pub zone: Zone,
    expr: CronExpr,
    catch_up: CatchUp,
    window: chrono::Duration,
    overlap: Overlap,
    with: Map<String, Value>,
    /// The newest slot decided (or when the trigger was armed).
    last: DateTime<Utc>,
    /// When this process armed it: only later slots can be on time.
    armed_here: DateTime<Utc>,
    pub next: Option<DateTime<Utc>>,
}

struct Armed {
    text: SkillText,
    program: Arc<Program>,
}

/// A skill whose current file does not load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Broken {
    pub name: String,
    /// The located diagnostic, rendered without color.
    pub diagnostic: String,
    /// Whether an earlier version is still armed.
    pub kept_previous: bool,
}

struct Flight {
    skill: String,
    key: Option<String>,
    started_by: String,
    since: i64,
    abort: Option<tokio::task::AbortHandle>,
}

struct Queued {
    slot: i64,
    run_id: String,
    outcome: &'static str,
}

#[derive(Default)]
struct State {
    skills: BTreeMap<String, Armed>,
    broken: BTreeMap<String, Broken>,
    crons: Vec<CronArm>,
    events: Vec<(String, EventTrigger)>,
    flights: HashMap<String, Flight>,
    queues: HashMap<(String, String), VecDeque<Queued>>,
    last_fire: HashMap<(String, String), i64>,
    watches: Vec<Arc<WatchDef>>,
    /// Counts reloads that changed the watch triggers (the watch task re-arms on a new one).
    watch_generation: u64,
    /// Each watch's state as the watch task last set it: `events` or `polling (why)`.
    watch_modes: BTreeMap<(String, String), String>,
    fingerprint: u64,
    reloads: u64,
}

/// The running daemon.
pub struct Daemon {
    pub setup: Setup,
    state: Mutex<State>,
    /// Wakes the cron task (a reload changed the triggers).
    wake: Notify,
    /// Wakes the deadline task (a run started waiting).
    wake_deadlines: Notify,
    runs: Semaphore,
    pub started: Instant,
    pub started_at: DateTime<Utc>,
    pub supervisor: Supervisor,
    pub stop: CancellationToken,
    /// The node kinds runs use: the setup's, replaced when a reload finds the plugins
    /// changed.
    registry: Mutex<Arc<runtime::Kinds>>,
}

fn now_ms() -> i64 {
    runtime::now_ms()
}

impl Daemon {
    pub fn new(setup: Setup, supervisor: Supervisor) -> Arc<Daemon> {
        let runs = Semaphore::new(setup.max_runs.max(1));
        let started_at = setup.clock.now();
        let registry = Mutex::new(setup.runtime.registry.clone());
        Arc::new(Daemon {
            registry,
            setup,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            wake_deadlines: Notify::new(),
            runs,
            started: Instant::now(),
            started_at,
            supervisor,
            stop: CancellationToken::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self) -> &Log {
        &self.setup.log
    }

    /// The runtime runs start with: the setup's, with the node kinds of the last reload.
    pub fn runtime(&self) -> Runtime {
        let mut runtime = self.setup.runtime.clone();
        runtime.registry = self.registry.lock().unwrap_or_else(|p| p.into_inner()).clone();
        runtime
    }

    /// What decides a reload: the skill folders and the plugins' files.
    fn fingerprint(&self) -> u64 {
        let plugins = self.setup.plugins.as_ref().map_or(0, |p| p.fingerprint());
        self.setup.catalog.fingerprint() ^ plugins.rotate_left(1)
    }

    /// Reads every skill again and arms what changed. `at_start`: triggers seen for the
    /// first time in this process catch up from the database; later, a trigger new to
    /// this process (an edited schedule) starts from now.
    pub fn reload(&self, at_start: bool) -> Value {
        let entries = self.setup.catalog.skills();
        let fingerprint = self.fingerprint();
        if let Some(plugins) = &self.setup.plugins
            && !at_start
        {
            *self.registry.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(plugins.kinds());
        }
        let kinds = self.registry.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = self.setup.clock.now();
        let mut st = self.state();
        st.fingerprint = fingerprint;
        st.reloads += 1;
        let mut skills = BTreeMap::new();
        let mut broken = BTreeMap::new();
        for entry in entries {
            let compiled = entry.text.and_then(|text| match runtime::compile(&kinds, &text) {
                Ok(program) => Ok(Armed { text, program }),
                Err(RunError::Invalid { file, diagnostics }) => {
                    Err(diagnostics.iter().map(|d| d.render(&file, false)).collect::<Vec<_>>().join("\n"))
                }
                Err(other) => Err(other.to_string()),
            });
            match compiled {
                Ok(armed) => {
                    skills.insert(entry.name, armed);
                }
                Err(diagnostic) => {
                    let previous = st.skills.remove(&entry.name);
                    let kept_previous = previous.is_some();
                    if let Some(previous) = previous {
                        skills.insert(entry.name.clone(), previous);
                    }
                    let known = st.broken.get(&entry.name).is_some_and(|b| b.diagnostic == diagnostic);
                    if !known {
                        let kept = if kept_previous { "; the last good version stays armed" } else { "" };
                        self.log().warn(&format!("skill {} does not load{kept}:\n{diagnostic}", entry.name));
                    }
                    broken.insert(entry.name.clone(), Broken { name: entry.name, diagnostic, kept_previous });
                }
            }
        }
        // The triggers of what is armed now; those seen before keep their place.
        let mut old: HashMap<(String, String), CronArm> =
            std::mem::take(&mut st.crons).into_iter().map(|a| ((a.skill.clone(), a.key.clone()), a)).collect();
        let mut crons = Vec::new();
        let mut events = Vec::new();
        let mut watches = Vec::new();
        for (name, armed) in &skills {
            // A trigger with `enabled: false` is not armed (its cron row, if any, stays).
            for trigger in armed.program.skill.triggers.iter().filter(|t| t.enabled()) {
                match trigger {
                    Trigger::Cron(c) => {
                        let Ok(expr) = lang::cron::parse(&c.cron) else { continue };
                        let zone = Zone::parse(c.timezone.as_deref());
                        let key = cron_key(&expr, &zone);
                        if let Some(mut arm) = old.remove(&(name.clone(), key.clone())) {
                            arm.catch_up = c.catch_up.unwrap_or(CatchUp::Once);
                            arm.window = window(c);
                            arm.overlap = c.overlap.unwrap_or(Overlap::Skip);
                            arm.with = c.with.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                            crons.push(arm);
                            continue;
                        }
                        if crons.iter().any(|a: &CronArm| a.skill == *name && a.key == key) {
                            continue;
                        }
                        let last = match self.arm_in_db(name, &key, now, at_start) {
                            Ok(last) => last,
                            Err(e) => {
                                self.log().error(&format!("cannot arm {name} ({key}): {e}"));
                                continue;
                            }
                        };
                        let next = zone.next_after(&expr, last);
                        crons.push(CronArm {
                            skill: name.clone(),
                            key,
                            cron: c.cron.clone(),
                            zone,
                            expr,
                            catch_up: c.catch_up.unwrap_or(CatchUp::Once),
                            window: window(c),
                            overlap: c.overlap.unwrap_or(Overlap::Skip),
                            with: c.with.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                            last,
                            armed_here: now,
                            next,
                        });
                    }
                    Trigger::Event(e) => events.push((name.clone(), e.clone())),
                    Trigger::Watch(w) => match WatchDef::new(name, w, &self.setup.runtime.paths) {
                        Ok(def) if !watches.iter().any(|d: &Arc<WatchDef>| d.skill == *name && d.key == def.key) => {
                            watches.push(Arc::new(def))
                        }
                        Ok(_) => {}
                        Err(e) => self.log().error(&format!("{name}: watch trigger not armed: {e}")),
                    },
                }
            }
        }
        for ((skill, key), _) in old {
            self.log().info(&format!("disarmed {skill}: {key}"));
        }
        let summary = json!({
            "skills": skills.len(),
            "broken": broken.keys().collect::<Vec<_>>(),
            "cron_triggers": crons.len(),
            "event_triggers": events.len(),
            "watch_triggers": watches.len(),
        });
        st.skills = skills;
        st.broken = broken;
        st.crons = crons;
        st.events = events;
        st.watches = watches;
        st.watch_generation += 1;
        drop(st);
        self.wake.notify_one();
        summary
    }

    /// The watch triggers armed, and the reload they come from.
    pub(crate) fn watch_defs(&self) -> (u64, Vec<Arc<WatchDef>>) {
        let st = self.state();
        (st.watch_generation, st.watches.clone())
    }

    /// What the watch task says about each watch (`events` or `polling (why)`).
    pub(crate) fn set_watch_modes(&self, modes: BTreeMap<(String, String), String>) {
        self.state().watch_modes = modes;
    }

    /// Records the trigger as armed and returns the instant its slots are counted from.
    fn arm_in_db(&self, skill: &str, key: &str, now: DateTime<Utc>, at_start: bool) -> Result<DateTime<Utc>, String> {
        let history = &self.setup.history;
        let armed_at = history.arm(skill, key, now.timestamp_millis())?;
        let last = history.last_slot(skill, key)?.unwrap_or(armed_at).max(armed_at);
        let last = if at_start { last } else { last.max(now.timestamp_millis()) };
        Ok(DateTime::from_timestamp_millis(last).unwrap_or(now))
    }

    /// Rearms when the catalog's fingerprint changed; true when it did.
    pub fn reload_if_changed(&self) -> bool {
        let now = self.fingerprint();
        if now == self.state().fingerprint {
            return false;
        }
        let summary = self.reload(false);
        self.log().info(&format!("skills changed; reloaded: {summary}"));
        true
    }

    /// The cron task: decides each slot as it comes.
    pub async fn cron_task(self: Arc<Self>) -> Result<(), String> {
        loop {
            let now = self.setup.clock.now();
            let due = self.take_due(now);
            for (skill, key, slots, dropped) in due {
                if dropped > 0 {
                    self.log().warn(&format!(
                        "{skill} ({key}): {dropped} older slots skipped while down, too many to list one by one"
                    ));
                }
                self.decide(&skill, &key, slots, now);
            }
            let next = self.state().crons.iter().filter_map(|a| a.next).min();
            let wait = match next {
                Some(next) => self.setup.clock.wait_for(next).unwrap_or(Duration::ZERO).min(TICK),
                None => TICK,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                () = self.stop.cancelled() => return Ok(()),
            }
        }
    }

    /// The slots due at `now` of every trigger, decided by its catch-up policy, with
    /// those the daemon was up for marked on time; each trigger moves past them.
    #[allow(clippy::type_complexity)]
    fn take_due(&self, now: DateTime<Utc>) -> Vec<(String, String, Vec<slots::Slot>, u64)> {
        let mut st = self.state();
        let mut due = Vec::new();
        for arm in &mut st.crons {
            if arm.next.is_none_or(|n| n > now) {
                continue;
            }
            let (mut found, dropped) = arm.zone.missed(&arm.expr, arm.last, now, arm.catch_up, arm.window);
            for slot in &mut found {
                if slot.at > arm.armed_here && now - slot.at <= LATE {
                    slot.decision = Decision::Run;
                }
            }
            if let Some(newest) = found.last() {
                arm.last = newest.at;
            }
            arm.next = arm.zone.next_after(&arm.expr, arm.last.max(now));
            if !found.is_empty() {
                due.push((arm.skill.clone(), arm.key.clone(), found, dropped));
            }
        }
        due
    }

    fn decide(self: &Arc<Self>, skill: &str, key: &str, found: Vec<slots::Slot>, now: DateTime<Utc>) {
        let history = &self.setup.history;
        let now_ms = now.timestamp_millis();
        let (overlap, with) = {
            let st = self.state();
            match st.crons.iter().find(|a| a.skill == skill && a.key == key) {
                Some(arm) => (arm.overlap, arm.with.clone()),
                None => return,
            }
        };
        let mut catch_up = Vec::new();
        for slot in found {
            let at = slot.at.timestamp_millis();
            match slot.decision {
                Decision::Skip(reason) => {
                    let word = serde_json::to_value(reason).ok().and_then(|v| v.as_str().map(str::to_string));
                    if let Err(e) = history.skip(skill, key, at, word.as_deref().unwrap_or("skipped"), now_ms) {
                        self.log().error(&format!("{skill}: cannot record a skipped slot: {e}"));
                    }
                }
                Decision::CatchUp => catch_up.push(at),
                Decision::Run => {
                    let (running, queued) = self.load_of(skill, key);
                    match slots::on_time(overlap, running, queued) {
                        OnTime::Start => self.claim_and_start(skill, key, at, outcome::RAN, &with, false),
                        OnTime::Queue => self.claim_and_start(skill, key, at, outcome::RAN, &with, true),
                        OnTime::Skip => {
                            let _ = history.skip(skill, key, at, "overlap", now_ms);
                            self.log().info(&format!("{skill}: slot {} skipped: a run is in flight", rfc(at)));
                        }
                    }
                }
            }
        }
        if catch_up.is_empty() {
            return;
        }
        // Missed slots run one after another, oldest first; with `overlap: skip` none
        // runs while an earlier run is still going.
        let (running, _) = self.load_of(skill, key);
        for at in catch_up {
            if running > 0 && overlap == Overlap::Skip {
                let _ = history.skip(skill, key, at, "overlap", now_ms);
                continue;
            }
            self.claim_and_start(skill, key, at, outcome::CAUGHT_UP, &with, true);
        }
    }

    /// Runs of a trigger in flight and queued.
    fn load_of(&self, skill: &str, key: &str) -> (usize, usize) {
        let st = self.state();
        let running = st.flights.values().filter(|f| f.skill == skill && f.key.as_deref() == Some(key)).count();
        let queued = st.queues.get(&(skill.to_string(), key.to_string())).map_or(0, VecDeque::len);
        (running, queued)
    }

    /// Claims a slot under a new run id and starts (or queues) its run.
    fn claim_and_start(
        self: &Arc<Self>,
        skill: &str,
        key: &str,
        at: i64,
        word: &'static str,
        with: &Map<String, Value>,
        queue: bool,
    ) {
        let run_id = runtime::new_run_id();
        // Decided by the schedule's clock, as skipped slots are (PYRA_CLOCK may set it).
        let decided = self.setup.clock.now().timestamp_millis();
        match self.setup.history.claim(skill, key, at, word, &run_id, decided) {
            Ok(true) => {}
            Ok(false) => {
                self.log().info(&format!("{skill}: slot {} was claimed by another daemon", rfc(at)));
                return;
            }
            Err(e) => {
                self.log().error(&format!("{skill}: cannot claim slot {}: {e}", rfc(at)));
                return;
            }
        }
        self.state().last_fire.insert((skill.to_string(), key.to_string()), at);
        let queued = Queued { slot: at, run_id, outcome: word };
        if queue {
            let (running, _) = self.load_of(skill, key);
            self.state().queues.entry((skill.to_string(), key.to_string())).or_default().push_back(queued);
            if running == 0 {
                self.start_queued(skill, key, with);
            }
        } else {
            self.start_slot(skill, key, queued, with.clone());
        }
    }

    fn start_queued(self: &Arc<Self>, skill: &str, key: &str, with: &Map<String, Value>) {
        let next = self.state().queues.get_mut(&(skill.to_string(), key.to_string())).and_then(VecDeque::pop_front);
        if let Some(queued) = next {
            self.start_slot(skill, key, queued, with.clone());
        }
    }

    fn start_slot(self: &Arc<Self>, skill: &str, key: &str, queued: Queued, with: Map<String, Value>) {
        let origin = Origin {
            id: Some(queued.run_id.clone()),
            started_by: Some("cron".into()),
            scheduled_for: Some(queued.slot),
        };
        let shown = if queued.outcome == outcome::CAUGHT_UP { "caught up" } else { "on time" };
        self.log().info(&format!("{skill}: slot {} fires ({shown}); run {}", rfc(queued.slot), queued.run_id));
        if let Err(e) = self.launch(skill, with, origin, Some(key.to_string())) {
            let _ = self.setup.history.set_outcome(skill, key, queued.slot, outcome::FAILED, Some(&e));
            self.log().error(&format!("{skill}: slot {} failed to start: {e}", rfc(queued.slot)));
        }
    }

    /// Starts a run of an armed skill inside the daemon; returns its id at once. A run
    /// started by a channel (`started_by: channel`) is untrusted.
    pub fn launch(
        self: &Arc<Self>,
        skill: &str,
        inputs: Map<String, Value>,
        origin: Origin,
        key: Option<String>,
    ) -> Result<String, String> {
        let (program, text) = {
            let st = self.state();
            let armed = st.skills.get(skill).ok_or_else(|| format!("no skill `{skill}` is armed"))?;
            (armed.program.clone(), armed.text.clone())
        };
        let run_id = origin.id.clone().unwrap_or_else(runtime::new_run_id);
        let origin = Origin { id: Some(run_id.clone()), ..origin };
        let started_by = origin.started_by.clone().unwrap_or_default();
        let daemon = self.clone();
        let id = run_id.clone();
        let flight_key = key.clone();
        self.state()
            .flights
            .insert(run_id.clone(), Flight { skill: skill.to_string(), key, started_by, since: now_ms(), abort: None });
        let skill_name = skill.to_string();
        let handle = tokio::spawn(async move {
            let permit = daemon.runs.acquire().await;
            if let Some(slot) = origin.scheduled_for {
                // How late after its slot the run starts, on the daemon's clock.
                let late = daemon.setup.clock.now().timestamp_millis() - slot;
                daemon.log().info(&format!("run {id} of {skill_name} starts {late} ms after its slot"));
            }
            // A run a channel's message started reads text from outside: untrusted, so
            // what reads its inputs is tainted (an `exec` asks first).
            let result = if origin.started_by.as_deref() == Some(CHANNEL) {
                daemon.runtime().start_untrusted(program, &text, inputs, origin).await
            } else {
                daemon.runtime().start_as(program, &text, inputs, origin).await
            };
            drop(permit);
            daemon.finished(&id, &skill_name, flight_key, result.map_err(|e| e.to_string()));
        });
        if let Some(flight) = self.state().flights.get_mut(&run_id) {
            flight.abort = Some(handle.abort_handle());
        }
        Ok(run_id)
    }

    fn finished(
        self: &Arc<Self>,
        run_id: &str,
        skill: &str,
        key: Option<String>,
        result: Result<runtime::RunReport, String>,
    ) {
        self.state().flights.remove(run_id);
        match result {
            Ok(report) => {
                let why = report.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                self.log().info(&format!("run {run_id} of {skill} {}{why}", report.status));
                if report.status == runtime::RunStatus::Waiting {
                    self.wake_deadlines.notify_one();
                }
            }
            Err(e) => self.log().error(&format!("run {run_id} of {skill} did not run: {e}")),
        }
        if let Some(key) = key {
            let with = self.state().crons.iter().find(|a| a.skill == skill && a.key == key).map(|a| a.with.clone());
            self.start_queued(skill, &key, &with.unwrap_or_default());
        }
    }

    /// The reload task: the skill folders are looked at every [`RESCAN`].
    pub async fn rescan_task(self: Arc<Self>) -> Result<(), String> {
        loop {
            tokio::select! {
                () = tokio::time::sleep(RESCAN) => {}
                () = self.stop.cancelled() => return Ok(()),
            }
            self.reload_if_changed();
        }
    }

    /// Ends in-flight runs as interrupted (a stop): the next start resumes them.
    pub fn interrupt_all(&self) {
        let flights: Vec<(String, Option<tokio::task::AbortHandle>)> =
            self.state().flights.iter().map(|(id, f)| (id.clone(), f.abort.clone())).collect();
        for (id, abort) in flights {
            if let Some(abort) = abort {
                abort.abort();
            }
            let _ = self.setup.sqlite.mark_interrupted(&id);
        }
        runtime::procs::kill_all();
    }
}

/// The key a cron trigger's slots are recorded under: its normalised expression and
/// zone, so an edited schedule is a new key (and never replays the old one's slots).
pub fn cron_key(expr: &CronExpr, zone: &Zone) -> String {
    format!("cron {} {}", expr.five_field, zone.name())
}

fn window(c: &lang::model::CronTrigger) -> chrono::Duration {
    c.catch_up_window.and_then(|w| chrono::Duration::from_std(w.0).ok()).unwrap_or(DEFAULT_WINDOW)
}

/// An instant in milliseconds, as RFC 3339.
pub fn rfc(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339()).unwrap_or_else(|| ms.to_string())
}
