//! The daemon through the real binary: each test starts its own daemon in a temporary
//! home, drives its clock (`PYRA_CLOCK`, usually through a file the test rewrites, so a
//! night or three days pass in seconds), and checks what it recorded — slot rows
//! (`pyra schedule history`), runs (`pyra runs list`) and side effects (lines a skill's
//! `exec` node appends to a file). Nothing here waits a fixed time or asserts a duration:
//! every wait polls for a condition with a generous limit. A [`Daemon`] guard stops its
//! daemon (and kills it if it does not stop) however the test ends.

mod downtime;
mod events;
mod hostile;
mod jumps;
mod locks;
mod nights;
mod overlap;
mod reload;
mod watch;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::harness::Pyra;

/// The longest any condition is waited for (only reached when a test fails).
const PATIENCE: Duration = Duration::from_secs(60);
/// How often a condition is looked at.
const POLL: Duration = Duration::from_millis(75);

/// Polls `probe` until it gives a value; panics with the last state it described after
/// [`PATIENCE`].
#[track_caller]
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let began = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(state) if began.elapsed() > PATIENCE => {
                panic!("gave up after {} s waiting for {what}; last seen: {state}", PATIENCE.as_secs())
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// An instant written with any offset, as the history prints it (UTC, `+00:00`).
pub fn utc(text: &str) -> String {
    instant(text).to_rfc3339()
}

pub fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc)
}

/// One row of `pyra schedule history --json`.
#[derive(Debug, Clone)]
pub struct Row {
    pub slot: String,
    pub trigger: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub run: Option<String>,
    pub run_status: Option<String>,
    /// When the daemon decided it, by its clock.
    pub decided_at: String,
}

impl Row {
    /// `SLOT OUTCOME[ REASON]`, for assertions that read like the expected history.
    pub fn brief(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{} {} {reason}", self.slot, self.outcome),
            None => format!("{} {}", self.slot, self.outcome),
        }
    }

    /// Whether it was decided at or after its time (on the daemon's clock).
    pub fn decided_in_time(&self) -> bool {
        instant(&self.decided_at) >= instant(&self.slot)
    }

    /// Whether its run ran to the end (or it has none).
    pub fn settled(&self) -> bool {
        self.run.is_none() || self.run_status.as_deref().is_some_and(|s| !matches!(s, "running" | "waiting"))
    }
}

pub fn briefs(rows: &[Row]) -> Vec<String> {
    rows.iter().map(Row::brief).collect()
}

/// A skill with one cron trigger (zone and `options` such as `catch_up: all`) whose one
/// node appends the skill's name to `out`.
pub fn cron_skill(name: &str, cron: &str, zone: &str, options: &[&str], out: &Path) -> String {
    let options: String = options.iter().map(|o| format!("    {o}\n")).collect();
    format!(
        "name: {name}\ntriggers:\n  - cron: \"{cron}\"\n    timezone: {zone}\n{options}nodes:\n  mark:\n    uses: exec\n    \
         with: {{ argv: [sh, -c, 'echo \"$1\" >> \"$0\"', \"{}\", \"{name}\"] }}\n",
        out.display()
    )
}

/// A skill run every minute (Berlin; trigger `options`) whose run takes 1.5 s: it appends
/// `start RUN` to `out`, waits, then appends `end RUN`.
pub fn timed_skill(name: &str, options: &[&str], out: &Path) -> String {
    let options: String = options.iter().map(|o| format!("    {o}\n")).collect();
    format!(
        r#"name: {name}
triggers:
  - cron: "* * * * *"
    timezone: Europe/Berlin
{options}nodes:
  begin:
    uses: exec
    with: {{ argv: [sh, -c, 'echo "start $1" >> "$0"', "{out}", "{{{{ run.id }}}}"] }}
  nap:
    uses: wait
    needs: begin
    with: {{ duration: 1500ms }}
  finish:
    uses: exec
    needs: nap
    with: {{ argv: [sh, -c, 'echo "end $1" >> "$0"', "{out}", "{{{{ run.id }}}}"] }}
"#,
        out = out.display()
    )
}

/// Whether the lines [`timed_skill`] runs wrote show one run at a time. A line written
/// twice in a row is one node run again (a crash came between its side effect and its
/// record), not two runs.
pub fn one_at_a_time(lines: &[String]) -> bool {
    let mut lines = lines.to_vec();
    lines.dedup();
    lines.chunks(2).all(|pair| match pair {
        [start, end] => start.strip_prefix("start ").is_some_and(|run| end.strip_prefix("end ") == Some(run)),
        _ => false,
    })
}

