//! Tasks (VTODO, RFC 5545 §3.6.2) in a CalDAV calendar: `tasks.list` (open ones unless
//! asked for all), `tasks.create`, and `tasks.complete`, ETag-checked like an event's
//! change.

use chrono::Utc;
use serde_json::{Value, json};

use super::caldav::{fetch, master, new_uid, put_new, set_text, touch, wrap, write_back};
use super::ical::{self, Component, Line};
use super::when::{self, When};
use super::{Ctx, dav, required, result, str_arg};

fn done(todo: &Component) -> bool {
    todo.get("COMPLETED").is_some()
        || todo
            .text("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("COMPLETED") || s.eq_ignore_ascii_case("CANCELLED"))
}

fn task_json(todo: &Component, etag: Option<&str>, href: &str) -> Value {
    let when = |name: &str| todo.get(name).and_then(|l| When::from_line(l).ok()).map(|w| w.show());
    json!({
        "uid": todo.text("UID"),
        "summary": todo.text("SUMMARY").unwrap_or_default(),
        "due": when("DUE"),
        "start": when("DTSTART"),
        "status": todo.text("STATUS"),
        "priority": todo.get("PRIORITY").and_then(|l| l.value.trim().parse::<u8>().ok()),
        "completed": when("COMPLETED"),
        "description": todo.text("DESCRIPTION"),
        "done": done(todo),
        "etag": etag,
        "href": href,
    })
}

pub async fn list(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let all = args.get("include_completed").and_then(Value::as_bool).unwrap_or(false);
    let (name, url) = ctx.collection(&ctx.calendar_home()?, args, "calendar", "calendar")?;
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter></C:filter>
</C:calendar-query>"#;
    let responses = ctx.dav.multistatus("REPORT", &url, "1", body.to_string()).await?;
    let mut tasks: Vec<(Option<chrono::DateTime<Utc>>, Value)> = Vec::new();
    for r in &responses {
        let Some(data) = &r.props.calendar_data else { continue };
        let Ok(calendars) = ical::parse(data) else { continue };
        let todos = calendars.iter().flat_map(|c| c.subs.iter()).filter(|c| c.name == "VTODO");
        for todo in todos.filter(|t| all || !done(t)).filter(|t| t.get("RECURRENCE-ID").is_none()) {
            let due = todo.get("DUE").and_then(|l| When::from_line(l).ok()).map(|w| w.instant(ctx.tz));
            tasks.push((due, task_json(todo, r.props.etag.as_deref(), &r.href)));
        }
    }
    // Due ones first, soonest first; then the rest by title.
    tasks.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1["summary"].as_str().cmp(&b.1["summary"].as_str()),
    });
    let tasks: Vec<Value> = tasks.into_iter().map(|(_, t)| t).collect();
    let text = if tasks.is_empty() {
        format!("no {}tasks in `{name}`", if all { "" } else { "open " })
    } else {
        tasks
            .iter()
            .map(|t| {
                let mark = if t["done"] == true { "[x]" } else { "[ ]" };
                let due = t["due"].as_str().map(|d| format!(" (due {d})")).unwrap_or_default();
                format!("{mark} {}{due}", t["summary"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(result(text, json!({ "calendar": name, "tasks": tasks })))
}

pub async fn create(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let summary = required(args, "summary")?;
    let due = str_arg(args, "due")
        .filter(|d| !d.trim().is_empty())
        .map(|d| when::parse_input(d, ctx.tz, "due"))
        .transpose()?;
    let (name, url) = ctx.collection(&ctx.calendar_home()?, args, "calendar", "calendar")?;
    let uid = new_uid();
    let mut todo = Component::new("VTODO");
    todo.lines.push(Line::text("UID", &uid));
    todo.lines.push(Line::new("DTSTAMP", super::caldav::stamp()));
    set_text(&mut todo, "SUMMARY", Some(summary));
    if let Some(d) = &due {
        todo.lines.push(d.line("DUE"));
    }
    if let Some(p) = args.get("priority").and_then(Value::as_u64) {
        todo.lines.push(Line::new("PRIORITY", p.min(9).to_string()));
    }
    set_text(&mut todo, "DESCRIPTION", str_arg(args, "description"));
    todo.lines.push(Line::new("STATUS", "NEEDS-ACTION"));
    let (target, etag) = put_new(ctx, &url, &uid, &wrap(todo)).await?;
    let due_text = due.as_ref().map(|d| format!(" (due {})", d.show())).unwrap_or_default();
    Ok(result(
        format!("added the task \"{summary}\"{due_text} to `{name}`"),
        json!({ "uid": uid, "href": target.path(), "etag": etag, "due": due.map(|d| d.show()), "calendar": name }),
    ))
}

pub async fn complete(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let href = required(args, "href")?;
    let etag = required(args, "etag")?;
    let url = dav::href_in(&ctx.calendar_home()?, href)?;
    let mut calendars = fetch(ctx, &url, href, etag).await?;
    let todo = master(&mut calendars, "VTODO", href)?;
    let now = When::Utc(Utc::now());
    todo.set("STATUS", Some(Line::new("STATUS", "COMPLETED")));
    todo.set("COMPLETED", Some(now.line("COMPLETED")));
    todo.set("PERCENT-COMPLETE", Some(Line::new("PERCENT-COMPLETE", "100")));
    touch(todo);
    let summary = todo.text("SUMMARY").unwrap_or_default();
    let new_etag = write_back(ctx, &url, href, etag, &calendars).await?;
    Ok(result(format!("completed \"{summary}\""), json!({ "href": url.path(), "etag": new_etag, "summary": summary })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_done_when_completed_or_cancelled() {
        let cal = ical::parse(
            "BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:a\nSUMMARY:Open\nDUE;VALUE=DATE:20310310\nEND:VTODO\nBEGIN:VTODO\nUID:b\nSTATUS:CANCELLED\nEND:VTODO\nBEGIN:VTODO\nUID:c\nCOMPLETED:20310301T100000Z\nEND:VTODO\nEND:VCALENDAR\n",
        )
        .unwrap();
        let todos = &cal[0].subs;
        assert_eq!(todos.iter().map(done).collect::<Vec<_>>(), [false, true, true]);
        let t = task_json(&todos[0], Some("\"1\""), "/t/a.ics");
        assert_eq!((t["due"].as_str(), t["done"].as_bool()), (Some("2031-03-10"), Some(false)));
    }
}
