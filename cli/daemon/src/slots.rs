//! What to do with a cron trigger's slots: those missed while the daemon was down (the
//! catch-up policy) and one that comes while the skill still runs (the overlap policy).
//! Pure decisions over times; the daemon records one history row per slot decided here
//! and claims each slot it runs in SQLite, so a slot runs at most once.
//!
//! Catch-up, for the slots after the last one decided and up to now:
//! - `skip`: none runs; each is recorded skipped (`downtime`).
//! - `once` (the default): the newest slot within `catch_up_window` runs (caught up); the
//!   others are recorded skipped (`downtime`).
//! - `all`: every slot within the window runs, oldest first, at most [`MAX_CATCH_UP`]
//!   of them (the newest); older ones are recorded skipped (`cap`).
//!
//! With any policy, slots older than the window are recorded skipped (`window`), and at
//! most [`MAX_RECORDED`] slots are looked at: a minutely job down for a year does not
//! write half a million rows; the slots before those are summed up in one count.

use chrono::{DateTime, Duration, TimeZone, Utc};
use lang::cron::CronExpr;
use lang::model::{CatchUp, Overlap};
use serde::Serialize;

/// The most missed slots `catch_up: all` runs after one downtime (the newest ones).
pub const MAX_CATCH_UP: usize = 100;

/// The most missed slots recorded one by one after one downtime.
pub const MAX_RECORDED: usize = 10_000;

/// The most runs a trigger with `overlap: queue` keeps waiting behind a running one.
pub const MAX_QUEUED: usize = 10;

/// Why a slot did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// The daemon was down and the catch-up policy does not run it.
    Downtime,
    /// Older than `catch_up_window`.
    Window,
    /// Beyond the [`MAX_CATCH_UP`] newest slots of `catch_up: all`.
    Cap,
    /// A run of the skill was in flight (`overlap: skip`, or the queue was full).
    Overlap,
}

/// What happens to one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "reason")]
pub enum Decision {
    /// Runs now, at its time.
    Run,
    /// Runs now, late: it was missed while the daemon was down.
    CatchUp,
    Skip(SkipReason),
}

/// A slot and what happens to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub at: DateTime<Utc>,
    pub decision: Decision,
}

/// The decisions for the slots after `last` (the last slot decided for this trigger) up
/// to `now`, oldest first; the second value counts the slots before those, too many to
/// record one by one (all skipped). The trigger's zone is `tz`.
pub fn missed<Z: TimeZone>(
    expr: &CronExpr,
    tz: &Z,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: CatchUp,
    window: Duration,
) -> (Vec<Slot>, u64) {
    let mut times: std::collections::VecDeque<DateTime<Utc>> = std::collections::VecDeque::new();
    let mut dropped = 0u64;
    let mut cursor = last.with_timezone(tz);
    while let Some(next) = expr.next_after(&cursor) {
        let at = next.with_timezone(&Utc);
        if at > now {
            break;
        }
        if times.len() == MAX_RECORDED {
            times.pop_front();
            dropped += 1;
        }
        times.push_back(at);
        cursor = next;
    }
    let oldest_allowed = now - window;
    let in_window: Vec<usize> = (0..times.len()).filter(|&i| times[i] >= oldest_allowed).collect();
    let runs: Vec<usize> = match policy {
        CatchUp::Skip => Vec::new(),
        CatchUp::Once => in_window.last().copied().into_iter().collect(),
        CatchUp::All => in_window.iter().rev().take(MAX_CATCH_UP).rev().copied().collect(),
    };
    let slots = times
        .iter()
        .enumerate()
        .map(|(i, &at)| {
            let decision = if runs.contains(&i) {
                Decision::CatchUp
            } else if at < oldest_allowed {
                Decision::Skip(SkipReason::Window)
            } else if policy == CatchUp::All {
                Decision::Skip(SkipReason::Cap)
            } else {
                Decision::Skip(SkipReason::Downtime)
            };
            Slot { at, decision }
        })
        .collect();
    (slots, dropped)
}

/// What a slot that comes now does, given the skill's runs of this trigger in flight and
/// those already queued behind them.
pub fn on_time(policy: Overlap, running: usize, queued: usize) -> OnTime {
    match policy {
        _ if running == 0 && queued == 0 => OnTime::Start,
        Overlap::Allow => OnTime::Start,
        Overlap::Queue if queued < MAX_QUEUED => OnTime::Queue,
        Overlap::Queue | Overlap::Skip => OnTime::Skip,
    }
}

