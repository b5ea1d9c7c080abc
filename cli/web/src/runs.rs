//! The runs pages: the list (filters, stable pages), one run (its DAG coloured by state, a
//! timeline of every attempt, each node's input, output, error, findings and usage, the
//! log), its live stream over Server-Sent Events, and cancel and retry.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, TimeZone};
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use runtime::Store;
use runtime::record::{Cursor, RunPage, RunStatus, TriggerFilter};

use crate::app::{App, param};
use crate::http::{Body, ChannelBody, see_other};
use crate::svg::{self, Bar};
use crate::view::{clean, clean_json, duration, time};

const STATUSES: &[&str] = &["running", "waiting", "succeeded", "failed", "cancelled", "interrupted"];
const TRIGGERS: &[&str] = &["manual", "cron", "event", "webhook", "watch", "channel", "none"];
/// How often the event stream looks for new rows.
const POLL: Duration = Duration::from_millis(250);
/// A comment line keeps idle connections open through proxies and shows a dead client.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `since`: a date (`2026-12-01`), an RFC 3339 time, or an age (`90m`, `2h`, `3d`).
fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0).and_then(|t| Local.from_local_datetime(&t).single())
    {
        return Ok(t.timestamp_millis());
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if unit_ms > 0 && n >= 0 => Ok(runtime::now_ms() - n * unit_ms),
        _ => Err(format!("`since` is not a date, a time or an age like 2h: `{text}`")),
    }
}

pub fn list(app: &Arc<App>, query: &[(String, String)]) -> Response<Body> {
    let mut page = RunPage { limit: 50, ..RunPage::default() };
    let mut error = None;
    if let Some(s) = param(query, "status") {
        match RunStatus::parse(s) {
            Some(s) => page.status = Some(s),
            None => error = Some(format!("no status `{s}`: {}", STATUSES.join(", "))),
        }
    }
    page.skill = param(query, "skill").map(str::to_string);
    page.trigger = param(query, "trigger").map(TriggerFilter::parse);
    if let Some(since) = param(query, "since") {
        match parse_since(since) {
            Ok(t) => page.since = Some(t),
            Err(e) => error = Some(e),
        }
    }
    if let Some(cursor) = param(query, "after") {
        match cursor.parse::<Cursor>() {
            Ok(c) => page.after = Some(c),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let (runs, next) = if error.is_some() {
        (Vec::new(), None)
    } else {
        match app.daemon.setup.sqlite.list_runs_page(&page) {
            Ok(found) => found,
            Err(e) => {
                error = Some(e.to_string());
                (Vec::new(), None)
            }
        }
    };
    let rows: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "skill": r.skill, "status": r.status.as_str(),
                "trigger": r.started_by.clone().unwrap_or_else(|| "command".into()),
                "started": time(r.created_at), "took": r.finished_at.map(|f| duration(f - r.created_at)),
            })
        })
        .collect();
    // The same filters, with the next page's cursor.
    let kept: Vec<(&str, &str)> =
        ["status", "skill", "trigger", "since"].into_iter().filter_map(|k| param(query, k).map(|v| (k, v))).collect();
    let link = |after: Option<String>| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(kept.iter().copied());
        if let Some(a) = &after {
            q.append_pair("after", a);
        }
        format!("/runs?{}", q.finish())
    };
    let filter = json!({
        "status": param(query, "status"), "skill": param(query, "skill"),
        "trigger": param(query, "trigger"), "since": param(query, "since"),
    });
    let context = json!({
        "runs": rows, "filter": filter, "statuses": STATUSES, "triggers": TRIGGERS, "error": error,
        "next_page": next.map(|c| link(Some(c.to_string()))),
        "first_page": page.after.as_ref().map(|_| link(None)),
    });
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    app.page_with("runs.html", "Runs", "runs", context, status)
}

