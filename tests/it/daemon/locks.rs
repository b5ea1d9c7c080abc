//! One daemon per home, and one run per slot: two `pyra daemon start` at once leave one
//! daemon (the other command exits 0 naming its pid); two daemons of different homes
//! whose `pyra.db` is one file (a symlink) — as two daemons sharing a home by mistake
//! would — claim each slot once between them.

use std::process::Stdio;

use super::{Daemon, Foreground, Home, alive, pid_in, wait_for};
use crate::harness::Output;

/// The live `pyra … daemon start --foreground` processes of a home.
fn daemons_of(home: &Home) -> Vec<u32> {
    let needle = home.path().to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.iter().any(|a| a == "--foreground") && args.contains(&needle) && alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn two_starts_at_once_leave_one_daemon_and_both_exit_0_naming_it() {
    let home = Home::new();
    let start = || {
        home.pyra
            .command(["daemon", "start"])
            .env("PYRA_CLOCK", "2027-01-10T10:00:00+01:00")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pyra runs")
    };
    let (a, b) = (start(), start());
    let (a, b) = (Output::from(a.wait_with_output().unwrap()), Output::from(b.wait_with_output().unwrap()));
    // The guard before any assertion: whoever won is stopped at the end.
    let daemon = Daemon { home: &home, pid: pid_in(&a.stdout).or(pid_in(&b.stdout)), done: false };
    a.success();
    b.success();
    assert_eq!(pid_in(&a.stdout), pid_in(&b.stdout), "both name the one daemon:\n{a:?}\n{b:?}");
    let pid = daemon.pid();
    assert_eq!(daemon.status()["pid"], pid);
    wait_for("the losing daemon process to end", || {
        let pids = daemons_of(&home);
        if pids == [pid] { Ok(()) } else { Err(format!("{pids:?}")) }
    });

    let again = home.pyra.run(["daemon", "start"]);
    again.success().stdout_has(&format!("already running (pid {pid})"));
    assert!(home.path().join("run").join("daemon.sock").exists(), "the live daemon's socket is untouched");
    assert_eq!(daemon.status()["pid"], pid);
    daemon.stop();
}

#[test]
fn two_daemons_sharing_one_database_run_each_slot_once() {
    let (one, two) = (Home::new(), Home::new());
    // pyra.db exists before either daemon opens it; the second home's is the same file.
    one.pyra.run(["runs", "list"]).success();
    std::os::unix::fs::symlink(one.path().join("pyra.db"), two.path().join("pyra.db")).unwrap();
    let out = one.out("ticks");
    let skill = super::cron_skill("tick", "* * * * *", "Europe/Berlin", &["catch_up: all"], &out);
    one.install("tick", &skill);
    two.install("tick", &skill);
    // One clock file for both, played at once below.
    one.set_clock("2027-01-10T10:00:00+01:00");
    let clock = format!("file:{}", one.out("clock").display());
    let first = Foreground::spawn(&one, &clock);
    let second = Foreground::spawn(&two, &clock);
    for home in [&one, &two] {
        wait_for("the daemon to answer", || {
            let status = home.status();
            if status["running"] == true { Ok(()) } else { Err(status.to_string()) }
        });
    }
    one.set_clock("2027-01-10T10:00:00+01:00@60x");
    one.pyra.run(["daemon", "reload"]).success();
    two.pyra.run(["daemon", "reload"]).success();
    one.settled_history("tick", 5);
    // Stop the slots (back an hour) and let the runs end.
    one.set_clock("2027-01-10T09:00:00+01:00");
    one.pyra.run(["daemon", "reload"]).success();
    two.pyra.run(["daemon", "reload"]).success();
    let rows = one.settled_history("tick", 5);
    drop((first, second));

    assert!(!two.path().join("pyra.db-wal").exists(), "SQLite followed the symlink for its WAL too");
    let runs = one.runs("tick");
    assert!(rows.iter().all(|r| r.run.is_some()), "{rows:#?}");
    assert_eq!(runs.len(), rows.len(), "one run per slot: {rows:#?}\n{runs:#?}");
    let mut scheduled: Vec<&str> = runs.iter().map(|r| r["scheduled_for"].as_str().unwrap()).collect();
    scheduled.sort_unstable();
    scheduled.dedup();
    assert_eq!(scheduled.len(), runs.len(), "no slot has two runs: {runs:#?}");
    assert_eq!(one.lines("ticks").len(), runs.len());
    let lost = one.log().matches("was claimed by another daemon").count()
        + two.log().matches("was claimed by another daemon").count();
    assert!(lost >= 1, "both daemons tried the slots:\n{}\n{}", one.log(), two.log());
}
