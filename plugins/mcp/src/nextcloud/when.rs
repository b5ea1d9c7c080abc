//! Dates and times between the tools (ISO 8601 / RFC 3339 text, the user's time zone) and
//! iCalendar's DATE, DATE-TIME (UTC, with a `TZID`, or floating) and DURATION values.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::ical::Line;

/// An iCalendar date or time as written.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// An all-day value (`VALUE=DATE`).
    Date(NaiveDate),
    Utc(DateTime<Utc>),
    /// A local time in a named zone this build knows.
    Zoned(DateTime<Tz>),
    /// A local time with no zone, or a `TZID` this build does not know (kept as given).
    Floating(NaiveDateTime, Option<String>),
}

const DATE: &str = "%Y%m%d";
const DATE_TIME: &str = "%Y%m%dT%H%M%S";

impl When {
    /// Reads a `DTSTART`/`DTEND`/`RECURRENCE-ID`-like line.
    pub fn from_line(line: &Line) -> Result<When, String> {
        let v = line.value.trim();
        let bad = || format!("`{}:{v}` is not an iCalendar date or time", line.name);
        if line.param("VALUE").is_some_and(|p| p.eq_ignore_ascii_case("DATE")) || v.len() == 8 {
            return NaiveDate::parse_from_str(v, DATE).map(When::Date).map_err(|_| bad());
        }
        if let Some(utc) = v.strip_suffix('Z') {
            let t = NaiveDateTime::parse_from_str(utc, DATE_TIME).map_err(|_| bad())?;
            return Ok(When::Utc(t.and_utc()));
        }
        let t = NaiveDateTime::parse_from_str(v, DATE_TIME).map_err(|_| bad())?;
        let Some(tzid) = line.param("TZID") else { return Ok(When::Floating(t, None)) };
        // Outlook's and some servers' ids carry a leading `/` or are Windows names.
        match tzid.trim_start_matches('/').parse::<Tz>() {
            Ok(tz) => match tz.from_local_datetime(&t).earliest() {
                Some(z) => Ok(When::Zoned(z)),
                None => Ok(When::Floating(t, Some(tzid.to_string()))),
            },
            Err(_) => Ok(When::Floating(t, Some(tzid.to_string()))),
        }
    }

    /// ISO 8601 text: `2026-12-08`, `2026-12-08T09:00:00Z`, `2026-12-08T10:00:00+01:00`,
    /// or a floating `2026-12-08T09:00:00`.
    pub fn show(&self) -> String {
        match self {
            When::Date(d) => d.format("%Y-%m-%d").to_string(),
            When::Utc(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            When::Zoned(t) => t.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            When::Floating(t, _) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        }
    }

    pub fn is_date(&self) -> bool {
        matches!(self, When::Date(_))
    }

    /// The instant, with dates and floating times read in `tz`.
    pub fn instant(&self, tz: Tz) -> DateTime<Utc> {
        let local = |t: &NaiveDateTime| {
            tz.from_local_datetime(t).earliest().map(|z| z.with_timezone(&Utc)).unwrap_or_else(|| t.and_utc())
        };
        match self {
            When::Date(d) => local(&d.and_time(NaiveTime::MIN)),
            When::Utc(t) => *t,
            When::Zoned(t) => t.with_timezone(&Utc),
            When::Floating(t, _) => local(t),
        }
    }

    /// The line that writes it: a date as `VALUE=DATE`, a time in UTC.
    pub fn line(&self, name: &str) -> Line {
        match self {
            When::Date(d) => Line::new(name, d.format(DATE).to_string()).with_param("VALUE", "DATE"),
            When::Utc(t) => Line::new(name, utc_text(*t)),
            When::Zoned(t) => Line::new(name, utc_text(t.with_timezone(&Utc))),
            When::Floating(t, tzid) => {
                let line = Line::new(name, t.format(DATE_TIME).to_string());
                match tzid {
                    Some(id) => line.with_param("TZID", id),
                    None => line,
                }
            }
        }
    }

    /// `self` moved by `d` (a date by whole days).
    pub fn plus(&self, d: Duration) -> When {
        match self {
            When::Date(x) => When::Date(*x + Duration::days(d.num_days())),
            When::Utc(t) => When::Utc(*t + d),
            When::Zoned(t) => When::Zoned(*t + d),
            When::Floating(t, z) => When::Floating(*t + d, z.clone()),
        }
    }
}

/// `20261208T090000Z`, for a `time-range` or `expand`.
pub fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A tool argument: `2026-12-08` (a date), RFC 3339 with an offset, or a local time
/// without one (read in `tz`).
pub fn parse_input(text: &str, tz: Tz, what: &str) -> Result<When, String> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(When::Date(d));
    }
    if let Ok(z) = DateTime::parse_from_rfc3339(t) {
        return Ok(When::Utc(z.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, format) {
            return tz
                .from_local_datetime(&n)
                .earliest()
                .map(|z| When::Utc(z.with_timezone(&Utc)))
                .ok_or_else(|| format!("`{what}: {t}` does not exist in {tz} (a clock change)"));
        }
    }
    Err(format!(
        "`{what}: {t}` is not a date (2026-12-08) or a time (2026-12-08T09:00, or with an offset: 2026-12-08T09:00:00+01:00)"
    ))
}

