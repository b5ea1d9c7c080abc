//! The watch-trigger benchmark (issue 15), against the release `pyra` binary, each case
//! in a fresh temporary home with the daemon in the foreground:
//! - F1 latency: from the end of a file's last write to its batch's run starting (the
//!   daemon's log line), with the defaults (`debounce` 500 ms, `settle` 2 s); the target is
//!   settle + 50 ms median, settle + 200 ms p99.
//! - F2 flood: 20,000 files dropped at once with `fs.inotify.max_queued_events` lowered to
//!   256 while the daemon arms (restored at once; needs root, skipped otherwise): how many
//!   files reached a run, how many twice, in how many runs, and how long until the last.
//! - F3 idle: 5 recursive watches over trees of 10,000 files each: time to arm, then RSS
//!   and CPU time over the idle window (60 s; `--quick`: 10 s).
//!
//! Run: `cargo bench -p cli --bench watch` (`-- --quick` for fewer repetitions; name cases
//! to run only those, e.g. `-- F1`; F for file, beside the run benchmark's W cases).
//! Nothing here asserts a time.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};
use support::{Home, cpu_ticks, median, p99, rss_kib, wait};

impl Home {
    fn folder(&self, name: &str) -> PathBuf {
        let dir = self.path().join("work").join(name);
        std::fs::create_dir_all(&dir).expect("folder");
        dir
    }

    fn skill(&self, name: &str, dirs: &[&Path], options: &str) {
        let paths: Vec<String> = dirs.iter().map(|d| format!("\"{}\"", d.display())).collect();
        let yaml = format!(
            "name: {name}\ninputs:\n  paths: {{ type: array }}\ntriggers:\n  - watch:\n      paths: [{}]\n{options}    with:\n      paths: \"{{{{ trigger.paths }}}}\"\nnodes:\n  a:\n    uses: template\n    with: {{ value: 1 }}\n",
            paths.join(", ")
        );
        std::fs::write(self.path().join("skills").join(format!("{name}.yaml")), yaml).expect("write skill");
    }

