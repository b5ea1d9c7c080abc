//! The run store through the CLI: durable approvals answered later, `runs retry --from`,
//! a `kill -9` in the middle of a run, cancellation by Ctrl-C and from another terminal,
//! and `runs list` filters. Side effects are asserted on files, not on the store.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{Output, Pyra, node};

fn approval_skill(pyra: &Pyra, log: &std::path::Path, timeout: &str, on_timeout: &str) -> String {
    pyra.skill(
        "gated",
        &format!(
            r#"
name: gated
nodes:
  prepare:
    uses: exec
    with: {{ argv: [sh, -c, 'echo prepare >> "$0"', "{log}"] }}
  confirm:
    uses: approval
    needs: prepare
    with: {{ message: "Send it?", details: "the text", timeout: {timeout}, on_timeout: {on_timeout} }}
  send:
    uses: exec
    if: nodes.confirm.output.approved
    with: {{ argv: [sh, -c, 'echo send >> "$0"', "{log}"] }}
  tell:
    uses: template
    if: nodes.confirm.status == "rejected"
    with: {{ value: "rejected: {{{{ nodes.confirm.output.reason }}}}" }}
outputs:
  approved: "{{{{ nodes.confirm.output.approved }}}}"
"#,
            log = log.display()
        ),
    )
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn an_approval_waits_durably_and_pyra_approve_continues_the_run() {
    let pyra = Pyra::new();
    let log = pyra.work().join("log");
    let skill = approval_skill(&pyra, &log, "1h", "reject");
    pyra.run(["run", &skill]).code(3).stderr_has("is waiting for approval").stderr_has("pyra approve");
    let id = pyra.last_run();
    assert_eq!(pyra.show(&id)["status"], "waiting");
    pyra.run(["runs", "list", "--status", "waiting"]).success().stdout_has(&id);
    pyra.run(["runs", "show", &id]).success().stdout_has("waiting for approval:").stdout_has("confirm: Send it?");

    let out = pyra.run(["approve", &id[..6]]);
    out.success().stderr_has("approved `confirm`");
    assert_eq!(lines(&log), ["prepare", "send"], "prepare ran once, send ran after the approval");
    let run = pyra.show(&id);
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["outputs"]["approved"], true);
    assert_eq!(node(&run, "tell")["status"], "skipped");
    // An answer counts once.
    pyra.run(["approve", &id]).code(2);
}

#[test]
fn a_rejection_is_recorded_and_dependents_see_it() {
    let pyra = Pyra::new();
    let log = pyra.work().join("log");
    let skill = approval_skill(&pyra, &log, "1h", "reject");
    pyra.run(["run", &skill]).code(3);
    let id = pyra.last_run();
    pyra.run(["reject", &id, "confirm", "--reason", "not today"]).code(1).stderr_has("rejected");
    assert_eq!(lines(&log), ["prepare"], "send never ran");
    let run = pyra.show(&id);
    assert_eq!(run["status"], "rejected");
    assert_eq!(node(&run, "confirm")["status"], "rejected");
    assert_eq!(node(&run, "send")["status"], "skipped");
    assert_eq!(node(&run, "tell")["output"], "rejected: not today");
}

#[test]
fn an_unanswered_approval_takes_its_on_timeout_outcome() {
    let pyra = Pyra::new();
    let log = pyra.work().join("log");
    let skill = approval_skill(&pyra, &log, "300ms", "approve");
    pyra.run(["run", &skill]).code(3);
    let id = pyra.last_run();
    std::thread::sleep(Duration::from_millis(500));
    // Too late to answer by hand: the deadline's outcome applies when the run resumes.
    pyra.run(["reject", &id]).success().stderr_has("expired");
    assert_eq!(lines(&log), ["prepare", "send"]);
    let run = pyra.show(&id);
    assert_eq!(run["approvals"][0]["answered_by"], "timeout");
    assert_eq!(run["status"], "succeeded");

    let pyra = Pyra::new();
    let skill = approval_skill(&pyra, &log, "300ms", "reject");
    pyra.run(["run", &skill]).code(3);
    let id = pyra.last_run();
    std::thread::sleep(Duration::from_millis(500));
    pyra.run(["runs", "retry", &id]).code(1);
    assert_eq!(pyra.show(&id)["status"], "rejected");
}

