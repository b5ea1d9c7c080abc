//! Server processes: started once per run, started again after a kill -9 between
//! calls, never re-called after dying during a call to a tool that is not read-only, no
//! process left after a run or a Ctrl-C, and startup failures and timeouts explained.

use std::time::{Duration, Instant};

use super::{add_fixture, alive, manifest_append, read_pid};
use crate::harness::{Output, Pyra};

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn five_calls_start_the_server_once_and_no_process_outlives_the_run() {
    let pyra = Pyra::new();
    let w = pyra.work();
    let (starts, pidfile, grandchild) = (w.join("starts"), w.join("pid"), w.join("grandchild"));
    add_fixture(
        &pyra,
        "fx",
        &[
            "--count-starts",
            &starts.to_string_lossy(),
            "--pidfile",
            &pidfile.to_string_lossy(),
            "--grandchild",
            &grandchild.to_string_lossy(),
        ],
    )
    .success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    std::fs::remove_file(&starts).unwrap();
    let mut yaml = String::from("name: five\nnodes:\n");
    for i in 0..5 {
        yaml.push_str(&format!("  n{i}:\n    uses: fx.echo\n    with: {{ text: call {i} }}\n"));
    }
    let skill = pyra.skill("five", &yaml);
    pyra.run(["run", &skill]).success();
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 1, "one start for five calls");
    let (server, child) = (read_pid(&pidfile), read_pid(&grandchild));
    assert!(!alive(server) && !alive(child), "the server and its own child are gone after the run");
}

#[test]
fn a_server_killed_between_calls_is_started_again() {
    let pyra = Pyra::new();
    let w = pyra.work();
    let (starts, pidfile) = (w.join("starts"), w.join("pid"));
    add_fixture(&pyra, "fx", &["--count-starts", &starts.to_string_lossy(), "--pidfile", &pidfile.to_string_lossy()])
        .success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    std::fs::remove_file(&starts).unwrap();
    let marker = w.join("killed");
    // Between the two calls the run waits for a file the test writes once it has killed
    // the server (`exec` polls for it).
    let skill = pyra.skill(
        "twice",
        &format!(
            "name: twice\nnodes:\n  a:\n    uses: fx.echo\n    with: {{ text: one }}\n  pause:\n    uses: exec\n    needs: a\n    with:\n      argv: [sh, -c, 'while [ ! -e {} ]; do sleep 0.05; done']\n  b:\n    uses: fx.echo\n    needs: pause\n    with: {{ text: two }}\n",
            marker.display()
        ),
    );
    let child = pyra
        .command(["run", &skill])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first call", || {
        std::fs::read_to_string(&starts).is_ok_and(|s| s.lines().count() == 1) && pidfile.exists()
    });
    // Let the first call finish before killing.
    std::thread::sleep(Duration::from_millis(300));
    let pid = read_pid(&pidfile);
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), rustix::process::Signal::KILL).unwrap();
    std::fs::write(&marker, "").unwrap();
    let out = Output::from(child.wait_with_output().unwrap());
    out.success();
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 2, "started again for the second call");
}

#[test]
fn a_server_killed_during_a_destructive_call_is_never_called_again() {
    let pyra = Pyra::new();
    let w = pyra.work();
    let (journal, pidfile) = (w.join("journal"), w.join("pid"));
    add_fixture(&pyra, "fx", &["--journal", &journal.to_string_lossy(), "--pidfile", &pidfile.to_string_lossy()])
        .success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    let skill = pyra.skill("write", "name: write\nnodes:\n  w:\n    uses: fx.write\n    retry: { attempts: 3, backoff: 100ms }\n    with: { text: pay the invoice, delay: 30 }\n");
    let child = pyra
        .command(["run", &skill])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the write to start", || std::fs::read_to_string(&journal).is_ok_and(|s| !s.is_empty()));
    let pid = read_pid(&pidfile);
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), rustix::process::Signal::KILL).unwrap();
    let out = Output::from(child.wait_with_output().unwrap());
    out.code(1).stderr_has("not made again automatically");
    assert_eq!(std::fs::read_to_string(&journal).unwrap().lines().count(), 1, "the destructive call ran exactly once");
}

#[test]
fn ctrl_c_leaves_no_server_process() {
    let pyra = Pyra::new();
    let w = pyra.work();
    let (pidfile, grandchild) = (w.join("pid"), w.join("grandchild"));
    add_fixture(&pyra, "fx", &["--pidfile", &pidfile.to_string_lossy(), "--grandchild", &grandchild.to_string_lossy()])
        .success();
    manifest_append(&pyra, "fx", "policy:\n  default: allow\n");
    std::fs::remove_file(&pidfile).unwrap();
    let skill = pyra.skill("slow", "name: slow\nnodes:\n  s:\n    uses: fx.slow\n    with: { seconds: 60 }\n");
    let child = pyra
        .command(["run", &skill])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the server", || pidfile.exists() && grandchild.exists());
    std::thread::sleep(Duration::from_millis(300));
    let pyra_pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pyra_pid, rustix::process::Signal::INT).unwrap();
    let out = Output::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, 130, "{out:?}");
    let (server, gc) = (read_pid(&pidfile), read_pid(&grandchild));
    wait_for("the server group to be gone", || !alive(server) && !alive(gc));
}

#[test]
fn startup_failures_and_timeouts_are_explained() {
    let pyra = Pyra::new();
    let missing = pyra.run(["plugin", "add", "nope", "--yes", "--", "no-such-mcp-server-xyz"]);
    missing.code(1).stderr_has("command `no-such-mcp-server-xyz` not found on the PATH it is started with (");

    let exits = add_fixture(&pyra, "exits", &["--exit-at-start", "7"]);
    exits.code(1).stderr_has("exited with code 7").stderr_has("missing FIXTURE_TOKEN");

    let late = pyra.run([
        "plugin",
        "add",
        "late",
        "--no-start",
        "--",
        "python3",
        &super::fixture_py(),
        "--startup-delay",
        "30",
    ]);
    late.success();
    manifest_append(&pyra, "late", "timeouts:\n  startup: 1s\n");
    pyra.run(["plugin", "review", "late", "--yes"]).code(1).stderr_has("`timeouts.startup`");

    let journal = pyra.work().join("journal");
    add_fixture(&pyra, "fx", &["--journal", &journal.to_string_lossy()]).success();
    manifest_append(&pyra, "fx", "timeouts:\n  call: 1s\n  max_call: 3s\npolicy:\n  default: allow\n");
    // `write` sends no progress: the call's own timeout fires.
    let silent =
        pyra.skill("silent", "name: silent\nnodes:\n  s:\n    uses: fx.write\n    with: { text: x, delay: 5 }\n");
    pyra.run(["run", &silent]).code(1).stderr_has("no answer within 1s (`timeouts.call`");
    // Progress notifications extend a call (up to `max_call`).
    let chatty = pyra.skill("chatty", "name: chatty\nnodes:\n  s:\n    uses: fx.slow\n    with: { seconds: 2 }\n");
    pyra.run(["run", &chatty]).success();
    let endless = pyra.skill("endless", "name: endless\nnodes:\n  s:\n    uses: fx.slow\n    with: { seconds: 10 }\n");
    pyra.run(["run", &endless]).code(1).stderr_has("longer than `timeouts.max_call` (3s)");
}
