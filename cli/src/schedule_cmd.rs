//! `pyra schedule next SKILL`: when a skill's cron triggers fire next, under the DST rules
//! of `lang::cron`. Pure computation from the skill file and a start time (`--from`, or
//! now as the `clock` reads it, so `PYRA_CLOCK` can stand in for a night to check):
//! nothing runs, nothing is recorded, and no schedule moves. `list` (every trigger the
//! daemon arms, with its next fire and last outcome) and `history` (every slot's outcome)
//! only read too; `run` starts a run marked manual, in the daemon when it runs.

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
    /// Every trigger the daemon arms: skill, kind, spec, time zone, next fire (a watch: its
    /// state), last outcome.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// What each slot of a skill's cron triggers and each batch of its watch triggers did:
    /// ran, caught up, skipped (why), failed to start (why); newest first.
    History {
        /// A skill name.
        skill: String,
        /// How many slots to show.
        #[arg(long, short = 'n', default_value_t = 50)]
        limit: usize,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Run a skill now, marked manual (in the daemon when it runs); its schedule is untouched.
    Run {
        /// A skill name.
        skill: String,
    },
}

pub fn run(home: &Home, command: ScheduleCommand) -> Result<u8, Failure> {
    match command {
        ScheduleCommand::Next { skill, from, count, json } => next(home, &skill, from.as_deref(), count, json),
        ScheduleCommand::List { json } => list(home, json),
        ScheduleCommand::History { skill, limit, json } => history(home, &skill, limit, json),
        ScheduleCommand::Run { skill } => run_now(home, &skill),
    }
}

/// The history tables, when `pyra.db` exists (a read-only command creates nothing).
fn open_history(home: &Home) -> Result<Option<daemon::history::History>, Failure> {
    let path = home.root.join("pyra.db");
    if !path.exists() {
        return Ok(None);
    }
    daemon::history::History::open(&path).map(Some).map_err(Failure::failed)
}

