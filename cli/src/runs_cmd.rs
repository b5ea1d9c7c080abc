//! `pyra runs list|show|logs|retry|cancel` and `pyra approve|reject`: reading the run
//! store, and resuming runs through the engine.

use std::time::Duration;

use runtime::{ApprovalState, NodeRecord, RunFilter, RunRecord, RunStatus, Store};
use serde_json::json;

use crate::failure::RUN_EXIT_CODES;
use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::runner::{self, Session};
use clap::Subcommand;
use term::output;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs of this skill.
        #[arg(long)]
        skill: Option<String>,
        /// Only runs in this state: running, waiting, succeeded, failed, rejected,
        /// cancelled, interrupted.
        #[arg(long)]
        status: Option<String>,
        /// Only runs started since: a duration ago (`2h`, `7d`), a date (`2026-11-01`) or
        /// an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print a JSON array of run objects (each with an `id`), newest first.
        #[arg(long)]
        json: bool,
    },
    /// Show a run: its nodes with states and durations.
    Show {
        /// The run id (a unique prefix is enough).
        run: String,
        /// Also print each node's output (and rendered inputs).
        #[arg(long)]
        outputs: bool,
        /// Print the run and its nodes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a run's log: state changes, retries, program error output.
    Logs {
        /// The run id (a unique prefix is enough).
        run: String,
        /// Only this node's lines.
        #[arg(long)]
        node: Option<String>,
    },
    /// Run a finished run again where it failed; completed nodes keep their outputs and
    /// are never run again.
    #[command(after_help = RUN_EXIT_CODES)]
    Retry {
        /// The run id (a unique prefix is enough).
        run: String,
        /// Run this node and everything after it again, even if they succeeded.
        #[arg(long, value_name = "NODE")]
        from: Option<String>,
        /// Print the outputs as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Stop a running run (from another terminal), or end a waiting one.
    Cancel {
        /// The run id (a unique prefix is enough).
        run: String,
    },
}

pub fn run(home: &Home, command: RunsCommand) -> Result<u8, Failure> {
    match command {
        RunsCommand::List { skill, status, since, limit, json } => list(home, skill, status, since, limit, json),
        RunsCommand::Show { run, outputs, json } => show(home, &run, outputs, json),
        RunsCommand::Logs { run, node } => logs(home, &run, node.as_deref()),
        RunsCommand::Retry { run, from, json } => retry(home, &run, from.as_deref(), json),
        RunsCommand::Cancel { run } => cancel(home, &run),
    }
}

fn store_failure(e: runtime::StoreError) -> Failure {
    Failure::failed(e.to_string())
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms}ms"),
        Some(ms) if ms < 60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

/// `--since`: `2h`/`7d` ago, a date, or an RFC 3339 time.
fn parse_since(text: &str) -> Result<i64, Failure> {
    let now = chrono::Local::now();
    if let Some(d) = syntax::duration::parse(text) {
        return Ok(now.timestamp_millis() - d.as_millis() as i64);
    }
    if let Some(days) = text.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()) {
        return Ok(now.timestamp_millis() - days * 86_400_000);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        use chrono::TimeZone;
        if let Some(t) = date.and_hms_opt(0, 0, 0).and_then(|t| chrono::Local.from_local_datetime(&t).earliest()) {
            return Ok(t.timestamp_millis());
        }
    }
    Err(Failure::usage(format!(
        "--since `{text}`: use a duration ago (`2h`, `7d`), a date (`2026-11-01`) or an RFC 3339 time"
    )))
}

fn run_json(r: &RunRecord) -> serde_json::Value {
    json!({
        "id": r.id,
        "skill": r.skill,
        "status": r.status,
        "created_at": chrono::DateTime::from_timestamp_millis(r.created_at).map(|t| t.to_rfc3339()),
        "finished_at": r.finished_at.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339()),
        "duration_ms": r.finished_at.map(|f| f - r.created_at),
        "error": r.error,
        "inputs": r.inputs,
        "outputs": r.outputs,
        "parent_run": r.parent_run,
        "parent_node": r.parent_node,
        "resumes": r.resumes,
        "source_path": r.source_path,
        "trigger": r.started_by.as_deref().unwrap_or("cli"),
        "scheduled_for": r.scheduled_for.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339()),
    })
}

