//! `pyra daemon start|stop|restart|status|reload|logs|install-service|uninstall-service`:
//! the commands around the `daemon` crate. `start` detaches a `start --foreground` child in
//! its own session (stderr into the daemon log) and returns once it answers on its socket;
//! `--foreground` is the daemon itself (what a service manager runs). The daemon's pieces
//! the CLI supplies: the skill catalog (built-ins, `$PYRA_HOME/skills`, `daemon.skill_dirs`),
//! the runtime runs use, and the webhook's hooks.

use std::hash::{Hash, Hasher};
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use daemon::core::{Catalog, Daemon, Entry, Setup};
use paths::PathPolicy;
use runtime::{Runtime, Store};
use serde_json::{Value, json};
use term::output;
use tokio_util::sync::CancellationToken;

use crate::daemon_client::{self, AskError};
use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::skills;

/// How long `start` waits for the daemon to answer, and `stop` for it to end.
const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Start the daemon (detached; returns once it accepts connections).
    Start {
        /// Stay in the foreground (for service managers: logs to stderr too, READY=1 sent).
        #[arg(long)]
        foreground: bool,
    },
    /// Stop the daemon: runs in flight are recorded as interrupted and resumed at the next start.
    Stop,
    /// Stop the daemon, then start it again.
    Restart,
    /// What the daemon does: skills, triggers with their next and last fire, runs, tasks, vault, memory.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read the skills again (also done on its own when a skill file changes).
    Reload,
    /// Print the daemon's log (`logs/daemon.log`, JSON lines), one readable line each.
    Logs {
        /// Keep printing what is added.
        #[arg(long, short)]
        follow: bool,
        /// How many of the last lines to print first.
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
        /// Print the JSON lines as they are.
        #[arg(long)]
        json: bool,
    },
    /// Install a service (systemd user unit, or launchd agent on macOS) that starts the daemon at login.
    InstallService {
        /// Print the file and the commands; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the service `install-service` installed.
    UninstallService {
        /// Print what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(home: &Home, command: DaemonCommand) -> Result<u8, Failure> {
    match command {
        DaemonCommand::Start { foreground: true } => foreground(home),
        DaemonCommand::Start { foreground: false } => start(home),
        DaemonCommand::Stop => stop(home),
        DaemonCommand::Restart => {
            stop(home)?;
            start(home)
        }
        DaemonCommand::Status { json } => status(home, json),
        DaemonCommand::Reload => {
            let summary = daemon_client::ask(home, "reload", json!({})).map_err(AskError::into_failure)?;
            output::out(&format!("reloaded: {summary}\n"));
            Ok(exit::OK)
        }
        DaemonCommand::Logs { follow, lines, json } => logs(home, follow, lines, json),
        DaemonCommand::InstallService { dry_run } => crate::service_cmd::install(home, dry_run),
        DaemonCommand::UninstallService { dry_run } => crate::service_cmd::uninstall(home, dry_run),
    }
}

/// The skills the daemon arms: built-ins, then `daemon.skill_dirs`, then
/// `$PYRA_HOME/skills` (a same-named file there wins).
pub(crate) struct HomeCatalog {
    home: Home,
    dirs: Vec<PathBuf>,
}

impl HomeCatalog {
    fn folders(&self) -> Vec<PathBuf> {
        let mut all = self.dirs.clone();
        all.push(self.home.skills_dir());
        all
    }
}

impl Catalog for HomeCatalog {
    fn skills(&self) -> Vec<Entry> {
        let mut found: std::collections::BTreeMap<String, Entry> = std::collections::BTreeMap::new();
        for (name, file, text) in crate::builtin::SKILLS {
            let text = runtime::SkillText {
                name: name.to_string(),
                path: None,
                display: format!("<builtin>/skills/{file}"),
                source: text.to_string(),
            };
            found.insert(name.to_string(), Entry { name: name.to_string(), text: Ok(text) });
        }
        for dir in self.folders() {
            let Ok(files) = skills::files_in(&dir) else { continue };
            for path in files {
                let source = skills::SkillSource::from_path(&path, skills::Origin::Home);
                let name = source.name.clone();
                found.insert(name.clone(), Entry { name, text: source.text().map_err(|f| f.message) });
            }
        }
        found.into_values().collect()
    }

    fn fingerprint(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let stamp = |path: &std::path::Path, hasher: &mut std::collections::hash_map::DefaultHasher| {
            if let Ok(meta) = std::fs::metadata(path) {
                path.hash(hasher);
                meta.len().hash(hasher);
                meta.modified().ok().hash(hasher);
            }
        };
        for dir in self.folders() {
            stamp(&dir, &mut hasher);
            for path in skills::files_in(&dir).unwrap_or_default() {
                stamp(&path, &mut hasher);
            }
        }
        hasher.finish()
    }
}

/// The catalog of this home (its config's `daemon.skill_dirs` read now).
pub(crate) fn catalog(home: &Home) -> Result<HomeCatalog, Failure> {
    let config = config::Config::load(&home.root).map_err(|e| {
        output::err(&format!("{}\n", e.render(output::color_stderr())));
        Failure::failed("the configuration is invalid")
    })?;
    Ok(HomeCatalog { home: home.clone(), dirs: config.daemon.skill_dirs(&home.root) })
}

/// Everything the daemon is made of, for this home (`agent`: its vault agent, made
/// first as the telemetry exporter reads its headers from it too).
fn setup(home: &Home, agent: Arc<daemon::agent::Agent>) -> Result<(Setup, Option<config::WebhookSettings>), Failure> {
    let config = config::Config::load(&home.root).map_err(|e| {
        output::err(&format!("{}\n", e.render(output::color_stderr())));
        Failure::failed("the configuration is invalid; the daemon did not start")
    })?;
    let settings = config.daemon.clone();
    let clock = clock::Clock::from_env().map_err(|e| Failure::usage(e.to_string()))?;
    let store = crate::runner::open_store(home)?;
    let history = Arc::new(daemon::history::History::open(&home.root.join("pyra.db")).map_err(Failure::failed)?);
    let runs_dir = home.root.join("runs");
    home.ensure_dir(&runs_dir).map_err(|e| Failure::failed(format!("cannot create {}: {e}", runs_dir.display())))?;
    let log = Arc::new(daemon::log::Log::new(&home.root));
    let runtime = Runtime {
        registry: Arc::new(crate::plugin_host::registry(home)),
        store: store.clone() as Arc<dyn Store>,
        observer: Arc::new(runtime::Silent),
        interaction: None,
        loader: Arc::new(crate::runner::Loader(home.clone())),
        paths: Arc::new(PathPolicy::new(&home.root)),
        locks: Some(runs_dir),
        cancel: CancellationToken::new(),
        secrets: Some(agent.clone()),
        masker: runtime::secrets::process_masker(),
        security_log: Some(security::audit::SecurityLog::new(&home.root)),
        home: Some(home.root.clone()),
    };
    let catalog = Arc::new(HomeCatalog { home: home.clone(), dirs: settings.skill_dirs(&home.root) });
    let setup = Setup {
        home: home.root.clone(),
        runtime,
        sqlite: store,
        history,
        catalog,
        agent,
        clock,
        log,
        max_runs: settings.max_runs() as usize,
        version: env!("CARGO_PKG_VERSION").to_string(),
        telemetry: Some(crate::otel::status),
        plugins: Some(Arc::new(crate::plugin_host::Control(crate::plugin_host::host(home)))),
    };
    Ok((setup, settings.webhook))
}

/// The daemon itself, in this process.
fn foreground(home: &Home) -> Result<u8, Failure> {
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(format!("cannot create {}: {e}", home.root.display())))?;
    let dir = daemon_client::run_dir(home)?;
    let lock = match daemon::lock::HomeLock::acquire(&dir) {
        Ok(lock) => lock,
        Err(daemon::lock::LockError::Held { pid }) => {
            output::err(&format!(
                "the daemon is already running (pid {})\n",
                pid.map_or("?".into(), |p| p.to_string())
            ));
            return Ok(exit::OK);
        }
        Err(e) => return Err(Failure::failed(e.to_string())),
    };
    let stderr = std::io::stderr().is_terminal() || std::env::var_os("JOURNAL_STREAM").is_some();
    let agent = Arc::new(daemon::agent::Agent::new(&home.root));
    daemon::log::init_daemon(&home.root, stderr, crate::otel::layer(home, Some(agent.clone())));
    let (setup, webhook) = setup(home, agent.clone())?;
    let extra = webhook
        .into_iter()
        .map(|w| {
            let config = daemon::webhook::Config {
                rate_per_minute: w.rate_per_minute,
                burst: w.burst,
                ..daemon::webhook::Config::default()
            };
            ("webhook".to_string(), daemon::hooks::task(w.listen, config))
        })
        .chain(std::iter::once(("plugins".to_string(), crate::plugin_host::idle_task(home))))
        .chain(std::iter::once(("plugin-events".to_string(), crate::plugin_events::task(home))))
        .chain(mcp_task(home))
        .chain(channel_tasks(home))
        .chain(crate::web_cmd::task(home, agent))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let result = rt.block_on(daemon::server::run(setup, lock, extra, |_: &Daemon| {
        let _ = daemon::service::notify("READY=1");
    }));
    let _ = daemon::service::notify("STOPPING=1");
    // Child processes of runs were killed; tasks still parked are dropped with the runtime.
    rt.shutdown_timeout(Duration::from_secs(2));
    result.map_err(Failure::failed)?;
    Ok(exit::OK)
}

