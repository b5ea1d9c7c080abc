//! Executors for the kinds that compute or control: `template` (its value is the output),
//! `wait` (durable: the end time is recorded, so a restart keeps the deadline),
//! `approval` (a person decides; durable) and `skill` (a child run).

use std::time::Duration;

use chrono::{DateTime, Local, NaiveTime, TimeZone};
use runtime::{ApprovalRequest, ApprovalState, Asked, BoxFuture, Executor, NodeCtx, NodeError, Outcome, Output};
use serde_json::{Value, json};

fn duration_field(with: &Value, field: &str) -> Result<Option<Duration>, NodeError> {
    match with.get(field).and_then(Value::as_str) {
        None => Ok(None),
        Some(text) => syntax::duration::parse(text)
            .map(Some)
            .ok_or_else(|| NodeError::Fatal(format!("`{field}`: `{text}` is not a duration (e.g. `30s`, `5m`, `1h`)"))),
    }
}

/// `template`: the rendered `value` is the output, typed.
pub struct Template;

impl Executor for Template {
    fn execute(&self, _ctx: NodeCtx, mut with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        let value = with.get_mut("value").map(Value::take).unwrap_or(Value::Null);
        Box::pin(async move { Ok(Outcome::Done(Output::trusted(value))) })
    }

    fn is_inline(&self) -> bool {
        true
    }

    fn run_inline(&self, mut with: Value) -> Option<Result<Outcome, NodeError>> {
        let value = with.get_mut("value").map(Value::take).unwrap_or(Value::Null);
        Some(Ok(Outcome::Done(Output::trusted(value))))
    }
}

/// `wait`: sleeps until a recorded end time.
pub struct Wait;

/// The longest a `wait` sleeps before looking at the wall clock again.
const WALL_RECHECK: Duration = Duration::from_secs(5);

/// When `until` means: RFC 3339, or `HH:MM` (today, or tomorrow if already past).
pub fn parse_until(text: &str, now: DateTime<Local>) -> Result<DateTime<Local>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Local));
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| format!("`until`: `{text}` is neither RFC 3339 (`2026-12-01T09:00:00+01:00`) nor `HH:MM`"))?;
    let mut day = now.date_naive();
    loop {
        if let Some(at) = Local.from_local_datetime(&day.and_time(time)).earliest()
            && at > now
        {
            return Ok(at);
        }
        day = day.succ_opt().ok_or("`until` is out of range")?;
    }
}

impl Executor for Wait {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let now = Local::now();
            // A restart must not restart the clock: the end time is recorded once.
            let recorded = ctx.durable_state().and_then(|s| s.get("until_ms").and_then(Value::as_i64));
            let until_ms = match recorded {
                Some(ms) => ms,
                None => {
                    let end = match (duration_field(&with, "duration")?, with.get("until").and_then(Value::as_str)) {
                        (Some(d), _) => {
                            now + chrono::Duration::from_std(d).map_err(|e| NodeError::Fatal(e.to_string()))?
                        }
                        (None, Some(until)) => parse_until(until, now).map_err(NodeError::Fatal)?,
                        (None, None) => return Err(NodeError::Fatal("give `duration` or `until`".into())),
                    };
                    let ms = end.timestamp_millis();
                    ctx.set_durable_state(&json!({ "until_ms": ms }))?;
                    ms
                }
            };
            // The end is a wall-clock time: the wait looks at the wall clock again every few
            // seconds, so a suspended machine or a clock step ends it on time (a monotonic
            // sleep of the whole length would be late by the time asleep).
            loop {
                let left = until_ms - Local::now().timestamp_millis();
                if left <= 0 {
                    break;
                }
                let nap = Duration::from_millis(left as u64).min(WALL_RECHECK);
                tokio::select! {
                    () = tokio::time::sleep(nap) => {}
                    () = ctx.cancel.cancelled() => return Err(NodeError::Cancelled),
                }
            }
            let until = DateTime::from_timestamp_millis(until_ms).map(|t| t.with_timezone(&Local).to_rfc3339());
            Ok(Outcome::Done(Output::trusted(json!({ "until": until }))))
        })
    }
}

/// `approval`: asks a person; the output is `{approved, by, reason, at}`.
pub struct Approval;

impl Executor for Approval {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let message = with.get("message").and_then(Value::as_str).unwrap_or_default().to_string();
            let timeout = duration_field(&with, "timeout")?.unwrap_or(Duration::from_secs(3600));
            let on_timeout = match with.get("on_timeout").and_then(Value::as_str) {
                Some("approve") => ApprovalState::Approved,
                _ => ApprovalState::Rejected,
            };
            let request =
                ApprovalRequest { message, details: with.get("details").cloned(), timeout, on_timeout, sub: None };
            match ctx.request_approval(request).await? {
                Asked::Answered(answer) if answer.approved => Ok(Outcome::Done(Output::trusted(answer.to_output()))),
                Asked::Answered(answer) => Ok(Outcome::Rejected(Output::trusted(answer.to_output()))),
                Asked::Parked => Ok(Outcome::Waiting(format!(
                    "waiting for approval: `pyra approve {} {}` or `pyra reject {} {}`",
                    ctx.run_id,
                    ctx.key(),
                    ctx.run_id,
                    ctx.key()
                ))),
            }
        })
    }
}

/// `skill`: runs another skill; its outputs are this node's output.
pub struct Skill;

impl Executor for Skill {
    fn execute(&self, ctx: NodeCtx, with: Value) -> BoxFuture<'static, Result<Outcome, NodeError>> {
        Box::pin(async move {
            let name = with.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            // A name, never a path: a rendered name must not walk the file system.
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return Err(NodeError::Fatal(format!(
                    "`name`: `{name}` is not a skill name (lowercase letters, digits, `-`, `_`)"
                )));
            }
            let inputs = with.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default();
            ctx.run_skill(&name, inputs).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_rfc3339_or_a_clock_time() {
        let now = Local.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        assert_eq!(parse_until("11:30", now).unwrap(), Local.with_ymd_and_hms(2026, 11, 25, 11, 30, 0).unwrap());
        assert_eq!(parse_until("09:00", now).unwrap(), Local.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap());
        assert!(parse_until("2026-12-01T09:00:00+01:00", now).is_ok());
        assert!(parse_until("tomorrow", now).is_err());
    }
}
