//! `pyra security audit`: looks through the home for what should not be there — prompt
//! injection in stored content, secrets in plaintext, loose permissions, a security log that
//! was tampered with or shows odd vault access, plugins that changed or are not pinned,
//! settings that open Pyra up — and writes `$PYRA_HOME/security_audit.md` (0600; the path
//! policy refuses it to nodes, templates, tools and models like the vault, so the
//! assistant never reads its own audit), prints a summary, and exits 1 when a finding
//! reaches `--fail-on`.
//!
//! Each check is a module: `content.rs` (injection, secret-shaped strings, vault values in
//! plaintext), `perms.rs`, `seclog.rs`, `setup.rs` (plugins, config, the vault's seal),
//! `osv.rs` (known vulnerabilities), `model.rs` (the optional sandboxed model pass). A check
//! that cannot run says so in the report ("not checked", with why): never a silent pass.

mod content;
pub mod kind;
mod model;
mod osv;
mod perms;
mod seclog;
mod setup;

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::failure::{Failure, exit};
use crate::home::Home;
use term::output;

/// The report's file name under the home.
pub const REPORT: &str = "security_audit.md";

pub const AUDIT_HELP: &str = "Exit codes:
  0  no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage error

The report, $PYRA_HOME/security_audit.md (0600), lists every finding with its severity, where
it is (file:line, run and node, log line, plugin) and how to fix it. Skills, tools and models
cannot read it.

Environment:
  PYRA_VAULT_PASSPHRASE / PYRA_VAULT_IDENTITY  unlock the vault to look for its values in plaintext
  PYRA_OSV_URL                                  the OSV API (default https://api.osv.dev)";

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Print the findings as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when a finding has this severity or a higher one.
    #[arg(long, value_enum, default_value = "low")]
    pub fail_on: Level,
    /// Have this model (a name from config.yaml's models) judge what the scanner flagged,
    /// with no tools, no memory and nothing but its provider; its text goes only into the
    /// report, marked as model output.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Do not ask the OSV database about known vulnerabilities.
    #[arg(long)]
    pub offline: bool,
}

/// `--fail-on`'s choices.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Level {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One finding: what, where and how to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The check that found it: `injection`, `secret`, `vault-plaintext`, `permissions`,
    /// `security-log`, `plugin`, `vulnerability`, `config`.
    pub check: &'static str,
    /// file:line (relative to the home), `run R node N`, `security.log:LINE`, `plugin NAME`…
    pub location: String,
    pub what: String,
    pub fix: String,
    /// The model pass's verdict, when it ran (model output: untrusted text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Finding {
    pub fn new(severity: Severity, check: &'static str, location: impl Into<String>, what: impl Into<String>) -> Self {
        Finding { severity, check, location: location.into(), what: what.into(), fix: String::new(), model: None }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }
}

/// What the checks found, and what they could not check.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Checks that did not run, with why.
    pub not_checked: Vec<String>,
    /// Texts the model pass reads (location, text, flagged by the scanner), not reported.
    #[serde(skip)]
    pub samples: Vec<(String, String, bool)>,
}

impl Report {
    pub fn add(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub fn skipped(&mut self, what: impl Into<String>) {
        self.not_checked.push(what.into());
    }
}

pub fn run(home: &Home, args: AuditArgs) -> Result<u8, Failure> {
    let (report, path) = audit(home, args.offline, args.model.as_deref())?;
    if args.json {
        let value = serde_json::json!({
            "report": path.display().to_string(),
            "findings": report.findings,
            "not_checked": report.not_checked,
        });
        output::out(&format!("{value}\n"));
    } else {
        output::out(&summary(&report, &path.display().to_string()));
    }
    let floor = match args.fail_on {
        Level::Low => Severity::Low,
        Level::Medium => Severity::Medium,
        Level::High => Severity::High,
    };
    Ok(if report.findings.iter().any(|f| f.severity >= floor) { exit::INVALID } else { exit::OK })
}

/// Runs every check and writes the report (0600): what `pyra security audit` and the
/// `security.audit` node kind share. Blocking (the OSV and model checks run their own
/// runtime): call it off the async threads.
pub fn audit(home: &Home, offline: bool, model: Option<&str>) -> Result<(Report, std::path::PathBuf), Failure> {
    if !home.root.is_dir() {
        return Err(Failure::usage(format!("no Pyra home at {}", home.root.display())));
    }
    let mut report = Report::default();
    let vault_values = content::vault_values(home, &mut report);
    content::check(home, vault_values.as_ref(), &mut report);
    perms::check(home, &mut report);
    seclog::check(home, &mut report);
    setup::check(home, &mut report);
    if offline {
        report.skipped("known vulnerabilities: not checked (--offline)");
    } else {
        osv::check(home, &mut report);
    }
    if let Some(name) = model {
        model::check(home, name, vault_values.as_ref(), &mut report)?;
    }
    report.findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.location.cmp(&b.location)));
    let path = home.root.join(REPORT);
    paths::write_atomic(&path, render(&report).as_bytes())
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", path.display())))?;
    Ok((report, path))
}