/// What a slot that comes now does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTime {
    Start,
    /// Waits for the runs before it, then starts.
    Queue,
    /// Recorded skipped (`overlap`).
    Skip,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn outcomes(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| {
                let what = match s.decision {
                    Decision::Run => "run".to_string(),
                    Decision::CatchUp => "catch-up".to_string(),
                    Decision::Skip(r) => format!("skip:{}", serde_json::to_value(r).unwrap().as_str().unwrap()),
                };
                format!("{} {what}", s.at.format("%m-%d %H:%M"))
            })
            .collect()
    }

    fn daily_seven() -> (CronExpr, Tz) {
        (lang::cron::parse("0 7 * * *").unwrap(), "Europe/Berlin".parse().unwrap())
    }

    #[test]
    fn three_days_down_gives_one_three_or_no_runs_and_three_rows_each() {
        let (expr, tz) = daily_seven();
        // Last decided: the 7:00 slot of the 1st; back on the 4th at noon (Berlin, CET).
        let last = utc("2027-01-01T06:00:00Z");
        let now = utc("2027-01-04T11:00:00Z");
        let three_days = Duration::days(3);
        let (once, _) = missed(&expr, &tz, last, now, CatchUp::Once, three_days);
        assert_eq!(outcomes(&once), ["01-02 06:00 skip:downtime", "01-03 06:00 skip:downtime", "01-04 06:00 catch-up"]);
        let (all, _) = missed(&expr, &tz, last, now, CatchUp::All, three_days);
        assert_eq!(outcomes(&all), ["01-02 06:00 catch-up", "01-03 06:00 catch-up", "01-04 06:00 catch-up"]);
        let (skip, dropped) = missed(&expr, &tz, last, now, CatchUp::Skip, three_days);
        assert_eq!(
            outcomes(&skip),
            ["01-02 06:00 skip:downtime", "01-03 06:00 skip:downtime", "01-04 06:00 skip:downtime"]
        );
        assert_eq!(dropped, 0);
    }

    #[test]
    fn the_window_bounds_what_runs_and_every_slot_is_still_recorded() {
        let (expr, tz) = daily_seven();
        let last = utc("2027-01-01T06:00:00Z");
        let now = utc("2027-01-04T11:00:00Z");
        // The default window, one day: only the 4th's slot is in it.
        let (all, _) = missed(&expr, &tz, last, now, CatchUp::All, Duration::days(1));
        assert_eq!(outcomes(&all), ["01-02 06:00 skip:window", "01-03 06:00 skip:window", "01-04 06:00 catch-up"]);
        // Nothing in the window: nothing runs, even with `once`.
        let (once, _) = missed(&expr, &tz, last, now, CatchUp::Once, Duration::hours(1));
        assert_eq!(outcomes(&once), ["01-02 06:00 skip:window", "01-03 06:00 skip:window", "01-04 06:00 skip:window"]);
        // Nothing missed: nothing to decide.
        let (none, _) = missed(&expr, &tz, utc("2027-01-04T06:00:00Z"), now, CatchUp::All, Duration::days(1));
        assert!(none.is_empty());
    }

    #[test]
    fn all_runs_the_newest_hundred_and_records_the_rest_as_capped() {
        let expr = lang::cron::parse("0 * * * *").unwrap();
        let tz: Tz = "UTC".parse().unwrap();
        let last = utc("2027-01-01T00:00:00Z");
        let now = utc("2027-01-07T00:30:00Z");
        let (slots, dropped) = missed(&expr, &tz, last, now, CatchUp::All, Duration::days(7));
        assert_eq!((slots.len(), dropped), (144, 0));
        let runs: Vec<&Slot> = slots.iter().filter(|s| s.decision == Decision::CatchUp).collect();
        assert_eq!(runs.len(), MAX_CATCH_UP);
        assert_eq!(runs[0].at, utc("2027-01-02T21:00:00Z"), "the newest hundred, oldest first");
        assert_eq!(runs[99].at, utc("2027-01-07T00:00:00Z"));
        assert!(slots[..44].iter().all(|s| s.decision == Decision::Skip(SkipReason::Cap)));
    }

    #[test]
    fn eight_days_of_a_minutely_job_record_ten_thousand_rows_and_count_the_rest() {
        let expr = lang::cron::parse("* * * * *").unwrap();
        let tz: Tz = "UTC".parse().unwrap();
        let last = utc("2026-12-24T00:00:00Z");
        let now = utc("2027-01-01T00:00:00Z");
        let (slots, dropped) = missed(&expr, &tz, last, now, CatchUp::Once, Duration::days(1));
        assert_eq!(slots.len(), MAX_RECORDED);
        assert_eq!(dropped as usize + MAX_RECORDED, 8 * 24 * 60);
        assert_eq!(slots.last().unwrap().decision, Decision::CatchUp);
        assert_eq!(slots.last().unwrap().at, now);
    }

    #[test]
    fn missed_slots_follow_the_dst_rules() {
        // Down over Berlin's fall-back night: the hourly job's two 02:30 passes are two
        // slots; the fixed-hour job's 02:30 is one.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let last = utc("2027-10-30T22:00:00Z");
        let now = utc("2027-10-31T03:00:00Z");
        let hourly = lang::cron::parse("30 * * * *").unwrap();
        let (slots, _) = missed(&hourly, &tz, last, now, CatchUp::Skip, Duration::days(1));
        assert_eq!(slots.len(), 5, "{:?}", outcomes(&slots));
        let daily = lang::cron::parse("30 2 * * *").unwrap();
        let (slots, _) = missed(&daily, &tz, last, now, CatchUp::Skip, Duration::days(1));
        assert_eq!(outcomes(&slots), ["10-31 00:30 skip:downtime"]);
    }

    #[test]
    fn overlap_policies() {
        assert_eq!(on_time(Overlap::Skip, 0, 0), OnTime::Start);
        assert_eq!(on_time(Overlap::Skip, 1, 0), OnTime::Skip);
        assert_eq!(on_time(Overlap::Allow, 3, 0), OnTime::Start);
        assert_eq!(on_time(Overlap::Queue, 1, 0), OnTime::Queue);
        assert_eq!(on_time(Overlap::Queue, 1, MAX_QUEUED - 1), OnTime::Queue);
        assert_eq!(on_time(Overlap::Queue, 1, MAX_QUEUED), OnTime::Skip, "the queue is bounded");
        assert_eq!(on_time(Overlap::Queue, 0, 2), OnTime::Queue, "queued runs go first");
    }
}