fn list(
    home: &Home,
    skill: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<u8, Failure> {
    let status = match status {
        None => None,
        Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
            let all: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            Failure::usage(format!("--status `{s}`: use one of {}", all.join(", ")))
        })?),
    };
    let since = since.as_deref().map(parse_since).transpose()?;
    let session = Session::open(home, true)?;
    let filter = RunFilter { skill, status, since, limit: Some(limit) };
    let runs = session.store.list_runs(&filter).map_err(store_failure)?;
    if json {
        let list: Vec<serde_json::Value> = runs.iter().map(run_json).collect();
        output::out(&format!("{}\n", serde_json::to_string_pretty(&list).unwrap_or_default()));
        return Ok(exit::OK);
    }
    if runs.is_empty() {
        output::err("no runs yet; `pyra run SKILL` starts one\n");
        return Ok(exit::OK);
    }
    let mut out =
        format!("{:<14} {:<20} {:<12} {:<20} {:>9}  {}\n", "ID", "SKILL", "STATUS", "STARTED", "DURATION", "TRIGGER");
    for r in &runs {
        let took = r.finished_at.map(|f| f - r.created_at);
        out.push_str(&format!(
            "{:<14} {:<20} {:<12} {:<20} {:>9}  {}\n",
            r.id,
            r.skill,
            r.status.as_str(),
            time(r.created_at),
            duration(took),
            r.started_by.as_deref().unwrap_or("cli")
        ));
    }
    output::out(&out);
    Ok(exit::OK)
}

fn load(session: &Session, arg: &str) -> Result<(RunRecord, Vec<NodeRecord>), Failure> {
    let id = runner::find_run(&session.store, arg)?;
    let record =
        session.store.run(&id).map_err(store_failure)?.ok_or_else(|| Failure::usage(format!("no run `{id}`")))?;
    let nodes = session.store.nodes(&id).map_err(store_failure)?;
    Ok((record, nodes))
}

/// Node ids of the skill as recorded, in file order, so pending nodes show too.
fn node_order(registry: &runtime::Kinds, record: &RunRecord) -> Vec<String> {
    let text = runtime::SkillText {
        name: record.skill.clone(),
        path: None,
        display: record.skill.clone(),
        source: record.source.clone(),
    };
    runtime::compile(registry, &text).map(|p| p.nodes.iter().map(|n| n.id.clone()).collect()).unwrap_or_default()
}