/// A task per channel in config.yaml's `channels:` (each reads its settings again when it
/// restarts, so a failing channel retries with the supervisor's backoff).
fn channel_tasks(home: &Home) -> Vec<(String, daemon::server::ExtraTask)> {
    config::Config::load(&home.root).map(|c| channels::tasks(&home.root, &c)).unwrap_or_default()
}

/// The MCP endpoint's task when config.yaml's `mcp.serve.http` asks for one (config.yaml
/// was checked by `setup`). A stale address file from a crash goes first.
fn mcp_task(home: &Home) -> Option<(String, daemon::server::ExtraTask)> {
    let _ = std::fs::remove_file(home.root.join(daemon::lock::RUN_DIR).join(serve::ADDR_FILE));
    let mcp = config::Config::load(&home.root).ok()?.mcp;
    let http = mcp.http()?;
    Some(("mcp".to_string(), daemon::mcp::task(http.listen, mcp.exposed().to_vec())))
}

/// Starts a detached daemon and waits until it answers.
fn start(home: &Home) -> Result<u8, Failure> {
    if let Some(pid) = daemon_client::running(home) {
        output::out(&format!("the daemon is already running (pid {pid})\n"));
        return Ok(exit::OK);
    }
    home.ensure_dir(&home.root).map_err(|e| Failure::failed(format!("cannot create {}: {e}", home.root.display())))?;
    daemon_client::run_dir(home)?;
    let log_path = home.root.join("logs").join(daemon::log::FILE);
    home.ensure_dir(&home.root.join("logs"))
        .map_err(|e| Failure::failed(format!("cannot create {}: {e}", home.root.join("logs").display())))?;
    let log = daemon::log::open_append(&log_path)
        .map_err(|e| Failure::failed(format!("cannot open {}: {e}", log_path.display())))?;
    let start_len = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe().map_err(|e| Failure::failed(format!("cannot find the pyra binary: {e}")))?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("--home")
        .arg(&home.root)
        .args(["daemon", "start", "--foreground"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    // Its own process group: a Ctrl-C at this terminal does not reach it (and a SIGHUP
    // when the terminal closes only makes it reload).
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|e| Failure::failed(format!("cannot start the daemon: {e}")))?;
    let began = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            // It ended: another daemon won the lock, or it failed (its reason is in the log).
            if let Some(pid) = daemon_client::running(home) {
                output::out(&format!("the daemon is already running (pid {pid})\n"));
                return Ok(exit::OK);
            }
            let text = log_since(&log_path, start_len);
            for line in text.lines() {
                output::err(&format!("{}\n", daemon::log::human(line)));
            }
            return Err(Failure::failed(format!("the daemon did not start ({status}); see {}", log_path.display())));
        }
        match daemon_client::ask(home, "ping", json!({})) {
            Ok(reply) => {
                let pid = reply["pid"].as_u64().unwrap_or_default();
                output::out(&format!("the daemon is running (pid {pid}); log: {}\n", log_path.display()));
                break;
            }
            Err(AskError::NotRunning | AskError::Io(_)) if began.elapsed() < WAIT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into_failure()),
        }
    }
    // It outlives this command (the kernel re-parents it); nothing here waits for it.
    drop(child);
    offer_unlock(home);
    Ok(exit::OK)
}

