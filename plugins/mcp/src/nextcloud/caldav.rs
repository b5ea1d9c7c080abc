//! The calendar tools over CalDAV (RFC 4791): a `calendar-query` REPORT with the server
//! expanding recurrences for `calendar.events`; `PUT` with `If-None-Match: *` to create,
//! `GET` + `PUT` with `If-Match` to change, `DELETE` with `If-Match` to remove.

use chrono::{Duration, Utc};
use reqwest::Url;
use serde_json::{Value, json};

use super::dav::{self, XML_CAP};
use super::ical::{self, Component, Line};
use super::when::{self, When};
use super::{Ctx, required, result, str_arg};

const MAX_DAYS: i64 = 400;

/// An event (or one occurrence of a recurring one) as the tools show it.
fn event_json(
    ev: &Component,
    etag: Option<&str>,
    href: &str,
    tz: chrono_tz::Tz,
) -> Option<(chrono::DateTime<Utc>, Value)> {
    let start = When::from_line(ev.get("DTSTART")?).ok()?;
    let end = match (ev.get("DTEND"), ev.get("DURATION")) {
        (Some(l), _) => When::from_line(l).ok(),
        (None, Some(d)) => when::parse_duration(&d.value).map(|d| start.plus(d)),
        (None, None) if start.is_date() => Some(start.plus(Duration::days(1))),
        (None, None) => Some(start.clone()),
    }
    .unwrap_or_else(|| start.clone());
    let description = ev
        .text("DESCRIPTION")
        .map(|d| if d.chars().count() > 2000 { format!("{}…", d.chars().take(2000).collect::<String>()) } else { d });
    let value = json!({
        "uid": ev.text("UID"),
        "summary": ev.text("SUMMARY").unwrap_or_default(),
        "start": start.show(),
        "end": end.show(),
        "all_day": start.is_date(),
        "location": ev.text("LOCATION"),
        "description": description,
        "status": ev.text("STATUS"),
        "recurrence_id": ev.get("RECURRENCE-ID").and_then(|l| When::from_line(l).ok()).map(|w| w.show()),
        "recurring": ev.get("RRULE").is_some() || ev.get("RECURRENCE-ID").is_some(),
        "etag": etag,
        "href": href,
    });
    Some((start.instant(tz), value))
}

/// The range a call asks for, as UTC instants: `end` defaults to a day after `start`.
fn range(ctx: &Ctx<'_>, args: &Value) -> Result<(chrono::DateTime<Utc>, chrono::DateTime<Utc>), String> {
    let start = when::parse_input(super::required(args, "start")?, ctx.tz, "start")?;
    let end = match str_arg(args, "end").filter(|e| !e.trim().is_empty()) {
        Some(e) => when::parse_input(e, ctx.tz, "end")?,
        None => start.plus(Duration::days(1)),
    };
    let (s, mut e) = (start.instant(ctx.tz), end.instant(ctx.tz));
    if end.is_date() && end == start {
        e += Duration::days(1);
    }
    if e <= s {
        return Err(format!("`end` ({}) is not after `start` ({})", end.show(), start.show()));
    }
    if e - s > Duration::days(MAX_DAYS) {
        return Err(format!("the range is over {MAX_DAYS} days: ask for a shorter one"));
    }
    Ok((s, e))
}