fn list(home: &Home, as_json: bool) -> Result<u8, Failure> {
    use daemon::core::Catalog;
    let catalog = crate::daemon_cmd::catalog(home)?;
    let registry = crate::plugin_host::registry(home);
    let now = Clock::from_env().map_err(|e| Failure::usage(e.to_string()))?.now();
    let last: std::collections::HashMap<(String, String), daemon::history::SlotRow> = match open_history(home)? {
        Some(h) => h
            .last_outcomes()
            .map_err(Failure::failed)?
            .into_iter()
            .map(|r| ((r.skill.clone(), r.trigger.clone()), r))
            .collect(),
        None => Default::default(),
    };
    let policy = paths::PathPolicy::new(&home.root);
    // A running daemon knows each watch's state (events, or polling and why).
    let states: std::collections::HashMap<(String, String), String> = match crate::daemon_client::running(home)
        .and_then(|_| crate::daemon_client::ask(home, "status", json!({})).ok())
    {
        Some(status) => status["triggers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["kind"] == "watch")
            .filter_map(|t| {
                let key = (t["skill"].as_str()?.to_string(), t["spec"].as_str()?.to_string());
                Some((key, t["state"].as_str()?.to_string()))
            })
            .collect(),
        None => Default::default(),
    };
    let mut rows = Vec::new();
    for entry in catalog.skills() {
        let Ok(text) = entry.text else { continue };
        let Ok(program) = runtime::compile(&registry, &text) else {
            term::output::err(&format!(
                "note: {} does not validate (`pyra skill validate {}`)\n",
                entry.name, entry.name
            ));
            continue;
        };
        for trigger in &program.skill.triggers {
            let before = rows.len();
            match trigger {
                Trigger::Cron(c) => {
                    let Ok(expr) = lang::cron::parse(&c.cron) else { continue };
                    let zone = daemon::core::Zone::parse(c.timezone.as_deref());
                    let key = daemon::core::cron_key(&expr, &zone);
                    let next = zone.next_after(&expr, now - chrono::Duration::seconds(1));
                    let last = last.get(&(entry.name.clone(), key));
                    rows.push(json!({
                        "skill": entry.name, "kind": "cron", "spec": c.cron, "timezone": zone.name(),
                        "next": next.map(|t| t.to_rfc3339()),
                        "last": last.map(|r| json!({
                            "slot": daemon::core::rfc(r.slot), "outcome": r.outcome, "reason": r.reason,
                            "run": r.run_id, "run_status": r.run_status,
                        })),
                    }));
                }
                Trigger::Event(e) => rows.push(json!({
                    "skill": entry.name, "kind": "event", "spec": e.event, "timezone": null, "next": null, "last": null,
                })),
                Trigger::Watch(w) => {
                    let Ok(def) = daemon::watch::WatchDef::new(&entry.name, w, &policy) else { continue };
                    let last = last.get(&(entry.name.clone(), def.key.clone()));
                    let state = states
                        .get(&(entry.name.clone(), def.key.clone()))
                        .cloned()
                        .unwrap_or_else(|| format!("{} (no daemon)", daemon::watch::expected_mode(&def)));
                    rows.push(json!({
                        "skill": entry.name, "kind": "watch", "spec": def.key, "paths": def.shown, "state": state,
                        "timezone": null, "next": null,
                        "last": last.map(|r| json!({
                            "slot": daemon::core::rfc(r.slot), "outcome": r.outcome, "reason": r.reason,
                            "run": r.run_id, "run_status": r.run_status,
                        })),
                    }));
                }
            }
            // `enabled: false`: listed, never fired.
            if !trigger.enabled()
                && rows.len() > before
                && let Some(row) = rows.last_mut().and_then(serde_json::Value::as_object_mut)
            {
                row.insert("enabled".into(), false.into());
                row.insert("next".into(), serde_json::Value::Null);
                row.insert("state".into(), "disabled".into());
            }
        }
    }
    if as_json {
        out(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())));
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        term::output::err("no skill has a trigger\n");
        return Ok(exit::OK);
    }
    let mut text = format!("{:<20} {:<6} {:<18} {:<16} {:<26} {}\n", "SKILL", "KIND", "SPEC", "ZONE", "NEXT", "LAST");
    for r in &rows {
        let spec = match &r["spec"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let last = match &r["last"] {
            serde_json::Value::Null => "-".to_string(),
            l => format!("{} {}", l["outcome"].as_str().unwrap_or("?"), l["slot"].as_str().unwrap_or("?")),
        };
        // A watch has no next fire: its state stands there.
        let next = r["next"].as_str().or(r["state"].as_str()).unwrap_or("-");
        text.push_str(&format!(
            "{:<20} {:<6} {:<18} {:<16} {:<26} {last}\n",
            r["skill"].as_str().unwrap_or("?"),
            r["kind"].as_str().unwrap_or("?"),
            spec,
            r["timezone"].as_str().unwrap_or("-"),
            next,
        ));
    }
    out(&text);
    Ok(exit::OK)
}

fn history(home: &Home, skill: &str, limit: usize, as_json: bool) -> Result<u8, Failure> {
    let rows = match open_history(home)? {
        Some(h) => h.slots(Some(skill), limit.max(1)).map_err(Failure::failed)?,
        None => Vec::new(),
    };
    if as_json {
        let array: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "slot": daemon::core::rfc(r.slot), "trigger": r.trigger, "outcome": r.outcome,
                    "reason": r.reason, "run": r.run_id, "run_status": r.run_status,
                    "decided_at": daemon::core::rfc(r.decided_at),
                })
            })
            .collect();
        out(&format!("{}\n", serde_json::to_string_pretty(&array).unwrap_or_else(|_| "[]".into())));
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        term::output::err(&format!("no slot of {skill} has been decided yet (the daemon records them)\n"));
        return Ok(exit::OK);
    }
    let mut text = format!("{:<27} {:<16} {:<10} {:<16} {}\n", "SLOT", "OUTCOME", "REASON", "RUN", "TRIGGER");
    for r in &rows {
        let run = match (&r.run_id, &r.run_status) {
            (Some(id), Some(status)) => format!("{id} {status}"),
            (Some(id), None) => format!("{id} queued"),
            _ => "-".into(),
        };
        text.push_str(&format!(
            "{:<27} {:<16} {:<10} {:<16} {}\n",
            daemon::core::rfc(r.slot),
            r.outcome,
            r.reason.as_deref().unwrap_or("-"),
            run,
            r.trigger
        ));
    }
    out(&text);
    Ok(exit::OK)
}

