//! Rendering: the templates (compiled into the binary, HTML auto-escaped: every value a
//! template prints is escaped unless it is SVG this crate drew, whose text is escaped
//! when drawn), and the small formatting helpers pages share. Every text from the store,
//! a node, a model or a note passes [`clean`] — the masker the runs use plus the
//! redaction of key-shaped strings — before it reaches a template.

use chrono::{Local, TimeZone};
use hyper::{Response, StatusCode};
use minijinja::Environment;
use serde_json::Value;

use crate::http::{Body, respond};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("skills.html", include_str!("../templates/skills.html")),
    ("skill.html", include_str!("../templates/skill.html")),
    ("runs.html", include_str!("../templates/runs.html")),
    ("run.html", include_str!("../templates/run.html")),
    ("run_live.html", include_str!("../templates/run_live.html")),
    ("approvals.html", include_str!("../templates/approvals.html")),
    ("memory.html", include_str!("../templates/memory.html")),
    ("history.html", include_str!("../templates/history.html")),
    ("message.html", include_str!("../templates/message.html")),
];

/// The templates, parsed once.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // `.html` names are auto-escaped (minijinja's default callback).
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    // A missing value prints as nothing, not `none` (a run not finished has no duration).
    env.set_formatter(|out, state, value| {
        if value.is_none() || value.is_undefined() {
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            // A broken template is a build mistake the tests catch; show it, do not panic.
            tracing::error!("web template {name}: {e}");
        }
    }
    env
}

/// An HTML page from `template` with `context`; a template error is a 500 that says so.
pub fn page(env: &Environment<'static>, template: &str, context: Value) -> Response<Body> {
    page_with(env, template, context, StatusCode::OK)
}

pub fn page_with(env: &Environment<'static>, template: &str, context: Value, status: StatusCode) -> Response<Body> {
    match env.get_template(template).and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context)))) {
        Ok(html) => respond(status, "text/html; charset=utf-8", html),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("the page could not be drawn: {e:#}\n"),
        ),
    }
}

/// A time (ms since the epoch) in local time, `2026-12-07 21:04:05`.
pub fn time(ms: i64) -> String {
    Local.timestamp_millis_opt(ms).single().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// A duration in ms, short: `850 ms`, `12.4 s`, `3 m 05 s`, `2 h 10 m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} m {:02} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {:02} m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// Text from outside (a node's output, an error, a note) made safe to show: the run
/// masker's secrets and anything key-shaped replaced. Escaping is the template's.
pub fn clean(masker: &runtime::secrets::Masker, text: &str) -> String {
    let masked = masker.mask(text);
    security::redact::redact(&masked).into_owned()
}

/// A JSON value pretty-printed and cleaned.
pub fn clean_json(masker: &runtime::secrets::Masker, value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    clean(masker, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        let html = env
            .get_template("message.html")
            .unwrap()
            .render(minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
                "title": "t", "message": "<script>alert(1)</script>", "profile": "p", "pending": null
            }))))
            .unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)") && !html.contains("<script>alert"), "{html}");
        assert!(!html.contains("none") && !html.contains("None"), "a missing value prints as nothing: {html}");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3 m 05 s");
        assert_eq!(duration(7_800_000), "2 h 10 m");
    }
}