/// When the vault exists and is locked in the daemon and a person is at the terminal:
/// ask for the passphrase once and hand it to the daemon.
fn offer_unlock(home: &Home) {
    let Ok(state) = daemon_client::ask(home, "vault.status", json!({})) else { return };
    if state["state"] != "locked" || !std::io::stdin().is_terminal() {
        return;
    }
    let Ok(pass) = rpassword::prompt_password("vault passphrase (for the daemon; empty to skip): ") else { return };
    if pass.is_empty() {
        output::err("the vault stays locked; `pyra vault unlock` unlocks it later\n");
        return;
    }
    match daemon_client::ask(home, "vault.unlock", json!({ "passphrase": pass })) {
        Ok(reply) => output::err(&format!("the daemon holds the vault ({} keys)\n", reply["keys"])),
        Err(e) => output::err(&format!("the vault stays locked: {}\n", e.into_failure().message)),
    }
}

fn log_since(path: &std::path::Path, from: u64) -> String {
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let _ = file.seek(SeekFrom::Start(from));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text
}

fn stop(home: &Home) -> Result<u8, Failure> {
    let Some(pid) = daemon_client::running(home) else {
        output::out("the daemon is not running\n");
        return Ok(exit::OK);
    };
    match daemon_client::ask(home, "stop", json!({})) {
        Ok(_) => {}
        Err(AskError::NotRunning) => {
            output::out("the daemon is not running\n");
            return Ok(exit::OK);
        }
        // It does not answer: SIGTERM does the same.
        Err(_) if pid > 0 => {
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
            }
        }
        Err(e) => return Err(e.into_failure()),
    }
    let began = Instant::now();
    while daemon_client::running(home).is_some() {
        if began.elapsed() > WAIT {
            return Err(Failure::failed(format!(
                "the daemon (pid {pid}) did not stop within {} s; `kill {pid}` stops it",
                WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    output::out(&format!("the daemon (pid {pid}) stopped\n"));
    Ok(exit::OK)
}

fn status(home: &Home, as_json: bool) -> Result<u8, Failure> {
    let value = match daemon_client::ask(home, "status", json!({})) {
        Ok(v) => v,
        Err(AskError::NotRunning) => {
            if as_json {
                output::out(&format!("{}\n", json!({ "running": false })));
            } else {
                output::out("the daemon is not running; `pyra daemon start` starts it\n");
            }
            return Ok(exit::INVALID);
        }
        Err(e) => return Err(e.into_failure()),
    };
    let mut value = value;
    value["profile"] = json!(home.profile().unwrap_or_else(|| "default".into()));
    if let Some((url, _)) = web::address(&home.root) {
        value["web"] = json!(url);
    }
    if as_json {
        value["running"] = Value::Bool(true);
        output::out(&format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default()));
        return Ok(exit::OK);
    }
    output::out(&render_status(&value));
    Ok(exit::OK)
}

fn render_status(v: &Value) -> String {
    let mut out = String::new();
    let uptime = v["uptime_ms"].as_u64().unwrap_or(0) / 1000;
    let rss = v["rss_bytes"].as_u64().map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    out.push_str(&format!(
        "daemon {} running: pid {}, up {}h{:02}m{:02}s, {rss} resident\n",
        v["version"].as_str().unwrap_or("?"),
        v["pid"],
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60
    ));
    if let Some(profile) = v["profile"].as_str() {
        out.push_str(&format!("profile  {profile}\n"));
    }
    if v["clock_set"] == true {
        out.push_str(&format!("clock    set by PYRA_CLOCK: now {}\n", v["now"].as_str().unwrap_or("?")));
    }
    let vault = &v["vault"];
    out.push_str(&format!("vault    {}", vault["state"].as_str().unwrap_or("?")));
    match vault["state"].as_str() {
        Some("unlocked") => out.push_str(&format!(" ({} keys)\n", vault["keys"])),
        Some("locked") => out.push_str(" (`pyra vault unlock` lets triggered runs read secrets)\n"),
        _ => out.push('\n'),
    }
    if let Some(t) = v["telemetry"].as_object() {
        out.push_str(&format!(
            "telemetry {} spans exported, {} dropped (to {}){}\n",
            t["exported"],
            t["dropped"],
            t["endpoint"].as_str().unwrap_or("?"),
            t["last_error"].as_str().map(|e| format!("; last error: {e}")).unwrap_or_default()
        ));
    }
    let skills = v["skills"].as_array().map_or(0, Vec::len);
    out.push_str(&format!("skills   {skills} armed\n"));
    for broken in v["broken"].as_array().into_iter().flatten() {
        let kept = if broken["kept_previous"] == true { " (the last good version stays armed)" } else { "" };
        out.push_str(&format!("  {} does not load{kept}:\n", broken["name"].as_str().unwrap_or("?")));
        for line in broken["diagnostic"].as_str().unwrap_or("").lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    let triggers = v["triggers"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("triggers {}\n", triggers.len()));
    for t in &triggers {
        let spec = t["spec"].as_str().unwrap_or("?");
        match t["kind"].as_str() {
            Some("cron") => {
                let last = match &t["last"] {
                    Value::Null => "never".to_string(),
                    last => format!(
                        "{} {}{}",
                        last["slot"].as_str().unwrap_or("?"),
                        last["outcome"].as_str().unwrap_or("?"),
                        last["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default()
                    ),
                };
                out.push_str(&format!(
                    "  {:<20} cron \"{spec}\" {}  next {}  last {last}\n",
                    t["skill"].as_str().unwrap_or("?"),
                    t["timezone"].as_str().unwrap_or(""),
                    t["next"].as_str().unwrap_or("never"),
                ));
            }
            Some("watch") => {
                let last = match &t["last"] {
                    Value::Null => "never".to_string(),
                    last => {
                        format!("{} {}", last["slot"].as_str().unwrap_or("?"), last["outcome"].as_str().unwrap_or("?"))
                    }
                };
                out.push_str(&format!(
                    "  {:<20} watch \"{spec}\" {}  last {last}\n",
                    t["skill"].as_str().unwrap_or("?"),
                    t["state"].as_str().unwrap_or("?"),
                ));
                for refused in t["refused"].as_array().into_iter().flatten() {
                    out.push_str(&format!("    not watched: {}\n", refused.as_str().unwrap_or("?")));
                }
            }
            _ => out.push_str(&format!("  {:<20} event {spec}\n", t["skill"].as_str().unwrap_or("?"))),
        }
    }
    let runs = v["runs"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!(
        "runs     {} in flight, {} queued (at most {} at once)\n",
        runs.len(),
        v["queued"],
        v["max_runs"]
    ));
    for r in &runs {
        out.push_str(&format!(
            "  {} {} ({}, since {})\n",
            r["run"].as_str().unwrap_or("?"),
            r["skill"].as_str().unwrap_or("?"),
            r["trigger"].as_str().unwrap_or("?"),
            r["since"].as_str().unwrap_or("?")
        ));
    }
    if let Some(url) = v["mcp"].as_str() {
        out.push_str(&format!("mcp      {url} (`pyra mcp config --client NAME --http`)\n"));
    }
    if let Some(url) = v["web"].as_str() {
        out.push_str(&format!("web      {url} (`pyra web` opens it)\n"));
    }
    for p in v["plugins"].as_array().into_iter().flatten() {
        let state = match p["broken"].as_str() {
            Some(why) => format!("broken: {why}"),
            None => format!(
                "pid {} · MCP {} · {}",
                p["pid"],
                p["protocol"].as_str().unwrap_or("?"),
                p["server"].as_str().unwrap_or("")
            ),
        };
        out.push_str(&format!("plugin   {} {state}\n", p["name"].as_str().unwrap_or("?")));
    }
    out.push_str("tasks\n");
    for t in v["tasks"].as_array().into_iter().flatten() {
        let state = if t["running"] == true { "running" } else { "waiting to restart" };
        out.push_str(&format!("  {:<10} {state}, {} restarts", t["name"].as_str().unwrap_or("?"), t["restarts"]));
        if let Some(e) = t["last_error"].as_str() {
            out.push_str(&format!("; last error: {e}"));
        }
        out.push('\n');
    }
    out.push_str(&format!("log      {}\n", v["log"].as_str().unwrap_or("?")));
    out
}

fn logs(home: &Home, follow: bool, lines: usize, json: bool) -> Result<u8, Failure> {
    let shown = |line: &str| if json { line.to_string() } else { daemon::log::human(line) };
    let path = home.root.join("logs").join(daemon::log::FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => {
            output::err(&format!("no daemon log yet ({})\n", path.display()));
            return Ok(exit::OK);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::failed(format!("cannot read {}: {e}", path.display()))),
    };
    let all: Vec<&str> = text.lines().collect();
    for line in &all[all.len().saturating_sub(lines)..] {
        output::out(&format!("{}\n", shown(line)));
    }
    if !follow {
        return Ok(exit::OK);
    }
    let mut offset = text.len() as u64;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            // Rotated: the new file starts from the beginning.
            offset = 0;
        }
        if len > offset {
            for line in log_since(&path, offset).lines() {
                output::out(&format!("{}\n", shown(line)));
            }
            offset = len;
        }
    }
}

/// What `pyra daemon --help` says after the commands.
pub const DAEMON_HELP: &str =
    "One daemon per home (a lock the kernel releases if it dies); `--profile` homes get their own.
It arms every skill with triggers: built-ins, $PYRA_HOME/skills and `daemon.skill_dirs` from config.yaml,
and reloads a skill when its file changes (a broken edit keeps the last good version armed).

Cron slots run at most once (claimed in pyra.db). Missed while down: `catch_up: skip | once | all`
within `catch_up_window` (default 1d; `all` runs at most 100, oldest first). A slot that comes
while the previous run goes on: `overlap: skip | queue | allow` (a queue holds at most 10).
`pyra schedule history SKILL` lists every slot's outcome.

PYRA_CLOCK=2027-03-28T01:58:00+01:00@60x sets the daemon's clock (an instant, and a speed) to
play a schedule through in seconds.";
