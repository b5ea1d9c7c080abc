//! Watch triggers through the real daemon: a slow writer of 50 MB holding its file open
//! gives one run, after it closes; the three editor save styles give one `modified` each;
//! swap and temporary files never trigger; a burst of 200 files reaches runs whose paths
//! are the 200, each once; a `touch` starts nothing; files present at start are ignored or
//! scanned (`on_start`); changes made while the daemon was down are found at start, once
//! (or only noted, `catch_up: skip`); a watched single file stays watched across saves by
//! rename; a watched folder deleted and recreated is watched again; an overflowing inotify
//! queue is rescanned (every file reaches one run); a `poll:` watch says so in `status` and
//! `schedule list`, and each batch is a row of `schedule history`; a FUSE mount (bindfs) is
//! polled, and so is a watch past the inotify watch limit (one log line names the sysctl);
//! `if:` over `trigger.paths` decides per batch; a batch recorded before a crash starts its
//! run (with its inputs) at the next start, and one whose `with:` fails is recorded as
//! failed to start; `validate` refuses `event` in a watch trigger; the example
//! `examples/inbox-watch.yaml` files a note saved in its folder into memory (against a local
//! model). Each "nothing else ran" is shown by a sentinel file whose run comes after:
//! nothing waits a fixed time.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{Home, wait_for};

/// A skill watching `dir` whose runs receive the batch as inputs `paths` and `kinds`.
/// `options` are more lines of the `watch:` spec (`debounce` 200ms and `settle` 400ms
/// unless they set them).
fn watch_skill(name: &str, dir: &Path, options: &[&str]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for (key, default) in [("debounce", "200ms"), ("settle", "400ms")] {
        if !options.iter().any(|o| o.starts_with(&format!("{key}:"))) {
            lines.push(format!("{key}: {default}"));
        }
    }
    lines.extend(options.iter().map(|o| o.to_string()));
    let options: String = lines.iter().map(|o| format!("      {o}\n")).collect();
    format!(
        r#"name: {name}
inputs:
  paths: {{ type: array }}
  kinds: {{ type: object }}
triggers:
  - watch:
      paths: ["{dir}"]
{options}    with:
      paths: "{{{{ trigger.paths }}}}"
      kinds: "{{{{ trigger.events }}}}"
nodes:
  mark:
    uses: exec
    with: {{ argv: [sh, -c, "true"] }}
"#,
        dir = dir.display()
    )
}

fn folder(home: &Home, name: &str) -> PathBuf {
    let dir = home.out(name);
    std::fs::create_dir_all(&dir).expect("watched folder");
    dir
}

/// Held (shared) while a daemon arms its watches, and alone by a test that lowers an
/// inotify limit for the daemon it starts: no other daemon arms under that limit.
static ARMING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Starts the daemon at `at` and waits until it watches for each of `skills` with file
/// events.
fn armed<'h>(home: &'h Home, at: &str, skills: &[&str]) -> super::Daemon<'h> {
    let _arming = ARMING.read().unwrap_or_else(|e| e.into_inner());
    let daemon = home.start_at(at);
    for skill in skills {
        wait_armed(home, skill);
    }
    daemon
}

/// Waits until the daemon watches for `skill` with file events.
fn wait_armed(home: &Home, skill: &str) {
    wait_for(&format!("the watch of {skill} armed"), || {
        let status = home.status();
        let found =
            status["triggers"].as_array().into_iter().flatten().find(|t| t["kind"] == "watch" && t["skill"] == skill);
        match found {
            Some(t) if t["state"] == "events" => Ok(()),
            _ => Err(status.to_string()),
        }
    });
}

/// Each run's batch (file names and kinds), oldest first, once every run has ended.
fn batches(home: &Home, skill: &str) -> Vec<Vec<(String, String)>> {
    let runs = home.runs(skill);
    runs.iter().map(batch).collect()
}

