//! `pyra schedule next`: fire times under both DST rules (a fixed hour runs once on both
//! nights; an hourly job follows real time) in Europe/Berlin and America/New_York, the
//! forms of `--from`, bad arguments, and that nothing is recorded.

use crate::harness::Pyra;

const SKILL: &str = r#"name: sched
triggers:
  - cron: "30 * * * *"
    timezone: Europe/Berlin
  - cron: "30 2 * * *"
    timezone: Europe/Berlin
  - event: message
  - cron: "30 * * * *"
    timezone: America/New_York
  - cron: "30 1 * * *"
    timezone: America/New_York
nodes:
  a: { uses: template, with: { value: 1 } }
"#;

/// The fire times per trigger, by the trigger's index in the skill.
fn next(pyra: &Pyra, skill: &str, from: &str, count: &str) -> std::collections::BTreeMap<u64, Vec<String>> {
    let out = pyra.run(["schedule", "next", skill, "--from", from, "--count", count, "--json"]);
    out.success();
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let times = t["next"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
            (t["trigger"].as_u64().unwrap(), times)
        })
        .collect()
}

#[test]
fn both_dst_nights_in_berlin_and_new_york() {
    let pyra = Pyra::new();
    let skill = pyra.skill("sched", SKILL);

    // Berlin falls back on 2027-10-31 (03:00 CEST → 02:00 CET).
    let fall = next(&pyra, &skill, "2027-10-31T01:00:00+02:00", "4");
    assert_eq!(fall.keys().copied().collect::<Vec<_>>(), [0, 1, 3, 4], "the event trigger is not listed");
    assert_eq!(
        fall[&0],
        [
            "2027-10-31T01:30:00+02:00",
            "2027-10-31T02:30:00+02:00",
            "2027-10-31T02:30:00+01:00",
            "2027-10-31T03:30:00+01:00"
        ],
        "hourly: both passes through the repeated hour"
    );
    assert_eq!(fall[&1][..2], ["2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00"], "fixed hour: once");

    // Berlin springs forward on 2027-03-28 (02:00 CET → 03:00 CEST).
    let spring = next(&pyra, &skill, "2027-03-28T01:00:00+01:00", "3");
    assert_eq!(
        spring[&0],
        ["2027-03-28T01:30:00+01:00", "2027-03-28T03:30:00+02:00", "2027-03-28T04:30:00+02:00"],
        "hourly: no extra run for the skipped hour"
    );
    assert_eq!(
        spring[&1][..2],
        ["2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"],
        "fixed hour: at the gap's end"
    );

    // New York falls back on 2027-11-07 (02:00 EDT → 01:00 EST), springs forward on 2027-03-14.
    let fall = next(&pyra, &skill, "2027-11-07T00:00:00-04:00", "4");
    assert_eq!(
        fall[&3],
        [
            "2027-11-07T00:30:00-04:00",
            "2027-11-07T01:30:00-04:00",
            "2027-11-07T01:30:00-05:00",
            "2027-11-07T02:30:00-05:00"
        ]
    );
    assert_eq!(fall[&4][..2], ["2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00"]);
    let spring = next(&pyra, &skill, "2027-03-14T01:00:00-05:00", "3");
    assert_eq!(spring[&3], ["2027-03-14T01:30:00-05:00", "2027-03-14T03:30:00-04:00", "2027-03-14T04:30:00-04:00"]);
}

#[test]
fn from_takes_dates_and_wall_times_in_each_zone_and_text_is_readable() {
    let pyra = Pyra::new();
    let skill = pyra.skill("sched", SKILL);
    // A date is midnight in each trigger's zone; a slot exactly at --from is shown.
    let day = next(&pyra, &skill, "2027-01-05", "1");
    assert_eq!(day[&1], ["2027-01-05T02:30:00+01:00"]);
    assert_eq!(day[&4], ["2027-01-05T01:30:00-05:00"]);
    let exact = next(&pyra, &skill, "2027-01-05T02:30", "2");
    assert_eq!(exact[&1], ["2027-01-05T02:30:00+01:00", "2027-01-06T02:30:00+01:00"]);
    // A wall time skipped by spring-forward counts from the end of the gap, where the
    // fixed-hour job's skipped slot runs.
    let gap = next(&pyra, &skill, "2027-03-28T02:30", "2");
    assert_eq!(gap[&1], ["2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"]);

    let text = pyra.run(["schedule", "next", &skill, "--from", "2027-10-31T01:00:00+02:00", "--count", "4"]);
    text.success()
        .stdout_has("sched: cron \"30 * * * *\" (Europe/Berlin)\n")
        .stdout_has("  Sun 2027-10-31 02:30 CEST\n  Sun 2027-10-31 02:30 CET\n");
}

#[test]
fn now_is_the_clock_pyra_clock_sets() {
    let pyra = Pyra::new();
    let skill = pyra.skill("sched", SKILL);
    let out = pyra
        .command(["schedule", "next", &skill, "--count", "2", "--json"])
        .env("PYRA_CLOCK", "2027-10-31T02:40:00+02:00@60x")
        .output()
        .unwrap();
    let out = crate::harness::Output::from(out);
    out.success();
    let json = out.json();
    assert_eq!(json[0]["next"], serde_json::json!(["2027-10-31T02:30:00+01:00", "2027-10-31T03:30:00+01:00"]));
    let bad = pyra.command(["schedule", "next", &skill]).env("PYRA_CLOCK", "tomorrow").output().unwrap();
    let bad = crate::harness::Output::from(bad);
    bad.code(2).stderr_has("PYRA_CLOCK=`tomorrow`: the instant is not RFC 3339").stderr_has("help:");
}

#[test]
fn bad_arguments_are_usage_errors_and_nothing_is_recorded() {
    let pyra = Pyra::new();
    let skill = pyra.skill("sched", SKILL);
    pyra.run(["schedule", "next", &skill, "--from", "yesterday"]).code(2).stderr_has("is not a time");
    pyra.run(["schedule", "next", &skill, "--count", "0"]).code(2).stderr_has("between 1 and 1000");
    pyra.run(["schedule", "next", "no-such-skill"]).code(2);
    let broken = pyra.skill(
        "broken",
        "name: broken\ntriggers:\n  - cron: \"61 * * * *\"\nnodes:\n  a: { uses: template, with: { value: 1 } }\n",
    );
    pyra.run(["schedule", "next", &broken]).code(1).stderr_has("invalid minute field");
    let none = pyra.skill("none", "name: none\nnodes:\n  a: { uses: template, with: { value: 1 } }\n");
    pyra.run(["schedule", "next", &none]).success().stderr_has("none has no cron trigger");
    pyra.run(["schedule", "next", &none, "--json"]).success().stdout_has("[]");
    pyra.run(["schedule", "next", &skill]).success();
    assert!(!pyra.home_path().join("pyra.db").exists(), "a read-only command opens no database");
}