#[test]
fn retry_from_a_node_reuses_what_completed_and_never_reruns_it() {
    let pyra = Pyra::new();
    let log = pyra.work().join("log");
    let gate = pyra.work().join("gate");
    let skill = pyra.skill(
        "steps",
        &format!(
            r#"
name: steps
nodes:
  one:
    uses: exec
    with: {{ argv: [sh, -c, 'echo one >> "$0"; echo 1', "{log}"] }}
  two:
    uses: exec
    with: {{ argv: [sh, -c, 'echo two >> "$0"; test -f "$1"', "{log}", "{gate}"] }}
    needs: one
  three:
    uses: template
    with: {{ value: "{{{{ nodes.one.output.stdout | trim }}}}-three" }}
    needs: two
outputs:
  three: "{{{{ nodes.three.output }}}}"
"#,
            log = log.display(),
            gate = gate.display()
        ),
    );
    pyra.run(["run", &skill]).code(1);
    let id = pyra.last_run();
    assert_eq!(lines(&log), ["one", "two"]);
    std::fs::write(&gate, "").unwrap();
    pyra.run(["runs", "retry", &id, "--json"]).success().stdout_has("\"three\": \"1-three\"");
    assert_eq!(lines(&log), ["one", "two", "two"], "`one` was reused, not re-run");
    // --from reruns that node and what follows, still not what came before.
    pyra.run(["runs", "retry", &id, "--from", "two"]).success();
    assert_eq!(lines(&log), ["one", "two", "two", "two"]);
    pyra.run(["runs", "retry", &id]).code(2).stderr_has("already succeeded");
    pyra.run(["runs", "retry", &id, "--from", "tow"]).code(2).stderr_has("did you mean `two`");
    assert_eq!(pyra.show(&id)["resumes"], 2);
}