fn batch(run: &Value) -> Vec<(String, String)> {
    let name = |p: &str| Path::new(p).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let paths: Vec<String> = run["inputs"]["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .map(|p| p.as_str().expect("a path").to_string())
        .collect();
    paths.iter().map(|p| (name(p), run["inputs"]["kinds"][p].as_str().unwrap_or("?").to_string())).collect()
}

/// Creates `name` in `dir` and waits until a run of `skill` lists it and every run ended:
/// whatever changed before has had its run by then.
fn flush(home: &Home, skill: &str, dir: &Path, name: &str) -> Vec<Vec<(String, String)>> {
    std::fs::write(dir.join(name), name).expect("sentinel");
    wait_for(&format!("the run of sentinel {name}"), || {
        let runs = home.runs(skill);
        let ended = runs.iter().all(|r| !matches!(r["status"].as_str(), Some("running" | "pending")));
        let seen = runs.iter().any(|r| batch(r).iter().any(|(n, _)| n == name));
        if seen && ended { Ok(runs.iter().map(batch).collect()) } else { Err(format!("{runs:#?}\n{}", home.log())) }
    })
}

fn names(batch: &[(String, String)]) -> Vec<&str> {
    batch.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_slow_writer_holding_the_file_open_gives_one_run_after_it_closes() {
    let home = Home::new();
    let dir = folder(&home, "inbox");
    home.install("slow", &watch_skill("slow", &dir, &[]));
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["slow"]);

    let mut file = std::fs::File::create(dir.join("big.bin")).expect("create");
    // 50 MB in five writes of 10 MB.
    let chunk = vec![7u8; 10 << 20];
    for _ in 0..4 {
        file.write_all(&chunk).expect("write");
        file.flush().expect("flush");
        // Pauses longer than `settle`: only the open file keeps the batch waiting.
        std::thread::sleep(Duration::from_millis(900));
    }
    assert!(home.runs("slow").is_empty(), "no run while the writer holds the file: {:?}", batches(&home, "slow"));
    file.write_all(&chunk).expect("write");
    drop(file);

    let seen = wait_for("the run after the close", || {
        let b = batches(&home, "slow");
        if b.is_empty() { Err(home.log()) } else { Ok(b) }
    });
    assert_eq!(seen[0], vec![("big.bin".to_string(), "created".to_string())]);
    let all = flush(&home, "slow", &dir, "zz-sentinel");
    let with_big: Vec<_> = all.iter().filter(|b| names(b).contains(&"big.bin")).collect();
    assert_eq!(with_big.len(), 1, "one run for the slow file: {all:?}");
    assert_eq!(std::fs::metadata(dir.join("big.bin")).unwrap().len(), 50 << 20);
    let runs = home.runs("slow");
    assert!(runs.iter().all(|r| r["trigger"] == "watch"), "{runs:#?}");
}

#[test]
fn each_editor_save_style_is_one_modified_and_swap_files_never_trigger() {
    let home = Home::new();
    let dir = folder(&home, "notes");
    let note = dir.join("note.md");
    std::fs::write(&note, "v1\n").unwrap();
    home.install("saves", &watch_skill("saves", &dir, &["glob: \"*\""]));
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["saves"]);
    let expect = |count: usize| {
        wait_for(&format!("{count} runs"), || {
            let b = batches(&home, "saves");
            if b.len() >= count { Ok(b) } else { Err(format!("{b:?}\n{}", home.log())) }
        })
    };

    // vim / VS Code: swap file, backup, the `4913` probe, a temporary, then a rename over.
    std::fs::write(dir.join(".note.md.swp"), "swap").unwrap();
    std::fs::write(dir.join("4913"), "").unwrap();
    std::fs::remove_file(dir.join("4913")).unwrap();
    std::fs::write(dir.join("note.md~"), "v1\n").unwrap();
    std::fs::write(dir.join("note.md.tmp"), "v2\n").unwrap();
    std::fs::rename(dir.join("note.md.tmp"), &note).unwrap();
    let b = expect(1);
    assert_eq!(b[0], vec![("note.md".to_string(), "modified".to_string())]);

    // Truncate and write, in two writes.
    {
        let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&note).unwrap();
        f.write_all(b"v3 first half ").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        f.write_all(b"second half\n").unwrap();
    }
    let b = expect(2);
    assert_eq!(b[1], vec![("note.md".to_string(), "modified".to_string())]);

    // Delete and create.
    std::fs::remove_file(&note).unwrap();
    std::fs::write(&note, "v4\n").unwrap();
    let b = expect(3);
    assert_eq!(b[2], vec![("note.md".to_string(), "modified".to_string())]);

    // More scratch files; none of them counts.
    for name in [".#note.md", "download.part", "x.crdownload", "a.tmp"] {
        std::fs::write(dir.join(name), "scratch").unwrap();
    }
    std::fs::remove_file(dir.join(".note.md.swp")).unwrap();
    let all = flush(&home, "saves", &dir, "zz-sentinel");
    assert_eq!(all.len(), 4, "three saves and the sentinel: {all:?}");
    assert_eq!(names(&all[3]), vec!["zz-sentinel"]);
}

