//! `pyra schedule next SKILL`: when a skill's cron triggers fire next, under the DST rules
//! of `lang::cron`. Pure computation from the skill file and a start time (`--from`, or
//! now as the `clock` reads it, so `PYRA_CLOCK` can stand in for a night to check):
//! nothing runs, nothing is recorded, and no schedule moves.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use clap::Subcommand;
use clock::Clock;
use lang::model::Trigger;
use serde_json::json;
use term::output::out;

use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::skills;

/// The most fire times `--count` may ask for, per trigger.
const MAX_COUNT: usize = 1000;

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// When a skill's cron triggers fire next (nothing runs, nothing is recorded).
    Next {
        /// A skill name or file.
        #[arg(value_name = "NAME|FILE")]
        skill: String,
        /// Count from this time instead of now (or `PYRA_CLOCK`'s time when set): RFC 3339 (`2027-03-28T01:00:00+01:00`), or a
        /// date or a time without an offset (`2027-03-28`, `2027-03-28T01:00`), read in each
        /// trigger's time zone.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// How many fire times to show per trigger (1 to 1000).
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Print a JSON array: one object per cron trigger (its index among the skill's
        /// triggers, the expression, the time zone, the times in RFC 3339).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(home: &Home, command: ScheduleCommand) -> Result<u8, Failure> {
    match command {
        ScheduleCommand::Next { skill, from, count, json } => next(home, &skill, from.as_deref(), count, json),
    }
}

/// Where counting starts: an instant, or a wall-clock time read in each trigger's zone.
enum From {
    Now(DateTime<Utc>),
    Instant(DateTime<FixedOffset>),
    Wall(NaiveDateTime),
}

fn parse_from(text: Option<&str>) -> Result<From, Failure> {
    let Some(text) = text else {
        let clock = Clock::from_env().map_err(|e| Failure::usage(e.to_string()))?;
        return Ok(From::Now(clock.now()));
    };
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(From::Instant(t));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(From::Wall(t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(From::Wall(d.and_time(chrono::NaiveTime::MIN)));
    }
    Err(Failure::usage(format!(
        "--from `{text}` is not a time\n  help: give RFC 3339 (`2027-03-28T01:00:00+01:00`), a date (`2027-03-28`) \
         or a time in the trigger's zone (`2027-03-28T01:00`)"
    )))
}

/// The fire times of one expression in `tz`, from `from`.
fn times<Z: TimeZone>(expr: &lang::cron::CronExpr, tz: &Z, from: &From, count: usize) -> Vec<DateTime<Z>> {
    let start = match from {
        From::Now(now) => now.with_timezone(tz),
        From::Instant(t) => t.with_timezone(tz),
        // A wall time skipped by DST counts from the end of the gap; a repeated one from
        // its first occurrence (the rule fixed-hour slots follow).
        From::Wall(w) => lang::cron::resolve_wall_time(tz, *w).unwrap_or_else(|| tz.from_utc_datetime(w)),
    };
    // Counting starts *at* the given time: a slot exactly then is shown.
    let start = start - chrono::Duration::seconds(1);
    expr.upcoming(&start, count)
}

fn next(home: &Home, arg: &str, from: Option<&str>, count: usize, as_json: bool) -> Result<u8, Failure> {
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(Failure::usage(format!("--count must be between 1 and {MAX_COUNT}, not {count}")));
    }
    let from = parse_from(from)?;
    let registry = plugins::builtin_registry();
    let (_, checked) = skills::load_checked(home, &registry, arg)?;
    let skill = &checked.skill;
    let mut rows = Vec::new();
    for (index, trigger) in skill.triggers.iter().enumerate() {
        let Trigger::Cron(c) = trigger else { continue };
        // Validation has checked the expression and the zone.
        let Ok(expr) = lang::cron::parse(&c.cron) else { continue };
        let (zone, shown): (Option<String>, Vec<(String, String)>) =
            match c.timezone.as_deref().map(str::parse::<chrono_tz::Tz>) {
                Some(Ok(tz)) => (
                    Some(tz.name().to_string()),
                    times(&expr, &tz, &from, count)
                        .iter()
                        .map(|t| (t.to_rfc3339(), t.format("%a %Y-%m-%d %H:%M %Z").to_string()))
                        .collect(),
                ),
                _ => (
                    None,
                    times(&expr, &Local, &from, count)
                        .iter()
                        .map(|t| (t.to_rfc3339(), t.format("%a %Y-%m-%d %H:%M %:z").to_string()))
                        .collect(),
                ),
            };
        rows.push((index, c.cron.clone(), zone, shown));
    }
    if as_json {
        let array: Vec<_> = rows
            .iter()
            .map(|(index, cron, zone, shown)| {
                json!({
                    "trigger": index,
                    "cron": cron,
                    "timezone": zone,
                    "next": shown.iter().map(|(rfc, _)| rfc).collect::<Vec<_>>(),
                })
            })
            .collect();
        out(&format!("{}\n", serde_json::to_string_pretty(&array).unwrap_or_else(|_| "[]".into())));
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        term::output::err(&format!("{} has no cron trigger\n", skill.name));
        return Ok(exit::OK);
    }
    let mut text = String::new();
    for (_, cron, zone, shown) in &rows {
        text.push_str(&format!("{}: cron \"{cron}\" ({})\n", skill.name, zone.as_deref().unwrap_or("local time")));
        if shown.is_empty() {
            text.push_str("  never fires\n");
        }
        for (_, human) in shown {
            text.push_str(&format!("  {human}\n"));
        }
    }
    out(&text);
    Ok(exit::OK)
}