/// Whether two runs were in flight at once (a run started before the one before it ended).
pub fn overlapped(lines: &[String]) -> bool {
    lines.windows(2).any(|w| w[0].starts_with("start ") && w[1].starts_with("start ") && w[0] != w[1])
}

/// A home for one daemon: its skills folder, a clock file, files for side effects.
pub struct Home {
    pub pyra: Pyra,
}

impl Home {
    pub fn new() -> Home {
        let pyra = Pyra::new();
        std::fs::create_dir_all(pyra.home_path().join("skills")).expect("skills folder");
        Home { pyra }
    }

    pub fn path(&self) -> &Path {
        self.pyra.home_path()
    }

    /// Writes `$PYRA_HOME/skills/NAME.yaml` in one step (a temporary hidden file renamed),
    /// so a rescan never reads half a file.
    pub fn install(&self, name: &str, yaml: &str) {
        let dir = self.path().join("skills");
        let tmp = dir.join(format!(".{name}.yaml.tmp"));
        std::fs::write(&tmp, yaml).expect("write skill");
        std::fs::rename(&tmp, dir.join(format!("{name}.yaml"))).expect("place skill");
    }

    /// A file in the scratch folder (skills append their side effects to such files).
    pub fn out(&self, name: &str) -> PathBuf {
        self.pyra.work().join(name)
    }

    /// The lines of a side-effect file (none when it does not exist).
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.out(name)).unwrap_or_default().lines().map(str::to_string).collect()
    }

    fn clock_file(&self) -> PathBuf {
        self.out("clock")
    }

    /// Rewrites the clock file (in one step). A daemon reads it at its next look at the
    /// clock, at the latest after its tick; [`Daemon::play`] also wakes it.
    pub fn set_clock(&self, spec: &str) {
        let tmp = self.out(".clock.tmp");
        std::fs::write(&tmp, spec).expect("write clock");
        std::fs::rename(&tmp, self.clock_file()).expect("place clock");
    }

    /// `pyra daemon start` with `PYRA_CLOCK=spec`.
    pub fn start_with(&self, clock: &str) -> Daemon<'_> {
        let out = crate::harness::Output::from(
            self.pyra.command(["daemon", "start"]).env("PYRA_CLOCK", clock).output().expect("pyra runs"),
        );
        // The guard first: the daemon is stopped even if what follows fails.
        let daemon = Daemon { home: self, pid: pid_in(&out.stdout), done: false };
        out.success().stdout_has("(pid ");
        daemon
    }

    /// Starts the daemon on the clock file, set to `instant` at real speed (the clock
    /// barely moves until the test plays it faster).
    pub fn start_at(&self, instant: &str) -> Daemon<'_> {
        self.set_clock(instant);
        self.start_with(&format!("file:{}", self.clock_file().display()))
    }

    /// `pyra daemon status --json` (`running: false` when no daemon runs; `running: null`
    /// and the error while one holds the lock but does not answer yet).
    pub fn status(&self) -> Value {
        let out = self.pyra.run(["daemon", "status", "--json"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|_| serde_json::json!({ "running": null, "error": out.stderr }))
    }

    /// Every slot row of a skill, oldest first.
    pub fn history(&self, skill: &str) -> Vec<Row> {
        let out = self.pyra.run(["schedule", "history", skill, "--json", "-n", "10000"]);
        out.success();
        let mut rows: Vec<Row> = out
            .json()
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| Row {
                slot: r["slot"].as_str().expect("slot").to_string(),
                trigger: r["trigger"].as_str().expect("trigger").to_string(),
                outcome: r["outcome"].as_str().expect("outcome").to_string(),
                reason: r["reason"].as_str().map(str::to_string),
                run: r["run"].as_str().map(str::to_string),
                run_status: r["run_status"].as_str().map(str::to_string),
                decided_at: r["decided_at"].as_str().expect("decided_at").to_string(),
            })
            .collect();
        rows.sort_by_key(|r| instant(&r.slot));
        rows
    }

    /// Waits until a skill has at least `count` rows, each of whose runs has ended.
    #[track_caller]
    pub fn settled_history(&self, skill: &str, count: usize) -> Vec<Row> {
        wait_for(&format!("{count} settled slot rows of {skill}"), || {
            let rows = self.history(skill);
            if rows.len() >= count && rows.iter().all(Row::settled) { Ok(rows) } else { Err(format!("{rows:#?}")) }
        })
    }

    /// A skill's runs, oldest first.
    pub fn runs(&self, skill: &str) -> Vec<Value> {
        let out = self.pyra.run(["runs", "list", "--skill", skill, "--json", "--limit", "10000"]);
        out.success();
        let mut runs = out.json().as_array().expect("an array").clone();
        runs.reverse();
        runs
    }

    /// The daemon log (for failure reports).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("logs").join("daemon.log")).unwrap_or_default()
    }
}

