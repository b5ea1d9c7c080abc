//! Phase 5: triggers. Cron expressions parse (a bad field is pointed at), time zones are
//! IANA names, watch globs compile, `with:` names declared inputs. Trigger conditions are checked with the
//! other expressions in the templates phase.

use std::str::FromStr;

use chrono_tz::Tz;

use super::Ctx;
use crate::model::{OneOrMany, Skill, Trigger, WatchSpec};
use syntax::diag::Diagnostic;
use syntax::source::Span;
use syntax::suggest;

pub(crate) fn check(ctx: &mut Ctx<'_>, skill: &Skill) {
    for (i, trigger) in skill.triggers.iter().enumerate() {
        let base = ctx.trigger_ptr(i);
        let with = match trigger {
            Trigger::Cron(cron) => {
                check_cron(ctx, &format!("{base}/cron"), &cron.cron);
                if let Some(tz) = &cron.timezone {
                    check_timezone(ctx, &format!("{base}/timezone"), tz);
                }
                &cron.with
            }
            Trigger::Watch(w) => {
                check_watch(ctx, &format!("{base}/watch"), &w.watch);
                &w.with
            }
            Trigger::Event(e) => &e.with,
        };
        for key in with.keys() {
            if !skill.inputs.contains_key(key) {
                let p = format!("{base}/with/{}", super::ptr(key));
                ctx.push(
                    Diagnostic::error(
                        "unknown-input",
                        format!("the trigger sets input `{key}`, which the skill does not declare"),
                    )
                    .at_opt(ctx.key_span(&p))
                    .with_label("not an input of this skill")
                    .with_help_opt(
                        suggest::help(key, skill.inputs.keys().map(String::as_str))
                            .or_else(|| Some(format!("declare it under `inputs:` (e.g. `{key}: {{ type: string }}`)"))),
                    ),
                );
            }
        }
    }
}

/// Every `glob` and `ignore` pattern compiles; no path is empty.
fn check_watch(ctx: &mut Ctx<'_>, pointer: &str, spec: &WatchSpec) {
    for (i, path) in spec.paths.iter().enumerate() {
        if path.trim().is_empty() {
            let span = ctx.value_span(&format!("{pointer}/paths/{i}"));
            ctx.push(Diagnostic::error("watch-path", "an empty path").at_opt(span).with_label("name a file or folder"));
        }
    }
    for (field, patterns) in [("glob", &spec.glob), ("ignore", &spec.ignore)] {
        let Some(patterns) = patterns else { continue };
        let list: Vec<&String> = match patterns {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(ps) => ps.iter().collect(),
        };
        let single = matches!(patterns, OneOrMany::One(_));
        for (i, pattern) in list.into_iter().enumerate() {
            if let Err(e) = globset::Glob::new(pattern) {
                let p = if single { format!("{pointer}/{field}") } else { format!("{pointer}/{field}/{i}") };
                let span = ctx.value_span(&p);
                ctx.push(
                    Diagnostic::error("glob", format!("`{pattern}` is not a glob: {}", e.kind()))
                        .at_opt(span)
                        .with_label("invalid glob")
                        .with_expected("a glob such as `*.md`, `**/*.pdf` or `{a,b}.txt`"),
                );
            }
        }
    }
}

fn check_cron(ctx: &mut Ctx<'_>, pointer: &str, expr: &str) {
    let Err(err) = crate::cron::parse(expr) else {
        return;
    };
    let span = ctx.value_span(pointer);
    let field_span = match (err.field, &span) {
        (Some(f), Some(span)) => field_span(ctx.file.text(), span, f),
        _ => None,
    };
    ctx.push(
        Diagnostic::error("cron", err.message)
            .at_opt(field_span.or(span))
            .with_label("invalid cron")
            .with_expected(
                "5 fields: minute hour day-of-month month day-of-week, or @hourly/@daily/@weekly/@monthly/@yearly",
            )
            .with_help_opt(err.help),
    );
}

/// The span of field `index` of a cron expression written at `span`.
fn field_span(text: &str, span: &Span, index: usize) -> Option<Span> {
    let start = span.start.min(text.len());
    let line_end = text[start..].find('\n').map_or(text.len(), |e| start + e);
    let line = &text[start..line_end];
    // The span may start at a quote.
    let offset = line.find(|c: char| c != '"' && c != '\'').unwrap_or(0);
    let mut pos = start + offset;
    let body = &text[pos..line_end];
    let mut fields = body.split([' ', '\t']).filter(|s| !s.is_empty());
    let mut rest = body;
    for i in 0..=index {
        let field = fields.next()?;
        let at = rest.find(field)?;
        if i == index {
            let field = field.trim_end_matches(['"', '\'']);
            return Some(pos + at..pos + at + field.len());
        }
        pos += at + field.len();
        rest = &rest[at + field.len()..];
    }
    None
}

fn check_timezone(ctx: &mut Ctx<'_>, pointer: &str, tz: &str) {
    if Tz::from_str(tz).is_ok() {
        return;
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    let help = suggest::help(tz, names)
        .unwrap_or_else(|| "use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`".into());
    ctx.push(
        Diagnostic::error("timezone", format!("unknown time zone `{tz}`"))
            .at_opt(ctx.value_span(pointer))
            .with_label("not an IANA time zone")
            .with_help(help),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_field_spans() {
        let text = "cron: \"0 25 * * *\"\n";
        let span = 6..18;
        let s = field_span(text, &span, 1).unwrap();
        assert_eq!(&text[s], "25");
        let s = field_span(text, &span, 4).unwrap();
        assert_eq!(&text[s], "*");
    }
}