pub async fn events(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let (start, end) = range(ctx, args)?;
    let (name, url) = ctx.collection(&ctx.calendar_home()?, args, "calendar", "calendar")?;
    let (s, e) = (when::utc_text(start), when::utc_text(end));
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="{s}" end="{e}"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{s}" end="{e}"/></C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"#
    );
    let responses = ctx.dav.multistatus("REPORT", &url, "1", body).await?;
    let mut found = Vec::new();
    let mut unreadable = 0;
    for r in &responses {
        let Some(data) = &r.props.calendar_data else { continue };
        let Ok(calendars) = ical::parse(data) else {
            unreadable += 1;
            continue;
        };
        for ev in calendars.iter().flat_map(|c| c.subs.iter()).filter(|c| c.name == "VEVENT") {
            match event_json(ev, r.props.etag.as_deref(), &r.href, ctx.tz) {
                Some(e) => found.push(e),
                None => unreadable += 1,
            }
        }
    }
    found.sort_by_key(|e| e.0);
    let events: Vec<Value> = found.into_iter().map(|(_, v)| v).collect();
    let mut text = if events.is_empty() {
        format!("no events in `{name}` from {} to {}", start.to_rfc3339(), end.to_rfc3339())
    } else {
        events
            .iter()
            .map(|e| {
                let place = e["location"].as_str().map(|l| format!(" @ {l}")).unwrap_or_default();
                format!(
                    "{} – {}  {}{place}",
                    e["start"].as_str().unwrap_or(""),
                    e["end"].as_str().unwrap_or(""),
                    e["summary"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if unreadable > 0 {
        text.push_str(&format!("\n({unreadable} item(s) the server sent could not be read and are left out)"));
    }
    Ok(result(
        text,
        json!({ "calendar": name, "start": start.to_rfc3339(), "end": end.to_rfc3339(), "events": events }),
    ))
}

/// A UID no one else has: the time, the process and a counter, hashed.
pub fn new_uid() -> String {
    use sha2::Digest;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let seed =
        format!("{:?}/{}/{}", std::time::SystemTime::now(), std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
    let hash = sha2::Sha256::digest(seed.as_bytes());
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}@pyra")
}

pub fn stamp() -> String {
    when::utc_text(Utc::now())
}

/// Where the text of a property lives: an empty value removes it.
pub fn set_text(ev: &mut Component, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        ev.set(name, (!v.is_empty()).then(|| Line::text(name, v)));
    }
}

pub async fn create(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let summary = required(args, "summary")?;
    let start = when::parse_input(required(args, "start")?, ctx.tz, "start")?;
    let end = match str_arg(args, "end").filter(|e| !e.trim().is_empty()) {
        Some(e) => when::parse_input(e, ctx.tz, "end")?,
        None if start.is_date() => start.plus(Duration::days(1)),
        None => start.plus(Duration::hours(1)),
    };
    if start.is_date() != end.is_date() {
        return Err("`start` and `end` must both be dates (all day) or both be times".into());
    }
    if end.instant(ctx.tz) < start.instant(ctx.tz) {
        return Err(format!("`end` ({}) is before `start` ({})", end.show(), start.show()));
    }
    let (name, url) = ctx.collection(&ctx.calendar_home()?, args, "calendar", "calendar")?;
    let uid = new_uid();
    let mut ev = Component::new("VEVENT");
    ev.lines.push(Line::text("UID", &uid));
    ev.lines.push(Line::new("DTSTAMP", stamp()));
    ev.lines.push(start.line("DTSTART"));
    ev.lines.push(end.line("DTEND"));
    set_text(&mut ev, "SUMMARY", Some(summary));
    set_text(&mut ev, "LOCATION", str_arg(args, "location"));
    set_text(&mut ev, "DESCRIPTION", str_arg(args, "description"));
    if let Some(rule) = str_arg(args, "rrule").filter(|r| !r.trim().is_empty()) {
        let rule = rule.trim().trim_start_matches("RRULE:");
        if !rule.starts_with("FREQ=") && !rule.contains(";FREQ=")
            || !rule.chars().all(|c| c.is_ascii_alphanumeric() || "=;,:+-".contains(c))
        {
            return Err(format!("`rrule: {rule}` is not a recurrence rule (e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10)"));
        }
        ev.lines.push(Line::new("RRULE", rule.to_ascii_uppercase()));
    }
    let (target, etag) = put_new(ctx, &url, &uid, &wrap(ev)).await?;
    let text = format!("created \"{summary}\" on {} – {} in `{name}`", start.show(), end.show());
    Ok(result(
        text,
        json!({ "uid": uid, "href": target.path(), "etag": etag, "start": start.show(), "end": end.show(), "calendar": name }),
    ))
}

/// A new VCALENDAR around `component`.
pub fn wrap(component: Component) -> Component {
    let mut cal = Component::new("VCALENDAR");
    cal.lines.push(Line::new("VERSION", "2.0"));
    cal.lines.push(Line::new("PRODID", "-//Pyra//nextcloud plugin//EN"));
    cal.subs.push(component);
    cal
}

/// PUTs a new calendar object named after its UID, never replacing one: its URL and
/// ETag (when the server gives one).
pub async fn put_new(
    ctx: &Ctx<'_>,
    collection: &Url,
    uid: &str,
    cal: &Component,
) -> Result<(Url, Option<String>), String> {
    let target = dav::under(collection, &[format!("{}.ics", uid.replace('@', "-"))], false);
    let headers = [("If-None-Match", "*".to_string()), ("Content-Type", "text/calendar; charset=utf-8".to_string())];
    let answer = ctx.dav.send("PUT", &target, &headers, Some(cal.render().into_bytes()), XML_CAP).await?;
    match answer.status {
        200..=299 => Ok((target, answer.etag)),
        412 => Err(format!("an item exists at {} already; nothing was changed", target.path())),
        s => Err(dav::status_error("PUT", &target, s)),
    }
}

fn conflict(href: &str, given: &str, now: Option<&str>) -> String {
    let now = now.map(|n| format!("; it is now {n}")).unwrap_or_default();
    format!(
        "conflict: {href} changed on the server since it was read (the call had etag {given}{now}); nothing was \
         changed — read it again (calendar.events, tasks.list) and retry with the new etag"
    )
}

/// The calendar object at `url`, for a change, if it still has `etag` (else a conflict).
pub async fn fetch(ctx: &Ctx<'_>, url: &Url, href: &str, etag: &str) -> Result<Vec<Component>, String> {
    let answer = ctx.dav.send("GET", url, &[], None, XML_CAP).await?;
    match answer.status {
        200 => {}
        404 => return Err(format!("nothing at {href} (deleted?): read the calendar again")),
        s => return Err(dav::status_error("GET", url, s)),
    }
    if answer.cut {
        return Err(format!("the item at {href} is over {} MB; not changed", XML_CAP / (1024 * 1024)));
    }
    if let Some(now) = answer.etag.as_deref()
        && !dav::same_etag(now, etag)
    {
        return Err(conflict(href, etag, Some(now)));
    }
    let text = String::from_utf8(answer.body).map_err(|_| format!("the item at {href} is not UTF-8 text"))?;
    ical::parse(&text).map_err(|e| format!("the item at {href} cannot be read: {e}"))
}

/// The master `kind` (`VEVENT`, `VTODO`) of an object: the one without a `RECURRENCE-ID`.
pub fn master<'c>(calendars: &'c mut [Component], kind: &str, href: &str) -> Result<&'c mut Component, String> {
    calendars
        .iter_mut()
        .filter(|c| c.name == "VCALENDAR")
        .flat_map(|c| c.subs.iter_mut())
        .filter(|c| c.name == kind)
        .min_by_key(|c| c.get("RECURRENCE-ID").is_some())
        .ok_or(format!("{href} holds no {kind}"))
}

/// What every change sets: SEQUENCE + 1, DTSTAMP and LAST-MODIFIED now.
pub fn touch(c: &mut Component) {
    let sequence = c.get("SEQUENCE").and_then(|l| l.value.trim().parse::<u32>().ok()).unwrap_or(0);
    c.set("SEQUENCE", Some(Line::new("SEQUENCE", (sequence + 1).to_string())));
    c.set("DTSTAMP", Some(Line::new("DTSTAMP", stamp())));
    c.set("LAST-MODIFIED", Some(Line::new("LAST-MODIFIED", stamp())));
}

/// PUTs a changed object back only if it still has `etag`: its new ETag.
pub async fn write_back(
    ctx: &Ctx<'_>,
    url: &Url,
    href: &str,
    etag: &str,
    calendars: &[Component],
) -> Result<Option<String>, String> {
    let body = calendars.iter().map(Component::render).collect::<String>();
    let headers = [("If-Match", etag.to_string()), ("Content-Type", "text/calendar; charset=utf-8".to_string())];
    let put = ctx.dav.send("PUT", url, &headers, Some(body.into_bytes()), XML_CAP).await?;
    match put.status {
        200..=299 => Ok(put.etag),
        412 => Err(conflict(href, etag, None)),
        s => Err(dav::status_error("PUT", url, s)),
    }
}

pub async fn update(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let href = required(args, "href")?;
    let etag = required(args, "etag")?;
    let url = dav::href_in(&ctx.calendar_home()?, href)?;
    let changes = ["summary", "start", "end", "location", "description"];
    if !changes.iter().any(|k| str_arg(args, k).is_some()) {
        return Err(format!("nothing to change: give one of {}", changes.join(", ")));
    }
    let start = str_arg(args, "start").map(|s| when::parse_input(s, ctx.tz, "start")).transpose()?;
    let end = str_arg(args, "end").map(|e| when::parse_input(e, ctx.tz, "end")).transpose()?;
    let mut calendars = fetch(ctx, &url, href, etag).await?;
    let ev = master(&mut calendars, "VEVENT", href)?;
    let old_start = ev.get("DTSTART").map(When::from_line).transpose()?;
    let old_length = match (&old_start, ev.get("DTEND"), ev.get("DURATION")) {
        (Some(s), Some(e), _) => When::from_line(e).ok().map(|e| e.instant(ctx.tz) - s.instant(ctx.tz)),
        (Some(_), None, Some(d)) => when::parse_duration(&d.value),
        _ => None,
    };
    let end = end.or_else(|| start.as_ref().zip(old_length).map(|(s, d)| s.plus(d)));
    if let Some(s) = &start {
        ev.set("DTSTART", Some(s.line("DTSTART")));
    }
    if let Some(e) = &end {
        ev.set("DURATION", None);
        ev.set("DTEND", Some(e.line("DTEND")));
    }
    set_text(ev, "SUMMARY", str_arg(args, "summary"));
    set_text(ev, "LOCATION", str_arg(args, "location"));
    set_text(ev, "DESCRIPTION", str_arg(args, "description"));
    touch(ev);
    let summary = ev.text("SUMMARY").unwrap_or_default();
    let new_etag = write_back(ctx, &url, href, etag, &calendars).await?;
    Ok(result(
        format!("updated \"{summary}\" ({href})"),
        json!({ "href": url.path(), "etag": new_etag, "summary": summary }),
    ))
}

pub async fn delete(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let href = required(args, "href")?;
    let etag = required(args, "etag")?;
    let url = dav::href_in(&ctx.calendar_home()?, href)?;
    let answer = ctx.dav.send("DELETE", &url, &[("If-Match", etag.to_string())], None, 64 * 1024).await?;
    match answer.status {
        200..=299 => Ok(result(format!("deleted {href}"), json!({ "href": url.path(), "deleted": true }))),
        412 => Err(conflict(href, etag, None)),
        404 => Err(format!("no event at {href} (deleted already?)")),
        s => Err(dav::status_error("DELETE", &url, s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_a_duration_or_a_date_has_an_end() {
        let tz = chrono_tz::UTC;
        let cal = ical::parse(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nSUMMARY:Stand-up\nDTSTART:20261208T090000Z\nDURATION:PT15M\nRRULE:FREQ=DAILY\nEND:VEVENT\nBEGIN:VEVENT\nUID:2\nDTSTART;VALUE=DATE:20261208\nEND:VEVENT\nEND:VCALENDAR\n",
        )
        .unwrap();
        let (_, a) = event_json(&cal[0].subs[0], Some("\"e\""), "/c/1.ics", tz).unwrap();
        assert_eq!(
            (a["start"].as_str(), a["end"].as_str()),
            (Some("2026-12-08T09:00:00Z"), Some("2026-12-08T09:15:00Z"))
        );
        assert_eq!(a["recurring"], true);
        let (_, b) = event_json(&cal[0].subs[1], None, "/c/2.ics", tz).unwrap();
        assert_eq!((b["end"].as_str(), b["all_day"].as_bool()), (Some("2026-12-09"), Some(true)));
        assert_ne!(new_uid(), new_uid());
    }
}