#[test]
fn a_burst_of_200_files_reaches_few_runs_listing_each_file_once() {
    let home = Home::new();
    let dir = folder(&home, "drop");
    // A window long enough that a writer slowed down by a loaded machine stays in it.
    home.install("burst", &watch_skill("burst", &dir, &["debounce: 1s"]));
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["burst"]);

    let expected: BTreeSet<String> = (0..200).map(|i| format!("f{i:03}.txt")).collect();
    for name in &expected {
        std::fs::write(dir.join(name), name).unwrap();
    }
    let all = wait_for("every file of the burst in a run", || {
        let b = batches(&home, "burst");
        let seen: BTreeSet<String> = b.iter().flatten().map(|(n, _)| n.clone()).collect();
        if seen == expected { Ok(b) } else { Err(format!("{} of 200 seen\n{}", seen.len(), home.log())) }
    });
    let listed: usize = all.iter().map(Vec::len).sum();
    assert_eq!(listed, 200, "no file listed twice");
    assert!(all.len() <= 5, "a burst is one or a few batches, not {}", all.len());
    assert!(all.iter().flatten().all(|(_, kind)| kind == "created"));
}

#[test]
fn a_touch_that_changes_nothing_starts_no_run() {
    let home = Home::new();
    let dir = folder(&home, "touched");
    std::fs::write(dir.join("same.txt"), "unchanged").unwrap();
    home.install("touch", &watch_skill("touch", &dir, &[]));
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["touch"]);

    let status =
        std::process::Command::new("touch").arg("-d").arg("2030-01-01T00:00:00").arg(dir.join("same.txt")).status();
    assert!(status.expect("touch runs").success());
    std::process::Command::new("touch").arg(dir.join("same.txt")).status().expect("touch runs");
    let all = flush(&home, "touch", &dir, "zz-sentinel");
    assert_eq!(all.len(), 1, "only the sentinel's run: {all:?}");
    assert_eq!(names(&all[0]), vec!["zz-sentinel"]);
}

#[test]
fn files_present_at_start_are_ignored_unless_on_start_is_scan() {
    let home = Home::new();
    let dir = folder(&home, "present");
    for name in ["a.txt", "b.txt", "c.txt"] {
        std::fs::write(dir.join(name), name).unwrap();
    }
    home.install("ignorer", &watch_skill("ignorer", &dir, &[]));
    home.install("scanner", &watch_skill("scanner", &dir, &["on_start: scan"]));
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["ignorer", "scanner"]);

    let scanned = wait_for("the scan at start", || {
        let b = batches(&home, "scanner");
        if b.is_empty() { Err(home.log()) } else { Ok(b) }
    });
    assert_eq!(names(&scanned[0]), vec!["a.txt", "b.txt", "c.txt"]);
    assert!(scanned[0].iter().all(|(_, k)| k == "created"));

    let ignored = flush(&home, "ignorer", &dir, "zz-sentinel");
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(names(&ignored[0]), vec!["zz-sentinel"]);
}

