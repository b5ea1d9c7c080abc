//! The wall clock jumping under a running daemon (`PYRA_CLOCK=file:…` rewritten; the
//! daemon is not told): five hours forward are noticed within its tick and the catch-up
//! policy decides the slots jumped over; an hour back replays an hour of wall time, and
//! no slot of it fires a second time.

use super::{Home, briefs, cron_skill, utc, wait_for};

#[test]
fn a_clock_jumping_forward_catches_up_and_one_jumping_back_fires_no_slot_twice() {
    let home = Home::new();
    let zone = "Europe/Berlin";
    home.install("hop_once", &cron_skill("hop_once", "0 * * * *", zone, &["catch_up: once"], &home.out("once")));
    home.install("hop_skip", &cron_skill("hop_skip", "0 * * * *", zone, &["catch_up: skip"], &home.out("skip")));
    let daemon = home.start_at("2027-01-10T10:30:00+01:00");

    // Forward five hours: 11:00 to 15:00 were jumped over.
    home.set_clock("2027-01-10T15:30:00+01:00");
    let once = home.settled_history("hop_once", 5);
    let skip = home.settled_history("hop_skip", 5);
    let at = |hour: u32| utc(&format!("2027-01-10T{hour}:00:00+01:00"));
    let mut expected: Vec<String> = (11..15).map(|h| format!("{} skipped downtime", at(h))).collect();
    expected.push(format!("{} caught-up", at(15)));
    assert_eq!(briefs(&once), expected);
    assert_eq!(briefs(&skip), (11..16).map(|h| format!("{} skipped downtime", at(h))).collect::<Vec<_>>());
    assert_eq!(home.lines("once"), ["hop_once"]);

    // Back an hour, at 1200x: 15:00 passes again, then 16:00 comes.
    home.set_clock("2027-01-10T14:30:00+01:00@1200x");
    let once = wait_for("the 16:00 slot after the jump back", || {
        let rows = home.history("hop_once");
        match rows.last() {
            Some(last) if last.slot == at(16) && last.settled() => Ok(rows),
            _ => Err(format!("{rows:#?}")),
        }
    });
    daemon.wait_past("2027-01-10T16:01:00+01:00");
    daemon.wait_idle();
    let skip = home.history("hop_skip");
    daemon.stop();

    assert_eq!(once.len(), 6, "{:#?}", briefs(&once));
    assert_eq!(briefs(&once[..5]), expected, "the replayed hour decided nothing again");
    assert!(matches!(once[5].outcome.as_str(), "ran" | "caught-up"), "{:?}", once[5]);
    let runs = home.runs("hop_once");
    let scheduled: Vec<&str> = runs.iter().map(|r| r["scheduled_for"].as_str().unwrap()).collect();
    assert_eq!(scheduled, [at(15), at(16)], "15:00 ran once");
    assert_eq!(home.lines("once"), ["hop_once", "hop_once"]);
    assert_eq!(skip.len(), 6, "{:#?}", briefs(&skip));
    assert_eq!(skip[5].slot, at(16));
    assert!(home.runs("hop_skip").len() <= 1, "at most the 16:00 slot ran");
}
