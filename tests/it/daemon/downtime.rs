//! Slots missed while the daemon was down: `kill -9` before a slot and a later start
//! (`catch_up: once` runs it caught up, `skip` records it skipped), `kill -9` or a stop in
//! the middle of a slot's run (the run is resumed, never started again, and a node that
//! had finished does not run twice), `kill -9` with slots queued (started in turn after
//! the resumed run), and three days down with `once`, `all` and `skip`.

use super::{Home, briefs, cron_skill, instant, one_at_a_time, timed_skill, utc, wait_for};

#[test]
fn kill_9_before_a_slot_then_a_later_start_catches_it_up_once_or_records_it_skipped() {
    let home = Home::new();
    let zone = "Europe/Berlin";
    home.install("nine_once", &cron_skill("nine_once", "0 9 * * *", zone, &["catch_up: once"], &home.out("once")));
    home.install("nine_skip", &cron_skill("nine_skip", "0 9 * * *", zone, &["catch_up: skip"], &home.out("skip")));

    let daemon = home.start_at("2027-01-10T08:00:00+01:00");
    let triggers = daemon.status()["triggers"].clone();
    assert_eq!(triggers.as_array().unwrap().len(), 2, "{triggers:#}");
    assert!(triggers.as_array().unwrap().iter().all(|t| t["next"] == utc("2027-01-10T09:00:00+01:00")), "{triggers:#}");
    daemon.kill9();
    assert!(home.history("nine_once").is_empty(), "nothing was decided before the crash");

    // Back at 10:00: the 09:00 slot was missed.
    let daemon = home.start_at("2027-01-10T10:00:00+01:00");
    let once = home.settled_history("nine_once", 1);
    assert_eq!(briefs(&once), [format!("{} caught-up", utc("2027-01-10T09:00:00+01:00"))]);
    assert_eq!(once[0].run_status.as_deref(), Some("succeeded"));
    let skip = home.settled_history("nine_skip", 1);
    assert_eq!(briefs(&skip), [format!("{} skipped downtime", utc("2027-01-10T09:00:00+01:00"))]);
    assert_eq!(skip[0].run, None);
    daemon.stop();

    let runs = home.runs("nine_once");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["id"].as_str(), once[0].run.as_deref());
    assert_eq!(runs[0]["trigger"], "cron");
    assert_eq!(runs[0]["scheduled_for"], utc("2027-01-10T09:00:00+01:00"));
    assert!(home.runs("nine_skip").is_empty());
    assert_eq!(home.lines("once"), ["nine_once"]);
    assert!(home.lines("skip").is_empty());
}

#[test]
fn kill_9_during_a_slots_run_resumes_that_run_and_a_finished_node_does_not_run_again() {
    down_during_a_run(true);
}

#[test]
fn a_stop_during_a_slots_run_records_it_interrupted_and_the_next_start_resumes_it() {
    down_during_a_run(false);
}

/// A slot's run goes down after its first node (`kill -9`, or `pyra daemon stop`) while
/// its second waits; the next start finishes that very run.
fn down_during_a_run(kill: bool) {
    let home = Home::new();
    let out = home.out("steps");
    home.install(
        "long",
        &format!(
            r#"name: long
triggers:
  - cron: "0 9 * * *"
    timezone: Europe/Berlin
nodes:
  first:
    uses: exec
    with: {{ argv: [sh, -c, 'echo first >> "$0"', "{out}"] }}
  pause:
    uses: wait
    needs: first
    with: {{ duration: 5s }}
  last:
    uses: exec
    needs: pause
    with: {{ argv: [sh, -c, 'echo last >> "$0"', "{out}"] }}
"#,
            out = out.display()
        ),
    );
    let daemon = home.start_at("2027-01-10T08:59:00+01:00");
    daemon.play("2027-01-10T08:59:00+01:00@60x");
    wait_for("the first node's side effect", || {
        let lines = home.lines("steps");
        if lines.is_empty() { Err("no line yet".into()) } else { Ok(()) }
    });
    let rows = home.history("long");
    assert_eq!(briefs(&rows), [format!("{} ran", utc("2027-01-10T09:00:00+01:00"))]);
    let run = rows[0].run.clone().expect("the slot's run");
    if kill {
        daemon.kill9();
    } else {
        daemon.stop();
    }
    assert_eq!(home.lines("steps"), ["first"], "down while the run waited");
    assert_eq!(home.runs("long")[0]["status"], "interrupted");

    let daemon = home.start_at("2027-01-10T09:01:00+01:00");
    let rows = home.settled_history("long", 1);
    daemon.stop();
    assert_eq!(briefs(&rows), [format!("{} ran", utc("2027-01-10T09:00:00+01:00"))]);
    assert_eq!(rows[0].run.as_deref(), Some(run.as_str()), "the slot keeps its run");
    let runs = home.runs("long");
    assert_eq!(runs.len(), 1, "never a second run: {runs:#?}");
    assert_eq!(runs[0]["id"], run.as_str());
    assert_eq!(runs[0]["status"], "succeeded");
    assert!(runs[0]["resumes"].as_u64().unwrap() >= 1, "{:#}", runs[0]);
    assert_eq!(home.lines("steps"), ["first", "last"], "the finished node ran once");
}

