//! The security log, `logs/security.log`: its hash chain (an edited, inserted or removed
//! line), denied vault access, a skill reading a key its skill file does not declare (the
//! runtime refuses those, so one in the log means the log or the runtime was tampered
//! with), bursts of vault reads, and the daemon's vault agent handing a value to a program
//! that is not Pyra.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{Finding, Report, Severity};
use crate::home::Home;

/// Vault reads within [`BURST_WINDOW_S`] seconds that make a burst.
const BURST: usize = 30;
const BURST_WINDOW_S: i64 = 60;

/// One parsed line.
struct Line {
    number: usize,
    at: Option<chrono::DateTime<chrono::FixedOffset>>,
    fields: Value,
}

impl Line {
    fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }
}

pub fn check(home: &Home, report: &mut Report) {
    let log = security::audit::SecurityLog::new(&home.root);
    let text = match std::fs::read(log.path()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if log.head_path().exists() {
                report.add(
                    Finding::new(Severity::High, "security-log", "logs/security.log", "the log was deleted")
                        .fix("find out who removed it; Pyra starts a new chain, and this finding stays until `logs/security.head` is removed too"),
                );
            }
            return;
        }
        Err(e) => {
            report.skipped(format!("the security log: not checked ({e})"));
            return;
        }
    };
    let head = std::fs::read_to_string(log.head_path()).ok();
    let verified = security::chain::verify(&text, head.as_deref());
    for b in &verified.breaks {
        report
            .add(Finding::new(Severity::High, "security-log", format!("logs/security.log:{}", b.line), &b.what).fix(
                "the log was changed outside Pyra: find out by whom; what it said there can no longer be trusted",
            ));
    }
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let fields: Value = serde_json::from_str(l).ok()?;
            let at =
                fields.get("at").and_then(Value::as_str).and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok());
            Some(Line { number: i + 1, at, fields })
        })
        .collect();
    denied(&lines, report);
    undeclared(&home.root, &lines, report);
    bursts(&lines, report);
    strangers(&lines, report);
}

fn is_read(line: &Line) -> bool {
    matches!(line.str("action"), Some("secret.read" | "agent.get" | "vault.get"))
}

/// Denied reads, one finding per key (with the count and the first line).
fn denied(lines: &[Line], report: &mut Report) {
    let mut by_key: BTreeMap<String, (usize, &Line)> = BTreeMap::new();
    for line in lines.iter().filter(|l| is_read(l) && l.str("outcome") == Some("denied")) {
        let key = line.str("key").unwrap_or("(none)").to_string();
        by_key.entry(key).or_insert((0, line)).0 += 1;
    }
    for (key, (count, first)) in by_key {
        let who = first.str("skill").map(|s| format!(" by skill `{s}`")).unwrap_or_default();
        let why = first.str("detail").map(|d| format!(" ({d})")).unwrap_or_default();
        report.add(
            Finding::new(
                Severity::Medium,
                "security-log",
                format!("logs/security.log:{}", first.number),
                format!("{count} denied read(s) of vault key `{key}`{who}{why}"),
            )
            .fix("if you did not expect this, find what asked (`pyra runs show RUN`) and remove the skill or plugin"),
        );
    }
}

/// A granted `secret()` read (no detail: a skill's own read) of a key the run's skill
/// does not declare under `secrets:`.
fn undeclared(root: &Path, lines: &[Line], report: &mut Report) {
    let conn = rusqlite::Connection::open_with_flags(root.join("pyra.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY);
    let Ok(conn) = conn else { return };
    for line in lines {
        let own_read = line.str("action") == Some("secret.read")
            && line.str("outcome") == Some("granted")
            && line.fields.get("detail").is_none();
        let (Some(key), Some(run)) = (line.str("key"), line.str("run")) else { continue };
        if !own_read {
            continue;
        }
        let source: Option<String> = conn.query_row("SELECT source FROM runs WHERE id = ?1", [run], |r| r.get(0)).ok();
        let Some(source) = source else { continue };
        let declared = serde_saphyr::from_str::<Value>(&source)
            .ok()
            .and_then(|v| v.get("secrets").cloned())
            .and_then(|s| s.as_array().cloned())
            .unwrap_or_default();
        if !declared.iter().any(|d| d.as_str() == Some(key)) {
            report.add(
                Finding::new(
                    Severity::High,
                    "security-log",
                    format!("logs/security.log:{}", line.number),
                    format!(
                        "run {run} read vault key `{key}`, which its skill `{}` does not declare",
                        line.str("skill").unwrap_or("?")
                    ),
                )
                .fix("Pyra refuses such reads: the log line or the program was tampered with; rotate the secret"),
            );
        }
    }
}

/// More than [`BURST`] vault reads within a minute.
fn bursts(lines: &[Line], report: &mut Report) {
    let reads: Vec<&Line> = lines.iter().filter(|l| is_read(l) && l.at.is_some()).collect();
    let mut i = 0;
    while i < reads.len() {
        let start = reads[i].at.expect("filtered");
        let n =
            reads[i..].iter().take_while(|l| l.at.is_some_and(|a| (a - start).num_seconds() < BURST_WINDOW_S)).count();
        if n > BURST {
            report.add(
                Finding::new(
                    Severity::Medium,
                    "security-log",
                    format!("logs/security.log:{}", reads[i].number),
                    format!("a burst of {n} vault reads within a minute from {}", start.to_rfc3339()),
                )
                .fix("check which runs or programs read the vault then (the lines that follow name them)"),
            );
            i += n;
        } else {
            i += 1;
        }
    }
}

/// The vault agent handing a value to a client whose program is not Pyra.
fn strangers(lines: &[Line], report: &mut Report) {
    for line in lines.iter().filter(|l| l.str("action") == Some("agent.get") && l.str("outcome") == Some("granted")) {
        let detail = line.str("detail").unwrap_or("");
        // "pid N (PROGRAM ARG ARG)", or "webhook" / "daemon" for the daemon's own reads.
        let Some(program) = detail.split_once('(').and_then(|(_, rest)| rest.split_whitespace().next()) else {
            continue;
        };
        let program = program.trim_end_matches(')');
        let base = program.rsplit('/').next().unwrap_or(program);
        if base != "pyra" {
            report.add(
                Finding::new(
                    Severity::High,
                    "security-log",
                    format!("logs/security.log:{}", line.number),
                    format!("the daemon's vault agent gave `{}` to `{program}`, which is not Pyra", line.str("key").unwrap_or("?")),
                )
                .fix("find that program (`ps`, its pid is in the line); lock the vault (`pyra vault lock`) and rotate the key"),
            );
        }
    }
}
