//! The overlap policies, with runs (1.5 s) longer than the interval between slots (one
//! minute at 60x, one second): `skip` records the slots that come during a run as
//! skipped, `queue` runs every slot one after another, `allow` runs them side by side.
//! Each run appends `start` and `end` to its skill's file, so whether runs overlapped is
//! read from the order of the lines.

use super::{Home, briefs, one_at_a_time, overlapped, timed_skill};

#[test]
fn overlap_skip_queue_and_allow_with_runs_longer_than_the_interval() {
    let home = Home::new();
    std::fs::write(home.path().join("config.yaml"), "daemon:\n  max_runs: 16\n").unwrap();
    for policy in ["skip", "queue", "allow"] {
        home.install(
            policy,
            &timed_skill(policy, &[&format!("overlap: {policy}"), "catch_up: all"], &home.out(policy)),
        );
    }
    let daemon = home.start_at("2027-01-10T10:00:00+01:00");
    daemon.play("2027-01-10T10:00:00+01:00@60x");
    for policy in ["skip", "queue", "allow"] {
        super::wait_for(&format!("five slots of {policy}"), || {
            let rows = home.history(policy);
            if rows.len() >= 5 { Ok(()) } else { Err(format!("{rows:#?}")) }
        });
    }
    // Back an hour: no slot comes for a while; the runs started or queued end.
    daemon.play("2027-01-10T09:00:00+01:00");
    daemon.wait_idle();
    let skip = home.settled_history("skip", 5);
    let queue = home.settled_history("queue", 5);
    let allow = home.settled_history("allow", 5);
    daemon.stop();

    // skip: some slots came during a run and were skipped; runs never overlapped.
    assert!(skip.iter().any(|r| r.brief().ends_with("skipped overlap")), "{:#?}", briefs(&skip));
    assert!(skip.iter().all(|r| r.outcome == "ran" || r.brief().ends_with("skipped overlap")), "{:#?}", briefs(&skip));
    let ran = skip.iter().filter(|r| r.run.is_some()).count();
    assert_eq!(home.runs("skip").len(), ran);
    assert!(one_at_a_time(&home.lines("skip")), "{:?}", home.lines("skip"));
    assert_eq!(home.lines("skip").len(), 2 * ran);

    // queue: every slot ran, one after another, in order.
    assert!(queue.iter().all(|r| r.outcome == "ran" && r.run_status.as_deref() == Some("succeeded")), "{queue:#?}");
    let runs = home.runs("queue");
    assert_eq!(runs.len(), queue.len());
    let scheduled: Vec<&str> = runs.iter().map(|r| r["scheduled_for"].as_str().unwrap()).collect();
    let slots: Vec<&str> = queue.iter().map(|r| r.slot.as_str()).collect();
    assert_eq!(scheduled, slots, "started in slot order");
    let lines = home.lines("queue");
    assert!(one_at_a_time(&lines) && lines.len() == 2 * queue.len(), "{lines:?}");

    // allow: every slot ran, and runs overlapped.
    assert!(allow.iter().all(|r| r.outcome == "ran" && r.run_status.as_deref() == Some("succeeded")), "{allow:#?}");
    assert_eq!(home.runs("allow").len(), allow.len());
    let lines = home.lines("allow");
    assert_eq!(lines.len(), 2 * allow.len());
    assert!(overlapped(&lines), "runs overlapped: {lines:?}");
}
