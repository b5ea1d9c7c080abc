//! Both DST nights, played through a running daemon at 3600x in Europe/Berlin and
//! America/New_York: a job at a fixed hour runs once on each night (at the gap's end when
//! spring-forward skips its time, once when fall-back repeats it); an hourly job follows
//! real time (no extra run for the skipped hour, a run in each pass of the repeated one).
//!
//! The jobs use `catch_up: all` and `overlap: allow` so that a slot the cron task noticed
//! a little late still runs: these tests are about which slots exist, not how punctual
//! they were.

use super::{Home, Row, instant, utc, wait_for};

/// Plays a night: `jobs` are (skill, cron) in `zone`; the daemon runs from `from` until
/// its clock has passed `until`; returns each job's slots (UTC) once every run ended.
fn play(zone: &str, from: &str, until: &str, jobs: &[(&str, &str)]) -> Vec<Vec<String>> {
    let home = Home::new();
    for (name, cron) in jobs {
        let skill = super::cron_skill(name, cron, zone, &["catch_up: all", "overlap: allow"], &home.out(name));
        home.install(name, &skill);
    }
    let daemon = home.start_at(from);
    daemon.play(&format!("{from}@3600x"));
    let end = instant(until);
    // Every trigger's next slot is past the end: all slots before it are decided.
    wait_for(&format!("every trigger's next slot to pass {until}"), || {
        let status = daemon.status();
        let triggers = status["triggers"].as_array().cloned().unwrap_or_default();
        let done = triggers.len() == jobs.len()
            && triggers.iter().all(|t| t["next"].as_str().is_some_and(|next| instant(next) > end));
        if done { Ok(()) } else { Err(format!("{triggers:#?}")) }
    });
    daemon.wait_idle();
    let slots: Vec<Vec<String>> = jobs
        .iter()
        .map(|(name, _)| {
            let rows = home.history(name);
            assert!(rows.iter().all(Row::settled), "{rows:#?}");
            for row in &rows {
                assert!(matches!(row.outcome.as_str(), "ran" | "caught-up"), "every slot runs: {row:?}");
                assert_eq!(row.run_status.as_deref(), Some("succeeded"), "{row:?}");
                assert!(row.decided_in_time(), "decided after its slot, on the daemon's clock: {row:?}");
            }
            let runs = home.runs(name);
            let scheduled: Vec<&str> = runs.iter().map(|r| r["scheduled_for"].as_str().unwrap()).collect();
            let slots: Vec<String> = rows.iter().map(|r| r.slot.clone()).collect();
            assert_eq!(scheduled, slots, "one run per slot");
            assert_eq!(home.lines(name).len(), slots.len());
            slots
        })
        .collect();
    daemon.stop();
    slots
}

fn utcs(times: &[&str]) -> Vec<String> {
    times.iter().map(|t| utc(t)).collect()
}

#[test]
fn berlin_spring_forward_runs_a_skipped_fixed_hour_once_at_the_gaps_end_and_hourly_jobs_get_no_extra_run() {
    // 2027-03-28: 02:00 CET becomes 03:00 CEST.
    let slots = play(
        "Europe/Berlin",
        "2027-03-28T01:00:00+01:00",
        "2027-03-28T04:45:00+02:00",
        &[("fixed", "30 2 * * *"), ("hourly", "30 * * * *")],
    );
    assert_eq!(slots[0], utcs(&["2027-03-28T03:00:00+02:00"]));
    assert_eq!(
        slots[1],
        utcs(&["2027-03-28T01:30:00+01:00", "2027-03-28T03:30:00+02:00", "2027-03-28T04:30:00+02:00"])
    );
}

#[test]
fn berlin_fall_back_runs_a_fixed_hour_once_and_hourly_jobs_in_both_passes() {
    // 2027-10-31: 03:00 CEST becomes 02:00 CET.
    let slots = play(
        "Europe/Berlin",
        "2027-10-31T01:00:00+02:00",
        "2027-10-31T03:45:00+01:00",
        &[("fixed", "30 2 * * *"), ("hourly", "30 * * * *")],
    );
    assert_eq!(slots[0], utcs(&["2027-10-31T02:30:00+02:00"]));
    assert_eq!(
        slots[1],
        utcs(&[
            "2027-10-31T01:30:00+02:00",
            "2027-10-31T02:30:00+02:00",
            "2027-10-31T02:30:00+01:00",
            "2027-10-31T03:30:00+01:00"
        ])
    );
}

#[test]
fn new_york_spring_forward_and_fall_back_follow_the_same_rules() {
    // 2027-03-14: 02:00 EST becomes 03:00 EDT.
    let spring = play(
        "America/New_York",
        "2027-03-14T01:00:00-05:00",
        "2027-03-14T04:45:00-04:00",
        &[("fixed", "30 2 * * *"), ("hourly", "30 * * * *")],
    );
    assert_eq!(spring[0], utcs(&["2027-03-14T03:00:00-04:00"]));
    assert_eq!(
        spring[1],
        utcs(&["2027-03-14T01:30:00-05:00", "2027-03-14T03:30:00-04:00", "2027-03-14T04:30:00-04:00"])
    );
    // 2027-11-07: 02:00 EDT becomes 01:00 EST; 01:30 comes twice.
    let fall = play(
        "America/New_York",
        "2027-11-07T00:00:00-04:00",
        "2027-11-07T02:45:00-05:00",
        &[("fixed", "30 1 * * *"), ("hourly", "30 * * * *")],
    );
    assert_eq!(fall[0], utcs(&["2027-11-07T01:30:00-04:00"]));
    assert_eq!(
        fall[1],
        utcs(&[
            "2027-11-07T00:30:00-04:00",
            "2027-11-07T01:30:00-04:00",
            "2027-11-07T01:30:00-05:00",
            "2027-11-07T02:30:00-05:00"
        ])
    );
}