#[test]
fn changes_made_while_the_daemon_was_down_run_once_at_start() {
    let home = Home::new();
    let dir = folder(&home, "offline");
    std::fs::write(dir.join("edit.txt"), "before").unwrap();
    std::fs::write(dir.join("gone.txt"), "before").unwrap();
    std::fs::write(dir.join("keep.txt"), "kept").unwrap();
    home.install("offline", &watch_skill("offline", &dir, &["events: [created, modified, deleted]"]));
    let daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["offline"]);
    daemon.stop();

    std::fs::write(dir.join("edit.txt"), "after, longer").unwrap();
    std::fs::remove_file(dir.join("gone.txt")).unwrap();
    std::fs::write(dir.join("new.txt"), "new").unwrap();
    std::process::Command::new("touch").arg(dir.join("keep.txt")).status().expect("touch runs");

    let daemon = armed(&home, "2027-01-10T12:00:00+01:00", &["offline"]);
    let found = wait_for("the run for what changed while down", || {
        let b = batches(&home, "offline");
        if b.is_empty() { Err(home.log()) } else { Ok(b) }
    });
    let expected: Vec<(String, String)> = [("edit.txt", "modified"), ("gone.txt", "deleted"), ("new.txt", "created")]
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect();
    assert_eq!(found[0], expected);
    daemon.stop();

    // Nothing changed since: the next start finds nothing.
    let _daemon = armed(&home, "2027-01-10T14:00:00+01:00", &["offline"]);
    let all = flush(&home, "offline", &dir, "zz-sentinel");
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(names(&all[1]), vec!["zz-sentinel"]);
}

#[test]
fn a_watched_folder_deleted_and_recreated_is_watched_again() {
    let home = Home::new();
    let dir = folder(&home, "fragile");
    home.install("fragile", &watch_skill("fragile", &dir, &[]));
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["fragile"]);
    std::fs::write(dir.join("one.txt"), "1").unwrap();
    wait_for("the first run", || if batches(&home, "fragile").len() == 1 { Ok(()) } else { Err(home.log()) });

    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    wait_for("the folder watched again", || {
        if home.log().contains("is there again; watching it") { Ok(()) } else { Err(home.log()) }
    });
    std::fs::write(dir.join("two.txt"), "2").unwrap();
    let all = flush(&home, "fragile", &dir, "zz-sentinel");
    let seen: BTreeSet<&str> = all.iter().flat_map(|b| names(b)).collect();
    assert!(seen.contains("two.txt"), "{all:?}");
    let listed: usize = all.iter().map(Vec::len).sum();
    assert_eq!(listed, seen.len(), "no file twice: {all:?}");
}

#[test]
fn a_polled_watch_says_so_and_each_batch_is_in_the_schedule_history() {
    let home = Home::new();
    let dir = folder(&home, "polled");
    home.install("polled", &watch_skill("polled", &dir, &["poll: 300ms"]));
    let _daemon = home.start_at("2027-01-10T10:00:00+01:00");
    wait_for("the polled watch armed", || {
        let status = home.status();
        let t = status["triggers"].as_array().into_iter().flatten().find(|t| t["kind"] == "watch").cloned();
        match t {
            Some(t) if t["state"] == "polling (poll: set)" => Ok(()),
            _ => Err(status.to_string()),
        }
    });
    home.pyra.run(["daemon", "status"]).success().stdout_has("polling (poll: set)");
    home.pyra.run(["schedule", "list"]).success().stdout_has("polling (poll: set)");

    std::fs::write(dir.join("a.txt"), "a").unwrap();
    std::fs::write(dir.join("b.txt"), "b").unwrap();
    let all = wait_for("the polled batch", || {
        let b = batches(&home, "polled");
        let seen: BTreeSet<String> = b.iter().flatten().map(|(n, _)| n.clone()).collect();
        if seen.len() == 2 { Ok(b) } else { Err(format!("{b:?}\n{}", home.log())) }
    });
    let rows = wait_for("settled history rows", || {
        let rows = home.history("polled");
        if rows.len() == all.len() && rows.iter().all(super::Row::settled) {
            Ok(rows)
        } else {
            Err(format!("{rows:#?}"))
        }
    });
    let runs: BTreeSet<String> = home.runs("polled").iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    for row in &rows {
        assert!(row.trigger.starts_with("watch "), "{row:?}");
        assert_eq!(row.outcome, "ran");
        assert_eq!(row.run_status.as_deref(), Some("succeeded"));
        assert!(runs.contains(row.run.as_deref().unwrap()), "{row:?} names one of {runs:?}");
    }
    home.pyra.run(["schedule", "history", "polled"]).success().stdout_has("watch ");
}

/// Sets `fs.inotify.max_queued_events` and puts the old value back when dropped.
struct QueueLimit(String);

