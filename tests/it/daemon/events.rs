//! `pyra emit`: invalid JSON is refused with exit 2 and nothing stored; an event emitted
//! while the daemon is down is stored (stderr says so) and delivered once at the next
//! start; the same `--id` twice starts the runs once, whether the daemon was up or down;
//! the trigger's `with:` turns `event.data` into the run's inputs; an event emitted while
//! the daemon holds its lock but does not answer yet waits for it instead of failing.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use super::{Foreground, Home, wait_for};

/// A skill started by event `ping`, whose input `n` is `event.data.n`; each run appends
/// a line to the file `pings`.
fn install_pinged(home: &Home) {
    home.install(
        "pinged",
        &format!(
            r#"name: pinged
inputs:
  n: {{ type: integer }}
triggers:
  - event: ping
    with: {{ n: "{{{{ event.data.n }}}}" }}
nodes:
  mark:
    uses: exec
    with: {{ argv: [sh, -c, 'echo ping >> "$0"', "{}"] }}
"#,
            home.out("pings").display()
        ),
    );
}

#[test]
fn an_event_is_delivered_once_per_id_whether_the_daemon_was_up_or_down() {
    let home = Home::new();
    install_pinged(&home);

    // Daemon down. Invalid JSON: a usage error, and nothing is stored (not even pyra.db).
    home.pyra
        .run(["emit", "ping", "--data", "{\"n\": 1", "--id", "bad"])
        .code(2)
        .stderr_has("not JSON")
        .stderr_has("nothing was emitted");
    assert!(!home.path().join("pyra.db").exists(), "nothing stored");

    let stored = home.pyra.run(["emit", "ping", "--data", "{\"n\": 1}", "--id", "down-1"]);
    stored.success().stderr_has("the daemon is not running").stderr_has("delivered when it starts");
    home.pyra
        .run(["emit", "ping", "--data", "{\"n\": 1}", "--id", "down-1"])
        .success()
        .stderr_has("stored before; nothing new is stored");

    let daemon = home.start_at("2027-01-10T10:00:00+01:00");
    let runs = wait_for("the stored event's run", || {
        let runs = home.runs("pinged");
        if runs.len() == 1 && runs[0]["status"] == "succeeded" { Ok(runs) } else { Err(format!("{runs:#?}")) }
    });
    assert_eq!(runs[0]["trigger"], "event");
    assert_eq!(runs[0]["inputs"]["n"], 1, "event.data.n became the input");

    // Daemon up: the run id is printed; the same id again starts nothing.
    let first = home.pyra.run(["emit", "ping", "--data", "{\"n\": 2}", "--id", "up-1"]);
    first.success().stderr_has("started 1 run(s)");
    let run = first.stdout.trim().to_string();
    home.pyra.run(["emit", "ping", "--data", "{\"n\": 2}", "--id", "up-1"]).success().stderr_has("delivered before");
    home.pyra.run(["emit", "ping", "--data", "{\"n\": 1}", "--id", "down-1"]).success().stderr_has("delivered before");
    let runs = wait_for("the second event's run", || {
        let runs = home.runs("pinged");
        if runs.iter().all(|r| r["status"] == "succeeded") && runs.len() >= 2 {
            Ok(runs)
        } else {
            Err(format!("{runs:#?}"))
        }
    });
    daemon.wait_idle();
    daemon.stop();
    let runs_after = home.runs("pinged");
    assert_eq!(runs_after.len(), 2, "one run per id: {runs_after:#?}");
    assert_eq!(runs[1]["id"], run.as_str());
    assert_eq!(runs[1]["inputs"]["n"], 2);
    assert_eq!(home.lines("pings"), ["ping", "ping"]);
}

#[test]
fn an_event_emitted_while_the_daemon_starts_waits_for_it_and_is_delivered_once() {
    let home = Home::new();
    install_pinged(&home);
    home.pyra.run(["runs", "list"]).success();
    // Another process holds pyra.db: the daemon takes its lock, then waits for the
    // database before it listens on its socket.
    let db = rusqlite::Connection::open(home.path().join("pyra.db")).unwrap();
    db.pragma_update(None, "journal_mode", "DELETE").unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let daemon = Foreground::spawn(&home, "2027-01-10T10:00:00+01:00");
    wait_for("a daemon that holds its lock but does not answer yet", || {
        let status = home.status();
        if status["running"].is_null() { Ok(()) } else { Err(status.to_string()) }
    });
    let mut emit = home
        .pyra
        .command(["emit", "ping", "--data", "{\"n\": 3}", "--id", "early"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(emit.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("does not answer yet"), "emit waits for a starting daemon: {first}");
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = emit.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{first}{rest}{stdout}");
    assert!(rest.contains("started 1 run(s)"), "{first}{rest}");
    let runs = wait_for("the event's run", || {
        let runs = home.runs("pinged");
        if runs.len() == 1 && runs[0]["status"] == "succeeded" { Ok(runs) } else { Err(format!("{runs:#?}")) }
    });
    assert_eq!(runs[0]["id"], stdout.trim());
    drop(daemon);
    assert_eq!(home.lines("pings"), ["ping"]);
}
