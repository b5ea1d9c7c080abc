//! What the daemon and watch benchmarks share: a temporary home driven through the release
//! `pyra` binary (its commands, stopping its daemon), waiting for a condition, medians and
//! percentiles, and a process's RSS and CPU time from `/proc`. Each benchmark adds its own
//! methods to [`Home`].

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn pyra() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pyra"))
}

/// A temporary `PYRA_HOME` with a `skills/` folder.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("skills")).expect("skills dir");
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `pyra` for this home, without the caller's clock or vault passphrase.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(pyra());
        c.env("PYRA_HOME", self.path()).env_remove("PYRA_CLOCK").env_remove("PYRA_VAULT_PASSPHRASE");
        c
    }

    /// `pyra daemon stop`, then waits for the foreground daemon `child` to end.
    pub fn stop(&self, mut child: Child) {
        let _ = self.cmd().args(["daemon", "stop"]).stdout(Stdio::null()).status();
        let _ = child.wait();
    }
}

/// Polls `what` every millisecond until it holds; panics after `limit`.
pub fn wait(limit: Duration, what: impl Fn() -> bool) {
    let began = Instant::now();
    while !what() {
        assert!(began.elapsed() < limit, "timed out");
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1]
}

/// The process's resident set, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// utime + stime of every thread, in clock ticks (USER_HZ, 100 on Linux).
pub fn cpu_ticks(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}
