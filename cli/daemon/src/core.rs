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
use runtime::{Origin, RunError, Runtime, SkillText, SqliteStore, Store};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::history::{EventRow, History, outcome};
use crate::log::Log;
use crate::slots::{self, Decision, OnTime};
use crate::supervisor::Supervisor;

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
}

fn now_ms() -> i64 {
    runtime::now_ms()
}

impl Daemon {
    pub fn new(setup: Setup, supervisor: Supervisor) -> Arc<Daemon> {
        let runs = Semaphore::new(setup.max_runs.max(1));
        let started_at = setup.clock.now();
        Arc::new(Daemon {
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

    fn log(&self) -> &Log {
        &self.setup.log
    }

    /// Reads every skill again and arms what changed. `at_start`: triggers seen for the
    /// first time in this process catch up from the database; later, a trigger new to
    /// this process (an edited schedule) starts from now.
    pub fn reload(&self, at_start: bool) -> Value {
        let entries = self.setup.catalog.skills();
        let fingerprint = self.setup.catalog.fingerprint();
        let kinds = self.setup.runtime.registry.clone();
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
        for (name, armed) in &skills {
            for trigger in &armed.program.skill.triggers {
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
                    // File watching is its own trigger source (a later issue).
                    Trigger::Watch(_) => {}
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
        });
        st.skills = skills;
        st.broken = broken;
        st.crons = crons;
        st.events = events;
        drop(st);
        self.wake.notify_one();
        summary
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
        let now = self.setup.catalog.fingerprint();
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

    /// Starts a run of an armed skill inside the daemon; returns its id at once.
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
            let result = daemon.setup.runtime.start_as(program, &text, inputs, origin).await;
            drop(permit);
            daemon.finished(&id, &skill_name, flight_key, result.map_err(|e| e.to_string()));
        });
        if let Some(flight) = self.state().flights.get_mut(&run_id) {
            flight.abort = Some(handle.abort_handle());
        }
        Ok(run_id)
    }

    /// Continues a run inside the daemon (a crash, an approval answered, a deadline).
    pub fn resume(self: &Arc<Self>, run_id: &str, why: &str) -> Result<(), String> {
        let record =
            self.setup.sqlite.run(run_id).map_err(|e| e.to_string())?.ok_or_else(|| format!("no run `{run_id}`"))?;
        let key = self.setup.history.trigger_of_run(run_id)?;
        {
            let mut st = self.state();
            if st.flights.contains_key(run_id) {
                return Ok(());
            }
            st.flights.insert(
                run_id.to_string(),
                Flight {
                    skill: record.skill.clone(),
                    key,
                    started_by: record.started_by.clone().unwrap_or_else(|| "cli".into()),
                    since: now_ms(),
                    abort: None,
                },
            );
        }
        self.log().info(&format!("resuming run {run_id} of {} ({why})", record.skill));
        let daemon = self.clone();
        let id = run_id.to_string();
        let handle = tokio::spawn(async move {
            let permit = daemon.runs.acquire().await;
            let result = daemon.setup.runtime.resume(&id, None).await;
            drop(permit);
            let key = daemon.state().flights.get(&id).and_then(|f| f.key.clone());
            daemon.finished(&id, &record.skill, key, result.map_err(|e| e.to_string()));
        });
        if let Some(flight) = self.state().flights.get_mut(run_id) {
            flight.abort = Some(handle.abort_handle());
        }
        Ok(())
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

    /// At start: runs the daemon owned that a crash interrupted are resumed (completed
    /// nodes are not run again), then slots claimed whose run never began are started —
    /// in that order, so a claimed slot waits behind its trigger's resumed run as it
    /// waited before the crash, and never runs beside it.
    pub fn recover(self: &Arc<Self>) {
        match self.setup.history.unfinished_runs() {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = self.resume(&id, "interrupted by a stop or a crash") {
                        self.log().warn(&format!("cannot resume run {id}: {e}"));
                    }
                }
            }
            Err(e) => self.log().error(&format!("cannot read unfinished runs: {e}")),
        }
        match self.setup.history.unstarted() {
            Ok(rows) => {
                for row in rows {
                    let Some(run_id) = row.run_id.clone() else { continue };
                    let with = self
                        .state()
                        .crons
                        .iter()
                        .find(|a| a.skill == row.skill && a.key == row.trigger)
                        .map(|a| a.with.clone())
                        .unwrap_or_default();
                    let word = if row.outcome == outcome::CAUGHT_UP { outcome::CAUGHT_UP } else { outcome::RAN };
                    self.state()
                        .queues
                        .entry((row.skill.clone(), row.trigger.clone()))
                        .or_default()
                        .push_back(Queued { slot: row.slot, run_id, outcome: word });
                    let (running, _) = self.load_of(&row.skill, &row.trigger);
                    if running == 0 {
                        self.start_queued(&row.skill, &row.trigger, &with);
                    }
                }
            }
            Err(e) => self.log().error(&format!("cannot read claimed slots: {e}")),
        }
    }