impl QueueLimit {
    const PATH: &str = "/proc/sys/fs/inotify/max_queued_events";

    fn set(value: u32) -> Option<QueueLimit> {
        let old = std::fs::read_to_string(Self::PATH).ok()?;
        std::fs::write(Self::PATH, value.to_string()).ok()?;
        Some(QueueLimit(old.trim().to_string()))
    }
}

impl Drop for QueueLimit {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped check says why in the test's output")]
fn an_overflowing_event_queue_is_rescanned_and_every_file_reaches_one_run() {
    let home = Home::new();
    let dir = folder(&home, "flood");
    home.install("flood", &watch_skill("flood", &dir, &[]));
    // The limit is read when the daemon's inotify instance is made; it is restored as soon
    // as the watch is armed.
    let arming = ARMING.write().unwrap_or_else(|e| e.into_inner());
    let Some(limit) = QueueLimit::set(16) else {
        eprintln!("note: skipped: fs.inotify.max_queued_events cannot be set here (needs root)");
        return;
    };
    let _daemon = home.start_at("2027-01-10T10:00:00+01:00");
    wait_armed(&home, "flood");
    drop(limit);
    drop(arming);

    // Far more events than the queue holds, written faster than one reader drains them
    // even on an idle machine (500 files once let the daemon keep up).
    const FILES: usize = 3000;
    let expected: BTreeSet<String> = (0..FILES).map(|i| format!("f{i:04}.txt")).collect();
    for name in &expected {
        std::fs::write(dir.join(name), name).unwrap();
    }
    let all = wait_for("every file after the overflow", || {
        let b = batches(&home, "flood");
        let seen: BTreeSet<String> = b.iter().flatten().map(|(n, _)| n.clone()).collect();
        if seen == expected { Ok(b) } else { Err(format!("{} of {FILES} seen\n{}", seen.len(), home.log())) }
    });
    assert!(home.log().contains("file events were lost"), "the queue overflowed: {}", home.log());
    let listed: usize = all.iter().map(Vec::len).sum();
    assert_eq!(listed, FILES, "no file listed twice");
}

/// A bindfs (FUSE) mount, unmounted when dropped.
struct FuseMount(PathBuf);

impl Drop for FuseMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped check says why in the test's output")]
fn a_fuse_mount_is_polled_and_its_changes_reach_a_run() {
    let home = Home::new();
    let source = folder(&home, "fuse-source");
    let mount = folder(&home, "fuse-mount");
    let mounted = std::process::Command::new("bindfs")
        .arg(&source)
        .arg(&mount)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(std::env::var_os("PYRA_REQUIRE_BINDFS").is_none(), "bindfs is required here (.ci/run installs it)");
        eprintln!("note: skipped: bindfs (FUSE) cannot mount here");
        return;
    }
    let _mount = FuseMount(mount.clone());
    home.install("fused", &watch_skill("fused", &mount, &[]));
    let _daemon = home.start_at("2027-01-10T10:00:00+01:00");
    wait_for("the FUSE watch polled", || {
        let status = home.status();
        let t = status["triggers"].as_array().into_iter().flatten().find(|t| t["kind"] == "watch").cloned();
        match t {
            Some(t) if t["state"] == "polling (fuse mount)" => Ok(()),
            _ => Err(status.to_string()),
        }
    });
    // Written beside the mount: no event reaches a watch on it; the poll finds it.
    std::fs::write(source.join("report.txt"), "fresh").unwrap();
    let all = wait_for("the polled run", || {
        let b = batches(&home, "fused");
        if b.is_empty() { Err(home.log()) } else { Ok(b) }
    });
    assert_eq!(all[0], vec![("report.txt".to_string(), "created".to_string())]);
}

/// Sets `fs.inotify.max_user_watches` and puts the old value back when dropped.
struct WatchLimit(String);

impl WatchLimit {
    const PATH: &str = "/proc/sys/fs/inotify/max_user_watches";

    fn set(value: u64) -> Option<WatchLimit> {
        let old = std::fs::read_to_string(Self::PATH).ok()?;
        std::fs::write(Self::PATH, value.to_string()).ok()?;
        Some(WatchLimit(old.trim().to_string()))
    }
}