fn wait_for(path: &std::path::Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie counts as gone for our purpose.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

fn long_skill(pyra: &Pyra) -> (String, std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let log = pyra.work().join("log");
    let pidfile = pyra.work().join("pid");
    let go = pyra.work().join("go");
    let skill = pyra.skill(
        "long",
        &format!(
            r#"
name: long
nodes:
  first:
    uses: exec
    with: {{ argv: [sh, -c, 'echo first >> "$0"', "{log}"] }}
  slow:
    uses: exec
    needs: first
    with: {{ argv: [sh, -c, 'if [ -f "$1" ]; then echo slow >> "$0"; else echo $$ > "$2"; exec sleep 30; fi', "{log}", "{go}", "{pid}"] }}
"#,
            log = log.display(),
            go = go.display(),
            pid = pidfile.display()
        ),
    );
    (skill, log, pidfile, go)
}

#[test]
fn a_run_killed_with_sigkill_is_interrupted_and_retry_does_not_rerun_completed_nodes() {
    let pyra = Pyra::new();
    let (skill, log, pidfile, go) = long_skill(&pyra);
    let mut child = pyra.command(["run", &skill]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for(&pidfile);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let sleeper: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let _ = std::process::Command::new("kill").arg(sleeper.to_string()).status();

    let list = pyra.run(["runs", "list", "--json"]);
    list.success().stderr_has("was interrupted");
    let id = list.json()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list.json()[0]["status"], "interrupted");
    std::fs::write(&go, "").unwrap();
    pyra.run(["runs", "retry", &id]).success();
    assert_eq!(lines(&log), ["first", "slow"], "`first` ran once in all");
}

#[test]
fn ctrl_c_cancels_the_run_and_stops_its_child_process() {
    let pyra = Pyra::new();
    let (skill, _log, pidfile, _go) = long_skill(&pyra);
    let child = pyra.command(["run", &skill]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(&pidfile);
    let sleeper: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(alive(sleeper));
    let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = Output::from(child.wait_with_output().unwrap());
    out.code(130).stderr_has("cancelling");
    assert!(!alive(sleeper), "the child process was stopped");
    let run = pyra.show(&pyra.last_run());
    assert_eq!(run["status"], "cancelled");
    assert_eq!(node(&run, "slow")["status"], "cancelled");
}

#[test]
fn pyra_runs_cancel_stops_a_run_from_another_terminal() {
    let pyra = Pyra::new();
    let (skill, _log, pidfile, _go) = long_skill(&pyra);
    let child = pyra.command(["run", &skill]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(&pidfile);
    let sleeper: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let id = pyra.last_run();
    pyra.run(["runs", "cancel", &id]).success().stderr_has("cancelled");
    let out = Output::from(child.wait_with_output().unwrap());
    out.code(130);
    assert!(!alive(sleeper));
    pyra.run(["runs", "cancel", &id]).code(2).stderr_has("already ended");
}

#[test]
fn runs_list_is_newest_first_and_filters() {
    let pyra = Pyra::new();
    pyra.run(["run", "examples/hello.yaml"]).success();
    pyra.run(["run", "examples/hello.yaml", "-i", "who=Ada"]).success();
    let bad = pyra.skill("bad", "name: bad\nnodes:\n  x:\n    uses: exec\n    with: { argv: [\"false\"] }\n");
    pyra.run(["run", &bad]).code(1);
    let all = pyra.run(["runs", "list", "--json"]).json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["skill"], "bad");
    assert!(all.iter().all(|r| r["id"].is_string()));
    assert_eq!(all[1]["inputs"]["who"], "Ada");
    let hello = pyra.run(["runs", "list", "--json", "--skill", "hello"]).json();
    assert_eq!(hello.as_array().unwrap().len(), 2);
    let failed = pyra.run(["runs", "list", "--json", "--status", "failed"]).json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(pyra.run(["runs", "list", "--json", "--since", "1h"]).json().as_array().unwrap().len(), 3);
    assert!(pyra.run(["runs", "list", "--json", "--since", "2999-01-01"]).json().as_array().unwrap().is_empty());
    pyra.run(["runs", "list", "--status", "done"]).code(2).stderr_has("use one of");
    pyra.run(["runs", "list"]).success().stdout_has("hello").stdout_has("succeeded");
    let id = all[0]["id"].as_str().unwrap();
    pyra.run(["runs", "show", id]).success().stdout_has("NODE").stdout_has("x ").stdout_has("failed");
    pyra.run(["runs", "show", "zzzz"]).code(2).stderr_has("no run `zzzz`");
    // Files under the home are private.
    use std::os::unix::fs::PermissionsExt;
    for file in ["pyra.db", "pyra.db-wal", "pyra.db-shm"] {
        let mode = std::fs::metadata(pyra.home_path().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let mode = std::fs::metadata(pyra.home_path().join("runs")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the run-lock folder");
}

/// Runs `pyra ARGS` on a pseudo-terminal (util-linux `script`), typing `input` once the
/// approval prompt is on screen; returns the exit code and everything the terminal showed.
fn on_terminal(pyra: &Pyra, args: &[&str], input: &[&str]) -> (i32, String) {
    use std::io::{Read, Write};
    let command = std::iter::once(env!("CARGO_BIN_EXE_pyra").to_string())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("PYRA_HOME", pyra.home_path())
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stdout.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    for line in input {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = child.wait().unwrap();
    drop(stdin);
    (status.code().unwrap_or(-1), reader.join().unwrap())
}

#[test]
fn on_a_terminal_the_approval_is_asked_with_details_and_answered_there() {
    let pyra = Pyra::new();
    let log = pyra.work().join("log");
    let skill = approval_skill(&pyra, &log, "1h", "reject");
    let (code, screen) = on_terminal(&pyra, &["run", &skill], &["d", "a"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("approval needed"), "{screen}");
    assert!(screen.contains("Send it?"), "{screen}");
    assert!(screen.contains("the text"), "details were shown: {screen}");
    assert_eq!(lines(&log), ["prepare", "send"]);
    let run = pyra.show(&pyra.last_run());
    assert_eq!(run["approvals"][0]["answered_by"], "terminal");

    let pyra = Pyra::new();
    let skill = approval_skill(&pyra, &log, "1h", "reject");
    let (code, screen) = on_terminal(&pyra, &["run", &skill], &["r: not now"]);
    assert_eq!(code, 1, "{screen}");
    let run = pyra.show(&pyra.last_run());
    assert_eq!(node(&run, "tell")["output"], "rejected: not now");
}

#[test]
fn on_a_terminal_an_unanswered_approval_times_out() {
    let pyra = Pyra::new();
    let log = pyra.work().join("log");
    let skill = approval_skill(&pyra, &log, "500ms", "reject");
    let (code, screen) = on_terminal(&pyra, &["run", &skill], &[]);
    assert_eq!(code, 1, "{screen}");
    let run = pyra.show(&pyra.last_run());
    assert_eq!(run["status"], "rejected");
    assert_eq!(run["approvals"][0]["answered_by"], "timeout");
    assert_eq!(lines(&log), ["prepare"]);
}

#[test]
fn a_second_ctrl_c_exits_at_once_even_when_a_child_ignores_sigterm() {
    let pyra = Pyra::new();
    let pidfile = pyra.work().join("pid");
    let skill = pyra.skill(
        "stubborn",
        &format!(
            "name: stubborn\nnodes:\n  hold:\n    uses: exec\n    with: {{ argv: [sh, -c, 'trap \"\" TERM; echo $$ > \"$0\"; while true; do sleep 0.1; done', \"{}\"] }}\n",
            pidfile.display()
        ),
    );
    let child = pyra.command(["run", &skill]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(&pidfile);
    let shell: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill").args(["-INT", &pid]).status();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(shell), "the child ignores SIGTERM and is still in its grace period");
    let _ = std::process::Command::new("kill").args(["-INT", &pid]).status();
    let out = Output::from(child.wait_with_output().unwrap());
    out.code(130).stderr_has("stopped.");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(shell), "the child's process group was killed");
    let run = pyra.show(&pyra.last_run());
    assert_eq!(run["status"], "cancelled");
    assert_eq!(node(&run, "hold")["status"], "cancelled");
    // Recorded by the second Ctrl-C, not by the node stopping after its grace period.
    assert_eq!(node(&run, "hold")["error"], "cancelled (forced)");
}

#[test]
fn an_answered_approval_is_not_asked_again_when_the_run_is_retried() {
    let pyra = Pyra::new();
    let log = pyra.work().join("log");
    let gate = pyra.work().join("gate");
    let skill = pyra.skill(
        "again",
        &format!(
            r#"
name: again
nodes:
  confirm:
    uses: approval
    with: {{ message: "Go?" }}
  act:
    uses: exec
    needs: confirm
    with: {{ argv: [sh, -c, 'echo act >> "$0"; test -f "$1"', "{log}", "{gate}"] }}
"#,
            log = log.display(),
            gate = gate.display()
        ),
    );
    pyra.run(["run", &skill]).code(3);
    let id = pyra.last_run();
    pyra.run(["approve", &id]).code(1);
    std::fs::write(&gate, "").unwrap();
    // Not interactive: were the approval asked again, the run would wait (exit 3).
    pyra.run(["runs", "retry", &id]).success();
    assert_eq!(lines(&log), ["act", "act"]);
    let run = pyra.show(&id);
    assert_eq!(run["approvals"].as_array().unwrap().len(), 1);
    let out = pyra.run(["runs", "show", &id, "--outputs"]);
    out.success().stdout_has("output: {\"approved\":true").stdout_has("with:   {\"argv\":");
}
