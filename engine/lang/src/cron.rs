//! Cron expressions as users write them (5-field Vixie cron and `@daily`-style macros),
//! normalised in this one place for the `cron` crate, which wants a seconds field and
//! numbers Sunday as 1.
//!
//! Semantics (documented in ARCHITECTURE.md):
//! - Day of week: `0` and `7` are Sunday, names (`MON`) work, ranges and steps too.
//! - When both day-of-month and day-of-week are restricted, a day matches if *either*
//!   does (Vixie cron's rule): `0 9 1 * MON` fires on the 1st and on every Monday.
//! - Times are wall-clock times in the trigger's time zone. For a job at a fixed hour, a
//!   time skipped by a spring-forward change runs at the first valid instant after the
//!   gap (once, however many skipped times map to it), and a time repeated by a fall-back
//!   change runs once, at its first occurrence. A job whose hour field is `*` (hourly or
//!   finer) follows real time, as ISC cron does: on the fall-back night it runs in both
//!   repeated hours, and the skipped hour of the spring-forward night gives no extra run.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};

/// A parse error, with the index of the offending field (0 = minute) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    pub message: String,
    pub field: Option<usize>,
    pub help: Option<String>,
}

impl CronError {
    fn new(message: impl Into<String>, field: Option<usize>) -> Self {
        Self { message: message.into(), field, help: None }
    }
}

const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MACROS: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    /// The 5-field form after macro expansion.
    pub five_field: String,
    /// One schedule, or two when day-of-month and day-of-week are OR-ed.
    schedules: Vec<cron::Schedule>,
    /// The hour field is `*`: the job follows real time across DST changes.
    every_hour: bool,
}

/// Parses a 5-field expression or a macro.
pub fn parse(expr: &str) -> Result<CronExpr, CronError> {
    let trimmed = expr.trim();
    let five_field = if trimmed.starts_with('@') {
        let lower = trimmed.to_lowercase();
        match MACROS.iter().find(|(name, _)| *name == lower) {
            Some((_, expansion)) => (*expansion).to_string(),
            None => {
                let mut err = CronError::new(format!("unknown cron macro `{trimmed}`"), None);
                err.help = syntax::suggest::help(&lower, MACROS.iter().map(|(n, _)| *n))
                    .or_else(|| Some("use one of @hourly, @daily, @weekly, @monthly, @yearly".into()));
                return Err(err);
            }
        }
    } else {
        trimmed.to_string()
    };
    let fields: Vec<&str> = five_field.split_whitespace().collect();
    if fields.len() != 5 {
        let mut err = CronError::new(
            format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ),
            None,
        );
        err.help = Some(if fields.len() == 6 {
            "Pyra's cron has no seconds field; drop the first field".into()
        } else {
            "for example `0 7 * * MON-FRI` is 07:00 on weekdays".into()
        });
        return Err(err);
    }
    let days = parse_day_of_week(fields[4]).map_err(|m| CronError::new(m, Some(4)))?;
    let dow = match &days {
        None => "*".to_string(),
        Some(days) => days.iter().map(|d| (d + 1).to_string()).collect::<Vec<_>>().join(","),
    };
    let dom_restricted = !matches!(fields[2], "*" | "?");
    let mut variants = Vec::new();
    if dom_restricted && days.is_some() {
        variants.push([fields[0], fields[1], fields[2], fields[3], "*"].map(str::to_string));
        variants.push([fields[0], fields[1], "*", fields[3], dow.as_str()].map(str::to_string));
    } else {
        variants.push([fields[0], fields[1], fields[2], fields[3], dow.as_str()].map(str::to_string));
    }
    let mut schedules = Vec::new();
    for v in &variants {
        let text = format!("0 {} {} {} {} {}", v[0], v[1], v[2], v[3], v[4]);
        let schedule = cron::Schedule::from_str(&text).map_err(|e| locate_field_error(&fields, &e.to_string()))?;
        schedules.push(schedule);
    }
    let every_hour = fields[1] == "*";
    Ok(CronExpr { five_field, schedules, every_hour })
}