impl Drop for WatchLimit {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// The inotify watches this user holds now (every process's `inotify wd:` lines).
fn watches_in_use() -> u64 {
    let mut count = 0;
    for process in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        for fd in std::fs::read_dir(process.path().join("fdinfo")).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(fd.path()).unwrap_or_default();
            count += text.lines().filter(|l| l.starts_with("inotify wd:")).count() as u64;
        }
    }
    count
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped check says why in the test's output")]
fn past_the_inotify_watch_limit_a_watch_polls_and_says_why_once() {
    let home = Home::new();
    let dir = folder(&home, "limited");
    for sub in ["a", "b", "c"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    home.install("limited", &watch_skill("limited", &dir, &["recursive: true"]));
    let arming = ARMING.write().unwrap_or_else(|e| e.into_inner());
    // Room for one more watch: the folder's own, not its subfolders'.
    let Some(limit) = WatchLimit::set(watches_in_use() + 1) else {
        eprintln!("note: skipped: fs.inotify.max_user_watches cannot be set here (needs root)");
        return;
    };
    let _daemon = home.start_at("2027-01-10T10:00:00+01:00");
    let state = wait_for("the watch armed", || {
        let status = home.status();
        let t = status["triggers"].as_array().into_iter().flatten().find(|t| t["kind"] == "watch").cloned();
        match t.as_ref().and_then(|t| t["state"].as_str()) {
            Some(state) if state != "arming" => Ok(state.to_string()),
            _ => Err(status.to_string()),
        }
    });
    drop(limit);
    drop(arming);
    assert_eq!(state, "polling (inotify watch limit)");
    let log = home.log();
    assert_eq!(log.matches("fs.inotify.max_user_watches = ").count(), 1, "one log line naming the sysctl: {log}");

    std::fs::write(dir.join("b").join("deep.txt"), "deep").unwrap();
    let all = wait_for("the polled run", || {
        let b = batches(&home, "limited");
        if b.is_empty() { Err(home.log()) } else { Ok(b) }
    });
    assert_eq!(all[0], vec![("deep.txt".to_string(), "created".to_string())]);
}

#[test]
fn a_watched_single_file_stays_watched_across_saves_by_rename() {
    let home = Home::new();
    let dir = folder(&home, "single");
    let todo = dir.join("todo.md");
    std::fs::write(&todo, "v1\n").unwrap();
    home.install("single", &watch_skill("single", &todo, &[]));
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["single"]);
    let save = |text: &str| {
        std::fs::write(dir.join(".todo.md.new"), text).unwrap();
        std::fs::rename(dir.join(".todo.md.new"), &todo).unwrap();
    };
    let runs = |count: usize| {
        wait_for(&format!("{count} runs"), || {
            let b = batches(&home, "single");
            if b.len() >= count { Ok(b) } else { Err(format!("{b:?}\n{}", home.log())) }
        })
    };
    save("v2\n");
    runs(1);
    save("v3\n");
    runs(2);
    // A neighbour of the watched file is not watched.
    std::fs::write(dir.join("other.md"), "other").unwrap();
    save("v4\n");
    let all = runs(3);
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|b| *b == vec![("todo.md".to_string(), "modified".to_string())]), "{all:?}");
}

#[test]
fn catch_up_skip_takes_note_of_changes_made_while_down_and_runs_none() {
    let home = Home::new();
    let dir = folder(&home, "skipping");
    std::fs::write(dir.join("old.txt"), "before").unwrap();
    home.install("skipping", &watch_skill("skipping", &dir, &["catch_up: skip"]));
    let daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["skipping"]);
    daemon.stop();
    std::fs::write(dir.join("old.txt"), "changed while down").unwrap();
    std::fs::write(dir.join("new.txt"), "made while down").unwrap();

    let _daemon = armed(&home, "2027-01-10T12:00:00+01:00", &["skipping"]);
    let all = flush(&home, "skipping", &dir, "zz-sentinel");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(names(&all[0]), vec!["zz-sentinel"]);
    // The index learnt them: a later edit is `modified`, not `created`.
    std::fs::write(dir.join("new.txt"), "edited later").unwrap();
    let all = wait_for("the edit's run", || {
        let b = batches(&home, "skipping");
        if b.len() == 2 { Ok(b) } else { Err(format!("{b:?}\n{}", home.log())) }
    });
    assert_eq!(all[1], vec![("new.txt".to_string(), "modified".to_string())]);
}

