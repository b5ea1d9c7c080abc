//! Skill files changing under a running daemon (it rescans its folders every 2 s): an
//! edited schedule applies from then on and no slot of the old one is replayed, not even
//! when the edit is undone later; a broken edit keeps the last good version armed (and
//! firing) with the located diagnostic in `status`; a run waiting for an approval
//! survives the reloads and finishes when approved.

use super::{Home, briefs, cron_skill, utc, wait_for};

const ZONE: &str = "Europe/Berlin";

#[test]
fn an_edited_schedule_applies_from_now_and_no_slot_of_the_old_one_is_replayed() {
    let home = Home::new();
    let out = home.out("edit");
    home.install("edit", &cron_skill("edit", "0 * * * *", ZONE, &[], &out));
    let daemon = home.start_at("2027-01-10T10:58:00+01:00");
    let spec_is = |spec: &str| {
        wait_for(&format!("the rescan to arm `{spec}`"), || {
            let status = daemon.status();
            let armed = status["triggers"].as_array().is_some_and(|t| t.len() == 1 && t[0]["spec"] == spec);
            if armed { Ok(()) } else { Err(status["triggers"].to_string()) }
        })
    };

    daemon.play("2027-01-10T10:58:00+01:00@60x");
    home.settled_history("edit", 1);
    // Hold the clock at 11:05, edit, then play on past the old schedule's 12:00.
    daemon.play("2027-01-10T11:05:00+01:00");
    home.install("edit", &cron_skill("edit", "30 * * * *", ZONE, &[], &out));
    spec_is("30 * * * *");
    daemon.play("2027-01-10T11:05:00+01:00@1200x");
    wait_for("the new schedule's 12:30 slot", || {
        let rows = home.history("edit");
        let done = rows.iter().any(|r| r.slot == utc("2027-01-10T12:30:00+01:00") && r.settled());
        if done { Ok(()) } else { Err(format!("{rows:#?}")) }
    });
    // Hold at 12:40 and undo the edit: the old schedule comes back from now on.
    daemon.play("2027-01-10T12:40:00+01:00");
    home.install("edit", &cron_skill("edit", "0 * * * *", ZONE, &[], &out));
    spec_is("0 * * * *");
    daemon.play("2027-01-10T12:40:00+01:00@1200x");
    wait_for("the 13:00 slot", || {
        let rows = home.history("edit");
        let done = rows.iter().any(|r| r.slot == utc("2027-01-10T13:00:00+01:00") && r.settled());
        if done { Ok(()) } else { Err(format!("{rows:#?}")) }
    });
    daemon.wait_past("2027-01-10T13:05:00+01:00");
    daemon.wait_idle();
    let rows = home.history("edit");
    daemon.stop();

    let old = format!("cron 0 * * * * {ZONE}");
    let new = format!("cron 30 * * * * {ZONE}");
    let slots =
        |key: &str| -> Vec<String> { rows.iter().filter(|r| r.trigger == key).map(|r| r.slot.clone()).collect() };
    assert_eq!(slots(&old), [utc("2027-01-10T11:00:00+01:00"), utc("2027-01-10T13:00:00+01:00")], "no 12:00");
    assert_eq!(slots(&new), [utc("2027-01-10T11:30:00+01:00"), utc("2027-01-10T12:30:00+01:00")]);
    assert!(rows.iter().all(|r| r.run_status.as_deref() == Some("succeeded")), "{:#?}", briefs(&rows));
    assert_eq!(home.runs("edit").len(), 4);
    assert_eq!(home.lines("edit").len(), 4);
}

#[test]
fn a_broken_edit_keeps_the_last_good_version_armed_and_a_waiting_run_survives_reloads() {
    let home = Home::new();
    let out = home.out("keeper");
    let keeper = |version: &str, kind: &str| {
        format!(
            "name: keeper\ntriggers:\n  - cron: \"* * * * *\"\n    timezone: {ZONE}\nnodes:\n  mark:\n    uses: {kind}\n    \
             with: {{ argv: [sh, -c, 'echo {version} >> \"$0\"', \"{}\"] }}\n",
            out.display()
        )
    };
    home.install("keeper", &keeper("v1", "exec"));
    home.install(
        "gate",
        &format!(
            "name: gate\ntriggers:\n  - event: gate.open\nnodes:\n  ask:\n    uses: approval\n    with: {{ message: open?, timeout: 1h }}\n  \
             done:\n    uses: exec\n    needs: ask\n    with: {{ argv: [sh, -c, 'echo opened >> \"$0\"', \"{}\"] }}\n",
            home.out("gate").display()
        ),
    );
    let daemon = home.start_at("2027-01-10T10:00:00+01:00");
    let emitted = home.pyra.run(["emit", "gate.open"]);
    emitted.success();
    let gate = emitted.stdout.trim().to_string();
    let waiting = || {
        wait_for("the gate's run to wait for its approval", || {
            let run = home.pyra.show(&gate);
            if run["status"] == "waiting" { Ok(()) } else { Err(run["status"].to_string()) }
        })
    };
    waiting();

    // Line 7 names a kind that does not exist.
    home.install("keeper", &keeper("v2", "exex"));
    let broken = wait_for("the broken edit in status", || {
        let status = daemon.status();
        match status["broken"].as_array().and_then(|b| b.first()).cloned() {
            Some(broken) => Ok(broken),
            None => Err(status["broken"].to_string()),
        }
    });
    assert_eq!(broken["name"], "keeper");
    assert_eq!(broken["kept_previous"], true);
    let diagnostic = broken["diagnostic"].as_str().unwrap();
    let located = format!("{}:7:11", home.path().join("skills").join("keeper.yaml").display());
    assert!(diagnostic.contains(&located), "{diagnostic}");
    assert!(diagnostic.contains("unknown node kind `exex`"), "{diagnostic}");
    let status = daemon.status();
    assert!(status["skills"].as_array().unwrap().iter().any(|s| s == "keeper"), "still armed: {status:#}");
    assert!(status["triggers"].as_array().unwrap().iter().any(|t| t["skill"] == "keeper"), "{status:#}");
    daemon.reload();
    waiting();

    // The last good version still fires.
    daemon.play("2027-01-10T10:00:00+01:00@60x");
    home.settled_history("keeper", 1);
    daemon.play("2027-01-10T10:05:00+01:00");
    daemon.wait_idle();
    assert!(home.lines("keeper").iter().all(|l| l == "v1") && !home.lines("keeper").is_empty());

    // Fixed: the new version is armed and fires; the approval finishes the gate's run.
    home.install("keeper", &keeper("v3", "exec"));
    wait_for("the fixed skill to load", || {
        let status = daemon.status();
        if status["broken"].as_array().is_some_and(Vec::is_empty) { Ok(()) } else { Err(status["broken"].to_string()) }
    });
    waiting();
    home.pyra.run(["approve", &gate]).success().stderr_has("the daemon continues run");
    wait_for("the approved run to finish", || {
        let run = home.pyra.show(&gate);
        if run["status"] == "succeeded" { Ok(()) } else { Err(run["status"].to_string()) }
    });
    assert_eq!(home.lines("gate"), ["opened"]);
    daemon.play("2027-01-10T10:05:00+01:00@60x");
    wait_for("a slot of the fixed version", || {
        let lines = home.lines("keeper");
        if lines.last().is_some_and(|l| l == "v3") { Ok(()) } else { Err(format!("{lines:?}")) }
    });
    daemon.play("2027-01-10T09:00:00+01:00");
    daemon.wait_idle();
    daemon.stop();
    assert!(!home.lines("keeper").iter().any(|l| l == "v2"), "the broken version never ran");
}