/// What the run page and its live part show.
fn run_context(app: &Arc<App>, id: &str) -> Result<Value, Response<Body>> {
    let store = &app.daemon.setup.sqlite;
    let not_found = || app.message(StatusCode::NOT_FOUND, "No such run", &format!("No run `{id}` is recorded."));
    let run = store.run(id).map_err(|_| not_found())?.ok_or_else(not_found)?;
    let masker = app.masker();
    let nodes = store.nodes(id).unwrap_or_default();
    let spans = store.attempts(id).unwrap_or_default();
    let now = runtime::now_ms();
    let states: std::collections::HashMap<&str, &str> = nodes.iter().map(|n| (&*n.node, n.status.as_str())).collect();
    let dag = match app.daemon.armed(&run.skill) {
        Some((program, _)) => crate::pages::dag(&program, &|n| states.get(n).copied()),
        // A skill no longer armed: drawn from the run's nodes alone.
        None => svg::dag(
            &nodes
                .iter()
                .map(|n| svg::DagNode { id: n.node.to_string(), kind: String::new(), deps: Vec::new() })
                .collect::<Vec<_>>(),
            &|n| states.get(n).copied(),
        ),
    };
    let bars: Vec<Bar> = spans
        .iter()
        .map(|s| Bar {
            node: s.node.clone(),
            attempt: s.attempt,
            start: s.started_at,
            end: s.ended_at,
            state: s.state.as_str().to_string(),
        })
        .collect();
    let node_rows: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let findings: Vec<String> = n
                .findings
                .as_ref()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|f| clean(&masker, &f.to_string()))
                .collect();
            json!({
                "node": n.node, "status": n.status.as_str(), "attempts": n.attempts,
                "took": n.duration_ms().map(duration),
                "input": n.input.as_ref().map(|v| clean_json(&masker, v)),
                "output": n.output.as_ref().map(|v| clean_json(&masker, v)),
                "error": n.error.as_deref().map(|e| clean(&masker, e)),
                "untrusted": n.untrusted, "findings": findings,
                "usage": n.usage.as_ref().map(|v| clean_json(&masker, v)),
            })
        })
        .collect();
    let approvals: Vec<Value> = store
        .approvals(id)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.state == runtime::record::ApprovalState::Pending)
        .map(|a| {
            json!({
                "node": a.node, "message": clean(&masker, &a.message),
                "deadline": a.deadline, "deadline_text": time(a.deadline),
            })
        })
        .collect();
    let all_logs = store.logs(id, None).unwrap_or_default();
    let logs: Vec<Value> = all_logs
        .iter()
        .skip(all_logs.len().saturating_sub(500))
        .map(|l| {
            json!({
                "at": time(l.at), "level": l.level.as_str(), "node": l.node, "message": clean(&masker, &l.message),
            })
        })
        .collect();
    let retryable = matches!(run.status, RunStatus::Failed | RunStatus::Cancelled | RunStatus::Interrupted);
    Ok(json!({
        "run": {
            "id": run.id, "skill": run.skill, "status": run.status.as_str(),
            "error": run.error.as_deref().map(|e| clean(&masker, e)), "trigger": run.started_by,
        },
        "run_id": run.id,
        "final": run.status.is_final(),
        "retryable": retryable,
        "started": time(run.created_at),
        "took": run.finished_at.map(|f| duration(f - run.created_at)),
        "inputs": clean_json(&masker, &run.inputs),
        "outputs": run.outputs.as_ref().map(|o| clean_json(&masker, o)),
        "dag": dag,
        "timeline": svg::timeline(&bars, now),
        "nodes": node_rows,
        "approvals": approvals,
        "logs": logs,
    }))
}