#[test]
fn if_decides_over_the_batch_whether_it_starts_a_run() {
    let home = Home::new();
    let dir = folder(&home, "pairs");
    home.install(
        "pairs",
        &watch_skill("pairs", &dir, &[]).replace("    with:\n", "    if: \"trigger.paths | length > 1\"\n    with:\n"),
    );
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["pairs"]);
    std::fs::write(dir.join("alone.txt"), "1").unwrap();
    wait_for("the lone file's batch decided", || {
        if home.log().contains("starts no run: `if` is false") { Ok(()) } else { Err(home.log()) }
    });
    std::fs::write(dir.join("one.txt"), "1").unwrap();
    std::fs::write(dir.join("two.txt"), "2").unwrap();
    let all = wait_for("the pair's run", || {
        let b = batches(&home, "pairs");
        if b.is_empty() { Err(home.log()) } else { Ok(b) }
    });
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(names(&all[0]), vec!["one.txt", "two.txt"]);
}

#[test]
fn a_batch_recorded_before_a_crash_starts_its_run_at_the_next_start() {
    let home = Home::new();
    let dir = folder(&home, "crashed");
    home.install("crashed", &watch_skill("crashed", &dir, &[]));
    let daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["crashed"]);
    daemon.stop();
    // What a daemon killed between a batch's commit and its run's start leaves behind.
    let key = format!("watch {}", dir.display());
    let inputs = serde_json::json!({ "paths": [dir.join("lost.txt")], "kinds": { "x": "created" } });
    let db = rusqlite::Connection::open(home.path().join("pyra.db")).unwrap();
    db.execute(
        "INSERT INTO schedule_slots (skill, trigger_key, slot, outcome, run_id, decided_at, inputs)
         VALUES ('crashed', ?1, 1799999999000, 'ran', 'crashedbatch', 1799999999000, ?2)",
        rusqlite::params![key, inputs.to_string()],
    )
    .unwrap();
    drop(db);

    let _daemon = armed(&home, "2027-01-10T12:00:00+01:00", &["crashed"]);
    let runs = wait_for("the recorded batch's run", || {
        let runs = home.runs("crashed");
        if runs.iter().any(|r| r["id"] == "crashedbatch" && r["status"] == "succeeded") {
            Ok(runs)
        } else {
            Err(format!("{runs:#?}\n{}", home.log()))
        }
    });
    assert_eq!(runs.len(), 1, "that run, no other: {runs:#?}");
    assert_eq!(runs[0]["trigger"], "watch");
    assert_eq!(batch(&runs[0]), vec![("lost.txt".to_string(), "?".to_string())]);
}

#[test]
fn a_batch_whose_with_cannot_be_rendered_is_in_the_history_as_failed_to_start() {
    let home = Home::new();
    let dir = folder(&home, "broken");
    // Valid to `validate` (a filter it cannot know fails only with the batch's data).
    let yaml =
        watch_skill("broken", &dir, &[]).replace("\"{{ trigger.paths }}\"", "\"{{ trigger.paths | first | int }}\"");
    home.install("broken", &yaml);
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["broken"]);
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    let rows = wait_for("the failed batch's row", || {
        let rows = home.history("broken");
        if rows.is_empty() { Err(home.log()) } else { Ok(rows) }
    });
    assert_eq!(rows[0].outcome, "failed-to-start", "{rows:?}");
    assert!(rows[0].reason.as_deref().is_some_and(|r| r.contains("if/with")), "{rows:?}");
    assert!(home.runs("broken").is_empty());
}