    fn start(&self) -> Child {
        self.cmd()
            .args(["daemon", "start", "--foreground"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the daemon")
    }

    fn status(&self) -> serde_json::Value {
        let out = self.cmd().args(["daemon", "status", "--json"]).output().expect("status");
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// Waits until every watch is armed (its state is no longer `arming`).
    fn wait_armed(&self, count: usize) {
        wait(Duration::from_secs(600), || {
            let status = self.status();
            let states: Vec<String> = status["triggers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["kind"] == "watch")
                .filter_map(|t| t["state"].as_str().map(str::to_string))
                .collect();
            states.len() == count && states.iter().all(|s| s != "arming")
        });
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("logs").join("daemon.log")).unwrap_or_default()
    }

    /// Each run's `paths` input.
    fn batches(&self, skill: &str) -> Vec<Vec<String>> {
        let out = self.cmd().args(["runs", "list", "--skill", skill, "--json", "--limit", "1000000"]).output();
        let runs: serde_json::Value = serde_json::from_slice(&out.expect("runs list").stdout).unwrap_or_default();
        runs.as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                r["inputs"]["paths"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
            .collect()
    }
}

/// The wall-clock instant (ms since the epoch) of the `nth` log line saying a batch starts
/// a run, if it is there.
fn run_started_ms(log: &str, nth: usize) -> Option<f64> {
    let line = log.lines().filter(|l| l.contains("changed files start run")).nth(nth)?;
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let at = chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str()?).ok()?;
    Some(at.timestamp_micros() as f64 / 1000.0)
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_micros() as f64 / 1000.0)
}

fn f1(quick: bool) {
    let home = Home::new();
    let dir = home.folder("inbox");
    home.skill("latency", &[&dir], "");
    let child = home.start();
    home.wait_armed(1);
    let mut late = Vec::new();
    for i in 0..if quick { 5 } else { 20 } {
        std::fs::write(dir.join(format!("note-{i}.md")), "a note\n").expect("write");
        let written = now_ms();
        wait(Duration::from_secs(30), || run_started_ms(&home.log(), i).is_some());
        let started = run_started_ms(&home.log(), i).expect("a run");
        late.push(started - written);
    }
    home.stop(child);
    println!(
        "F1 latency: last write → run started: median {:.0} ms, p99 {:.0} ms (settle 2000 ms; {} files)",
        median(late.clone()),
        p99(late.clone()),
        late.len()
    );
}

fn f2(quick: bool) {
    const PATH: &str = "/proc/sys/fs/inotify/max_queued_events";
    let count = if quick { 5_000 } else { 20_000 };
    let home = Home::new();
    let dir = home.folder("flood");
    home.skill("flood", &[&dir], "");
    let Ok(old) = std::fs::read_to_string(PATH) else { return println!("F2 flood: skipped (no inotify)") };
    if std::fs::write(PATH, "256").is_err() {
        return println!("F2 flood: skipped (fs.inotify.max_queued_events cannot be set; needs root)");
    }
    let child = home.start();
    home.wait_armed(1);
    let _ = std::fs::write(PATH, old.trim());
    let began = Instant::now();
    for i in 0..count {
        std::fs::write(dir.join(format!("f{i:05}.txt")), i.to_string()).expect("write");
    }
    let mut batches = Vec::new();
    wait(Duration::from_secs(600), || {
        let b = home.batches("flood");
        let seen: BTreeSet<&String> = b.iter().flatten().collect();
        seen.len() >= count
    });
    let took = began.elapsed();
    batches.extend(home.batches("flood"));
    let listed: usize = batches.iter().map(Vec::len).sum();
    let unique: BTreeSet<&String> = batches.iter().flatten().collect();
    let overflowed = home.log().contains("file events were lost");
    home.stop(child);
    println!(
        "F2 flood: {count} files with max_queued_events 256: {} reached a run, {} twice, in {} runs, all after {:.1} s (queue overflowed: {overflowed})",
        unique.len(),
        listed - unique.len(),
        batches.len(),
        took.as_secs_f64()
    );
}

fn f3(quick: bool) {
    let home = Home::new();
    let mut dirs = Vec::new();
    for t in 0..5 {
        let root = home.folder(&format!("tree{t}"));
        for d in 0..100 {
            let sub = root.join(format!("d{d:02}"));
            std::fs::create_dir_all(&sub).expect("dir");
            for f in 0..100 {
                std::fs::write(sub.join(format!("f{f:02}.txt")), format!("{t} {d} {f}")).expect("file");
            }
        }
        dirs.push(root);
    }
    for (i, dir) in dirs.iter().enumerate() {
        home.skill(&format!("tree{i}"), &[dir], "      recursive: true\n");
    }
    let began = Instant::now();
    let child = home.start();
    let pid = child.id();
    home.wait_armed(5);
    let armed = began.elapsed();
    // Let start-up settle (pages released after 5 s) before the window.
    std::thread::sleep(Duration::from_secs(6));
    let window = Duration::from_secs(if quick { 10 } else { 60 });
    let cpu_before = cpu_ticks(pid);
    std::thread::sleep(window);
    let cpu = cpu_ticks(pid) - cpu_before;
    let rss = rss_kib(pid);
    home.stop(child);
    println!(
        "F3 idle: 5 recursive watches × 10,000 files: armed in {:.1} s; RSS {:.1} MiB; CPU {:.2} % over {} s",
        armed.as_secs_f64(),
        rss as f64 / 1024.0,
        cpu as f64 / TICKS_PER_SECOND / window.as_secs_f64() * 100.0,
        window.as_secs()
    );
}

/// Clock ticks per second in `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let quick = args.iter().any(|a| a == "--quick");
    let named: Vec<&String> = args.iter().filter(|a| a.starts_with('F')).collect();
    let want = |case: &str| named.is_empty() || named.iter().any(|n| *n == case);
    if want("F1") {
        f1(quick);
    }
    if want("F2") {
        f2(quick);
    }
    if want("F3") {
        f3(quick);
    }
}