    /// The deadline task: a waiting run is resumed when its earliest approval deadline
    /// passes, so `on_timeout` applies then.
    pub async fn deadline_task(self: Arc<Self>) -> Result<(), String> {
        loop {
            let rows = self.setup.history.waiting_deadlines()?;
            let now = now_ms();
            let mut next: Option<i64> = None;
            for (run_id, deadline) in rows {
                if deadline <= now {
                    if !self.state().flights.contains_key(&run_id)
                        && let Err(e) = self.resume(&run_id, "an approval's deadline passed")
                    {
                        self.log().warn(&format!("cannot resume run {run_id}: {e}"));
                    }
                } else {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                }
            }
            let wait = next.map_or(TICK, |n| Duration::from_millis((n - now).max(0) as u64).min(TICK));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake_deadlines.notified() => {}
                () = self.stop.cancelled() => return Ok(()),
            }
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

    /// Stores an event and starts every skill whose event trigger matches it. An id seen
    /// before starts nothing (and the reply names the runs it started then).
    pub fn emit(self: &Arc<Self>, event: EventRow) -> Result<Value, String> {
        let history = &self.setup.history;
        if !history.add_event(&event)? {
            let runs = history.event_runs(&event.id)?.unwrap_or_default();
            return Ok(json!({ "id": event.id, "duplicate": true, "runs": runs }));
        }
        let runs = self.deliver(&event)?;
        Ok(json!({ "id": event.id, "duplicate": false, "runs": runs }))
    }

    /// Delivers a stored event (once, even with two daemons): the runs it started.
    pub fn deliver(self: &Arc<Self>, event: &EventRow) -> Result<Vec<String>, String> {
        let history = &self.setup.history;
        if !history.take_event(&event.id, now_ms())? {
            return Ok(history.event_runs(&event.id)?.unwrap_or_default());
        }
        let targets: Vec<(String, EventTrigger)> =
            self.state().events.iter().filter(|(_, t)| t.event == event.name).cloned().collect();
        let at = DateTime::from_timestamp_millis(event.at).map(|t| t.to_rfc3339());
        let context = json!({
            "event": { "name": event.name, "data": event.data, "id": event.id, "at": at },
        });
        let started_by = if event.source == "webhook" { "webhook" } else { "event" };
        let mut runs = Vec::new();
        for (skill, trigger) in targets {
            match event_inputs(&trigger, &context) {
                Ok(None) => {}
                Ok(Some(inputs)) => {
                    let origin = Origin { id: None, started_by: Some(started_by.into()), scheduled_for: None };
                    match self.launch(&skill, inputs, origin, None) {
                        Ok(id) => {
                            self.log().info(&format!("event {} ({}) starts {skill}: run {id}", event.name, event.id));
                            runs.push(id);
                        }
                        Err(e) => self.log().error(&format!("event {}: cannot start {skill}: {e}", event.name)),
                    }
                }
                Err(e) => self.log().warn(&format!("event {}: trigger of {skill} not evaluated: {e}", event.name)),
            }
        }
        history.delivered_runs(&event.id, &runs)?;
        Ok(runs)
    }

    /// Delivers the events stored while the daemon was down.
    pub fn deliver_pending(self: &Arc<Self>) {
        match self.setup.history.pending_events() {
            Ok(events) => {
                for event in events {
                    if let Err(e) = self.deliver(&event) {
                        self.log().error(&format!("cannot deliver event {}: {e}", event.id));
                    }
                }
            }
            Err(e) => self.log().error(&format!("cannot read stored events: {e}")),
        }
    }

    /// `pyra schedule run SKILL`: a run marked manual; the schedule is untouched.
    pub fn run_manual(self: &Arc<Self>, skill: &str, inputs: Map<String, Value>) -> Result<String, String> {
        let origin = Origin { id: None, started_by: Some("manual".into()), scheduled_for: None };
        self.launch(skill, inputs, origin, None)
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

    /// Everything `pyra daemon status` shows.
    pub fn status(&self) -> Value {
        let last: HashMap<(String, String), crate::history::SlotRow> = self
            .setup
            .history
            .last_outcomes()
            .unwrap_or_default()
            .into_iter()
            .map(|r| ((r.skill.clone(), r.trigger.clone()), r))
            .collect();
        let st = self.state();
        let mut triggers = Vec::new();
        for arm in &st.crons {
            let last = last.get(&(arm.skill.clone(), arm.key.clone()));
            triggers.push(json!({
                "skill": arm.skill,
                "kind": "cron",
                "spec": arm.cron,
                "timezone": arm.zone.name(),
                "next": arm.next.map(|t| t.to_rfc3339()),
                "last": last.map(|r| json!({
                    "slot": rfc(r.slot), "outcome": r.outcome, "reason": r.reason, "run": r.run_id, "run_status": r.run_status,
                })),
            }));
        }
        for (skill, t) in &st.events {
            triggers.push(json!({ "skill": skill, "kind": "event", "spec": t.event, "if": t.condition }));
        }
        let flights: Vec<Value> = st
            .flights
            .iter()
            .map(|(id, f)| json!({ "run": id, "skill": f.skill, "trigger": f.started_by, "since": rfc(f.since) }))
            .collect();
        let tasks: Vec<Value> = self
            .supervisor
            .status()
            .into_iter()
            .map(|t| {
                json!({
                    "name": t.name, "running": t.running, "restarts": t.restarts, "last_error": t.last_error,
                    "next_restart_in_ms": t.next_restart_in.map(|d| d.as_millis() as u64),
                })
            })
            .collect();
        json!({
            "pid": std::process::id(),
            "version": self.setup.version,
            "home": self.setup.home,
            "uptime_ms": self.started.elapsed().as_millis() as u64,
            "now": self.setup.clock.now().to_rfc3339(),
            "clock_set": self.setup.clock.is_set(),
            "skills": st.skills.keys().collect::<Vec<_>>(),
            "broken": st.broken.values().collect::<Vec<_>>(),
            "triggers": triggers,
            "runs": flights,
            "queued": st.queues.values().map(VecDeque::len).sum::<usize>(),
            "tasks": tasks,
            "vault": self.setup.agent.state(),
            "rss_bytes": rss_bytes(),
            "max_runs": self.setup.max_runs,
            "reloads": st.reloads,
            "log": self.setup.log.path(),
        })
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

/// The process's resident set size.
pub fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// Whether an event trigger's `if:` holds, and its `with:` rendered: the run's inputs.
pub fn event_inputs(trigger: &EventTrigger, context: &Value) -> Result<Option<Map<String, Value>>, String> {
    let env = runtime::program::environment();
    let ctx = runtime::program::jvalue(context);
    if let Some(condition) = &trigger.condition {
        let expr = runtime::program::single_expression(condition).unwrap_or(condition);
        let holds = env.compile_expression(expr).and_then(|e| e.eval(&ctx)).map_err(|e| format!("`if`: {e}"))?;
        if !holds.is_true() {
            return Ok(None);
        }
    }
    let mut inputs = Map::new();
    for (name, value) in &trigger.with {
        inputs.insert(name.clone(), render(env, value, &ctx).map_err(|e| format!("`with.{name}`: {e}"))?);
    }
    Ok(Some(inputs))
}

fn render(env: &minijinja::Environment<'_>, value: &Value, ctx: &minijinja::Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if lang::template::has_template_syntax(text) => {
            if let Some(expr) = runtime::program::single_expression(text) {
                let out = env.compile_expression(expr).and_then(|e| e.eval(ctx)).map_err(|e| e.to_string())?;
                serde_json::to_value(&out).map_err(|e| e.to_string())?
            } else {
                Value::String(env.render_str(text, ctx).map_err(|e| e.to_string())?)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| render(env, v, ctx)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), render(env, v, ctx)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}