fn show(home: &Home, arg: &str, outputs: bool, json: bool) -> Result<u8, Failure> {
    let session = Session::open(home, true)?;
    let (record, nodes) = load(&session, arg)?;
    let approvals = session.store.approvals(&record.id).map_err(store_failure)?;
    if json {
        let mut value = run_json(&record);
        value["nodes"] = serde_json::to_value(&nodes).unwrap_or_default();
        value["approvals"] = serde_json::to_value(&approvals).unwrap_or_default();
        value["usage"] = UsageSum::of(&nodes).map_or(serde_json::Value::Null, |sum| sum.to_json());
        output::out(&format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default()));
        return Ok(exit::OK);
    }
    let mut out = format!("run {}  {}  {}\n", record.id, record.skill, record.status);
    out.push_str(&format!("started  {}", time(record.created_at)));
    if let Some(f) = record.finished_at {
        out.push_str(&format!("   ended {}   took {}", time(f), duration(Some(f - record.created_at))));
    }
    out.push('\n');
    if let Some(by) = &record.started_by {
        out.push_str(&format!("trigger  {by}"));
        if let Some(slot) = record.scheduled_for {
            out.push_str(&format!(" (slot {})", time(slot)));
        }
        out.push_str(", run by the daemon\n");
    }
    if let Some(p) = &record.parent_run {
        out.push_str(&format!("called by run {p} (node {})\n", record.parent_node.as_deref().unwrap_or("?")));
    }
    if record.resumes > 0 {
        out.push_str(&format!("resumed {} time(s)\n", record.resumes));
    }
    if let Some(e) = &record.error {
        out.push_str(&format!("error    {e}\n"));
    }
    out.push_str(&format!("\n{:<24} {:<12} {:>8} {:>9}  {}\n", "NODE", "STATUS", "ATTEMPTS", "DURATION", "NOTE"));
    // Nodes in skill order, each followed by its for-each items in item order.
    let mut order = Vec::new();
    let items_of = |parent: &str| {
        let mut items: Vec<(usize, String)> = nodes
            .iter()
            .filter_map(|n| {
                let index = n.node.strip_prefix(parent)?.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?;
                Some((index, n.node.to_string()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, name)| name)
    };
    for name in node_order(&session.runtime.registry, &record) {
        order.push(name.clone());
        order.extend(items_of(&name));
    }
    for n in &nodes {
        if !order.iter().any(|o| **o == *n.node) {
            order.push(n.node.to_string());
        }
    }
    let by_name: std::collections::HashMap<&str, &NodeRecord> = nodes.iter().map(|n| (&*n.node, n)).collect();
    for name in &order {
        let (status, attempts, took, note) = match by_name.get(name.as_str()) {
            Some(n) => {
                let mut note = n.error.clone().unwrap_or_default();
                if let Some(found) = n.findings.as_ref().and_then(|f| f.as_array()).filter(|f| !f.is_empty()) {
                    let warning = format!("⚠ {} injection finding(s)", found.len());
                    note = if note.is_empty() { warning } else { format!("{warning}; {note}") };
                }
                (n.status.as_str(), n.attempts.to_string(), duration(n.duration_ms()), note)
            }
            None => ("pending", "-".to_string(), "-".to_string(), String::new()),
        };
        let note = note.lines().next().unwrap_or_default().to_string();
        let shown = if name.ends_with(']') { format!("  {name}") } else { name.clone() };
        out.push_str(&format!("{shown:<24} {status:<12} {attempts:>8} {took:>9}  {note}\n"));
        if outputs && let Some(n) = by_name.get(name.as_str()) {
            if let Some(input) = &n.input {
                out.push_str(&format!("    with:   {}\n", compact(input)));
            }
            if let Some(o) = &n.output {
                out.push_str(&format!(
                    "    output: {}{}\n",
                    compact(o),
                    if n.untrusted { "  (untrusted)" } else { "" }
                ));
            }
        }
    }
    if let Some(sum) = UsageSum::of(&nodes) {
        out.push_str(&format!("\n{}\n", sum.line()));
    }
    let pending: Vec<_> = approvals.iter().filter(|a| a.state == ApprovalState::Pending).collect();
    if !pending.is_empty() {
        out.push_str("\nwaiting for approval:\n");
        for a in pending {
            out.push_str(&format!(
                "  {}: {} (until {})\n",
                a.node,
                a.message.lines().next().unwrap_or_default(),
                time(a.deadline)
            ));
            out.push_str(&format!(
                "    pyra approve {} {}   |   pyra reject {} {}\n",
                record.id, a.node, record.id, a.node
            ));
        }
    }
    if outputs && let Some(o) = &record.outputs {
        out.push_str(&format!("\noutputs: {}\n", serde_json::to_string_pretty(o).unwrap_or_default()));
    }
    output::out(&out);
    Ok(exit::OK)
}

fn compact(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 200 { format!("{}…", text.chars().take(200).collect::<String>()) } else { text }
}

fn logs(home: &Home, arg: &str, node: Option<&str>) -> Result<u8, Failure> {
    let session = Session::open(home, true)?;
    let (record, nodes) = load(&session, arg)?;
    let lines = session.store.logs(&record.id, node).map_err(store_failure)?;
    let mut out = String::new();
    // State changes first, from the node records, then the log lines, merged by time.
    let mut entries: Vec<(i64, String)> = Vec::new();
    for n in nodes.iter().filter(|n| node.is_none_or(|f| &*n.node == f || n.node.starts_with(&format!("{f}[")))) {
        if let Some(s) = n.started_at {
            entries.push((s, format!("{} started (attempt {})", n.node, n.attempts.max(1))));
        }
        if let Some(f) = n.finished_at {
            let why = n.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            entries.push((f, format!("{} {}{why}", n.node, n.status)));
        }
    }
    for l in lines {
        let who = l.node.as_deref().unwrap_or("run");
        entries.push((l.at, format!("{who} {}: {}", l.level.as_str(), l.message)));
    }
    entries.sort_by_key(|e| e.0);
    for (at, text) in entries {
        let stamp = chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        out.push_str(&format!("{stamp}  {text}\n"));
    }
    if out.is_empty() {
        out.push_str("(no log lines)\n");
    }
    output::out(&out);
    Ok(exit::OK)
}

fn retry(home: &Home, arg: &str, from: Option<&str>, json: bool) -> Result<u8, Failure> {
    let session = Session::open(home, false)?;
    let id = runner::find_run(&session.store, arg)?;
    let report = session.block_on(session.runtime.resume(&id, from)).map_err(runner::run_failure)?;
    Ok(runner::report(&report, json, &session.progress))
}

fn cancel(home: &Home, arg: &str) -> Result<u8, Failure> {
    let session = Session::open(home, true)?;
    let id = runner::find_run(&session.store, arg)?;
    let record =
        session.store.run(&id).map_err(store_failure)?.ok_or_else(|| Failure::usage(format!("no run `{id}`")))?;
    match record.status {
        RunStatus::Waiting | RunStatus::Interrupted => {
            let change = runtime::Change::RunStatus {
                status: RunStatus::Cancelled,
                error: Some("cancelled by `pyra runs cancel`".into()),
                outputs: None,
            };
            session.store.apply(&id, vec![change]).map_err(store_failure)?;
            output::err(&format!("run {id} cancelled\n"));
            Ok(exit::OK)
        }
        RunStatus::Running => {
            session.store.request_cancel(&id).map_err(store_failure)?;
            if session.runtime.is_alive(&id)
                && let Some(pid) = record.pid
            {
                // The process checks the store too; the signal only makes it quicker.
                if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                }
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while std::time::Instant::now() < deadline {
                let now = session.store.run(&id).map_err(store_failure)?;
                if let Some(r) = now
                    && r.status != RunStatus::Running
                {
                    output::err(&format!("run {id} {}\n", r.status));
                    return Ok(exit::OK);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(Failure::failed(format!("asked run {id} to stop, but it is still running after 15s")))
        }
        status => Err(Failure::usage(format!("run {id} has already ended ({status})"))),
    }
}

/// `pyra approve` / `pyra reject`: records the answer (single use), then continues the run.
pub fn answer(
    home: &Home,
    arg: &str,
    node: Option<&str>,
    approve: bool,
    reason: Option<&str>,
    no_resume: bool,
) -> Result<u8, Failure> {
    let session = Session::open(home, false)?;
    let given = runner::find_run(&session.store, arg)?;
    // The approval may be in a child run (a `skill` node, an agent's tool call): the one
    // waiting run under the given one that has pending approvals.
    let id = waiting_descendant(session.store.as_ref(), &given)?.unwrap_or_else(|| given.clone());
    let record =
        session.store.run(&id).map_err(store_failure)?.ok_or_else(|| Failure::usage(format!("no run `{id}`")))?;
    let approvals = session.store.approvals(&id).map_err(store_failure)?;
    let pending: Vec<_> = approvals.iter().filter(|a| a.state == ApprovalState::Pending).collect();
    let target = match node {
        Some(n) => approvals.iter().find(|a| a.node == n).ok_or_else(|| {
            let names: Vec<&str> = approvals.iter().map(|a| a.node.as_str()).collect();
            Failure::usage(format!(
                "run {id} has no approval `{n}`{}",
                if names.is_empty() { String::new() } else { format!("; it has {}", names.join(", ")) }
            ))
        })?,
        None => match pending.as_slice() {
            [one] => *one,
            [] => return Err(Failure::usage(format!("run {id} waits for no approval"))),
            many => {
                let names: Vec<&str> = many.iter().map(|a| a.node.as_str()).collect();
                return Err(Failure::usage(format!(
                    "run {id} waits for several approvals; name one: {}",
                    names.join(", ")
                )));
            }
        },
    };
    if target.state != ApprovalState::Pending {
        return Err(Failure::usage(format!(
            "approval `{}` of run {id} was already answered ({} by {}); an answer counts once",
            target.node,
            target.state.as_str(),
            target.answered_by.as_deref().unwrap_or("?")
        )));
    }
    if record.status.is_final() {
        return Err(Failure::usage(format!(
            "run {id} has ended ({}); its approvals can no longer be answered",
            record.status
        )));
    }
    let now = runtime::now_ms();
    if now >= target.deadline {
        output::err(&format!(
            "approval `{}` expired at {}; its on_timeout outcome ({}) applies\n",
            target.node,
            time(target.deadline),
            if target.on_timeout == ApprovalState::Approved { "approve" } else { "reject" }
        ));
    } else {
        let state = if approve { ApprovalState::Approved } else { ApprovalState::Rejected };
        let user = std::env::var("USER").unwrap_or_else(|_| "cli".into());
        let by = format!("cli:{user}");
        if !session.store.answer_approval(&id, &target.node, state, &by, reason).map_err(store_failure)? {
            return Err(Failure::usage(format!("approval `{}` of run {id} was answered meanwhile", target.node)));
        }
        output::err(&format!("{} `{}` of run {id}\n", if approve { "approved" } else { "rejected" }, target.node));
    }
    if no_resume || record.status == RunStatus::Running {
        if record.status == RunStatus::Running {
            output::err("the run is live in another terminal and continues there\n");
        }
        return Ok(exit::OK);
    }
    // Resuming the top-level run resumes its waiting children where they stopped.
    let root = root_of(session.store.as_ref(), &record)?;
    // A run the daemon owns continues in the daemon.
    let owned = session.store.run(&root).map_err(store_failure)?.is_some_and(|r| r.started_by.is_some());
    if owned && crate::daemon_client::running(home).is_some() {
        crate::daemon_client::ask(home, "resume", serde_json::json!({ "run": root }))
            .map_err(crate::daemon_client::AskError::into_failure)?;
        output::err(&format!("the daemon continues run {root}; `pyra runs show {root}` follows it\n"));
        return Ok(exit::OK);
    }
    if root != id {
        output::err(&format!("continuing run {root}, which run {id} is part of\n"));
    }
    let report = session.block_on(session.runtime.resume(&root, None)).map_err(runner::run_failure)?;
    Ok(runner::report(&report, false, &session.progress))
}

/// The top-level run `record` belongs to (itself when it has no parent).
fn root_of(store: &dyn Store, record: &RunRecord) -> Result<String, Failure> {
    let mut id = record.id.clone();
    let mut parent = record.parent_run.clone();
    while let Some(p) = parent {
        let up = store.run(&p).map_err(store_failure)?.ok_or_else(|| Failure::failed(format!("no run `{p}`")))?;
        id = up.id;
        parent = up.parent_run;
    }
    Ok(id)
}

/// When `id` itself waits for no approval: the waiting run below it that does, if there
/// is exactly one.
fn waiting_descendant(store: &dyn Store, id: &str) -> Result<Option<String>, Failure> {
    let own = store.approvals(id).map_err(store_failure)?;
    if own.iter().any(|a| a.state == ApprovalState::Pending) {
        return Ok(None);
    }
    let filter = RunFilter { status: Some(RunStatus::Waiting), ..Default::default() };
    let waiting = store.list_runs(&filter).map_err(store_failure)?;
    let mut found = Vec::new();
    for run in &waiting {
        let mut parent = run.parent_run.clone();
        let mut depth = 0;
        while let Some(p) = parent.take() {
            if p == id {
                let pending = store.approvals(&run.id).map_err(store_failure)?;
                if pending.iter().any(|a| a.state == ApprovalState::Pending) {
                    found.push(run.id.clone());
                }
                break;
            }
            depth += 1;
            if depth > 16 {
                break;
            }
            parent = store.run(&p).map_err(store_failure)?.and_then(|r| r.parent_run);
        }
    }
    Ok(if found.len() == 1 { found.pop() } else { None })
}

/// The run's model usage summed over every call (`node_runs.usage`, one entry per call,
/// counts a provider did not report `null`).
struct UsageSum {
    calls: usize,
    /// prompt, completion, cached, cost: the sum of the known values and how many calls
    /// reported one.
    fields: [(f64, usize); 4],
}

const USAGE_FIELDS: [&str; 4] = ["prompt", "completion", "cached", "cost"];

impl UsageSum {
    /// No model calls, no sum.
    fn of(nodes: &[NodeRecord]) -> Option<UsageSum> {
        let calls: Vec<&serde_json::Value> =
            nodes.iter().filter_map(|n| n.usage.as_ref()?.as_array()).flatten().collect();
        if calls.is_empty() {
            return None;
        }
        let fields = USAGE_FIELDS.map(|field| {
            let known: Vec<f64> = calls.iter().filter_map(|c| c[field].as_f64()).collect();
            (known.iter().sum(), known.len())
        });
        Some(UsageSum { calls: calls.len(), fields })
    }

    /// A field's sum (`None`: no call reported it) and whether every call did.
    fn field(&self, i: usize) -> (Option<f64>, bool) {
        let (sum, known) = self.fields[i];
        ((known > 0).then_some(sum), known == self.calls)
    }

    /// `{"calls", "prompt", "completion", "cached", "cost", "lower_bounds"}`: a field no
    /// call reported is `null`; one some call did not report is a lower bound, listed.
    fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({ "calls": self.calls });
        let mut lower = Vec::new();
        for (i, name) in USAGE_FIELDS.iter().enumerate() {
            let (sum, complete) = self.field(i);
            value[*name] = match sum {
                Some(cost) if *name == "cost" => serde_json::json!(cost),
                Some(count) => serde_json::json!(count as u64),
                None => serde_json::Value::Null,
            };
            if sum.is_some() && !complete {
                lower.push(*name);
            }
        }
        value["lower_bounds"] = serde_json::json!(lower);
        value
    }

    /// `tokens: prompt 19, completion 24, cached 0 (3 model calls, cost $0.000017)`; a
    /// count some call did not report makes the sum a lower bound, shown as `≥`.
    fn line(&self) -> String {
        let count = |i: usize| match self.field(i) {
            (None, _) => "unknown".to_string(),
            (Some(n), true) => (n as u64).to_string(),
            (Some(n), false) => format!("≥{}", n as u64),
        };
        let cost = match self.field(3) {
            (None, _) => String::new(),
            (Some(c), true) => format!(", cost ${c:.6}"),
            (Some(c), false) => format!(", cost ≥${c:.6}"),
        };
        format!(
            "tokens: prompt {}, completion {}, cached {} ({} model call{}{cost})",
            count(0),
            count(1),
            count(2),
            self.calls,
            if self.calls == 1 { "" } else { "s" }
        )
    }
}
