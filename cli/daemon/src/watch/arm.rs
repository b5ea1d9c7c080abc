//! One armed watch: its notify watcher (or why it polls), its roots, its index of known
//! files and its pending ones; events mark files pending, ticks settle them and commit a
//! batch as one run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lang::model::{CatchUp, OnStart};
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use runtime::Origin;
use serde_json::json;

use super::fs::{hash, identity, look, row, scan, sysctl, unhex, untrusted_fs};
use super::{AUTO_POLL, CHECK, Known, Message, Seen, Settle, Stamp, WatchDef, classify};
use crate::core::{Daemon, trigger_inputs};
use crate::history::{History, outcome};

/// A watched root: a folder, or a single file (watched through its folder, so a save by
/// rename keeps it watched).
#[derive(Debug)]
pub(super) struct Root {
    pub(super) path: PathBuf,
    pub(super) file: bool,
    /// Device and inode when last armed: another one means it was deleted and recreated.
    pub(super) identity: Option<(u64, u64)>,
}

pub(super) struct Arm {
    pub(super) id: u64,
    pub(super) def: Arc<WatchDef>,
    pub(super) watcher: Option<notify::RecommendedWatcher>,
    /// Why the arm polls instead of using events.
    pub(super) polling: Option<String>,
    pub(super) roots: Vec<Root>,
    /// Where the trigger's index is (`watch_files`): looked up per file, never held in
    /// memory, so a watch over a large tree costs little while idle.
    pub(super) history: Arc<History>,
    pub(super) pending: BTreeMap<PathBuf, Settle>,
    pub(super) last_event: Option<Instant>,
    pub(super) next_poll: Instant,
    pub(super) next_check: Instant,
    pub(super) rescan: bool,
    pub(super) last_slot: i64,
}

impl Arm {
    pub(super) fn new(
        id: u64,
        def: Arc<WatchDef>,
        daemon: &Arc<Daemon>,
        tx: &mpsc::Sender<Message>,
    ) -> Result<Arm, String> {
        let history = &daemon.setup.history;
        for refused in &def.refused {
            daemon.log().error(&format!("watch of {}: {refused}; not watched", def.skill));
        }
        let now = Instant::now();
        let roots = def
            .roots
            .iter()
            .map(|p| Root {
                path: p.clone(),
                // A path that does not exist yet is taken for a folder.
                file: std::fs::metadata(p).is_ok_and(|m| m.is_file()),
                identity: None,
            })
            .collect();
        let mut arm = Arm {
            id,
            def: def.clone(),
            watcher: None,
            polling: None,
            roots,
            history: history.clone(),
            pending: BTreeMap::new(),
            last_event: None,
            next_poll: now,
            next_check: now,
            rescan: false,
            last_slot: 0,
        };
        if def.poll.is_some() {
            arm.polling = Some("poll: set".into());
        } else if let Some(fs) = def.roots.iter().find_map(|r| untrusted_fs(r)) {
            arm.polling = Some(format!("{fs} mount"));
        } else {
            let tx = tx.clone();
            match notify::recommended_watcher(move |event| {
                let _ = tx.send((id, event));
            }) {
                Ok(w) => arm.watcher = Some(w),
                Err(e) => arm.fall_back(e, daemon),
            }
        }
        // Watches first, then the scan: nothing changes unseen in between.
        for i in 0..arm.roots.len() {
            arm.arm_root(i, daemon);
        }
        let known_before = history.was_armed(&def.skill, &def.key)?;
        history.arm(&def.skill, &def.key, daemon.setup.clock.now().timestamp_millis())?;
        if known_before {
            // Whatever differs from the index changed while the daemon was down.
            let mut marks = Vec::new();
            for root in &arm.roots {
                scan(root, &def, &mut |path, stamp| {
                    if arm.known(&path).is_none_or(|k| (k.size, k.mtime_ns) != stamp) {
                        marks.push(path);
                    }
                });
            }
            history.watch_paths(&def.skill, &def.key, "", |p| {
                if look(Path::new(p)).0.is_none() {
                    marks.push(PathBuf::from(p));
                }
                true
            })?;
            let changed = marks.len();
            for path in marks {
                arm.pending.insert(path, Settle::new(now));
            }
            if changed > 0 && def.catch_up == CatchUp::Skip {
                // `catch_up: skip`: the index learns them; nothing runs.
                let ready = std::mem::take(&mut arm.pending).into_keys().map(|p| {
                    let stamp = look(&p).0;
                    (p, stamp)
                });
                arm.commit(ready.collect(), daemon, false)?;
                daemon.log().info(&format!(
                    "{}: {changed} files changed since the daemon last ran; none runs (catch_up: skip)",
                    def.skill
                ));
            } else if changed > 0 {
                daemon.log().info(&format!(
                    "{}: {changed} files to look at since the daemon last ran ({})",
                    def.skill, def.key
                ));
            }
        } else if def.on_start == OnStart::Scan {
            for root in &arm.roots {
                scan(root, &def, &mut |path, _| {
                    arm.pending.insert(path, Settle::new(now));
                });
            }
        } else {
            // The files there now are the starting point, stored in chunks: a tree of many
            // files is never held in memory twice.
            let mut changes = Vec::new();
            let mut failed = None;
            for root in &arm.roots {
                scan(root, &def, &mut |path, (size, mtime_ns)| {
                    let Some(hash) = hash(&path) else { return };
                    let known = Known { size, mtime_ns, hash };
                    changes.push((path.to_string_lossy().into_owned(), Some(row(&path, &known))));
                    if changes.len() == 1000
                        && let Err(e) =
                            history.commit_batch(&def.skill, &def.key, &std::mem::take(&mut changes), None, 0)
                    {
                        failed.get_or_insert(e);
                    }
                });
            }
            if let Some(e) = failed {
                return Err(e);
            }
            history.commit_batch(&def.skill, &def.key, &changes, None, 0)?;
        }
        if !arm.pending.is_empty() {
            arm.last_event = Some(now);
        }
        daemon.log().info(&format!("armed {}: {} ({})", def.skill, def.key, arm.mode()));
        Ok(arm)
    }