/// An iCalendar DURATION (`PT1H30M`, `P1D`, `-PT15M`, `P2W`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (sign, t) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let t = t.strip_prefix('P')?;
    let mut total = 0i64;
    let mut number = String::new();
    let mut in_time = false;
    for c in t.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' => in_time = true,
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                total += n * match (unit, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    number.is_empty().then(|| Duration::seconds(sign * total))
}

/// The zone for dates and times given without one: the `timezone` setting, else `TZ`,
/// else the system's (`/etc/localtime`), else UTC.
pub fn zone(setting: Option<&str>) -> Result<Tz, String> {
    if let Some(name) = setting {
        return name
            .parse::<Tz>()
            .map_err(|_| format!("`settings.timezone: {name}` is not an IANA time zone (e.g. Europe/Berlin)"));
    }
    let from_env = std::env::var("TZ").ok().map(|v| v.trim_start_matches(':').to_string());
    let from_system = std::fs::read_link("/etc/localtime")
        .ok()
        .and_then(|p| p.to_string_lossy().split("zoneinfo/").nth(1).map(str::to_string));
    Ok([from_env, from_system].into_iter().flatten().find_map(|n| n.parse::<Tz>().ok()).unwrap_or(Tz::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Line {
        let c = super::super::ical::parse(&format!("BEGIN:X\n{text}\nEND:X\n")).unwrap();
        c[0].lines[0].clone()
    }

    #[test]
    fn dates_utc_zoned_and_floating_times() {
        assert_eq!(When::from_line(&line("DTSTART;VALUE=DATE:20261208")).unwrap().show(), "2026-12-08");
        assert_eq!(When::from_line(&line("DTSTART:20261208T090000Z")).unwrap().show(), "2026-12-08T09:00:00Z");
        let berlin = When::from_line(&line("DTSTART;TZID=Europe/Berlin:20261208T090000")).unwrap();
        assert_eq!(berlin.show(), "2026-12-08T09:00:00+01:00");
        assert_eq!(berlin.line("DTSTART").value, "20261208T080000Z");
        let odd = When::from_line(&line("DTSTART;TZID=W. Europe Standard Time:20261208T090000")).unwrap();
        assert_eq!(odd.line("DTSTART").param("TZID"), Some("W. Europe Standard Time"));
        assert!(When::from_line(&line("DTSTART:2026-12-08")).is_err());
        let d = When::Date(NaiveDate::from_ymd_opt(2026, 12, 8).unwrap());
        let end = d.line("DTEND");
        assert_eq!((end.value.as_str(), end.param("VALUE")), ("20261208", Some("DATE")));
        assert_eq!(d.instant(chrono_tz::Europe::Berlin).to_rfc3339(), "2026-12-07T23:00:00+00:00");
    }

    #[test]
    fn tool_arguments_and_durations() {
        let tz = chrono_tz::Europe::Berlin;
        assert!(parse_input("2026-12-08", tz, "start").unwrap().is_date());
        assert_eq!(parse_input("2026-12-08T09:00", tz, "start").unwrap().show(), "2026-12-08T08:00:00Z");
        assert_eq!(parse_input("2026-12-08T09:00:00-05:00", tz, "start").unwrap().show(), "2026-12-08T14:00:00Z");
        assert!(parse_input("tomorrow", tz, "start").unwrap_err().contains("`start: tomorrow` is not a date"));
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("-P1W"), Some(Duration::days(-7)));
        assert_eq!(parse_duration("P1DT2H"), Some(Duration::hours(26)));
        assert_eq!(parse_duration("PT5"), None);
        assert_eq!(parse_duration("1H"), None);
        assert_eq!(zone(Some("Europe/Berlin")).unwrap(), tz);
        assert!(zone(Some("Mars/Base")).is_err());
    }
}