fn run_now(home: &Home, skill: &str) -> Result<u8, Failure> {
    match crate::daemon_client::ask(home, "run", json!({ "skill": skill })) {
        Ok(reply) => {
            out(&format!("{}\n", reply["run"].as_str().unwrap_or("?")));
            term::output::err(&format!(
                "run started in the daemon (manual); `pyra runs show {}` follows it\n",
                reply["run"].as_str().unwrap_or("?")
            ));
            Ok(exit::OK)
        }
        Err(crate::daemon_client::AskError::NotRunning) => {
            // No daemon: run it here, as `pyra run` would, recorded as manual.
            let source = skills::resolve(home, skill)?;
            let text = source.text()?;
            let registry = std::sync::Arc::new(crate::plugin_host::registry(home));
            let program = runtime::compile(&registry, &text).map_err(crate::runner::run_failure)?;
            let session = crate::runner::Session::with_registry(home, false, registry)?;
            let origin = runtime::Origin { id: None, started_by: Some("manual".into()), scheduled_for: None };
            let report = session
                .block_on(session.runtime.start_as(program, &text, serde_json::Map::new(), origin))
                .map_err(crate::runner::run_failure)?;
            Ok(crate::runner::report(&report, false, &session.progress))
        }
        Err(e) => Err(e.into_failure()),
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

/// A cron trigger's next fire times: (trigger index, expression, zone, [(RFC 3339, as shown)]).
type CronRow = (usize, String, Option<String>, Vec<(String, String)>);

/// The next `count` fire times of each cron trigger of `skill`, from `from`.
fn cron_rows(skill: &lang::Skill, from: &From, count: usize) -> Vec<CronRow> {
    let mut rows = Vec::new();
    for (index, trigger) in skill.triggers.iter().enumerate() {
        let Trigger::Cron(c) = trigger else { continue };
        // Validation has checked the expression and the zone.
        let Ok(expr) = lang::cron::parse(&c.cron) else { continue };
        let (zone, shown): (Option<String>, Vec<(String, String)>) =
            match c.timezone.as_deref().map(str::parse::<chrono_tz::Tz>) {
                Some(Ok(tz)) => (
                    Some(tz.name().to_string()),
                    times(&expr, &tz, from, count)
                        .iter()
                        .map(|t| (t.to_rfc3339(), t.format("%a %Y-%m-%d %H:%M %Z").to_string()))
                        .collect(),
                ),
                _ => (
                    None,
                    times(&expr, &Local, from, count)
                        .iter()
                        .map(|t| (t.to_rfc3339(), t.format("%a %Y-%m-%d %H:%M %:z").to_string()))
                        .collect(),
                ),
            };
        rows.push((index, c.cron.clone(), zone, shown));
    }
    rows
}

/// For a skill not saved yet (a draft): each cron trigger and its next fire times, from
/// the clock (`PYRA_CLOCK` honoured), as lines to show.
pub(crate) fn next_fires(skill: &lang::Skill, count: usize) -> Vec<String> {
    let Ok(from) = parse_from(None) else { return Vec::new() };
    cron_rows(skill, &from, count)
        .into_iter()
        .map(|(_, cron, zone, shown)| {
            let times: Vec<String> = shown.into_iter().map(|(_, h)| h).collect();
            let when = if times.is_empty() { "never fires".to_string() } else { times.join(" · ") };
            format!("cron \"{cron}\" ({}): {when}", zone.as_deref().unwrap_or("local time"))
        })
        .collect()
}

fn next(home: &Home, arg: &str, from: Option<&str>, count: usize, as_json: bool) -> Result<u8, Failure> {
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(Failure::usage(format!("--count must be between 1 and {MAX_COUNT}, not {count}")));
    }
    let from = parse_from(from)?;
    let registry = crate::plugin_host::registry(home);
    let (_, checked) = skills::load_checked(home, &registry, arg)?;
    let skill = &checked.skill;
    let rows = cron_rows(skill, &from, count);
    if as_json {
        let array: Vec<_> = rows
            .iter()
            .map(|(index, cron, zone, shown)| {
                json!({
                    "trigger": index,
                    "enabled": skill.triggers[*index].enabled(),
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
    for (index, cron, zone, shown) in &rows {
        // A disabled trigger's times are what it would do once enabled.
        let off = if skill.triggers[*index].enabled() { "" } else { " — disabled (`enabled: false`)" };
        text.push_str(&format!("{}: cron \"{cron}\" ({}){off}\n", skill.name, zone.as_deref().unwrap_or("local time")));
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