#[test]
fn validate_refuses_event_in_a_watch_trigger_and_trigger_outside_one() {
    let home = Home::new();
    let dir = folder(&home, "checked");
    let event = watch_skill("uses-event", &dir, &[]).replace("\"{{ trigger.paths }}\"", "\"{{ event.path }}\"");
    std::fs::write(home.out("uses-event.yaml"), event).unwrap();
    home.pyra
        .run(["skill", "validate", &home.out("uses-event.yaml").to_string_lossy()])
        .code(1)
        .stderr_has("a watch trigger has no `event`")
        .stderr_has("trigger.paths");
    let node = watch_skill("node-reads-trigger", &dir, &[])
        .replace("argv: [sh, -c, \"true\"]", "argv: [echo, \"{{ trigger.at }}\"]");
    std::fs::write(home.out("node-reads-trigger.yaml"), node).unwrap();
    home.pyra
        .run(["skill", "validate", &home.out("node-reads-trigger.yaml").to_string_lossy()])
        .code(1)
        .stderr_has("`trigger` is not defined here");
}

/// An OpenAI-compatible streamed reply whose text is `content`.
fn streamed(content: &str) -> crate::llm_server::Reply {
    let chunk = |delta: Value, finish: Value| {
        let body = serde_json::json!({
            "id": "chatcmpl-inbox", "object": "chat.completion.chunk", "created": 1_800_000_000,
            "model": "gpt-4o-mini",
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        format!("data: {body}\n\n")
    };
    let sse = [
        chunk(serde_json::json!({ "role": "assistant", "content": content }), Value::Null),
        chunk(serde_json::json!({}), "stop".into()),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    crate::llm_server::Reply {
        headers: vec![("content-type".into(), "text/event-stream".into())],
        ..crate::llm_server::Reply::json(200, &sse)
    }
}

#[test]
fn the_inbox_watch_example_files_a_new_note_into_memory_under_the_daemon() {
    use crate::llm_server::LlmServer;

    let filed = serde_json::json!({
        "slug": "balcony-herbs",
        "summary": "Grow basil and mint on the balcony this spring.",
        "keywords": ["garden", "balcony", "herbs"],
    });
    let server = LlmServer::start(vec![streamed(&filed.to_string())]);
    let home = Home::new();
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "default_model: local\nmodels:\n  - name: local\n    provider: openai-compatible\n    model: gpt-4o-mini\n    \
             base_url: {}/v1\n",
            server.url
        ),
    )
    .unwrap();
    let dir = folder(&home, "inbox");
    // The example as shipped, watching the test's folder, with a shorter debounce and settle.
    let example = std::fs::read_to_string(crate::harness::repo_root().join("examples/inbox-watch.yaml")).unwrap();
    let installed = example
        .replace("paths: [\"~/Notes/inbox\"]", &format!("paths: [\"{}\"]", dir.display()))
        .replace("debounce: 1s ", "debounce: 200ms ")
        .replace("settle: 2s ", "settle: 400ms ");
    for changed in ["paths: [\"~/Notes/inbox\"]", "debounce: 1s ", "settle: 2s "] {
        assert!(example.contains(changed), "the example no longer has {changed:?}");
    }
    home.install("inbox-watch", &installed);
    let _daemon = armed(&home, "2027-01-10T10:00:00+01:00", &["inbox-watch"]);

    let text = "# Balcony\n\nPlant basil and mint in the long pot by the railing in April.\n";
    std::fs::write(dir.join(".idea.md.tmp"), text).unwrap();
    std::fs::rename(dir.join(".idea.md.tmp"), dir.join("idea.md")).unwrap();

    let runs = wait_for("a succeeded watch run of inbox-watch", || {
        let runs = home.runs("inbox-watch");
        if runs.iter().any(|r| r["trigger"] == "watch" && r["status"] == "succeeded") {
            Ok(runs)
        } else {
            Err(format!("{runs:#?}\n{}", home.log()))
        }
    });
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(names(&batch(&runs[0])), vec!["idea.md"], "{runs:#?}");

    // The model was asked once, about this note.
    let seen = server.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let asked = serde_json::to_string(&seen[0].body).unwrap();
    assert!(asked.contains("Plant basil and mint in the long pot") && asked.contains("idea.md"), "{asked}");

    // The note is in memory, under the default category, with the model's summary.
    let stored = std::fs::read_to_string(home.path().join("memory/inbox/balcony-herbs.md")).unwrap();
    assert!(stored.contains("Plant basil and mint in the long pot"), "{stored}");
    assert!(stored.contains("Grow basil and mint on the balcony this spring."), "{stored}");
    home.pyra.run(["memory", "show", "inbox/balcony-herbs"]).success().stdout_has("long pot by the railing");
}