/// The `cron` crate reports errors for the whole expression; find the field that fails on
/// its own so the caret can point at it.
fn locate_field_error(fields: &[&str], message: &str) -> CronError {
    let probes = ["*", "*", "*", "*", "*"];
    for (i, field) in fields.iter().enumerate().take(4) {
        let mut test = probes;
        test[i] = field;
        let text = format!("0 {} {} {} {} *", test[0], test[1], test[2], test[3]);
        if cron::Schedule::from_str(&text).is_err() {
            let range = ["0-59", "0-23", "1-31", "1-12 or JAN-DEC"][i];
            let mut err = CronError::new(format!("invalid {} field `{field}`", FIELD_NAMES[i]), Some(i));
            err.help = Some(format!("the {} field takes {range}, `*`, lists, ranges and steps", FIELD_NAMES[i]));
            return err;
        }
    }
    CronError::new(format!("invalid cron expression: {message}"), None)
}

/// Expands a day-of-week field into days 0..=6 (Sunday = 0); `None` means every day.
fn parse_day_of_week(field: &str) -> Result<Option<Vec<u32>>, String> {
    if field == "*" || field == "?" {
        return Ok(None);
    }
    let day = |s: &str| -> Result<u32, String> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = DAY_NAMES.iter().position(|d| *d == upper) {
            return Ok(i as u32);
        }
        match s.parse::<u32>() {
            Ok(n) if n <= 7 => Ok(n),
            _ => Err(format!("invalid day-of-week `{s}`: use 0-7 (0 and 7 are Sunday) or SUN-SAT")),
        }
    };
    let mut set = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|s| *s > 0).ok_or_else(|| format!("invalid step `{s}` in day-of-week"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            (day(a)?, day(b)?)
        } else {
            let d = day(range)?;
            (d, if step > 1 { 6 } else { d })
        };
        if lo > hi {
            return Err(format!("day-of-week range `{range}` runs backwards"));
        }
        // Stepping with `step_by`: adding a huge step (`1/4294967295`) to a day overflowed.
        for d in (lo..=hi).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
            set[(d % 7) as usize] = true;
        }
    }
    Ok(Some((0..7).filter(|&d| set[d as usize]).collect()))
}

impl CronExpr {
    /// The next fire time strictly after `after`, in `tz`'s wall clock with the DST rules
    /// in the module docs. `None` if the expression never fires again (e.g. `30 2 30 2 *`).
    pub fn next_after<Z: TimeZone>(&self, after: &DateTime<Z>) -> Option<DateTime<Z>> {
        let tz = after.timezone();
        // Around a fall-back change the wall clock repeats, so a wall time before `after`
        // can still be an instant after it: start a few hours back in wall time there.
        // Elsewhere wall order is time order, and a minutely job would otherwise look at
        // 180 wall times to pass `after`.
        let back = if no_offset_change(&tz, after, after) { 0 } else { 3 };
        let wall = after.naive_local() - Duration::hours(back);
        let mut cursor = Utc.from_utc_datetime(&wall);
        // For a job that follows real time, a later wall time can be an earlier instant
        // (the first pass through a repeated hour comes before the second pass through an
        // earlier minute of it): look on past the first candidate, as far as a DST change
        // can shift the clock, and take the earliest instant.
        let mut best: Option<(DateTime<Z>, NaiveDateTime)> = None;
        for _ in 0..10_000 {
            let next_wall = self.next_wall_after(&cursor)?;
            if let Some((_, found_at)) = &best
                && next_wall.naive_utc() > *found_at + Duration::hours(3)
            {
                break;
            }
            for instant in self.instants(&tz, next_wall.naive_utc()) {
                if instant > *after && best.as_ref().is_none_or(|(b, _)| instant < *b) {
                    // Wall order is time order unless the offset changes in between:
                    // then the first candidate is the answer (the common case, and a
                    // minutely job would otherwise look at 180 more candidates).
                    if !self.every_hour || no_offset_change(&tz, after, &instant) {
                        return Some(instant);
                    }
                    best = Some((instant, next_wall.naive_utc()));
                }
            }
            cursor = next_wall;
        }
        best.map(|(instant, _)| instant)
    }

    /// The instants a wall-clock time stands for, under the DST rules in the module docs.
    fn instants<Z: TimeZone>(&self, tz: &Z, wall: NaiveDateTime) -> Vec<DateTime<Z>> {
        if !self.every_hour {
            return resolve_wall_time(tz, wall).into_iter().collect();
        }
        match tz.from_local_datetime(&wall) {
            LocalResult::Single(t) => vec![t],
            LocalResult::Ambiguous(first, second) => vec![first, second],
            LocalResult::None => Vec::new(),
        }
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming<Z: TimeZone>(&self, after: &DateTime<Z>, n: usize) -> Vec<DateTime<Z>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = after.clone();
        while out.len() < n {
            match self.next_after(&cursor) {
                Some(t) => {
                    cursor = t.clone();
                    out.push(t);
                }
                None => break,
            }
        }
        out
    }