    pub(super) fn mode(&self) -> String {
        match &self.polling {
            Some(why) => format!("polling ({why})"),
            None => "events".into(),
        }
    }

    fn poll_every(&self) -> Duration {
        self.def.poll.unwrap_or(AUTO_POLL)
    }

    /// Events cannot be had (the watch limit, no inotify instance left): poll instead,
    /// saying so once.
    fn fall_back(&mut self, e: notify::Error, daemon: &Daemon) {
        let why = match &e.kind {
            notify::ErrorKind::MaxFilesWatch => {
                let limit = sysctl("fs.inotify.max_user_watches");
                daemon.log().warn(&format!(
                    "{}: the inotify watch limit is reached (fs.inotify.max_user_watches = {limit}); polling {} every {} ms",
                    self.def.skill,
                    self.def.key,
                    self.poll_every().as_millis()
                ));
                "inotify watch limit".to_string()
            }
            _ => {
                daemon
                    .log()
                    .warn(&format!("{}: file events unavailable ({e}); polling {}", self.def.skill, self.def.key));
                format!("no file events: {e}")
            }
        };
        self.watcher = None;
        self.polling = Some(why);
    }

    /// Watches a root (again): a folder itself, a file through its folder.
    fn arm_root(&mut self, i: usize, daemon: &Daemon) {
        let root = &mut self.roots[i];
        root.identity = identity(&root.path);
        let Some(watcher) = self.watcher.as_mut() else { return };
        let (target, mode) = if root.file {
            (root.path.parent().unwrap_or(Path::new("/")).to_path_buf(), RecursiveMode::NonRecursive)
        } else if self.def.recursive {
            (root.path.clone(), RecursiveMode::Recursive)
        } else {
            (root.path.clone(), RecursiveMode::NonRecursive)
        };
        let _ = watcher.unwatch(&target);
        if root.identity.is_none() && !root.file {
            return;
        }
        if let Err(e) = watcher.watch(&target, mode) {
            match e.kind {
                notify::ErrorKind::MaxFilesWatch => self.fall_back(e, daemon),
                notify::ErrorKind::PathNotFound => {}
                notify::ErrorKind::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound => {}
                _ => daemon.log().warn(&format!("{}: cannot watch {}: {e}", self.def.skill, target.display())),
            }
        }
    }

    fn mark(&mut self, path: PathBuf, seen: Option<Seen>, now: Instant) {
        let settle = self.pending.entry(path).or_insert_with(|| Settle::new(now));
        if let Some(seen) = seen {
            settle.seen(now, seen);
        }
        self.last_event = Some(now);
    }

    /// The index's entry for a file (a database error reads as "not known": the file
    /// then counts as changed rather than being lost).
    fn known(&self, path: &Path) -> Option<Known> {
        let row = self.history.watch_file(&self.def.skill, &self.def.key, &path.to_string_lossy()).ok()??;
        // An unreadable digest: all zeros, so the next change of the file counts.
        Some(Known { size: row.size, mtime_ns: row.mtime_ns, hash: unhex(&row.hash).unwrap_or_default() })
    }