/// The pid in `… (pid N) …`.
pub fn pid_in(text: &str) -> Option<u32> {
    let rest = &text[text.find("(pid ")? + 5..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?].parse().ok()
}

/// Whether a process lives (a zombie does not: it holds no lock and runs nothing).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name in parentheses.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some(Some('Z' | 'X')) | None)
}

pub fn kill9(pid: u32) {
    signal(pid, rustix::process::Signal::KILL);
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// A daemon this test started: stopped when dropped, killed if it does not stop.
pub struct Daemon<'a> {
    home: &'a Home,
    pid: Option<u32>,
    done: bool,
}

impl Daemon<'_> {
    pub fn pid(&self) -> u32 {
        self.pid.expect("the daemon's pid")
    }

    /// `pyra daemon status --json` of this daemon.
    pub fn status(&self) -> Value {
        let status = self.home.status();
        assert_eq!(status["running"], true, "the daemon runs: {status:#}");
        status
    }

    /// The daemon's clock now.
    pub fn now(&self) -> DateTime<Utc> {
        instant(self.status()["now"].as_str().expect("now"))
    }

    /// `pyra daemon reload`: also wakes the cron task, so a clock changed just before is
    /// read at once.
    pub fn reload(&self) {
        self.home.pyra.run(["daemon", "reload"]).success();
    }

    /// Sets the clock file to `spec` and has the daemon read it now.
    pub fn play(&self, spec: &str) {
        self.home.set_clock(spec);
        self.reload();
    }

    /// Waits until the daemon's clock has passed `instant`.
    #[track_caller]
    pub fn wait_past(&self, at: &str) {
        let at = instant(at);
        wait_for(&format!("the daemon's clock to pass {at}"), || {
            let now = self.now();
            if now > at { Ok(()) } else { Err(now.to_rfc3339()) }
        });
    }

    /// Waits until no run is in flight or queued in the daemon.
    #[track_caller]
    pub fn wait_idle(&self) {
        wait_for("no run in flight or queued", || {
            let status = self.status();
            let idle = status["runs"].as_array().is_some_and(Vec::is_empty) && status["queued"] == 0;
            if idle { Ok(()) } else { Err(format!("runs {} queued {}", status["runs"], status["queued"])) }
        });
    }

    /// The named supervised task in `status`.
    pub fn task(&self, name: &str) -> Value {
        let status = self.status();
        status["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no task {name} in {status:#}"))
    }

    /// `pyra daemon stop`, checked.
    pub fn stop(mut self) {
        self.home.pyra.run(["daemon", "stop"]).success().stdout_has("stopped");
        if let Some(pid) = self.pid {
            wait_for("the stopped daemon's process to end", || if alive(pid) { Err(pid.to_string()) } else { Ok(()) });
        }
        self.done = true;
    }

    /// `kill -9`, and waits until the kernel released the home's lock.
    pub fn kill9(mut self) {
        kill9(self.pid());
        wait_for("the killed daemon's lock to be released", || {
            let status = self.home.status();
            if status["running"] == false { Ok(()) } else { Err(status.to_string()) }
        });
        self.done = true;
    }
}

impl Drop for Daemon<'_> {
    #[allow(clippy::print_stderr, reason = "a failing test shows the daemon's log")]
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.home.log();
            let tail: Vec<&str> = log.lines().rev().take(120).collect();
            eprintln!("--- daemon log (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        if self.done {
            return;
        }
        let running = self.home.status()["pid"].as_u64().map(|p| p as u32);
        let _ = self.home.pyra.command(["daemon", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        for pid in self.pid.into_iter().chain(running) {
            if alive(pid) {
                kill9(pid);
            }
        }
    }
}

/// A `pyra daemon start --foreground` the test spawned itself: SIGTERM when dropped,
/// then SIGKILL if it has not ended.
pub struct Foreground {
    pub child: std::process::Child,
}

impl Foreground {
    pub fn spawn(home: &Home, clock: &str) -> Foreground {
        let child = home
            .pyra
            .command(["daemon", "start", "--foreground"])
            .env("PYRA_CLOCK", clock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the daemon");
        Foreground { child }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        signal(self.child.id(), rustix::process::Signal::TERM);
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