/// A run's page; `?part=live` is only the parts the page's script swaps in.
pub fn show(app: &Arc<App>, id: &str, query: &[(String, String)]) -> Response<Body> {
    let context = match run_context(app, id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if param(query, "part") == Some("live") {
        let mut all = app.base("", "runs");
        if let (Some(all), Value::Object(more)) = (all.as_object_mut(), context) {
            all.extend(more);
        }
        return crate::view::page(&app.env, "run_live.html", all);
    }
    app.page("run.html", &format!("Run {id}"), "runs", context)
}

/// The run's changes as Server-Sent Events: each row of the store's event log once, its
/// id the SSE id, so a browser reconnecting with `Last-Event-ID` resumes after it. The
/// store is polled (runs of other processes write the same file); the stream ends a
/// little after the run does.
pub fn events(app: &Arc<App>, id: &str, parts: &Parts) -> Response<Body> {
    let store = app.daemon.setup.sqlite.clone();
    if !matches!(store.run(id), Ok(Some(_))) {
        return crate::http::text(StatusCode::NOT_FOUND, "no such run");
    }
    let mut after: i64 = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let run = id.to_string();
    let masker = app.masker();
    tokio::spawn(async move {
        let mut quiet = Duration::ZERO;
        let mut ended_for = Duration::ZERO;
        if tx.send(hyper::body::Bytes::from_static(b"retry: 1000\n\n")).await.is_err() {
            return;
        }
        loop {
            let rows = store.events_since(Some(&run), after, 200).unwrap_or_default();
            for e in &rows {
                after = e.id;
                let data = json!({
                    "kind": e.kind, "node": e.node, "attempt": e.attempt,
                    "state": if e.node.is_some() { e.status.clone() } else { None },
                    "status": e.status, "detail": e.detail.as_deref().map(|d| clean(&masker, d)), "at": e.at,
                });
                let frame = format!("id: {}\nevent: change\ndata: {data}\n\n", e.id);
                if tx.send(frame.into()).await.is_err() {
                    return;
                }
            }
            if !rows.is_empty() {
                quiet = Duration::ZERO;
                continue;
            }
            quiet += POLL;
            if quiet >= KEEP_ALIVE {
                quiet = Duration::ZERO;
                if tx.send(hyper::body::Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
            }
            if store.run(&run).ok().flatten().is_some_and(|r| r.status.is_final()) {
                ended_for += POLL;
                if ended_for >= Duration::from_secs(2) {
                    return;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    });
    let mut response = Response::new(http_body_util::BodyExt::boxed(ChannelBody(rx)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
}

pub fn cancel(app: &Arc<App>, id: &str) -> Response<Body> {
    let store = &app.daemon.setup.sqlite;
    match store.run(id) {
        // A parked run runs nowhere: it ends here (as `pyra runs cancel` ends it).
        Ok(Some(r)) if matches!(r.status, RunStatus::Waiting | RunStatus::Interrupted) => {
            let change = runtime::Change::RunStatus {
                status: RunStatus::Cancelled,
                error: Some("cancelled from the web UI".into()),
                outputs: None,
            };
            if let Err(e) = store.apply(id, vec![change]) {
                return app.message(StatusCode::INTERNAL_SERVER_ERROR, "Not cancelled", &e.to_string());
            }
            app.daemon.log().info(&format!("run {id}: cancelled from the web UI"));
            see_other(&format!("/runs/{id}"))
        }
        Ok(Some(r)) if !r.status.is_final() => {
            if let Err(e) = store.request_cancel(id) {
                return app.message(StatusCode::INTERNAL_SERVER_ERROR, "Not cancelled", &e.to_string());
            }
            app.daemon.log().info(&format!("run {id}: cancel asked from the web UI"));
            see_other(&format!("/runs/{id}"))
        }
        Ok(Some(r)) => {
            app.message(StatusCode::CONFLICT, "Not cancelled", &format!("Run `{id}` already {}.", r.status.as_str()))
        }
        _ => app.message(StatusCode::NOT_FOUND, "No such run", &format!("No run `{id}` is recorded.")),
    }
}

pub fn retry(app: &Arc<App>, id: &str, form: &[(String, String)]) -> Response<Body> {
    let from = param(form, "from");
    match app.daemon.setup.sqlite.run(id) {
        Ok(Some(r)) if matches!(r.status, RunStatus::Failed | RunStatus::Cancelled | RunStatus::Interrupted) => {
            match app.daemon.resume_from(id, from, "retried from the web UI") {
                Ok(()) => see_other(&format!("/runs/{id}")),
                Err(e) => app.message(StatusCode::CONFLICT, "Not retried", &e),
            }
        }
        Ok(Some(r)) => app.message(
            StatusCode::CONFLICT,
            "Not retried",
            &format!("Run `{id}` is {}: only a failed, cancelled or interrupted run is retried.", r.status.as_str()),
        ),
        _ => app.message(StatusCode::NOT_FOUND, "No such run", &format!("No run `{id}` is recorded.")),
    }
}