    fn next_wall_after(&self, cursor: &DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedules.iter().filter_map(|s| s.after(cursor).next()).min()
    }
}

/// Whether `tz`'s offset is the same three hours before `from` and three hours after
/// `to` (as far as a DST change can move the wall clock). Zones change their offset a few
/// times a year at most, never twice within hours, so the two ends tell.
fn no_offset_change<Z: TimeZone>(tz: &Z, from: &DateTime<Z>, to: &DateTime<Z>) -> bool {
    use chrono::Offset;
    let offset = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    offset(from.with_timezone(&Utc) - Duration::hours(3)) == offset(to.with_timezone(&Utc) + Duration::hours(3))
}

/// Maps a wall-clock time of a fixed-hour job to an instant: a repeated time takes its
/// first occurrence, a skipped time takes the first valid instant after the gap.
pub fn resolve_wall_time<Z: TimeZone>(tz: &Z, wall: NaiveDateTime) -> Option<DateTime<Z>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(first, _) => Some(first),
        LocalResult::None => {
            // Gaps are at most a few hours; walk forward a minute at a time to their end.
            let mut probe = wall;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                let truncated =
                    probe.date().and_hms_opt(chrono::Timelike::hour(&probe), chrono::Timelike::minute(&probe), 0)?;
                match tz.from_local_datetime(&truncated) {
                    LocalResult::Single(t) => return Some(t),
                    LocalResult::Ambiguous(first, _) => return Some(first),
                    LocalResult::None => {}
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn at(tz: Tz, s: &str) -> DateTime<Tz> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        tz.from_local_datetime(&naive).earliest().unwrap()
    }

    fn fmt(times: &[DateTime<Tz>]) -> Vec<String> {
        times.iter().map(|t| t.format("%a %Y-%m-%d %H:%M %Z").to_string()).collect()
    }

    #[test]
    fn weekdays_at_seven() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let expr = parse("0 7 * * MON-FRI").unwrap();
        // 2026-11-27 is a Friday.
        let got = expr.upcoming(&at(tz, "2026-11-27 06:00"), 3);
        assert_eq!(fmt(&got), ["Fri 2026-11-27 07:00 CET", "Mon 2026-11-30 07:00 CET", "Tue 2026-12-01 07:00 CET"]);
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        let tz: Tz = "UTC".parse().unwrap();
        for expr in ["30 8 * * 0", "30 8 * * 7", "30 8 * * SUN"] {
            let got = parse(expr).unwrap().upcoming(&at(tz, "2026-11-25 00:00"), 1);
            assert_eq!(fmt(&got), ["Sun 2026-11-29 08:30 UTC"], "{expr}");
        }
        let got = parse("0 12 * * 5-7").unwrap().upcoming(&at(tz, "2026-11-25 00:00"), 3);
        assert_eq!(fmt(&got), ["Fri 2026-11-27 12:00 UTC", "Sat 2026-11-28 12:00 UTC", "Sun 2026-11-29 12:00 UTC"]);
    }

    #[test]
    fn a_huge_day_of_week_step_is_no_overflow() {
        // Found by the fuzz target `cron`: `d += step` overflowed (a panic in debug builds).
        let expr = parse("0 0 * * 1/4294967295").unwrap();
        assert_eq!(expr.five_field, "0 0 * * 1/4294967295");
        assert_eq!(parse_day_of_week("1/4294967295"), Ok(Some(vec![1])));
        assert_eq!(parse_day_of_week("0-7/4294967295"), Ok(Some(vec![0])));
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        let tz: Tz = "UTC".parse().unwrap();
        let got = parse("0 9 1 * MON").unwrap().upcoming(&at(tz, "2026-11-25 00:00"), 3);
        assert_eq!(fmt(&got), ["Mon 2026-11-30 09:00 UTC", "Tue 2026-12-01 09:00 UTC", "Mon 2026-12-07 09:00 UTC"]);
    }

    #[test]
    fn macros_expand() {
        let tz: Tz = "UTC".parse().unwrap();
        let got = parse("@daily").unwrap().upcoming(&at(tz, "2026-11-25 10:00"), 2);
        assert_eq!(fmt(&got), ["Thu 2026-11-26 00:00 UTC", "Fri 2026-11-27 00:00 UTC"]);
        assert!(parse("@hourli").unwrap_err().help.unwrap().contains("@hourly"));
    }

    #[test]
    fn spring_forward_runs_at_next_valid_time() {
        // Europe/Berlin skips 02:00-03:00 on 2027-03-28.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let got = parse("30 2 * * *").unwrap().upcoming(&at(tz, "2027-03-27 00:00"), 3);
        assert_eq!(fmt(&got), ["Sat 2027-03-27 02:30 CET", "Sun 2027-03-28 03:00 CEST", "Mon 2027-03-29 02:30 CEST"]);
    }

    #[test]
    fn fall_back_runs_once() {
        // Europe/Berlin repeats 02:00-03:00 on 2026-10-25... use 2027-10-31.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let got = parse("30 2 * * *").unwrap().upcoming(&at(tz, "2027-10-30 12:00"), 2);
        assert_eq!(fmt(&got), ["Sun 2027-10-31 02:30 CEST", "Mon 2027-11-01 02:30 CET"]);
    }

    /// Hourly and finer jobs follow real time (ISC cron): both passes through the repeated
    /// hour run, and the skipped hour gives no extra run.
    #[test]
    fn hourly_jobs_follow_real_time_across_dst() {
        for (zone, fall_from, fall, spring_from, spring) in [
            (
                "Europe/Berlin",
                "2027-10-31 00:45",
                ["01:30 CEST", "02:30 CEST", "02:30 CET", "03:30 CET"],
                "2027-03-28 00:45",
                ["01:30 CET", "03:30 CEST", "04:30 CEST", "05:30 CEST"],
            ),
            (
                "America/New_York",
                "2027-11-06 23:45",
                ["00:30 EDT", "01:30 EDT", "01:30 EST", "02:30 EST"],
                "2027-03-14 00:45",
                ["01:30 EST", "03:30 EDT", "04:30 EDT", "05:30 EDT"],
            ),
        ] {
            let tz: Tz = zone.parse().unwrap();
            let hourly = parse("30 * * * *").unwrap();
            let times = |from: &str| -> Vec<String> {
                hourly.upcoming(&at(tz, from), 4).iter().map(|t| t.format("%H:%M %Z").to_string()).collect()
            };
            assert_eq!(times(fall_from), fall, "{zone} fall back");
            assert_eq!(times(spring_from), spring, "{zone} spring forward");
        }
        // Finer than hourly: every quarter hour of both passes, in time order.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let got = parse("*/15 * * * *").unwrap().upcoming(&at(tz, "2027-10-31 02:50"), 6);
        let got: Vec<String> = got.iter().map(|t| t.format("%H:%M %Z").to_string()).collect();
        assert_eq!(got, ["02:00 CET", "02:15 CET", "02:30 CET", "02:45 CET", "03:00 CET", "03:15 CET"]);
        let first_pass = tz
            .from_local_datetime(&NaiveDateTime::parse_from_str("2027-10-31 02:20", "%Y-%m-%d %H:%M").unwrap())
            .earliest()
            .unwrap();
        let got = parse("*/15 * * * *").unwrap().upcoming(&first_pass, 6);
        let got: Vec<String> = got.iter().map(|t| t.format("%H:%M %Z").to_string()).collect();
        assert_eq!(got, ["02:30 CEST", "02:45 CEST", "02:00 CET", "02:15 CET", "02:30 CET", "02:45 CET"]);
        // A fixed hour keeps its rule even when the minute is a wildcard list.
        let got = parse("0,30 2 * * *").unwrap().upcoming(&at(tz, "2027-10-31 00:00"), 3);
        let got: Vec<String> = got.iter().map(|t| t.format("%d %H:%M %Z").to_string()).collect();
        assert_eq!(got, ["31 02:00 CEST", "31 02:30 CEST", "01 02:00 CET"]);
        let got = parse("0,30 2 * * *").unwrap().upcoming(&at(tz, "2027-03-28 00:00"), 2);
        let got: Vec<String> = got.iter().map(|t| t.format("%d %H:%M %Z").to_string()).collect();
        assert_eq!(got, ["28 03:00 CEST", "29 02:00 CEST"], "two skipped times, one run");
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(parse("61 * * * *").unwrap_err().field, Some(0));
        assert_eq!(parse("0 25 * * *").unwrap_err().field, Some(1));
        assert_eq!(parse("0 0 * * FUN").unwrap_err().field, Some(4));
        assert!(parse("0 0 * * * *").unwrap_err().help.unwrap().contains("seconds"));
        assert!(parse("0 0 30 2 *").unwrap().upcoming(&at("UTC".parse().unwrap(), "2026-01-01 00:00"), 1).is_empty());
    }
}
