//! The daemon benchmark (issue 12), against the release `pyra` binary, each case in a
//! fresh temporary home:
//! - D1 idle: 20 skills (10 cron, 10 event), RSS after the idle window (60 s; `--quick`:
//!   10 s), CPU time and wakeups (voluntary context switches of all its threads) per
//!   second over the window.
//! - D2 accept: from spawning `daemon start --foreground` with 1,000 cron triggers (100
//!   skills × 10) to its first answer on the socket.
//! - D3 cron: how late after its slot a run starts (the daemon logs it on its own clock,
//!   set by PYRA_CLOCK to half a second before a minute at real speed).
//! - D4 emit: from spawning `pyra emit` to the run's record in pyra.db.
//! - D5 vault: a whole `pyra run` of a one-node skill that reads a secret, with the vault
//!   held by the daemon, and without a daemon (scrypt in the process).
//!
//! Run: `cargo bench -p cli --bench daemon` (`-- --quick` for fewer repetitions; name
//! cases to run only those, e.g. `-- D3 D4`). Medians (and p99 where asked) are printed;
//! nothing here asserts a time.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::{Home, cpu_ticks, median, p99, rss_kib, wait};

impl Home {
    fn skill(&self, name: &str, yaml: &str) {
        std::fs::write(self.path().join("skills").join(format!("{name}.yaml")), yaml).expect("write skill");
    }

    fn socket_answers(&self) -> bool {
        let socket = self.path().join("run").join("daemon.sock");
        let Ok(stream) = std::os::unix::net::UnixStream::connect(&socket) else { return false };
        use std::io::{BufRead, Write};
        let mut writer = &stream;
        if writer.write_all(b"{\"v\":1,\"id\":1,\"op\":\"ping\"}\n").is_err() {
            return false;
        }
        let mut line = String::new();
        std::io::BufReader::new(&stream).read_line(&mut line).is_ok_and(|_| line.contains("\"ok\":true"))
    }