    /// Whether the index knows files below a folder.
    fn knows_under(&self, folder: &Path) -> bool {
        let mut found = false;
        let prefix = format!("{}/", folder.to_string_lossy());
        let _ = self.history.watch_paths(&self.def.skill, &self.def.key, &prefix, |_| {
            found = true;
            false
        });
        found
    }

    /// Marks every file of a root (or of a folder below it) that differs from the index.
    fn rescan_under(&mut self, root: usize, under: &Path, now: Instant) {
        let mut marks = Vec::new();
        scan(&self.roots[root], &self.def, &mut |path, stamp| {
            if path.starts_with(under) && self.known(&path).is_none_or(|k| (k.size, k.mtime_ns) != stamp) {
                marks.push(path);
            }
        });
        let gone = |p: &Path| look(p).0.is_none();
        if self.roots[root].file {
            if self.known(under).is_some() && gone(under) {
                marks.push(under.to_path_buf());
            }
        } else {
            let prefix = format!("{}/", under.to_string_lossy());
            let _ = self.history.watch_paths(&self.def.skill, &self.def.key, &prefix, |p| {
                if gone(Path::new(p)) {
                    marks.push(PathBuf::from(p));
                }
                true
            });
        }
        for path in marks {
            self.mark(path, None, now);
        }
    }

    fn rescan_all(&mut self, now: Instant) {
        for i in 0..self.roots.len() {
            let under = self.roots[i].path.clone();
            self.rescan_under(i, &under, now);
        }
    }