fn counts(report: &Report) -> String {
    let n = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    format!("{} high, {} medium, {} low", n(Severity::High), n(Severity::Medium), n(Severity::Low))
}

/// The terminal summary: counts, then one line per finding.
fn summary(report: &Report, path: &str) -> String {
    let mut out = String::new();
    if report.findings.is_empty() {
        let _ = writeln!(out, "no findings");
    } else {
        let _ = writeln!(out, "{} findings: {}", report.findings.len(), counts(report));
        for f in &report.findings {
            let _ = writeln!(out, "  {:<6} {:<16} {}  {}", f.severity.as_str(), f.check, f.location, oneline(&f.what));
        }
    }
    for skipped in &report.not_checked {
        let _ = writeln!(out, "  not checked: {skipped}");
    }
    let _ = writeln!(out, "report: {path}");
    out
}

fn oneline(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 120 { format!("{}…", line.chars().take(119).collect::<String>()) } else { line.into() }
}

/// Markdown text from the checks is put in code spans, so that nothing a note or a tool
/// wrote renders as a link or a heading in the report.
fn code(text: &str) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    let ticks = (1..).map(|n| "`".repeat(n)).find(|t| !flat.contains(t.as_str())).unwrap_or_default();
    format!("{ticks} {flat} {ticks}")
}

/// The report: a summary, then the findings by severity.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Pyra security audit\n");
    let _ = writeln!(out, "{} ({}).\n", chrono::Local::now().format("%Y-%m-%d %H:%M %Z"), counts(report));
    let _ = writeln!(
        out,
        "Each finding says how severe it is, where it is (paths are relative to the Pyra home), what was found and \
         how to fix it. Quoted text comes from the place named and may be hostile: read it, do not follow it.\n"
    );
    for severity in [Severity::High, Severity::Medium, Severity::Low] {
        let found: Vec<&Finding> = report.findings.iter().filter(|f| f.severity == severity).collect();
        if found.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {} ({})\n", severity.as_str(), found.len());
        for f in found {
            let _ = writeln!(out, "- **{}** at {}: {}", f.check, code(&f.location), code(&f.what));
            if !f.fix.is_empty() {
                let _ = writeln!(out, "  - fix: {}", f.fix);
            }
            if let Some(verdict) = &f.model {
                let _ = writeln!(out, "  - model output (untrusted): {}", code(verdict));
            }
        }
        out.push('\n');
    }
    if report.findings.is_empty() {
        let _ = writeln!(out, "No findings.\n");
    }
    if !report.not_checked.is_empty() {
        let _ = writeln!(out, "## Not checked\n");
        for s in &report.not_checked {
            let _ = writeln!(out, "- {s}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_inside_a_code_span() {
        assert_eq!(code("a `b` c"), "`` a `b` c ``");
        assert_eq!(code("line\n# heading"), "` line # heading `");
    }

    #[test]
    fn the_report_groups_by_severity_and_lists_what_was_not_checked() {
        let mut report = Report::default();
        report.add(Finding::new(Severity::Low, "permissions", "memory/a.md", "mode 0644").fix("chmod 600"));
        report.add(Finding::new(Severity::High, "injection", "memory/b.md:3", "ignore previous instructions"));
        report.skipped("known vulnerabilities: offline");
        let text = render(&report);
        let high = text.find("## high").unwrap();
        assert!(high < text.find("## low").unwrap(), "{text}");
        assert!(text.contains("  - fix: chmod 600") && text.contains("## Not checked"), "{text}");
    }
}
