//! The watch trigger source: one supervised task (`watch`) on a thread of its own, since
//! it stats and hashes files, that turns file changes into runs — one run per batch of
//! changes (every change within one `debounce` window), once each file is completely
//! written, with the changed paths as the trigger's `trigger.paths` / `trigger.events`.
//!
//! Events (notify: inotify on Linux) only say *where* to look; what changed is decided
//! from the files themselves against the trigger's index (path, size, mtime, hash, kept in
//! `pyra.db`), so an editor's save is one change whichever way it writes, a `touch` is
//! none, and nothing is lost when events are: a queue overflow rescans the trees, changes
//! made while the daemon was down are the difference at start, and trees on NFS, SMB or
//! FUSE mounts (or past the inotify watch limit, or with `poll:`) are polled.
//!
//! **Invariant:** a batch's slot row (its claim, with the run's id and inputs) and its
//! index changes commit in one transaction before the run starts: a crash never loses a
//! batch nor runs one twice.

mod arm;
mod filter;
mod fs;
mod settle;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use lang::model::{CatchUp, OnStart, WatchEvent, WatchTrigger};
use paths::{Access, PathPolicy};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use filter::Filter;
pub use settle::{Digest, Known, Seen, Settle, Stamp, classify};

use arm::Arm;
use fs::untrusted_fs;

use crate::core::Daemon;

/// Default quiet time that closes a batch.
pub const DEBOUNCE: Duration = Duration::from_millis(500);
/// Default time a file must stay unchanged to count as written.
pub const SETTLE: Duration = Duration::from_secs(2);
/// How often file systems that deliver no events are polled without `poll:`.
pub const AUTO_POLL: Duration = Duration::from_secs(5);
/// How often the engine looks whether a watched folder was deleted or replaced (and
/// re-arms it); also the longest it sleeps.
const CHECK: Duration = Duration::from_secs(1);

/// A watch trigger as the daemon armed it.
#[derive(Debug)]
pub struct WatchDef {
    pub skill: String,
    /// `watch <paths> [glob=…] [ignore=…] [recursive]`: what the index is kept for, so
    /// editing the trigger's timings keeps its index and editing what it watches starts a
    /// new one.
    pub key: String,
    /// The paths as written.
    pub shown: Vec<String>,
    /// The paths resolved and allowed by the path policy.
    pub roots: Vec<PathBuf>,
    /// Paths the policy refused, with why.
    pub refused: Vec<String>,
    pub filter: Filter,
    pub recursive: bool,
    pub events: Vec<WatchEvent>,
    pub debounce: Duration,
    pub settle: Duration,
    pub poll: Option<Duration>,
    pub on_start: OnStart,
    /// `skip`: changes found at start update the index and start nothing.
    pub catch_up: CatchUp,
    pub condition: Option<String>,
    pub with: IndexMap<String, Value>,
}

impl WatchDef {
    /// Resolves a skill's watch trigger. Paths are resolved as for writing: a folder that
    /// does not exist yet is watched for (and armed once it appears).
    pub fn new(skill: &str, trigger: &WatchTrigger, policy: &PathPolicy) -> Result<WatchDef, String> {
        let spec = &trigger.watch;
        let list =
            |v: &Option<lang::model::OneOrMany<String>>| v.as_ref().map(|v| v.as_slice().to_vec()).unwrap_or_default();
        let (glob, ignore) = (list(&spec.glob), list(&spec.ignore));
        let filter = Filter::new(&glob, &ignore)?;
        let recursive = spec.recursive.unwrap_or(false);
        let mut key = format!("watch {}", spec.paths.join(","));
        if !glob.is_empty() {
            key.push_str(&format!(" glob={}", glob.join(",")));
        }
        if !ignore.is_empty() {
            key.push_str(&format!(" ignore={}", ignore.join(",")));
        }
        if recursive {
            key.push_str(" recursive");
        }
        let mut roots = Vec::new();
        let mut refused = Vec::new();
        for given in &spec.paths {
            match policy.check(given, Access::Write) {
                Ok(path) if !roots.contains(&path) => roots.push(path),
                Ok(_) => {}
                Err(e) => refused.push(e.to_string()),
            }
        }
        let mut events = spec.events.clone();
        if events.is_empty() {
            events = vec![WatchEvent::Created, WatchEvent::Modified];
        }
        Ok(WatchDef {
            skill: skill.to_string(),
            key,
            shown: spec.paths.clone(),
            roots,
            refused,
            filter,
            recursive,
            events,
            debounce: spec.debounce.map_or(DEBOUNCE, |d| d.0),
            settle: spec.settle.map_or(SETTLE, |d| d.0),
            poll: spec.poll.map(|d| d.0.max(Duration::from_millis(100))),
            on_start: spec.on_start.unwrap_or(OnStart::Ignore),
            catch_up: spec.catch_up.unwrap_or(CatchUp::Once),
            condition: trigger.condition.clone(),
            with: trigger.with.clone(),
        })
    }
}