    pub(super) fn event(&mut self, event: notify::Result<notify::Event>, daemon: &Daemon) {
        let now = Instant::now();
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                    self.fall_back(e, daemon);
                }
                self.rescan = true;
                return;
            }
        };
        if event.need_rescan() || event.paths.is_empty() {
            // The kernel's queue overflowed: what happened meanwhile is found by a rescan.
            daemon.log().warn(&format!("{}: file events were lost; rescanning {}", self.def.skill, self.def.key));
            self.rescan = true;
            return;
        }
        let seen = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Seen::Closed,
            // Reads (ours too, when hashing) change nothing.
            EventKind::Access(_) => return,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Data(_)) => Seen::Written,
            _ => Seen::Other,
        };
        let folder_created = matches!(event.kind, EventKind::Create(CreateKind::Folder));
        for path in event.paths {
            let Some(i) = self.roots.iter().position(|r| path == r.path || (!r.file && path.starts_with(&r.path)))
            else {
                continue;
            };
            let root = &self.roots[i];
            if path == root.path && !root.file {
                // The folder itself was deleted or moved: its watch is gone. Its inode
                // number may come back with a new folder, so it is armed again as soon
                // as a folder is there.
                if matches!(event.kind, EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))) {
                    self.roots[i].identity = None;
                    self.next_check = now;
                }
                continue;
            }
            if root.file {
                self.mark(path, Some(seen), now);
                continue;
            }
            let relative = path.strip_prefix(&root.path).unwrap_or(&path).to_path_buf();
            if !self.def.recursive && relative.components().count() > 1 {
                continue;
            }
            let is_dir = folder_created || std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
            let was_dir = !is_dir && seen == Seen::Other && !path.exists() && self.knows_under(&path);
            if is_dir || was_dir {
                // A folder below the root came, went or moved: its files did too.
                if self.def.recursive {
                    self.rescan_under(i, &path, now);
                }
                continue;
            }
            if self.def.filter.matches(&relative) {
                self.mark(path, Some(seen), now);
            }
        }
    }

    pub(super) fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = self.next_check;
        if self.polling.is_some() {
            wake = wake.min(self.next_poll);
        }
        if self.rescan {
            return now;
        }
        if !self.pending.is_empty() {
            let quiet = self.last_event.map_or(now, |t| t + self.def.debounce);
            let settled =
                self.pending.values().filter(|s| !s.writing()).map(|s| s.due(self.def.settle)).max().unwrap_or(wake);
            wake = wake.min(quiet.max(settled));
        }
        wake.max(now + Duration::from_millis(20))
    }

    pub(super) fn tick(&mut self, now: Instant, daemon: &Arc<Daemon>) {
        if self.polling.is_some() && now >= self.next_poll {
            self.rescan_all(now);
            self.next_poll = now + self.poll_every();
        }
        if now >= self.next_check {
            self.next_check = now + CHECK;
            for i in 0..self.roots.len() {
                let now_there = identity(&self.roots[i].path);
                if now_there != self.roots[i].identity {
                    let what = if now_there.is_some() { "is there again; watching it" } else { "was removed" };
                    daemon.log().info(&format!("{}: {} {what}", self.def.skill, self.roots[i].path.display()));
                    self.arm_root(i, daemon);
                    let under = self.roots[i].path.clone();
                    self.rescan_under(i, &under, now);
                }
            }
        }
        if std::mem::take(&mut self.rescan) {
            for settle in self.pending.values_mut() {
                settle.forget_writer();
            }
            self.rescan_all(now);
        }
        if self.pending.is_empty() || self.last_event.is_some_and(|t| now.duration_since(t) < self.def.debounce) {
            return;
        }
        let mut ready = Vec::new();
        let mut unsettled = false;
        for (path, settle) in &mut self.pending {
            let (stamp, age) = look(path);
            if settle.observe(now, stamp, age, self.def.settle) {
                ready.push((path.clone(), stamp));
            } else if !settle.writing() {
                unsettled = true;
            }
        }
        // The files of one debounce window run together once each has settled; only a
        // file a writer still holds open is left for a later batch.
        if ready.is_empty() || unsettled {
            return;
        }
        for (path, _) in &ready {
            self.pending.remove(path);
        }
        if let Err(e) = self.commit(ready.clone(), daemon, true) {
            daemon
                .log()
                .error(&format!("{}: cannot record a batch of {}: {e}; trying again", self.def.skill, self.def.key));
            for (path, _) in ready {
                self.mark(path, None, now);
            }
        }
    }

    /// Decides what changed among settled files and starts one run for the batch.
    /// `start`: false only takes note of the changes (the index), whatever they are.
    fn commit(&mut self, ready: Vec<(PathBuf, Stamp)>, daemon: &Arc<Daemon>, start: bool) -> Result<(), String> {
        let def = self.def.clone();
        let mut changes = Vec::new();
        let mut events = BTreeMap::new();
        for (path, stamp) in ready {
            let old = self.known(&path);
            let (kind, known) = classify(old.as_ref(), stamp, || hash(&path));
            if known != old {
                let text = path.to_string_lossy().into_owned();
                changes.push((text, known.as_ref().map(|k| row(&path, k))));
            }
            if let Some(kind) = kind
                && def.events.contains(&kind)
            {
                events.insert(path.to_string_lossy().into_owned(), kind.as_str());
            }
        }
        let history = &daemon.setup.history;
        let wall = daemon.setup.clock.now();
        let mut run = None;
        let mut failed = None;
        if start && !events.is_empty() {
            let at = wall.to_rfc3339();
            let paths: Vec<&String> = events.keys().collect();
            let context = json!({ "trigger": { "paths": paths, "events": events, "at": at } });
            match trigger_inputs(def.condition.as_deref(), &def.with, &context) {
                Ok(Some(inputs)) => run = Some(inputs),
                Ok(None) => daemon.log().info(&format!(
                    "{}: a batch of {} changed files starts no run: `if` is false ({})",
                    def.skill,
                    events.len(),
                    def.key
                )),
                Err(e) => failed = Some(e),
            }
        }
        let Some(inputs) = run else {
            if !changes.is_empty() {
                history.commit_batch(&def.skill, &def.key, &changes, None, 0)?;
            }
            if let Some(e) = failed {
                // A batch whose `if`/`with` cannot be evaluated is in the history as failed
                // to start, with why, rather than gone without a trace.
                let slot = wall.timestamp_millis().max(self.last_slot + 1);
                self.last_slot = slot;
                let why = format!("the trigger's if/with: {e}");
                history.skip(&def.skill, &def.key, slot, &why, slot)?;
                history.set_outcome(&def.skill, &def.key, slot, outcome::FAILED, Some(&why))?;
                daemon.log().warn(&format!(
                    "{}: a batch of {} changed files cannot start: {why}",
                    def.skill,
                    events.len()
                ));
            }
            return Ok(());
        };
        let run_id = runtime::new_run_id();
        let slot = wall.timestamp_millis().max(self.last_slot + 1);
        if !history.commit_batch(&def.skill, &def.key, &changes, Some((slot, &run_id, &inputs)), slot)? {
            return Err("its slot was taken".into());
        }
        self.last_slot = slot;
        daemon.log().info(&format!("{}: {} changed files start run {run_id} ({})", def.skill, events.len(), def.key));
        let origin = Origin { id: Some(run_id), started_by: Some("watch".into()), scheduled_for: None };
        if let Err(e) = daemon.launch(&def.skill, inputs, origin, Some(def.key.clone())) {
            let _ = history.set_outcome(&def.skill, &def.key, slot, outcome::FAILED, Some(&e));
            daemon.log().error(&format!("{}: a watch batch failed to start: {e}", def.skill));
        }
        Ok(())
    }
}