#[test]
fn three_days_down_give_one_three_or_no_runs_with_three_rows_each() {
    let home = Home::new();
    let zone = "Europe/Berlin";
    for policy in ["once", "all", "skip"] {
        let name = format!("daily_{policy}");
        let options = [format!("catch_up: {policy}"), "catch_up_window: 4d".to_string()];
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        home.install(&name, &cron_skill(&name, "0 7 * * *", zone, &options, &home.out(&name)));
    }
    let daemon = home.start_at("2027-01-01T12:00:00+01:00");
    daemon.stop();
    let daemon = home.start_at("2027-01-04T12:00:00+01:00");
    let once = home.settled_history("daily_once", 3);
    let all = home.settled_history("daily_all", 3);
    let skip = home.settled_history("daily_skip", 3);
    daemon.stop();

    let slot = |day: u32| utc(&format!("2027-01-0{day}T07:00:00+01:00"));
    assert_eq!(
        briefs(&once),
        [
            format!("{} skipped downtime", slot(2)),
            format!("{} skipped downtime", slot(3)),
            format!("{} caught-up", slot(4))
        ]
    );
    assert_eq!(briefs(&all), [2, 3, 4].map(|d| format!("{} caught-up", slot(d))));
    assert_eq!(briefs(&skip), [2, 3, 4].map(|d| format!("{} skipped downtime", slot(d))));
    for row in once.iter().chain(&all).chain(&skip) {
        assert!(row.decided_in_time(), "decided after its slot, on the daemon's clock: {row:?}");
    }

    assert_eq!(home.runs("daily_once").len(), 1);
    assert!(home.runs("daily_skip").is_empty());
    let runs = home.runs("daily_all");
    let scheduled: Vec<&str> = runs.iter().map(|r| r["scheduled_for"].as_str().unwrap()).collect();
    assert_eq!(scheduled, [slot(2), slot(3), slot(4)], "oldest first");
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:#?}");
    for pair in runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert!(
            instant(after["created_at"].as_str().unwrap()) >= instant(before["finished_at"].as_str().unwrap()),
            "one after another: {pair:#?}"
        );
    }
    assert_eq!(home.lines("daily_once").len(), 1);
    assert_eq!(home.lines("daily_all").len(), 3);
    assert!(home.lines("daily_skip").is_empty());
}

#[test]
fn kill_9_with_slots_queued_resumes_the_run_in_flight_then_starts_the_queued_ones_in_turn() {
    let home = Home::new();
    home.install("queued", &timed_skill("queued", &["overlap: queue", "catch_up: skip"], &home.out("queued")));
    let daemon = home.start_at("2027-01-10T10:00:00+01:00");
    daemon.play("2027-01-10T10:00:00+01:00@60x");
    // Slots every second, runs of 1.5 s: soon one runs and others wait behind it.
    wait_for("two slots queued behind a run", || {
        let status = daemon.status();
        if status["queued"].as_u64().unwrap_or(0) >= 2 { Ok(()) } else { Err(status["queued"].to_string()) }
    });
    daemon.kill9();
    let claimed: Vec<String> = home.history("queued").iter().filter_map(|r| r.run.clone()).collect();
    assert!(home.runs("queued").len() < claimed.len(), "some claimed slots had not started");

    let daemon = home.start_at("2027-01-10T11:00:00+01:00");
    let rows = wait_for("every claimed slot's run to end", || {
        let rows = home.history("queued");
        let done = claimed.iter().all(|id| rows.iter().any(|r| r.run.as_ref() == Some(id) && r.settled()));
        if done { Ok(rows) } else { Err(format!("{rows:#?}")) }
    });
    daemon.wait_idle();
    daemon.stop();
    let runs = home.runs("queued");
    assert_eq!(runs.len(), claimed.len(), "one run per claimed slot: {runs:#?}");
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:#?}");
    let mut scheduled: Vec<&str> = runs.iter().map(|r| r["scheduled_for"].as_str().unwrap()).collect();
    let slots: Vec<&str> = rows.iter().filter(|r| r.run.is_some()).map(|r| r.slot.as_str()).collect();
    assert_eq!(scheduled, slots, "started in slot order");
    scheduled.dedup();
    assert_eq!(scheduled.len(), runs.len());
    let lines = home.lines("queued");
    assert!(one_at_a_time(&lines), "still one run at a time after the crash: {lines:?}");
    let mut distinct = lines.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 2 * runs.len(), "{lines:?}");
}