    fn foreground(&self, clock: Option<&str>) -> Child {
        let mut c = self.cmd();
        c.args(["daemon", "start", "--foreground"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(clock) = clock {
            c.env("PYRA_CLOCK", clock);
        }
        c.spawn().expect("spawn the daemon")
    }

    fn wait_for(&self, what: impl Fn() -> bool) {
        wait(Duration::from_secs(30), what);
    }
}

fn cron_skill(name: &str, triggers: usize) -> String {
    let mut s = format!("name: {name}\ntriggers:\n");
    for i in 0..triggers {
        s.push_str(&format!("  - cron: \"{} {} * * *\"\n    timezone: Europe/Berlin\n", i % 60, i % 24));
    }
    s.push_str("nodes:\n  a:\n    uses: template\n    with: { value: 1 }\n");
    s
}

fn event_skill(name: &str) -> String {
    format!(
        "name: {name}\ntriggers:\n  - event: {name}.go\nnodes:\n  a:\n    uses: template\n    with: {{ value: 1 }}\n"
    )
}

/// Sum over the process's threads of a `/proc/PID/task/*/status` field.
fn threads_sum(pid: u32, field: &str) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix(field) {
                total += v.trim_start_matches(':').trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

fn d1_idle(quick: bool) {
    let home = Home::new();
    for i in 0..10 {
        home.skill(&format!("c{i}"), &cron_skill(&format!("c{i}"), 1));
        home.skill(&format!("e{i}"), &event_skill(&format!("e{i}")));
    }
    let child = home.foreground(None);
    home.wait_for(|| home.socket_answers());
    let pid = child.id();
    let window = if quick { 10 } else { 60 };
    std::thread::sleep(Duration::from_secs(2));
    let (cpu0, sw0) = (cpu_ticks(pid), threads_sum(pid, "voluntary_ctxt_switches"));
    std::thread::sleep(Duration::from_secs(window));
    let (cpu1, sw1) = (cpu_ticks(pid), threads_sum(pid, "voluntary_ctxt_switches"));
    let rss = rss_kib(pid);
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0);
    home.stop(child);
    println!(
        "D1 idle, 20 skills (10 cron, 10 event), after {} s: RSS {:.1} MiB, {threads} threads, CPU {} ticks ({:.3} %), {:.2} wakeups/s",
        window + 2,
        rss as f64 / 1024.0,
        cpu1 - cpu0,
        (cpu1 - cpu0) as f64 / (window as f64 * 100.0) * 100.0,
        (sw1 - sw0) as f64 / window as f64
    );
}

fn d2_accept(quick: bool) {
    let home = Home::new();
    for i in 0..100 {
        home.skill(&format!("s{i:03}"), &cron_skill(&format!("s{i:03}"), 10));
    }
    let mut times = Vec::new();
    for round in 0..if quick { 3 } else { 9 } {
        let began = Instant::now();
        let child = home.foreground(None);
        home.wait_for(|| home.socket_answers());
        let took = began.elapsed().as_secs_f64() * 1000.0;
        if round > 0 {
            // The first round also creates pyra.db and arms every trigger in it.
            times.push(took);
        }
        home.stop(child);
    }
    println!(
        "D2 accept with 1,000 cron triggers: median {:.1} ms after spawn (n={})",
        median(times.clone()),
        times.len()
    );
}

fn d3_cron(quick: bool) {
    let home = Home::new();
    home.skill("every", "name: every\ntriggers:\n  - cron: \"* * * * *\"\n    timezone: UTC\nnodes:\n  a:\n    uses: template\n    with: { value: 1 }\n");
    let log = home.path().join("logs").join("daemon.log");
    let mut lates = Vec::new();
    for round in 0..if quick { 5 } else { 20 } {
        // Each daemon starts half a second before a minute; its slot is the run to time.
        let clock = format!("2030-01-01T00:{:02}:59.5Z", round % 60);
        let child = home.foreground(Some(&clock));
        let marker = "ms after its slot";
        let before = std::fs::read_to_string(&log).unwrap_or_default().matches(marker).count();
        home.wait_for(|| std::fs::read_to_string(&log).unwrap_or_default().matches(marker).count() > before);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let line = text.lines().rfind(|l| l.contains(marker)).unwrap_or_default().to_string();
        let late: f64 = line
            .split(" starts ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(f64::NAN);
        lates.push(late);
        home.stop(child);
    }
    println!(
        "D3 cron run started after its slot: median {:.1} ms, p99 {:.1} ms (n={})",
        median(lates.clone()),
        p99(lates.clone()),
        lates.len()
    );
}

fn d4_emit(quick: bool) {
    let home = Home::new();
    home.skill("hook", &event_skill("hook"));
    let child = home.foreground(None);
    home.wait_for(|| home.socket_answers());
    let db = rusqlite::Connection::open(home.path().join("pyra.db")).expect("pyra.db");
    let mut times = Vec::new();
    for i in 0..if quick { 10 } else { 40 } {
        let before_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as f64)
            .unwrap_or(0.0);
        let began = Instant::now();
        let out = home.cmd().args(["emit", "hook.go", "--id", &format!("e{i}"), "--json"]).output().expect("emit");
        let emit_took = began.elapsed().as_secs_f64() * 1000.0;
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let run = reply["runs"][0].as_str().unwrap_or_default().to_string();
        let created = std::cell::Cell::new(None::<i64>);
        home.wait_for(|| {
            created.set(db.query_row("SELECT created_at FROM runs WHERE id = ?1", [&run], |r| r.get(0)).ok());
            created.get().is_some()
        });
        let after = created.get().unwrap_or_default() as f64 - before_ms;
        times.push((after, emit_took));
    }
    home.stop(child);
    let to_run: Vec<f64> = times.iter().map(|t| t.0).collect();
    let whole: Vec<f64> = times.iter().map(|t| t.1).collect();
    println!(
        "D4 pyra emit → run recorded: median {:.1} ms from spawning `pyra emit` (the emit process itself: median {:.1} ms) (n={})",
        median(to_run),
        median(whole),
        times.len()
    );
}

fn d5_vault(quick: bool) {
    let home = Home::new();
    let pass = "bench-passphrase";
    let init = home.cmd().args(["vault", "init"]).env("PYRA_VAULT_PASSPHRASE", pass).output().expect("vault init");
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let mut set = home
        .cmd()
        .args(["vault", "set", "bench:key"])
        .env("PYRA_VAULT_PASSPHRASE", pass)
        .stdin(Stdio::piped())
        .spawn()
        .expect("vault set");
    use std::io::Write;
    set.stdin.take().expect("stdin").write_all(b"bench-secret-value").expect("write");
    assert!(set.wait().expect("vault set").success());
    home.skill("sec", "name: sec\nsecrets: [\"bench:key\"]\nnodes:\n  a:\n    uses: template\n    with: { value: \"{{ secret('bench:key') | length }}\" }\noutputs:\n  n: \"{{ nodes.a.output }}\"\n");
    let n = if quick { 5 } else { 20 };
    let time_run = |env: Option<&str>| {
        let mut times = Vec::new();
        for _ in 0..n {
            let mut c = home.cmd();
            c.args(["run", "sec"]).stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null());
            if let Some(pass) = env {
                c.env("PYRA_VAULT_PASSPHRASE", pass);
            }
            let began = Instant::now();
            let status = c.status().expect("run");
            times.push(began.elapsed().as_secs_f64() * 1000.0);
            assert!(status.success(), "the run failed");
        }
        median(times)
    };
    let alone = time_run(Some(pass));
    let mut c = home.cmd();
    c.args(["daemon", "start", "--foreground"])
        .env("PYRA_VAULT_PASSPHRASE", pass)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = c.spawn().expect("daemon");
    home.wait_for(|| home.socket_answers());
    let held = time_run(None);
    home.stop(child);
    println!(
        "D5 `pyra run` reading a secret, whole process: median {held:.1} ms with the vault held by the daemon, {alone:.1} ms unlocking it itself ({:.0}x) (n={n})",
        alone / held
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let quick = args.iter().any(|a| a == "--quick");
    let named: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let want = |case: &str| named.is_empty() || named.iter().any(|n| n.as_str() == case);
    if want("D2") {
        d2_accept(quick);
    }
    if want("D3") {
        d3_cron(quick);
    }
    if want("D4") {
        d4_emit(quick);
    }
    if want("D5") {
        d5_vault(quick);
    }
    if want("D1") {
        d1_idle(quick);
    }
}
