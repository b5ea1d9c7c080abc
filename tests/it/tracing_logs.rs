//! Tracing: a run's spans and their fields, captured in process through the same JSON
//! writer the daemon uses; and a secret a node prints kept out of every log line — the
//! captured ones, `pyra -vv run`'s stderr and the daemon's log file.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use crate::daemon::{Home, wait_for};

const SECRET: &str = "tr4cing-s3cret-v4lue";

/// A skill whose first node prints the secret to stderr and fails with it; the second
/// never runs.
const LEAKY: &str = "name: leaky\nsecrets: [\"test:key\"]\nnodes:\n  shout:\n    uses: exec\n    \
                     with: { argv: [sh, -c, 'echo \"$0\" >&2; exit 3', \"{{ secret('test:key') }}\"] }\n  \
                     after:\n    uses: template\n    needs: [shout]\n    with: { value: 1 }\n";

struct Fixed;

impl runtime::secrets::SecretSource for Fixed {
    fn get(&self, _: &str) -> Result<age::secrecy::SecretString, String> {
        Ok(age::secrecy::SecretString::from(SECRET.to_string()))
    }
}

struct NoLoader;

impl runtime::SkillLoader for NoLoader {
    fn load(&self, name: &str, _: Option<&std::path::Path>) -> Result<runtime::SkillText, String> {
        Err(format!("no skill {name}"))
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_runs_spans_carry_its_fields_and_no_secret_reaches_a_log_line() {
    let dir = tempfile::tempdir().expect("temp");
    let registry = Arc::new(plugins::builtin_registry());
    let runtime = runtime::Runtime {
        registry: registry.clone(),
        store: Arc::new(runtime::MemoryStore::new()),
        observer: Arc::new(runtime::Silent),
        interaction: None,
        loader: Arc::new(NoLoader),
        paths: Arc::new(paths::PathPolicy::new(dir.path())),
        locks: None,
        cancel: Default::default(),
        secrets: Some(Arc::new(Fixed)),
        masker: runtime::secrets::process_masker(),
        security_log: None,
        home: None,
    };
    let text = runtime::SkillText {
        name: "leaky".into(),
        path: None,
        display: "leaky.yaml".into(),
        source: LEAKY.to_string(),
    };
    let program = runtime::compile(&registry, &text).expect("compiles");
    let buffer = Buffer::default();
    let writer = {
        let buffer = buffer.clone();
        daemon::log::Masked::new(move || buffer.clone())
    };
    let layer =
        tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(true).with_writer(writer);
    let subscriber = tracing_subscriber::registry().with(layer);
    let report = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(runtime.start(program, &text, Default::default())).expect("runs")
    });
    assert_eq!(report.status, runtime::RunStatus::Failed);
    let logged = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
    assert!(!logged.contains(SECRET), "a secret reached a log line:\n{logged}");
    assert!(logged.contains("[secret:test:key]"), "the failure is logged, masked:\n{logged}");
    let lines: Vec<Value> = logged.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    // The node's failure is an event inside run → node spans with their fields.
    let failed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "node attempt failed")
        .unwrap_or_else(|| panic!("no node failure event:\n{logged}"));
    let spans = failed["spans"].as_array().expect("the span list");
    assert_eq!(spans[0]["name"], "run");
    assert_eq!((spans[0]["skill"].as_str(), spans[0]["trigger"].as_str()), (Some("leaky"), Some("cli")));
    assert_eq!(spans[0]["run_id"].as_str(), Some(report.run_id.as_str()));
    assert_eq!(spans[1]["name"], "node");
    assert_eq!((spans[1]["node"].as_str(), spans[1]["kind"].as_str()), (Some("shout"), Some("exec")));
    assert_eq!(spans[1]["attempt"], 1);
    let ended = lines.iter().find(|l| l["fields"]["message"] == "run ended").expect("the run's end");
    assert_eq!(ended["fields"]["status"], "failed");
}

#[test]
fn the_command_line_and_the_daemons_log_hide_a_secret_a_node_prints() {
    let home = Home::new();
    home.pyra.run_unlocked("tracing-pass", ["vault", "init"], None).success();
    home.pyra.run_unlocked("tracing-pass", ["vault", "set", "test:key"], Some(SECRET)).success();
    home.install("leaky", &LEAKY.replace("name: leaky\n", "name: leaky\ntriggers:\n  - event: leak\n"));

    // A command asked to log (-vv) shows spans and events on stderr, masked.
    let out = home.pyra.run_unlocked("tracing-pass", ["-vv", "run", "leaky"], None);
    out.code(1);
    assert!(out.stderr.contains("run{run_id=") && out.stderr.contains("node{run_id="), "{}", out.stderr);
    assert!(!out.stderr.contains(SECRET) && out.stderr.contains("[secret:test:key]"), "{}", out.stderr);
    // Without -v nothing of it is shown.
    let quiet = home.pyra.run_unlocked("tracing-pass", ["run", "leaky"], None);
    assert!(!quiet.stderr.contains("run{run_id="), "{}", quiet.stderr);

    // The daemon's JSON log, through a triggered run that reads the secret from the agent.
    let mut start = home.pyra.command(["daemon", "start"]);
    start.env("PYRA_VAULT_PASSPHRASE", "tracing-pass").env("PYRA_VAULT_SCRYPT_LOG_N", "10");
    let started = crate::harness::Output::from(start.output().expect("pyra runs"));
    let pid = crate::daemon::pid_in(&started.stdout);
    let guard = StopOnDrop(&home, pid);
    started.success();
    home.pyra.run(["emit", "leak"]).success();
    let log_path = home.path().join("logs").join("daemon.log");
    let log = wait_for("the triggered run's failure in the daemon's log", || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("node attempt failed") { Ok(text) } else { Err(text) }
    });
    assert!(!log.contains(SECRET), "{log}");
    let line = log.lines().find(|l| l.contains("node attempt failed")).expect("the line");
    let json: Value = serde_json::from_str(line).expect("JSON");
    // At `info` the event names its node itself, inside the run's span.
    assert_eq!((json["span"]["name"].as_str(), json["span"]["trigger"].as_str()), (Some("run"), Some("event")));
    assert_eq!((json["fields"]["node"].as_str(), json["fields"]["kind"].as_str()), (Some("shout"), Some("exec")));
    assert!(line.contains("[secret:test:key]"), "{line}");
    drop(guard);
}

struct StopOnDrop<'a>(&'a Home, Option<u32>);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.pyra.run(["daemon", "stop"]);
        if let Some(pid) = self.1
            && crate::daemon::alive(pid)
        {
            crate::daemon::kill9(pid);
        }
    }
}