/// The state a watch starts in: `polling (why)` when `poll:` is set or a path is on a
/// network or FUSE mount, `events` otherwise (the watch limit is found only when arming).
pub fn expected_mode(def: &WatchDef) -> String {
    if def.poll.is_some() {
        return "polling (poll: set)".into();
    }
    match def.roots.iter().find_map(|r| untrusted_fs(r)) {
        Some(fs) => format!("polling ({fs} mount)"),
        None => "events".into(),
    }
}

/// The watch task: runs until `stop` is cancelled.
pub fn run(daemon: Arc<Daemon>, stop: CancellationToken) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let mut engine = Engine { daemon, tx, arms: BTreeMap::new(), generation: None, next_id: 0 };
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        engine.reconcile();
        let now = Instant::now();
        let wake = engine.arms.values().map(|a| a.next_wake(now)).min().unwrap_or(now + CHECK);
        match rx.recv_timeout(wake.saturating_duration_since(now).min(CHECK)) {
            Ok((id, event)) => {
                engine.event(id, event);
                while let Ok((id, event)) = rx.try_recv() {
                    engine.event(id, event);
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        engine.tick();
    }
}

type Message = (u64, notify::Result<notify::Event>);

struct Engine {
    daemon: Arc<Daemon>,
    tx: mpsc::Sender<Message>,
    arms: BTreeMap<(String, String), Arm>,
    generation: Option<u64>,
    next_id: u64,
}

impl Engine {
    /// Arms what a reload added, disarms what it removed; an arm whose trigger only
    /// changed its timings keeps its watches and pending files.
    fn reconcile(&mut self) {
        let (generation, defs) = self.daemon.watch_defs();
        if self.generation == Some(generation) {
            return;
        }
        self.generation = Some(generation);
        let mut old = std::mem::take(&mut self.arms);
        for def in defs {
            let k = (def.skill.clone(), def.key.clone());
            if self.arms.contains_key(&k) {
                continue;
            }
            match old.remove(&k) {
                Some(mut arm) if arm.def.poll == def.poll && arm.def.roots == def.roots => {
                    arm.def = def;
                    self.arms.insert(k, arm);
                }
                _ => {
                    self.next_id += 1;
                    match Arm::new(self.next_id, def, &self.daemon, &self.tx) {
                        Ok(arm) => {
                            self.arms.insert(k, arm);
                        }
                        Err(e) => {
                            self.daemon.log().error(&format!("cannot arm the watch of {} ({}): {e}", k.0, k.1));
                            // Tried again at the next turn.
                            self.generation = None;
                        }
                    }
                }
            }
        }
        for (skill, key) in old.keys() {
            self.daemon.log().info(&format!("disarmed {skill}: {key}"));
        }
        let modes = self.arms.iter().map(|(k, a)| (k.clone(), a.mode())).collect();
        self.daemon.set_watch_modes(modes);
    }

    fn event(&mut self, id: u64, event: notify::Result<notify::Event>) {
        let Some(arm) = self.arms.values_mut().find(|a| a.id == id) else { return };
        let before = arm.mode();
        arm.event(event, &self.daemon);
        if arm.mode() != before {
            let modes = self.arms.iter().map(|(k, a)| (k.clone(), a.mode())).collect();
            self.daemon.set_watch_modes(modes);
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        for arm in self.arms.values_mut() {
            arm.tick(now, &self.daemon);
        }
    }
}
